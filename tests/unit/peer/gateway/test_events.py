"""Where a chaincode-events stream starts, and which events a block yields."""

from __future__ import annotations

import pytest

from common import txutil
from peer.gateway.events import block_events, start_block
from peer.ledger import MemoryLedger
from protos.orderer import ab_pb2
from protos.peer import transaction_pb2
from tests.unit.peer.endorser.world import BENCH, endorse_tx, make_world


@pytest.mark.parametrize(
    ("position", "has_position", "expected"),
    [
        (ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=3)), True, 3),
        (ab_pb2.SeekPosition(oldest=ab_pb2.SeekOldest()), True, 0),
        (ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest()), True, 9),
        (ab_pb2.SeekPosition(), False, 10),  # default: the next block to commit
    ],
)
def test_start_block(position: ab_pb2.SeekPosition, has_position: bool, expected: int) -> None:
    assert start_block(position, 10, has_position=has_position) == expected


def test_block_events_skip_invalid_transactions_and_resume_after_a_txid() -> None:
    world = make_world()
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    endorsers = [world.endorser(world.core_peer, ledger), world.endorser(world.bank_peer, ledger)]
    txs = [endorse_tx(world.alice, endorsers, "Put", {"key": k, "value": "1"}) for k in "abc"]
    entries = [env for env, _, _ in txs]
    ids = [tx_id for _, tx_id, _ in txs]
    codes = bytes(
        [transaction_pb2.VALID, transaction_pb2.MVCC_READ_CONFLICT, transaction_pb2.VALID]
    )
    assert [e.tx_id for e in block_events(entries, codes, BENCH)] == [ids[0], ids[2]]
    assert [e.tx_id for e in block_events(entries, codes, BENCH, after_tx_id=ids[0])] == [ids[2]]
    assert block_events(entries, codes, BENCH, after_tx_id=ids[2]) == []
    assert block_events(entries, codes, "other") == []
    # An unknown checkpoint txid skips nothing.
    assert len(block_events(entries, codes, BENCH, after_tx_id="unknown")) == 2
    assert txutil.parse_transaction(entries[0]).chaincode == BENCH
