"""The contracts built into the peer: chaincode name → contract instance.

The channel configuration decides which of them a channel runs and with which
endorsement policy; a chaincode defined on a channel but missing here cannot be
endorsed (the endorser answers NOT_FOUND).
"""

from __future__ import annotations

from chaincode.contract import Contract
from chaincode.contracts.bench import BenchContract
from chaincode.contracts.policy import PolicyContract
from chaincode.contracts.receivable import ReceivableContract
from chaincode.contracts.subsidy import SubsidyContract
from chaincode.contracts.warehouse import WarehouseContract
from chaincode.registry import Registry

BUILTIN_CONTRACTS: tuple[type[Contract], ...] = (
    ReceivableContract,
    PolicyContract,
    WarehouseContract,
    SubsidyContract,
    BenchContract,
)


def builtin_registry() -> Registry:
    """A fresh registry of every built-in contract (contracts are stateless)."""
    return Registry(cls() for cls in BUILTIN_CONTRACTS)
