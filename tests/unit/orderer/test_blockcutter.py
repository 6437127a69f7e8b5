"""Block cutting rules (Fabric's blockcutter), one test per rule."""

from __future__ import annotations

from orderer.blockcutter import Accepted, BatchLimits, BlockCutter, Refused
from protos.common import common_pb2

LIMITS = BatchLimits(
    max_message_count=3, absolute_max_bytes=100, preferred_max_bytes=50, timeout_s=0.1
)


def accepted(result: object) -> Accepted:
    assert isinstance(result, Accepted), result
    return result


def test_cut_at_max_message_count() -> None:
    cutter = BlockCutter(LIMITS)
    assert accepted(cutter.ordered(b"a" * 5, "t1", 0.0)).batches == ()
    assert accepted(cutter.ordered(b"b" * 5, "t2", 0.0)).batches == ()
    batches = accepted(cutter.ordered(b"c" * 5, "t3", 0.0)).batches
    assert [b.txids for b in batches] == [("t1", "t2", "t3")]
    assert cutter.pending_count() == 0
    assert cutter.deadline() is None


def test_envelope_above_preferred_max_goes_alone_after_the_pending_batch() -> None:
    cutter = BlockCutter(LIMITS)
    cutter.ordered(b"a" * 10, "t1", 0.0)
    batches = accepted(cutter.ordered(b"big" * 20, "t2", 0.0)).batches
    assert [b.txids for b in batches] == [("t1",), ("t2",)]
    assert cutter.pending_count() == 0


def test_envelope_above_preferred_max_with_nothing_pending() -> None:
    cutter = BlockCutter(LIMITS)
    batches = accepted(cutter.ordered(b"x" * 60, "t1", 0.0)).batches
    assert [b.txids for b in batches] == [("t1",)]


def test_pending_batch_is_cut_before_it_would_overflow_preferred_max() -> None:
    cutter = BlockCutter(LIMITS)
    cutter.ordered(b"a" * 30, "t1", 0.0)
    batches = accepted(cutter.ordered(b"b" * 30, "t2", 0.0)).batches
    assert [b.txids for b in batches] == [("t1",)]
    assert cutter.pending_count() == 1
    assert cutter.is_pending("t2")


def test_above_absolute_max_is_refused() -> None:
    cutter = BlockCutter(LIMITS)
    result = cutter.ordered(b"x" * 101, "t1", 0.0)
    assert isinstance(result, Refused)
    assert result.status == common_pb2.REQUEST_ENTITY_TOO_LARGE
    assert cutter.pending_count() == 0


def test_duplicate_pending_txid_is_refused() -> None:
    cutter = BlockCutter(LIMITS)
    cutter.ordered(b"a", "t1", 0.0)
    result = cutter.ordered(b"b", "t1", 0.0)
    assert isinstance(result, Refused)
    assert result.status == common_pb2.BAD_REQUEST
    cutter.cut()
    assert accepted(cutter.ordered(b"b", "t1", 0.0)).batches == ()  # no longer pending


def test_timeout_runs_from_the_first_pending_envelope() -> None:
    cutter = BlockCutter(LIMITS)
    assert cutter.deadline() is None
    cutter.ordered(b"a", "t1", 10.0)
    cutter.ordered(b"b", "t2", 10.05)
    assert cutter.deadline() == 10.1
    batch = cutter.cut()
    assert batch is not None
    assert batch.envelopes == (b"a", b"b")
    assert batch.size == 2
    assert cutter.cut() is None
    cutter.ordered(b"c", "t3", 11.0)
    assert cutter.deadline() == 11.1
