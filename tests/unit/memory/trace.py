"""Helpers for the in-process memory drivers (`drive_*.py`, scripts, not tests):
RSS from /proc, and tracemalloc snapshot diffs grouped by allocation site."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

_IGNORE = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def rss_kb() -> int:
    """VmRSS of this process in KiB (after a full collection)."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def rss_parts() -> str:
    """VmRSS by kind of mapping (from /proc/self/smaps), MiB: LevelDB table files
    (mapped only by a plyvel whose LevelDB reads with mmap, e.g. the PyPI wheel),
    other files (code), the brk heap, other anonymous memory."""
    parts = {"ldb": 0, "code": 0, "heap": 0, "anon": 0}
    kind = "anon"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if not head:
            continue
        if not head[0].endswith(":"):  # a mapping's header line
            path = head[5] if len(head) > 5 else ""
            if path.endswith((".ldb", ".sst")):
                kind = "ldb"
            elif path == "[heap]":
                kind = "heap"
            elif path.startswith("/"):
                kind = "code"
            else:
                kind = "anon"
        elif head[0] == "Rss:":
            parts[kind] += int(head[1])
    return " ".join(f"{k} {v / 1024:.1f}" for k, v in parts.items())


def snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot().filter_traces(_IGNORE)


def diff(
    before: tracemalloc.Snapshot,
    after: tracemalloc.Snapshot,
    per: int,
    *,
    key: str = "lineno",
    top: int = 15,
) -> str:
    """The `top` sites whose live bytes grew most, as bytes per 1000 of `per` units."""
    stats = after.compare_to(before, key)
    total = sum(s.size_diff for s in stats)
    lines = [f"  total traced growth {total / 1024:,.1f} KiB ({total * 1000 / per:,.0f} B/1k)"]
    for stat in stats[:top]:
        if stat.size_diff <= 0:
            break
        frames = list(reversed(stat.traceback))  # most recent (the allocation) first
        frame = frames[0]
        lines.append(
            f"  {stat.size_diff * 1000 / per:>9,.0f} B/1k  {stat.count_diff:>+8} blocks"
            f"  {frame.filename.split('/work/main/')[-1]}:{frame.lineno}"
        )
        if key == "traceback":
            for f in frames[1:6]:
                lines.append(f"        <- {f.filename.split('/work/main/')[-1]}:{f.lineno}")
    return "\n".join(lines)


def leveldb_kb(*dbs: object) -> int:
    """LevelDB's own estimate (block cache + memtables) summed over `dbs`, KiB."""
    total = 0
    for db in dbs:
        raw = db.get_property(b"leveldb.approximate-memory-usage")  # type: ignore[attr-defined]
        total += int(raw or 0)
    return total // 1024


def leveldb_files(*dbs: object) -> int:
    """Number of table files over `dbs` (each open one sits in the table cache)."""
    total = 0
    for db in dbs:
        stats = db.get_property(b"leveldb.stats").decode()  # type: ignore[attr-defined]
        for line in stats.splitlines():
            parts = line.split()
            if len(parts) == 6 and parts[0].isdigit():
                total += int(parts[1])
    return total


def patch_leveldb_from_env() -> None:
    """`SCF_MEM_LEVELDB="lru_cache_size=1048576,bloom_filter_bits=10"`: open every
    plyvel DB of this process with these options (for A/B runs of the drivers)."""
    import os

    import plyvel

    spec = os.environ.get("SCF_MEM_LEVELDB", "")
    if not spec:
        return
    options = {k: int(v) for k, v in (item.split("=") for item in spec.split(","))}
    original = plyvel.DB

    def opened(*args: object, **kwargs: object) -> object:
        return original(*args, **{**kwargs, **options})

    plyvel.DB = opened
    print(f"leveldb options: {options}", flush=True)
