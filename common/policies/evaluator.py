"""Evaluate policies over signed data — the one evaluator for orderer, endorsers,
validators and the regulator service.

Semantics follow Fabric's cauthdsl, with its greedy search replaced by an exact one:

* Signed data whose identity does not deserialize, or whose signature does not
  verify, is dropped; why is kept in `EvaluationResult.rejected`.
* Signers are deduplicated by identity (MSP id + serialized identity): an identity
  that signs twice counts once. It counts as valid if any of its signatures verifies.
* `X.member` is satisfied by any valid identity of MSP X; `X.admin`, `X.client`,
  `X.peer`, `X.orderer` only by that exact role (an admin is not a client).
* An identity satisfies at most one leaf of the whole signature-policy tree (Fabric's
  "used" marking). Fabric marks greedily and can miss a valid assignment (e.g.
  `AND(OR('A.member','B.member'), 'A.member')` signed by A then B); this evaluator
  answers exactly: satisfied iff some assignment of distinct identities to leaves
  satisfies the tree.
* Signatures are verified lazily and at most once per evaluation: only identities
  matching some principal are candidates, and only as many candidates are verified
  as the chosen assignment needs (re-solving when one turns out bad).
* Implicit-meta policies evaluate each child's sub-policy over the same signed data
  (no used marking across children). Deviation from Fabric: with no children at all
  the policy is NOT satisfied (Fabric treats 0 children as satisfied), because a
  channel with no orgs in a group is a misconfiguration, and failing closed is safer.

How the exact answer stays cheap: whether an identity satisfies a principal depends
only on its (MSP id, role), so the search tracks how many leaves of each distinct
principal it uses and checks feasibility per MSP, never which identity fills which
leaf; it is depth-first with pruning and remembers failed states (see `_Search`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from common.policies.errors import (
    PolicyError,
    PolicyNotSatisfiedError,
    UnresolvedPolicyError,
)
from common.policies.model import (
    ImplicitMetaPolicy,
    NOutOf,
    Policy,
    Principal,
    Role,
    SignaturePolicy,
    SignedBy,
    principals,
)


class Identity(Protocol):
    """What the evaluator needs of a deserialized identity (the MSP implements it)."""

    @property
    def mspid(self) -> str: ...

    @property
    def role(self) -> str:
        """One of client, peer, orderer, admin."""
        ...

    @property
    def serialized(self) -> bytes: ...

    def verify(self, data: bytes, signature: bytes) -> None:
        """Return if `signature` is this identity's signature over `data`; else raise."""
        ...


class IdentityDeserializer(Protocol):
    """Turns serialized identity bytes into an `Identity`; raises if they are not one
    (malformed, unknown MSP, expired, revoked...)."""

    def deserialize_identity(self, serialized: bytes) -> Identity: ...


@dataclass(frozen=True)
class SignedData:
    """One signature to evaluate: `signature` by the serialized `identity` over `data`."""

    identity: bytes
    data: bytes
    signature: bytes


@dataclass(frozen=True, eq=False)
class BoundImplicitMeta:
    """An implicit-meta policy together with its children's sub-policies.

    `sub_policies` maps each child (an org's MSP id, or a config group name) to that
    child's policy named `policy.sub_policy`. Children may themselves be implicit-meta
    (e.g. /Channel/Readers = ANY Readers over Application and Orderer).
    """

    policy: ImplicitMetaPolicy
    sub_policies: Mapping[str, Evaluable]

    def __str__(self) -> str:
        return str(self.policy)


Evaluable = SignaturePolicy | BoundImplicitMeta


@dataclass(frozen=True)
class Rejection:
    """Signed data that was dropped: `index` into the evaluated sequence, the MSP id
    when the identity deserialized, and why."""

    index: int
    mspid: str | None
    reason: str

    def __str__(self) -> str:
        who = f" ({self.mspid})" if self.mspid else ""
        return f"signature #{self.index}{who}: {self.reason}"


@dataclass(frozen=True)
class EvaluationResult:
    """The outcome. `reason` is empty when satisfied, otherwise names the policy, the
    principals nobody valid signed for, the signers seen and the rejected signatures."""

    satisfied: bool
    reason: str = ""
    rejected: tuple[Rejection, ...] = ()


