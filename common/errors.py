"""The root of scfchain's error hierarchy.

Every error a person can act on carries a stable, machine-readable `code`
(UPPER_SNAKE_CASE) beside its message, so the SDK, the CLI and gRPC statuses can
surface the same name. Each stage defines its own subclasses next to its code.
"""

from __future__ import annotations


class ScfError(Exception):
    """Base class of every named scfchain error.

    Subclasses set `code`; an instance may override it when one class covers
    several named failures.
    """

    code: str = "SCF_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
