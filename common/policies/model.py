"""The policy AST: frozen, hashable values that render back to canonical Fabric text.

Signature policies are trees of `SignedBy(principal)` leaves under `NOutOf(n, rules)`
gates; `AND(...)` is `NOutOf(len(rules), ...)` and `OR(...)` is `NOutOf(1, ...)`.
Implicit-meta policies (`ANY Readers`) name a sub-policy that every child config
group (one per org) defines; they are resolved against those children at evaluation
time.

Invariant: `parse(str(p)) == p` for every policy `p` (see `common.policies.parser`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from common.policies.errors import PolicySyntaxError, PolicyThresholdError

# Fabric's policydsl accepts MSP ids of letters, digits, '.' and '-'.
MSPID_PATTERN = r"[A-Za-z0-9.\-]+"
_MSPID_RE = re.compile(MSPID_PATTERN + r"\Z")


class Role(StrEnum):
    """The role half of a principal `'<MSPID>.<role>'`."""

    MEMBER = "member"
    ADMIN = "admin"
    CLIENT = "client"
    PEER = "peer"
    ORDERER = "orderer"


@dataclass(frozen=True)
class Principal:
    """`<mspid>.<role>`: who may sign.

    `member` is satisfied by any identity of the MSP; every other role only by an
    identity with exactly that role (with NodeOUs, an admin is not a client).
    """

    mspid: str
    role: Role

    def __post_init__(self) -> None:
        if not _MSPID_RE.match(self.mspid):
            raise PolicySyntaxError(
                "", None, "an MSP id of letters, digits, '.' or '-'", repr(self.mspid)
            )

    def matches(self, mspid: str, role: str) -> bool:
        """Whether an identity of `mspid` with `role` satisfies this principal."""
        if mspid != self.mspid:
            return False
        return self.role is Role.MEMBER or role == self.role.value

    def __str__(self) -> str:
        return f"{self.mspid}.{self.role.value}"


@dataclass(frozen=True)
class SignedBy:
    """A leaf: satisfied by one valid signature from an identity matching `principal`."""

    principal: Principal

    def __str__(self) -> str:
        return f"'{self.principal}'"


@dataclass(frozen=True)
class NOutOf:
    """Satisfied when `n` of `rules` are satisfied by pairwise-distinct identities.

    Invariant: `1 <= n <= len(rules)`.
    """

    n: int
    rules: tuple[SignaturePolicy, ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise PolicySyntaxError("", None, "at least one rule")
        if not 1 <= self.n <= len(self.rules):
            raise PolicyThresholdError(
                "", None, f"a threshold between 1 and {len(self.rules)}", str(self.n)
            )

    def __str__(self) -> str:
        inner = ", ".join(str(rule) for rule in self.rules)
        if self.n == 1:
            return f"OR({inner})"
        if self.n == len(self.rules):
            return f"AND({inner})"
        return f"OutOf({self.n}, {inner})"


SignaturePolicy = SignedBy | NOutOf


class MetaRule(StrEnum):
    """How many sub-policies an implicit-meta policy needs."""

    ANY = "ANY"
    ALL = "ALL"
    MAJORITY = "MAJORITY"

    def threshold(self, count: int) -> int:
        """Sub-policies required out of `count`; MAJORITY is strictly more than half."""
        if self is MetaRule.ANY:
            return 1
        if self is MetaRule.ALL:
            return count
        return count // 2 + 1


_SUB_POLICY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*\Z")


@dataclass(frozen=True)
class ImplicitMetaPolicy:
    """`<rule> <sub_policy>`, e.g. `MAJORITY Admins`."""

    rule: MetaRule
    sub_policy: str

    def __post_init__(self) -> None:
        if not _SUB_POLICY_RE.match(self.sub_policy):
            raise PolicySyntaxError(
                "", None, "a sub-policy name such as Readers", repr(self.sub_policy)
            )

    def __str__(self) -> str:
        return f"{self.rule.value} {self.sub_policy}"


Policy = SignaturePolicy | ImplicitMetaPolicy


def signed_by(principal: str) -> SignedBy:
    """`signed_by("A.peer")` — a leaf from principal text (without quotes)."""
    mspid, dot, role = principal.rpartition(".")
    try:
        parsed_role = Role(role)
    except ValueError:
        parsed_role = None
    if not dot or parsed_role is None:
        raise PolicySyntaxError(
            "",
            None,
            "'<MSPID>.<role>' with role member, admin, client, peer or orderer",
            repr(principal),
        )
    return SignedBy(Principal(mspid, parsed_role))


def _rule(rule: SignaturePolicy | str) -> SignaturePolicy:
    return signed_by(rule) if isinstance(rule, str) else rule


def and_(*rules: SignaturePolicy | str) -> NOutOf:
    """AND: every rule; strings are principals, e.g. `and_("A.peer", "B.peer")`."""
    return NOutOf(len(rules), tuple(_rule(r) for r in rules))


def or_(*rules: SignaturePolicy | str) -> NOutOf:
    """OR: any one rule."""
    return NOutOf(1, tuple(_rule(r) for r in rules))


def out_of(n: int, *rules: SignaturePolicy | str) -> NOutOf:
    """OutOf(n, ...): n of the rules, by distinct identities."""
    return NOutOf(n, tuple(_rule(r) for r in rules))


def principals(policy: SignaturePolicy) -> tuple[Principal, ...]:
    """The leaves of `policy`, left to right (duplicates kept)."""
    if isinstance(policy, SignedBy):
        return (policy.principal,)
    return tuple(p for rule in policy.rules for p in principals(rule))
