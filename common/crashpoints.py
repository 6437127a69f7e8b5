"""Named crash points: a process kills itself (SIGKILL) at a chosen step, for tests.

Nodes call `crash_point("committer.after_validate")` between their write steps. With
the environment variable `SCF_CRASH_AT=<name>[:<count>]` set when the process
starts, the `count`-th call (default 1st) of the point `name` prints one line to
stderr (`crash point <name> hit <count>`) and sends SIGKILL to its own process: no
`finally`, no atexit, no buffered write survives, as with a power cut or `kill -9`
(the OS still holds what was handed to it). Unset, `crash_point` returns at once.

Only tests set the variable (`tests/unit/durability/`). The points, in the order
each node passes them:

* orderer driver, per Raft `Ready` (DESIGN §6: persist → send → apply → advance):
  `raft.before_persist`, `raft.after_persist` (a Ready with entries or hard state);
  `raft.after_send`, `raft.after_apply`, `raft.after_advance` (a Ready with
  committed entries); inside applying an entry: `orderer.before_append`,
  `orderer.after_append` (the block is stored, waiters not yet told).
* peer: `committer.before_validate`, `committer.after_validate`,
  `blockstore.after_file_write` (the block's bytes are in the block files, synced,
  no index names them yet; the orderer's block store passes it too),
  `ledger.batch_built` (the one WriteBatch is filled, not written),
  `ledger.after_write` (written, in-memory savepoint not yet moved),
  `committer.after_commit` (committed, listeners not yet told).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["CRASH_ENV", "POINTS", "crash_point"]

CRASH_ENV = "SCF_CRASH_AT"

POINTS = (
    "raft.before_persist",
    "raft.after_persist",
    "raft.after_send",
    "raft.after_apply",
    "raft.after_advance",
    "orderer.before_append",
    "orderer.after_append",
    "committer.before_validate",
    "committer.after_validate",
    "blockstore.after_file_write",
    "ledger.batch_built",
    "ledger.after_write",
    "committer.after_commit",
)


def _parse(raw: str | None) -> tuple[str, int] | None:
    if not raw:
        return None
    name, _, count = raw.partition(":")
    return name, int(count) if count else 1


_TARGET = _parse(os.environ.get(CRASH_ENV))
_lock = threading.Lock()
_hits = 0


def crash_point(name: str) -> None:
    """SIGKILL this process if `SCF_CRASH_AT` names this point and its count is due."""
    if _TARGET is None or _TARGET[0] != name:
        return
    global _hits
    with _lock:
        _hits += 1
        due = _hits == _TARGET[1]
    if due:
        sys.stderr.write(f"crash point {name} hit {_TARGET[1]}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
