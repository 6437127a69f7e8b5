"""Block and transaction validation with real signatures: each invalid transaction
gets its Fabric TxValidationCode; bad blocks are refused before any tx is looked at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common import block as blk
from common import txutil
from peer.committer import Committer
from peer.endorser.endorser import Endorser
from peer.ledger import MemoryLedger, rwset
from peer.validator import (
    BlockRefused,
    BlockValidator,
    ProcessExecutor,
    ThreadExecutor,
    verify_block,
)
from protos.common import common_pb2
from protos.peer import chaincode_pb2, proposal_response_pb2
from protos.peer import transaction_pb2 as codes
from tests.unit.peer.endorser.world import (
    BENCH,
    World,
    endorse_tx,
    make_world,
    order,
    propose,
)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture
def ledger(world: World) -> Iterator[MemoryLedger]:
    ledger = MemoryLedger()
    Committer(ledger, world.bundle).commit_block(world.genesis())
    yield ledger
    ledger.close()


def _endorsers(world: World, ledger: MemoryLedger) -> list[Endorser]:
    return [world.endorser(world.core_peer, ledger), world.endorser(world.bank_peer, ledger)]


def _block(world: World, ledger: MemoryLedger, entries: list[bytes]) -> common_pb2.Block:
    previous = ledger.block(ledger.height() - 1)
    assert previous is not None
    return order(world, ledger.height(), previous, entries)


def _codes(world: World, ledger: MemoryLedger, entries: list[bytes]) -> tuple[int, ...]:
    validator = BlockValidator(world.bundle)
    return validator.validate(_block(world, ledger, entries), ledger).codes


def _put(world: World, ledger: MemoryLedger, key: str = "a") -> bytes:
    return endorse_tx(world.alice, _endorsers(world, ledger), "Put", {"key": key, "value": "1"})[0]


def _manual(
    world: World, parsed: txutil.ParsedProposal, endorsers: list[object], *, version: str = "1.0"
) -> list[proposal_response_pb2.ProposalResponse]:
    """Responses built directly (no endorser checks): a blind write of key `m`."""
    ns = rwset.NsRWSet(
        rwset.Namespace(BENCH), writes=(rwset.Write(rwset.Namespace(BENCH), "m", b"1"),)
    )
    return [
        txutil.build_proposal_response(
            parsed.hash,
            results=rwset.encode(rwset.TxRWSet((ns,))),
            events=b"",
            response=proposal_response_pb2.Response(status=200),
            chaincode_id=chaincode_pb2.ChaincodeID(name=BENCH, version=version),
            signer=signer,  # type: ignore[arg-type]
        )
        for signer in endorsers
    ]


def test_valid_transaction(world: World, ledger: MemoryLedger) -> None:
    assert _codes(world, ledger, [_put(world, ledger)]) == (codes.VALID,)


def test_bad_creator_signature(world: World, ledger: MemoryLedger) -> None:
    envelope = common_pb2.Envelope.FromString(_put(world, ledger))
    envelope.signature = world.bob.sign(envelope.payload)
    assert _codes(world, ledger, [envelope.SerializeToString()]) == (codes.BAD_CREATOR_SIGNATURE,)


def test_endorsements_not_satisfying_and_a_b(world: World, ledger: MemoryLedger) -> None:
    one = endorse_tx(
        world.alice, [world.endorser(world.core_peer, ledger)], "Put", {"key": "a", "value": "1"}
    )[0]
    regulator_peer = world.regulator.member("peer0", "peer")
    _, parsed = propose(world.alice, "Put", {"key": "b", "value": "1"})
    wrong_org = txutil.assemble_transaction(
        parsed, _manual(world, parsed, [world.core_peer, regulator_peer]), world.alice
    ).SerializeToString()
    _, parsed = propose(world.alice, "Put", {"key": "c", "value": "1"})
    client_not_peer = txutil.assemble_transaction(
        parsed, _manual(world, parsed, [world.core_peer, world.bob]), world.alice
    ).SerializeToString()
    both = _put(world, ledger, "d")
    tampered = common_pb2.Envelope.FromString(both)
    payload = common_pb2.Payload.FromString(tampered.payload)
    # Re-sign as the creator so only the endorsement's signature is wrong.
    tx = _with_endorsement_signature(payload, b"\x30\x06\x02\x01\x01\x02\x01\x01")
    bad_sig = txutil.sign_envelope(tx, world.alice).SerializeToString()
    result = _codes(world, ledger, [one, wrong_org, client_not_peer, bad_sig])
    assert result == (codes.ENDORSEMENT_POLICY_FAILURE,) * 4


def test_cached_policy_outcome_never_hides_a_bad_endorsement(
    world: World, ledger: MemoryLedger
) -> None:
    """The endorsement policy's outcome is cached per verified signer classes, but
    every endorsement is verified per transaction: a forged one between good ones
    from the same endorser pair still fails."""
    good = [_put(world, ledger, f"g{i}") for i in range(3)]
    payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(good[1]).payload)
    tx = _with_endorsement_signature(payload, b"\x30\x06\x02\x01\x01\x02\x01\x01")
    forged = txutil.sign_envelope(tx, world.alice).SerializeToString()
    hits = world.bundle.outcomes.hits
    result = _codes(world, ledger, [good[0], forged, good[2], good[1]])
    assert result == (codes.VALID, codes.ENDORSEMENT_POLICY_FAILURE, codes.VALID, codes.VALID)
    assert world.bundle.outcomes.hits > hits  # the tree walk was reused


def _with_endorsement_signature(payload: common_pb2.Payload, signature: bytes) -> bytes:
    from protos.peer import transaction_pb2

    transaction = transaction_pb2.Transaction.FromString(payload.data)
    action_payload = transaction_pb2.ChaincodeActionPayload.FromString(
        transaction.actions[0].payload
    )
    action_payload.action.endorsements[1].signature = signature
    transaction.actions[0].payload = action_payload.SerializeToString()
    payload.data = transaction.SerializeToString()
    return payload.SerializeToString()


def test_reader_that_is_not_a_writer_cannot_get_a_tx_validated(
    world: World, ledger: MemoryLedger
) -> None:
    _, parsed = propose(world.reggie, "Put", {"key": "a", "value": "1"})
    envelope = txutil.assemble_transaction(
        parsed, _manual(world, parsed, [world.core_peer, world.bank_peer]), world.reggie
    )
    assert _codes(world, ledger, [envelope.SerializeToString()]) == (
        codes.ENDORSEMENT_POLICY_FAILURE,
    )


def test_malformed_and_misdirected_transactions(world: World, ledger: MemoryLedger) -> None:
    _, parsed = propose(world.alice, "Put", {"key": "a", "value": "1"})
    old_version = txutil.assemble_transaction(
        parsed,
        _manual(world, parsed, [world.core_peer, world.bank_peer], version="0.9"),
        world.alice,
    ).SerializeToString()
    _, other = propose(world.alice, "Put", {"key": "a", "value": "1"}, channel="other")
    other_channel = txutil.assemble_transaction(
        other, _manual(world, other, [world.core_peer, world.bank_peer]), world.alice
    ).SerializeToString()
    _, unknown = propose(world.alice, "Put", {"key": "a", "value": "1"}, chaincode="nope")
    unknown_cc = txutil.assemble_transaction(
        unknown, _manual(world, unknown, [world.core_peer, world.bank_peer]), world.alice
    ).SerializeToString()
    result = _codes(
        world,
        ledger,
        [b"", b"\xff\xff", old_version, other_channel, unknown_cc, world.genesis().data.data[0]],
    )
    assert result == (
        codes.NIL_ENVELOPE,
        codes.BAD_PAYLOAD,
        codes.EXPIRED_CHAINCODE,
        codes.TARGET_CHAIN_NOT_FOUND,
        codes.INVALID_CHAINCODE,
        codes.INVALID_CONFIG_TRANSACTION,
    )


def test_mismatched_txid_and_proposal_hash(world: World, ledger: MemoryLedger) -> None:
    proposal, _ = txutil.build_proposal(
        "trade", BENCH, [b"Put", b'{"key":"a","value":"1"}'], world.alice.serialize()
    )
    header = common_pb2.Header.FromString(proposal.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    channel_header.tx_id = "ab" * 32
    header.channel_header = channel_header.SerializeToString()
    proposal.header = header.SerializeToString()
    parsed = txutil.parse_proposal(proposal.SerializeToString())
    bad_txid = txutil.assemble_transaction(
        parsed, _manual(world, parsed, [world.core_peer, world.bank_peer]), world.alice
    ).SerializeToString()
    _, parsed = propose(world.alice, "Put", {"key": "a", "value": "1"})
    _, unrelated = propose(world.alice, "Put", {"key": "a", "value": "2"})
    wrong_hash = txutil.assemble_transaction(
        parsed, _manual(world, unrelated, [world.core_peer, world.bank_peer]), world.alice
    ).SerializeToString()
    assert _codes(world, ledger, [bad_txid, wrong_hash]) == (
        codes.BAD_PROPOSAL_TXID,
        codes.INVALID_ENDORSER_TRANSACTION,
    )


def test_duplicate_txid_within_the_block_and_against_the_ledger(
    world: World, ledger: MemoryLedger
) -> None:
    first = _put(world, ledger, "a")
    assert _codes(world, ledger, [first, first]) == (codes.VALID, codes.DUPLICATE_TXID)
    Committer(ledger, world.bundle).commit_block(_block(world, ledger, [first]))
    assert _codes(world, ledger, [first]) == (codes.DUPLICATE_TXID,)


def test_read_modify_write_conflicts_leave_exactly_one_valid(
    world: World, ledger: MemoryLedger
) -> None:
    endorsers = _endorsers(world, ledger)
    entries = [
        endorse_tx(world.alice, endorsers, "ReadModifyWrite", {"key": "hot", "value": str(i)})[0]
        for i in range(5)
    ]
    assert _codes(world, ledger, entries) == (codes.VALID,) + (codes.MVCC_READ_CONFLICT,) * 4


def test_block_checks(world: World, ledger: MemoryLedger) -> None:
    entry = _put(world, ledger)
    previous = ledger.block(ledger.height() - 1)
    assert previous is not None
    previous_hash = blk.header_hash(previous.header)
    good = _block(world, ledger, [entry])
    verify_block(good, world.bundle, expected_number=1, previous_hash=previous_hash)

    def refused(block: common_pb2.Block, number: int = 1) -> str:
        with pytest.raises(BlockRefused) as info:
            verify_block(block, world.bundle, expected_number=number, previous_hash=previous_hash)
        return info.value.code

    by_client = blk.new_block(1, previous_hash, [entry])
    blk.sign_block(by_client, world.alice, last_config=0, nonce=b"n" * 24)
    assert refused(by_client) == "BAD_BLOCK_SIGNATURE"
    forged = blk.new_block(1, previous_hash, [entry])
    forged.metadata.metadata[common_pb2.SIGNATURES] = good.metadata.metadata[common_pb2.SIGNATURES]
    forged.header.data_hash = blk.data_hash([entry, entry])
    forged.data.data.append(entry)
    assert refused(forged) == "BAD_BLOCK_SIGNATURE"
    unsigned = blk.new_block(1, previous_hash, [entry])
    assert refused(unsigned) == "BAD_BLOCK_SIGNATURE"
    assert refused(order(world, 1, good, [entry])) == "PREVIOUS_HASH_MISMATCH"
    assert refused(good, number=2) == "BLOCK_OUT_OF_ORDER"
    bad_data = common_pb2.Block()
    bad_data.CopyFrom(good)
    bad_data.data.data.append(entry)
    assert refused(bad_data) == "DATA_HASH_MISMATCH"


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_parallel_executors_give_the_same_codes(
    world: World, ledger: MemoryLedger, kind: str
) -> None:
    entries = [_put(world, ledger, f"k{i}") for i in range(6)]
    bad = common_pb2.Envelope.FromString(entries[2])
    bad.signature = world.bob.sign(bad.payload)
    entries[2] = bad.SerializeToString()
    block = _block(world, ledger, entries)
    executor = (
        ThreadExecutor(world.bundle, 2) if kind == "threads" else ProcessExecutor(world.config, 2)
    )
    validator = BlockValidator(world.bundle, executor)
    try:
        result = validator.validate(block, ledger).codes
    finally:
        validator.close()
    assert result == BlockValidator(world.bundle).validate(block, ledger).codes
    assert result[2] == codes.BAD_CREATOR_SIGNATURE
    assert result.count(codes.VALID) == 5
