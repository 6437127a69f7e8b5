"""`CommitNotifier`: commit statuses from one filtered-block stream per (connection,
channel), instead of one CommitStatus call per transaction.

Contracts:

* **Register before submit.** `register(txid)` is called before the transaction is
  submitted; the waiter it returns is resolved by the first `FilteredTransaction` with
  that txid (validation code, block number), as the peer's tx index keeps the first.
  Register returns None — the caller then uses CommitStatus — when no stream can
  cover the transaction: the first stream has not delivered its first block (below).
* **No gaps.** The first registration opens `DeliverFiltered` at the ledger's newest
  block and waits (up to `start_timeout_s`) until that block arrives: a transaction
  submitted afterwards commits in a later block, which the stream delivers. After a
  break, the stream resumes at the last block seen + 1, so a waiter registered before
  or during the break is still covered.
* **Safety net.** `CommitWaiter.wait` returns None (ask the signed CommitStatus, which
  is authoritative) when the stream is broken or closed, when it has not come back
  within `start_timeout_s`, or when the txid is still unresolved `grace_s` after the
  stream delivered a block it received after the submit returned.
* **Bounded memory.** Waiters are held weakly and dropped when resolved or abandoned:
  one whose `Commit` nobody holds any more disappears with it. Statuses of txids
  nobody waits for are not kept (none is needed: the waiter exists before its
  transaction can commit).

The stream is read by one daemon thread, which retries a broken stream with backoff
while anyone is registered and exits otherwise (the next registration restarts it).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Protocol

import grpc

from client.commit import Status
from protos.common import common_pb2
from protos.peer import events_pb2

__all__ = ["CommitNotifier", "CommitWaiter", "OpenStream", "StreamCall"]

log = logging.getLogger("client.commit_notifier")

POLL_S = 0.5
"""How often a waiting `status()` re-checks the safety-net conditions."""
BACKOFF_S = (0.2, 5.0)
"""First and longest pause before reopening a broken stream."""


class StreamCall(Protocol):
    """An open `DeliverFiltered` call: its responses, and cancel()."""

    def __iter__(self) -> Iterator[events_pb2.DeliverResponse]: ...

    def cancel(self) -> bool: ...


OpenStream = Callable[[int | None, threading.Event], StreamCall]
"""`open(start, closed)`: the stream from block `start` (None: the newest) forever;
its request side stays open until `closed` is set."""


class _State(enum.Enum):
    IDLE = "idle"  # no reader thread
    STARTING = "starting"  # opened, no block received yet
    LIVE = "live"
    BROKEN = "broken"  # the reader thread waits to reopen
    CLOSED = "closed"


class CommitWaiter:
    """One registered transaction's commit, as the stream reports it."""

    __slots__ = (
        "__weakref__",
        "_done",
        "_notifier",
        "_passed_at",
        "_status",
        "_submitted_at",
        "transaction_id",
    )

    def __init__(self, notifier: CommitNotifier, transaction_id: str, now: float) -> None:
        self.transaction_id = transaction_id
        self._notifier = notifier
        self._done = threading.Event()
        self._status: Status | None = None
        self._submitted_at = now
        self._passed_at: float | None = None

    @property
    def status(self) -> Status | None:
        """The status once the stream reported it."""
        return self._status

    def submitted(self) -> None:
        """The transaction was accepted for ordering now (starts the safety net's
        clock: blocks received before now cannot be expected to hold it)."""
        self._submitted_at = self._notifier.clock()

    def abandon(self) -> None:
        """Stop waiting (the submit failed)."""
        self._notifier.forget(self)

    def wait(self, timeout: float | None) -> Status | None:
        """The status from the stream, waiting up to `timeout` seconds (None: no
        limit); None when the caller must ask CommitStatus (module docstring)."""
        clock = self._notifier.clock
        deadline = None if timeout is None else clock() + timeout
        while self._status is None:
            now = clock()
            patience = self._notifier.patience(self, now)
            if patience is None:
                return self._status
            if deadline is not None:
                if now >= deadline:
                    return None
                patience = min(patience, deadline - now)
            self._done.wait(patience)
            if self._status is None:
                self._done.clear()  # a wake-up: re-check the stream's state above
        return self._status

    def _resolve(self, status: Status) -> None:
        self._status = status
        self._done.set()

    def _wake(self) -> None:
        """Make a waiting `wait` re-check the stream's state now."""
        self._done.set()


