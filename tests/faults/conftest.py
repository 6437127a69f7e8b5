"""Shows each fault run's one-line verdict (seed, figures) in pytest's summary, also
when output is captured (`make test` runs with -q)."""

from __future__ import annotations

from typing import Any

VERDICTS: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if VERDICTS:
        terminalreporter.section("fault injection")
        for line in VERDICTS:
            terminalreporter.write_line(line)
