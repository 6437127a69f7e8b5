"""Looking at running nodes through their operations endpoints (`/healthz`, `/metrics`).

What is read (names as `orderer/metrics.py` and `peer/metrics.py` export them):

* health: `GET /healthz` → 200 `{"status": "OK"}`, or 503 with `failed_checks`;
* height per channel: `orderer_block_height{channel}` / `peer_ledger_height{channel}`;
* Raft: `orderer_is_leader{channel}` (1 on the leader), `orderer_raft_leader{channel}`
  (the leader's Raft id as this node knows it, 0 for none).

Readiness (`wait_ready`): every node answers /healthz OK; for every channel some orderer
is leader and every running orderer knows a leader; every peer has height >= 1 on each
of its channels (it has joined from the genesis block).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType

from client.launcher import (
    LauncherError,
    NetworkLayout,
    NodeRole,
    NodeSpec,
    log_tail,
    process_alive,
    read_pid,
    running_pid,
)

__all__ = ["NodeStatus", "leaders", "probe", "probe_all", "wait_ready"]

HTTP_TIMEOUT_S = 2.0
_SAMPLE = re.compile(r'^(\w+)\{channel="([^"]*)"\} (\S+)$', re.MULTILINE)


@dataclass(frozen=True)
class NodeStatus:
    """One node as seen now. `pid` None: not running (never started, stopped, or a
    stale PID file). `health`: "OK", "FAILING: <reasons>", "UNREACHABLE" or "STOPPED".
    `heights`: channel → block height. `is_leader`: channel → this node leads it.
    `known_leader`: channel → Raft id of the leader this orderer knows (0: none)."""

    node: NodeSpec
    pid: int | None
    health: str
    heights: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    is_leader: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    known_leader: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def healthy(self) -> bool:
        return self.health == "OK"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def parse_metrics(text: str) -> dict[str, dict[str, float]]:
    """Samples labelled only by channel: metric name → channel → value."""
    out: dict[str, dict[str, float]] = {}
    for name, channel, value in _SAMPLE.findall(text):
        try:
            out.setdefault(name, {})[channel] = float(value)
        except ValueError:
            continue
    return out


def _health(node: NodeSpec) -> str:
    try:
        status, body = _get(f"{node.operations_url}/healthz")
    except (OSError, ValueError):
        return "UNREACHABLE"
    if status == 200:
        return "OK"
    try:
        failed = json.loads(body).get("failed_checks", [])
        reasons = "; ".join(f"{f['component']}: {f['reason']}" for f in failed)
    except (ValueError, KeyError, TypeError, AttributeError):
        reasons = f"HTTP {status}"
    return f"FAILING: {reasons or f'HTTP {status}'}"


def probe(layout: NetworkLayout, node: NodeSpec) -> NodeStatus:
    """Health, heights and Raft view of `node` (STOPPED without asking if not running)."""
    pid = running_pid(layout, node)
    if pid is None:
        return NodeStatus(node, None, "STOPPED")
    health = _health(node)
    if health == "UNREACHABLE":
        return NodeStatus(node, pid, health)
    try:
        _, body = _get(f"{node.operations_url}/metrics")
        metrics = parse_metrics(body.decode(errors="replace"))
    except (OSError, ValueError):
        metrics = {}
    height_metric = (
        "orderer_block_height" if node.role is NodeRole.ORDERER else "peer_ledger_height"
    )
    heights = {c: int(v) for c, v in metrics.get(height_metric, {}).items()}
    is_leader = {c: v == 1 for c, v in metrics.get("orderer_is_leader", {}).items()}
    known = {c: int(v) for c, v in metrics.get("orderer_raft_leader", {}).items()}
    return NodeStatus(
        node,
        pid,
        health,
        MappingProxyType(heights),
        MappingProxyType(is_leader),
        MappingProxyType(known),
    )


def probe_all(layout: NetworkLayout, nodes: Sequence[NodeSpec]) -> list[NodeStatus]:
    """`probe` every node concurrently; results in the order of `nodes`."""
    if not nodes:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(nodes))) as pool:
        return list(pool.map(lambda n: probe(layout, n), nodes))


def leaders(statuses: Sequence[NodeStatus]) -> dict[str, str]:
    """channel → id of the orderer that reports leading it (channels without one absent)."""
    out: dict[str, str] = {}
    for status in statuses:
        for channel, leads in status.is_leader.items():
            if leads:
                out[channel] = status.node.id
    return out


def _not_ready(status: NodeStatus, channel_leaders: Mapping[str, str]) -> str | None:
    node = status.node
    if status.pid is None:
        return "not running"
    if not status.healthy:
        return status.health.lower()
    for channel in node.channels:
        if node.role is NodeRole.ORDERER:
            if channel not in channel_leaders:
                return f"no Raft leader on {channel} yet"
            if status.known_leader.get(channel, 0) == 0:
                return f"does not know the {channel} leader yet"
        elif status.heights.get(channel, 0) < 1:
            return f"has not joined {channel} yet"
    return None


def wait_ready(
    layout: NetworkLayout,
    nodes: Sequence[NodeSpec],
    *,
    timeout: float = 60.0,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> list[NodeStatus]:
    """Poll until every node in `nodes` is ready (see the module docstring).

    `on_progress(ready, total, what)` is called each round. Raises `LauncherError`
    when a node's process exits (with the tail of its log) or on timeout (naming what
    each unready node is still missing).
    """
    deadline = time.monotonic() + timeout
    while True:
        statuses = probe_all(layout, nodes)
        channel_leaders = leaders(statuses)
        waiting = {s.node.id: r for s in statuses if (r := _not_ready(s, channel_leaders))}
        for status in statuses:
            # A node just started is "exited" only once its process is gone: the
            # cmdline check behind `status.pid` is for PID files of earlier runs.
            pid = read_pid(layout, status.node)
            if status.pid is None and (pid is None or not process_alive(pid)):
                tail = log_tail(layout.log_path(status.node))
                raise LauncherError(
                    f"{status.node.id} exited during start-up; see {layout.log_path(status.node)}"
                    + (f"; last lines:\n{tail}" if tail else "")
                )
        if on_progress is not None:
            first = next(iter(waiting.items()), None)
            what = f"{first[0]}: {first[1]}" if first else "all ready"
            on_progress(len(nodes) - len(waiting), len(nodes), what)
        if not waiting:
            return statuses
        if time.monotonic() >= deadline:
            detail = "; ".join(f"{n}: {r}" for n, r in waiting.items())
            raise LauncherError(
                f"network not ready after {timeout:.0f} s ({detail}); see logs in {layout.logs}"
            )
        time.sleep(0.25)