# --------------------------------------------------------------------------- signers


class _Signer:
    """One distinct identity and every distinct (data, signature) it supplied."""

    __slots__ = ("identity", "items", "valid")

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.items: list[tuple[int, bytes, bytes]] = []
        self.valid: bool | None = None  # None: not verified yet

    def add(self, index: int, data: bytes, signature: bytes) -> None:
        if all(d != data or s != signature for _, d, s in self.items):
            self.items.append((index, data, signature))


class _Pool:
    """The deserialized, deduplicated signers of one evaluation, with the verification
    results cached so each signature is verified at most once."""

    def __init__(self, signed_data: Sequence[SignedData], deserializer: IdentityDeserializer):
        self.signers: list[_Signer] = []
        self.rejected: list[Rejection] = []
        by_raw: dict[bytes, _Signer | str] = {}
        by_key: dict[tuple[str, bytes], _Signer] = {}
        for index, item in enumerate(signed_data):
            known = by_raw.get(item.identity)
            if known is None:
                try:
                    identity = deserializer.deserialize_identity(item.identity)
                except Exception as exc:  # any failure means "not an identity": drop it
                    known = f"identity could not be deserialized: {_describe(exc)}"
                else:
                    key = (identity.mspid, identity.serialized)
                    known = by_key.get(key)
                    if known is None:
                        known = by_key[key] = _Signer(identity)
                        self.signers.append(known)
                by_raw[item.identity] = known
            if isinstance(known, str):
                self.rejected.append(Rejection(index, None, known))
            else:
                known.add(index, item.data, item.signature)

    def verify(self, signer: _Signer) -> bool:
        if signer.valid is None:
            signer.valid = False
            for index, data, signature in signer.items:
                try:
                    signer.identity.verify(data, signature)
                except Exception as exc:  # a bad signature is data, not a fault
                    self.rejected.append(
                        Rejection(
                            index,
                            signer.identity.mspid,
                            f"signature verification failed: {_describe(exc)}",
                        )
                    )
                    continue
                signer.valid = True
                break
        return signer.valid


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ------------------------------------------------------------------- exact assignment
#
# Whether an identity satisfies a principal depends only on its (MSP id, role). Per
# MSP X, a demand of d_r identities for each role principal `X.r` plus d_m for
# `X.member` is feasible iff d_r <= (identities of role r) for every r and
# sum(d_r) + d_m <= (identities of X): member leaves take whatever is left (Hall's
# condition on this nested family). So the search only tracks how many leaves of each
# distinct principal it has chosen — a short vector — and checks one MSP per step.

_Frame = tuple[int, int, int]  # (gate node, next child index, children satisfied)
_State = tuple[tuple[_Frame, ...], tuple[int, ...]]  # (frames innermost first, demand)


@dataclass(frozen=True)
class _Compiled:
    """A signature policy flattened for the search; node 0 is a gate (the root)."""

    principals: tuple[Principal, ...]  # distinct, in first-seen order
    leaf: tuple[int, ...]  # node -> index into principals, or -1 for a gate
    n: tuple[int, ...]  # node -> threshold (gates only)
    children: tuple[tuple[int, ...], ...]  # node -> child nodes (gates only)


@functools.lru_cache(maxsize=4096)
def _compile(policy: SignaturePolicy) -> _Compiled:
    distinct = tuple(dict.fromkeys(principals(policy)))
    index = {p: i for i, p in enumerate(distinct)}
    leaf: list[int] = []
    n: list[int] = []
    children: list[tuple[int, ...]] = []

    def add(node: SignaturePolicy) -> int:
        at = len(leaf)
        leaf.append(-1)
        n.append(0)
        children.append(())
        if isinstance(node, SignedBy):
            leaf[at] = index[node.principal]
        else:
            n[at] = node.n
            children[at] = tuple(add(rule) for rule in node.rules)
        return at

    # A bare principal is compiled as OR(principal) so that the root is always a gate.
    add(policy if isinstance(policy, NOutOf) else NOutOf(1, (policy,)))
    return _Compiled(distinct, tuple(leaf), tuple(n), tuple(children))


