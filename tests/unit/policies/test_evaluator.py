from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from common.policies import (
    BoundImplicitMeta,
    EvaluationResult,
    PolicyNotSatisfiedError,
    SignaturePolicy,
    SignedData,
    UnresolvedPolicyError,
    evaluate,
    evaluate_or_raise,
    parse_implicit_meta,
    parse_signature_policy,
)
from tests.unit.policies.fakes import FakeMsp, Signer

MSP = FakeMsp()
A_PEER = MSP.signer("A", "peer")
A_PEER2 = MSP.signer("A", "peer", "2")
A_ADMIN = MSP.signer("A", "admin")
A_CLIENT = MSP.signer("A", "client")
A_ORDERER = MSP.signer("A", "orderer")
B_PEER = MSP.signer("B", "peer")
B_PEER2 = MSP.signer("B", "peer", "2")
B_CLIENT = MSP.signer("B", "client")
B_ADMIN = MSP.signer("B", "admin")
C_PEER = MSP.signer("C", "peer")
D_PEER = MSP.signer("D", "peer")
E_PEER = MSP.signer("E", "peer")
# Pre-signed once: ECDSA signing is the slow part of these tests.
SIG = {
    s.serialized: s.sign()
    for s in [
        A_PEER,
        A_PEER2,
        A_ADMIN,
        A_CLIENT,
        A_ORDERER,
        B_PEER,
        B_ADMIN,
        B_PEER2,
        B_CLIENT,
        C_PEER,
        D_PEER,
        E_PEER,
    ]
}


def sigs(*signers: Signer) -> list[SignedData]:
    return [SIG[s.serialized] for s in signers]


def check(text: str, *signers: Signer) -> bool:
    return evaluate(parse_signature_policy(text), sigs(*signers), MSP).satisfied


def fresh_msp() -> FakeMsp:
    """The same issued identities, with empty call logs (the module-level MSP is shared)."""
    return MSP.with_fresh_logs()


# ----------------------------------------------------------------- truth tables


def truth_table(text: str, pool: Sequence[Signer]) -> dict[tuple[str, ...], bool]:
    table = {}
    for k in range(len(pool) + 1):
        for combo in itertools.combinations(pool, k):
            names = tuple(s.mspid for s in combo)
            table[names] = check(text, *combo)
    return table


def test_and_truth_table() -> None:
    table = truth_table("AND('A.peer', 'B.peer')", [A_PEER, B_PEER])
    assert table == {(): False, ("A",): False, ("B",): False, ("A", "B"): True}


def test_or_truth_table() -> None:
    table = truth_table("OR('A.peer', 'B.peer')", [A_PEER, B_PEER])
    assert table == {(): False, ("A",): True, ("B",): True, ("A", "B"): True}


def test_outof_truth_table() -> None:
    table = truth_table("OutOf(2, 'A.peer', 'B.peer', 'C.peer')", [A_PEER, B_PEER, C_PEER])
    assert table == {names: len(names) >= 2 for names in table}


def test_nested_truth_table() -> None:
    text = "OR(AND('A.peer','B.peer'), OutOf(2,'C.member','D.member','E.member'))"
    table = truth_table(text, [A_PEER, B_PEER, C_PEER, D_PEER, E_PEER])
    for names, satisfied in table.items():
        expected = {"A", "B"} <= set(names) or len({"C", "D", "E"} & set(names)) >= 2
        assert satisfied == expected, names


def test_signer_order_does_not_matter() -> None:
    text = "AND(OR('A.member','B.member'), 'A.member')"
    for order in itertools.permutations([A_PEER, B_PEER]):
        assert check(text, *order)


# --------------------------------------------------------- identities and roles


@pytest.mark.parametrize(
    ("principal", "satisfied_by"),
    [
        ("A.member", {"peer", "admin", "client", "orderer"}),
        ("A.admin", {"admin"}),
        ("A.client", {"client"}),  # with NodeOUs an admin is not a client
        ("A.peer", {"peer"}),
        ("A.orderer", {"orderer"}),
    ],
)
def test_role_matching(principal: str, satisfied_by: set[str]) -> None:
    for signer in [A_PEER, A_ADMIN, A_CLIENT, A_ORDERER]:
        assert check(f"'{principal}'", signer) == (signer.role in satisfied_by), signer.role


