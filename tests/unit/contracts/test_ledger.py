"""The test ledger itself behaves like a Fabric peer: reads see committed state
only, errors commit nothing, MVCC rejects stale reads, signatures are real."""

from __future__ import annotations

from typing import Any

import pytest

from chaincode.contract import Contract, JsonObject, evaluate, submit
from chaincode.errors import ChaincodeError
from chaincode.stub import Stub
from tests.unit.contracts.conftest import Orgs
from tests.unit.contracts.ledger import MVCC_READ_CONFLICT, VALID, TestLedger


class Counter(Contract):
    name = "counter"

    @submit
    def bump(self, stub: Stub, args: JsonObject) -> Any:
        raw = stub.get_state("n")
        n = int(raw or b"0") + 1
        stub.put_state("n", str(n).encode())
        # Own writes are invisible to reads within the same transaction.
        assert stub.get_state("n") == raw
        stub.set_event("Bumped", b'{"n":%d}' % n)
        if args.get("fail"):
            raise ChaincodeError("NOPE", "asked to fail")
        return n

    @evaluate
    def read(self, stub: Stub, args: JsonObject) -> Any:
        return [k for k, _ in stub.get_state_by_range("", "")]


def test_invoke_commits_and_error_commits_nothing(ledger: TestLedger, orgs: Orgs) -> None:
    assert ledger.invoke(Counter(), "Bump", {}, creator=orgs.s1) == 1
    before = ledger.state_hash()
    with pytest.raises(ChaincodeError) as err:
        ledger.invoke(Counter(), "Bump", {"fail": True}, creator=orgs.s1)
    assert err.value.code == "NOPE"
    assert ledger.state_hash() == before
    assert [e.payload for e in ledger.events] == [{"n": 1}]
    history = list(ledger._history["n"])
    assert [h.value for h in history] == [b"1"]


def test_mvcc_conflict_in_one_block(ledger: TestLedger, orgs: Orgs) -> None:
    first = ledger.simulate(Counter(), "Bump", {}, creator=orgs.s1)
    second = ledger.simulate(Counter(), "Bump", {}, creator=orgs.s2)
    assert ledger.commit_block([first, second]) == [VALID, MVCC_READ_CONFLICT]
    assert ledger.get("n") == 1


def test_check_signature_uses_real_ecdsa(ledger: TestLedger, orgs: Orgs) -> None:
    identity = ledger.new_identity(orgs.core_admin)
    signature = identity.sign(b"payload")
    assert ledger.check_signature(identity.serialized, b"payload", signature) == orgs.core_admin
    with pytest.raises(ChaincodeError, match="INVALID_SIGNATURE"):
        ledger.check_signature(identity.serialized, b"other", signature)
    with pytest.raises(ChaincodeError, match="INVALID_SIGNATURE"):
        ledger.check_signature(b"{}", b"payload", signature)
