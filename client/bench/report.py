"""Turning `scf bench` samples into figures: pure aggregation and the JSON shape.

Inputs are plain records the runner collected: one `Sample` per transaction (times on
one monotonic clock, seconds) and one `ProcTick` per sampling instant (each node's and
each client's CPU seconds and RSS, the machine's busy CPU seconds, the load average).

Window rule: the measured window is `[w0, w1)`. A transaction belongs to the window
when it was *sent* in it (submitted, failed, latency); throughput counts the
successful transactions *completed* in it, divided by `w1 - w0`, so warm-up and
drain are excluded at both ends. CPU figures are the difference between the ticks
nearest the window's ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from client.bench.stats import LatencySummary, ProcSample, percentile

__all__ = [
    "SUCCESS_CODES",
    "BenchSummary",
    "NodeFigures",
    "ProcTick",
    "Sample",
    "node_figures",
    "summarize",
    "timeline",
]

SUCCESS_CODES = frozenset({"VALID", "OK"})
"""`VALID`: a submitted transaction committed valid; `OK`: an evaluate answered."""

SCHEMA = "scf-bench/1"


@dataclass(frozen=True)
class Sample:
    """One transaction: sent at `sent` (before the proposal is signed), finished
    `latency` s later (commit status returned, or the error), with outcome `code`
    (`VALID`/`OK`, a validation code name, or an endorsement/contract error code).
    `endorse_s`/`submit_s` are the endorse and submit phases (0 when unknown);
    `function` is the chaincode function."""

    sent: float
    latency: float
    code: str
    function: str = ""
    endorse_s: float = 0.0
    submit_s: float = 0.0

    @property
    def done(self) -> float:
        return self.sent + self.latency

    @property
    def ok(self) -> bool:
        return self.code in SUCCESS_CODES


@dataclass(frozen=True)
class ProcTick:
    """One sampling instant `t`: `procs` by name (nodes and load clients), the
    machine's busy CPU seconds (all cores) and the 1-minute load average."""

    t: float
    procs: Mapping[str, ProcSample]
    machine_busy_s: float | None = None
    loadavg_1m: float | None = None


@dataclass(frozen=True)
class NodeFigures:
    """A process over the window: CPU as % of one core, CPU ms per successful tx,
    RSS at the start/end and its peak (MB), and how far every RSS sample of the
    window strays from their mean (`rss_spread_pct` = [lowest, highest] in %), the
    same for the anonymous part of the RSS (see `ProcSample`)."""

    name: str
    role: str
    cpu_percent: float
    cpu_ms_per_tx: float | None
    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    rss_series_mb: tuple[float, ...] = ()
    """RSS at up to `RSS_POINTS` evenly spaced ticks over the window (for flatness)."""
    rss_spread_pct: tuple[float, float] = (0.0, 0.0)
    rss_anon_start_mb: float = 0.0
    rss_anon_end_mb: float = 0.0
    rss_anon_peak_mb: float = 0.0
    rss_anon_spread_pct: tuple[float, float] = (0.0, 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "cpu_percent": round(self.cpu_percent, 1),
            "cpu_ms_per_tx": None if self.cpu_ms_per_tx is None else round(self.cpu_ms_per_tx, 2),
            "rss_start_mb": round(self.rss_start_mb, 1),
            "rss_end_mb": round(self.rss_end_mb, 1),
            "rss_peak_mb": round(self.rss_peak_mb, 1),
            "rss_series_mb": [round(v, 1) for v in self.rss_series_mb],
            "rss_spread_pct": [round(v, 1) for v in self.rss_spread_pct],
            "rss_anon_start_mb": round(self.rss_anon_start_mb, 1),
            "rss_anon_end_mb": round(self.rss_anon_end_mb, 1),
            "rss_anon_peak_mb": round(self.rss_anon_peak_mb, 1),
            "rss_anon_spread_pct": [round(v, 1) for v in self.rss_anon_spread_pct],
        }


