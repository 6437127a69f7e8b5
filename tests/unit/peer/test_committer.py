"""The committer end to end over a LevelLedger: endorse → assemble → order → commit;
state becomes visible, invalid transactions change nothing, listeners hear of it,
bad blocks are refused and the committer carries on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import block as blk
from peer.committer import BlockCommitted, Committer, TxStatusWaiters
from peer.endorser.endorser import Endorser
from peer.ledger import LevelLedger, open_channel_ledger
from peer.validator import BlockRefused
from protos.common import common_pb2
from protos.peer import transaction_pb2 as codes
from tests.unit.peer.endorser.world import BENCH, CHANNEL, World, endorse_tx, make_world, order


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[LevelLedger]:
    ledger = open_channel_ledger(tmp_path, CHANNEL)
    yield ledger
    ledger.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[BlockCommitted] = []

    def block_committed(self, event: BlockCommitted) -> None:
        self.events.append(event)


def _next(world: World, ledger: LevelLedger, entries: list[bytes]) -> common_pb2.Block:
    previous = ledger.block(ledger.height() - 1)
    assert previous is not None
    return order(world, ledger.height(), previous, entries)


def _endorsers(world: World, ledger: LevelLedger) -> list[Endorser]:
    return [world.endorser(world.core_peer, ledger), world.endorser(world.bank_peer, ledger)]


def test_endorse_order_commit(world: World, ledger: LevelLedger) -> None:
    recorder = Recorder()
    committer = Committer(ledger, world.bundle, listeners=[recorder])
    committer.commit_block(world.genesis())
    endorsers = _endorsers(world, ledger)
    put, put_id, _ = endorse_tx(world.alice, endorsers, "Put", {"key": "a", "value": "1"})
    rmw1, _, _ = endorse_tx(world.alice, endorsers, "ReadModifyWrite", {"key": "b", "value": "x"})
    rmw2, _, _ = endorse_tx(world.bob, endorsers, "ReadModifyWrite", {"key": "b", "value": "y"})
    forged = common_pb2.Envelope.FromString(
        endorse_tx(world.alice, endorsers, "Put", {"key": "c", "value": "1"})[0]
    )
    forged.signature = world.bob.sign(forged.payload)
    result = committer.commit_block(
        _next(world, ledger, [put, rmw1, rmw2, forged.SerializeToString()])
    )
    assert result.codes == (
        codes.VALID,
        codes.VALID,
        codes.MVCC_READ_CONFLICT,
        codes.BAD_CREATOR_SIGNATURE,
    )
    assert ledger.height() == 2
    state_a = ledger.get_state(BENCH, "a")
    assert state_a is not None
    assert state_a.value == b"1"
    state_b = ledger.get_state(BENCH, "b")
    assert state_b is not None
    assert state_b.value == b"x"
    assert ledger.get_state(BENCH, "c") is None
    location = ledger.tx_location(put_id)
    assert location is not None
    assert (location.block_number, location.tx_index, location.validation_code) == (1, 0, 0)
    stored = ledger.block(1)
    assert stored is not None
    assert bytes(stored.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]) == bytes(result.codes)
    assert [e.number for e in recorder.events] == [0, 1]
    events = recorder.events[1].chaincode_events()
    assert [(e.tx_id, e.name, e.payload) for e in events] == [(put_id, "Put", b"a")]
    # A query sees the committed state.
    query = endorse_tx(world.alice, endorsers[:1], "Get", {"key": "b"})[2][0]
    assert json.loads(query.response.payload) == {"key": "b", "value": "x"}


def test_bad_blocks_are_refused_and_nothing_is_written(world: World, ledger: LevelLedger) -> None:
    committer = Committer(ledger, world.bundle)
    committer.commit_block(world.genesis())
    entry = endorse_tx(world.alice, _endorsers(world, ledger), "Put", {"key": "a", "value": "1"})[0]
    good = _next(world, ledger, [entry])
    wrong_previous = order(world, 1, good, [entry])
    unsigned = blk.new_block(1, good.header.previous_hash, [entry])
    for bad in (wrong_previous, unsigned):
        with pytest.raises(BlockRefused):
            committer.commit_block(bad)
        assert ledger.height() == 1
        assert ledger.get_state(BENCH, "a") is None
    committer.commit_block(good)  # the committer is still usable
    assert ledger.height() == 2


def test_restarted_committer_chains_to_the_stored_blocks(world: World, tmp_path: Path) -> None:
    path = tmp_path / "restart"
    ledger = LevelLedger.open(path)
    Committer(ledger, world.bundle).commit_block(world.genesis())
    entry = endorse_tx(world.alice, _endorsers(world, ledger), "Put", {"key": "a", "value": "1"})[0]
    block = _next(world, ledger, [entry])
    ledger.close()
    ledger = LevelLedger.open(path)
    try:
        assert Committer(ledger, world.bundle).commit_block(block).codes == (codes.VALID,)
    finally:
        ledger.close()


def test_tx_status_waiters(world: World, ledger: LevelLedger) -> None:
    waiters = TxStatusWaiters(ledger)
    committer = Committer(ledger, world.bundle, listeners=[waiters])
    committer.commit_block(world.genesis())
    entry, tx_id, _ = endorse_tx(
        world.alice, _endorsers(world, ledger), "Put", {"key": "a", "value": "1"}
    )
    got: list[object] = []
    waiting = threading.Thread(target=lambda: got.append(waiters.wait(tx_id, timeout=10)))
    waiting.start()
    committer.commit_block(_next(world, ledger, [entry]))
    waiting.join(10)
    status = got[0]
    assert status is not None
    assert (status.code, status.block_num, status.tx_num) == (0, 1, 0)  # type: ignore[attr-defined]
    already = waiters.wait(tx_id, timeout=0)  # found in the ledger
    assert already is not None
    assert already.block_num == 1
    assert waiters.wait("unknown", timeout=0.01) is None
