"""The `scf` commands' rich console."""

from __future__ import annotations

from rich.console import Console

__all__ = ["rich_console"]


def rich_console(stderr: bool = False) -> Console:
    """A console on stdout (stderr with `stderr`); when piped, wide enough that tables
    are never squashed."""
    out = Console(highlight=False, stderr=stderr)
    return out if out.is_terminal else Console(highlight=False, stderr=stderr, width=200)
