"""The outcome cache: same answers as `evaluate`, every relevant signature verified
on every call, only the policy-tree walk remembered."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.policies import (
    BoundImplicitMeta,
    OutcomeCache,
    SignaturePolicy,
    SignedData,
    UnresolvedPolicyError,
    evaluate,
    parse_implicit_meta,
    parse_policy,
)
from tests.unit.policies.fakes import FakeMsp
from tests.unit.policies.test_properties import CheapMsp, policies, signatures

AND_PEERS = parse_policy("AND('A.peer', 'B.peer')")


def _data(sigs: list[tuple[str, str, str, bool]]) -> list[SignedData]:
    return [
        SignedData(f"{m}/{r}/{n}".encode(), b"payload", b"good" if good else b"bad")
        for m, r, n, good in sigs
    ]


# One cache for every example: outcomes cached by earlier examples must never leak
# into later ones (policies are keyed by object, signer sets by class counts).
_SHARED = OutcomeCache(CheapMsp(), max_entries=512)


@settings(derandomize=True, deadline=None, max_examples=600)
@given(policies, st.lists(signatures, min_size=1, max_size=4))
def test_cached_outcomes_equal_the_uncached_evaluator(
    policy: SignaturePolicy, signer_sets: list[list[tuple[str, str, str, bool]]]
) -> None:
    cache = OutcomeCache(CheapMsp())
    for sigs in [*signer_sets, *signer_sets]:  # the second round hits the cache
        data = _data(sigs)
        expected = evaluate(policy, data, CheapMsp())
        for got in (cache.evaluate(policy, data), _SHARED.evaluate(policy, data)):
            assert got.satisfied == expected.satisfied
            if not expected.satisfied:  # failures are the evaluator's whole result
                assert got == expected


@settings(derandomize=True, deadline=None, max_examples=300)
@given(
    st.sampled_from(["ANY", "ALL", "MAJORITY"]),
    st.lists(policies, min_size=1, max_size=3),
    st.lists(signatures, min_size=1, max_size=3),
)
def test_bound_implicit_meta_outcomes_equal_the_uncached_evaluator(
    rule: str, subs: list[SignaturePolicy], signer_sets: list[list[tuple[str, str, str, bool]]]
) -> None:
    bound = BoundImplicitMeta(
        parse_implicit_meta(f"{rule} Endorsement"), {f"org{i}": p for i, p in enumerate(subs)}
    )
    cache = OutcomeCache(CheapMsp())
    for sigs in [*signer_sets, *signer_sets]:
        data = _data(sigs)
        expected = evaluate(bound, data, CheapMsp())
        got = cache.evaluate(bound, data)
        assert got.satisfied == expected.satisfied
        if not expected.satisfied:
            assert got == expected


def test_every_call_verifies_and_a_bad_signature_still_fails() -> None:
    msp = FakeMsp()
    a, b = msp.signer("A", "peer"), msp.signer("B", "peer")
    cache = OutcomeCache(msp)
    for _ in range(3):
        assert cache.evaluate(AND_PEERS, [a.sign(), b.sign()]).satisfied
    assert (cache.hits, cache.misses) == (2, 1)
    # Miss: 2 verified by the cache + 2 by the evaluator; hits: 2 each.
    assert len(msp.verified) == 4 + 2 + 2
    forged = cache.evaluate(AND_PEERS, [a.sign(), b.forge()])
    assert not forged.satisfied
    assert "signature verification failed" in forged.reason
    assert forged == evaluate(AND_PEERS, [a.sign(), b.forge()], msp.with_fresh_logs())
    # Over other bytes than those signed: fails too.
    other = SignedData(b.serialized, b"other-payload", b.sign().signature)
    assert not cache.evaluate(AND_PEERS, [a.sign(), other]).satisfied


def test_a_different_signer_set_is_evaluated_not_reused() -> None:
    msp = FakeMsp()
    a, a2, b = msp.signer("A", "peer"), msp.signer("A", "peer", "2"), msp.signer("B", "peer")
    cache = OutcomeCache(msp)
    assert cache.evaluate(AND_PEERS, [a.sign(), b.sign()]).satisfied
    result = cache.evaluate(AND_PEERS, [a.sign(), a2.sign()])
    assert not result.satisfied
    assert "'B.peer'" in result.reason
    assert cache.misses == 2
    # The same classes from other identities reuse the outcome (still verified).
    assert cache.evaluate(AND_PEERS, [a2.sign(), b.sign()]).satisfied
    assert cache.hits == 1
    # Counts matter, not just classes: two distinct A peers for OutOf(2, A, A).
    two_a = parse_policy("OutOf(2, 'A.peer', 'A.member')")
    assert not cache.evaluate(two_a, [a.sign(), a.sign()]).satisfied
    assert cache.evaluate(two_a, [a.sign(), a2.sign()]).satisfied


def test_irrelevant_signers_are_neither_verified_nor_keyed() -> None:
    msp = FakeMsp()
    a, b, c = msp.signer("A", "peer"), msp.signer("B", "peer"), msp.signer("C", "peer")
    cache = OutcomeCache(msp)
    assert cache.evaluate(AND_PEERS, [a.sign(), b.sign(), c.forge()]).satisfied
    assert c.serialized not in {s for s, _d, _sig in msp.verified}


def test_an_unknown_identity_takes_the_exact_path() -> None:
    msp = FakeMsp()
    a, b = msp.signer("A", "peer"), msp.signer("B", "peer")
    cache = OutcomeCache(msp)
    data = [a.sign(), b.sign(), SignedData(b"nobody", b"tx-payload", b"sig")]
    got = cache.evaluate(AND_PEERS, data)
    assert got.satisfied
    assert len(got.rejected) == 1
    assert got == evaluate(AND_PEERS, data, msp.with_fresh_logs())


def test_evaluate_verified_is_cached_per_class() -> None:
    msp = FakeMsp()
    writers = parse_policy("OR('A.client', 'B.peer')")
    cache = OutcomeCache(msp)
    alice = msp.deserialize_identity(msp.signer("A", "client").serialized)
    alice2 = msp.deserialize_identity(msp.signer("A", "client", "2").serialized)
    admin = msp.deserialize_identity(msp.signer("A", "admin").serialized)
    assert cache.evaluate_verified(writers, alice).satisfied
    assert cache.evaluate_verified(writers, alice2).satisfied
    assert (cache.hits, cache.misses) == (1, 1)
    denied = cache.evaluate_verified(writers, admin)
    assert not denied.satisfied
    assert "not satisfied" in denied.reason
    assert not cache.evaluate_verified(writers, admin).satisfied
    assert msp.verified == []  # the caller verified; the cache never does here


def test_unbound_implicit_meta_still_raises() -> None:
    cache = OutcomeCache(FakeMsp())
    with pytest.raises(UnresolvedPolicyError):
        cache.evaluate(parse_implicit_meta("ANY Writers"), [])


def test_the_cache_is_bounded() -> None:
    msp = FakeMsp()
    a = msp.signer("A", "peer")
    cache = OutcomeCache(msp, max_entries=4)
    for i in range(10):
        policy = parse_policy(f"OR('A.peer', 'B{i}.peer')")
        assert cache.evaluate(policy, [a.sign()]).satisfied
        assert len(cache) <= 4
