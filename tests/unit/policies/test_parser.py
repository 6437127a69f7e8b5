from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.policies import (
    ImplicitMetaPolicy,
    MetaRule,
    NOutOf,
    PolicyError,
    PolicySyntaxError,
    PolicyThresholdError,
    Principal,
    Role,
    SignaturePolicy,
    SignedBy,
    UnknownOrgError,
    and_,
    or_,
    out_of,
    parse_implicit_meta,
    parse_policy,
    parse_signature_policy,
    principals,
    signed_by,
)
from common.policies.parser import MAX_DEPTH


def test_parses_the_fabric_forms() -> None:
    assert parse_signature_policy("AND('CoreMSP.peer','BankMSP.peer')") == NOutOf(
        2,
        (
            SignedBy(Principal("CoreMSP", Role.PEER)),
            SignedBy(Principal("BankMSP", Role.PEER)),
        ),
    )
    assert parse_signature_policy("OR('A.member','B.admin')") == or_("A.member", "B.admin")
    assert parse_signature_policy("OutOf(2, 'A.member', 'B.member', 'C.member')") == out_of(
        2, "A.member", "B.member", "C.member"
    )


def test_nesting_whitespace_and_both_quote_styles() -> None:
    text = """ OR ( AND( 'A.peer' ,"B.peer" ) ,
                  OutOf( 2 ,'C.member', "D.member",'E.member' ) ) """
    expected = or_(and_("A.peer", "B.peer"), out_of(2, "C.member", "D.member", "E.member"))
    assert parse_signature_policy(text) == expected
    assert str(expected) == (
        "OR(AND('A.peer', 'B.peer'), OutOf(2, 'C.member', 'D.member', 'E.member'))"
    )


def test_lower_case_function_names_as_fabric_accepts() -> None:
    assert parse_signature_policy("and('A.peer', or('B.peer', 'C.peer'))") == and_(
        "A.peer", or_("B.peer", "C.peer")
    )
    assert parse_signature_policy("outof(1, 'A.peer', 'B.peer')") == or_("A.peer", "B.peer")


def test_and_or_outof_are_thresholds() -> None:
    assert parse_signature_policy("AND('A.peer','B.peer','C.peer')") == out_of(
        3, "A.peer", "B.peer", "C.peer"
    )
    assert parse_signature_policy("OR('A.peer','B.peer','C.peer')") == out_of(
        1, "A.peer", "B.peer", "C.peer"
    )


@pytest.mark.parametrize("role", list(Role))
def test_every_role_parses(role: Role) -> None:
    assert parse_signature_policy(f"OR('Org1-MSP.x.{role.value}')") == NOutOf(
        1, (SignedBy(Principal("Org1-MSP.x", role)),)
    )


def test_bare_principal_is_a_policy() -> None:
    assert parse_signature_policy(" 'A.admin' ") == signed_by("A.admin")
    assert str(signed_by("A.admin")) == "'A.admin'"


@pytest.mark.parametrize(
    "text",
    [
        "AND('A.peer','B.peer')",
        "OR('A.member','B.admin')",
        "OutOf(2, 'A.member', 'B.member', 'C.member')",
        "OR(AND('A.peer','B.peer'), OutOf(2,'C.member','D.member','E.member'))",
        "AND(OR('A.client', AND('B.orderer', 'C.admin')), 'D.member')",
        "'A.peer'",
        "AND('A.peer')",
    ],
)
def test_round_trip(text: str) -> None:
    policy = parse_signature_policy(text)
    assert parse_signature_policy(str(policy)) == policy
    assert str(parse_signature_policy(str(policy))) == str(policy)


_principals = st.builds(
    Principal, st.sampled_from(["A", "Bank.MSP", "core-1"]), st.sampled_from(list(Role))
)


def _gates(children: st.SearchStrategy[SignaturePolicy]) -> st.SearchStrategy[SignaturePolicy]:
    return st.lists(children, min_size=1, max_size=4).flatmap(
        lambda rules: st.integers(1, len(rules)).map(lambda n: NOutOf(n, tuple(rules)))
    )


