"""`Sampler`: the bench's CPU/RSS sampling thread over the nodes' and load clients'
processes (`/proc`), plus the machine's busy CPU and load average, every
`SAMPLE_EVERY_S` while a round runs (`client.bench.runner`)."""

from __future__ import annotations

import os
import threading
import time

from client.bench.report import ProcTick
from client.bench.stats import machine_busy_s, read_proc_sample

__all__ = ["SAMPLE_EVERY_S", "Sampler"]

SAMPLE_EVERY_S = 0.5


class Sampler(threading.Thread):
    """Samples `pids` (name → pid) every `SAMPLE_EVERY_S` until stopped."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = dict(pids)
        self.ticks: list[ProcTick] = []
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def add(self, name: str, pid: int) -> None:
        with self._lock:
            self.pids[name] = pid

    def tick(self) -> None:
        with self._lock:
            pids = dict(self.pids)
        procs = {}
        for name, pid in pids.items():
            sample = read_proc_sample(pid)
            if sample is not None:
                procs[name] = sample
        parent = read_proc_sample(os.getpid())
        if parent is not None:
            procs["bench-parent"] = parent
        self.ticks.append(ProcTick(time.monotonic(), procs, machine_busy_s(), os.getloadavg()[0]))

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_EVERY_S):
            self.tick()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
        self.tick()
