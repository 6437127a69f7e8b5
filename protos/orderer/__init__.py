"""Fabric ordering service API, proto package `orderer` (generated code)."""
