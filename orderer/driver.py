"""One channel's consensus driver: the only owner of that channel's Raft I/O.

Its thread ticks the Raft node every `tick_interval`, steps inbound messages from
a queue, cuts and proposes blocks when leader, and handles every `Ready` in the
order persist (fsync) → send → apply → advance (DESIGN §6, raft `Ready`).

Invariants:

* A Raft entry holds one whole serialized block. Applying a committed entry
  appends its block to the block store unless the store already has it
  (`number < height`), so replaying the log after a restart is harmless.
* The leader numbers blocks after the last block it proposed, chaining
  `previous_hash` to it. A new leader proposes nothing until it has applied every
  entry in its log at election time (its own no-op included), so its numbering
  starts from the committed chain. Batches and blocks of a lost term are dropped:
  their envelopes are lost, as in Fabric, and clients re-submit.
* Broadcast answers SUCCESS only once the envelope is in the leader's pending batch.
* A snapshot's data is the number of the last block it covers; a node installing
  a snapshot for blocks it lacks pulls them from another consenter before it
  applies anything after the snapshot.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from common import block as blk
from common.blockstore.base import tx_ids
from common.blockstore.leveldb import LevelBlockStore
from common.crashpoints import crash_point
from common.crypto import new_nonce
from orderer.blockcutter import Accepted, Batch, BlockCutter
from orderer.cluster import ClusterTransport, ForwardResult
from orderer.driver_options import DriverOptions
from orderer.metrics import OrdererMetrics
from orderer.raft import (
    NO_NODE,
    Entry,
    EntryType,
    HardState,
    Index,
    Message,
    NodeId,
    Proposed,
    RaftConfig,
    RaftNode,
    Role,
    Snapshot,
    Storage,
    Term,
)
from orderer.wal import decode_block_number, encode_block_number
from protos.common import common_pb2

log = logging.getLogger("orderer.driver")


class RaftLogStore(Storage, Protocol):
    """What the driver needs of the Raft log besides what the core reads."""

    def save(
        self, hard_state: HardState | None, entries: Sequence[Entry], snapshot: Snapshot | None
    ) -> None: ...

    def create_snapshot(self, index: Index, data: bytes) -> Snapshot: ...

    def compact(self, index: Index) -> None: ...


class BlockPuller(Protocol):
    """Fetches committed blocks from the other consenters (their Deliver service)."""

    def pull(self, start: int, stop: int) -> Iterator[common_pb2.Block]:
        """Blocks `[start, stop)` in order; may yield fewer (the caller retries) and
        raises on a transport failure."""
        ...


class BlockSigner(Protocol):
    def serialize(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class DriverStatus:
    node_id: NodeId
    leader: NodeId
    term: Term
    role: Role
    height: int
    applied_index: Index


@dataclass(frozen=True)
class _Inflight:
    number: int
    txids: tuple[str, ...]
    proposed_at: float


class CommitWatch:
    """Set once a block holding `txid` is appended on this node."""

    def __init__(self, txid: str) -> None:
        self.txid = txid
        self.block_number: int | None = None
        self._event = threading.Event()

    def committed(self, number: int) -> None:
        self.block_number = number
        self._event.set()

    def wait(self, timeout_s: float) -> bool:
        return self._event.wait(timeout_s)


_STOP = object()
_WAKE = object()


class DriverStopped(Exception):
    """The driver's thread ended (stopped, or a fatal error: see the log)."""


