"""The transaction simulator: reads from the snapshot only, recorded reads, ranges
and writes, and byte-identical results for identical inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chaincode.errors import ChaincodeError
from chaincode.stub import Stub, Timestamp, create_composite_key
from peer.endorser import TxContext, TxSimulator
from peer.ledger import Ledger, LevelLedger, MemoryLedger, Namespace, TxId, Version, Write, rwset
from protos.ledger.rwset import rwset_pb2
from protos.ledger.rwset.kvrwset import kv_rwset_pb2
from protos.peer import chaincode_event_pb2
from tests.unit.peer.blocks import CC, CREATOR, Tx, commit, no_signatures, writes


def _context(tx_id: str = "tx1") -> TxContext:
    return TxContext(
        tx_id=TxId(tx_id),
        timestamp=Timestamp(1_750_000_000),
        creator=CREATOR,
        check_signature=no_signatures,
        channel_config={"org_kinds": '{"CoreMSP": "core"}'},
    )


@pytest.fixture(params=["leveldb", "memory"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    opened: Ledger = (
        MemoryLedger() if request.param == "memory" else LevelLedger.open(tmp_path / "ledger")
    )
    commit(opened, [Tx("t0", writes(("a", b"A"), ("b", b"B"), ("c", b"C")))])
    commit(opened, [Tx("t1", writes(("b", b"B2"), ("e", b"E")))])
    yield opened
    opened.close()


@contextmanager
def _simulate(ledger: Ledger, tx_id: str = "tx1") -> Iterator[TxSimulator]:
    with ledger.snapshot() as snapshot:
        yield TxSimulator(snapshot, CC, _context(tx_id))


def test_is_a_stub(ledger: Ledger) -> None:
    with _simulate(ledger) as sim:
        stub: Stub = sim
        assert stub.get_creator() == CREATOR
        assert stub.get_tx_id() == "tx1"
        assert stub.get_tx_timestamp() == Timestamp(1_750_000_000)
        assert stub.get_channel_config_value("org_kinds") == '{"CoreMSP": "core"}'
        assert stub.get_channel_config_value("missing") is None
        with pytest.raises(ChaincodeError):
            stub.check_signature(b"id", b"data", b"sig")


def test_reads_do_not_see_own_writes(ledger: Ledger) -> None:
    with _simulate(ledger) as sim:
        sim.put_state("a", b"mine")
        sim.put_state("new", b"mine")
        sim.del_state("b")
        assert sim.get_state("a") == b"A"
        assert sim.get_state("new") is None
        assert sim.get_state("b") == b"B2"
        assert [k for k, _ in sim.get_state_by_range("", "")] == ["a", "b", "c", "e"]


def test_records_reads_with_versions_and_missing_keys(ledger: Ledger) -> None:
    with _simulate(ledger) as sim:
        sim.get_state("b")
        sim.get_state("zz")
        sim.get_state("a")
        sim.get_state("b")
        result = sim.results()
    (ns,) = result.rwset.namespaces
    assert ns.namespace == CC
    assert ns.reads == (
        rwset.Read("a", Version(0, 0)),
        rwset.Read("b", Version(1, 0)),
        rwset.Read("zz", None),
    )
    kv = kv_rwset_pb2.KVRWSet.FromString(
        rwset_pb2.TxReadWriteSet.FromString(result.rwset_bytes).ns_rwset[0].rwset
    )
    assert [r.key for r in kv.reads] == ["a", "b", "zz"]
    assert not kv.reads[2].HasField("version")
    assert kv.reads[1].version.block_num == 1


def test_writes_last_wins_sorted_and_empty_put_deletes(ledger: Ledger) -> None:
    with _simulate(ledger) as sim:
        sim.put_state("z", b"1")
        sim.put_state("m", b"1")
        sim.put_state("z", b"2")
        sim.put_state("a", b"x")
        sim.del_state("a")
        sim.put_state("q", b"")
        result = sim.results()
    (ns,) = result.rwset.namespaces
    assert ns.writes == (
        Write(CC, "a", None),
        Write(CC, "m", b"1"),
        Write(CC, "q", None),
        Write(CC, "z", b"2"),
    )
    assert ns.reads == ()
    kv = kv_rwset_pb2.KVRWSet.FromString(
        rwset_pb2.TxReadWriteSet.FromString(result.rwset_bytes).ns_rwset[0].rwset
    )
    assert [(w.key, w.is_delete, w.value) for w in kv.writes] == [
        ("a", True, b""),
        ("m", False, b"1"),
        ("q", True, b""),
        ("z", False, b"2"),
    ]


def test_range_queries_recorded_with_exhaustion(ledger: Ledger) -> None:
    with _simulate(ledger) as sim:
        assert list(sim.get_state_by_range("b", "e")) == [("b", b"B2"), ("c", b"C")]
        partial = sim.get_state_by_range("a", "")
        assert next(partial) == ("a", b"A")
        empty = list(sim.get_state_by_range("x", "y"))
        result = sim.results()
    assert empty == []
    (ns,) = result.rwset.namespaces
    assert ns.reads == ()  # range reads are not point reads
    assert ns.range_queries == (
        rwset.RangeQuery(
            "b", "e", True, (rwset.Read("b", Version(1, 0)), rwset.Read("c", Version(0, 0)))
        ),
        rwset.RangeQuery("a", "", False, (rwset.Read("a", Version(0, 0)),)),
        rwset.RangeQuery("x", "y", True, ()),
    )
    kv = kv_rwset_pb2.KVRWSet.FromString(
        rwset_pb2.TxReadWriteSet.FromString(result.rwset_bytes).ns_rwset[0].rwset
    )
    assert [q.itr_exhausted for q in kv.range_queries_info] == [True, False, True]
    assert all(q.WhichOneof("reads_info") == "raw_reads" for q in kv.range_queries_info)
    assert rwset.decode(result.rwset_bytes) == result.rwset


def test_composite_key_ranges(ledger: Ledger) -> None:
    keys = [create_composite_key("inv", [p]) for p in ("1", "2", "10")]
    commit(ledger, [Tx("t2", writes(*[(k, b"v") for k in keys]))])
    with _simulate(ledger) as sim:
        found = [
            k
            for k, _ in sim.get_state_by_range(
                create_composite_key("inv", []), create_composite_key("inv", []) + "\U0010ffff"
            )
        ]
    assert found == sorted(keys)


def test_snapshot_isolates_from_concurrent_commit(ledger: Ledger) -> None:
    with _simulate(ledger) as sim:
        assert sim.get_state("a") == b"A"
        commit(ledger, [Tx("t9", writes(("a", b"A9"), ("d", b"D")))])
        assert sim.get_state("a") == b"A"
        assert [k for k, _ in sim.get_state_by_range("", "")] == ["a", "b", "c", "e"]
    assert ledger.get_state(CC, "a") is not None


def test_history_and_events(ledger: Ledger) -> None:
    with _simulate(ledger) as sim:
        assert [(m.tx_id, m.value) for m in sim.get_history_for_key("b")] == [
            ("t0", b"B"),
            ("t1", b"B2"),
        ]
        sim.set_event("first", b"1")
        sim.set_event("Issued", b'{"id":"V1"}')
        result = sim.results()
    assert result.rwset.namespaces == ()  # history reads are not recorded
    event = chaincode_event_pb2.ChaincodeEvent.FromString(result.event_bytes)
    assert (event.chaincode_id, event.tx_id, event.event_name, event.payload) == (
        "cc",
        "tx1",
        "Issued",
        b'{"id":"V1"}',
    )


def test_no_event_no_bytes(ledger: Ledger) -> None:
    with _simulate(ledger) as sim:
        assert sim.results().event is None
        assert sim.results().event_bytes == b""


def test_rejects_bad_keys_and_events(ledger: Ledger) -> None:
    with _simulate(ledger) as sim:
        calls: list[Callable[[], object]] = [
            lambda: sim.put_state("", b"x"),
            lambda: sim.get_state(""),
            lambda: sim.put_state("\ud800", b"x"),
        ]
        for call in calls:
            with pytest.raises(ChaincodeError) as caught:
                call()
            assert caught.value.code == "INVALID_KEY"
        with pytest.raises(ChaincodeError):
            sim.set_event("", b"x")


def _contract(stub: Stub) -> None:
    """A little contract whose operations are issued in a scrambled order."""
    stub.put_state("z", b"1")
    stub.get_state("c")
    stub.get_state("missing")
    for key, value in stub.get_state_by_range("a", "d"):
        stub.put_state("copy/" + key, value)
    stub.del_state("e")
    stub.get_state("a")
    stub.put_state(create_composite_key("t", ["x"]), b"\x00\xff")
    stub.set_event("Done", b"ok")


def test_rwset_bytes_identical_for_identical_inputs() -> None:
    results = []
    for _ in range(2):
        ledger = MemoryLedger()
        commit(ledger, [Tx("t0", writes(("a", b"A"), ("b", b"B"), ("c", b"C"), ("e", b"E")))])
        with _simulate(ledger, "tx42") as sim:
            _contract(sim)
            results.append(sim.results())
    assert results[0].rwset_bytes == results[1].rwset_bytes
    assert results[0].event_bytes == results[1].event_bytes
    assert rwset.decode(results[0].rwset_bytes) == results[0].rwset


def test_encode_sorts_namespaces_and_dedupes() -> None:
    a, b = Namespace("a"), Namespace("b")
    unsorted = rwset.TxRWSet(
        (
            rwset.NsRWSet(b, writes=(Write(b, "y", b"1"), Write(b, "x", b"2"))),
            rwset.NsRWSet(a, reads=(rwset.Read("k", None), rwset.Read("j", Version(1, 2)))),
        )
    )
    canonical = rwset.TxRWSet(
        (
            rwset.NsRWSet(a, reads=(rwset.Read("j", Version(1, 2)), rwset.Read("k", None))),
            rwset.NsRWSet(b, writes=(Write(b, "x", b"2"), Write(b, "y", b"1"))),
        )
    )
    assert rwset.encode(unsorted) == rwset.encode(canonical)
    assert rwset.decode(rwset.encode(unsorted)) == canonical


def test_decode_refuses_garbage() -> None:
    with pytest.raises(rwset.RWSetError):
        rwset.decode(b"\xff\xff\xff")
    bad_ns = rwset_pb2.TxReadWriteSet(
        ns_rwset=[rwset_pb2.NsReadWriteSet(namespace="x", rwset=b"\x0a\xff")]
    )
    with pytest.raises(rwset.RWSetError):
        rwset.decode(bad_ns.SerializeToString())
