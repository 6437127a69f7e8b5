"""Load-client processes, as every benchmark runs them.

The parent spawns one process per client (`spawn` start method) with
`target(spec, go, start_at, out)`. A client connects, puts `("ready", index)` on `out`,
waits for `go`, starts at the instant `start_at` (CLOCK_MONOTONIC, shared by every
process on the machine), and finally puts `("result", result)`; a client that fails
before it is ready puts its result (with `error` set) instead of `ready`.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import queue
import signal
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from client.bench.errors import BenchError

__all__ = ["ClientResult", "LoadClients", "client_process_setup", "wait_for_start"]


class ClientResult(Protocol):
    """What a load client reports at the end: its index, and an error ('' if none)."""

    @property
    def index(self) -> int: ...

    @property
    def error(self) -> str: ...


R = TypeVar("R", bound=ClientResult)


def client_process_setup() -> None:
    """First thing in a load client process: Ctrl-C is the parent's to handle (it
    stops the clients)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def wait_for_start(go: Any, start_at: Any) -> float:
    """In a load client: wait for `go`, then until the agreed start; returns it."""
    go.wait()
    t0 = float(start_at.value)
    delay = t0 - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    return t0


class LoadClients(Generic[R]):
    """The parent's side: spawn, wait until all are ready, start them together, collect
    their results. Use as a context manager: leaving it terminates every client."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._ctx = ctx
        self._go = ctx.Event()
        self._start_at = ctx.Value("d", 0.0)
        self._out = ctx.Queue()
        self.processes: list[Any] = []
        self.results: list[R] = []

    def __enter__(self) -> LoadClients[R]:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def spawn(self, target: Callable[[Any, Any, Any, Any], None], spec: Any) -> int | None:
        """Start one client running `target(spec, go, start_at, out)`; its PID."""
        proc = self._ctx.Process(
            target=target, args=(spec, self._go, self._start_at, self._out), daemon=True
        )
        proc.start()
        self.processes.append(proc)
        pid: int | None = proc.pid
        return pid

    def wait_ready(self, timeout: float = math.inf) -> None:
        """Until every client is ready (or failed early); BenchError if one failed."""
        ready = 0
        while ready < len(self.processes):
            kind, value = self._next(timeout)
            ready += 1
            if kind == "result":  # a result before "ready": the client failed to connect
                self.results.append(value)
        self.raise_errors()

    def start(self, delay_s: float) -> float:
        """Let the clients go, `delay_s` from now; returns that instant."""
        t0 = time.monotonic() + delay_s
        self._start_at.value = t0
        self._go.set()
        return t0

    def wait_results(self, timeout: float = math.inf) -> list[R]:
        """Every client's result, in arrival order; BenchError if one failed."""
        while len(self.results) < len(self.processes):
            kind, value = self._next(timeout)
            if kind == "result":
                self.results.append(value)
        self.raise_errors()
        return self.results

    def raise_errors(self) -> None:
        for r in self.results:
            if r.error:
                raise BenchError(f"load client {r.index}: {r.error}")

    def stop(self) -> None:
        for proc in self.processes:
            if proc.is_alive():
                proc.terminate()
        for proc in self.processes:
            proc.join(timeout=5)

    def _next(self, timeout: float) -> tuple[str, Any]:
        """The next message; BenchError if a client died without a word, or none
        answered within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item: tuple[str, Any] = self._out.get(timeout=1.0)
                return item
            except queue.Empty:
                dead = [
                    p for p in self.processes if not p.is_alive() and p.exitcode not in (0, None)
                ]
                if dead:
                    raise BenchError(f"load client exited with code {dead[0].exitcode}") from None
                if time.monotonic() > deadline:
                    raise BenchError("load clients did not answer in time") from None