def test_other_msp_never_matches() -> None:
    assert not check("OR('A.member')", B_PEER, B_CLIENT)


def test_duplicate_signer_counted_once() -> None:
    assert not check("OutOf(2, 'A.peer', 'B.peer', 'A.peer')", A_PEER, A_PEER)
    second = A_PEER.sign()  # same identity, a fresh (different) signature
    result = evaluate(
        parse_signature_policy("AND('A.member', 'A.member')"),
        [SIG[A_PEER.serialized], second],
        MSP,
    )
    assert not result.satisfied
    assert "an identity counts at most once" in result.reason


def test_same_msp_twice_needs_two_distinct_identities() -> None:
    text = "OutOf(2, 'A.member', 'A.member')"
    assert not check(text, A_PEER)
    assert check(text, A_PEER, A_PEER2)
    assert check(text, A_PEER, A_ADMIN)


def test_a_gate_counts_each_child_once() -> None:
    # Two A identities must not satisfy both children through the first child.
    assert not check("OutOf(2, 'A.peer', 'B.peer')", A_PEER, A_PEER2)
    assert not check("AND('A.peer', 'B.peer')", A_PEER, A_PEER2)
    assert check("OutOf(2, 'A.peer', 'A.peer', 'B.peer')", A_PEER, A_PEER2)


def test_member_and_role_principals_of_one_msp_share_its_identities() -> None:
    assert not check("AND('A.peer', 'A.member')", A_PEER)
    assert not check("AND(OR('A.peer', 'B.peer'), 'A.member')", A_PEER, B_CLIENT)
    assert check("AND(OR('A.peer', 'B.peer'), 'A.member')", A_PEER, B_PEER)
    # The member leaf must take the admin, leaving the only peer for 'A.peer'.
    for order in itertools.permutations([A_PEER, A_ADMIN]):
        assert check("AND('A.member', 'A.peer')", *order)
        assert check("AND('A.peer', 'A.member')", *order)
    assert not check("AND('A.member', 'A.peer', 'A.admin')", A_PEER, A_ADMIN)
    assert check("AND('A.member', 'A.peer', 'A.admin')", A_PEER, A_ADMIN, A_CLIENT)


def test_exact_assignment_where_fabric_greedy_fails() -> None:
    # Fabric's greedy marking gives A to the OR, then finds no A for the second rule.
    assert check("AND(OR('A.member', 'B.member'), 'A.member')", A_PEER, B_PEER)
    assert check("AND(OR('A.member', 'B.peer'), 'A.peer')", A_PEER, B_PEER)
    # An identity serves one leaf across the whole tree, not once per gate.
    assert not check("AND(OR('A.peer', 'B.peer'), OR('A.peer', 'C.peer'))", A_PEER)
    assert check("AND(OR('A.peer', 'B.peer'), OR('A.peer', 'C.peer'))", A_PEER, A_PEER2)


# --------------------------------------------------------------- bad signatures


def test_bad_signature_is_not_counted() -> None:
    policy = parse_signature_policy("AND('A.peer', 'B.peer')")
    result = evaluate(policy, [SIG[A_PEER.serialized], B_PEER.forge()], MSP)
    assert not result.satisfied
    assert [(r.index, r.mspid) for r in result.rejected] == [(1, "B")]
    assert "signature verification failed: InvalidSignature" in result.rejected[0].reason
    assert "no valid signature from 'B.peer'" in result.reason
    assert "signature #1 (B): signature verification failed" in result.reason


def test_signature_over_other_data_is_bad() -> None:
    signed = A_PEER.sign(b"other")
    moved = SignedData(signed.identity, b"tx-payload", signed.signature)
    assert not evaluate(parse_signature_policy("'A.peer'"), [moved], MSP).satisfied


def test_one_good_signature_of_an_identity_is_enough() -> None:
    policy = parse_signature_policy("'A.peer'")
    result = evaluate(policy, [A_PEER.forge(), SIG[A_PEER.serialized]], MSP)
    assert result.satisfied
    assert [r.index for r in result.rejected] == [0]


def test_undeserializable_identity_is_dropped_with_a_reason() -> None:
    junk = SignedData(b"X/peer/evil", b"tx-payload", b"sig")
    result = evaluate(parse_signature_policy("OR('A.peer', 'X.peer')"), [junk, junk], MSP)
    assert not result.satisfied
    assert [(r.index, r.mspid) for r in result.rejected] == [(0, None), (1, None)]
    assert "identity could not be deserialized: UnknownIdentityError" in result.reason
    assert "no valid signature from 'A.peer', 'X.peer'" in result.reason
    assert "signers: none" in result.reason


