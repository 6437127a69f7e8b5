"""A small consortium for peer tests: two endorsing orgs, a regulator (Reader, not
Writer), an orderer org, one channel `trade` with the `bench` chaincode under
AND(Core.peer, Bank.peer), and helpers to propose, endorse and order."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common import block as blk
from common import txutil
from common.config.bundle import ChannelBundle
from common.config.channel import ChannelConfig
from common.msp import SigningIdentity
from peer.chaincodes import builtin_registry
from peer.deliver import BlockNotifier
from peer.endorser.endorser import ChannelSupport, Endorser, EndorserLedger
from protos.common import common_pb2
from protos.peer import proposal_pb2, proposal_response_pb2
from protos.scf import config_pb2
from tests.support.consortium import TestOrg, channel_config, make_org

CHANNEL = "trade"
BENCH = "bench"
TIMESTAMP = (1_750_000_000, 0)


@dataclass
class World:
    core: TestOrg
    bank: TestOrg
    regulator: TestOrg
    orderer_org: TestOrg
    alice: SigningIdentity  # CoreMSP client
    bob: SigningIdentity  # BankMSP client
    reggie: SigningIdentity  # RegulatorMSP client (reader only)
    core_peer: SigningIdentity
    bank_peer: SigningIdentity
    orderer: SigningIdentity
    config: config_pb2.ChannelConfig
    bundle: ChannelBundle

    def endorser(self, peer: SigningIdentity, ledger: EndorserLedger) -> Endorser:
        return Endorser(
            peer,
            builtin_registry(),
            {CHANNEL: ChannelSupport(self.bundle, ledger, BlockNotifier(ledger))},
        )

    def genesis(self) -> common_pb2.Block:
        from common.config.genesis import genesis_block

        return genesis_block(self.config)


def make_world(chaincodes: Mapping[str, str] | None = None) -> World:
    core, bank = make_org("CoreMSP", "core"), make_org("BankMSP", "bank")
    regulator, orderer_org = (
        make_org("RegulatorMSP", "regulator"),
        make_org("OrdererMSP", "orderer"),
    )
    orderer = orderer_org.member("orderer0", "orderer")
    config = channel_config(
        CHANNEL,
        [core, bank, regulator],
        orderer_org,
        [orderer],
        chaincodes=chaincodes or {BENCH: "AND('CoreMSP.peer', 'BankMSP.peer')"},
        read_only=["RegulatorMSP"],
    )
    return World(
        core=core,
        bank=bank,
        regulator=regulator,
        orderer_org=orderer_org,
        alice=core.member("alice", "client"),
        bob=bank.member("bob", "client"),
        reggie=regulator.member("reggie", "client"),
        core_peer=core.member("peer0", "peer"),
        bank_peer=bank.member("peer0", "peer"),
        orderer=orderer,
        config=config,
        bundle=ChannelBundle(ChannelConfig.from_proto(config)),
    )


def propose(
    signer: SigningIdentity,
    fn: str,
    args: Mapping[str, Any] | None = None,
    *,
    channel: str = CHANNEL,
    chaincode: str = BENCH,
    nonce: bytes | None = None,
) -> tuple[proposal_pb2.SignedProposal, txutil.ParsedProposal]:
    arg_list = [fn.encode()] + ([json.dumps(args).encode()] if args is not None else [])
    proposal, _ = txutil.build_proposal(
        channel, chaincode, arg_list, signer.serialize(), nonce=nonce, timestamp=TIMESTAMP
    )
    signed = txutil.sign_proposal(proposal, signer)
    return signed, txutil.parse_signed_proposal(signed)


def endorse_tx(
    creator: SigningIdentity,
    endorsers: Sequence[Endorser],
    fn: str,
    args: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[bytes, str, list[proposal_response_pb2.ProposalResponse]]:
    """Propose, endorse with every endorser, assemble and sign: (envelope bytes, txid,
    responses). Raises AssertionError if an endorser refuses."""
    signed, parsed = propose(creator, fn, args, **kwargs)
    responses = [e.process_proposal(signed) for e in endorsers]
    for response in responses:
        assert response.response.status == 200, response.response.message
    envelope = txutil.assemble_transaction(parsed, responses, creator)
    return envelope.SerializeToString(), parsed.tx_id, responses


def order(
    world: World, number: int, previous: common_pb2.Block, entries: Sequence[bytes]
) -> common_pb2.Block:
    """A block after `previous`, signed by the world's orderer."""
    block = blk.new_block(number, blk.header_hash(previous.header), list(entries))
    blk.sign_block(block, world.orderer, last_config=0, nonce=b"n" * 24)
    return block
