"""`scf.GatewayBatch` (protos/scf/batch.proto): many Endorse or Submit requests in
one gRPC call, for our SDK talking to its gateway peer (gRPC-Python spends ≈ 0.75 ms
of CPU per unary call; a batch pays it once). Fabric clients never need it: the
standard `gateway.Gateway` service is unchanged beside it.

Contract, per item (as for the single call it stands for):

* Item `i` of the reply answers request `i`; the reply has as many outcomes as the
  request has requests (none for none).
* Each item is served by `GatewayServicer.endorse` / `.submit`: same parsing, checks,
  endorsers, orderers and errors as `gateway.Gateway/Endorse` / `Submit`. Its
  `GatewayError` becomes its `ItemError` (the single call's status code number,
  message and ErrorDetails, bounded as that call's status is); an unexpected
  exception becomes UNKNOWN ("Exception calling application: ...", what gRPC answers
  a single call that raised). An item never fails its neighbours.
* Items run concurrently, with no order promised between them (as between concurrent
  single calls): the endorsements of an EndorseBatch overlap (so calls to one remote
  endorser can be coalesced), and the envelopes of a SubmitBatch are pipelined on
  each orderer's Broadcast stream instead of each waiting for the previous answer
  (an orderer answers on commit, ≈ one BatchTimeout).
* More than `MAX_ITEMS` requests fail the whole call [INVALID_ARGUMENT], before any
  item is handled. When the call ends early (client cancelled, deadline), items not
  yet started are not started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import TypeVar

import grpc

from peer.gateway.errors import GatewayError, abort
from peer.gateway.service import GatewayServicer
from protos.gateway import gateway_pb2
from protos.scf import batch_pb2, batch_pb2_grpc

__all__ = ["MAX_ITEMS", "GatewayBatchServicer"]

log = logging.getLogger(__name__)

MAX_ITEMS = 512
"""Requests one batch call may carry."""
DEFAULT_PARALLEL_ENDORSEMENTS = 64
"""Endorse items handled at once, over all calls (each holds a thread while its
remote endorsers answer)."""

_Q = TypeVar("_Q", gateway_pb2.EndorseRequest, gateway_pb2.SubmitRequest)
_R = TypeVar("_R", gateway_pb2.EndorseResponse, gateway_pb2.SubmitResponse)


class GatewayBatchServicer(batch_pb2_grpc.GatewayBatchServicer):
    """The GatewayBatch gRPC service over a `GatewayServicer` (not owned: `close()`
    releases only this servicer's own thread pools).

    Endorse items run on a pool of `max_parallel_endorsements` threads; submit items
    on a pool of `max_parallel_submits` threads (default `MAX_ITEMS`, so one full
    batch is broadcast at once: a submit item mostly waits for the orderer's answer).
    Threads are started only as items need them. One item of each call runs on the
    call's own thread. Thread-safe.
    """

    def __init__(
        self,
        gateway: GatewayServicer,
        *,
        max_parallel_endorsements: int = DEFAULT_PARALLEL_ENDORSEMENTS,
        max_parallel_submits: int = MAX_ITEMS,
    ) -> None:
        self._gateway = gateway
        self._endorse_pool = ThreadPoolExecutor(
            max_workers=max_parallel_endorsements, thread_name_prefix="gateway-batch-endorse"
        )
        self._submit_pool = ThreadPoolExecutor(
            max_workers=max_parallel_submits, thread_name_prefix="gateway-batch-submit"
        )

    def close(self) -> None:
        """Wait for running items; items not started are dropped."""
        self._endorse_pool.shutdown(wait=True, cancel_futures=True)
        self._submit_pool.shutdown(wait=True, cancel_futures=True)

    def EndorseBatch(
        self, request: batch_pb2.EndorseRequests, context: grpc.ServicerContext
    ) -> batch_pb2.EndorseOutcomes:
        results = _run_items(self._endorse_pool, self._gateway.endorse, request.requests, context)
        return batch_pb2.EndorseOutcomes(
            outcomes=[
                batch_pb2.EndorseOutcome(error=r.to_item_error())
                if isinstance(r, GatewayError)
                else batch_pb2.EndorseOutcome(response=r)
                for r in results
            ]
        )

    def SubmitBatch(
        self, request: batch_pb2.SubmitRequests, context: grpc.ServicerContext
    ) -> batch_pb2.SubmitOutcomes:
        results = _run_items(self._submit_pool, self._gateway.submit, request.requests, context)
        return batch_pb2.SubmitOutcomes(
            outcomes=[
                batch_pb2.SubmitOutcome(error=r.to_item_error())
                if isinstance(r, GatewayError)
                else batch_pb2.SubmitOutcome(response=r)
                for r in results
            ]
        )


def _run_items(
    pool: ThreadPoolExecutor,
    handler: Callable[[_Q], _R],
    requests: Sequence[_Q],
    context: grpc.ServicerContext,
) -> list[_R | GatewayError]:
    """Each request's response or error, in request order. Items 1.. go to `pool`
    at once, item 0 runs on this thread meanwhile; then every item is awaited."""
    if len(requests) > MAX_ITEMS:
        abort(
            context,
            GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"a batch carries at most {MAX_ITEMS} requests, this one {len(requests)}",
            ),
        )
    if not requests:
        return []
    futures = [pool.submit(_attempt, handler, r) for r in requests[1:]]

    def drop_unstarted() -> None:
        for future in futures:
            future.cancel()  # no-op for items running or done

    if not context.add_callback(drop_unstarted):
        drop_unstarted()  # the call has already ended
    results = [_attempt(handler, requests[0])]
    for future in futures:
        try:
            results.append(future.result())
        except CancelledError:
            results.append(
                GatewayError(grpc.StatusCode.CANCELLED, "the call ended before this item ran")
            )
    return results


def _attempt(handler: Callable[[_Q], _R], request: _Q) -> _R | GatewayError:
    """`handler(request)`, or the error its single call would have answered."""
    try:
        return handler(request)
    except GatewayError as error:
        return error
    except Exception as exc:
        log.exception("gateway batch item failed unexpectedly")
        return GatewayError(grpc.StatusCode.UNKNOWN, f"Exception calling application: {exc}")
