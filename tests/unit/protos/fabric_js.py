"""Drive Fabric's own JavaScript protobuf bindings and compare them with our Python code.

``tests/node/protos_roundtrip.js`` runs ``@hyperledger/fabric-protos`` under Node.js.
This module holds the Python half:

* ``M`` / ``P`` describe a test message tree once; from it we build our Python message
  (``to_py``), the same message as a Node build spec (``node_spec``), and the list of
  every serialised level (``levels``) so nested bytes are checked level by level.
* ``js_object`` renders one of our messages the way Fabric's ``toObject()`` does, so
  both sides' decodings can be compared as plain JSON values.
* ``run_node`` sends one request to the script; a missing ``node`` or ``node_modules``
  fails the test (never skips) with the command that fixes it.
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import pkgutil
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

import protos

REPO_ROOT = Path(__file__).resolve().parents[3]
NODE_DIR = REPO_ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "protos_roundtrip.js"
FABRIC_PROTOS = NODE_DIR / "node_modules" / "@hyperledger" / "fabric-protos"

# Proto packages that must match Fabric's; anything else under protos/ is ours.
FABRIC_PACKAGES = ("common", "msp", "protos", "rwset", "kvrwset", "orderer", "gateway")

JsonObject = dict[str, Any]
# protobuf's type stubs return a union of the pure-Python and upb descriptor classes
# from `.fields`; the helpers below only use attributes both have.
FieldDesc = Any


@functools.cache
def import_all_generated() -> list[str]:
    """Import every generated ``*_pb2`` module under ``protos``; returns their names."""
    names = [
        info.name
        for info in pkgutil.walk_packages(protos.__path__, prefix="protos.")
        if info.name.endswith("_pb2")
    ]
    for name in names:
        importlib.import_module(name)
    return sorted(names)


def fabric_descriptors() -> tuple[list[Descriptor], list[EnumDescriptor]]:
    """All messages (nested included) and enums we define in Fabric's proto packages."""
    messages: list[Descriptor] = []
    enums: list[EnumDescriptor] = []

    def walk(desc: Descriptor) -> None:
        if desc.GetOptions().map_entry:
            return
        messages.append(desc)
        enums.extend(desc.enum_types)
        for nested in desc.nested_types:
            walk(nested)

    for name in import_all_generated():
        file_desc = importlib.import_module(name).DESCRIPTOR
        if file_desc.package not in FABRIC_PACKAGES:
            continue
        for desc in file_desc.message_types_by_name.values():
            walk(desc)
        enums.extend(file_desc.enum_types_by_name.values())
    return (
        sorted(messages, key=lambda d: d.full_name),
        sorted(enums, key=lambda e: e.full_name),
    )


@functools.cache
def message_class(full_name: str) -> type[Message]:
    import_all_generated()
    desc = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(desc)


def run_node(request: JsonObject) -> JsonObject:
    """Run ``protos_roundtrip.js`` on one request; fail the test if it cannot run."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (`node`) is not on PATH; install it, then run `make node-deps`")
    if not (FABRIC_PROTOS / "package.json").is_file():
        pytest.fail(f"{FABRIC_PROTOS} is missing; run `make node-deps` (npm ci in tests/node)")
    result = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=NODE_DIR,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"protos_roundtrip.js failed ({result.returncode}):\n{result.stderr}")
    response: JsonObject = json.loads(result.stdout)
    return response


# --- Test message trees -------------------------------------------------------------


@dataclass(frozen=True)
class M:
    """A message of protobuf type ``type_name`` with fields named as in our .proto.

    Field values: int/str/bool scalars, ``bytes``, ``M`` (sub-message), ``P`` (bytes
    holding a serialised message), lists of those, or ``dict`` for map fields.
    """

    type_name: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class P:
    """A bytes field whose content is the serialisation of ``inner``."""

    inner: M


def msg(type_name: str, **fields: Any) -> M:
    return M(type_name, fields)


def to_py(tree: M) -> Message:
    """Our generated Python message for ``tree``; nested ``P`` serialised deterministically."""
    out = message_class(tree.type_name)()
    for name, value in tree.fields.items():
        fd = out.DESCRIPTOR.fields_by_name[name]
        target = getattr(out, name)
        if _is_map(fd):
            for key in sorted(value):
                target[key] = _py_value(value[key])
        elif fd.is_repeated:
            for item in value:
                if isinstance(item, M):
                    target.add().CopyFrom(to_py(item))
                else:
                    target.append(_py_value(item))
        elif isinstance(value, M):
            # SetInParent marks presence even when the sub-message is empty (SeekNewest).
            target.SetInParent()
            target.MergeFrom(to_py(value))
        else:
            setattr(out, name, _py_value(value))
    return out


def _py_value(value: Any) -> Any:
    if isinstance(value, P):
        return serialize(to_py(value.inner))
    return value


def serialize(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


def levels(tree: M) -> list[tuple[str, bytes, M]]:
    """Every serialised level in ``tree``: the top message and each ``P`` inside it, in
    depth-first order, as ``(type name, our bytes, tree)``."""
    found: list[tuple[str, bytes, M]] = [(tree.type_name, serialize(to_py(tree)), tree)]

    def walk(value: Any) -> None:
        if isinstance(value, P):
            found.extend(levels(value.inner))
        elif isinstance(value, M):
            for v in value.fields.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for key in sorted(value):
                walk(value[key])

    for v in tree.fields.values():
        walk(v)
    return found


# --- Fabric's JavaScript view ------------------------------------------------------


def _is_map(fd: FieldDesc) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _map_value_field(fd: FieldDesc) -> FieldDesc:
    return fd.message_type.fields_by_name["value"]


def js_field_names(schema: JsonObject, type_name: str) -> dict[int, str]:
    """Field number -> Fabric's generated accessor name (``ChannelId``, ``Extension$``)."""
    info = schema[type_name]
    return {f["number"]: f["name"] for f in info["fields"]}


