"""Batching of envelopes into blocks, as Fabric's `blockcutter`: pure logic, no clock.

Rules, applied to each envelope offered with `ordered(envelope, txid, now)`:

1. An envelope larger than AbsoluteMaxBytes is refused (REQUEST_ENTITY_TOO_LARGE);
   one whose txid is already pending is refused (BAD_REQUEST).
2. An envelope larger than PreferredMaxBytes is isolated: the pending batch (if
   any) is cut, then the envelope alone forms the next batch.
3. If adding it would push the pending bytes above PreferredMaxBytes, the pending
   batch is cut first and the envelope starts a new one.
4. When the pending batch reaches MaxMessageCount it is cut.
5. BatchTimeout runs from the moment the first envelope of a pending batch arrived
   (`now` is passed in): `deadline()` says when; the caller calls `cut()` then.

Invariant: every batch returned is non-empty, holds at most MaxMessageCount
envelopes, and holds more than PreferredMaxBytes only if it is a single envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

from protos.common import common_pb2


@dataclass(frozen=True)
class BatchLimits:
    max_message_count: int
    absolute_max_bytes: int
    preferred_max_bytes: int
    timeout_s: float


@dataclass(frozen=True)
class Batch:
    """Envelopes (serialized, exactly as received) for one block, with their txids."""

    envelopes: tuple[bytes, ...]
    txids: tuple[str, ...]

    @property
    def size(self) -> int:
        return sum(len(e) for e in self.envelopes)


@dataclass(frozen=True)
class Accepted:
    """The envelope is pending or in one of `batches` (cut by this call, in order)."""

    batches: tuple[Batch, ...]


@dataclass(frozen=True)
class Refused:
    """The envelope was not taken; `status` is a `common.Status` value."""

    status: int
    reason: str


OrderResult = Accepted | Refused


class BlockCutter:
    """The leader's pending batch. Not thread-safe (the caller serialises access)."""

    def __init__(self, limits: BatchLimits) -> None:
        self.limits = limits
        self._envelopes: list[bytes] = []
        self._txids: list[str] = []
        self._pending_txids: set[str] = set()
        self._bytes = 0
        self._first_at: float | None = None

    def ordered(self, envelope: bytes, txid: str, now: float) -> OrderResult:
        size = len(envelope)
        if size > self.limits.absolute_max_bytes:
            return Refused(
                common_pb2.REQUEST_ENTITY_TOO_LARGE,
                f"envelope of {size} bytes exceeds AbsoluteMaxBytes "
                f"{self.limits.absolute_max_bytes}",
            )
        if txid and txid in self._pending_txids:
            return Refused(common_pb2.BAD_REQUEST, f"duplicate txid {txid} is already pending")
        batches: list[Batch] = []
        if size > self.limits.preferred_max_bytes:
            pending = self.cut()
            if pending is not None:
                batches.append(pending)
            batches.append(Batch((envelope,), (txid,)))
            return Accepted(tuple(batches))
        if self._bytes + size > self.limits.preferred_max_bytes:
            pending = self.cut()
            if pending is not None:
                batches.append(pending)
        if self._first_at is None:
            self._first_at = now
        self._envelopes.append(envelope)
        self._txids.append(txid)
        if txid:
            self._pending_txids.add(txid)
        self._bytes += size
        if len(self._envelopes) >= self.limits.max_message_count:
            full = self.cut()
            assert full is not None
            batches.append(full)
        return Accepted(tuple(batches))

    def cut(self) -> Batch | None:
        """Take the pending batch (None if nothing is pending)."""
        if not self._envelopes:
            return None
        batch = Batch(tuple(self._envelopes), tuple(self._txids))
        self._envelopes = []
        self._txids = []
        self._pending_txids = set()
        self._bytes = 0
        self._first_at = None
        return batch

    def deadline(self) -> float | None:
        """When the pending batch must be cut (None if nothing is pending)."""
        if self._first_at is None:
            return None
        return self._first_at + self.limits.timeout_s

    def is_pending(self, txid: str) -> bool:
        return txid in self._pending_txids

    def pending_count(self) -> int:
        return len(self._envelopes)