class _Search:
    """One search over fixed capacities: `counts[(mspid, role)]` identities usable."""

    def __init__(self, compiled: _Compiled, counts: Mapping[tuple[str, str], int]) -> None:
        self.c = compiled
        per_msp: dict[str, int] = {}
        for (mspid, _role), count in counts.items():
            per_msp[mspid] = per_msp.get(mspid, 0) + count
        ps = compiled.principals
        self.msp_cap = tuple(per_msp.get(p.mspid, 0) for p in ps)
        self.limit = tuple(
            self.msp_cap[i] if p.role is Role.MEMBER else counts.get((p.mspid, p.role.value), 0)
            for i, p in enumerate(ps)
        )
        self.same_msp = tuple(tuple(j for j, q in enumerate(ps) if q.mspid == p.mspid) for p in ps)
        # Optimistic satisfiability (ignores sharing between siblings): a sound bound
        # for pruning, `possible[node][i]` = optimistic children of node from i on.
        ok = [False] * len(compiled.leaf)
        self.possible: list[list[int]] = [[] for _ in compiled.leaf]
        for node in reversed(range(len(compiled.leaf))):  # children come after parents
            p = compiled.leaf[node]
            if p >= 0:
                ok[node] = self.limit[p] >= 1
                continue
            suffix = [0]
            for child in reversed(compiled.children[node]):
                suffix.append(suffix[-1] + ok[child])
            self.possible[node] = suffix[::-1]
            ok[node] = suffix[-1] >= compiled.n[node]
        self.root_possible = ok[0]
        # Fewest leaves that can satisfy each node, and per gate the cheapest child from
        # index i on: a lower bound on identities still needed (`needed`).
        self.total = sum(counts.values())
        fewest = [1] * len(compiled.leaf)
        self.cheapest: list[list[float]] = [[] for _ in compiled.leaf]
        for node in reversed(range(len(compiled.leaf))):
            if compiled.leaf[node] >= 0:
                continue
            costs = [fewest[child] for child in compiled.children[node]]
            fewest[node] = sum(sorted(costs)[: compiled.n[node]])
            suffix_min = [math.inf]
            for cost in reversed(costs):
                suffix_min.append(min(suffix_min[-1], cost))
            self.cheapest[node] = suffix_min[::-1]

    def can_add(self, demand: tuple[int, ...], p: int) -> bool:
        if demand[p] >= self.limit[p]:
            return False
        return sum(demand[q] for q in self.same_msp[p]) < self.msp_cap[p]

    def needed(self, frames: tuple[_Frame, ...]) -> float:
        """A lower bound on the identities the open gates in `frames` still need."""
        node, i, k = frames[0]
        bound = (self.c.n[node] - k) * self.cheapest[node][i]
        for node, i, k in frames[1:]:  # child i is open: inner frames count for it
            if self.c.n[node] - k > 1:
                bound += (self.c.n[node] - k - 1) * self.cheapest[node][i + 1]
        return bound

    def settle(self, frames: tuple[_Frame, ...], demand: tuple[int, ...]) -> _State:
        """Pop every satisfied gate, crediting its parent; no frames left = success."""
        while frames and frames[0][2] == self.c.n[frames[0][0]]:
            frames = frames[1:]
            if frames:
                node, i, k = frames[0]
                frames = ((node, i + 1, k + 1), *frames[1:])
        return frames, demand

    def branches(self, state: _State) -> Iterator[_State]:
        frames, demand = state
        node, i, k = frames[0]
        need = self.c.n[node]
        if k + self.possible[node][i] < need:
            return
        if sum(demand) + self.needed(frames) > self.total:
            return
        child = self.c.children[node][i]
        rest = frames[1:]
        p = self.c.leaf[child]
        if p >= 0:  # take child i: one more identity for principal p
            if self.can_add(demand, p):
                taken = (*demand[:p], demand[p] + 1, *demand[p + 1 :])
                yield self.settle(((node, i + 1, k + 1), *rest), taken)
        elif self.possible[child][0] >= self.c.n[child]:  # take child i: descend
            yield ((child, 0, 0), *frames), demand
        if k + self.possible[node][i + 1] >= need:  # leave child i out
            yield ((node, i + 1, k), *rest), demand

    def run(self) -> tuple[int, ...] | None:
        """Depth-first, taking before skipping; failed states are remembered, so no
        state is explored twice. Iterative: policy width must not hit the stack limit."""
        if not self.root_possible:
            return None
        start: _State = (((0, 0, 0),), tuple(0 for _ in self.c.principals))
        failed: set[_State] = set()
        stack = [(start, self.branches(start))]
        while stack:
            state, options = stack[-1]
            nxt = next(options, None)
            if nxt is None:
                failed.add(state)
                stack.pop()
            elif not nxt[0]:
                return nxt[1]
            elif nxt not in failed:
                stack.append((nxt, self.branches(nxt)))
        return None


