"""The `policy` chaincode: versioned policy parameters changed only by governance
(DOMAIN §3.4, §6.3).

`UpdatePolicy` succeeds only with verified approvals by an admin of every MSP in
the channel's `governance_approvers` (by default the platform/core enterprise and
the regulator). The regulator *signs* approvals but never submits: like every
mutating call, `UpdatePolicy` refuses a regulator caller (READ_ONLY_ROLE).

Ledger keys: `policy~<version>` for each version and `policy~current` for the one
in force, both `{version, params, changes, approvals, tx_id}` where `params` is
the full parameter set. Version 0 is the channel's genesis `policy_parameters`.
Assets pin the version they were created under (`common.policy_at`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from chaincode.contract import Contract, JsonObject, canonical_json, evaluate, submit
from chaincode.contracts.common import (
    CURRENCY_EXPONENT,
    DEFAULT_POLICY,
    POLICY_CURRENT_KEY,
    change_record,
    current_policy,
    emit,
    policy_at,
    policy_version_key,
    remember_result,
    replayed_result,
    require_writer,
)
from chaincode.errors import ChaincodeError
from chaincode.stub import Stub

CONTRACT = "policy"


def approval_payload(version: int, params: Mapping[str, Any]) -> bytes:
    """The exact bytes an approver signs for `UpdatePolicy`.

    `version` is the NEW version (current + 1); `params` is exactly the `params`
    object passed to `UpdatePolicy` (the changes, not the merged set). The bytes are
    the UTF-8 encoding of the canonical JSON of `{"params": params, "version":
    version}`: object keys sorted at every level, separators `,` and `:` with no
    whitespace, non-ASCII characters written literally (not `\\u` escapes),
    integers in decimal. In Python:

        json.dumps({"version": version, "params": params}, sort_keys=True,
                   separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    e.g. version 1, params {"max_children": 50} →
    `{"params":{"max_children":50},"version":1}`. The signature is ECDSA with
    SHA-256 over these bytes by the approver's enrollment key (DER-encoded), and an
    approval is `{"identity": base64(serialized identity), "signature":
    base64(signature)}` (standard base64 with padding).
    """
    return canonical_json({"version": version, "params": dict(params)})


# --- parameter validation --------------------------------------------------------

Check = Callable[[str, Any], None]


def _int(lo: int, hi: int | None = None) -> Check:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            _bad(f"{name} must be an integer")
        if value < lo or (hi is not None and value > hi):
            _bad(f"{name}={value} is outside [{lo}, {hi if hi is not None else '∞'}]")

    return check


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        _bad(f"{name} must be a boolean")


def _day_basis(name: str, value: Any) -> None:
    if not isinstance(value, dict) or not value:
        _bad(f"{name} must be a non-empty object currency → 360|365")
    for ccy, basis in value.items():
        if ccy not in CURRENCY_EXPONENT or basis not in (360, 365) or isinstance(basis, bool):
            _bad(f"{name}: {ccy}={basis!r} (currency known, basis 360 or 365)")


def _age_days(name: str, value: Any) -> None:
    if not isinstance(value, dict) or set(value) != {"domestic", "overseas"}:
        _bad(f"{name} must be {{domestic, overseas}}")
    for key, days in value.items():
        _int(1, 365)(f"{name}.{key}", days)


def _issuer_limit(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        _bad(f"{name} must be an object MSP id → limit")
    for mspid, limit in value.items():
        if not isinstance(mspid, str) or not mspid:
            _bad(f"{name} keys must be MSP ids")
        _int(0)(f"{name}.{mspid}", limit)


def _msp_list(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        _bad(f"{name} must be a list of MSP ids")


def _zero(name: str, value: Any) -> None:
    # 77号 N3: no fees to SMEs for issuance, acceptance or transfer; a hard rule.
    if value != 0 or isinstance(value, bool):
        _bad(f"{name} must be 0 (no fees to SMEs, 77号)")


VALIDATORS: Mapping[str, Check] = {
    "max_tenor_days": _int(1, 365),
    "soft_tenor_days": _int(1, 365),
    "sme_payment_days": _int(1, 365),
    "agency_payment_days": _int(1, 60),
    "agency_payment_max": _int(1, 60),
    "require_payee_acceptance": _bool,
    "require_registration": _bool,
    "allow_early_settlement": _bool,
    "allow_refactoring": _bool,
    "transfer_requires_confirm": _bool,
    "min_issue_amount": _int(1),
    "min_split_unit": _int(1),
    "min_financing_days": _int(1, 365),
    "max_children": _int(2, 500),
    "max_depth": _int(1, 50),
    "max_transfer_hops": _int(1, 100),
    "grace_days": _int(0, 365),
    "default_after_days": _int(0, 3650),
    "overdue_block_threshold": _int(1, 1000),
    "fee_to_sme_on_issue": _zero,
    "fee_to_sme_on_accept": _zero,
    "fee_to_sme_on_transfer": _zero,
    "day_basis": _day_basis,
    "overdue_interest_bps_per_day": _int(0, 10_000),
    "ltv_max_bps": _int(5000, 7000),
    "ltv_warn_bps": _int(5000, 10_000),
    "ltv_call_bps": _int(5000, 10_000),
    "ltv_liquidate_bps": _int(5000, 10_000),
    "cure_days": _int(0, 365),
    "attestation_max_age_days": _age_days,
    "valuation_max_age_days": _int(1, 365),
    "fx_max_age_seconds": _int(1, 86_400),
    "issuer_limit": _issuer_limit,
    "blocked_issuers": _msp_list,
}
"""One check per known parameter; a key without a validator is refused."""


def validate_params(params: Mapping[str, Any], changed: Mapping[str, Any]) -> None:
    """Check a FULL parameter set (BAD_POLICY_PARAMS): every changed key known,
    every known key in range, and the cross-field orders soft ≤ max tenor and
    ltv_max ≤ warn ≤ call ≤ liquidate. Keys the genesis set carries without a
    validator are kept as they are, never introduced by governance."""
    for name in changed:
        if name not in VALIDATORS:
            _bad(f"unknown policy parameter {name!r}")
    for name, value in params.items():
        check = VALIDATORS.get(name)
        if check is not None:
            check(name, value)
    if params["soft_tenor_days"] > params["max_tenor_days"]:
        _bad("soft_tenor_days must not exceed max_tenor_days")
    ladder = [params[k] for k in ("ltv_max_bps", "ltv_warn_bps", "ltv_call_bps")]
    ladder.append(params["ltv_liquidate_bps"])
    if ladder != sorted(ladder):
        _bad("need ltv_max_bps ≤ ltv_warn_bps ≤ ltv_call_bps ≤ ltv_liquidate_bps")


def _bad(message: str) -> Any:
    raise ChaincodeError("BAD_POLICY_PARAMS", message)


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise ChaincodeError("BAD_ARGUMENT", f"{field} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ChaincodeError("BAD_ARGUMENT", f"{field} is not valid base64") from None


class PolicyContract(Contract):
    """Governance of the policy-parameter registry."""

    name = "policy"

    @evaluate
    def get_policy(self, stub: Stub, args: JsonObject) -> Any:
        """`{version?}` → `{version, params}`: the version in force, or the one
        asked for (POLICY_VERSION_UNKNOWN when it doesn't exist). Open to all."""
        if "version" in args:
            version = args["version"]
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise ChaincodeError("BAD_ARGUMENT", "version must be an integer ≥ 0")
            return {"version": version, "params": dict(policy_at(stub, version))}
        version, params = current_policy(stub)
        return {"version": version, "params": dict(params)}

    @submit
    def update_policy(self, stub: Stub, args: JsonObject) -> Any:
        """`{request_id, params, approvals: [{identity, signature}]}` → `{version}`.

        `params` holds the parameters to change; they are merged over the current
        set and the result is validated (BAD_POLICY_PARAMS). Each approval is
        verified with `stub.check_signature` over `approval_payload(current + 1,
        params)` (INVALID_SIGNATURE); the verified signers must include an admin
        (role "admin") of every MSP in `governance_approvers`
        (POLICY_APPROVAL_MISSING). Effects: `policy~<n>` and `policy~current`;
        event `PolicyUpdated`.
        """
        creator = require_writer(stub)
        keyed = {**args, "_caller": creator.mspid}
        replay = replayed_result(stub, CONTRACT, "UpdatePolicy", keyed)
        if replay is not None:
            return replay
        changes = args.get("params")
        if not isinstance(changes, dict) or not changes:
            raise ChaincodeError("BAD_POLICY_PARAMS", "params must be a non-empty object")
        current_version, current = current_policy(stub)
        merged = {**current, **changes}
        validate_params(merged, changes)
        version = current_version + 1
        signers = _verified_admins(stub, args.get("approvals"), approval_payload(version, changes))
        raw = stub.get_channel_config_value("governance_approvers")
        required = sorted(json.loads(raw) if raw else [])
        missing = [msp for msp in required if msp not in signers]
        if not required or missing:
            raise ChaincodeError(
                "POLICY_APPROVAL_MISSING",
                f"no admin approval from {', '.join(missing) or 'a governance approver'}",
            )
        record = {
            "version": version,
            "params": merged,
            "changes": changes,
            "approvals": sorted(signers.values(), key=lambda a: (a["mspid"], a["id"])),
            "tx_id": stub.get_tx_id(),
        }
        raw_record = canonical_json(record)
        before = stub.get_state(POLICY_CURRENT_KEY)
        stub.put_state(policy_version_key(version), raw_record)
        stub.put_state(POLICY_CURRENT_KEY, raw_record)
        emit(
            stub,
            "PolicyUpdated",
            [
                change_record(stub, "Policy", policy_version_key(version), None, raw_record),
                change_record(stub, "Policy", POLICY_CURRENT_KEY, before, raw_record),
            ],
        )
        result = {"version": version, "changed": sorted(changes)}
        remember_result(stub, CONTRACT, "UpdatePolicy", keyed, result)
        return result


def _verified_admins(stub: Stub, approvals: Any, payload: bytes) -> dict[str, JsonObject]:
    """MSP id → signer for every approval whose signature verifies and whose
    signer is an admin; any bad signature fails the whole call."""
    if not isinstance(approvals, list):
        raise ChaincodeError("BAD_ARGUMENT", "approvals must be a list")
    admins: dict[str, JsonObject] = {}
    for i, approval in enumerate(approvals):
        if not isinstance(approval, dict):
            raise ChaincodeError("BAD_ARGUMENT", f"approvals[{i}] must be an object")
        identity = _b64(approval.get("identity"), f"approvals[{i}].identity")
        signature = _b64(approval.get("signature"), f"approvals[{i}].signature")
        signer = stub.check_signature(identity, payload, signature)
        if signer.role == "admin":
            admins.setdefault(signer.mspid, {"mspid": signer.mspid, "id": signer.enrollment_id})
    return admins


__all__ = ["DEFAULT_POLICY", "PolicyContract", "approval_payload", "validate_params"]
