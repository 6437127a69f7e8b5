"""Interest-subsidy and risk-compensation programmes (桂惠贷-style, DOMAIN §3.3).

Records (composite keys):

* `subsidy_program~{program_id}`: `{region, min_loan, subsidy_bps,
  annual_cap_per_borrower, comp_ratio_bps, fund_balance, currency, admin}`;
  `admin` is the govfund org that created it and alone approves its claims.
* `subsidy_loan~{bank}~{loan_id}`: a bank loan registered in a programme.
* `subsidy_claim~{bank}~{loan_id}~{quarter}`: one interest-subsidy claim per
  loan per quarter, `subsidy = round_half_up(principal × subsidy_bps × days /
  (10_000 × 360))`.
* `subsidy_ytd~{program_id}~{borrower}~{year}`: Σ claimed subsidy (pending and
  approved) of a borrower in a year; claims beyond `annual_cap_per_borrower`
  are SUBSIDY_CAP.
* `subsidy_comp~{bank}~{loan_id}`: the one risk-compensation claim of a
  defaulted loan, `round_half_up(loss × comp_ratio_bps / 10_000)` capped by the
  fund balance; the fund decreases when it is approved.

Invariants: `fund_balance ≥ 0`; every year-to-date total ≤ the cap; at most
one claim per loan and quarter and one compensation per loan. Subsidies are
paid from the regional budget, off-chain (`payment_ref`), not from the fund.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from chaincode.contract import Contract, JsonObject, evaluate, submit
from chaincode.contracts import common
from chaincode.contracts.warehouse_state import TxState, integer, key, known_party, transact
from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Stub

CONTRACT = "subsidy"
BPS = 10_000
DAY_BASIS = 360
DEFAULT_COMP_RATIO_BPS = 4000

PENDING = "PENDING"
APPROVED = "APPROVED"
REGISTERED = "REGISTERED"
DEFAULTED = "DEFAULTED"


def _program_key(program_id: str) -> str:
    return key("subsidy_program", program_id)


def _loan_key(bank: str, loan_id: str) -> str:
    return key("subsidy_loan", bank, loan_id)


def _claim_key(bank: str, loan_id: str, quarter: str) -> str:
    return key("subsidy_claim", bank, loan_id, quarter)


def _comp_key(bank: str, loan_id: str) -> str:
    return key("subsidy_comp", bank, loan_id)


def _program(tx: TxState, program_id: str) -> JsonObject:
    program = tx.get(_program_key(program_id))
    if program is None:
        raise ChaincodeError("PROGRAM_NOT_FOUND", f"no subsidy programme {program_id!r}")
    return program


def _quarter_bounds(quarter: str) -> tuple[dt.date, dt.date]:
    """`YYYYQn` → [first day, last day] of that quarter."""
    if (
        len(quarter) != 6
        or quarter[4] != "Q"
        or not quarter[:4].isdigit()
        or quarter[5] not in "1234"
    ):
        raise ChaincodeError("BAD_ARGUMENT", f"quarter {quarter!r} is not like 2025Q1")
    year, number = int(quarter[:4]), int(quarter[5])
    start = dt.date(year, 3 * number - 2, 1)
    end = dt.date(year + 1, 1, 1) if number == 4 else dt.date(year, 3 * number + 1, 1)
    return start, end - dt.timedelta(days=1)


def _require_admin(stub: Stub, creator: Creator, program: JsonObject) -> None:
    common.require_kind(stub, creator, "govfund")
    if creator.mspid != program["admin"]:
        raise ChaincodeError("NOT_AUTHORIZED", f"{creator.mspid} does not run this programme")


def _bank_loan(tx: TxState, stub: Stub, creator: Creator, args: JsonObject) -> JsonObject:
    """The calling bank's registered loan; an unregistered loan is ineligible."""
    common.require_kind(stub, creator, "bank")
    loan_id = common.text(args, "loan_id")
    loan = tx.get(_loan_key(creator.mspid, loan_id))
    if loan is None:
        raise ChaincodeError(
            "SUBSIDY_INELIGIBLE", f"loan {loan_id} of {creator.mspid} is not in a programme"
        )
    return loan


