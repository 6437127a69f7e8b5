"""The SDK's opt-in batching mode (`Gateway.connect(..., batching=True)`).

gRPC-Python spends ≈ 0.75 ms of CPU per unary call on each side; the standard path
makes three per transaction (Endorse, Submit, CommitStatus). In batching mode, per
connection:

* concurrent Endorse calls travel together in `scf.GatewayBatch/EndorseBatch` calls
  and concurrent Submit calls in `SubmitBatch` calls (`client.coalescer`: at most
  `max_outstanding` batch calls in flight per kind; a batch goes once its oldest call
  has lingered 20 ms, with everything queued by then). A failed item raises exactly
  what the unary call would (`EndorseError` / `SubmitError`, same code, gRPC code,
  details and txid);
* commit statuses come from one `DeliverFiltered` stream per channel
  (`client.commit_notifier`), with the signed CommitStatus call as the safety net.

A peer without the batch service (UNIMPLEMENTED, e.g. a Fabric peer) puts the
connection back on the unary Endorse and Submit calls for good; Fabric peers do serve
DeliverFiltered. Callers see no difference in the API: `Contract.submit`,
`Commit.status()` and the errors are unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from client.coalescer import Coalescer
from client.commit_notifier import CommitNotifier, CommitWaiter, OpenStream, StreamCall
from client.errors import CallFailure
from client.events import FOREVER, SeekSigner, open_requests, seek_position
from common.txutil import build_seek_envelope
from protos.gateway import gateway_pb2
from protos.orderer import ab_pb2
from protos.scf import batch_pb2, batch_pb2_grpc

if TYPE_CHECKING:
    from client.gateway import Connection

__all__ = ["BatchSession", "Batching"]


@dataclass(frozen=True)
class Batching:
    """Options of the batching mode.

    `max_outstanding` EndorseBatch calls and `max_outstanding_submits` SubmitBatch
    calls may be in flight on a connection, each of at most `max_batch` items. Submits
    get more: the orderer answers a submit only once its block is committed (about a
    BatchTimeout), so with few calls in flight the submits queued behind them would
    miss the next block. A batch waits until its oldest call has lingered
    `endorse_linger_s` / `submit_linger_s` (0: it goes as soon as a slot is free).
    Every batch costs a gRPC call at each hop (client → gateway, gateway → endorser,
    gateway → orderer) whatever it carries; without a linger, a client sending a
    hundred transactions a second sends batches of one or two, and the network
    spends its CPU on calls instead of transactions (docs/performance.md: at half the
    maximum rate, 20 ms lingers took the machine from 177 % to 153 % busy and the
    p50 from 196 to 160 ms). A lingering submit is later on average by its linger,
    not by a block: the orderer cuts blocks on its own timer.

    With `commit_stream`, commit statuses come from a filtered block stream; a
    transaction still unresolved `commit_grace_s` after the stream delivered a block
    received after its submit, or while the stream is down (or has not started within
    `stream_start_timeout_s`), is asked with CommitStatus.
    """

    max_outstanding: int = 2
    max_outstanding_submits: int = 8
    max_batch: int = 256
    endorse_linger_s: float = 0.02
    submit_linger_s: float = 0.02
    commit_stream: bool = True
    commit_grace_s: float = 5.0
    stream_start_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if min(self.max_outstanding, self.max_outstanding_submits, self.max_batch) < 1:
            raise ValueError("max_outstanding, max_outstanding_submits and max_batch must be >= 1")
        if self.endorse_linger_s < 0 or self.submit_linger_s < 0:
            raise ValueError("endorse_linger_s and submit_linger_s must be >= 0")
        if self.commit_grace_s <= 0 or self.stream_start_timeout_s <= 0:
            raise ValueError("commit_grace_s and stream_start_timeout_s must be > 0")


def _outcomes(reply: Any) -> list[Any]:
    """An `EndorseOutcomes` / `SubmitOutcomes` reply as responses and failures."""
    out: list[Any] = []
    for outcome in reply.outcomes:
        kind = outcome.WhichOneof("outcome")
        if kind == "response":
            out.append(outcome.response)
        elif kind == "error":
            out.append(CallFailure.of_item(outcome.error))
        else:
            out.append(CallFailure(grpc.StatusCode.INTERNAL, "a batch outcome with no result"))
    return out


class BatchSession:
    """One connection's coalescers and commit notifiers (internal to the SDK)."""

    def __init__(self, options: Batching, channel: grpc.Channel, target: str = "") -> None:
        self.options = options
        self._target = target
        stub = batch_pb2_grpc.GatewayBatchStub(channel)  # type: ignore[no-untyped-call]
        self.unsupported = threading.Event()
        """Set when the peer answered UNIMPLEMENTED: unary calls from then on."""

        def endorse(requests: Sequence[gateway_pb2.EndorseRequest], timeout: float | None) -> Any:
            message = batch_pb2.EndorseRequests(requests=requests)
            return stub.EndorseBatch.future(message, timeout=timeout)

        def submit(requests: Sequence[gateway_pb2.SubmitRequest], timeout: float | None) -> Any:
            message = batch_pb2.SubmitRequests(requests=requests)
            return stub.SubmitBatch.future(message, timeout=timeout)

        self.endorse: Coalescer[gateway_pb2.EndorseRequest, gateway_pb2.EndorseResponse] = (
            Coalescer(
                endorse,
                _outcomes,
                unsupported=self.unsupported,
                max_outstanding=options.max_outstanding,
                max_batch=options.max_batch,
                linger_s=options.endorse_linger_s,
            )
        )
        self.submit: Coalescer[gateway_pb2.SubmitRequest, gateway_pb2.SubmitResponse] = Coalescer(
            submit,
            _outcomes,
            unsupported=self.unsupported,
            max_outstanding=options.max_outstanding_submits,
            max_batch=options.max_batch,
            linger_s=options.submit_linger_s,
        )
        self._lock = threading.Lock()
        self._notifiers: dict[str, CommitNotifier] = {}
        self._closed = False

    def commit_waiter(
        self, connection: Connection, channel: str, transaction_id: str
    ) -> CommitWaiter | None:
        """Register `transaction_id` with `channel`'s commit stream — before it is
        submitted; None when its commit is to be asked with CommitStatus (no stream,
        or offline signing: the stream's request must be signed here)."""
        if not self.options.commit_stream or connection.signer is None:
            return None
        with self._lock:
            if self._closed:
                return None
            notifier = self._notifiers.get(channel)
            if notifier is None:
                notifier = CommitNotifier(
                    _filtered_blocks(connection, channel),
                    grace_s=self.options.commit_grace_s,
                    start_timeout_s=self.options.stream_start_timeout_s,
                    name=f"{self._target}/{channel}",
                )
                self._notifiers[channel] = notifier
        return notifier.register(transaction_id)

    def notifier(self, channel: str) -> CommitNotifier | None:
        """`channel`'s commit notifier, if one was started."""
        with self._lock:
            return self._notifiers.get(channel)

    def close(self) -> None:
        """Stop the streams and release queued calls (idempotent)."""
        with self._lock:
            self._closed = True
            notifiers = list(self._notifiers.values())
        for notifier in notifiers:
            notifier.close()
        self.endorse.close()
        self.submit.close()


def _filtered_blocks(connection: Connection, channel: str) -> OpenStream:
    """`OpenStream` for `channel`'s DeliverFiltered on the gateway peer: a fresh
    signed seek envelope (current timestamp) for each opening."""

    def open_stream(start: int | None, closed: threading.Event) -> StreamCall:
        info = ab_pb2.SeekInfo(
            start=seek_position(start, newest=True),
            stop=seek_position(FOREVER),
            behavior=ab_pb2.SeekInfo.BLOCK_UNTIL_READY,
        )
        envelope = build_seek_envelope(
            channel, info, SeekSigner(connection), tls_cert_hash=connection.tls_cert_hash
        )
        call: StreamCall = connection.deliver.DeliverFiltered(open_requests(envelope, closed))
        return call

    return open_stream
