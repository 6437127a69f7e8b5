"""The leader's view of each follower: how much of the log it holds and how to send
it more (flow control), after etcd-raft's `tracker` package.

States:
- PROBE: we do not know where the follower's log matches ours; send one MsgApp at a
  time and wait for the answer (or a heartbeat response) before sending another.
- REPLICATE: the follower is in sync; stream appends optimistically, at most
  `max_inflight` unacknowledged MsgApps at once.
- SNAPSHOT: the follower needs entries we compacted; a MsgSnap is in flight and
  nothing else is sent until it is acknowledged, reported, or times out.
"""

from __future__ import annotations

import enum
from collections import deque

from orderer.raft.types import Index


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Inflights:
    """Last indices of the MsgApps sent but not yet acknowledged, oldest first."""

    __slots__ = ("_buf", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._buf: deque[Index] = deque()

    def __len__(self) -> int:
        return len(self._buf)

    def full(self) -> bool:
        return len(self._buf) >= self.capacity

    def add(self, last: Index) -> None:
        self._buf.append(last)

    def free_le(self, to: Index) -> None:
        """Acknowledge every message whose last index is ≤ `to`."""
        buf = self._buf
        while buf and buf[0] <= to:
            buf.popleft()

    def free_first_one(self) -> None:
        if self._buf:
            self._buf.popleft()

    def reset(self) -> None:
        self._buf.clear()


class Progress:
    """Replication progress of one peer. Invariant: `match < next`.

    `match` is the highest index known to be in the peer's log (durably); `next` is
    the next index to send.
    """

    __slots__ = (
        "inflights",
        "match",
        "next",
        "pending_snapshot",
        "probe_sent",
        "recent_active",
        "snapshot_ticks",
        "state",
    )

    def __init__(self, next_index: Index, max_inflight: int) -> None:
        self.match = Index(0)
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = Index(0)
        self.snapshot_ticks = 0
        self.recent_active = False
        self.inflights = Inflights(max_inflight)

    def __repr__(self) -> str:
        return (
            f"Progress({self.state.value}, match={self.match}, next={self.next}, "
            f"inflight={len(self.inflights)}, pending_snap={self.pending_snapshot})"
        )

    def _reset_state(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = Index(0)
        self.snapshot_ticks = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        # After a snapshot, the follower holds at least the snapshot's index.
        floor = self.pending_snapshot if self.state is ProgressState.SNAPSHOT else 0
        self._reset_state(ProgressState.PROBE)
        self.next = Index(max(self.match + 1, floor + 1))

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = Index(self.match + 1)

    def become_snapshot(self, snapshot_index: Index) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, n: Index) -> bool:
        """The peer acknowledged entries through `n`; False if that was stale."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.probe_sent = False
        if self.next < n + 1:
            self.next = Index(n + 1)
        return updated

    def optimistic_update(self, n: Index) -> None:
        self.next = Index(n + 1)

    def maybe_decr_to(self, rejected: Index, match_hint: Index) -> bool:
        """The peer rejected MsgApp.index `rejected`, hinting its log may match at
        `match_hint`. Move `next` back; False if the rejection is stale."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = Index(self.match + 1)
            return True
        # Probes are sent one at a time, so only a reply to the latest one counts.
        if self.next - 1 != rejected:
            return False
        self.next = Index(max(min(rejected, match_hint + 1), 1))
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return self.inflights.full()
        return True