def test_bad_signatures_do_not_mask_a_satisfied_policy() -> None:
    data = [B_PEER.forge(), SIG[A_PEER.serialized], SIG[B_PEER2.serialized]]
    result = evaluate(parse_signature_policy("AND('A.peer', 'B.peer')"), data, MSP)
    assert result == EvaluationResult(True, "", result.rejected)
    assert result.reason == ""


# ------------------------------------------------------- laziness and at-most-once


def test_verifies_only_what_the_assignment_needs() -> None:
    msp = fresh_msp()
    policy = parse_signature_policy("OR('A.peer', 'B.peer', 'C.peer')")
    assert evaluate(policy, sigs(A_PEER, B_PEER, C_PEER, D_PEER), msp).satisfied
    assert len(msp.verified) == 1


def test_never_verifies_identities_that_match_no_principal() -> None:
    msp = fresh_msp()
    policy = parse_signature_policy("AND('A.admin', 'B.peer')")
    result = evaluate(policy, sigs(A_PEER, A_CLIENT, B_CLIENT, D_PEER), msp)
    assert not result.satisfied
    assert msp.verified == []


def test_each_signature_verified_at_most_once() -> None:
    msp = fresh_msp()
    # Duplicates of every signature; B is forged, so the solver must re-plan.
    data = [*sigs(A_PEER, A_PEER, A_PEER2), B_PEER.forge(), B_PEER.forge(), *sigs(C_PEER)]
    text = "AND(OutOf(2, 'A.peer', 'B.peer', 'C.peer'), OR('B.peer', 'A.peer'))"
    result = evaluate(parse_signature_policy(text), data, msp)
    assert result.satisfied
    assert len(msp.verified) == len(set(msp.verified))
    identities_deserialized = msp.deserialized
    assert len(identities_deserialized) == len(set(identities_deserialized))


def test_forged_candidate_causes_replanning() -> None:
    policy = parse_signature_policy("OR('A.peer', 'B.peer')")
    # The solver tries one candidate; whichever it picks first, a forged one is replaced.
    for data in (
        [A_PEER.forge(), SIG[B_PEER.serialized]],
        [SIG[A_PEER.serialized], B_PEER.forge()],
    ):
        msp = fresh_msp()
        result = evaluate(policy, data, msp)
        assert result.satisfied
        assert 1 <= len(msp.verified) <= 2
        assert len(result.rejected) == len(msp.verified) - 1


# ---------------------------------------------------------------- raising API


def test_evaluate_or_raise() -> None:
    policy = parse_signature_policy("AND('A.peer', 'B.peer')")
    assert evaluate_or_raise(policy, sigs(A_PEER, B_PEER), MSP).satisfied
    with pytest.raises(PolicyNotSatisfiedError) as info:
        evaluate_or_raise(policy, sigs(A_PEER), MSP)
    assert info.value.code == "POLICY_NOT_SATISFIED"
    assert not info.value.result.satisfied
    assert str(info.value) == (
        "POLICY_NOT_SATISFIED: policy AND('A.peer', 'B.peer') not satisfied: "
        "no valid signature from 'B.peer'; signers: A.peer"
    )


# ------------------------------------------------------------------ implicit meta

ORG_WRITERS: dict[str, SignaturePolicy] = {
    "A": parse_signature_policy("OR('A.peer', 'A.client')"),
    "B": parse_signature_policy("OR('B.peer', 'B.client')"),
    "C": parse_signature_policy("'C.peer'"),
}


@pytest.mark.parametrize("rule", ["ANY", "ALL", "MAJORITY"])
def test_implicit_meta_truth_tables(rule: str) -> None:
    policy = parse_implicit_meta(f"{rule} Writers")
    for k in range(4):
        for combo in itertools.combinations([A_PEER, B_CLIENT, C_PEER], k):
            satisfied = evaluate(policy, sigs(*combo), MSP, sub_policies=ORG_WRITERS).satisfied
            expected = {"ANY": k >= 1, "ALL": k == 3, "MAJORITY": k >= 2}[rule]
            assert satisfied == expected, (rule, combo)


