"""Fixtures shared by every contract test: a fresh ledger, its clock and one
caller identity per organisation of the default consortium."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import pytest

from chaincode.stub import Creator
from tests.unit.contracts.ledger import Clock, TestLedger, creator_of

if TYPE_CHECKING:
    from tests.unit.contracts.receivable_support import Receivables


class Orgs:
    """One client identity per org of the default consortium, plus admins.

    Class attributes (immutable `Creator`s), so tests may also use `ORGS` directly.
    """

    core: Final = Creator("CoreMSP", "client", "issuer@CoreMSP", {"role": "issuer"})
    s1: Final = creator_of("Supplier1MSP")
    s2: Final = creator_of("Supplier2MSP")
    s3: Final = creator_of("Supplier3MSP")
    bank: Final = creator_of("BankMSP")
    bank2: Final = creator_of("Bank2MSP")
    appraiser: Final = Creator("BankMSP", "client", "appraiser@BankMSP", {"role": "appraiser"})
    warehouse: Final = creator_of("WarehouseMSP")
    regulator: Final = creator_of("RegulatorMSP")
    govfund: Final = creator_of("GovFundMSP")
    core_admin: Final = creator_of("CoreMSP", role="admin")
    regulator_admin: Final = creator_of("RegulatorMSP", role="admin")
    bank_admin: Final = creator_of("BankMSP", role="admin")


ORGS = Orgs()


@pytest.fixture
def clock() -> Clock:
    """Business date 2025-07-01 (Asia/Shanghai); tests move it with set/advance."""
    return Clock("2025-07-01")


@pytest.fixture
def ledger(clock: Clock) -> TestLedger:
    """An empty ledger on the default consortium with the DOMAIN §3.4 policy."""
    return TestLedger(clock=clock)


@pytest.fixture
def orgs() -> Orgs:
    return ORGS


@pytest.fixture
def rc(ledger: TestLedger) -> Receivables:
    """The receivable contract on `ledger`, with auto request ids."""
    from tests.unit.contracts.receivable_support import Receivables

    return Receivables(ledger)