RSS_POINTS = 21


def _spread(values: Sequence[int], points: int) -> tuple[float, ...]:
    """`points` values picked evenly from `values` (first and last included), in MB."""
    if len(values) <= points:
        return tuple(v / 2**20 for v in values)
    step = (len(values) - 1) / (points - 1)
    return tuple(values[round(i * step)] / 2**20 for i in range(points))


def _memory(values: Sequence[int]) -> tuple[float, float, float, tuple[float, float]]:
    """Of byte samples in time order: first, last and peak in MB, and how far the
    lowest and the highest are from their mean, in %."""
    mean = sum(values) / len(values)
    spread = (100 * (min(values) / mean - 1), 100 * (max(values) / mean - 1)) if mean else (0, 0)
    return values[0] / 2**20, values[-1] / 2**20, max(values) / 2**20, spread


def _nearest(ticks: Sequence[ProcTick], t: float) -> ProcTick:
    return min(ticks, key=lambda tick: abs(tick.t - t))


def node_figures(
    ticks: Sequence[ProcTick],
    w0: float,
    w1: float,
    successes: int,
    roles: Mapping[str, str],
) -> tuple[list[NodeFigures], dict[str, Any]]:
    """Per-process figures over `[w0, w1)` and the machine's: `{"load_avg_1m":
    [min, max], "machine_cpu_percent", "other_cpu_percent"}` where other = the
    machine's busy CPU minus every process listed, as % of one core (None when not
    measurable). CPU ms per tx is the process's CPU rate × window / `successes`."""
    machine: dict[str, Any] = {
        "load_avg_1m": None,
        "machine_cpu_percent": None,
        "other_cpu_percent": None,
    }
    if len(ticks) < 2:
        return [], machine
    a, b = _nearest(ticks, w0), _nearest(ticks, w1)
    if b.t <= a.t:
        a, b = ticks[0], ticks[-1]
    span = b.t - a.t
    inside = [tick for tick in ticks if a.t <= tick.t <= b.t]
    figures: list[NodeFigures] = []
    listed_rate = 0.0  # CPU seconds per second of every listed process
    for name in sorted({name for tick in ticks for name in tick.procs}):
        # Each process over the ticks that saw it nearest the window's ends (a load
        # client may exit just before the last tick).
        seen = [tick for tick in ticks if name in tick.procs]
        first, last = _nearest(seen, w0), _nearest(seen, w1)
        if last.t <= first.t:
            continue
        rate = (last.procs[name].cpu_s - first.procs[name].cpu_s) / (last.t - first.t)
        listed_rate += rate
        window = [tick.procs[name] for tick in seen if first.t <= tick.t <= last.t]
        rss = [sample.rss_bytes for sample in window]
        rss_start, rss_end, rss_peak, rss_spread = _memory(rss)
        anon_start, anon_end, anon_peak, anon_spread = _memory(
            [sample.rss_anon_bytes for sample in window]
        )
        figures.append(
            NodeFigures(
                name=name,
                role=roles.get(name, "?"),
                cpu_percent=100 * rate,
                cpu_ms_per_tx=1000 * rate * (w1 - w0) / successes if successes else None,
                rss_start_mb=rss_start,
                rss_end_mb=rss_end,
                rss_peak_mb=rss_peak,
                rss_series_mb=_spread(rss, RSS_POINTS),
                rss_spread_pct=rss_spread,
                rss_anon_start_mb=anon_start,
                rss_anon_end_mb=anon_end,
                rss_anon_peak_mb=anon_peak,
                rss_anon_spread_pct=anon_spread,
            )
        )
    loads = [tick.loadavg_1m for tick in inside if tick.loadavg_1m is not None]
    if loads:
        machine["load_avg_1m"] = [round(min(loads), 2), round(max(loads), 2)]
    if a.machine_busy_s is not None and b.machine_busy_s is not None:
        busy = b.machine_busy_s - a.machine_busy_s
        machine["machine_cpu_percent"] = round(100 * busy / span, 1)
        machine["other_cpu_percent"] = round(100 * max(busy / span - listed_rate, 0.0), 1)
    return figures, machine