def _good_first(signers: Sequence[_Signer]) -> list[_Signer]:
    return sorted(signers, key=lambda s: s.valid is not True)  # stable: keeps input order


def _assign(
    compiled: _Compiled, demand: tuple[int, ...], live: Mapping[tuple[str, str], list[_Signer]]
) -> list[_Signer]:
    """Pick distinct identities meeting `demand`: role principals first, then member
    principals from what is left of their MSP; verified-good identities preferred."""
    chosen: list[_Signer] = []
    taken: set[int] = set()
    ps = compiled.principals
    order = sorted(range(len(ps)), key=lambda i: ps[i].role is Role.MEMBER)
    for i in order:
        p = ps[i]
        if p.role is Role.MEMBER:
            pool = [s for (mspid, _r), ss in live.items() if mspid == p.mspid for s in ss]
        else:
            pool = live.get((p.mspid, p.role.value), [])
        picked = [s for s in _good_first(pool) if id(s) not in taken][: demand[i]]
        if len(picked) < demand[i]:  # the search's feasibility check rules this out
            raise PolicyError(f"no identities left for '{p}'", code="POLICY_INTERNAL")
        taken.update(id(s) for s in picked)
        chosen.extend(picked)
    return chosen


# An outcome with its reason built only on demand: reasons name the policy (its
# canonical text) and the signers, and building them is not free. An implicit-meta
# policy may be satisfied although some of its children are not (`ANY Writers` over
# several orgs), so the children's reasons are built only if the whole policy fails.
_Reason = Callable[[], str]
_Outcome = tuple[bool, _Reason]


def _no_reason() -> str:
    return ""


def _evaluate_signature(policy: SignaturePolicy, pool: _Pool) -> _Outcome:
    compiled = _compile(policy)
    classes: dict[tuple[str, str], list[_Signer]] = {}
    for signer in pool.signers:
        key = (signer.identity.mspid, str(signer.identity.role))
        if any(p.matches(*key) for p in compiled.principals):
            classes.setdefault(key, []).append(signer)
    # Each round either decides or verifies at least one more signer (every assigned
    # identity is live, so a failing round found an unverified bad one): bounded.
    for _ in range(len(pool.signers) + 1):
        live = {k: [s for s in ss if s.valid is not False] for k, ss in classes.items()}
        good = {k: sum(1 for s in ss if s.valid) for k, ss in live.items()}
        # Satisfiable by identities already verified (within this evaluation)? Done.
        if any(good.values()) and _Search(compiled, good).run() is not None:
            return True, _no_reason
        demand = _Search(compiled, {k: len(ss) for k, ss in live.items()}).run()
        if demand is None:
            seen = [s for s in pool.signers if s.valid is not False]  # as of now
            return False, functools.partial(_unsatisfied, policy, seen, compiled.principals, live)
        if all(pool.verify(s) for s in _assign(compiled, demand, live)):
            return True, _no_reason
    raise PolicyError("policy solver made no progress", code="POLICY_INTERNAL")


