"""`scf.GatewayBatch` over real endorsers (CoreMSP local, BankMSP remote) and fake
orderers, through a real gRPC server beside the plain Gateway service: every item
answers as its single call would, alone, and a SubmitBatch reaches the orderer at
once (see test_batch_vectorised.py for the calls and threads it costs)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field

import grpc
import pytest

from common import txutil
from common.config.bundle import ChannelBundle
from common.msp import SigningIdentity
from peer.committer import Committer, TxStatusWaiters
from peer.gateway import GatewayBatchServicer, GatewayServicer, RemotePeer
from peer.gateway.batch import MAX_ITEMS
from peer.gateway.endorse import Endpoint
from peer.gateway.errors import MAX_TEXT, GatewayError
from peer.gateway.support import BroadcastClient, EndorserClient
from peer.ledger import MemoryLedger
from protos.common import common_pb2
from protos.gateway import gateway_pb2, gateway_pb2_grpc
from protos.orderer import ab_pb2
from protos.scf import batch_pb2, batch_pb2_grpc
from tests.unit.peer.endorser.world import CHANNEL, World, make_world, propose
from tests.unit.peer.gateway.harness import (
    BANK_ADDRESS,
    CORE_ADDRESS,
    FakeOrderer,
    FakeSupport,
    code_of,
    error_details,
    message_of,
    sign_prepared,
)

ORDERER = "orderer0:7050"
WAIT = 10.0  # seconds a fake waits for the concurrency it expects before giving up


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@dataclass
class BatchNode:
    world: World
    single: gateway_pb2_grpc.GatewayStub
    batch: batch_pb2_grpc.GatewayBatchStub


@contextmanager
def batch_node(
    world: World,
    *,
    bank: EndorserClient | None = None,
    orderer: BroadcastClient | None = None,
    gateway_type: type[GatewayServicer] = GatewayServicer,
) -> Iterator[BatchNode]:
    """A CoreMSP gateway peer serving Gateway and GatewayBatch over one servicer;
    `bank` is BankMSP's only endorser (default: a real one), `orderer` the only
    orderer (default: always SUCCESS)."""
    ledger = MemoryLedger()
    waiters = TxStatusWaiters(ledger)
    committer = Committer(ledger, world.bundle, listeners=[waiters])
    committer.commit_block(world.genesis())
    support = FakeSupport(
        world,
        ledger,
        committer,
        waiters,
        local=world.endorser(world.core_peer, ledger),
        remotes=[
            (RemotePeer("BankMSP", BANK_ADDRESS), bank or world.endorser(world.bank_peer, ledger))
        ],
        orderers=[(ORDERER, orderer or FakeOrderer())],
    )
    gateway = gateway_type(support)
    batch = GatewayBatchServicer(gateway)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    gateway_pb2_grpc.add_GatewayServicer_to_server(gateway, server)  # type: ignore[no-untyped-call]
    batch_pb2_grpc.add_GatewayBatchServicer_to_server(batch, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield BatchNode(
            world,
            gateway_pb2_grpc.GatewayStub(channel),  # type: ignore[no-untyped-call]
            batch_pb2_grpc.GatewayBatchStub(channel),  # type: ignore[no-untyped-call]
        )
    finally:
        channel.close()
        server.stop(grace=None).wait()
        committer.close()


def _endorse_request(
    signer: SigningIdentity, fn: str, args: dict[str, str], *, channel: str = CHANNEL
) -> gateway_pb2.EndorseRequest:
    signed, parsed = propose(signer, fn, args, channel=channel)
    return gateway_pb2.EndorseRequest(
        transaction_id=parsed.tx_id, channel_id=parsed.channel_id, proposed_transaction=signed
    )


def _puts(world: World, n: int, prefix: str = "k") -> list[gateway_pb2.EndorseRequest]:
    return [
        _endorse_request(world.alice, "Put", {"key": f"{prefix}{i}", "value": str(i)})
        for i in range(n)
    ]


def _tx_id(envelope: common_pb2.Envelope) -> str:
    return txutil.parse_envelope_header(envelope.SerializeToString()).channel_header.tx_id


def _submit_requests(
    node: BatchNode, requests: Sequence[gateway_pb2.EndorseRequest]
) -> list[gateway_pb2.SubmitRequest]:
    """Endorse `requests` (one batch) and sign what comes back, as a client would."""
    outcomes = node.batch.EndorseBatch(_batch(requests), timeout=30)
    return [
        gateway_pb2.SubmitRequest(
            transaction_id=request.transaction_id,
            channel_id=CHANNEL,
            prepared_transaction=sign_prepared(node.world.alice, o.response.prepared_transaction),
        )
        for request, o in zip(requests, outcomes.outcomes, strict=True)
    ]


def _batch(requests: Sequence[gateway_pb2.EndorseRequest]) -> batch_pb2.EndorseRequests:
    return batch_pb2.EndorseRequests(requests=requests)


def _single_error(call: object, request: object) -> batch_pb2.ItemError:
    """What the single call answers for `request`, as an ItemError."""
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)  # type: ignore[operator]
    error = caught.value
    return batch_pb2.ItemError(
        code=code_of(error).value[0], message=message_of(error), details=error_details(error)
    )


# ------------------------------------------------------------------ EndorseBatch


def test_endorse_batch_answers_every_item_in_order(world: World) -> None:
    requests = _puts(world, 5)
    with batch_node(world) as node:
        outcomes = node.batch.EndorseBatch(_batch(requests), timeout=30).outcomes
    assert len(outcomes) == len(requests)
    for request, outcome in zip(requests, outcomes, strict=True):
        assert outcome.WhichOneof("outcome") == "response"
        envelope = sign_prepared(world.alice, outcome.response.prepared_transaction)
        tx = txutil.parse_transaction(envelope.SerializeToString())
        assert tx.tx_id == request.transaction_id
        assert {e.endorser for e in tx.endorsements} == {
            world.core_peer.serialize(),
            world.bank_peer.serialize(),
        }


def test_bad_endorse_items_fail_alone_as_their_single_calls(world: World) -> None:
    malformed = gateway_pb2.EndorseRequest()
    malformed.proposed_transaction.proposal_bytes = b"\xff\xff"
    bad = {
        "malformed": malformed,
        "no proposal": gateway_pb2.EndorseRequest(channel_id=CHANNEL),
        "unknown channel": _endorse_request(
            world.alice, "Put", {"key": "a", "value": "1"}, channel="nochannel"
        ),
        "endorser refuses": _endorse_request(world.reggie, "Put", {"key": "a", "value": "1"}),
        "chaincode error": _endorse_request(
            world.alice, "Fail", {"code": "LIMIT", "message": "over the cap"}
        ),
    }
    good = _puts(world, 2)
    requests = [good[0], *bad.values(), good[1]]
    with batch_node(world) as node:
        outcomes = node.batch.EndorseBatch(_batch(requests), timeout=30).outcomes
        expected = {name: _single_error(node.single.Endorse, r) for name, r in bad.items()}
    assert outcomes[0].HasField("response")
    assert outcomes[-1].HasField("response")
    for (name, want), outcome in zip(expected.items(), outcomes[1:-1], strict=True):
        assert outcome.WhichOneof("outcome") == "error", name
        assert outcome.error == want, name
    codes = [o.error.code for o in outcomes[1:-1]]
    assert codes == [
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        grpc.StatusCode.NOT_FOUND.value[0],
        grpc.StatusCode.PERMISSION_DENIED.value[0],
        grpc.StatusCode.ABORTED.value[0],
    ]
    [detail] = outcomes[5].error.details
    assert (detail.address, detail.message) == (
        CORE_ADDRESS,
        "chaincode response 500, LIMIT: over the cap",
    )


# ------------------------------------------------------------------- SubmitBatch


@dataclass
class CommittingOrderer:
    """An orderer that acknowledges on commit: a block is cut once `block_size`
    envelopes arrived, and only then are they answered (SUCCESS, or FORBIDDEN for
    the transactions in `forbidden`, which are not ordered). Waiting longer than
    WAIT for a block fails the envelope (SERVICE_UNAVAILABLE). Counts the calls
    made to it (`broadcast` or `broadcast_batch`)."""

    block_size: int
    forbidden: set[str] = field(default_factory=set)
    received: list[str] = field(default_factory=list)
    calls: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def broadcast(self, envelope: common_pb2.Envelope, /) -> ab_pb2.BroadcastResponse:
        [answer] = self.broadcast_batch([envelope])
        assert not isinstance(answer, Exception)
        return answer

    def broadcast_batch(
        self, envelopes: Sequence[common_pb2.Envelope], /
    ) -> list[ab_pb2.BroadcastResponse | Exception]:
        answers: list[ab_pb2.BroadcastResponse | Exception] = []
        with self._cond:
            self.calls += 1
            for envelope in envelopes:
                if _tx_id(envelope) in self.forbidden:
                    answers.append(
                        ab_pb2.BroadcastResponse(status=common_pb2.FORBIDDEN, info="not a writer")
                    )
                else:
                    self.received.append(_tx_id(envelope))
                    answers.append(ab_pb2.BroadcastResponse(status=common_pb2.SUCCESS))
            self._cond.notify_all()
            block = (len(self.received) - 1) // self.block_size
            if not self._cond.wait_for(
                lambda: len(self.received) >= (block + 1) * self.block_size, timeout=WAIT
            ):
                unavailable = ab_pb2.BroadcastResponse(status=common_pb2.SERVICE_UNAVAILABLE)
                return [unavailable] * len(envelopes)
        return answers


def test_submit_batch_sends_its_envelopes_to_the_orderer_at_once(world: World) -> None:
    n = 8
    orderer = CommittingOrderer(block_size=n)
    with batch_node(world, orderer=orderer) as node:
        requests = _submit_requests(node, _puts(world, n))
        outcomes = node.batch.SubmitBatch(
            batch_pb2.SubmitRequests(requests=requests), timeout=30
        ).outcomes
    assert [o.WhichOneof("outcome") for o in outcomes] == ["response"] * n
    assert sorted(orderer.received) == sorted(r.transaction_id for r in requests)
    assert orderer.calls == 1


def test_bad_submit_items_fail_alone_as_their_single_calls(world: World) -> None:
    orderer = CommittingOrderer(block_size=1)
    with batch_node(world, orderer=orderer) as node:
        good = _submit_requests(node, _puts(world, 3))
        orderer.forbidden.add(good[1].transaction_id)
        garbage = gateway_pb2.SubmitRequest()
        garbage.prepared_transaction.payload = b"\xff\xff"
        unsigned = gateway_pb2.SubmitRequest()
        unsigned.prepared_transaction.CopyFrom(good[2].prepared_transaction)
        unsigned.prepared_transaction.signature = b""
        header = common_pb2.Header(
            channel_header=common_pb2.ChannelHeader(
                channel_id="nochannel", tx_id="x"
            ).SerializeToString()
        )
        elsewhere = gateway_pb2.SubmitRequest(
            prepared_transaction=common_pb2.Envelope(
                payload=common_pb2.Payload(header=header).SerializeToString(), signature=b"s"
            )
        )
        bad = {
            "no transaction": gateway_pb2.SubmitRequest(channel_id=CHANNEL),
            "malformed": garbage,
            "unsigned": unsigned,
            "unknown channel": elsewhere,
            "orderer forbids": good[1],
        }
        requests = [good[0], *bad.values(), good[2]]
        outcomes = node.batch.SubmitBatch(
            batch_pb2.SubmitRequests(requests=requests), timeout=30
        ).outcomes
        expected = {name: _single_error(node.single.Submit, r) for name, r in bad.items()}
    assert outcomes[0].HasField("response")
    assert outcomes[-1].HasField("response")
    for (name, want), outcome in zip(expected.items(), outcomes[1:-1], strict=True):
        assert outcome.WhichOneof("outcome") == "error", name
        assert outcome.error == want, name
    forbidden = outcomes[5].error
    assert forbidden.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert "FORBIDDEN" in forbidden.message
    assert [d.address for d in forbidden.details] == [ORDERER]
    assert sorted(orderer.received) == sorted([good[0].transaction_id, good[2].transaction_id])


# ------------------------------------------------------------------------ bounds


def test_empty_batches_get_empty_answers(world: World) -> None:
    with batch_node(world) as node:
        assert not node.batch.EndorseBatch(batch_pb2.EndorseRequests(), timeout=10).outcomes
        assert not node.batch.SubmitBatch(batch_pb2.SubmitRequests(), timeout=10).outcomes


def test_a_batch_holds_at_most_max_items(world: World) -> None:
    with batch_node(world) as node:
        full = node.batch.EndorseBatch(
            _batch([gateway_pb2.EndorseRequest()] * MAX_ITEMS), timeout=30
        ).outcomes
        assert len(full) == MAX_ITEMS
        assert {o.error.code for o in full} == {grpc.StatusCode.INVALID_ARGUMENT.value[0]}
        for call, too_many in (
            (node.batch.EndorseBatch, _batch([gateway_pb2.EndorseRequest()] * (MAX_ITEMS + 1))),
            (
                node.batch.SubmitBatch,
                batch_pb2.SubmitRequests(requests=[gateway_pb2.SubmitRequest()] * (MAX_ITEMS + 1)),
            ),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call(too_many, timeout=10)
            assert code_of(caught.value) is grpc.StatusCode.INVALID_ARGUMENT
            assert str(MAX_ITEMS) in message_of(caught.value)


BOOM: set[str] = set()
"""Transaction ids `ExplodingGateway` fails on."""


class ExplodingGateway(GatewayServicer):
    """Raises an unexpected, very long error while planning a transaction of BOOM."""

    def _plan(
        self,
        bundle: ChannelBundle,
        parsed: txutil.ParsedProposal,
        by_org: dict[str, list[Endpoint]],
        requested: Sequence[str],
    ) -> list[str]:
        if parsed.tx_id in BOOM:
            raise RuntimeError("boom " + "x" * 20_000)
        return super()._plan(bundle, parsed, by_org, requested)


def test_an_unexpected_error_is_an_unknown_item_bounded_like_a_status(world: World) -> None:
    requests = _puts(world, 2, prefix="boom")
    BOOM.add(requests[1].transaction_id)
    with batch_node(world, gateway_type=ExplodingGateway) as node:
        first, boom = node.batch.EndorseBatch(_batch(requests), timeout=30).outcomes
    assert first.HasField("response")
    assert boom.error.code == grpc.StatusCode.UNKNOWN.value[0]
    assert boom.error.message.startswith("Exception calling application: boom xxx")
    assert len(boom.error.message) <= MAX_TEXT


def test_item_error_keeps_the_status_bounds() -> None:
    from peer.gateway.errors import MAX_DETAILS, EndpointError

    error = GatewayError(
        grpc.StatusCode.ABORTED,
        "y" * 5_000,
        [EndpointError(f"peer{i}:7051", "CoreMSP", "z" * 5_000) for i in range(10)],
    )
    item = error.to_item_error()
    assert item.code == grpc.StatusCode.ABORTED.value[0]
    assert len(item.details) == MAX_DETAILS
    assert all(len(d.message) <= MAX_TEXT for d in item.details)
    assert item.message == error.to_status().details
