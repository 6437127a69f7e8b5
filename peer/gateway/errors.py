"""Gateway errors as Fabric's gateway returns them: a gRPC status code and message,
with one `gateway.ErrorDetail(address, msp_id, message)` per failing endpoint packed
into the `google.rpc.Status` details (what fabric-gateway clients unpack into
`error.details`). In a `scf.GatewayBatch` reply the same code, message and details
travel per item as an `ItemError`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from common.errors import ScfError
from protos.gateway import gateway_pb2
from protos.scf import batch_pb2

__all__ = ["EndpointError", "GatewayError", "abort"]


@dataclass(frozen=True)
class EndpointError:
    """Why one endorser or orderer failed: becomes one ErrorDetail."""

    address: str
    msp_id: str
    message: str

    def detail(self) -> gateway_pb2.ErrorDetail:
        """The ErrorDetail, its message bounded (see `GatewayError.to_status`)."""
        return gateway_pb2.ErrorDetail(
            address=self.address, msp_id=self.msp_id, message=_bounded(self.message)
        )

    def __str__(self) -> str:
        return f"{self.address} ({self.msp_id}): {self.message}"


class GatewayError(ScfError):
    """A refused or failed gateway call: `status` is the gRPC code returned, `details`
    the endpoints that failed (possibly none)."""

    code = "GATEWAY_ERROR"

    def __init__(
        self,
        status: grpc.StatusCode,
        message: str,
        details: Sequence[EndpointError] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.details = tuple(details)

    @property
    def code_number(self) -> int:
        """The google.rpc.Code number of `status`."""
        # grpc.StatusCode values are (int code, str name) pairs.
        number: int = self.status.value[0]
        return number

    def _bounded_text(self) -> str:
        text = _bounded(self.message)
        if len(self.details) > MAX_DETAILS:
            text += f" (and {len(self.details) - MAX_DETAILS} more endpoints failed)"
        return text

    def to_status(self) -> grpc.Status:
        """The status, its texts bounded: status message and details travel as HTTP/2
        trailers, and a client drops trailers over its metadata limit (8 KiB by
        default) as a transport error, losing the reason altogether."""
        packed = []
        for endpoint in self.details[:MAX_DETAILS]:
            item = any_pb2.Any()
            item.Pack(endpoint.detail())
            packed.append(item)
        message = status_pb2.Status(
            code=self.code_number, message=self._bounded_text(), details=packed
        )
        return rpc_status.to_status(message)

    def to_item_error(self) -> batch_pb2.ItemError:
        """This error as one item's outcome in a `scf.GatewayBatch` response: the code,
        message and ErrorDetails `to_status` would send, bounded the same way (so an
        item costs at most ≈ (1 + MAX_DETAILS) × MAX_TEXT characters of the reply)."""
        return batch_pb2.ItemError(
            code=self.code_number,
            message=self._bounded_text(),
            details=[endpoint.detail() for endpoint in self.details[:MAX_DETAILS]],
        )


MAX_TEXT = 800
"""Characters kept of a status message or an ErrorDetail message."""
MAX_DETAILS = 4
"""ErrorDetails sent at most (one per failing endpoint; more are counted)."""


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 14] + " … (truncated)"


def abort(context: grpc.ServicerContext, error: GatewayError) -> NoReturn:
    """End the call with `error` (raises, as `context.abort_with_status` does)."""
    context.abort_with_status(error.to_status())
    raise AssertionError("abort_with_status returned")  # pragma: no cover
