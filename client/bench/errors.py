"""The benchmarks' error type."""

from __future__ import annotations

from common.errors import ScfError

__all__ = ["BenchError"]


class BenchError(ScfError):
    """A benchmark could not run: bad options, a node or load client that failed."""

    code = "BENCH_FAILED"
