"""MVCC and phantom-read validation in block order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincode.stub import Timestamp
from peer.endorser import TxContext, TxSimulator
from peer.ledger import Ledger, LevelLedger, MemoryLedger, Namespace, TxId, Version, Write, rwset
from peer.validator import (
    MVCC_READ_CONFLICT,
    PHANTOM_READ_CONFLICT,
    VALID,
    BlockTx,
    validate_block,
)
from protos.peer import transaction_pb2
from tests.unit.peer.blocks import (
    CC,
    CREATOR,
    TS,
    Tx,
    commit,
    commit_block,
    envelope,
    next_block,
    no_signatures,
    writes,
)


@pytest.fixture(params=["leveldb", "memory"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    opened: Ledger = (
        MemoryLedger() if request.param == "memory" else LevelLedger.open(tmp_path / "ledger")
    )
    commit(opened, [Tx("seed", writes(("acct/a", b"100"), ("acct/c", b"50"), ("x", b"1")))])
    yield opened
    opened.close()


def simulate(ledger: Ledger, tx_id: str, body: object) -> Tx:
    """Run `body(stub)` on a fresh snapshot and wrap its rwset as a block Tx."""
    with ledger.snapshot() as snapshot:
        sim = TxSimulator(
            snapshot, CC, TxContext(TxId(tx_id), Timestamp(1), CREATOR, no_signatures)
        )
        body(sim)  # type: ignore[operator]
        return Tx(tx_id, sim.results().rwset)


def increment(key: str) -> object:
    def body(stub: TxSimulator) -> None:
        value = int(stub.get_state(key) or b"0")
        stub.put_state(key, str(value + 1).encode())

    return body


def _tx(rw: rwset.TxRWSet, code: int = VALID) -> BlockTx:
    return BlockTx(TxId("t"), TS, rw, code)


def test_read_modify_write_in_one_block_only_first_valid(ledger: Ledger) -> None:
    txs = [simulate(ledger, f"inc{i}", increment("acct/a")) for i in range(4)]
    result = commit(ledger, txs)
    assert result.codes == (VALID, MVCC_READ_CONFLICT, MVCC_READ_CONFLICT, MVCC_READ_CONFLICT)
    assert ledger.get_state(CC, "acct/a") is not None
    assert ledger.get_state(CC, "acct/a").value == b"101"  # type: ignore[union-attr]
    assert ledger.tx_location("inc1").validation_code == MVCC_READ_CONFLICT  # type: ignore[union-attr]
    assert [h.tx_id for h in ledger.history(CC, "acct/a")] == ["seed", "inc0"]


def test_conflict_against_committed_state(ledger: Ledger) -> None:
    stale = simulate(ledger, "stale", increment("acct/a"))
    commit(ledger, [simulate(ledger, "first", increment("acct/a"))])
    result = commit(ledger, [stale, simulate(ledger, "fresh", increment("acct/a"))])
    assert result.codes == (MVCC_READ_CONFLICT, VALID)
    assert ledger.get_state(CC, "acct/a").value == b"102"  # type: ignore[union-attr]


def test_read_of_missing_key_conflicts_once_created(ledger: Ledger) -> None:
    create = simulate(ledger, "create", increment("new"))
    create_again = simulate(ledger, "again", increment("new"))
    assert commit(ledger, [create]).codes == (VALID,)
    assert commit(ledger, [create_again]).codes == (MVCC_READ_CONFLICT,)
    read_missing = rwset.TxRWSet((rwset.NsRWSet(CC, reads=(rwset.Read("never", None),)),))
    assert validate_block(9, [_tx(read_missing)], ledger).codes == (VALID,)


def test_blind_writes_do_not_conflict(ledger: Ledger) -> None:
    result = commit(
        ledger, [Tx("w1", writes(("acct/a", b"1"))), Tx("w2", writes(("acct/a", b"2")))]
    )
    assert result.codes == (VALID, VALID)
    assert ledger.get_state(CC, "acct/a").value == b"2"  # type: ignore[union-attr]
    assert ledger.get_state(CC, "acct/a").version == Version(1, 1)  # type: ignore[union-attr]


def test_delete_then_read_conflicts(ledger: Ledger) -> None:
    def delete(stub: TxSimulator) -> None:
        stub.get_state("x")
        stub.del_state("x")

    result = commit(
        ledger, [simulate(ledger, "del", delete), simulate(ledger, "read", increment("x"))]
    )
    assert result.codes == (VALID, MVCC_READ_CONFLICT)
    assert ledger.get_state(CC, "x") is None
    assert ledger.history(CC, "x")[-1].is_delete


def _scan(start: str, end: str, stop_after: int | None = None) -> object:
    def body(stub: TxSimulator) -> None:
        total = 0
        for n, (_key, value) in enumerate(stub.get_state_by_range(start, end)):
            if stop_after is not None and n >= stop_after:
                break
            total += int(value)
        stub.put_state("total", str(total).encode())

    return body


def test_phantom_insert_by_earlier_tx_in_block(ledger: Ledger) -> None:
    insert = Tx("ins", writes(("acct/b", b"7")))
    scan = simulate(ledger, "scan", _scan("acct/", "acct0"))
    result = commit(ledger, [insert, scan])
    assert result.codes == (VALID, PHANTOM_READ_CONFLICT)
    assert ledger.get_state(CC, "total") is None


def test_phantom_update_or_delete_in_range(ledger: Ledger) -> None:
    scan = simulate(ledger, "scan1", _scan("acct/", "acct0"))
    assert commit(ledger, [Tx("upd", writes(("acct/c", b"51"))), scan]).codes == (
        VALID,
        PHANTOM_READ_CONFLICT,
    )
    scan = simulate(ledger, "scan2", _scan("acct/", "acct0"))
    assert commit(ledger, [Tx("del", writes(("acct/a", None))), scan]).codes == (
        VALID,
        PHANTOM_READ_CONFLICT,
    )


def test_phantom_against_committed_state(ledger: Ledger) -> None:
    scan = simulate(ledger, "scan", _scan("acct/", ""))
    commit(ledger, [Tx("ins", writes(("acct/b", b"7")))])
    assert commit(ledger, [scan]).codes == (PHANTOM_READ_CONFLICT,)


def test_writes_outside_range_are_not_phantoms(ledger: Ledger) -> None:
    scan = simulate(ledger, "scan", _scan("acct/", "acct/c"))
    result = commit(
        ledger, [Tx("out", writes(("acct/c", b"0"), ("acct/d", b"1"), ("zz", b"1"))), scan]
    )
    assert result.codes == (VALID, VALID)
    assert ledger.get_state(CC, "total").value == b"100"  # type: ignore[union-attr]


def test_unexhausted_range_checks_only_keys_read(ledger: Ledger) -> None:
    # Stopping after 0 values still pulled one key (acct/a) from the iterator.
    scan = simulate(ledger, "scan", _scan("acct/", "", stop_after=0))
    (ns,) = scan.rwset.namespaces
    assert not ns.range_queries[0].exhausted
    assert [r.key for r in ns.range_queries[0].reads] == ["acct/a"]
    # Inserting after the last key read is fine...
    result = commit(ledger, [Tx("after", writes(("acct/b", b"1"))), scan])
    assert result.codes == (VALID, VALID)
    # ...but inserting before the last key read is a phantom.
    scan = simulate(ledger, "scan2", _scan("acct/", "", stop_after=0))
    result = commit(ledger, [Tx("before", writes(("acct/0", b"1"))), scan])
    assert result.codes == (VALID, PHANTOM_READ_CONFLICT)


def test_already_invalid_txs_are_skipped_and_write_nothing(ledger: Ledger) -> None:
    first = simulate(ledger, "bad", increment("acct/a"))
    second = simulate(ledger, "good", increment("acct/a"))
    block = next_block(ledger, [envelope(first), envelope(second)])
    result = commit_block(ledger, block, [transaction_pb2.ENDORSEMENT_POLICY_FAILURE, VALID])
    assert result.codes == (transaction_pb2.ENDORSEMENT_POLICY_FAILURE, VALID)
    assert [w.tx_num for w in result.writes] == [1]
    assert ledger.get_state(CC, "acct/a").value == b"101"  # type: ignore[union-attr]


def test_state_updates_last_valid_writer_wins(ledger: Ledger) -> None:
    result = validate_block(
        5,
        [
            _tx(writes(("k", b"1"), ("j", b"1"))),
            _tx(writes(("k", None))),
            _tx(writes(("k", b"3")), code=1),
        ],
        ledger,
    )
    assert result.codes == (VALID, VALID, 1)
    assert result.state_updates() == {(CC, "k"): None, (CC, "j"): b"1"}


def test_multiple_namespaces(ledger: Ledger) -> None:
    other = Namespace("other")
    reads_other = rwset.TxRWSet(
        (
            rwset.NsRWSet(CC, reads=(rwset.Read("x", Version(0, 0)),)),
            rwset.NsRWSet(other, reads=(rwset.Read("x", None),), writes=(Write(other, "x", b"o"),)),
        )
    )
    result = validate_block(1, [_tx(reads_other), _tx(reads_other)], ledger)
    assert result.codes == (VALID, MVCC_READ_CONFLICT)