class SubsidyContract(Contract):
    """Chaincode `subsidy`: programmes, registered loans, claims, compensation."""

    name: ClassVar[str] = CONTRACT

    @submit
    def create_program(self, stub: Stub, args: JsonObject) -> JsonObject:
        """A govfund org opens a programme: `program_id`, `region`, `currency`,
        `min_loan`, `subsidy_bps` (1..10000), `annual_cap_per_borrower`,
        `comp_ratio_bps` (default 4000), `fund_balance` (≥ 0), optional
        `rate_cut_bps_range [lo, hi]` and `eligible_products[]`."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            common.require_kind(stub, creator, "govfund")
            program_id = common.text(args, "program_id")
            if tx.get(_program_key(program_id)) is not None:
                raise ChaincodeError("PROGRAM_EXISTS", f"programme {program_id} exists")
            products = args.get("eligible_products", [])
            if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
                raise ChaincodeError("BAD_ARGUMENT", "eligible_products must be a list of strings")
            rate_range = args.get("rate_cut_bps_range")
            if rate_range is not None and (
                not isinstance(rate_range, list)
                or len(rate_range) != 2
                or integer(rate_range[0], "rate_cut_bps_range[0]")
                > integer(rate_range[1], "rate_cut_bps_range[1]")
            ):
                raise ChaincodeError("BAD_ARGUMENT", "rate_cut_bps_range must be [lo, hi]")
            program = {
                "program_id": program_id,
                "admin": creator.mspid,
                "region": common.text(args, "region"),
                "currency": common.currency(args.get("currency")),
                "min_loan": common.amount(args.get("min_loan"), "min_loan"),
                "subsidy_bps": integer(
                    args.get("subsidy_bps"), "subsidy_bps", minimum=1, maximum=BPS
                ),
                "annual_cap_per_borrower": common.amount(
                    args.get("annual_cap_per_borrower"), "annual_cap_per_borrower"
                ),
                "comp_ratio_bps": integer(
                    args.get("comp_ratio_bps", DEFAULT_COMP_RATIO_BPS),
                    "comp_ratio_bps",
                    maximum=BPS,
                ),
                "fund_balance": common.amount(args.get("fund_balance"), "fund_balance", minimum=0),
                "rate_cut_bps_range": rate_range,
                "eligible_products": products,
                "claim_period": "QUARTER",
            }
            tx.put(_program_key(program_id), program)
            return "SubsidyProgramCreated", program

        return transact(stub, CONTRACT, "CreateProgram", args, body)

    @submit
    def register_loan(self, stub: Stub, args: JsonObject) -> JsonObject:
        """A bank registers loan `loan_id` in `program_id`: `borrower`,
        `principal`, `currency`, `rate_bps`, `start_date`, `maturity_date`,
        `region`, optional `product`. SUBSIDY_INELIGIBLE when below `min_loan`,
        outside the region, of another currency or a product not in the list."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            common.require_kind(stub, creator, "bank")
            program = _program(tx, common.text(args, "program_id"))
            loan_id = common.text(args, "loan_id")
            if tx.get(_loan_key(creator.mspid, loan_id)) is not None:
                raise ChaincodeError("LOAN_EXISTS", f"loan {loan_id} is already registered")
            principal = common.amount(args.get("principal"), "principal")
            currency = common.currency(args.get("currency", program["currency"]))
            start = common.parse_date(args.get("start_date"), "start_date")
            maturity = common.parse_date(args.get("maturity_date"), "maturity_date")
            if maturity <= start:
                raise ChaincodeError("BAD_ARGUMENT", "maturity_date must be after start_date")
            region = common.text(args, "region")
            product = common.text(args, "product", required=False)
            reasons = []
            if currency != program["currency"]:
                reasons.append(f"currency {currency} ≠ {program['currency']}")
            if principal < program["min_loan"]:
                reasons.append(f"principal {principal} < minimum {program['min_loan']}")
            if region != program["region"]:
                reasons.append(f"region {region} ≠ {program['region']}")
            if program["eligible_products"] and product not in program["eligible_products"]:
                reasons.append(f"product {product!r} not eligible")
            if reasons:
                raise ChaincodeError("SUBSIDY_INELIGIBLE", "; ".join(reasons))
            loan = {
                "program_id": program["program_id"],
                "bank": creator.mspid,
                "loan_id": loan_id,
                "borrower": known_party(stub, common.text(args, "borrower"), "borrower"),
                "principal": principal,
                "currency": currency,
                "rate_bps": integer(args.get("rate_bps"), "rate_bps", maximum=BPS),
                "start_date": start.isoformat(),
                "maturity_date": maturity.isoformat(),
                "region": region,
                "product": product,
                "status": REGISTERED,
            }
            tx.put(_loan_key(creator.mspid, loan_id), loan)
            return "SubsidyLoanRegistered", loan

        return transact(stub, CONTRACT, "RegisterLoan", args, body)

    @submit
    def claim_subsidy(self, stub: Stub, args: JsonObject) -> JsonObject:
        """The lending bank claims a quarter's subsidy: `loan_id`, `quarter`
        (`YYYYQn`), `interest_days` (1.. the days the loan ran in that quarter).
        CLAIM_EXISTS for a second claim of the quarter; SUBSIDY_CAP when the
        borrower's year-to-date subsidy would exceed the annual cap."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            loan = _bank_loan(tx, stub, creator, args)
            program = _program(tx, loan["program_id"])
            quarter = common.text(args, "quarter")
            q_start, q_end = _quarter_bounds(quarter)
            first = max(q_start, dt.date.fromisoformat(loan["start_date"]))
            # 算头不算尾: interest accrues up to the day before maturity.
            last = min(q_end, dt.date.fromisoformat(loan["maturity_date"]) - dt.timedelta(days=1))
            if last < first:
                raise ChaincodeError("SUBSIDY_INELIGIBLE", f"loan did not run in {quarter}")
            days = integer(
                args.get("interest_days"),
                "interest_days",
                minimum=1,
                maximum=(last - first).days + 1,
            )
            claim_k = _claim_key(creator.mspid, loan["loan_id"], quarter)
            if tx.get(claim_k) is not None:
                raise ChaincodeError("CLAIM_EXISTS", f"{quarter} was already claimed")
            subsidy = common.round_half_up(
                loan["principal"] * program["subsidy_bps"] * days, BPS * DAY_BASIS
            )
            ytd_k = key("subsidy_ytd", program["program_id"], loan["borrower"], quarter[:4])
            ytd = (tx.get(ytd_k) or {"claimed": 0})["claimed"]
            if ytd + subsidy > program["annual_cap_per_borrower"]:
                raise ChaincodeError(
                    "SUBSIDY_CAP",
                    f"{loan['borrower']} has {ytd} this year; +{subsidy} exceeds the cap "
                    f"{program['annual_cap_per_borrower']}",
                )
            tx.put(ytd_k, {"claimed": ytd + subsidy})
            claim = {
                "program_id": program["program_id"],
                "bank": creator.mspid,
                "loan_id": loan["loan_id"],
                "borrower": loan["borrower"],
                "quarter": quarter,
                "interest_days": days,
                "subsidy": subsidy,
                "currency": program["currency"],
                "status": PENDING,
                "payment_ref": None,
                "claimed_tx_id": stub.get_tx_id(),
            }
            tx.put(claim_k, claim)
            return "SubsidyClaimed", claim

        return transact(stub, CONTRACT, "ClaimSubsidy", args, body)

    @submit
    def approve_claim(self, stub: Stub, args: JsonObject) -> JsonObject:
        """The programme's govfund org approves claim `{bank, loan_id, quarter}`
        with the off-chain `payment_ref` (paid to the enterprise)."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            claim_k = _claim_key(
                common.text(args, "bank"),
                common.text(args, "loan_id"),
                common.text(args, "quarter"),
            )
            claim = tx.get(claim_k)
            if claim is None:
                raise ChaincodeError("CLAIM_NOT_FOUND", "no such subsidy claim")
            _require_admin(stub, creator, _program(tx, claim["program_id"]))
            if claim["status"] != PENDING:
                raise ChaincodeError("INVALID_STATE", f"claim is {claim['status']}")
            claim["status"] = APPROVED
            claim["payment_ref"] = common.text(args, "payment_ref")
            tx.put(claim_k, claim)
            return "SubsidyApproved", claim

        return transact(stub, CONTRACT, "ApproveClaim", args, body)

    @submit
    def mark_loan_defaulted(self, stub: Stub, args: JsonObject) -> JsonObject:
        """The lending bank records that registered loan `loan_id` defaulted on
        `default_date` (the precondition of risk compensation)."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            loan = _bank_loan(tx, stub, creator, args)
            if loan["status"] != REGISTERED:
                raise ChaincodeError("INVALID_STATE", f"loan is {loan['status']}")
            default_date = common.parse_date(args.get("default_date"), "default_date")
            if default_date > common.tx_date(stub):
                raise ChaincodeError("BAD_ARGUMENT", "default_date is in the future")
            loan["status"] = DEFAULTED
            loan["default_date"] = default_date.isoformat()
            tx.put(_loan_key(creator.mspid, loan["loan_id"]), loan)
            return "SubsidyLoanDefaulted", loan

        return transact(stub, CONTRACT, "MarkLoanDefaulted", args, body)

    @submit
    def claim_risk_compensation(self, stub: Stub, args: JsonObject) -> JsonObject:
        """The bank claims compensation on its DEFAULTED registered loan:
        `loss` (≤ principal); claimed = min(round_half_up(loss × comp_ratio_bps
        / 10_000), fund_balance). One per loan (CLAIM_EXISTS); LOAN_NOT_DEFAULTED
        otherwise; FUND_EXHAUSTED when the fund is empty."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            loan = _bank_loan(tx, stub, creator, args)
            if loan["status"] != DEFAULTED:
                raise ChaincodeError(
                    "LOAN_NOT_DEFAULTED", f"loan {loan['loan_id']} is not defaulted"
                )
            program = _program(tx, loan["program_id"])
            loss = common.amount(args.get("loss"), "loss")
            if loss > loan["principal"]:
                raise ChaincodeError("BAD_ARGUMENT", "loss exceeds the principal")
            comp_k = _comp_key(creator.mspid, loan["loan_id"])
            if tx.get(comp_k) is not None:
                raise ChaincodeError("CLAIM_EXISTS", "compensation was already claimed")
            if program["fund_balance"] == 0:
                raise ChaincodeError("FUND_EXHAUSTED", "the compensation fund is empty")
            by_ratio = common.round_half_up(loss * program["comp_ratio_bps"], BPS)
            claim = {
                "program_id": program["program_id"],
                "bank": creator.mspid,
                "loan_id": loan["loan_id"],
                "borrower": loan["borrower"],
                "loss": loss,
                "by_ratio": by_ratio,
                "claimed": min(by_ratio, program["fund_balance"]),
                "approved": None,
                "currency": program["currency"],
                "status": PENDING,
                "payment_ref": None,
            }
            tx.put(comp_k, claim)
            return "RiskCompensationClaimed", claim

        return transact(stub, CONTRACT, "ClaimRiskCompensation", args, body)

    @submit
    def approve_compensation(self, stub: Stub, args: JsonObject) -> JsonObject:
        """The programme's govfund org approves compensation `{bank, loan_id}`
        with `payment_ref`; pays min(claimed, fund_balance now) out of the fund."""

        def body(tx: TxState, creator: Creator) -> tuple[str, JsonObject]:
            comp_k = _comp_key(common.text(args, "bank"), common.text(args, "loan_id"))
            claim = tx.get(comp_k)
            if claim is None:
                raise ChaincodeError("CLAIM_NOT_FOUND", "no such compensation claim")
            program = _program(tx, claim["program_id"])
            _require_admin(stub, creator, program)
            if claim["status"] != PENDING:
                raise ChaincodeError("INVALID_STATE", f"claim is {claim['status']}")
            paid = min(claim["claimed"], program["fund_balance"])
            program["fund_balance"] -= paid
            claim["approved"] = paid
            claim["status"] = APPROVED
            claim["payment_ref"] = common.text(args, "payment_ref")
            tx.put(_program_key(program["program_id"]), program)
            tx.put(comp_k, claim)
            tx.note(_program_key(program["program_id"]), fund_balance=program["fund_balance"])
            return "RiskCompensationApproved", claim

        return transact(stub, CONTRACT, "ApproveCompensation", args, body)

    # --- queries ----------------------------------------------------------------------

    @evaluate
    def get_program(self, stub: Stub, args: JsonObject) -> JsonObject:
        return _program(TxState(stub), common.text(args, "program_id"))

    @evaluate
    def get_loan(self, stub: Stub, args: JsonObject) -> JsonObject:
        loan = TxState(stub).get(_loan_key(common.text(args, "bank"), common.text(args, "loan_id")))
        if loan is None:
            raise ChaincodeError("LOAN_NOT_FOUND", "no such registered loan")
        return loan

    @evaluate
    def claims_of(self, stub: Stub, args: JsonObject) -> list[JsonObject]:
        """Subsidy and compensation claims where `party` is the borrower or the
        bank; for that party, govfund orgs and the regulator."""
        party = common.text(args, "party")
        caller = stub.get_creator().mspid
        if caller != party and common.kind_of(stub, caller) not in ("regulator", "govfund"):
            raise ChaincodeError("NOT_AUTHORIZED", f"{caller} may not list {party}'s claims")
        tx = TxState(stub)
        found = []
        for object_type in ("subsidy_claim", "subsidy_comp"):
            for _, claim in tx.scan(object_type):
                if party in (claim["bank"], claim["borrower"]):
                    found.append({**claim, "kind": object_type})
        return found