class Driver:
    """Raft driver of one channel on this node. `start()` runs its thread; every
    other public method may be called from any thread."""

    def __init__(
        self,
        options: DriverOptions,
        storage: RaftLogStore,
        store: LevelBlockStore,
        signer: BlockSigner,
        transport: ClusterTransport,
        puller: BlockPuller,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics: OrdererMetrics | None = None,
    ) -> None:
        self.options = options
        self.channel = options.channel
        self._storage = storage
        self._store = store
        self._signer = signer
        self._transport = transport
        self._puller = puller
        self._clock = clock
        self._metrics = metrics
        self._node = RaftNode(
            RaftConfig(
                id=options.node_id,
                peers=options.peers,
                election_tick=options.election_tick,
                heartbeat_tick=options.heartbeat_tick,
                max_inflight=max(options.max_inflight_blocks, 1) * 4,
                max_entries_per_msg=16,
                max_bytes_per_msg=max(options.batch.absolute_max_bytes, 1 << 20) * 2,
            ),
            storage,
            rng if rng is not None else random.Random(),
        )
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._failed: BaseException | None = None
        # Leader state, shared with Broadcast threads; guarded by _lock.
        self._lock = threading.Lock()
        self._is_leader = False
        self._leader_term = Term(0)
        self._ready_index: Index | None = None
        self._cutter = BlockCutter(options.batch)
        self._batches: deque[Batch] = deque()
        self._inflight: deque[_Inflight] = deque()
        self._inflight_txids: set[str] = set()
        self._next_number: int | None = None
        self._prev_hash = b""
        # Applied state (driver thread); waiters on the block height.
        self._applied = Index(0)
        snap = storage.snapshot()
        self._snapshot_block = decode_block_number(snap.data) if not snap.is_empty else 0
        self._height_cond = threading.Condition()
        self._watch_lock = threading.Lock()
        self._watches: dict[str, list[CommitWatch]] = {}
        self._status = DriverStatus(
            options.node_id, NO_NODE, self._node.term, self._node.role, store.height(), Index(0)
        )

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"raft-{self.channel}-{self.options.node_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (pending batches are dropped; the log and store stay)."""
        self._stopping.set()
        self._inbox.put(_STOP)
        if self._thread is not None:
            self._thread.join()
        with self._height_cond:
            self._height_cond.notify_all()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- inputs from other threads ----------------------------------------------------

    def step(self, messages: Sequence[Message]) -> None:
        """Raft messages from another consenter of this channel."""
        self._inbox.put(tuple(messages))

    def unreachable(self, consenter: NodeId) -> None:
        self._inbox.put(("unreachable", consenter))

    def order(self, envelope: bytes, txid: str) -> ForwardResult | None:
        """Offer a verified envelope to this node's pending batch. Returns its status,
        or None if this node is not the leader (the caller forwards)."""
        with self._lock:
            if not self._is_leader:
                return None
            if txid and txid in self._inflight_txids:
                return ForwardResult(common_pb2.BAD_REQUEST, f"duplicate txid {txid} is in flight")
            if len(self._batches) > 4 * self.options.max_inflight_blocks:
                return ForwardResult(
                    common_pb2.SERVICE_UNAVAILABLE, "the leader's backlog is full; retry"
                )
            result = self._cutter.ordered(envelope, txid, self._clock())
            if not isinstance(result, Accepted):
                return ForwardResult(result.status, result.reason)
            self._batches.extend(result.batches)
            wake = bool(result.batches) or self._cutter.pending_count() == 1
        if wake:
            self._inbox.put(_WAKE)
        if self._metrics is not None:
            self._metrics.envelopes_ordered.labels(self.channel).inc()
        return ForwardResult(common_pb2.SUCCESS)

    def submit(self, envelope: bytes, txid: str) -> ForwardResult:
        """The Broadcast path: order here if leader, else forward to the leader."""
        result = self.order(envelope, txid)
        if result is not None:
            return result
        leader = self._status.leader
        if leader == NO_NODE or leader == self.options.node_id:
            return ForwardResult(common_pb2.SERVICE_UNAVAILABLE, "no Raft leader; retry")
        try:
            return self._transport.forward(
                self.channel, leader, envelope, self.options.forward_timeout_s
            )
        except Exception as exc:  # the transport's failure is the client's retry
            log.warning("%s: forwarding to leader %d failed: %s", self.channel, leader, exc)
            return ForwardResult(
                common_pb2.SERVICE_UNAVAILABLE, f"cannot reach leader {leader}: {exc}"
            )

    def forward_async(self, envelope: bytes, leader: NodeId) -> Any | None:
        """Queue `envelope` on the transport's forwarding stream to `leader` and
        return its future (`.result() -> ForwardResult`); None when the transport
        only forwards synchronously (use `submit` then)."""
        forward = getattr(self._transport, "forward_async", None)
        if forward is None:
            return None
        return forward(self.channel, leader, envelope, self.options.forward_timeout_s)

    def accept_forwarded(self, envelope: bytes) -> ForwardResult:
        """An envelope a follower forwarded (already verified by it): order it here,
        never forward again (that could loop while leadership moves)."""
        txid = _txid_of(envelope)
        result = self.order(envelope, txid)
        if result is None:
            return ForwardResult(common_pb2.SERVICE_UNAVAILABLE, "not the leader any more")
        return result

    # -- views -------------------------------------------------------------------------

    def status(self) -> DriverStatus:
        return self._status

    def height(self) -> int:
        return self._store.height()

    def wait_for_height(self, height: int, timeout_s: float) -> bool:
        """Block until the store holds `height` blocks (or timeout / stop)."""
        deadline = time.monotonic() + timeout_s
        with self._height_cond:
            while self._store.height() < height:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return False
                self._height_cond.wait(remaining)
        return True

    def watch(self, txid: str) -> CommitWatch:
        """Be told when a block holding `txid` is appended here (register before
        submitting, so the block cannot slip by in between). `unwatch` when done."""
        watch = CommitWatch(txid)
        with self._watch_lock:
            self._watches.setdefault(txid, []).append(watch)
        return watch

    def unwatch(self, watch: CommitWatch) -> None:
        with self._watch_lock:
            watches = self._watches.get(watch.txid)
            if watches is not None and watch in watches:
                watches.remove(watch)
                if not watches:
                    del self._watches[watch.txid]

    def is_pending(self, txid: str) -> bool:
        with self._lock:
            return self._cutter.is_pending(txid) or txid in self._inflight_txids

    # -- the driver thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._catch_up_to_snapshot()
            if self.options.peers == (self.options.node_id,):
                self._node.campaign()  # a sole voter need not wait an election timeout
            tick = self.options.tick_interval_s
            next_tick = self._clock() + tick
            while not self._stopping.is_set():
                timeout = next_tick - self._clock()
                with self._lock:
                    deadline = self._cutter.deadline() if self._is_leader else None
                if deadline is not None:
                    timeout = min(timeout, deadline - self._clock())
                try:
                    item = self._inbox.get(timeout=max(timeout, 0.0))
                    self._handle(item)
                    for _ in range(256):
                        self._handle(self._inbox.get_nowait())
                except queue.Empty:
                    pass
                if self._stopping.is_set():
                    break
                now = self._clock()
                if now >= next_tick:
                    self._node.tick()
                    next_tick += tick
                    if next_tick < now:  # far behind (e.g. after a long pull): resync
                        next_tick = now + tick
                self._propose_blocks(now)
                self._process_ready()
        except BaseException as exc:
            self._failed = exc
            log.exception("%s: raft driver of node %d failed", self.channel, self.options.node_id)
        finally:
            with self._lock:
                self._is_leader = False
            with self._height_cond:
                self._height_cond.notify_all()

    def _handle(self, item: object) -> None:
        if item is _STOP:
            self._stopping.set()
        elif isinstance(item, tuple) and len(item) == 2 and item[0] == "unreachable":
            self._node.report_unreachable(item[1])
        elif isinstance(item, tuple):
            for message in item:
                if isinstance(message, Message):
                    self._node.step(message)

    def _propose_blocks(self, now: float) -> None:
        with self._lock:
            if not self._is_leader:
                return
            deadline = self._cutter.deadline()
            if deadline is not None and now >= deadline:
                batch = self._cutter.cut()
                if batch is not None:
                    self._batches.append(batch)
            if self._ready_index is None or self._applied < self._ready_index:
                return  # still applying what earlier terms committed
            if self._next_number is None:
                height = self._store.height()
                last = self._store.block(height - 1)
                assert last is not None
                self._next_number = height
                self._prev_hash = blk.header_hash(last.header)
            while self._batches and len(self._inflight) < self.options.max_inflight_blocks:
                batch = self._batches.popleft()
                block = blk.new_block(self._next_number, self._prev_hash, batch.envelopes)
                blk.sign_block(block, self._signer, 0, new_nonce())
                result = self._node.propose(block.SerializeToString(deterministic=True))
                if not isinstance(result, Proposed):
                    log.warning(
                        "%s: block %d dropped (%s); %d envelopes lost",
                        self.channel,
                        self._next_number,
                        result.reason,
                        len(batch.envelopes),
                    )
                    self._drop_leader_state()
                    return
                self._inflight.append(_Inflight(self._next_number, batch.txids, now))
                self._inflight_txids.update(batch.txids)
                self._next_number += 1
                self._prev_hash = blk.header_hash(block.header)
                if self._metrics is not None:
                    self._metrics.blocks_cut.labels(self.channel).inc()

    def _process_ready(self) -> None:
        node = self._node
        while node.has_ready():
            rd = node.ready()
            writes = bool(rd.entries) or rd.hard_state is not None
            if writes:
                crash_point("raft.before_persist")
            self._storage.save(rd.hard_state, rd.entries, rd.snapshot)
            if writes:
                crash_point("raft.after_persist")
            if rd.messages:
                self._transport.send(self.channel, rd.messages)
            if rd.committed_entries:
                crash_point("raft.after_send")
            if rd.snapshot is not None and not rd.snapshot.is_empty:
                self._apply_snapshot(rd.snapshot)
            for entry in rd.committed_entries:
                self._apply(entry)
            if rd.committed_entries:
                crash_point("raft.after_apply")
            node.advance(rd)
            if rd.committed_entries:
                crash_point("raft.after_advance")
            self._after_ready()
            self._maybe_snapshot()

    def _after_ready(self) -> None:
        node = self._node
        leader, term, role = node.leader_id, node.term, node.role
        with self._lock:
            if role is Role.LEADER and (not self._is_leader or self._leader_term != term):
                self._drop_leader_state()
                self._is_leader = True
                self._leader_term = term
                self._ready_index = node.log.last_index()
                log.info("%s: node %d leads term %d", self.channel, node.id, term)
            elif role is not Role.LEADER and self._is_leader:
                dropped = self._drop_leader_state()
                self._is_leader = False
                log.info(
                    "%s: node %d lost leadership in term %d (%d pending envelopes dropped)",
                    self.channel,
                    node.id,
                    term,
                    dropped,
                )
        self._status = DriverStatus(
            node.id, leader, term, role, self._store.height(), self._applied
        )
        if self._metrics is not None:
            self._metrics.raft_term.labels(self.channel).set(term)
            self._metrics.raft_leader.labels(self.channel).set(leader)
            self._metrics.is_leader.labels(self.channel).set(1 if role is Role.LEADER else 0)

    def _drop_leader_state(self) -> int:
        """Forget batches and in-flight blocks of a lost term (caller holds _lock)."""
        dropped = self._cutter.pending_count() + sum(len(b.envelopes) for b in self._batches)
        self._cutter.cut()
        self._batches.clear()
        self._inflight.clear()
        self._inflight_txids.clear()
        self._next_number = None
        self._ready_index = None
        return dropped

    def _apply(self, entry: Entry) -> None:
        if entry.type is EntryType.NORMAL and entry.data:
            block = common_pb2.Block.FromString(entry.data)
            number = block.header.number
            height = self._store.height()
            if number > height:
                self._pull(height, number)
            if number >= self._store.height():
                crash_point("orderer.before_append")
                self._store.append(block)
                crash_point("orderer.after_append")
                self._block_appended(number, block)
        self._applied = entry.index

    def _block_appended(self, number: int, block: common_pb2.Block) -> None:
        now = self._clock()
        if self._watches:
            with self._watch_lock:
                for txid in tx_ids(block):
                    for watch in self._watches.pop(txid, ()):
                        watch.committed(number)
        with self._lock:
            while self._inflight and self._inflight[0].number <= number:
                done = self._inflight.popleft()
                self._inflight_txids.difference_update(done.txids)
                if self._metrics is not None:
                    self._metrics.commit_latency.labels(self.channel).observe(
                        now - done.proposed_at
                    )
        if self._metrics is not None:
            self._metrics.block_height.labels(self.channel).set(number + 1)
        with self._height_cond:
            self._height_cond.notify_all()

    def _apply_snapshot(self, snap: Snapshot) -> None:
        last_block = decode_block_number(snap.data)
        if self._store.height() <= last_block:
            log.info(
                "%s: snapshot at index %d covers block %d; pulling blocks [%d, %d]",
                self.channel,
                snap.index,
                last_block,
                self._store.height(),
                last_block,
            )
            self._pull(self._store.height(), last_block + 1)
        self._applied = snap.index
        self._snapshot_block = last_block

    def _catch_up_to_snapshot(self) -> None:
        """After a crash between storing a received snapshot and pulling its blocks."""
        snap = self._storage.snapshot()
        if not snap.is_empty:
            self._apply_snapshot(snap)

    def _pull(self, start: int, stop: int) -> None:
        """Append blocks `[start, stop)` from other consenters, retrying until done."""
        backoff = 0.05
        while self._store.height() < stop:
            if self._stopping.is_set():
                raise DriverStopped(f"{self.channel}: stopped while pulling blocks")
            try:
                for block in self._puller.pull(self._store.height(), stop):
                    if block.header.number != self._store.height():
                        break
                    blk.verify_data_hash(block)
                    self._store.append(block)
                    self._block_appended(block.header.number, block)
                    if self._store.height() >= stop:
                        break
            except Exception as exc:  # any consenter may be down: retry another time
                log.warning(
                    "%s: block pull [%d, %d) failed: %s",
                    self.channel,
                    self._store.height(),
                    stop,
                    exc,
                )
            if self._store.height() < stop:
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    def _maybe_snapshot(self) -> None:
        interval = self.options.snapshot_interval_blocks
        last_block = self._store.height() - 1
        if interval <= 0 or last_block - self._snapshot_block < interval:
            return
        if self._applied <= self._storage.snapshot().index:
            return
        snap = self._storage.create_snapshot(self._applied, encode_block_number(last_block))
        self._snapshot_block = last_block
        keep_from = Index(snap.index - self.options.snapshot_catchup_entries)
        if keep_from >= self._storage.first_index():
            self._storage.compact(keep_from)
        log.info("%s: snapshot at index %d (block %d)", self.channel, snap.index, last_block)


def _txid_of(envelope: bytes) -> str:
    try:
        env = common_pb2.Envelope.FromString(envelope)
        payload = common_pb2.Payload.FromString(env.payload)
        return common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id
    except Exception:
        return ""
