"""Fabric peer messages and services, proto package `protos` (generated code)."""
