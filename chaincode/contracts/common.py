"""What every business contract shares: caller checks, policy parameters,
business dates, integer money arithmetic, idempotent requests and events.

DOMAIN §1: amounts are integers in minor units, rates in basis points, rounding
half-up once at the end, "now" is the transaction timestamp in the platform time
zone (Asia/Shanghai, UTC+8, no daylight saving), every mutating call carries a
`request_id`, and the regulator writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from chaincode.contract import JsonObject, canonical_json
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Stub, create_composite_key

PLATFORM_UTC_OFFSET = dt.timedelta(hours=8)

DEFAULT_POLICY: Mapping[str, Any] = {
    "max_tenor_days": 365,
    "soft_tenor_days": 183,
    "sme_payment_days": 60,
    "agency_payment_days": 30,
    "require_payee_acceptance": True,
    "require_registration": True,
    "allow_early_settlement": True,
    "allow_refactoring": False,
    "min_issue_amount": 1,
    "min_split_unit": 1,
    "max_children": 100,
    "max_depth": 5,
    "max_transfer_hops": 10,
    "grace_days": 0,
    "default_after_days": 30,
    "overdue_block_threshold": 1,
    "fee_to_sme_on_issue": 0,
    "fee_to_sme_on_accept": 0,
    "fee_to_sme_on_transfer": 0,
    "day_basis": {"CNY": 360, "USD": 360, "EUR": 360, "GBP": 365, "HKD": 365},
    "overdue_interest_bps_per_day": 5,
    "ltv_max_bps": 7000,
    "ltv_warn_bps": 7500,
    "ltv_call_bps": 8000,
    "ltv_liquidate_bps": 9000,
    "cure_days": 5,
    "attestation_max_age_days": {"domestic": 7, "overseas": 14},
    "valuation_max_age_days": 7,
    "fx_max_age_seconds": 300,
    "issuer_limit": {},
    "blocked_issuers": [],
}
"""DOMAIN §3.4 defaults, used where neither the ledger nor the channel config
has set a value."""

CURRENCY_EXPONENT: Mapping[str, int] = {
    "CNY": 2,
    "USD": 2,
    "EUR": 2,
    "HKD": 2,
    "GBP": 2,
    "JPY": 0,
    "KRW": 0,
}

POLICY_CURRENT_KEY = "policy~current"


# --- callers -------------------------------------------------------------------


def org_kinds(stub: Stub) -> Mapping[str, str]:
    """MSP id → org kind from the channel configuration."""
    raw = stub.get_channel_config_value("org_kinds")
    return json.loads(raw) if raw else {}


def kind_of(stub: Stub, mspid: str) -> str | None:
    return org_kinds(stub).get(mspid)


def require_writer(stub: Stub) -> Creator:
    """The caller of a mutating function; the regulator is refused (READ_ONLY_ROLE)."""
    creator = stub.get_creator()
    if kind_of(stub, creator.mspid) == "regulator":
        raise ChaincodeError("READ_ONLY_ROLE", f"{creator.mspid} is read-only on this channel")
    return creator


def require_kind(stub: Stub, creator: Creator, *kinds: str) -> None:
    """Refuse a caller whose org is not of one of `kinds` (NOT_AUTHORIZED)."""
    kind = kind_of(stub, creator.mspid)
    if kind not in kinds:
        raise ChaincodeError(
            "NOT_AUTHORIZED",
            f"{creator.mspid} ({kind or 'unknown kind'}) may not call this; "
            f"requires {' or '.join(kinds)}",
        )


def require_org(creator: Creator, mspid: str, code: str, what: str) -> None:
    if creator.mspid != mspid:
        raise ChaincodeError(code, f"{creator.mspid} is not {what} ({mspid})")


# --- policy parameters ---------------------------------------------------------


def current_policy(stub: Stub) -> tuple[int, Mapping[str, Any]]:
    """(version, parameters) in force: the ledger's latest governance version,
    else the channel's genesis parameters (version 0), over the DOMAIN defaults."""
    raw = stub.get_state(POLICY_CURRENT_KEY)
    if raw is not None:
        record = json.loads(raw)
        return int(record["version"]), {**DEFAULT_POLICY, **record["params"]}
    genesis = stub.get_channel_config_value("policy_parameters")
    params = json.loads(genesis) if genesis else {}
    return 0, {**DEFAULT_POLICY, **params}


# --- dates and money -----------------------------------------------------------


def tx_datetime(stub: Stub) -> dt.datetime:
    """The transaction timestamp in the platform time zone."""
    ts = stub.get_tx_timestamp()
    utc = dt.datetime.fromtimestamp(ts.seconds, tz=dt.UTC)
    return utc.astimezone(dt.timezone(PLATFORM_UTC_OFFSET))


