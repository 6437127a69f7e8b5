"""The gateway's batches stay batches: an EndorseBatch sends ONE call per remote
endorser (the calls to several endorsers in flight together), fails over per item
to an org's next peer, and answers each item as its single call; a SubmitBatch is
one call per orderer, failing over per item; and nothing runs on a thread of its
own (every endorsement and broadcast happens on the calling thread)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import cast

import grpc
import pytest

from peer.committer import Committer, TxStatusWaiters
from peer.endorser.batch import EndorserBatchServicer
from peer.endorser.endorser import ProposalProcessor
from peer.gateway import GatewayBatchServicer, GatewayServicer, RemotePeer
from peer.gateway.clients import CoalescingEndorserClient
from peer.gateway.errors import GatewayError
from peer.gateway.support import BroadcastClient, EndorserClient
from peer.ledger import MemoryLedger
from protos.common import common_pb2
from protos.gateway import gateway_pb2
from protos.orderer import ab_pb2
from protos.peer import proposal_pb2, proposal_response_pb2
from protos.scf import batch_pb2, batch_pb2_grpc
from tests.unit.peer.endorser.world import CHANNEL, World, make_world, propose
from tests.unit.peer.gateway.harness import BANK_ADDRESS, FakeSupport, sign_prepared

WAIT = 10.0
BANK1 = "peer1.bank:7051"
CORE1 = "peer1.core:7051"
Answers = list[proposal_response_pb2.ProposalResponse | Exception]


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def _tx_id(signed: proposal_pb2.SignedProposal) -> str:
    from common import txutil

    return txutil.parse_signed_proposal(signed).tx_id


@dataclass
class CountingEndorser:
    """An in-process `BatchEndorserClient` over `inner`: records each call's
    transaction ids and thread; refuses (500) the transactions in `refuse`, or
    fails every call when `down`."""

    inner: EndorserClient
    refuse: set[str] = field(default_factory=set)
    down: bool = False
    calls: list[list[str]] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        answer = self.process_proposals([signed], min_height)[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def process_proposals(
        self, signed: Sequence[proposal_pb2.SignedProposal], /, min_height: int = 0
    ) -> Answers:
        self.calls.append([_tx_id(s) for s in signed])
        self.threads.add(threading.get_ident())
        if self.down:
            return [ConnectionError("connection refused")] * len(signed)
        answers: Answers = []
        for proposal in signed:
            if _tx_id(proposal) in self.refuse:
                answers.append(
                    proposal_response_pb2.ProposalResponse(
                        response=proposal_response_pb2.Response(status=500, message="busy")
                    )
                )
            else:
                answers.append(self.inner.process_proposal(proposal, min_height))
        return answers

    def start_proposals(
        self, signed: Sequence[proposal_pb2.SignedProposal], /, min_height: int = 0
    ) -> _Later:
        return _Later(lambda: self.process_proposals(signed, min_height))


@dataclass
class _Later:
    compute: object

    def result(self) -> Answers:
        return self.compute()  # type: ignore[operator, no-any-return]


@dataclass
class ThreadRecorder:
    """The local endorser, recording the threads it runs on."""

    inner: EndorserClient
    threads: set[int] = field(default_factory=set)

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal, /, min_height: int = 0
    ) -> proposal_response_pb2.ProposalResponse:
        self.threads.add(threading.get_ident())
        return self.inner.process_proposal(signed, min_height)


@dataclass
class BatchOrderer:
    """An in-process `BatchBroadcastClient`: SUCCESS, or SERVICE_UNAVAILABLE for the
    payloads in `unavailable`; records each call's size and thread."""

    unavailable: set[bytes] = field(default_factory=set)
    sizes: list[int] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)
    singles: int = 0

    def broadcast(self, envelope: common_pb2.Envelope, /) -> ab_pb2.BroadcastResponse:
        self.singles += 1
        return self._answer(envelope)

    def broadcast_batch(
        self, envelopes: Sequence[common_pb2.Envelope], /
    ) -> list[ab_pb2.BroadcastResponse | Exception]:
        self.sizes.append(len(envelopes))
        self.threads.add(threading.get_ident())
        return [self._answer(e) for e in envelopes]

    def _answer(self, envelope: common_pb2.Envelope) -> ab_pb2.BroadcastResponse:
        if envelope.payload in self.unavailable:
            return ab_pb2.BroadcastResponse(status=common_pb2.SERVICE_UNAVAILABLE, info="busy")
        return ab_pb2.BroadcastResponse(status=common_pb2.SUCCESS)


@dataclass
class Gateway:
    world: World
    servicer: GatewayServicer
    ledger: MemoryLedger


@contextmanager
def gateway(
    world: World,
    *,
    local: EndorserClient | None,
    remotes: Sequence[tuple[RemotePeer, EndorserClient]],
    orderers: Sequence[tuple[str, BroadcastClient]] = (),
    support_type: type[FakeSupport] = FakeSupport,
) -> Iterator[Gateway]:
    ledger = MemoryLedger()
    waiters = TxStatusWaiters(ledger)
    committer = Committer(ledger, world.bundle, listeners=[waiters])
    committer.commit_block(world.genesis())
    support = support_type(
        world, ledger, committer, waiters, local=local, remotes=remotes, orderers=orderers
    )
    try:
        yield Gateway(world, GatewayServicer(support), ledger)
    finally:
        committer.close()