policies: st.SearchStrategy[SignaturePolicy] = st.recursive(
    st.builds(SignedBy, _principals), _gates, max_leaves=12
)


@settings(derandomize=True, deadline=None, max_examples=200)
@given(policies)
def test_round_trip_property(policy: SignaturePolicy) -> None:
    assert parse_signature_policy(str(policy)) == policy
    assert parse_policy(str(policy)) == policy


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("", 0, "AND(, OR(, OutOf( or a quoted principal"),
        ("   ", 3, "AND(, OR(, OutOf( or a quoted principal"),
        ("AND(", 4, "AND(, OR(, OutOf( or a quoted principal"),
        ("AND()", 4, "AND(, OR(, OutOf( or a quoted principal"),
        ("AND('A.peer',)", 13, "AND(, OR(, OutOf( or a quoted principal"),
        ("AND('A.peer'", 12, "',' or ')'"),
        ("AND('A.peer' 'B.peer')", 13, "',' or ')'"),
        ("AND 'A.peer'", 4, "'('"),
        ("NAND('A.peer')", 0, "AND(, OR(, OutOf( or a quoted principal"),
        ("AND('A.peer'))", 13, "end of text"),
        ("AND('A.peer') 'B.peer'", 14, "end of text"),
        ("AND('A.peer)", 12, "closing ' for the quote at 4"),
        ("AND(\"A.peer')", 13, 'closing " for the quote at 4'),
        ("AND('A.boss')", 4, "'<MSPID>.<role>'"),
        ("AND('A')", 4, "'<MSPID>.<role>'"),
        ("AND('.peer')", 4, "'<MSPID>.<role>'"),
        ("AND('A B.peer')", 4, "'<MSPID>.<role>'"),
        ("AND(' A.peer')", 4, "'<MSPID>.<role>'"),
        ("AND('A.PEER')", 4, "'<MSPID>.<role>'"),
        ("AND(A.peer)", 4, "AND(, OR(, OutOf( or a quoted principal"),
        ("OutOf('A.peer', 'B.peer')", 6, "a non-negative integer threshold"),
        ("OutOf(-1, 'A.peer')", 6, "a non-negative integer threshold"),
        ("OutOf(1 'A.peer')", 8, "','"),
        ("OutOf(1)", 7, "','"),
        ("AND('A.peer'; 'B.peer')", 12, "',' or ')'"),
    ],
)
def test_syntax_errors_name_position_and_expectation(
    text: str, position: int, expected: str
) -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_signature_policy(text)
    err = info.value
    assert err.code == "POLICY_SYNTAX"
    assert err.position == position
    assert err.expected.startswith(expected)
    assert f"position {position}" in str(err)
    assert str(err).startswith("POLICY_SYNTAX: ")


@pytest.mark.parametrize(
    ("text", "position", "found"),
    [
        ("OutOf(0, 'A.peer')", 6, "0"),
        ("OutOf(3, 'A.peer', 'B.peer')", 6, "3"),
        ("AND('X.peer', OutOf( 2,'A.peer'))", 21, "2"),
    ],
)
def test_outof_threshold_out_of_range(text: str, position: int, found: str) -> None:
    with pytest.raises(PolicyThresholdError) as info:
        parse_signature_policy(text)
    assert info.value.code == "POLICY_THRESHOLD"
    assert info.value.position == position
    assert info.value.found == found
    assert isinstance(info.value, PolicySyntaxError)  # catching syntax errors catches it


def test_nesting_is_bounded() -> None:
    deep = "AND(" * (MAX_DEPTH + 1) + "'A.peer'" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(PolicySyntaxError) as info:
        parse_signature_policy(deep)
    assert info.value.position == 4 * MAX_DEPTH
    ok = "AND(" * MAX_DEPTH + "'A.peer'" + ")" * MAX_DEPTH
    assert principals(parse_signature_policy(ok)) == (Principal("A", Role.PEER),)


