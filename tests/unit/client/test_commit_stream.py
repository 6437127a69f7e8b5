"""The batching mode's commit statuses: one DeliverFiltered stream per channel, with
the signed CommitStatus call as the safety net."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from client import Batching, CommitError, SubmitError
from client.commit_notifier import CommitNotifier, CommitWaiter
from protos.common import common_pb2
from protos.peer import events_pb2, transaction_pb2
from tests.unit.client.batch_fakes import BatchNetwork
from tests.unit.client.test_batching import session, wait_until
from tests.unit.sdk.fakes import gateway_error


def test_commit_statuses_come_from_one_stream(net: BatchNetwork) -> None:
    with net.gateway() as gw, ThreadPoolExecutor(8) as pool:
        contract = gw.network("trade").contract("receivable")
        commits = list(pool.map(lambda i: contract.submit_async("Issue", str(i))[1], range(16)))
        statuses = [c.status() for c in commits]
        notifier = session(gw).notifier("trade")
        assert notifier is not None
        assert notifier.streams_opened == 1
        assert notifier.waiting() == 0
    assert net.calls["CommitStatus"] == 0
    # Each transaction committed alone in blocks 1..16 (block 0: genesis).
    blocks = {b.filtered_transactions[0].txid: b.number for b in net.ledger.blocks[1:]}
    assert [(s.transaction_id, s.block_number) for s in statuses] == [
        (c.transaction_id, blocks[c.transaction_id]) for c in commits
    ]
    assert all(s.code_name == "VALID" for s in statuses)
    assert net.ledger.requests[0].start.WhichOneof("Type") == "newest"


def test_an_invalid_commit_is_reported_from_the_stream(net: BatchNetwork) -> None:
    net.script.commit_code = transaction_pb2.MVCC_READ_CONFLICT
    with net.gateway() as gw, pytest.raises(CommitError) as caught:
        gw.network("trade").contract("receivable").submit("Pay")
    assert caught.value.code == "MVCC_READ_CONFLICT"
    assert caught.value.block_number == 1
    assert net.calls["CommitStatus"] == 0


def test_the_stream_resumes_after_a_break_without_gaps(net: BatchNetwork) -> None:
    net.gateway_service.auto_commit = False
    with net.gateway() as gw:
        contract = gw.network("trade").contract("receivable")
        _, commit = contract.submit_async("Pay")
        notifier = session(gw).notifier("trade")
        assert notifier is not None
        assert notifier.last_block == 0
        net.ledger.break_streams()
        net.ledger.append([commit.transaction_id])  # block 1, while the stream is down
        wait_until(lambda: notifier.streams_opened == 2 and notifier.last_block == 1)
        status = commit.status()
    assert (status.block_number, status.successful) == (1, True)
    assert net.calls["CommitStatus"] == 0
    resumed = net.ledger.requests[1].start
    assert (resumed.WhichOneof("Type"), resumed.specified.number) == ("specified", 1)


def test_a_refused_stream_falls_back_to_commit_status(net: BatchNetwork) -> None:
    net.ledger.refuse = common_pb2.FORBIDDEN
    with net.gateway() as gw:
        _, commit = gw.network("trade").contract("receivable").submit_async("Pay")
        status = commit.status()
    assert (status.block_number, status.successful) == (7, True)  # the fake's CommitStatus
    assert net.calls["CommitStatus"] == 1


def test_a_stream_that_does_not_start_in_time_falls_back(net: BatchNetwork) -> None:
    net.ledger.hold = threading.Event()
    with net.gateway(batching=Batching(stream_start_timeout_s=0.2)) as gw:
        gw.network("trade").contract("receivable").submit("Pay")
    assert net.calls["CommitStatus"] == 1


def test_a_break_while_waiting_falls_back_to_commit_status(net: BatchNetwork) -> None:
    net.gateway_service.auto_commit = False
    with net.gateway() as gw, ThreadPoolExecutor(1) as pool:
        _, commit = gw.network("trade").contract("receivable").submit_async("Pay")
        waiting = pool.submit(commit.status)
        time.sleep(0.1)
        assert not waiting.done()
        net.ledger.refuse = common_pb2.SERVICE_UNAVAILABLE  # it stays down
        net.ledger.break_streams()
        status = waiting.result(timeout=5)
    assert status.block_number == 7
    assert net.calls["CommitStatus"] == 1


def test_an_unresolved_txid_falls_back_after_the_grace(net: BatchNetwork) -> None:
    net.gateway_service.auto_commit = False
    with net.gateway(batching=Batching(commit_grace_s=0.3)) as gw:
        _, commit = gw.network("trade").contract("receivable").submit_async("Pay")
        net.ledger.append(["someone-else"])  # a block after the submit, without ours
        status = commit.status()
    assert status.block_number == 7
    assert net.calls["CommitStatus"] == 1


def test_waiters_are_dropped_when_resolved_abandoned_or_failed(net: BatchNetwork) -> None:
    net.gateway_service.auto_commit = False
    with net.gateway() as gw:
        contract = gw.network("trade").contract("receivable")
        _, kept = contract.submit_async("Pay")
        contract.submit_async("Pay")  # its Commit is dropped at once
        notifier = session(gw).notifier("trade")
        assert notifier is not None
        gc.collect()
        assert notifier.waiting() == 1
        net.script.submit_error = gateway_error(grpc.StatusCode.ABORTED, "refused")
        with pytest.raises(SubmitError):
            contract.submit_async("Pay")
        assert notifier.waiting() == 1
        net.ledger.append([kept.transaction_id])
        assert kept.status().block_number == 1
        assert notifier.waiting() == 0


# ------------------------------------------------------------ the notifier alone


class _Stream:
    """A scripted DeliverFiltered call: the given blocks, then a wait until cancelled."""

    def __init__(self, numbers: list[int], txids: dict[int, str]) -> None:
        self._numbers = numbers
        self._txids = txids
        self.cancelled = threading.Event()

    def __iter__(self) -> Iterator[events_pb2.DeliverResponse]:
        for n in self._numbers:
            block = events_pb2.FilteredBlock(number=n)
            if n in self._txids:
                block.filtered_transactions.add(txid=self._txids[n], tx_validation_code=0)
            yield events_pb2.DeliverResponse(filtered_block=block)
        self.cancelled.wait(10)

    def cancel(self) -> bool:
        self.cancelled.set()
        return True


def test_a_skipped_block_reopens_the_stream_after_the_last_block_seen() -> None:
    opened: list[int | None] = []
    script = [[5, 6, 8], [7, 8]]
    streams: list[_Stream] = []

    def open_stream(start: int | None, _closed: threading.Event) -> _Stream:
        opened.append(start)
        stream = _Stream(script[len(streams)], {7: "tx-7"})
        streams.append(stream)
        return stream

    notifier = CommitNotifier(open_stream)
    try:
        waiter = notifier.register("tx-7")
        assert isinstance(waiter, CommitWaiter)
        # (a `wait` now would fall back: the stream is down until it resumes)
        wait_until(lambda: waiter.status is not None)
        status = waiter.wait(5)
    finally:
        notifier.close()
    assert opened == [None, 7]  # newest first; after the gap (8 after 6), from 7
    assert status is not None
    assert (status.transaction_id, status.block_number) == ("tx-7", 7)
    assert notifier.last_block == 8


def test_a_closed_notifier_registers_nothing() -> None:
    notifier = CommitNotifier(lambda _s, _c: _Stream([1], {}))
    assert notifier.register("a") is not None
    notifier.close()
    assert notifier.register("b") is None


def test_status_after_close_fails_as_on_the_standard_path(net: BatchNetwork) -> None:
    net.gateway_service.auto_commit = False
    for batching in (True, False):
        gw = net.gateway(batching=batching)
        _, commit = gw.network("trade").contract("receivable").submit_async("Pay")
        gw.close()
        with pytest.raises(ValueError, match="closed channel"):
            commit.status()
