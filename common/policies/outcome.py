"""Outcome cache: evaluate a policy tree once per class of verified signers.

Whether signed data satisfies a policy depends only on how many distinct, validly
signing identities there are of each (MSP id, role) — `evaluator`'s exact search works
on those counts. So once every signature that could count has been verified, the
outcome for (policy, counts) can be remembered: a block of 500 transactions endorsed
by the same pair of peers walks the policy tree once, and each transaction still has
every relevant signature verified over its own bytes.

The fast path (`OutcomeCache.evaluate`) deserializes and deduplicates the signers as
the evaluator does, verifies every signer whose (MSP id, role) matches some principal
of the policy (Fabric's validator verifies every endorsement up front too), and looks
the outcome up by `(policy, sorted counts of verified identities per class)`. Signers
that match no principal cannot change the outcome and are not verified (as in the
evaluator). Anything unusual — an identity that does not deserialize, a signature that
does not verify, a cached outcome that is "not satisfied" — takes the uncached
`evaluate`, so failures carry the evaluator's exact reason and rejections.

One cache belongs to one `ChannelBundle` (one config sequence): a config change builds
a new bundle and so a new, empty cache. Policies are keyed by object identity (the
cache keeps them alive, so an id is never reused while cached); callers pass the same
bound policy object each time (the bundle memoises them).
"""

from __future__ import annotations

from collections.abc import Sequence

from common.policies.errors import PolicyError
from common.policies.evaluator import (
    BoundImplicitMeta,
    EvaluationResult,
    Identity,
    IdentityDeserializer,
    SignedData,
    evaluate,
)
from common.policies.model import ImplicitMetaPolicy, Policy, Principal, principals

__all__ = ["OutcomeCache", "policy_principals"]

MAX_ENTRIES = 4096

_Class = tuple[str, str]  # (mspid, role)
_Counts = tuple[tuple[_Class, int], ...]

_SATISFIED = EvaluationResult(True)


def policy_principals(policy: Policy | BoundImplicitMeta) -> frozenset[Principal]:
    """Every principal anywhere in the (bound) policy tree; an unbound implicit-meta
    policy has none (evaluating it raises)."""
    if isinstance(policy, BoundImplicitMeta):
        out: set[Principal] = set()
        for sub in policy.sub_policies.values():
            out |= policy_principals(sub)
        return frozenset(out)
    if isinstance(policy, ImplicitMetaPolicy):
        return frozenset()
    return frozenset(principals(policy))


class _Relevance:
    """Which (mspid, role) classes can matter to one policy, memoised per class."""

    __slots__ = ("by_class", "principals")

    def __init__(self, policy: Policy | BoundImplicitMeta) -> None:
        self.principals = policy_principals(policy)
        self.by_class: dict[_Class, bool] = {}

    def __call__(self, cls: _Class) -> bool:
        known = self.by_class.get(cls)
        if known is None:
            known = self.by_class[cls] = any(p.matches(*cls) for p in self.principals)
        return known


