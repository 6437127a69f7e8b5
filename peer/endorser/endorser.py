"""The endorser: `protos.Endorser/ProcessProposal` (Fabric's `core/endorser`).

`Endorser.process_proposal` is a pure function of (signed proposal, channel state):
it never raises for a bad request; every refusal is a `ProposalResponse` whose
`response.status` and `response.message` ("CODE: message") say why, as Fabric
returns them. Checks, in order:

1. the SignedProposal parses as an ENDORSER_TRANSACTION chaincode proposal   (400)
2. the channel is joined by this peer                                         (404)
3. the creator deserializes to a valid identity of the channel's MSPs         (403)
4. the creator's signature over the exact `proposal_bytes` verifies           (403)
5. tx_id == hex(SHA-256(nonce ‖ creator))                                     (400)
6. the chaincode is defined on the channel and built into this peer           (404)
7. args[0] names a function of the contract                                   (404)
8. ACL: channel `Writers` for submit functions, `Readers` for evaluate ones    (403)
9. the txid is not already in the ledger                                      (400)

Then the contract runs on a `TxSimulator` over a committed-state snapshot. Success
→ status 200 with a response payload signed by this peer (signature over
`payload ‖ endorser`). A `ChaincodeError` → status 500, "CODE: message", and no
endorsement (nothing can be ordered). Any other exception is a contract bug:
status 500 `CHAINCODE_FAILURE` without internals (logged here).

Determinism: the payload depends only on the proposal, the committed state read,
the chaincode definition and the channel config, so two endorsers produce
byte-identical payloads; only the endorsement differs.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import grpc

from chaincode.errors import ChaincodeError
from chaincode.registry import Registry
from chaincode.stub import Creator, Timestamp
from common import txutil
from common.blockstore import TxLocation
from common.config.bundle import ChannelBundle
from common.config.channel import READERS, WRITERS
from common.crypto import compute_txid
from common.errors import ScfError
from common.msp import Identity
from peer.endorser.simulator import SignatureCheck, TxContext, TxSimulator
from peer.ledger.types import LedgerSnapshot, TxId
from protos.common import common_pb2
from protos.peer import chaincode_pb2, peer_pb2_grpc, proposal_pb2, proposal_response_pb2

__all__ = [
    "MIN_HEIGHT_METADATA",
    "ChannelSupport",
    "EndorseRefusal",
    "Endorser",
    "EndorserLedger",
    "EndorserServicer",
    "ProposalProcessor",
    "creator_of",
    "min_height_of",
]

log = logging.getLogger(__name__)

OK = common_pb2.SUCCESS
BAD_REQUEST = common_pb2.BAD_REQUEST
FORBIDDEN = common_pb2.FORBIDDEN
NOT_FOUND = common_pb2.NOT_FOUND
INTERNAL = common_pb2.INTERNAL_SERVER_ERROR

MIN_HEIGHT_METADATA = "scf-min-ledger-height"
"""gRPC metadata key of a gateway's ledger height (see `Endorser.process_proposal`)."""
MIN_HEIGHT_WAIT_S = 2.0


class EndorserLedger(Protocol):
    """What the endorser reads of a channel's ledger."""

    def snapshot(self) -> LedgerSnapshot: ...

    def tx_location(self, txid: str) -> TxLocation | None: ...

    def height(self) -> int: ...


class HeightWatch(Protocol):
    """Wakes waiters as the channel's ledger grows (`peer.deliver.BlockNotifier`)."""

    def wait_for_height(self, height: int, timeout: float) -> bool: ...


@dataclass(frozen=True)
class ChannelSupport:
    """One joined channel as the endorser sees it: its config bundle, its ledger and
    what tells of the ledger's growth."""

    bundle: ChannelBundle
    ledger: EndorserLedger
    heights: HeightWatch


class EndorseRefusal(ScfError):
    """A refused proposal; `status` is the response status returned for it."""

    code = "PROPOSAL_REFUSED"

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status


