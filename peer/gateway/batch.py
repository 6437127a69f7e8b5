"""`scf.GatewayBatch` (protos/scf/batch.proto): many Endorse or Submit requests in
one gRPC call, for our SDK talking to its gateway peer (gRPC-Python spends ≈ 0.75 ms
of CPU per unary call; a batch pays it once). Fabric clients never need it: the
standard `gateway.Gateway` service is unchanged beside it.

Contract, per item (as for the single call it stands for):

* Item `i` of the reply answers request `i`; the reply has as many outcomes as the
  request has requests (none for none).
* Each item gets the same parsing, checks, endorsers, orderers and errors as
  `gateway.Gateway/Endorse` / `Submit` (`GatewayServicer.endorse_batch` /
  `.submit_batch`). Its `GatewayError` becomes its `ItemError` (the single call's
  status code number, message and ErrorDetails, bounded as that call's status
  is); an unexpected exception becomes UNKNOWN ("Exception calling application:
  ...", what gRPC answers a single call that raised). An item never fails its
  neighbours.
* The batch stays a batch on its way on, with no thread per item: an
  EndorseBatch's local endorsements run on the call's thread, and each remote
  endorser gets one `scf.EndorserBatch` call for all the items it endorses; a
  SubmitBatch's envelopes go to the orderer in one `scf.BroadcastBatch` call
  (pipelined on a Fabric orderer's Broadcast stream). No order is promised
  between items (as between concurrent single calls).
* More than `MAX_ITEMS` requests fail the whole call [INVALID_ARGUMENT], before any
  item is handled.
"""

from __future__ import annotations

import logging

import grpc

from peer.gateway.errors import GatewayError, abort
from peer.gateway.service import GatewayServicer
from protos.scf import batch_pb2, batch_pb2_grpc

__all__ = ["MAX_ITEMS", "GatewayBatchServicer"]

log = logging.getLogger(__name__)

MAX_ITEMS = 512
"""Requests one batch call may carry."""


class GatewayBatchServicer(batch_pb2_grpc.GatewayBatchServicer):
    """The GatewayBatch gRPC service over a `GatewayServicer` (not owned). Thread-safe;
    no threads of its own: each call is served on the thread gRPC runs it on."""

    def __init__(self, gateway: GatewayServicer) -> None:
        self._gateway = gateway

    def EndorseBatch(
        self, request: batch_pb2.EndorseRequests, context: grpc.ServicerContext
    ) -> batch_pb2.EndorseOutcomes:
        _check_size(len(request.requests), context)
        return batch_pb2.EndorseOutcomes(
            outcomes=[
                batch_pb2.EndorseOutcome(error=_item_error(r))
                if isinstance(r, Exception)
                else batch_pb2.EndorseOutcome(response=r)
                for r in self._gateway.endorse_batch(request.requests)
            ]
        )

    def SubmitBatch(
        self, request: batch_pb2.SubmitRequests, context: grpc.ServicerContext
    ) -> batch_pb2.SubmitOutcomes:
        _check_size(len(request.requests), context)
        return batch_pb2.SubmitOutcomes(
            outcomes=[
                batch_pb2.SubmitOutcome(error=_item_error(r))
                if isinstance(r, Exception)
                else batch_pb2.SubmitOutcome(response=r)
                for r in self._gateway.submit_batch(request.requests)
            ]
        )


def _check_size(count: int, context: grpc.ServicerContext) -> None:
    if count > MAX_ITEMS:
        abort(
            context,
            GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"a batch carries at most {MAX_ITEMS} requests, this one {count}",
            ),
        )


def _item_error(error: Exception) -> batch_pb2.ItemError:
    """The ItemError of an item that failed with `error` (module docstring)."""
    if isinstance(error, GatewayError):
        return error.to_item_error()
    log.error("gateway batch item failed unexpectedly", exc_info=error)
    return GatewayError(
        grpc.StatusCode.UNKNOWN, f"Exception calling application: {error}"
    ).to_item_error()