def tx_date(stub: Stub) -> dt.date:
    """Today's business date (Asia/Shanghai) from the transaction timestamp."""
    return tx_datetime(stub).date()


def parse_date(value: Any, field: str) -> dt.date:
    if not isinstance(value, str):
        raise ChaincodeError("BAD_ARGUMENT", f"{field} must be a YYYY-MM-DD string")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ChaincodeError("BAD_ARGUMENT", f"{field}={value!r} is not YYYY-MM-DD") from None


def round_half_up(numerator: int, denominator: int) -> int:
    """`numerator / denominator` rounded half-up to an integer (both ≥ 0 expected)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


def amount(value: Any, field: str, *, minimum: int = 1) -> int:
    """An integer amount in minor units ≥ minimum; floats and bools are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChaincodeError("BAD_ARGUMENT", f"{field} must be an integer in minor units")
    if value < minimum:
        raise ChaincodeError("BAD_ARGUMENT", f"{field} must be ≥ {minimum}, got {value}")
    return value


def currency(value: Any, field: str = "currency") -> str:
    if value not in CURRENCY_EXPONENT:
        raise ChaincodeError("BAD_ARGUMENT", f"{field}={value!r} is not a supported currency")
    return str(value)


def text(args: JsonObject, field: str, *, required: bool = True) -> str:
    value = args.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise ChaincodeError("BAD_ARGUMENT", f"{field} must be a non-empty string")
    return value


# --- idempotency ---------------------------------------------------------------


def request_digest(fn_name: str, args: JsonObject) -> str:
    return hashlib.sha256(fn_name.encode() + b"\x00" + canonical_json(args)).hexdigest()


def replayed_result(stub: Stub, contract: str, fn_name: str, args: JsonObject) -> Any | None:
    """The original result when `request_id` was seen with the same payload;
    None when new. Same id, different payload → IDEMPOTENCY_CONFLICT."""
    request_id = text(args, "request_id")
    raw = stub.get_state(create_composite_key("request", [contract, request_id]))
    if raw is None:
        return None
    record = json.loads(raw)
    if record["digest"] != request_digest(fn_name, args):
        raise ChaincodeError(
            "IDEMPOTENCY_CONFLICT",
            f"request_id {request_id!r} was already used with a different payload",
        )
    return record["result"]


def remember_result(stub: Stub, contract: str, fn_name: str, args: JsonObject, result: Any) -> None:
    request_id = text(args, "request_id")
    record = {"digest": request_digest(fn_name, args), "result": result, "tx_id": stub.get_tx_id()}
    stub.put_state(create_composite_key("request", [contract, request_id]), canonical_json(record))


# --- audit events --------------------------------------------------------------


def state_hash(value: bytes | None) -> str:
    return hashlib.sha256(value).hexdigest() if value is not None else ""


def emit(stub: Stub, event_type: str, changes: list[JsonObject]) -> None:
    """One chaincode event per transaction carrying every state change
    (Fabric keeps only the last `set_event` of a transaction)."""
    creator = stub.get_creator()
    payload = {
        "type": event_type,
        "tx_id": stub.get_tx_id(),
        "actor": creator.mspid,
        "ts": stub.get_tx_timestamp().seconds,
        "changes": changes,
    }
    stub.set_event(event_type, canonical_json(payload))


# --- policy versions (added for the policy contract) -------------------------------


def policy_version_key(version: int) -> str:
    """The ledger key of one governance version's record: `policy~<version>`."""
    return f"policy~{version}"


def policy_at(stub: Stub, version: int) -> Mapping[str, Any]:
    """The parameters of policy `version` (0 = the channel's genesis parameters),
    over the DOMAIN defaults. Assets pin the version they were created under and
    keep its limits (DOMAIN §3.4); the block list is the exception (read it from
    `current_policy`). Unknown version → POLICY_VERSION_UNKNOWN."""
    if version == 0:
        genesis = stub.get_channel_config_value("policy_parameters")
        return {**DEFAULT_POLICY, **(json.loads(genesis) if genesis else {})}
    raw = stub.get_state(policy_version_key(version))
    if raw is None:
        raise ChaincodeError("POLICY_VERSION_UNKNOWN", f"no policy version {version}")
    return {**DEFAULT_POLICY, **json.loads(raw)["params"]}


def change_record(
    stub: Stub, change_type: str, key: str, before: bytes | None, after: bytes | None
) -> JsonObject:
    """One audit entry for `emit`: `{type, key, tx_id, actor, ts, before_hash,
    after_hash}` (DOMAIN §1 Audit); hashes are SHA-256 hex, "" for absent."""
    return {
        "type": change_type,
        "key": key,
        "tx_id": stub.get_tx_id(),
        "actor": stub.get_creator().mspid,
        "ts": stub.get_tx_timestamp().seconds,
        "before_hash": state_hash(before),
        "after_hash": state_hash(after),
    }
