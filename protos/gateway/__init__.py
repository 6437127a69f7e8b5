"""Fabric Gateway service, proto package `gateway` (generated code)."""