def _requests(world: World, n: int, prefix: str) -> list[gateway_pb2.EndorseRequest]:
    requests = []
    for i in range(n):
        signed, parsed = propose(world.alice, "Put", {"key": f"{prefix}{i}", "value": str(i)})
        requests.append(
            gateway_pb2.EndorseRequest(
                transaction_id=parsed.tx_id, channel_id=CHANNEL, proposed_transaction=signed
            )
        )
    return requests


def _outcome(call: object, request: object) -> object:
    """The single call's answer, or its error as (code, message, details)."""
    try:
        return call(request)  # type: ignore[operator]
    except GatewayError as error:
        return (error.status, str(error), error.details)


def _as_single(outcome: object) -> object:
    if isinstance(outcome, GatewayError):
        return (outcome.status, str(outcome), outcome.details)
    return outcome


# ------------------------------------------------------------------ EndorseBatch


def test_each_remote_endorser_gets_one_call_per_batch(world: World) -> None:
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    bank = CountingEndorser(world.endorser(world.bank_peer, ledger))
    core = ThreadRecorder(world.endorser(world.core_peer, ledger))
    requests = _requests(world, 12, "one")
    with gateway(world, local=core, remotes=[(RemotePeer("BankMSP", BANK_ADDRESS), bank)]) as gw:
        outcomes = gw.servicer.endorse_batch(requests)
    assert all(isinstance(o, gateway_pb2.EndorseResponse) for o in outcomes)
    assert bank.calls == [[r.transaction_id for r in requests]]


def test_failover_is_per_item_and_answers_as_the_single_call(world: World) -> None:
    """BankMSP's first peer refuses items 1 and 3 (and the single calls' twins):
    only those go to its second peer, in one call; item 3 is refused there too,
    and gets exactly the single call's error."""
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    requests = _requests(world, 5, "fail")
    singles = _requests(world, 5, "fail")  # same transactions' twins for single calls
    ids = [r.transaction_id for r in requests]
    twins = [r.transaction_id for r in singles]
    bank0 = CountingEndorser(
        world.endorser(world.bank_peer, ledger), refuse={ids[1], ids[3], twins[1], twins[3]}
    )
    bank1 = CountingEndorser(world.endorser(world.bank_peer, ledger), refuse={ids[3], twins[3]})
    remotes = [
        (RemotePeer("BankMSP", BANK_ADDRESS), bank0),
        (RemotePeer("BankMSP", BANK1), bank1),
    ]
    with gateway(world, local=world.endorser(world.core_peer, ledger), remotes=remotes) as gw:
        outcomes = gw.servicer.endorse_batch(requests)
        bank0.calls.clear()
        bank1.calls.clear()
        expected = [_outcome(gw.servicer._endorse, r) for r in singles]
    assert bank0.calls == [[t] for t in twins]  # the single calls, one each
    assert bank1.calls == [[twins[1]], [twins[3]]]
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["EndorseResponse"] * 3 + ["GatewayError", "EndorseResponse"]
    assert [type(e).__name__ for e in expected] == [*kinds[:3], "tuple", "EndorseResponse"]
    assert _as_single(outcomes[3]) == expected[3]
    error = outcomes[3]
    assert isinstance(error, GatewayError)
    assert error.status is grpc.StatusCode.ABORTED
    assert [d.address for d in error.details] == [BANK_ADDRESS, BANK1]


def test_an_unreachable_peer_sends_every_item_to_the_next_in_one_call(world: World) -> None:
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    bank0 = CountingEndorser(world.endorser(world.bank_peer, ledger), down=True)
    bank1 = CountingEndorser(world.endorser(world.bank_peer, ledger))
    remotes = [
        (RemotePeer("BankMSP", BANK_ADDRESS), bank0),
        (RemotePeer("BankMSP", BANK1), bank1),
    ]
    requests = _requests(world, 4, "down")
    with gateway(world, local=world.endorser(world.core_peer, ledger), remotes=remotes) as gw:
        outcomes = gw.servicer.endorse_batch(requests)
    assert all(isinstance(o, gateway_pb2.EndorseResponse) for o in outcomes)
    assert len(bank0.calls) == len(bank1.calls) == 1
    assert bank1.calls[0] == [r.transaction_id for r in requests]


class RegulatorSupport(FakeSupport):
    """The gateway of the regulator's peer: it endorses nothing itself, so every
    org of a plan is remote."""

    @property
    def local_mspid(self) -> str:
        return "RegulatorMSP"


class BarrierBatches(EndorserBatchServicer):
    """The batch service, counting calls; each call waits at `barrier` first (so
    calls to two such peers succeed only when they are in flight together)."""

    def __init__(self, endorser: ProposalProcessor, barrier: threading.Barrier) -> None:
        super().__init__(endorser)
        self.sizes: list[int] = []
        self._barrier = barrier

    def ProcessProposals(
        self, request: batch_pb2.ProposalBatch, context: grpc.ServicerContext
    ) -> batch_pb2.ProposalResponseBatch:
        self.sizes.append(len(request.proposals))
        self._barrier.wait()
        return super().ProcessProposals(request, context)