def _unsatisfied(
    policy: SignaturePolicy,
    signers: Sequence[_Signer],
    wanted: Sequence[Principal],
    live: Mapping[tuple[str, str], list[_Signer]],
) -> str:
    missing = [p for p in wanted if not any(p.matches(*k) and s for k, s in live.items())]
    if missing:
        why = "no valid signature from " + ", ".join(f"'{p}'" for p in missing)
    else:
        why = "not enough distinct valid signers (an identity counts at most once)"
    seen = sorted(f"{s.identity.mspid}.{s.identity.role}" for s in signers)
    return f"policy {policy} not satisfied: {why}; signers: {', '.join(seen) or 'none'}"


# ---------------------------------------------------------------------- implicit meta


def _evaluate_node(node: Evaluable, pool: _Pool) -> _Outcome:
    if isinstance(node, SignedBy | NOutOf):
        return _evaluate_signature(node, pool)
    if isinstance(node, BoundImplicitMeta):
        return _evaluate_meta(node, pool)
    raise UnresolvedPolicyError(  # an unbound ImplicitMetaPolicy given as a sub-policy
        f"implicit-meta policy {node} given without its sub-policies"
    )


def _evaluate_meta(bound: BoundImplicitMeta, pool: _Pool) -> _Outcome:
    names = sorted(bound.sub_policies)
    total = len(names)
    if total == 0:
        return (
            False,
            lambda: f"policy {bound} not satisfied: no {bound.policy.sub_policy} sub-policies",
        )
    need = bound.policy.rule.threshold(total)
    satisfied = 0
    failures: list[tuple[str, _Reason]] = []
    for i, name in enumerate(names):
        # Stop as soon as the outcome is decided: saves verifying signatures.
        if satisfied >= need or satisfied + (total - i) < need:
            break
        ok, reason = _evaluate_node(bound.sub_policies[name], pool)
        if ok:
            satisfied += 1
        else:
            failures.append((name, reason))
    if satisfied >= need:
        return True, _no_reason
    return (
        False,
        lambda: (
            f"policy {bound} not satisfied: {need} of {total} {bound.policy.sub_policy} "
            f"sub-policies required, {satisfied} satisfied "
            f"[{'; '.join(f'{name}: {why()}' for name, why in failures)}]"
        ),
    )


# ----------------------------------------------------------------------------- public


def evaluate(
    policy: Policy | BoundImplicitMeta,
    signed_data: Sequence[SignedData],
    deserializer: IdentityDeserializer,
    *,
    sub_policies: Mapping[str, Evaluable] | None = None,
) -> EvaluationResult:
    """Evaluate `policy` over `signed_data`.

    An `ImplicitMetaPolicy` needs `sub_policies` (child name → that child's policy
    named by the implicit-meta rule); passing them with any other policy, or omitting
    them for an implicit-meta one, raises `UnresolvedPolicyError`. An invalid
    signature never raises: it is dropped and reported in the result.
    """
    node: Evaluable
    if isinstance(policy, ImplicitMetaPolicy):
        if sub_policies is None:
            raise UnresolvedPolicyError(f"implicit-meta policy {policy} needs sub_policies")
        node = BoundImplicitMeta(policy, sub_policies)
    elif sub_policies is not None:
        raise UnresolvedPolicyError(f"sub_policies given for non implicit-meta policy {policy}")
    else:
        node = policy
    pool = _Pool(signed_data, deserializer)
    ok, why = _evaluate_node(node, pool)
    rejected = tuple(sorted(pool.rejected, key=lambda r: r.index))
    if ok:
        return EvaluationResult(True, "", rejected)
    reason = why()
    if rejected:
        reason += "; rejected: " + "; ".join(str(r) for r in rejected)
    return EvaluationResult(False, reason, rejected)


def evaluate_or_raise(
    policy: Policy | BoundImplicitMeta,
    signed_data: Sequence[SignedData],
    deserializer: IdentityDeserializer,
    *,
    sub_policies: Mapping[str, Evaluable] | None = None,
) -> EvaluationResult:
    """Like `evaluate`, but raise `PolicyNotSatisfiedError` (`POLICY_NOT_SATISFIED`)
    when the policy is not satisfied; returns the (satisfied) result otherwise."""
    result = evaluate(policy, signed_data, deserializer, sub_policies=sub_policies)
    if not result.satisfied:
        raise PolicyNotSatisfiedError(result)
    return result
