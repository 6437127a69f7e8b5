"""Choosing the orgs to endorse: smallest satisfying set, own org preferred."""

from __future__ import annotations

import pytest

from common.policies import ImplicitMetaPolicy, MetaRule, parse_signature_policy
from peer.gateway.plan import as_signature_policy, plan_orgs, satisfied_by
from tests.unit.peer.endorser.world import make_world


@pytest.mark.parametrize(
    ("policy", "available", "preferred", "expected"),
    [
        ("AND('A.peer', 'B.peer')", ["A", "B", "C"], "B", ["B", "A"]),
        ("OR('A.peer', 'B.peer')", ["A", "B", "C"], "B", ["B"]),
        ("OR('A.peer', 'B.peer')", ["A", "B", "C"], "C", ["A"]),
        ("OutOf(2, 'A.peer', 'B.peer', 'C.member')", ["A", "B", "C"], "C", ["C", "A"]),
        ("OutOf(2, 'A.peer', 'B.peer', 'C.member')", ["B", "C"], "A", ["B", "C"]),
        ("AND('A.peer', 'B.peer')", ["A"], "A", None),
        ("AND('A.admin', 'B.peer')", ["A", "B"], "A", None),  # a peer is not an admin
        ("AND('A.peer', 'A.peer')", ["A"], "A", None),  # one peer per org
        ("OR(AND('A.peer', 'B.peer'), 'C.peer')", ["A", "B", "C"], "A", ["C"]),
    ],
)
def test_plan_orgs(
    policy: str, available: list[str], preferred: str, expected: list[str] | None
) -> None:
    assert plan_orgs(parse_signature_policy(policy), available, preferred=preferred) == expected


def test_implicit_meta_endorsement_policy_ranges_over_org_policies() -> None:
    world = make_world()
    meta = ImplicitMetaPolicy(MetaRule.ANY, "Writers")
    policy = as_signature_policy(meta, world.bundle.config)
    assert policy is not None
    # Orgs' Writers policies name members; the regulator has none.
    assert satisfied_by(policy, ["CoreMSP"])
    assert not satisfied_by(policy, ["RegulatorMSP"])
    assert (
        as_signature_policy(ImplicitMetaPolicy(MetaRule.ANY, "Nothing"), world.bundle.config)
        is None
    )
