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

Why exactness is cheap: whether an identity satisfies a principal depends only on its
(MSP id, role), so identities are grouped into classes by that pair and the search
runs over how many identities of each class are used — a handful of small vectors.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
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

_Class = tuple[str, str]  # (mspid, role)
_Vec = tuple[int, ...]  # identities used per class, aligned with the class keys


@functools.lru_cache(maxsize=4096)
def _distinct_principals(policy: SignaturePolicy) -> tuple[Principal, ...]:
    return tuple(dict.fromkeys(principals(policy)))


def _minimal(vectors: list[_Vec]) -> list[_Vec]:
    """Drop duplicates and vectors that use more of every class than another does."""
    unique = sorted(set(vectors), key=sum)
    kept: list[_Vec] = []
    for v in unique:
        if not any(all(a <= b for a, b in zip(k, v, strict=True)) for k in kept):
            kept.append(v)
    return kept


def _solve(node: SignaturePolicy, keys: Sequence[_Class], caps: _Vec) -> list[_Vec]:
    """Minimal class-usage vectors (each within `caps`) that satisfy `node`."""
    if isinstance(node, SignedBy):
        return [
            tuple(int(j == i) for j in range(len(keys)))
            for i, (mspid, role) in enumerate(keys)
            if caps[i] > 0 and node.principal.matches(mspid, role)
        ]
    # 0/1 knapsack over children: layers[j] = minimal vectors satisfying j children.
    layers: list[list[_Vec]] = [[tuple(0 for _ in keys)]] + [[] for _ in range(node.n)]
    for rule in node.rules:
        options = _solve(rule, keys, caps)
        if not options:
            continue
        for j in range(node.n - 1, -1, -1):  # descending: each child counted once
            extended: list[_Vec] = []
            for v in layers[j]:
                for w in options:
                    u = tuple(a + b for a, b in zip(v, w, strict=True))
                    if all(x <= c for x, c in zip(u, caps, strict=True)):
                        extended.append(u)
            if extended:
                layers[j + 1] = _minimal(layers[j + 1] + extended)
    return layers[node.n]


def _evaluate_signature(policy: SignaturePolicy, pool: _Pool) -> tuple[bool, str]:
    wanted = _distinct_principals(policy)
    classes: dict[_Class, list[_Signer]] = {}
    for signer in pool.signers:
        key = (signer.identity.mspid, str(signer.identity.role))
        if any(p.matches(*key) for p in wanted):
            classes.setdefault(key, []).append(signer)
    keys = sorted(classes)
    # Each round either decides or verifies at least one more signer (a short class
    # had an unverified candidate, since `best` fits `caps`), so rounds are bounded.
    for _ in range(len(pool.signers) + 1):
        live = {k: [s for s in classes[k] if s.valid is not False] for k in keys}
        caps = tuple(len(live[k]) for k in keys)
        good = tuple(sum(1 for s in live[k] if s.valid) for k in keys)
        solutions = _solve(policy, keys, caps)
        if not solutions:
            return False, _unsatisfied(policy, pool, wanted, live)
        best = min(solutions, key=functools.partial(_cost, good=good))
        if all(_verify_enough(pool, live[k], need) for k, need in zip(keys, best, strict=True)):
            return True, ""
    raise PolicyError("policy solver made no progress", code="POLICY_INTERNAL")


def _cost(v: _Vec, good: _Vec) -> tuple[int, int, _Vec]:
    """Prefer fewest signatures still to verify, then fewest identities, then stable."""
    return sum(max(0, n - g) for n, g in zip(v, good, strict=True)), sum(v), v


def _verify_enough(pool: _Pool, signers: list[_Signer], need: int) -> bool:
    """Verify not-yet-verified signers of one class until `need` are known good."""
    have = sum(1 for s in signers if s.valid)
    for signer in signers:
        if have >= need:
            break
        if signer.valid is None and pool.verify(signer):
            have += 1
    return have >= need


def _unsatisfied(
    policy: SignaturePolicy,
    pool: _Pool,
    wanted: Sequence[Principal],
    live: Mapping[_Class, list[_Signer]],
) -> str:
    missing = [p for p in wanted if not any(p.matches(*k) and s for k, s in live.items())]
    if missing:
        why = "no valid signature from " + ", ".join(f"'{p}'" for p in missing)
    else:
        why = "not enough distinct valid signers (an identity counts at most once)"
    seen = sorted(
        f"{s.identity.mspid}.{s.identity.role}" for s in pool.signers if s.valid is not False
    )
    return f"policy {policy} not satisfied: {why}; signers: {', '.join(seen) or 'none'}"


# ---------------------------------------------------------------------- implicit meta


def _evaluate_node(node: Evaluable, pool: _Pool) -> tuple[bool, str]:
    if isinstance(node, SignedBy | NOutOf):
        return _evaluate_signature(node, pool)
    if isinstance(node, BoundImplicitMeta):
        return _evaluate_meta(node, pool)
    raise UnresolvedPolicyError(  # an unbound ImplicitMetaPolicy given as a sub-policy
        f"implicit-meta policy {node} given without its sub-policies"
    )


def _evaluate_meta(bound: BoundImplicitMeta, pool: _Pool) -> tuple[bool, str]:
    names = sorted(bound.sub_policies)
    total = len(names)
    if total == 0:
        return False, f"policy {bound} not satisfied: no {bound.policy.sub_policy} sub-policies"
    need = bound.policy.rule.threshold(total)
    satisfied = 0
    failures: list[str] = []
    for i, name in enumerate(names):
        # Stop as soon as the outcome is decided: saves verifying signatures.
        if satisfied >= need or satisfied + (total - i) < need:
            break
        ok, reason = _evaluate_node(bound.sub_policies[name], pool)
        if ok:
            satisfied += 1
        else:
            failures.append(f"{name}: {reason}")
    if satisfied >= need:
        return True, ""
    return False, (
        f"policy {bound} not satisfied: {need} of {total} {bound.policy.sub_policy} "
        f"sub-policies required, {satisfied} satisfied [{'; '.join(failures)}]"
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
    ok, reason = _evaluate_node(node, pool)
    rejected = tuple(sorted(pool.rejected, key=lambda r: r.index))
    if not ok and rejected:
        reason += "; rejected: " + "; ".join(str(r) for r in rejected)
    return EvaluationResult(ok, reason, rejected)


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
