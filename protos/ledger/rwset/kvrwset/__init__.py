"""Fabric key-value read-write sets, proto package `kvrwset` (generated code)."""
