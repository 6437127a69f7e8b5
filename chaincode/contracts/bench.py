"""Chaincode `bench`: a tiny key-value contract for benchmarks and peer tests.

Functions (one JSON object argument each, canonical JSON results):

* `Put{key, value}` → `{"key", "value"}`: a blind write (no read, never conflicts).
* `Get{key}` → `{"key", "value"}` (`value` is null when the key does not exist).
* `ReadModifyWrite{key, value}` → `{"key", "previous", "value"}`: reads the key, then
  writes `value`; two such transactions on one key in a block conflict (MVCC).
* `Fail{code, message}`: always raises `ChaincodeError(code, message)` (error paths).

Values are UTF-8 strings. Standard library and the chaincode API only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from chaincode.contract import Contract, JsonObject, evaluate, submit
from chaincode.errors import ChaincodeError
from chaincode.stub import Stub


def _text(args: JsonObject, name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or (name == "key" and not value):
        raise ChaincodeError("BAD_ARGUMENT", f"{name} must be a non-empty string")
    return value


class BenchContract(Contract):
    """Key-value store over the stub; see the module docstring."""

    name: ClassVar[str] = "bench"

    @submit
    def put(self, stub: Stub, args: JsonObject) -> Any:
        key, value = _text(args, "key"), _text(args, "value")
        stub.put_state(key, value.encode())
        stub.set_event("Put", key.encode())
        return {"key": key, "value": value}

    @evaluate
    def get(self, stub: Stub, args: JsonObject) -> Any:
        key = _text(args, "key")
        raw = stub.get_state(key)
        return {"key": key, "value": None if raw is None else raw.decode()}

    @submit
    def read_modify_write(self, stub: Stub, args: JsonObject) -> Any:
        key, value = _text(args, "key"), _text(args, "value")
        raw = stub.get_state(key)
        stub.put_state(key, value.encode())
        return {"key": key, "previous": None if raw is None else raw.decode(), "value": value}

    @submit
    def fail(self, stub: Stub, args: JsonObject) -> Any:
        code = args.get("code") or "BENCH_FAILURE"
        raise ChaincodeError(str(code), str(args.get("message") or "asked to fail"))
