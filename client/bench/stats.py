"""Pure accounting for benchmarks: latency percentiles, throughput windows, process
CPU/RSS figures read from `/proc`. No I/O except the two `/proc` readers at the end."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LatencySummary",
    "ProcSample",
    "machine_busy_s",
    "match_latencies",
    "parse_machine_busy",
    "parse_proc_stat",
    "parse_proc_status_rss",
    "percentile",
    "read_proc_sample",
]


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 < q <= 100) of ascending `ordered`.

    The smallest value such that at least q% of the samples are <= it, so p100 is
    the maximum and a percentile is always one of the samples. ValueError when empty.
    """
    if not ordered:
        raise ValueError("percentile of no samples")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class LatencySummary:
    """min/p50/p90/p99/max of a set of latencies, in seconds; `count` samples."""

    count: int
    min: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencySummary | None:
        """The summary of `samples` (any order), None when there are none."""
        if not samples:
            return None
        ordered = sorted(samples)
        return cls(
            count=len(ordered),
            min=ordered[0],
            p50=percentile(ordered, 50),
            p90=percentile(ordered, 90),
            p99=percentile(ordered, 99),
            max=ordered[-1],
        )

    def as_ms(self) -> dict[str, float]:
        return {
            "min": round(self.min * 1000, 1),
            "p50": round(self.p50 * 1000, 1),
            "p90": round(self.p90 * 1000, 1),
            "p99": round(self.p99 * 1000, 1),
            "max": round(self.max * 1000, 1),
        }


def match_latencies(
    sent: Mapping[bytes, float], delivered: Mapping[bytes, float]
) -> tuple[list[float], int]:
    """Latency of every key in both maps (delivered − sent) and how many delivered keys
    were never sent (foreign envelopes; they are not counted)."""
    latencies = [t - sent[k] for k, t in delivered.items() if k in sent]
    return latencies, len(delivered) - len(latencies)


@dataclass(frozen=True)
class ProcSample:
    """CPU time (user+system, seconds) and resident set (bytes) of a process, and the
    anonymous part of that set (heap, stacks; the rest is file-backed: mapped
    libraries, and LevelDB's table files where plyvel is the PyPI wheel, which maps
    them)."""

    cpu_s: float
    rss_bytes: int
    rss_anon_bytes: int = 0


def parse_proc_stat(text: str, ticks_per_s: int) -> float:
    """user+system CPU seconds from the text of `/proc/<pid>/stat` (fields 14 and 15;
    the command name in parentheses may hold spaces)."""
    fields = text.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14 → index 11, stime → 12.
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def parse_proc_status_rss(text: str, field: str = "VmRSS") -> int:
    """`field` (VmRSS, RssAnon, …) in bytes from the text of `/proc/<pid>/status` (0
    when absent)."""
    for line in text.splitlines():
        if line.startswith(field + ":"):
            parts = line.split()
            return int(parts[1]) * 1024
    return 0


def read_proc_sample(pid: int) -> ProcSample | None:
    """The process's CPU seconds and RSS now; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return ProcSample(
        parse_proc_stat(stat, os.sysconf("SC_CLK_TCK")),
        parse_proc_status_rss(status),
        parse_proc_status_rss(status, "RssAnon"),
    )


def parse_machine_busy(text: str, ticks_per_s: int) -> float:
    """Busy CPU seconds of the whole machine, all cores, from the text of `/proc/stat`
    (the `cpu` line: everything but idle and iowait)."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            # guest time is already counted in user/nice
            return (sum(values[:8]) - idle) / ticks_per_s
    raise ValueError("no cpu line in /proc/stat")


def machine_busy_s() -> float | None:
    """Busy CPU seconds of the machine so far (None without /proc)."""
    try:
        return parse_machine_busy(Path("/proc/stat").read_text(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        return None