def test_unknown_org() -> None:
    known = {"CoreMSP", "BankMSP"}
    assert parse_signature_policy("AND('CoreMSP.peer','BankMSP.peer')", known)
    with pytest.raises(UnknownOrgError) as info:
        parse_signature_policy("AND('CoreMSP.peer', 'EvilMSP.peer')", known)
    assert info.value.code == "POLICY_UNKNOWN_ORG"
    assert info.value.position == 20
    assert info.value.mspid == "EvilMSP"
    assert "BankMSP, CoreMSP" in str(info.value)
    with pytest.raises(UnknownOrgError):
        parse_signature_policy("'A.member'", frozenset())


def test_ast_invariants_are_enforced_without_text() -> None:
    with pytest.raises(PolicyThresholdError) as info:
        NOutOf(0, (signed_by("A.peer"),))
    assert info.value.position is None
    with pytest.raises(PolicyThresholdError):
        NOutOf(2, (signed_by("A.peer"),))
    with pytest.raises(PolicySyntaxError):
        NOutOf(1, ())
    with pytest.raises(PolicySyntaxError):
        Principal("A B", Role.PEER)
    with pytest.raises(PolicySyntaxError):
        signed_by("A.boss")
    with pytest.raises(PolicySyntaxError):
        ImplicitMetaPolicy(MetaRule.ANY, "Read ers")


def test_policies_are_hashable_values() -> None:
    a = parse_signature_policy("OR('A.peer', AND('B.peer', 'C.peer'))")
    b = parse_signature_policy('OR("A.peer",AND("B.peer","C.peer"))')
    assert a == b
    assert hash(a) == hash(b)
    assert principals(a) == tuple(Principal(m, Role.PEER) for m in ("A", "B", "C"))


@pytest.mark.parametrize(
    ("text", "rule", "sub"),
    [
        ("ANY Readers", MetaRule.ANY, "Readers"),
        ("  ALL   Writers ", MetaRule.ALL, "Writers"),
        ("MAJORITY\tAdmins", MetaRule.MAJORITY, "Admins"),
        ("ANY Endorsement", MetaRule.ANY, "Endorsement"),
    ],
)
def test_implicit_meta_parse_and_render(text: str, rule: MetaRule, sub: str) -> None:
    policy = parse_implicit_meta(text)
    assert policy == ImplicitMetaPolicy(rule, sub)
    assert parse_policy(text) == policy
    assert str(policy) == f"{rule.value} {sub}"
    assert parse_implicit_meta(str(policy)) == policy


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("", 0, "ANY, ALL or MAJORITY"),
        ("SOME Readers", 0, "ANY, ALL or MAJORITY"),
        ("any Readers", 0, "ANY, ALL or MAJORITY"),
        ("ANY", 3, "a sub-policy name"),
        ("ANY ", 4, "a sub-policy name"),
        ("ANY Readers Writers", 12, "end of text"),
        ("ANY 'Readers'", 4, "a sub-policy name"),
    ],
)
def test_implicit_meta_syntax_errors(text: str, position: int, expected: str) -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_implicit_meta(text)
    assert info.value.code == "POLICY_SYNTAX"
    assert info.value.position == position
    assert info.value.expected.startswith(expected)


def test_parse_policy_dispatches_on_the_first_word() -> None:
    assert isinstance(parse_policy("MAJORITY Admins"), ImplicitMetaPolicy)
    assert isinstance(parse_policy("AND('A.peer')"), NOutOf)
    with pytest.raises(PolicySyntaxError) as info:
        parse_policy("ANY")
    assert info.value.position == 3


@pytest.mark.parametrize(
    ("count", "any_", "all_", "majority"),
    [
        (1, 1, 1, 1),
        (2, 1, 2, 2),
        (3, 1, 3, 2),
        (4, 1, 4, 3),
        (5, 1, 5, 3),
    ],
)
def test_meta_thresholds(count: int, any_: int, all_: int, majority: int) -> None:
    assert MetaRule.ANY.threshold(count) == any_
    assert MetaRule.ALL.threshold(count) == all_
    assert MetaRule.MAJORITY.threshold(count) == majority


def test_every_error_is_a_policy_error() -> None:
    for text in ["AND(", "OutOf(5,'A.peer')"]:
        with pytest.raises(PolicyError):
            parse_policy(text)
