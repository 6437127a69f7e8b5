"""Named errors of the policy layer.

Parse errors carry the character `position` (0-based, into the policy text) and what
the parser `expected` there, so an operator editing a channel config can find the
mistake without reading parser code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.errors import ScfError

if TYPE_CHECKING:
    from common.policies.evaluator import EvaluationResult


class PolicyError(ScfError):
    """Base of every policy error."""

    code = "POLICY_ERROR"


class PolicySyntaxError(PolicyError):
    """The policy text is not a well-formed policy.

    `position` is a 0-based offset into `text`, or None when the error comes from
    building an AST node directly (no text involved).
    """

    code = "POLICY_SYNTAX"

    def __init__(
        self,
        text: str,
        position: int | None,
        expected: str,
        found: str = "",
        *,
        code: str | None = None,
    ) -> None:
        where = f"at position {position}" if position is not None else "in policy"
        detail = f"{where}: expected {expected}"
        if found:
            detail += f", found {found}"
        if text:
            detail += f" (in {text!r})"
        super().__init__(detail, code=code)
        self.text = text
        self.position = position
        self.expected = expected
        self.found = found


class PolicyThresholdError(PolicySyntaxError):
    """`OutOf(n, ...)` with n outside 1..len(rules) (n=0 would accept no signatures)."""

    code = "POLICY_THRESHOLD"


class UnknownOrgError(PolicyError):
    """A principal names an MSP id the channel does not know."""

    code = "POLICY_UNKNOWN_ORG"

    def __init__(self, text: str, position: int, mspid: str, known: frozenset[str]) -> None:
        known_list = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"at position {position}: unknown organisation {mspid!r} "
            f"(known: {known_list}) (in {text!r})"
        )
        self.text = text
        self.position = position
        self.mspid = mspid


class UnresolvedPolicyError(PolicyError):
    """An implicit-meta policy was evaluated without its sub-policies."""

    code = "POLICY_UNRESOLVED"


class PolicyNotSatisfiedError(PolicyError):
    """Raised by `evaluate_or_raise`; `result` holds the full evaluation outcome."""

    code = "POLICY_NOT_SATISFIED"

    def __init__(self, result: EvaluationResult) -> None:
        super().__init__(result.reason)
        self.result = result
