"""`orderer.AtomicBroadcast/Broadcast`: admit client envelopes into the ordering.

One `BroadcastResponse` per envelope, in order. Checks, in this order, each
refusal logged once with its reason and counted by reason:

1. the envelope, its payload and headers parse            else BAD_REQUEST
2. the channel is served here                             else NOT_FOUND
3. size ≤ AbsoluteMaxBytes                                else REQUEST_ENTITY_TOO_LARGE
4. txid == hex(SHA-256(nonce ‖ creator))                  else BAD_REQUEST
5. the creator's signature over the exact payload bytes
   satisfies the channel's Writers policy                 else FORBIDDEN
6. then the channel orders it: SUCCESS once in the leader's pending batch
   (a follower forwards to the leader and relays its answer); duplicate pending
   txid → BAD_REQUEST; no leader → SERVICE_UNAVAILABLE. In ack-on-commit mode a
   follower does not wait for the leader's answer before admitting the stream's
   next envelope (`submit_async`): the forwards of one stream are pipelined, in
   order, and the answers still go back in request order.

`scf.BroadcastBatch/BroadcastEnvelopes` (`BroadcastHandler.batch`) admits and
answers each envelope of a batch through the same two steps as the stream
(`_admit`, then `_answer`): same checks, same refusals and metrics, SUCCESS under
the same acknowledgement rule.

The envelope bytes ordered are exactly the bytes received (the servicer is
registered with an identity deserializer), so signatures stay verifiable.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from common.config.bundle import ChannelBundle
from common.crypto import compute_txid
from common.policies import EvaluationResult, SignedData
from orderer.cluster import ForwardResult
from orderer.metrics import OrdererMetrics
from protos.common import common_pb2
from protos.orderer import ab_pb2

log = logging.getLogger("orderer.broadcast")


class Watch(Protocol):
    def wait(self, timeout_s: float) -> bool: ...


class BroadcastChannel(Protocol):
    @property
    def bundle(self) -> ChannelBundle: ...

    def submit(self, envelope: bytes, txid: str) -> ForwardResult: ...

    def watch(self, txid: str) -> Any: ...

    def unwatch(self, watch: Any) -> None: ...


@dataclass(frozen=True)
class _Pending:
    """Admitted with SUCCESS; in ack-on-commit mode the answer waits for the block
    (`watch`; None when the answer is due once the leader took the envelope)."""

    channel: BroadcastChannel
    watch: Any
    txid: str
    deadline: float  # time.monotonic() by which its block must be committed
    outcome: Any = None  # a `ForwardFuture` while the leader's answer is awaited


class BroadcastChannels(Protocol):
    def broadcast_channel(self, channel_id: str) -> BroadcastChannel | None: ...


@dataclass(frozen=True)
class ParsedEnvelope:
    """The parts of a client envelope the ordering service looks at."""

    payload: bytes
    signature: bytes
    channel_header: common_pb2.ChannelHeader
    creator: bytes
    nonce: bytes


class EnvelopeError(Exception):
    """The envelope cannot be parsed (BAD_REQUEST)."""


def parse_envelope(raw: bytes) -> ParsedEnvelope:
    try:
        envelope = common_pb2.Envelope.FromString(raw)
        payload = common_pb2.Payload.FromString(envelope.payload)
        if not payload.HasField("header"):
            raise EnvelopeError("payload has no header")
        channel_header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        signature_header = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
    except EnvelopeError:
        raise
    except Exception as exc:  # protobuf's DecodeError
        raise EnvelopeError(f"malformed envelope: {exc}") from None
    if not channel_header.channel_id:
        raise EnvelopeError("channel header has no channel_id")
    if not signature_header.creator:
        raise EnvelopeError("signature header has no creator")
    return ParsedEnvelope(
        payload=envelope.payload,
        signature=envelope.signature,
        channel_header=channel_header,
        creator=signature_header.creator,
        nonce=signature_header.nonce,
    )


_SATISFIED = EvaluationResult(True, "")

_SUCCESS = ab_pb2.BroadcastResponse(status=common_pb2.SUCCESS)
_SUCCESS_BYTES = _SUCCESS.SerializeToString()
_INTERNAL_ERROR = ab_pb2.BroadcastResponse(
    status=common_pb2.INTERNAL_SERVER_ERROR,
    info="the orderer failed unexpectedly on this envelope; see its log",
)

_SUBMIT_REASONS: dict[int, str] = {
    common_pb2.BAD_REQUEST: "duplicate",
    common_pb2.SERVICE_UNAVAILABLE: "unavailable",
    common_pb2.REQUEST_ENTITY_TOO_LARGE: "too_large",
}


class BroadcastHandler:
    """Per-envelope admission; the servicer streams over it.

    With `ack_on_commit`, SUCCESS is sent only once the envelope's block is appended
    on this node (so an acknowledged envelope survives the leader's death); the
    stream stays pipelined: envelopes keep being admitted while earlier ones wait,
    and answers still come in request order. An envelope whose block does not
    arrive within `commit_timeout_s` is answered SERVICE_UNAVAILABLE (resubmit).
    """

    def __init__(
        self,
        channels: BroadcastChannels,
        metrics: OrdererMetrics | None = None,
        *,
        ack_on_commit: bool = False,
        commit_timeout_s: float = 10.0,
    ) -> None:
        self._channels = channels
        self._metrics = metrics
        self._ack_on_commit = ack_on_commit
        self._commit_timeout_s = commit_timeout_s

    def handle(self, raw: bytes, peer: str = "") -> ab_pb2.BroadcastResponse:
        """Admit one envelope (answer SUCCESS once it is pending at the leader)."""
        result = self._admit(raw, peer, watch=False, pipelined=False)
        return result if isinstance(result, ab_pb2.BroadcastResponse) else _SUCCESS

    def batch(self, raws: Sequence[bytes], peer: str = "") -> list[ab_pb2.BroadcastResponse]:
        """Each envelope's response, in order, as a stream would answer `raws`.

        All are admitted, in order, before any answer is awaited, and each gets
        `commit_timeout_s` from its own admission: the waits for the leader and for
        the blocks overlap, so a batch takes about as long as its slowest envelope.
        An unexpected exception while admitting one envelope answers that envelope
        INTERNAL_SERVER_ERROR (on a stream it would end the stream) and no other.
        """
        admitted: list[ab_pb2.BroadcastResponse | _Pending] = []
        for raw in raws:
            try:
                admitted.append(self._admit(raw, peer, watch=self._ack_on_commit, pipelined=True))
            except Exception:
                log.exception("admitting one envelope of a batch from %s failed", peer or "?")
                admitted.append(_INTERNAL_ERROR)
        answers: list[ab_pb2.BroadcastResponse] = []
        try:
            for item in admitted:
                answers.append(self._answer(item, peer))
        finally:
            # An exception part-way must not leave the rest's commit watches behind.
            for item in admitted[len(answers) :]:
                _release(item)
        return answers

    def _admit(
        self, raw: bytes, peer: str, *, watch: bool, pipelined: bool
    ) -> ab_pb2.BroadcastResponse | _Pending:
        """Check `raw` and hand it to its channel: a refusal, SUCCESS, or a `_Pending`
        for `_answer` to settle. `watch`: the answer waits for the block (ack on
        commit). `pipelined`: do not wait for a follower's forward either (the
        leader's answer is awaited in `_answer`)."""
        try:
            env = parse_envelope(raw)
        except EnvelopeError as exc:
            return self._refuse("", "bad_request", common_pb2.BAD_REQUEST, str(exc), peer)
        channel_id = env.channel_header.channel_id
        channel = self._channels.broadcast_channel(channel_id)
        if channel is None:
            # Not labelled with the client's channel name: the metric's children would
            # grow with every name a client makes up.
            return self._refuse(
                "",
                "not_found",
                common_pb2.NOT_FOUND,
                f"channel {channel_id!r} does not exist here",
                peer,
            )
        bundle = channel.bundle
        limit = bundle.config.batch.absolute_max_bytes
        if len(raw) > limit:
            return self._refuse(
                channel_id,
                "too_large",
                common_pb2.REQUEST_ENTITY_TOO_LARGE,
                f"envelope of {len(raw)} bytes exceeds AbsoluteMaxBytes {limit}",
                peer,
            )
        txid = env.channel_header.tx_id
        if txid != compute_txid(env.nonce, env.creator):
            return self._refuse(
                channel_id,
                "bad_txid",
                common_pb2.BAD_REQUEST,
                f"txid {txid!r} is not hex(SHA-256(nonce ‖ creator))",
                peer,
            )
        if not self._writer_fast_path(bundle, env):
            result = bundle.evaluate(
                "Writers", [SignedData(env.creator, env.payload, env.signature)]
            )
        else:
            result = _SATISFIED
        if not result.satisfied:
            return self._refuse(
                channel_id,
                "forbidden",
                common_pb2.FORBIDDEN,
                f"Writers policy not satisfied: {result.reason}",
                peer,
            )
        watcher = channel.watch(txid) if watch else None
        submit_async = getattr(channel, "submit_async", None) if pipelined else None
        if submit_async is not None:  # pipelined: the answer is awaited in order
            return _Pending(channel, watcher, txid, self._deadline(), submit_async(raw, txid))
        outcome = channel.submit(raw, txid)
        if outcome.status != common_pb2.SUCCESS:
            if watcher is not None:
                channel.unwatch(watcher)
            reason = _SUBMIT_REASONS.get(outcome.status, "other")
            return self._refuse(channel_id, reason, outcome.status, outcome.info, peer)
        if watcher is not None:
            return _Pending(channel, watcher, txid, self._deadline())
        return _SUCCESS

    def _deadline(self) -> float:
        """Each envelope gets `commit_timeout_s` from its own admission: answers go
        out in order, and an envelope lost with a dead leader must not delay the
        answers of those behind it by another full timeout each."""
        return time.monotonic() + self._commit_timeout_s

    def _submitted(self, item: _Pending, peer: str) -> ab_pb2.BroadcastResponse | None:
        """The refusal if the leader did not take `item` (None when it did)."""
        if item.outcome is None:
            return None
        outcome: ForwardResult = item.outcome.result()
        if outcome.status == common_pb2.SUCCESS:
            return None
        if item.watch is not None:
            item.channel.unwatch(item.watch)
        reason = _SUBMIT_REASONS.get(outcome.status, "other")
        channel_id = item.channel.bundle.channel_id
        return self._refuse(channel_id, reason, outcome.status, outcome.info, peer)

    def _answer(
        self, item: ab_pb2.BroadcastResponse | _Pending, peer: str
    ) -> ab_pb2.BroadcastResponse:
        """The response to an admitted envelope: its refusal; SUCCESS once the leader
        took it and, when watched, its block is appended here; SERVICE_UNAVAILABLE
        when that has not happened by its deadline."""
        if isinstance(item, ab_pb2.BroadcastResponse):
            return item
        if (refused := self._submitted(item, peer)) is not None:
            return refused
        if item.watch is None or item.watch.wait(max(0.0, item.deadline - time.monotonic())):
            return _SUCCESS
        item.channel.unwatch(item.watch)
        return self._refuse(
            item.channel.bundle.channel_id,
            "commit_timeout",
            common_pb2.SERVICE_UNAVAILABLE,
            f"txid {item.txid} not committed within {self._commit_timeout_s}s; resubmit",
            peer,
        )

    def _writer_fast_path(self, bundle: ChannelBundle, env: ParsedEnvelope) -> bool:
        """True when `env`'s creator is a valid identity, its signature over the exact
        payload verifies, and that identity alone satisfies the channel's Writers
        policy — the common case, whose policy outcome the bundle caches per
        (policy, MSP, role), so the tree is not walked again for every envelope.

        The identity's validity (expiry, revocation under this config) and the
        signature are checked every time; only the policy outcome for a valid
        identity is remembered, per bundle, which is immutable. False means "take
        the full evaluation" (which also yields the refusal reason).
        """
        try:
            identity = bundle.msp_manager.deserialize_identity(env.creator)
            identity.verify(env.payload, env.signature)
        except Exception:  # invalid identity or signature: the full path says why
            return False
        # The bundle caches this outcome per (policy, MSP, role).
        return bundle.evaluate_verified("Writers", identity).satisfied

    def _refuse(
        self, channel: str, reason: str, status: int, info: str, peer: str
    ) -> ab_pb2.BroadcastResponse:
        log.warning("broadcast from %s on %r refused (%s): %s", peer or "?", channel, reason, info)
        if self._metrics is not None:
            self._metrics.broadcast_rejections.labels(channel, reason).inc()
        return ab_pb2.BroadcastResponse(status=status, info=info)  # type: ignore[arg-type]

    def stream(self, requests: Iterable[bytes], peer: str = "") -> Iterator[bytes]:
        if not self._ack_on_commit:
            for raw in requests:
                yield self.handle(raw, peer).SerializeToString()
            return
        admitted: queue.SimpleQueue[ab_pb2.BroadcastResponse | _Pending | None] = (
            queue.SimpleQueue()
        )
        lock = threading.Lock()
        answering = [True]  # False once the stream is closed (the client went away)

        def admit_all() -> None:
            try:
                for raw in requests:
                    item = self._admit(raw, peer, watch=True, pipelined=True)
                    with lock:
                        if answering[0]:
                            admitted.put(item)
                            continue
                    _release(item)
                    return
            except Exception as exc:  # the client went away mid-stream
                log.debug("broadcast stream from %s ended: %s", peer, exc)
            finally:
                admitted.put(None)

        reader = threading.Thread(target=admit_all, name="broadcast-admit", daemon=True)
        reader.start()
        try:
            while (item := admitted.get()) is not None:
                response = self._answer(item, peer)
                yield _SUCCESS_BYTES if response is _SUCCESS else response.SerializeToString()
        finally:
            # Closed early (client gone): what was admitted but not answered still
            # holds a commit watch, which only a block holding its txid would remove
            # — never, for an envelope lost with a leader. Release them.
            with lock:
                answering[0] = False
            while True:
                try:
                    left = admitted.get_nowait()
                except queue.Empty:
                    break
                if left is not None:
                    _release(left)


def _release(item: ab_pb2.BroadcastResponse | _Pending) -> None:
    """Drop the commit watch of an admitted envelope that will not be answered."""
    if isinstance(item, _Pending) and item.watch is not None:
        item.channel.unwatch(item.watch)
