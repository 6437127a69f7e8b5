"""Fabric MSP identity and principal messages (generated code)."""
