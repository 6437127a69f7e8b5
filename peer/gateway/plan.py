"""Which organisations must endorse: the smallest set of orgs whose peers, one
endorsement each, satisfy a chaincode's endorsement policy (Fabric's gateway asks
discovery for a "layout"; this is the same answer computed from the channel config).

Model: an org contributes exactly one endorsement, from one of its peers, i.e. one
identity with the role `peer` (which also matches `member` principals). A policy is
satisfied by a set of orgs when Fabric's evaluator would accept one such endorsement
per org: `NOutOf` gates need `n` children satisfied by pairwise-distinct identities,
checked greedily in rule order as Fabric's `cauthdsl` does. An implicit-meta policy
(`MAJORITY Endorsement`) becomes `NOutOf(threshold, each org's sub-policy)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from common.config.channel import ChannelConfig
from common.policies import ImplicitMetaPolicy, NOutOf, Policy, Role, SignaturePolicy, SignedBy
from common.policies import principals as policy_principals

__all__ = ["as_signature_policy", "endorsing_orgs", "plan_orgs", "satisfied_by"]

_PEER_ROLES = (Role.PEER, Role.MEMBER)


def as_signature_policy(policy: Policy, config: ChannelConfig) -> SignaturePolicy | None:
    """The policy as one signature policy (implicit-meta resolved over the application
    orgs' sub-policies); None for an implicit-meta policy no org defines."""
    if not isinstance(policy, ImplicitMetaPolicy):
        return policy
    subs = tuple(config.org_sub_policies(policy.sub_policy).values())
    if not subs:
        return None
    return NOutOf(policy.rule.threshold(len(subs)), subs)


def _satisfy(policy: SignaturePolicy, orgs: Sequence[str], used: list[bool]) -> bool:
    # One identity per org (index i of `orgs`); `used` marks identities consumed by
    # already-satisfied leaves, so AND('A.peer', 'A.peer') needs two A identities.
    if isinstance(policy, SignedBy):
        principal = policy.principal
        if principal.role not in _PEER_ROLES:
            return False
        for index, mspid in enumerate(orgs):
            if not used[index] and mspid == principal.mspid:
                used[index] = True
                return True
        return False
    satisfied = 0
    for rule in policy.rules:
        trial = list(used)
        if _satisfy(rule, orgs, trial):
            used[:] = trial
            satisfied += 1
            if satisfied >= policy.n:
                return True
    return False


def satisfied_by(policy: SignaturePolicy, orgs: Sequence[str]) -> bool:
    """Would one peer endorsement from each of `orgs` satisfy `policy`?"""
    return _satisfy(policy, list(orgs), [False] * len(orgs))


def endorsing_orgs(policy: SignaturePolicy) -> list[str]:
    """The orgs a peer endorsement of which can count towards `policy`, first-seen
    order, no duplicates."""
    seen: dict[str, None] = {}
    for principal in policy_principals(policy):
        if principal.role in _PEER_ROLES:
            seen.setdefault(principal.mspid)
    return list(seen)


def plan_orgs(
    policy: SignaturePolicy, available: Sequence[str], *, preferred: str | None = None
) -> list[str] | None:
    """A smallest set of orgs among `available` (orgs with a reachable endorser)
    satisfying `policy`, or None if no subset does.

    Among the smallest sets, one containing `preferred` (the gateway's own org) wins,
    then the first in `available` order. The preferred org comes first in the result;
    the rest keep `available` order.
    """
    candidates = [org for org in endorsing_orgs(policy) if org in available]
    candidates.sort(key=lambda org: (org != preferred, list(available).index(org)))
    for size in range(1, len(candidates) + 1):
        # combinations() keeps `candidates` order, so sets with `preferred` come first.
        for subset in combinations(candidates, size):
            if satisfied_by(policy, subset):
                return list(subset)
    return None