def timeline(samples: Sequence[Sample], start: float, end: float) -> list[dict[str, Any]]:
    """Per-second buckets `[start + k, start + k + 1)` by completion time: successful
    completions (tx/s), failures, and p50/p99 latency (ms) of the successes."""
    buckets = max(int(end - start + 0.999999), 1)
    ok: list[list[float]] = [[] for _ in range(buckets)]
    bad = [0] * buckets
    for s in samples:
        k = int(s.done - start)
        if 0 <= k < buckets:
            if s.ok:
                ok[k].append(s.latency)
            else:
                bad[k] += 1
    out = []
    for k in range(buckets):
        lat = sorted(ok[k])
        out.append(
            {
                "t": k,
                "tx_s": len(lat),
                "failed": bad[k],
                "p50_ms": round(percentile(lat, 50) * 1000, 1) if lat else None,
                "p99_ms": round(percentile(lat, 99) * 1000, 1) if lat else None,
            }
        )
    return out


@dataclass(frozen=True)
class BenchSummary:
    """The figures of one run (see the module docstring for the window rule)."""

    window: tuple[float, float]
    submitted: int
    succeeded: int
    failed: dict[str, int]
    throughput: float
    latency: LatencySummary | None
    phases_ms: dict[str, float | None]
    by_function: dict[str, dict[str, int]]
    warmup_sent: int
    outside_window: int
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        w0, w1 = self.window
        return {
            "window_s": round(w1 - w0, 3),
            "submitted": self.submitted,
            "succeeded": self.succeeded,
            "failed": dict(sorted(self.failed.items())),
            "failed_total": sum(self.failed.values()),
            "throughput_tx_s": round(self.throughput, 1),
            "latency_ms": None if self.latency is None else self.latency.as_ms(),
            "phases_p50_ms": self.phases_ms,
            "by_function": self.by_function,
            "warmup_sent": self.warmup_sent,
            "sent_after_window": self.outside_window,
        }


def summarize(
    samples: Sequence[Sample], w0: float, w1: float, *, start: float | None = None
) -> BenchSummary:
    """Aggregate `samples` over the window `[w0, w1)` (module docstring); `start`
    (default `w0`) is time 0 of the timeline, which runs to the last completion."""
    if w1 <= w0:
        raise ValueError("the window must not be empty")
    inside = [s for s in samples if w0 <= s.sent < w1]
    completed_ok = sum(1 for s in samples if s.ok and w0 <= s.done < w1)
    ok = [s for s in inside if s.ok]
    failed = Counter(s.code for s in inside if not s.ok)
    by_function: dict[str, Counter[str]] = {}
    for s in inside:
        by_function.setdefault(s.function or "?", Counter())[s.code] += 1

    def p50(values: list[float]) -> float | None:
        values = sorted(v for v in values if v > 0)
        return round(percentile(values, 50) * 1000, 1) if values else None

    phases = {
        "endorse": p50([s.endorse_s for s in ok]),
        "submit": p50([s.submit_s for s in ok]),
        "commit_wait": p50([s.latency - s.endorse_s - s.submit_s for s in ok if s.endorse_s > 0]),
    }
    origin = w0 if start is None else start
    last = max((s.done for s in samples), default=w1)
    return BenchSummary(
        window=(w0, w1),
        submitted=len(inside),
        succeeded=len(ok),
        failed=dict(failed),
        throughput=completed_ok / (w1 - w0),
        latency=LatencySummary.of([s.latency for s in ok]),
        phases_ms=phases,
        by_function={f: dict(sorted(c.items())) for f, c in sorted(by_function.items())},
        warmup_sent=sum(1 for s in samples if s.sent < w0),
        outside_window=sum(1 for s in samples if s.sent >= w1),
        timeline=timeline(samples, origin, max(last, w1)),
    )
