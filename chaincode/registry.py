"""Chaincode name → contract instance.

The peer looks contracts up here; the channel configuration says which of them
a channel runs and with which endorsement policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chaincode.contract import Contract


class Registry:
    """An immutable mapping from chaincode name to contract."""

    def __init__(self, contracts: Iterable[Contract]) -> None:
        by_name: dict[str, Contract] = {}
        for contract in contracts:
            if not contract.name:
                raise ValueError(f"{type(contract).__name__} has no name")
            if contract.name in by_name:
                raise ValueError(f"duplicate chaincode name {contract.name!r}")
            by_name[contract.name] = contract
        self._by_name: Mapping[str, Contract] = by_name

    def get(self, name: str) -> Contract | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)