def test_majority_is_more_than_half() -> None:
    four = dict(ORG_WRITERS, D=parse_signature_policy("'D.peer'"))
    policy = parse_implicit_meta("MAJORITY Writers")
    assert not evaluate(policy, sigs(A_PEER, B_PEER), MSP, sub_policies=four).satisfied
    assert evaluate(policy, sigs(A_PEER, B_PEER, D_PEER), MSP, sub_policies=four).satisfied


def test_one_identity_may_satisfy_several_sub_policies() -> None:
    shared = {
        "A": parse_signature_policy("'A.member'"),
        "B": parse_signature_policy("OR('A.peer', 'B.peer')"),
    }
    result = evaluate(parse_implicit_meta("ALL Readers"), sigs(A_PEER), MSP, sub_policies=shared)
    assert result.satisfied


def test_implicit_meta_reason_names_failing_children() -> None:
    policy = parse_implicit_meta("ALL Writers")
    data = [*sigs(A_PEER), B_PEER.forge()]
    result = evaluate(policy, data, MSP, sub_policies=ORG_WRITERS)
    assert not result.satisfied
    assert result.reason.startswith(
        "policy ALL Writers not satisfied: 3 of 3 Writers sub-policies required, 1 satisfied"
    )
    assert "B: policy OR('B.peer', 'B.client') not satisfied" in result.reason
    assert "rejected: signature #1 (B)" in result.reason


def test_implicit_meta_stops_once_decided() -> None:
    msp = fresh_msp()
    policy = parse_implicit_meta("ANY Writers")
    assert evaluate(policy, sigs(A_PEER, B_PEER, C_PEER), msp, sub_policies=ORG_WRITERS).satisfied
    assert len(msp.verified) == 1


def test_nested_implicit_meta() -> None:
    application = BoundImplicitMeta(
        parse_implicit_meta("MAJORITY Admins"),
        {
            "A": parse_signature_policy("'A.admin'"),
            "B": parse_signature_policy("'B.admin'"),
            "C": parse_signature_policy("'C.admin'"),
        },
    )
    orderer = BoundImplicitMeta(
        parse_implicit_meta("ANY Admins"),
        {
            "O": parse_signature_policy("'A.orderer'"),
        },
    )
    channel = {"Application": application, "Orderer": orderer}
    policy = parse_implicit_meta("ALL Admins")
    assert not evaluate(policy, sigs(A_ADMIN, A_ORDERER), MSP, sub_policies=channel).satisfied
    assert not evaluate(policy, sigs(A_ADMIN), MSP, sub_policies=channel).satisfied
    data = sigs(A_ADMIN, A_ORDERER, B_ADMIN)
    assert evaluate(policy, data, MSP, sub_policies=channel).satisfied
    assert str(application) == "MAJORITY Admins"


def test_implicit_meta_with_no_children_fails_closed() -> None:
    for rule in ["ANY", "ALL", "MAJORITY"]:
        result = evaluate(
            parse_implicit_meta(f"{rule} Readers"), sigs(A_PEER), MSP, sub_policies={}
        )
        assert not result.satisfied
        assert "no Readers sub-policies" in result.reason


def test_unresolved_implicit_meta_is_a_named_error() -> None:
    meta = parse_implicit_meta("ANY Readers")
    with pytest.raises(UnresolvedPolicyError) as info:
        evaluate(meta, sigs(A_PEER), MSP)
    assert info.value.code == "POLICY_UNRESOLVED"
    with pytest.raises(UnresolvedPolicyError):
        evaluate(parse_signature_policy("'A.peer'"), [], MSP, sub_policies={})
    with pytest.raises(UnresolvedPolicyError):
        evaluate(meta, [], MSP, sub_policies={"A": meta})  # type: ignore[dict-item]


def test_implicit_meta_verifies_each_signature_once_across_children() -> None:
    msp = fresh_msp()
    children: dict[str, SignaturePolicy] = {
        "A": parse_signature_policy("'A.member'"),
        "B": parse_signature_policy("OR('B.peer', 'A.peer')"),
        "C": parse_signature_policy("AND('A.peer', 'B.peer')"),
    }
    policy = parse_implicit_meta("ALL Readers")
    assert evaluate(policy, sigs(A_PEER, B_PEER), msp, sub_policies=children).satisfied
    assert sorted(s for s, _d, _sig in msp.verified) == [A_PEER.serialized, B_PEER.serialized]
