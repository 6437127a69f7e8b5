"""The SDK's errors: one type per stage of a transaction, as in fabric-gateway.

Every `GatewayError` carries:

* `transaction_id` — the txid concerned ('' when the call had none, e.g. events);
* `grpc_code` — the `grpc.StatusCode` of the failed call (None for errors found by
  the client itself, such as an invalid validation code);
* `message` — the peer's message, unchanged;
* `details` — one `ErrorDetail(address, msp_id, message)` per endpoint that failed
  (unpacked from the `google.rpc.Status` details, as fabric-gateway does);
* `code` — the contract's error code when the peer's message (or a detail's) has the
  form "CODE: message" (e.g. `INSUFFICIENT_AMOUNT`), else a code naming the stage
  (`ENDORSE_FAILED`, `SUBMIT_FAILED`, ...) or `NETWORK_UNREACHABLE`.

`CommitError` is different: the transaction was ordered and committed but marked
invalid; it carries the `validation_code` (int) and its name (`MVCC_READ_CONFLICT`,
...), which is also its `code`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import grpc
from grpc_status import rpc_status

from common.errors import ScfError
from protos.gateway import gateway_pb2
from protos.peer import transaction_pb2
from protos.scf import batch_pb2

__all__ = [
    "CallFailure",
    "CommitError",
    "CommitStatusError",
    "EndorseError",
    "ErrorDetail",
    "EvaluateError",
    "EventsError",
    "GatewayError",
    "SubmitError",
    "validation_code_name",
]

_LEADING_CODE = re.compile(r"^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*): ")
# The gateway's wrapping of a contract rejection: any code, one-word ones included.
_CHAINCODE_CODE = re.compile(r"chaincode response \d+, ([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*): ")
# A code inside some other wrapped message: only multi-word codes, so ordinary words
# followed by a colon are not mistaken for one.
_EMBEDDED_CODE = re.compile(r"(?:^|[,:;]\s+)([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+): ")


@dataclass(frozen=True)
class ErrorDetail:
    """Why one endorser or orderer failed (`gateway.ErrorDetail`)."""

    address: str
    msp_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.address} ({self.msp_id}): {self.message}"


@dataclass(frozen=True)
class CallFailure:
    """What a failed gateway call said: its gRPC status code, message and the
    ErrorDetails packed in its `google.rpc.Status` — from a unary call's error
    (`of_rpc`) or from one item of a batch call (`of_item`, which carries exactly
    what the single call's status would have)."""

    grpc_code: grpc.StatusCode
    message: str
    details: tuple[ErrorDetail, ...] = ()

    @classmethod
    def of_rpc(cls, error: grpc.RpcError) -> CallFailure:
        call: grpc.Call = error  # type: ignore[assignment]  # every RpcError from a call is one
        details: list[ErrorDetail] = []
        try:
            status = rpc_status.from_call(call)
        except ValueError:  # a status whose details disagree with its code: ignore them
            status = None
        if status is not None:
            for item in status.details:
                detail = gateway_pb2.ErrorDetail()
                if item.Unpack(detail):
                    details.append(ErrorDetail(detail.address, detail.msp_id, detail.message))
        return cls(call.code(), call.details() or "", tuple(details))

    @classmethod
    def of_item(cls, error: batch_pb2.ItemError) -> CallFailure:
        code = _STATUS_CODES.get(error.code, grpc.StatusCode.UNKNOWN)
        if code == grpc.StatusCode.OK:  # never sent for a failed item; do not call it success
            code = grpc.StatusCode.UNKNOWN
        return cls(
            code,
            error.message,
            tuple(ErrorDetail(d.address, d.msp_id, d.message) for d in error.details),
        )


# google.rpc.Code number → grpc.StatusCode (whose values are (number, name) pairs).
_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def validation_code_name(code: int) -> str:
    """`TxValidationCode` name of `code` (`UNKNOWN_<n>` for a value we do not know)."""
    try:
        return transaction_pb2.TxValidationCode.Name(code)
    except ValueError:
        return f"UNKNOWN_{code}"


def contract_code(message: str, details: Sequence[ErrorDetail] = ()) -> str | None:
    """The "CODE" of a "CODE: message" error in the message or its details."""
    for text in (message, *(d.message for d in details)):
        match = (
            _LEADING_CODE.match(text) or _CHAINCODE_CODE.search(text) or _EMBEDDED_CODE.search(text)
        )
        if match:
            return match.group(1)
    return None


class GatewayError(ScfError):
    """A call to the gateway peer failed (see the module docstring)."""

    code = "GATEWAY_ERROR"
    stage = "gateway call"

    def __init__(
        self,
        message: str,
        *,
        transaction_id: str = "",
        grpc_code: grpc.StatusCode | None = None,
        details: Sequence[ErrorDetail] = (),
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code or contract_code(message, details))
        self.transaction_id = transaction_id
        self.grpc_code = grpc_code
        self.details = tuple(details)

    def __str__(self) -> str:
        text = self.message
        if self.code and not text.startswith(f"{self.code}:"):
            text = f"{self.code}: {text}"
        extra = [str(d) for d in self.details if d.message and d.message not in text]
        if extra:
            text += " [" + "; ".join(extra) + "]"
        if self.transaction_id:
            text += f" (txid {self.transaction_id})"
        return text

    @classmethod
    def from_rpc(cls, error: grpc.RpcError, *, transaction_id: str = "", target: str = "") -> Self:
        """Wrap a failed gRPC call: code, message and the ErrorDetails it carried."""
        return cls.from_failure(
            CallFailure.of_rpc(error), transaction_id=transaction_id, target=target
        )

    @classmethod
    def from_failure(
        cls, failure: CallFailure, *, transaction_id: str = "", target: str = ""
    ) -> Self:
        """The one builder of a failed call's error, whether the failure came as a
        unary call's gRPC status or as one item's `ItemError` of a batch call: the same
        failure gives the same error (type, code, message, details)."""
        message = failure.message
        code: str | None = None
        if failure.grpc_code == grpc.StatusCode.UNAVAILABLE:
            code = "NETWORK_UNREACHABLE"
            where = f" at {target}" if target else ""
            message = (
                f"cannot reach the gateway peer{where}: {message or 'unavailable'}; "
                "is the network running ('scf network status')?"
            )
        elif failure.grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED:
            code = "TIMEOUT"
            message = f"{cls.stage} timed out: {message}"
        return cls(
            message,
            transaction_id=transaction_id,
            grpc_code=failure.grpc_code,
            details=failure.details,
            code=code or contract_code(message, failure.details) or cls.code,
        )


class EvaluateError(GatewayError):
    """Evaluate failed: the proposal was refused or the contract returned an error."""

    code = "EVALUATE_FAILED"
    stage = "evaluate"


class EndorseError(GatewayError):
    """Endorse failed: no endorsement, or the contract returned an error. Nothing was
    ordered."""

    code = "ENDORSE_FAILED"
    stage = "endorse"


class SubmitError(GatewayError):
    """The ordering service did not accept the signed transaction."""

    code = "SUBMIT_FAILED"
    stage = "submit"


class CommitStatusError(GatewayError):
    """The commit status could not be obtained (the tx may or may not commit)."""

    code = "COMMIT_STATUS_FAILED"
    stage = "commit status"


class EventsError(GatewayError):
    """A block or chaincode event stream failed (refused, or the peer went away)."""

    code = "EVENTS_FAILED"
    stage = "event stream"


class CommitError(GatewayError):
    """The transaction committed as invalid (`validation_code` != VALID); it changed
    no state. `code` is the validation code's name."""

    stage = "commit"

    def __init__(self, transaction_id: str, validation_code: int, block_number: int) -> None:
        name = validation_code_name(validation_code)
        super().__init__(
            f"transaction {transaction_id} committed as invalid in block {block_number}: {name}",
            transaction_id=transaction_id,
            code=name,
        )
        self.validation_code = validation_code
        self.validation_code_name = name
        self.block_number = block_number

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