class _Verified:
    """One identity whose signature the caller verified, as its own deserializer."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    @property
    def mspid(self) -> str:
        return self._identity.mspid

    @property
    def role(self) -> str:
        return str(self._identity.role)

    @property
    def serialized(self) -> bytes:
        return self._identity.serialized

    def verify(self, data: bytes, signature: bytes) -> None:
        """Verified by the caller over the exact bytes it received."""

    def deserialize_identity(self, serialized: bytes) -> _Verified:
        if serialized != self._identity.serialized:
            raise PolicyError("not the verified identity", code="UNKNOWN_IDENTITY")
        return self


class OutcomeCache:
    """Policy outcomes per (policy, verified signer classes); see the module docstring.
    Thread-safe: lookups and inserts are single dict operations, and a race at worst
    evaluates the same tree twice."""

    def __init__(self, deserializer: IdentityDeserializer, max_entries: int = MAX_ENTRIES):
        self._deserializer = deserializer
        self._max = max_entries
        self._outcomes: dict[tuple[int, _Counts], bool] = {}
        self._policies: dict[int, tuple[Policy | BoundImplicitMeta, _Relevance]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._outcomes)

    def _relevance(self, policy: Policy | BoundImplicitMeta) -> _Relevance:
        entry = self._policies.get(id(policy))
        if entry is None or entry[0] is not policy:
            if len(self._policies) >= self._max:
                self.clear()
            entry = (policy, _Relevance(policy))
            self._policies[id(policy)] = entry
        return entry[1]

    def clear(self) -> None:
        self._outcomes.clear()
        self._policies.clear()

    def _lookup(self, policy: Policy | BoundImplicitMeta, counts: _Counts) -> bool | None:
        outcome = self._outcomes.get((id(policy), counts))
        if outcome is None:
            self.misses += 1
        else:
            self.hits += 1
        return outcome

    def _store(self, policy: Policy | BoundImplicitMeta, counts: _Counts, ok: bool) -> None:
        if len(self._outcomes) >= self._max:
            self._outcomes.clear()
        self._outcomes[(id(policy), counts)] = ok

    def evaluate(
        self, policy: Policy | BoundImplicitMeta, signed_data: Sequence[SignedData]
    ) -> EvaluationResult:
        """`evaluate(policy, signed_data, deserializer)`, with the tree walk cached.
        The satisfied flag is always the evaluator's; a failure is the evaluator's
        whole result (reason and rejections)."""
        if isinstance(policy, ImplicitMetaPolicy):  # unbound: let evaluate raise
            return evaluate(policy, signed_data, self._deserializer)
        relevant = self._relevance(policy)
        # Signers deduplicated as the evaluator does (MSP id + serialized identity);
        # each relevant one with its first (data, signature), verified below — the
        # evaluator also tries an identity's signatures in order and stops at a good one.
        by_raw: dict[bytes, tuple[str, bytes] | None] = {}
        first: dict[tuple[str, bytes], tuple[Identity, bytes, bytes] | None] = {}
        for item in signed_data:
            raw = item.identity
            if raw in by_raw:
                continue  # a later signature of a known identity: the first decides
            try:
                identity = self._deserializer.deserialize_identity(raw)
            except Exception:  # the evaluator reports it: take the exact path
                return evaluate(policy, signed_data, self._deserializer)
            key = (identity.mspid, identity.serialized)
            by_raw[raw] = key
            if key not in first:
                cls = (identity.mspid, str(identity.role))
                first[key] = (identity, item.data, item.signature) if relevant(cls) else None
        counts: dict[_Class, int] = {}
        for entry in first.values():
            if entry is None:
                continue
            identity, data, signature = entry
            try:
                identity.verify(data, signature)
            except Exception:  # a bad signature: the evaluator reports it
                return evaluate(policy, signed_data, self._deserializer)
            cls = (identity.mspid, str(identity.role))
            counts[cls] = counts.get(cls, 0) + 1
        key_counts = tuple(sorted(counts.items()))
        outcome = self._lookup(policy, key_counts)
        if outcome is True:
            return _SATISFIED
        result = evaluate(policy, signed_data, self._deserializer)
        if outcome is None:
            self._store(policy, key_counts, result.satisfied)
        return result

    def evaluate_verified(
        self, policy: Policy | BoundImplicitMeta, identity: Identity
    ) -> EvaluationResult:
        """`policy` for one identity whose signature the caller has already verified
        over the exact request bytes; cached per (policy, mspid, role)."""
        if isinstance(policy, ImplicitMetaPolicy):
            verified = _Verified(identity)
            return evaluate(policy, [SignedData(identity.serialized, b"", b"")], verified)
        cls = (identity.mspid, str(identity.role))
        key_counts: _Counts = ((cls, 1),) if self._relevance(policy)(cls) else ()
        outcome = self._lookup(policy, key_counts)
        if outcome is True:
            return _SATISFIED
        verified = _Verified(identity)
        result = evaluate(policy, [SignedData(identity.serialized, b"", b"")], verified)
        if outcome is None:
            self._store(policy, key_counts, result.satisfied)
        return result
