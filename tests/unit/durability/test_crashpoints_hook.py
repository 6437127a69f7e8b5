"""`common.crashpoints`: a no-op unless `SCF_CRASH_AT` names the point; then the
count-th call SIGKILLs the process after one line on stderr."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from common.crashpoints import CRASH_ENV, POINTS, crash_point

_SCRIPT = """
from common.crashpoints import crash_point
for i in range(5):
    crash_point("a.point")
    print(i, flush=True)
"""


def _run(env_value: str | None) -> subprocess.CompletedProcess[str]:
    repo = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env["PYTHONPATH"] = str(repo)
    if env_value is not None:
        env[CRASH_ENV] = env_value
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )


def test_unset_is_a_no_op() -> None:
    assert os.environ.get(CRASH_ENV) is None
    crash_point(POINTS[0])  # this test process survives
    done = _run(None)
    assert done.returncode == 0
    assert done.stdout.split() == ["0", "1", "2", "3", "4"]


def test_the_counted_call_kills_the_process() -> None:
    done = _run("a.point:3")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["0", "1"]
    assert "crash point a.point hit 3" in done.stderr


def test_another_point_is_not_hit() -> None:
    done = _run("other.point")
    assert done.returncode == 0
