"""Block and chaincode event iterators, and checkpointers."""

from __future__ import annotations

import json

import pytest

from client import ChaincodeEvent, EventsError, FileCheckpointer, InMemoryCheckpointer
from client.checkpoint import CheckpointError
from tests.unit.sdk.fakes import FakeNetwork, events_response, make_chain


def test_block_events_from_a_start_block_until_closed(fake: FakeNetwork) -> None:
    fake.script.blocks = make_chain(4)
    with fake.gateway() as gw, gw.network("trade").block_events(start_block=1) as events:
        numbers = [next(events).header.number for _ in range(3)]
        events.close()
        assert list(events) == []  # closed: iteration stops, no error
    assert numbers == [1, 2, 3]


def test_bounded_block_read_ends_and_a_missing_block_is_named(fake: FakeNetwork) -> None:
    fake.script.blocks = make_chain(3)
    with fake.gateway() as gw:
        network = gw.network("trade")
        with network.blocks(0) as blocks:
            assert [b.header.number for b in blocks] == [0, 1, 2]
        assert network.newest_block() == 2
        with network.blocks(9, 9) as blocks, pytest.raises(EventsError) as caught:
            next(blocks)
    assert caught.value.code == "BLOCK_NOT_FOUND"


def test_block_events_resume_from_a_file_checkpoint(fake: FakeNetwork, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake.script.blocks = make_chain(5)
    path = tmp_path / "cp" / "blocks.json"
    checkpoint = FileCheckpointer(path)
    with fake.gateway() as gw:
        with gw.network("trade").block_events(start_block=0, checkpoint=checkpoint) as events:
            for _ in range(2):
                checkpoint.checkpoint_block(next(events).header.number)
        # "Restart": a new checkpointer reads the file and the stream resumes at 2.
        again = FileCheckpointer(path)
        assert again.block_number == 2
        with gw.network("trade").block_events(start_block=0, checkpoint=again) as events:
            assert next(events).header.number == 2
    assert json.loads(path.read_text()) == {"blockNumber": 2, "transactionId": ""}


def test_chaincode_events_and_resume_after_a_transaction(fake: FakeNetwork, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake.script.events = [events_response(3, "t1", "t2"), events_response(4, "t3")]
    path = tmp_path / "events.json"
    checkpoint = FileCheckpointer(path)
    with fake.gateway() as gw:
        network = gw.network("trade")
        with network.chaincode_events("receivable", start_block=3) as events:
            first = next(events)
            checkpoint.checkpoint_chaincode_event(first)
        assert first == ChaincodeEvent(3, "t1", "receivable", "Issued", b"t1")
        with network.chaincode_events("receivable", checkpoint=FileCheckpointer(path)) as events:
            rest = [next(events).transaction_id for _ in range(2)]
    assert rest == ["t2", "t3"]
    resumed = fake.script.event_requests[-1]
    assert (resumed.start_position.specified.number, resumed.after_transaction_id) == (3, "t1")
    assert resumed.chaincode_id == "receivable"


def test_chaincode_events_default_to_the_next_commit(fake: FakeNetwork) -> None:
    fake.script.events = [events_response(9, "t9")]
    with fake.gateway() as gw, gw.network("trade").chaincode_events("receivable") as events:
        assert next(events).transaction_id == "t9"
    assert fake.script.event_requests[0].start_position.WhichOneof("Type") == "next_commit"


def test_in_memory_checkpointer() -> None:
    checkpoint = InMemoryCheckpointer()
    assert (checkpoint.block_number, checkpoint.transaction_id) == (None, "")
    checkpoint.checkpoint_transaction(5, "tx")
    assert (checkpoint.block_number, checkpoint.transaction_id) == (5, "tx")
    checkpoint.checkpoint_block(5)
    assert (checkpoint.block_number, checkpoint.transaction_id) == (6, "")


def test_a_corrupt_checkpoint_file_is_a_named_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cp.json"
    path.write_text("{not json")
    with pytest.raises(CheckpointError):
        FileCheckpointer(path)
    path.write_text('{"blockNumber": -1}')
    with pytest.raises(CheckpointError):
        FileCheckpointer(path)