class Signer(Protocol):
    def serialize(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


def creator_of(identity: Identity) -> Creator:
    """The `Creator` a contract sees for a validated identity."""
    return Creator(
        mspid=identity.mspid,
        role=str(identity.role),
        enrollment_id=identity.enrollment_id,
        attributes=identity.attributes,
    )


class Endorser:
    """Endorses proposals for the channels in `channels` with `signer` (this peer).

    `channels` may be a live mapping owned by the node (joining a channel adds to
    it); it is only read here. Thread-safe: calls share nothing mutable but a cache
    of each bundle's contract config values.
    """

    def __init__(
        self, signer: Signer, registry: Registry, channels: Mapping[str, ChannelSupport]
    ) -> None:
        self._signer = signer
        self._registry = registry
        self._channels = channels
        self._config_values: weakref.WeakKeyDictionary[ChannelBundle, Mapping[str, str]] = (
            weakref.WeakKeyDictionary()
        )

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        """Check, simulate and endorse; never raises (see the module docstring).

        `min_height` is the ledger height the caller (a gateway peer) has: the
        simulation waits up to `MIN_HEIGHT_WAIT_S` for this peer to reach it, so a
        client's next transaction is not endorsed on state one block older than the
        state its previous transaction's commit status reported.
        """
        try:
            return self._endorse(signed, min_height)
        except EndorseRefusal as refusal:
            return _error(refusal.status, str(refusal))

    def _endorse(
        self, signed: proposal_pb2.SignedProposal, min_height: int
    ) -> proposal_response_pb2.ProposalResponse:
        try:
            proposal = txutil.parse_signed_proposal(signed)
        except txutil.ProposalError as exc:
            raise EndorseRefusal(BAD_REQUEST, exc.code, exc.message) from None
        channel = self._channels.get(proposal.channel_id)
        if channel is None:
            raise EndorseRefusal(
                NOT_FOUND,
                "CHANNEL_NOT_FOUND",
                f"channel {proposal.channel_id!r} is not joined by this peer",
            )
        bundle = channel.bundle
        identity = _verify_creator(bundle, proposal)
        definition = bundle.config.chaincode(proposal.chaincode)
        if definition is None:
            raise EndorseRefusal(
                NOT_FOUND,
                "CHAINCODE_NOT_FOUND",
                f"chaincode {proposal.chaincode!r} is not defined on channel {proposal.channel_id}",
            )
        contract = self._registry.get(proposal.chaincode)
        if contract is None:
            raise EndorseRefusal(
                NOT_FOUND,
                "CHAINCODE_NOT_INSTALLED",
                f"chaincode {proposal.chaincode!r} is not available on this peer",
            )
        function = proposal.function
        kind = contract.function_kind(function)
        if kind is None:
            raise EndorseRefusal(
                NOT_FOUND,
                "UNKNOWN_FUNCTION",
                f"contract {proposal.chaincode!r} has no function {function!r}",
            )
        _check_acl(bundle, identity, proposal, WRITERS if kind == "submit" else READERS)
        if channel.ledger.tx_location(proposal.tx_id) is not None:
            raise EndorseRefusal(
                BAD_REQUEST,
                "DUPLICATE_TXID",
                f"transaction {proposal.tx_id} is already in the ledger",
            )
        if channel.ledger.height() < min_height:
            # Bounded: past it, endorse on the state we have (`process_proposal`).
            channel.heights.wait_for_height(min_height, MIN_HEIGHT_WAIT_S)
        context = TxContext(
            tx_id=TxId(proposal.tx_id),
            timestamp=Timestamp(*proposal.timestamp),
            creator=creator_of(identity),
            check_signature=_signature_checker(bundle),
            channel_config=self._contract_config(bundle),
        )
        with channel.ledger.snapshot() as snapshot:
            simulator = TxSimulator(snapshot, proposal.chaincode, context)
            try:
                result = contract.invoke(simulator, function, proposal.function_args)
            except ChaincodeError as exc:
                return _error(INTERNAL, f"{exc.code}: {exc.message}")
            except Exception:
                log.exception(
                    "contract %s function %s failed (tx %s)",
                    proposal.chaincode,
                    function,
                    proposal.tx_id,
                )
                return _error(
                    INTERNAL,
                    f"CHAINCODE_FAILURE: contract {proposal.chaincode!r} function "
                    f"{function!r} failed unexpectedly; see the peer's log",
                )
            simulation = simulator.results()
        return txutil.build_proposal_response(
            proposal.hash,
            results=simulation.rwset_bytes,
            events=simulation.event_bytes,
            response=proposal_response_pb2.Response(status=OK, payload=result),
            chaincode_id=chaincode_pb2.ChaincodeID(
                name=definition.name, version=definition.version
            ),
            signer=self._signer,
        )

    def _contract_config(self, bundle: ChannelBundle) -> Mapping[str, str]:
        values = self._config_values.get(bundle)
        if values is None:
            values = self._config_values[bundle] = bundle.config.contract_config_values()
        return values


def _verify_creator(bundle: ChannelBundle, proposal: txutil.ParsedProposal) -> Identity:
    try:
        identity = bundle.deserialize_identity(proposal.creator)
    except ScfError as exc:
        raise EndorseRefusal(
            FORBIDDEN, "CREATOR_REJECTED", f"creator identity rejected: {exc}"
        ) from None
    try:
        identity.verify(proposal.proposal_bytes, proposal.signature)
    except ScfError as exc:
        raise EndorseRefusal(
            FORBIDDEN,
            "BAD_SIGNATURE",
            f"the proposal signature of {identity.mspid} identity {identity.enrollment_id!r} "
            f"does not verify: {exc}",
        ) from None
    expected = compute_txid(proposal.nonce, proposal.creator)
    if proposal.tx_id != expected:
        raise EndorseRefusal(
            BAD_REQUEST,
            "BAD_PROPOSAL_TXID",
            f"tx_id {proposal.tx_id!r} is not hex(SHA-256(nonce ‖ creator)) = {expected}",
        )
    return identity


def _check_acl(
    bundle: ChannelBundle, identity: Identity, proposal: txutil.ParsedProposal, policy: str
) -> None:
    result = bundle.evaluate_verified(policy, identity)
    if not result.satisfied:
        what = "submit (write)" if policy == WRITERS else "evaluate (read)"
        raise EndorseRefusal(
            FORBIDDEN,
            "ACCESS_DENIED",
            f"{identity.mspid} identity {identity.enrollment_id!r} may not {what} "
            f"{proposal.chaincode}.{proposal.function} on channel {proposal.channel_id}: "
            f"channel policy {policy} is not satisfied ({result.reason})",
        )


def _signature_checker(bundle: ChannelBundle) -> SignatureCheck:
    def check(identity_bytes: bytes, data: bytes, signature: bytes) -> Creator:
        try:
            identity = bundle.deserialize_identity(identity_bytes)
            identity.verify(data, signature)
        except ScfError as exc:
            raise ChaincodeError("INVALID_SIGNATURE", str(exc)) from None
        return creator_of(identity)

    return check


def _error(status: int, message: str) -> proposal_response_pb2.ProposalResponse:
    """A refusal as Fabric returns one: status and message, no payload, no endorsement."""
    return proposal_response_pb2.ProposalResponse(
        version=1, response=proposal_response_pb2.Response(status=status, message=message)
    )


class ProposalProcessor(Protocol):
    """Anything that answers a signed proposal; refusals are responses, not raises."""

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse: ...


class EndorserServicer(peer_pb2_grpc.EndorserServicer):
    """The gRPC face of a `ProposalProcessor`: refusals are responses, never RPC
    errors. A gateway peer may send its ledger height as `MIN_HEIGHT_METADATA`
    (ignored by Fabric peers, honoured by ours; see `Endorser.process_proposal`)."""

    def __init__(self, endorser: ProposalProcessor) -> None:
        self._endorser = endorser

    def ProcessProposal(
        self, request: proposal_pb2.SignedProposal, context: grpc.ServicerContext
    ) -> proposal_response_pb2.ProposalResponse:
        return self._endorser.process_proposal(request, min_height_of(context))


def min_height_of(context: grpc.ServicerContext) -> int:
    """The caller's ledger-height hint from the call metadata; 0 when absent or bad."""
    for key, value in context.invocation_metadata() or ():
        if key == MIN_HEIGHT_METADATA:
            text = value.decode() if isinstance(value, bytes) else value
            return int(text) if text.isdigit() else 0
    return 0
