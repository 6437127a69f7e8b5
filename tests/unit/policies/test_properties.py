"""The evaluator against a brute-force reference, over random policies and signers.

The reference enumerates every assignment of distinct valid identities to leaves,
which is exactly the semantics the evaluator promises, in the dumbest possible way.
Signatures are checked by a trivial fake here (the ECDSA path is covered elsewhere);
what is under test is deduplication, role matching and the assignment search.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from common.policies import (
    NOutOf,
    Principal,
    Role,
    SignaturePolicy,
    SignedBy,
    SignedData,
    evaluate,
    principals,
)

# Few orgs and roles, so that signers often collide with each other and with leaves.
MSPS = ["A", "B"]
ROLES = ["client", "peer", "admin"]


@dataclass(frozen=True)
class CheapIdentity:
    mspid: str
    role: str
    serialized: bytes
    log: list[tuple[bytes, bytes]] = field(compare=False)

    def verify(self, data: bytes, signature: bytes) -> None:
        self.log.append((self.serialized, signature))
        if signature != b"good":
            raise ValueError("bad signature")


@dataclass
class CheapMsp:
    log: list[tuple[bytes, bytes]] = field(default_factory=list)

    def deserialize_identity(self, serialized: bytes) -> CheapIdentity:
        mspid, role, _name = serialized.decode().split("/")
        if mspid == "X":
            raise ValueError("unknown MSP")
        return CheapIdentity(mspid, role, serialized, self.log)


def _gates(children: st.SearchStrategy[SignaturePolicy]) -> st.SearchStrategy[SignaturePolicy]:
    return st.lists(children, min_size=1, max_size=3).flatmap(
        lambda rules: st.integers(1, len(rules)).map(lambda n: NOutOf(n, tuple(rules)))
    )


leaves = st.builds(
    SignedBy,
    st.builds(
        Principal,
        st.sampled_from(MSPS),
        st.sampled_from([Role.MEMBER, Role.PEER, Role.ADMIN, Role.ORDERER]),
    ),
)
policies = st.recursive(leaves, _gates, max_leaves=5)

# (mspid, role, name, signature-is-good); X never deserializes.
signatures = st.lists(
    st.tuples(
        st.sampled_from([*MSPS, "X"]),
        st.sampled_from(ROLES),
        st.sampled_from(["1", "2", "3"]),
        st.booleans(),
    ),
    max_size=6,
)


def _tree(policy: SignaturePolicy, truth: list[bool]) -> bool:
    """Evaluate with leaf truth values consumed left to right."""
    if isinstance(policy, SignedBy):
        return truth.pop(0)
    return sum(_tree(rule, truth) for rule in policy.rules) >= policy.n


def reference(policy: SignaturePolicy, sigs: list[tuple[str, str, str, bool]]) -> bool:
    valid: dict[tuple[str, str, str], bool] = {}
    for mspid, role, name, good in sigs:
        if mspid != "X":
            valid[(mspid, role, name)] = valid.get((mspid, role, name), False) or good
    idents = [key for key, ok in valid.items() if ok]
    leaf_list = principals(policy)
    for choice in itertools.product(range(-1, len(idents)), repeat=len(leaf_list)):
        used = [c for c in choice if c >= 0]
        if len(used) != len(set(used)):
            continue
        if not all(
            c < 0 or p.matches(*idents[c][:2]) for p, c in zip(leaf_list, choice, strict=True)
        ):
            continue
        if _tree(policy, [c >= 0 for c in choice]):
            return True
    return False


@settings(derandomize=True, deadline=None, max_examples=1000)
@given(policies, signatures)
def test_evaluator_matches_brute_force(
    policy: SignaturePolicy, sigs: list[tuple[str, str, str, bool]]
) -> None:
    msp = CheapMsp()
    data = [
        SignedData(f"{m}/{r}/{n}".encode(), b"payload", b"good" if good else b"bad")
        for m, r, n, good in sigs
    ]
    result = evaluate(policy, data, msp)
    assert result.satisfied == reference(policy, sigs)
    assert result.satisfied == (result.reason == "")
    # Each distinct signature verified at most once; only for identities some leaf wants.
    assert len(msp.log) == len(set(msp.log))
    wanted = principals(policy)
    for serialized, _sig in msp.log:
        mspid, role, _name = serialized.decode().split("/")
        assert any(p.matches(mspid, role) for p in wanted)
    # Every rejection is a real failure: undeserializable or a bad signature.
    for rejection in result.rejected:
        mspid, _role, _name, good = sigs[rejection.index]
        assert mspid == "X" or not good


@settings(derandomize=True, deadline=None, max_examples=100)
@given(policies, signatures, st.randoms(use_true_random=False))
def test_signer_order_is_irrelevant(
    policy: SignaturePolicy, sigs: list[tuple[str, str, str, bool]], rng: random.Random
) -> None:
    data = [
        SignedData(f"{m}/{r}/{n}".encode(), b"payload", b"good" if good else b"bad")
        for m, r, n, good in sigs
    ]
    shuffled = list(data)
    rng.shuffle(shuffled)
    assert (
        evaluate(policy, data, CheapMsp()).satisfied
        == evaluate(policy, shuffled, CheapMsp()).satisfied
    )
