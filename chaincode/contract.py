"""Contracts: named transaction functions over a `Stub`.

A contract is a class whose methods are marked `@submit` (may write; endorsed and
ordered) or `@evaluate` (read-only query). Each function takes the stub and one
JSON object argument and returns a JSON-serialisable value; `Contract.invoke`
does the decoding and the canonical encoding (sorted keys, no spaces), so every
endorser produces the same bytes. Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from chaincode.errors import ChaincodeError
from chaincode.stub import Stub

JsonObject = dict[str, Any]
TxFunction = Callable[[Any, Stub, JsonObject], Any]
F = TypeVar("F", bound=TxFunction)

_KIND_ATTR = "__scf_tx_kind__"


def submit(fn: F) -> F:
    """Mark a method as a submit (state-changing) transaction function."""
    setattr(fn, _KIND_ATTR, "submit")
    return fn


def evaluate(fn: F) -> F:
    """Mark a method as an evaluate (read-only) transaction function."""
    setattr(fn, _KIND_ATTR, "evaluate")
    return fn


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    kind: str  # "submit" or "evaluate"
    method: TxFunction


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, compact separators, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Contract:
    """Base class; subclasses set `name` and mark functions with the decorators.

    The function name a client calls is the method name converted from
    snake_case to PascalCase (`issue_voucher` → `IssueVoucher`), unless the
    method is already PascalCase.
    """

    name: ClassVar[str] = ""
    _functions: ClassVar[Mapping[str, FunctionSpec]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        functions: dict[str, FunctionSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                kind = getattr(value, _KIND_ATTR, None)
                if kind is not None:
                    fn_name = _public_name(attr)
                    functions[fn_name] = FunctionSpec(fn_name, kind, value)
        cls._functions = functions

    @classmethod
    def functions(cls) -> Mapping[str, FunctionSpec]:
        return cls._functions

    @classmethod
    def function_kind(cls, fn_name: str) -> str | None:
        spec = cls._functions.get(fn_name)
        return spec.kind if spec else None

    def invoke(self, stub: Stub, fn_name: str, args: Sequence[bytes]) -> bytes:
        """Run `fn_name` with its single JSON-object argument; return JSON bytes.

        Raises `ChaincodeError` for an unknown function, a bad argument or a
        business rejection.
        """
        spec = self._functions.get(fn_name)
        if spec is None:
            raise ChaincodeError(
                "UNKNOWN_FUNCTION", f"contract {self.name!r} has no function {fn_name!r}"
            )
        result = spec.method(self, stub, parse_argument(fn_name, args))
        return canonical_json(result)


def parse_argument(fn_name: str, args: Sequence[bytes]) -> JsonObject:
    """The single JSON object argument of a call (an empty object when none)."""
    if len(args) == 0:
        return {}
    if len(args) != 1:
        raise ChaincodeError(
            "BAD_ARGUMENT", f"{fn_name} takes one JSON object argument, got {len(args)}"
        )
    try:
        value = json.loads(args[0])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChaincodeError("BAD_ARGUMENT", f"{fn_name}: argument is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ChaincodeError("BAD_ARGUMENT", f"{fn_name}: argument must be a JSON object")
    return value


def _public_name(attr: str) -> str:
    if "_" not in attr and attr[:1].isupper():
        return attr
    return "".join(part[:1].upper() + part[1:] for part in attr.split("_") if part)
