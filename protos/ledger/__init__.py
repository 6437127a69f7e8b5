"""Fabric ledger messages (generated code)."""
