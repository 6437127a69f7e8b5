"""Fixtures shared by the protos tests: Fabric's field tables, read once per session."""

from __future__ import annotations

import pytest

from tests.unit.protos.fabric_js import JsonObject, fabric_descriptors, run_node


@pytest.fixture(scope="session")
def fabric_schema() -> JsonObject:
    """Fabric's view (from fabric-protos' JS) of every message and enum we define in
    Fabric's proto packages, plus google.protobuf.Timestamp; keyed by full name."""
    messages, enums = fabric_descriptors()
    names = [d.full_name for d in messages] + [e.full_name for e in enums]
    names.append("google.protobuf.Timestamp")
    schema: JsonObject = run_node({"schema": names})["schema"]
    return schema
