"""The data of the demo story (`client.demo_story`): its amounts and rules, the `Plan`
of one run (every id, date and amount, fixed before the first call), the `Step`s it
records and its `StoryResult`. Amounts are in fen (CNY minor units)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import ScfError

__all__ = [
    "CHANNEL",
    "DemoError",
    "OnStep",
    "Plan",
    "Step",
    "StoryResult",
    "fen",
    "platform_today",
    "sha_hex",
]

CHANNEL = "trade"
PLATFORM_TZ = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai, as the contracts use

FACE = 100_000_000  # CNY 1,000,000.00
TIER1_KEEPS = 60_000_000
TO_TIER2 = FACE - TIER1_KEEPS
TO_TIER3 = 15_000_000
RATE_BPS = 350
DAY_BASIS = 360
SME_PAYMENT_DAYS = 60

ATTESTED_KG = 50_000
RECEIPT_KG = 20_000
PRICE_PER_TONNE = 7_000_000  # CNY 70,000.00
HAIRCUT_BPS = 1_000
LTV_MAX_BPS = 7_000
PRINCIPAL = 80_000_000  # CNY 800,000.00
INSURED = 150_000_000
LOAN_DAYS = 90


def platform_today() -> dt.date:
    """Today in the platform time zone (what `tx_date` will say in the contracts)."""
    return dt.datetime.now(PLATFORM_TZ).date()


def fen(amount: int, currency: str = "CNY") -> str:
    """`CNY 1,234.56` from minor units."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{currency} {sign}{whole:,}.{cents:02d}"


def sha_hex(label: str) -> str:
    """SHA-256 of `label` in hex: a stand-in hash of a trade document."""
    return hashlib.sha256(label.encode()).hexdigest()


def _half_up(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


class DemoError(ScfError):
    """A step of the demo failed; `step` names it ("7 supplier3/User1 RequestFinancing")."""

    code = "DEMO_FAILED"

    def __init__(self, step: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.step = step


@dataclass(frozen=True)
class Plan:
    """Every id, date and amount of one run, fixed before the first call."""

    tag: str
    today: dt.date

    @classmethod
    def new(cls, today: dt.date | None = None, tag: str | None = None) -> Plan:
        return cls(tag=tag or secrets.token_hex(3).upper(), today=today or platform_today())

    @property
    def voucher_id(self) -> str:
        return f"FIG1V{self.tag}"

    @property
    def delivery_date(self) -> dt.date:
        return self.today

    @property
    def maturity_date(self) -> dt.date:
        return self.delivery_date + dt.timedelta(days=SME_PAYMENT_DAYS)

    @property
    def financing_days(self) -> int:
        return (self.maturity_date - self.today).days

    @property
    def interest(self) -> int:
        return _half_up(TO_TIER3 * RATE_BPS * self.financing_days, 10_000 * DAY_BASIS)

    @property
    def site_id(self) -> str:
        return f"SH{self.tag}"

    @property
    def loan_id(self) -> str:
        return f"WRL-{self.tag}"

    @property
    def collateral_value(self) -> int:
        return _half_up(RECEIPT_KG * PRICE_PER_TONNE * (10_000 - HAIRCUT_BPS), 10_000 * 1000)

    def child(self, *path: int) -> str:
        return "-".join([self.voucher_id, *map(str, path)])


@dataclass(frozen=True)
class Step:
    """One call of the story: who made it, what, and where it landed."""

    number: int
    org: str
    mspid: str
    user: str
    chaincode: str
    function: str
    summary: str
    tx_id: str | None  # None for queries (nothing is ordered)
    block: int | None
    result: Any

    @property
    def who(self) -> str:
        return f"{self.org}/{self.user}"

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "org": self.org,
            "mspid": self.mspid,
            "user": self.user,
            "chaincode": self.chaincode,
            "function": self.function,
            "summary": self.summary,
            "tx_id": self.tx_id,
            "block": self.block,
            "result": self.result,
        }


@dataclass(frozen=True)
class StoryResult:
    plan: Plan
    steps: tuple[Step, ...]
    lineage: Mapping[str, Any]
    exposure: Mapping[str, Any]


OnStep = Callable[[Step], None]
