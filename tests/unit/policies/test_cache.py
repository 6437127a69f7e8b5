from __future__ import annotations

import pytest

from common.policies import (
    ImplicitMetaPolicy,
    PolicyCache,
    PolicySyntaxError,
    UnknownOrgError,
    compile_policy,
    parse_signature_policy,
)


def test_compile_policy_parses_once() -> None:
    text = "AND('CacheMSP.peer', 'OtherMSP.peer')"
    first = compile_policy(text)
    assert compile_policy(text) is first
    assert first == parse_signature_policy(text)
    assert compile_policy(text, ["CacheMSP", "OtherMSP"]) == first


def test_cache_key_includes_known_orgs() -> None:
    text = "OR('CacheMSP.peer')"
    assert compile_policy(text, {"CacheMSP"}) == parse_signature_policy(text)
    with pytest.raises(UnknownOrgError):
        compile_policy(text, {"SomeoneElse"})


def test_policy_cache() -> None:
    cache = PolicyCache({"A", "B"})
    assert cache.known_msps == frozenset({"A", "B"})
    assert cache.get("OR('A.peer', 'B.peer')") is cache.get("OR('A.peer', 'B.peer')")
    assert isinstance(cache.get("ANY Readers"), ImplicitMetaPolicy)
    assert cache.signature("'A.peer'") == parse_signature_policy("'A.peer'")
    with pytest.raises(UnknownOrgError):
        cache.get("'C.peer'")
    with pytest.raises(PolicySyntaxError) as info:
        cache.signature("  ANY Readers")
    assert info.value.position == 2
    with pytest.raises(PolicySyntaxError):
        cache.get("AND(")


def test_unrestricted_cache() -> None:
    assert PolicyCache().get("'Anyone.member'") == parse_signature_policy("'Anyone.member'")