def test_calls_to_several_endorsers_are_in_flight_together(world: World) -> None:
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    barrier = threading.Barrier(2, timeout=WAIT)
    services = {
        "CoreMSP": BarrierBatches(world.endorser(world.core_peer, ledger), barrier),
        "BankMSP": BarrierBatches(world.endorser(world.bank_peer, ledger), barrier),
    }
    servers, remotes = [], []
    try:
        for mspid, service in services.items():
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
            batch_pb2_grpc.add_EndorserBatchServicer_to_server(service, server)  # type: ignore[no-untyped-call]
            port = server.add_insecure_port("127.0.0.1:0")
            server.start()
            servers.append(server)
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            remotes.append((RemotePeer(mspid, f"127.0.0.1:{port}"), channel))
        clients = [(p, CoalescingEndorserClient(c, timeout=WAIT)) for p, c in remotes]
        requests = _requests(world, 6, "fly")
        with gateway(world, local=None, remotes=clients, support_type=RegulatorSupport) as gw:
            outcomes = gw.servicer.endorse_batch(requests)
    finally:
        for _, channel in remotes:
            channel.close()
        for server in servers:
            server.stop(grace=None).wait()
    assert all(isinstance(o, gateway_pb2.EndorseResponse) for o in outcomes), outcomes
    assert [s.sizes for s in services.values()] == [[6], [6]]


class _Context:
    def add_callback(self, callback: object) -> bool:
        return True


def test_batches_run_on_the_calling_thread_only(world: World) -> None:
    """Every endorsement (local and remote) and every broadcast of a batch happens
    on the thread serving the call, and no thread is started for its items."""
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    core = ThreadRecorder(world.endorser(world.core_peer, ledger))
    bank = CountingEndorser(world.endorser(world.bank_peer, ledger))
    orderer = BatchOrderer()
    context = cast(grpc.ServicerContext, _Context())
    with gateway(
        world,
        local=core,
        remotes=[(RemotePeer("BankMSP", BANK_ADDRESS), bank)],
        orderers=[("orderer0:7050", orderer)],
    ) as gw:
        batch = GatewayBatchServicer(gw.servicer)
        before = threading.active_count()
        endorsed = batch.EndorseBatch(
            batch_pb2.EndorseRequests(requests=_requests(world, 64, "thread")), context
        ).outcomes
        submits = [
            gateway_pb2.SubmitRequest(
                prepared_transaction=sign_prepared(world.alice, o.response.prepared_transaction)
            )
            for o in endorsed
        ]
        submitted = batch.SubmitBatch(batch_pb2.SubmitRequests(requests=submits), context)
        after = threading.active_count()
    assert all(o.HasField("response") for o in submitted.outcomes)
    assert core.threads == bank.threads == orderer.threads == {threading.get_ident()}
    assert after <= before  # (threads of earlier tests may still be ending)
    assert len(bank.calls) == 1
    assert orderer.sizes == [64]


# ------------------------------------------------------------------- SubmitBatch


def _submits(gw: Gateway, n: int, prefix: str) -> list[gateway_pb2.SubmitRequest]:
    outcomes = gw.servicer.endorse_batch(_requests(gw.world, n, prefix))
    requests = []
    for outcome in outcomes:
        assert isinstance(outcome, gateway_pb2.EndorseResponse)
        envelope = sign_prepared(gw.world.alice, outcome.prepared_transaction)
        requests.append(
            gateway_pb2.SubmitRequest(channel_id=CHANNEL, prepared_transaction=envelope)
        )
    return requests


def test_submit_batch_fails_over_per_item_in_one_call_per_orderer(world: World) -> None:
    ledger = MemoryLedger()
    ledger.commit(world.genesis(), [0], [])
    first, second = BatchOrderer(), BatchOrderer()
    with gateway(
        world,
        local=world.endorser(world.core_peer, ledger),
        remotes=[(RemotePeer("BankMSP", BANK_ADDRESS), world.endorser(world.bank_peer, ledger))],
        orderers=[("orderer0:7050", first), ("orderer1:7050", second)],
    ) as gw:
        requests = _submits(gw, 6, "sub")
        busy = {requests[i].prepared_transaction.payload for i in (0, 4)}
        first.unavailable |= busy
        second.unavailable |= {requests[4].prepared_transaction.payload}
        outcomes = gw.servicer.submit_batch(requests)
        single = _outcome(gw.servicer._submit, requests[4])
    assert first.sizes == [6]
    assert second.sizes == [2]
    assert first.singles == 1
    assert second.singles == 1
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["SubmitResponse"] * 4 + ["GatewayError", "SubmitResponse"]
    assert _as_single(outcomes[4]) == single
    error = outcomes[4]
    assert isinstance(error, GatewayError)
    assert error.status is grpc.StatusCode.UNAVAILABLE
    assert [d.address for d in error.details] == ["orderer0:7050", "orderer1:7050"]
