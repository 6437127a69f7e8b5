"""What the validator hands to commit listeners (`TxInfo`): its own parse of each
transaction — txid, chaincode, timestamp, event and decoded read/write set — so
listeners never parse an envelope again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincode.stub import Timestamp
from common import txutil
from peer.committer import BlockCommitted, Committer
from peer.ledger import LevelLedger, open_channel_ledger, rwset
from peer.validator import BlockValidator, TxInfo
from protos.common import common_pb2
from protos.peer import transaction_pb2 as codes
from tests.unit.peer.endorser.world import (
    BENCH,
    CHANNEL,
    TIMESTAMP,
    World,
    endorse_tx,
    make_world,
    order,
)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture
def ledger(world: World, tmp_path: Path) -> Iterator[LevelLedger]:
    ledger = open_channel_ledger(tmp_path, CHANNEL)
    Committer(ledger, world.bundle).commit_block(world.genesis())
    yield ledger
    ledger.close()


def _block(world: World, ledger: LevelLedger, entries: list[bytes]) -> common_pb2.Block:
    previous = ledger.block(ledger.height() - 1)
    assert previous is not None
    return order(world, ledger.height(), previous, entries)


def _entries(world: World, ledger: LevelLedger) -> list[bytes]:
    """VALID put, MVCC conflict, forged creator signature, unparseable bytes."""
    endorsers = [world.endorser(world.core_peer, ledger), world.endorser(world.bank_peer, ledger)]
    put = endorse_tx(world.alice, endorsers, "Put", {"key": "a", "value": "1"})[0]
    rmw = [
        endorse_tx(world.alice, endorsers, "ReadModifyWrite", {"key": "b", "value": v})[0]
        for v in ("x", "y")
    ]
    forged = common_pb2.Envelope.FromString(
        endorse_tx(world.alice, endorsers, "Put", {"key": "c", "value": "1"})[0]
    )
    forged.signature = world.bob.sign(forged.payload)
    return [put, *rmw, forged.SerializeToString(), b"\xff\xff"]


def _expected(entry: bytes, tx_num: int, code: int) -> TxInfo:
    """The TxInfo of a parseable entry, built from a parse of our own."""
    tx = txutil.parse_transaction(entry)
    return TxInfo(
        tx_num,
        tx.tx_id,
        code,
        tx.chaincode,
        tx.event_bytes,
        Timestamp(*tx.timestamp),
        rwset.decode(tx.rwset_bytes),
    )


def test_tx_info_carries_the_validators_parse(world: World, ledger: LevelLedger) -> None:
    entries = _entries(world, ledger)
    result = BlockValidator(world.bundle).validate(_block(world, ledger, entries), ledger)
    assert result.codes == (
        codes.VALID,
        codes.VALID,
        codes.MVCC_READ_CONFLICT,
        codes.BAD_CREATOR_SIGNATURE,
        codes.BAD_PAYLOAD,
    )
    expected = [
        _expected(e, i, c)
        for i, (e, c) in enumerate(zip(entries[:4], result.codes[:4], strict=True))
    ]
    assert list(result.txs[:4]) == expected
    valid = result.txs[0]
    assert valid.timestamp == Timestamp(*TIMESTAMP)
    assert valid.rwset is not None
    assert [(w.namespace, w.key, w.value) for w in valid.rwset.writes()] == [(BENCH, "a", b"1")]
    # Invalid for a later reason: still parsed, so listeners may look (and must
    # check the code). Not parseable: nothing but the code.
    assert result.txs[3].rwset is not None
    assert result.txs[4] == TxInfo(4, "", codes.BAD_PAYLOAD)
    assert result.txs[4].rwset is None


def test_listeners_get_the_validators_tx_info(world: World, ledger: LevelLedger) -> None:
    seen: list[BlockCommitted] = []

    class Recorder:
        def block_committed(self, event: BlockCommitted) -> None:
            seen.append(event)

    committer = Committer(ledger, world.bundle, listeners=[Recorder()])
    entries = _entries(world, ledger)
    event = committer.commit_block(_block(world, ledger, entries))
    assert seen == [event]
    assert len(event.txs) == len(entries)
    assert event.txs[0] == _expected(entries[0], 0, codes.VALID)
    assert [tx.code for tx in event.txs] == list(
        event.block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
    )
