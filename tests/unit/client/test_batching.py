"""The batching mode's Endorse/Submit coalescing against an in-process gateway."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from client import Batching, EndorseError, GatewayError, SubmitError
from client.batching import BatchSession
from tests.unit.client.batch_fakes import BatchNetwork
from tests.unit.sdk.fakes import gateway_error


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def session(gateway: Any) -> BatchSession:
    batch = gateway._connection.batch
    assert isinstance(batch, BatchSession)
    return batch


def test_batching_is_off_by_default(net: BatchNetwork) -> None:
    with net.gateway(batching=False) as gw:
        assert gw.batching is None
        gw.network("trade").contract("receivable").submit("Issue")
    assert net.batch_service.sizes == {"EndorseBatch": [], "SubmitBatch": []}
    assert (net.calls["Endorse"], net.calls["Submit"], net.calls["CommitStatus"]) == (1, 1, 1)


def test_concurrent_calls_share_batch_calls(net: BatchNetwork) -> None:
    gate = net.batch_service.gate = threading.Event()
    no_linger = Batching(endorse_linger_s=0, submit_linger_s=0)
    with net.gateway(batching=no_linger) as gw, ThreadPoolExecutor(20) as pool:
        contract = gw.network("trade").contract("receivable")
        proposals = [contract.new_proposal("Issue", str(i)) for i in range(20)]
        endorsing = [pool.submit(p.endorse) for p in proposals]
        # Two batch calls out (one item each: nothing waited), the rest queued.
        wait_until(
            lambda: (
                len(net.batch_service.sizes["EndorseBatch"]) == 2
                and session(gw).endorse.queued() == 18
            )
        )
        gate.set()
        transactions = [f.result(timeout=10) for f in endorsing]
        assert [t.transaction_id for t in transactions] == [p.transaction_id for p in proposals]
        assert [t.result for t in transactions] == [
            b'{"function": "Issue", "args": ["%d"]}' % i for i in range(20)
        ]
        gate.clear()
        submitting = [pool.submit(t.submit) for t in transactions]
        # Submits may have 8 batch calls out (`max_outstanding_submits`).
        wait_until(
            lambda: (
                len(net.batch_service.sizes["SubmitBatch"]) == 8
                and session(gw).submit.queued() == 12
            )
        )
        gate.set()
        commits = [f.result(timeout=10) for f in submitting]
        statuses = [c.status() for c in commits]
    assert net.batch_service.sizes == {"EndorseBatch": [1, 1, 18], "SubmitBatch": [1] * 8 + [12]}
    assert sorted(net.script.submitted) == sorted(p.transaction_id for p in proposals)
    assert all(s.successful for s in statuses)
    assert net.calls == {}  # not one unary call


def _endorse_failure(net: BatchNetwork, *, batching: bool) -> tuple[str, EndorseError]:
    with net.gateway(batching=batching) as gw:
        proposal = gw.network("trade").contract("receivable").new_proposal("Transfer")
        with pytest.raises(EndorseError) as caught:
            proposal.endorse()
    return proposal.transaction_id, caught.value


def _same(batched: GatewayError, unary: GatewayError) -> None:
    assert type(batched) is type(unary)
    assert (batched.code, batched.grpc_code, batched.details) == (
        unary.code,
        unary.grpc_code,
        unary.details,
    )
    assert str(batched).replace(batched.transaction_id, "T") == str(unary).replace(
        unary.transaction_id, "T"
    )


def test_a_failed_endorsement_raises_what_the_unary_call_raises(net: BatchNetwork) -> None:
    net.script.errors["Transfer"] = gateway_error(
        grpc.StatusCode.ABORTED,
        "failed to endorse transaction, see attached details for more info",
        "chaincode response 500, INSUFFICIENT_AMOUNT: voucher V-1 has 5, asked 9",
    )
    txid, batched = _endorse_failure(net, batching=True)
    _, unary = _endorse_failure(net, batching=False)
    assert net.batch_service.sizes["EndorseBatch"] == [1]
    assert batched.transaction_id == txid
    assert batched.code == "INSUFFICIENT_AMOUNT"
    assert batched.grpc_code == grpc.StatusCode.ABORTED
    assert len(batched.details) == 1
    _same(batched, unary)


def test_a_failed_item_does_not_fail_its_neighbours(net: BatchNetwork) -> None:
    net.script.errors["Transfer"] = gateway_error(grpc.StatusCode.ABORTED, "E_CODE: refused")
    gate = net.batch_service.gate = threading.Event()
    no_linger = Batching(endorse_linger_s=0, submit_linger_s=0)
    with net.gateway(batching=no_linger) as gw, ThreadPoolExecutor(6) as pool:
        contract = gw.network("trade").contract("receivable")
        proposals = [contract.new_proposal("Transfer" if i % 2 else "Issue") for i in range(6)]
        endorsing = [pool.submit(p.endorse) for p in proposals]
        wait_until(lambda: session(gw).endorse.queued() == 4)
        gate.set()
        for i, future in enumerate(endorsing):
            if i % 2:
                error = future.exception(timeout=10)
                assert isinstance(error, EndorseError)
                assert (error.code, error.transaction_id) == ("E_CODE", proposals[i].transaction_id)
            else:
                assert future.result(timeout=10).transaction_id == proposals[i].transaction_id
    assert net.batch_service.sizes["EndorseBatch"] == [1, 1, 4]


def test_a_failed_submit_raises_what_the_unary_call_raises(net: BatchNetwork) -> None:
    net.script.submit_error = gateway_error(
        grpc.StatusCode.ABORTED,
        "received unsuccessful response from orderer: status=BAD_REQUEST, info=x",
        "received unsuccessful response from orderer: status=BAD_REQUEST, info=x",
    )
    errors: list[SubmitError] = []
    for batching in (True, False):
        with net.gateway(batching=batching) as gw:
            transaction = gw.network("trade").contract("receivable").new_proposal("Pay").endorse()
            with pytest.raises(SubmitError) as caught:
                transaction.submit()
            assert caught.value.transaction_id == transaction.transaction_id
            errors.append(caught.value)
            if batching:
                notifier = session(gw).notifier("trade")
                assert notifier is not None
                assert notifier.waiting() == 0
    assert net.batch_service.sizes["SubmitBatch"] == [1]
    assert errors[0].grpc_code == grpc.StatusCode.ABORTED
    _same(errors[0], errors[1])


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "ENDORSE_FAILED"),
        (grpc.StatusCode.UNAVAILABLE, "NETWORK_UNREACHABLE"),
    ],
)
def test_a_failed_batch_call_fails_each_item_as_the_call_would(
    net: BatchNetwork, status: grpc.StatusCode, code: str
) -> None:
    net.batch_service.batch_error = (status, "the batch call failed")
    txid, error = _endorse_failure(net, batching=True)
    assert (error.code, error.grpc_code, error.transaction_id) == (code, status, txid)
    assert net.calls["Endorse"] == 0


def test_a_peer_without_the_batch_service_gets_unary_calls_for_good() -> None:
    fabric = BatchNetwork(batch_service=False)
    try:
        with fabric.gateway() as gw:
            contract = gw.network("trade").contract("receivable")
            contract.submit("Issue", "1")
            contract.submit("Issue", "2")
            batch = session(gw)
            assert batch.unsupported.is_set()
            # Only the first Endorse tried a batch call; Submit never did.
            assert (batch.endorse.batches_sent, batch.submit.batches_sent) == (1, 0)
        assert (fabric.calls["Endorse"], fabric.calls["Submit"]) == (2, 2)
        assert fabric.calls["CommitStatus"] == 0  # DeliverFiltered is Fabric's too
    finally:
        fabric.close()


def test_batching_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        Batching(max_batch=0)
    with pytest.raises(ValueError, match="max_outstanding_submits"):
        Batching(max_outstanding_submits=0)
    with pytest.raises(ValueError, match="linger"):
        Batching(submit_linger_s=-0.001)
