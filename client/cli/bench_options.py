"""What the `scf bench` commands share (`client.cli.bench`, `client.bench.voucher`):
their common options, progress lines on stderr, and SIGTERM handling."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

__all__ = [
    "DEFAULT_BENCH_PROFILE",
    "clients_option",
    "echo_progress",
    "json_flag",
    "profile_option",
    "sigterm_interrupts",
]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_BENCH_PROFILE = Path(".scf/net/connection.yaml")


def profile_option(help: str) -> Callable[[F], F]:
    """`--profile`: the connection profile of a running network."""
    return click.option(
        "--profile",
        type=click.Path(dir_okay=False, path_type=Path),
        default=DEFAULT_BENCH_PROFILE,
        show_default=True,
        help=help,
    )


def clients_option(help: str) -> Callable[[F], F]:
    """`--clients`: how many load-client processes (default 4)."""
    return click.option(
        "--clients", type=click.IntRange(min=1), default=4, show_default=True, help=help
    )


def json_flag() -> Callable[[F], F]:
    """`--json` (as `as_json`): print the figures as JSON."""
    return click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")


def echo_progress(message: str) -> None:
    """A benchmark's progress line, on stderr."""
    click.echo(f"· {message}", err=True)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within: SIGTERM unwinds like Ctrl-C, so the nodes and load clients are stopped."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
