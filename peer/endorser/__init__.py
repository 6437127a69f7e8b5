"""Endorsement: simulate a proposal's chaincode call over committed state."""

from peer.endorser.simulator import (
    Event,
    SignatureCheck,
    SimulationResult,
    StateSnapshot,
    TxContext,
    TxSimulator,
)

__all__ = [
    "Event",
    "SignatureCheck",
    "SimulationResult",
    "StateSnapshot",
    "TxContext",
    "TxSimulator",
]