class CommitNotifier:
    """Commit statuses of registered txids on one channel (module docstring)."""

    def __init__(
        self,
        open_stream: OpenStream,
        *,
        grace_s: float = 5.0,
        start_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        self._open = open_stream
        self._grace_s = grace_s
        self._start_timeout_s = start_timeout_s
        self.clock = clock
        self._name = name
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._state = _State.IDLE
        self._waiters: weakref.WeakValueDictionary[str, CommitWaiter] = (
            weakref.WeakValueDictionary()
        )
        self._last: int | None = None  # the last block number seen
        self._last_block_at: float | None = None
        self._starting_since = 0.0
        self._call: StreamCall | None = None
        self._stream_closed: threading.Event | None = None
        self._stop = threading.Event()
        self.streams_opened = 0
        """Streams opened so far (for tests and diagnostics)."""

    # ------------------------------------------------------------------ the SDK side

    @property
    def last_block(self) -> int | None:
        """The last block number the stream delivered."""
        return self._last

    def register(self, transaction_id: str) -> CommitWaiter | None:
        """A waiter for `transaction_id`, to be called before it is submitted; None
        when no stream can cover it (use CommitStatus)."""
        with self._lock:
            if self._state is _State.CLOSED:
                return None
            if self._state is _State.IDLE:
                self._start_locked()
            if self._last is None:
                # A fresh start at the newest block: only once that block arrived is a
                # transaction submitted from now on sure to be in a block streamed.
                self._changed.wait_for(
                    lambda: self._last is not None or self._state is not _State.STARTING,
                    self._start_timeout_s,
                )
                if self._last is None:
                    if self._state is _State.STARTING and self._call is not None:
                        self._call.cancel()  # too slow to start: the reader reports a break
                    return None
                if self._state is _State.IDLE:  # it broke and its reader left meanwhile
                    self._start_locked()
            waiter = self._waiters.get(transaction_id)
            if waiter is None:
                waiter = CommitWaiter(self, transaction_id, self.clock())
                self._waiters[transaction_id] = waiter
            return waiter

    def forget(self, waiter: CommitWaiter) -> None:
        """Drop `waiter` (its transaction will not be submitted)."""
        with self._lock:
            if self._waiters.get(waiter.transaction_id) is waiter:
                del self._waiters[waiter.transaction_id]

    def waiting(self) -> int:
        """Registered, unresolved waiters still referenced."""
        with self._lock:
            return len(self._waiters)

    def patience(self, waiter: CommitWaiter, now: float) -> float | None:
        """How long `waiter` may keep waiting for the stream before re-checking; None
        when it must fall back to CommitStatus now."""
        with self._lock:
            state = self._state
            if state is _State.STARTING and now - self._starting_since > self._start_timeout_s:
                return None
            if state not in (_State.LIVE, _State.STARTING):
                return None
            seen = self._last_block_at
        if seen is not None and seen >= waiter._submitted_at:
            if waiter._passed_at is None:
                waiter._passed_at = seen
            left = waiter._passed_at + self._grace_s - now
            return None if left <= 0 else min(left, POLL_S)
        return POLL_S

    def close(self) -> None:
        """Cancel the stream; waiting callers fall back (idempotent)."""
        with self._lock:
            self._state = _State.CLOSED
            self._stop.set()
            call, closed = self._call, self._stream_closed
            waiters = list(self._waiters.values())
            self._waiters.clear()
            self._changed.notify_all()
        if closed is not None:
            closed.set()
        if call is not None:
            call.cancel()
        for waiter in waiters:
            waiter._wake()

    # ------------------------------------------------------------------ the stream

    def _start_locked(self) -> None:
        self._state = _State.STARTING
        self._starting_since = self.clock()
        threading.Thread(
            target=self._run, name=f"commit-notifier {self._name}", daemon=True
        ).start()

    def _run(self) -> None:
        backoff = BACKOFF_S[0]
        while True:
            went_live = self._follow()
            with self._lock:
                if self._state is _State.CLOSED:
                    return
                self._state = _State.BROKEN
                waiting = list(self._waiters.values())
                self._changed.notify_all()
            for waiter in waiting:
                waiter._wake()
            if went_live:
                backoff = BACKOFF_S[0]
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, BACKOFF_S[1])
            with self._lock:
                if self._state is _State.CLOSED:
                    return
                if not self._waiters:  # nobody to serve: the next register restarts
                    self._state = _State.IDLE
                    return
                self._state = _State.STARTING
                self._starting_since = self.clock()

    def _follow(self) -> bool:
        """Open the stream where it left off and read it until it breaks; returns
        whether it delivered any block."""
        closed = threading.Event()
        with self._lock:
            if self._stop.is_set():  # closed
                return False
            start = None if self._last is None else self._last + 1
            self._stream_closed = closed
        went_live = False
        reason = "the stream ended"
        try:
            call = self._open(start, closed)
            with self._lock:
                self._call = call
                self.streams_opened += 1
                if self._stop.is_set():  # closed while opening
                    call.cancel()
            for response in call:
                kind = response.WhichOneof("Type")
                if kind == "filtered_block":
                    went_live = True
                    if not self._on_block(response.filtered_block):
                        reason = "the stream skipped a block"
                        call.cancel()
                        break
                elif kind == "status":
                    reason = f"the peer ended the stream: {common_pb2.Status.Name(response.status)}"
                    break
        except grpc.RpcError as exc:
            call_error: grpc.Call = exc  # type: ignore[assignment]  # raised by a call
            reason = f"{call_error.code().name}: {call_error.details()}"
        except Exception as exc:  # e.g. no signer for the request: no stream at all
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            closed.set()
            with self._lock:
                self._call = None
                self._stream_closed = None
        if not self._stop.is_set():
            log.info("commit stream %s broke (%s); last block %s", self._name, reason, self._last)
        return went_live

    def _on_block(self, block: events_pb2.FilteredBlock) -> bool:
        """Resolve the waiters of `block`'s transactions; False on a gap (the stream
        must then be reopened at the block after the last one seen)."""
        number = int(block.number)
        resolved: list[tuple[CommitWaiter, int]] = []
        with self._lock:
            if self._last is not None and number != self._last + 1:
                # Already seen (a resumed stream's overlap): skip; beyond: a gap.
                return number <= self._last
            self._last = number
            self._last_block_at = self.clock()
            if self._state is _State.STARTING:
                self._state = _State.LIVE
                self._changed.notify_all()
            if self._waiters:
                for tx in block.filtered_transactions:
                    waiter = self._waiters.pop(tx.txid, None)
                    if waiter is not None:
                        resolved.append((waiter, int(tx.tx_validation_code)))
        for waiter, code in resolved:
            waiter._resolve(Status(waiter.transaction_id, code, number))
        return True
