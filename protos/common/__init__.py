"""Fabric `common` messages: envelopes, headers, blocks, policies (generated code)."""
