"""Fabric read-write sets, proto package `rwset` (generated code)."""
