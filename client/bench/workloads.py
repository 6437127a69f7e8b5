"""What `scf bench` sends and when: the workloads' calls and the rate controllers.

Pure: no I/O, no clock (times are arguments), no randomness. The runner
(`client.bench.runner`) owns the processes, the gateway connections and the clock.

Workloads (chaincode `bench` on channel `trade`, or `receivable` for voucher-flow):

* `blind-write` — `Put{key, value}` of a fresh key per transaction (no read, never
  conflicts), `value_size`-byte values.
* `read-modify-write` — `ReadModifyWrite{key, value}` on keys disjoint between
  in-flight slots: under a fixed load, slot `s` of client `c` cycles through
  `RMW_ROTATION` keys of its own, so a key is read and rewritten only after its slot's
  other keys had a turn (every endorsing peer has committed the previous write by
  then); under a fixed rate, a `KeyPool` hands out a key again only when nothing on it
  is outstanding. An MVCC conflict or endorsement mismatch is counted as a failure,
  not hidden.
* `query` — `evaluate Get{key}` of keys the clients wrote during set-up.
* `voucher-flow` — see `client.bench.runner` (set-up issue → accept → split with
  `client.bench.voucher_pool.prepare_pool`, then the measured business calls).

Rate control (Caliper's controllers, in this tool's terms):

* `FixedRate(rate)` — open loop: send `i` is due at `start + i / rate` whether or
  not earlier ones have returned (a cap on outstanding transactions guards memory;
  a send that finds the cap reached waits and is counted as `late`).
* `FixedLoad(in_flight)` — closed loop: `in_flight` slots each send, wait for the
  commit status, send again.
* `--max` is `FixedLoad` with a load high enough to saturate the network
  (`MAX_IN_FLIGHT`), and the throughput it reaches is reported as the maximum.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "KV_CHAINCODE",
    "MAX_IN_FLIGHT",
    "RMW_ROTATION",
    "WORKLOADS",
    "Call",
    "FixedLoad",
    "FixedRate",
    "KeyPool",
    "RateControl",
    "client_orgs",
    "kv_call",
    "per_client",
    "query_key",
    "split_evenly",
    "value_of",
]

WORKLOADS = ("blind-write", "read-modify-write", "voucher-flow", "query")
KV_CHAINCODE = "bench"
RMW_ROTATION = 4
MAX_IN_FLIGHT = 256
"""Total outstanding transactions for `--max`. A closed loop cannot beat in-flight /
latency, and a transaction takes ≈ 200 ms even on an idle network (a BatchTimeout of
100 ms, Raft, the peers' commit): 64 in flight capped the Python clients at ≈ 290 tx/s
while the machine still had CPU to spare. (The Node-client comparison keeps the
Fabric run's 50.)"""

Kind = Literal["submit", "evaluate"]


@dataclass(frozen=True)
class Call:
    """One chaincode call: `function` with one JSON argument, submitted or evaluated."""

    function: str
    args: dict[str, Any]
    kind: Kind = "submit"


def value_of(size: int, seq: int) -> str:
    """A `size`-character ASCII value unique-ish to `seq` (so writes are not all equal)."""
    if size < 1:
        raise ValueError("value size must be >= 1")
    head = f"{seq:x}-"
    return (head + "v" * size)[:size]


def kv_call(workload: str, *, run: str, client: int, slot: int, seq: int, value_size: int) -> Call:
    """The `seq`-th call (0-based, per slot) of in-flight slot `slot` of client
    `client` for a key-value workload; keys are prefixed by the run tag `run`, so
    runs never collide. ValueError for voucher-flow or an unknown workload."""
    base = f"{run}.{client}.{slot}"
    if workload == "blind-write":
        return Call("Put", {"key": f"bw.{base}.{seq}", "value": value_of(value_size, seq)})
    if workload == "read-modify-write":
        key = f"rmw.{base}.{seq % RMW_ROTATION}"
        return Call("ReadModifyWrite", {"key": key, "value": value_of(value_size, seq)})
    if workload == "query":
        return Call("Get", {"key": query_key(run, client, seq)}, kind="evaluate")
    raise ValueError(f"not a key-value workload: {workload!r}")


QUERY_KEYS = 8
"""Keys each client writes during set-up for the query workload."""


def query_key(run: str, client: int, seq: int) -> str:
    return f"q.{run}.{client}.{seq % QUERY_KEYS}"


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` split into `parts` non-negative integers differing by at most one,
    larger shares first (e.g. 10 over 4 → [3, 3, 2, 2])."""
    if parts < 1:
        raise ValueError("parts must be >= 1")
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def client_orgs(peer_orgs: Sequence[str], clients: int) -> list[str]:
    """Which org each of `clients` clients acts for: round-robin over `peer_orgs`
    (each with its own gateway peer), as Caliper spreads workers over gateways."""
    if not peer_orgs:
        raise ValueError("no org to act for")
    return [peer_orgs[i % len(peer_orgs)] for i in range(clients)]


class KeyPool:
    """Keys for read-modify-write under an open loop, where sends do not wait for each
    other: a key is handed out again only after its last transaction finished and at
    least `min_idle_s` later (so every endorsing peer has committed it); otherwise a new
    key is made. Keys are `{prefix}.{n}`. Not thread-safe; times are arguments."""

    def __init__(self, prefix: str, min_idle_s: float = 1.0) -> None:
        self._prefix = prefix
        self._min_idle_s = min_idle_s
        self._free: collections.deque[tuple[str, float]] = collections.deque()
        self._made = 0

    def take(self, now: float) -> str:
        if self._free and now - self._free[0][1] >= self._min_idle_s:
            return self._free.popleft()[0]
        key = f"{self._prefix}.{self._made}"
        self._made += 1
        return key

    def give(self, key: str, now: float) -> None:
        """`key`'s transaction finished at `now` (in order of finishing)."""
        self._free.append((key, now))

    @property
    def size(self) -> int:
        return self._made


# --------------------------------------------------------------------- rate control


@dataclass(frozen=True)
class FixedRate:
    """Open loop at `rate` sends/s (this client's share); `cap` bounds outstanding."""

    rate: float
    cap: int = 2_000

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be > 0")
        if self.cap < 1:
            raise ValueError("cap must be >= 1")

    def due(self, i: int, start: float) -> float:
        """When send `i` (0-based) is due."""
        return start + i / self.rate

    def sends_by(self, now: float, start: float) -> int:
        """How many sends are due by `now` (send `i` is due when due(i) <= now)."""
        if now < start:
            return 0
        # +1: send 0 is due at `start`. Guard against float error at exact boundaries.
        n = int((now - start) * self.rate + 1e-9) + 1
        return n

    def describe(self) -> str:
        return f"fixed rate {self.rate:g}/s"


@dataclass(frozen=True)
class FixedLoad:
    """Closed loop: `in_flight` slots, each waiting for its commit before sending."""

    in_flight: int

    def __post_init__(self) -> None:
        if self.in_flight < 1:
            raise ValueError("in_flight must be >= 1")

    def describe(self) -> str:
        return f"fixed load {self.in_flight} in flight"


RateControl = FixedRate | FixedLoad


def per_client(control: RateControl, clients: int) -> list[RateControl]:
    """A total rate or load split over `clients` clients (rates evenly; loads as
    integers, at least one slot each). ValueError if a load is smaller than clients."""
    if isinstance(control, FixedRate):
        return [FixedRate(control.rate / clients, control.cap) for _ in range(clients)]
    if control.in_flight < clients:
        raise ValueError(f"{control.in_flight} in flight cannot keep {clients} clients busy")
    return [FixedLoad(n) for n in split_evenly(control.in_flight, clients)]