def js_object(message: Message, schema: JsonObject) -> JsonObject:
    """``message`` as Fabric's jspb ``toObject()`` renders it (after JSON encoding).

    Scalars always appear (defaults included), unset sub-messages and oneof members do
    not, bytes are
    base64, repeated fields get a ``List`` suffix and maps a ``Map`` suffix holding
    ``[key, value]`` pairs sorted by key.
    """
    desc = message.DESCRIPTOR
    names = js_field_names(schema, desc.full_name)
    out: JsonObject = {}
    for fd in desc.fields:
        base = names[fd.number].rstrip("$")
        key = base[0].lower() + base[1:]
        value = getattr(message, fd.name)
        if _is_map(fd):
            value_fd = _map_value_field(fd)
            out[key + "Map"] = [[k, _js_scalar(value_fd, value[k], schema)] for k in sorted(value)]
        elif fd.is_repeated:
            out[key + "List"] = [_js_scalar(fd, v, schema) for v in value]
        elif fd.message_type is not None or fd.containing_oneof is not None:
            # Unset sub-messages and unset oneof members are left out (undefined).
            if message.HasField(fd.name):
                out[key] = _js_scalar(fd, value, schema)
        else:
            out[key] = _js_scalar(fd, value, schema)
    return out


def _js_scalar(fd: FieldDesc, value: Any, schema: JsonObject) -> Any:
    if fd.message_type is not None:
        return js_object(value, schema)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def node_spec(tree: M, schema: JsonObject) -> JsonObject:
    """``tree`` as a build spec for protos_roundtrip.js, named with Fabric's accessors."""
    desc = message_class(tree.type_name).DESCRIPTOR
    names = js_field_names(schema, tree.type_name)
    fields: JsonObject = {}
    for name, value in tree.fields.items():
        fd = desc.fields_by_name[name]
        js_name = names[fd.number]
        if _is_map(fd):
            fields[js_name] = {"$map": [[k, _node_value(value[k], schema)] for k in sorted(value)]}
        elif fd.is_repeated:
            fields[js_name] = [_node_value(v, schema) for v in value]
        else:
            fields[js_name] = _node_value(value, schema)
    return {"$msg": tree.type_name, "fields": fields}


def _node_value(value: Any, schema: JsonObject) -> Any:
    if isinstance(value, P):
        return {"$bytes_of": node_spec(value.inner, schema)}
    if isinstance(value, M):
        return node_spec(value, schema)
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    return value


def nested_bytes(tree: M, data: bytes) -> list[tuple[M, bytes]]:
    """Parse ``data`` (someone else's bytes for ``tree``) with our classes and pull out the
    bytes found at each ``P`` of ``tree``: ``(tree level, its bytes)`` in ``levels`` order.
    """
    parsed = message_class(tree.type_name).FromString(data)
    found: list[tuple[M, bytes]] = [(tree, data)]

    def walk(value: Any, actual: Any) -> None:
        if isinstance(value, P):
            found.extend(nested_bytes(value.inner, actual))
        elif isinstance(value, M):
            for name, v in value.fields.items():
                walk(v, getattr(actual, name))
        elif isinstance(value, list):
            assert len(value) == len(actual)
            for v, a in zip(value, actual, strict=True):
                walk(v, a)
        elif isinstance(value, dict):
            for key in sorted(value):
                walk(value[key], actual[key])

    for name, v in tree.fields.items():
        walk(v, getattr(parsed, name))
    return found
