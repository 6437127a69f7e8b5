"""The policy contract: governance approvals (DOMAIN §8 scenario 38), parameter
validation, version pinning."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chaincode.contracts.policy import PolicyContract, approval_payload
from chaincode.stub import Creator
from tests.unit.contracts.conftest import Orgs
from tests.unit.contracts.ledger import Identity, TestLedger
from tests.unit.contracts.receivable_support import Receivables

POLICY = PolicyContract()


def _approval(identity: Identity, version: int, params: dict[str, Any]) -> dict[str, str]:
    signature = identity.sign(approval_payload(version, params))
    return {
        "identity": base64.b64encode(identity.serialized).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def _update(
    ledger: TestLedger,
    params: dict[str, Any],
    signers: list[Identity],
    *,
    version: int = 1,
    submitter: Creator | None = None,
    request_id: str = "gov-1",
) -> Any:
    args = {
        "request_id": request_id,
        "params": params,
        "approvals": [_approval(s, version, params) for s in signers],
    }
    return ledger.invoke(POLICY, "UpdatePolicy", args, creator=submitter or Orgs.core_admin)


def _rejected(ledger: TestLedger, code: str, *args: Any, **kwargs: Any) -> None:
    before = ledger.state_hash()
    with pytest.raises(Exception, match=code) as err:
        _update(ledger, *args, **kwargs)
    assert getattr(err.value, "code", None) == code
    assert ledger.state_hash() == before


def test_approval_payload_bytes_are_canonical() -> None:
    assert approval_payload(1, {"max_children": 50, "blocked_issuers": ["X"]}) == (
        b'{"params":{"blocked_issuers":["X"],"max_children":50},"version":1}'
    )


def test_get_policy_defaults_to_genesis(ledger: TestLedger, orgs: Orgs) -> None:
    ledger.set_policy_parameters({"max_children": 20})
    current = ledger.query(POLICY, "GetPolicy", {}, creator=orgs.regulator)
    assert current["version"] == 0
    assert current["params"]["max_children"] == 20
    assert current["params"]["max_tenor_days"] == 365


def test_s38_policy_change_needs_platform_and_regulator_admins(
    ledger: TestLedger, orgs: Orgs
) -> None:
    rc = Receivables(ledger)
    core = ledger.new_identity(orgs.core_admin)
    regulator = ledger.new_identity(orgs.regulator_admin)
    rc.issue("OLD", amount=1_000)
    change = {"max_children": 3}
    _rejected(ledger, "POLICY_APPROVAL_MISSING", change, [core])
    assert _update(ledger, change, [core, regulator]) == {"version": 1, "changed": ["max_children"]}
    assert ledger.query(POLICY, "GetPolicy", {}, creator=orgs.s1)["params"]["max_children"] == 3
    # The old voucher keeps the limits of version 0; a new one gets version 1's.
    rc.submit("SplitVoucher", orgs.s1, voucher_id="OLD", amounts=[200] * 5)
    assert rc.issue("NEW", amount=1_000)["policy_version"] == 1
    rc.rejects("SPLIT_LIMIT", "SplitVoucher", orgs.s1, voucher_id="NEW", amounts=[200] * 5)
    assert ledger.events_of("PolicyUpdated")


def test_non_admin_or_wrong_payload_signatures_fail(ledger: TestLedger, orgs: Orgs) -> None:
    core = ledger.new_identity(orgs.core_admin)
    regulator_client = ledger.new_identity(orgs.regulator)  # not an admin
    regulator = ledger.new_identity(orgs.regulator_admin)
    _rejected(ledger, "POLICY_APPROVAL_MISSING", {"grace_days": 2}, [core, regulator_client])
    # Signed for the wrong version: the signature does not verify.
    _rejected(ledger, "INVALID_SIGNATURE", {"grace_days": 2}, [core, regulator], version=2)
    stranger = TestLedger().new_identity(Creator("RegulatorMSP", "admin", "mallory"), seed=7)
    _rejected(ledger, "INVALID_SIGNATURE", {"grace_days": 2}, [core, stranger])


def test_regulator_may_not_submit_policy_change(ledger: TestLedger, orgs: Orgs) -> None:
    signers = [ledger.new_identity(orgs.core_admin), ledger.new_identity(orgs.regulator_admin)]
    _rejected(ledger, "READ_ONLY_ROLE", {"grace_days": 2}, signers, submitter=orgs.regulator_admin)


@pytest.mark.parametrize(
    "params",
    [
        {"ltv_max_bps": 7100},
        {"ltv_max_bps": 4000},
        {"max_tenor_days": 400},
        {"soft_tenor_days": 300, "max_tenor_days": 200},
        {"max_children": "many"},
        {"require_registration": 1},
        {"fee_to_sme_on_issue": 100},
        {"day_basis": {"CNY": 365.25}},
        {"no_such_parameter": 1},
        {"ltv_warn_bps": 6000},
    ],
)
def test_bad_policy_params(ledger: TestLedger, orgs: Orgs, params: dict[str, Any]) -> None:
    signers = [ledger.new_identity(orgs.core_admin), ledger.new_identity(orgs.regulator_admin)]
    _rejected(ledger, "BAD_POLICY_PARAMS", params, signers)


def test_versions_increase_and_old_versions_stay_readable(ledger: TestLedger, orgs: Orgs) -> None:
    signers = [ledger.new_identity(orgs.core_admin), ledger.new_identity(orgs.regulator_admin)]
    _update(ledger, {"grace_days": 3}, signers)
    _update(ledger, {"blocked_issuers": ["CoreMSP"]}, signers, version=2, request_id="gov-2")
    first = ledger.query(POLICY, "GetPolicy", {"version": 1}, creator=orgs.s1)["params"]
    assert (first["grace_days"], first["blocked_issuers"]) == (3, [])
    current = ledger.query(POLICY, "GetPolicy", {}, creator=orgs.s1)
    assert current["version"] == 2
    assert current["params"]["grace_days"] == 3
    record = ledger.get("policy~2")
    assert {a["mspid"] for a in record["approvals"]} == {"CoreMSP", "RegulatorMSP"}
    # The block list applies at once, whatever version an issuer's vouchers use.
    Receivables(ledger).rejects(
        "ISSUER_BLOCKED",
        "IssueVoucher",
        orgs.core,
        voucher_id="X",
        payee="Supplier1MSP",
        amount=1,
        currency="CNY",
        maturity_date="2025-08-01",
        underlying=json.loads(json.dumps({"contract_no": "c", "contract_hash": "0" * 64})),
    )
