"""A scripted in-process Gateway + Deliver server for SDK tests.

It checks every client signature against the registered identity (so the tests prove
the SDK signs the exact bytes it sends), builds real endorsed transactions with a
fake endorser, and answers from a script: per-function errors, commit codes, stored
blocks and chaincode events.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from client import Gateway, Identity
from common import block as blockutil
from common import txutil
from peer.gateway.errors import EndpointError, GatewayError, abort
from protos.common import common_pb2
from protos.gateway import gateway_pb2, gateway_pb2_grpc
from protos.orderer import ab_pb2
from protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    events_pb2,
    events_pb2_grpc,
    proposal_response_pb2,
    transaction_pb2,
)
from tests.support.consortium import make_org

ORG = make_org("CoreMSP", "core")
USER = ORG.member("User1", "client")
PEER = ORG.member("peer0", "peer")


def client_identity() -> Identity:
    return Identity.from_signing_identity(USER)


@dataclass
class Script:
    """What the fake answers. `errors[function]` aborts Endorse/Evaluate of that
    function; `commit_codes[txid]` is a commit result (default VALID)."""

    errors: dict[str, GatewayError] = field(default_factory=dict)
    submit_error: GatewayError | None = None
    commit_status_error: GatewayError | None = None
    commit_code: int = transaction_pb2.VALID
    block_number: int = 7
    blocks: list[common_pb2.Block] = field(default_factory=list)
    events: list[gateway_pb2.ChaincodeEventsResponse] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    deliver_requests: list[ab_pb2.SeekInfo] = field(default_factory=list)
    event_requests: list[gateway_pb2.ChaincodeEventsRequest] = field(default_factory=list)


def _verify(data: bytes, signature: bytes, creator: bytes, context: grpc.ServicerContext) -> None:
    if creator != USER.serialize():
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "unknown creator")
    try:
        USER.identity.verify(data, signature)
    except Exception as exc:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, f"BAD_SIGNATURE: {exc}")


def endorsed_payload(proposal: txutil.ParsedProposal, result: bytes, events: bytes = b"") -> bytes:
    response = txutil.build_proposal_response(
        proposal.hash,
        results=b"",
        events=events,
        response=proposal_response_pb2.Response(status=200, payload=result),
        chaincode_id=chaincode_pb2.ChaincodeID(name=proposal.chaincode, version="1.0"),
        signer=PEER,
    )
    return txutil.create_transaction_payload(proposal, [response])


def _result(proposal: txutil.ParsedProposal) -> bytes:
    return json.dumps(
        {"function": proposal.function, "args": [a.decode() for a in proposal.function_args]}
    ).encode()


class FakeGateway(gateway_pb2_grpc.GatewayServicer):
    def __init__(self, script: Script) -> None:
        self.script = script

    def _proposal(self, signed: object, context: grpc.ServicerContext) -> txutil.ParsedProposal:
        proposal = txutil.parse_signed_proposal(signed)  # type: ignore[arg-type]
        _verify(proposal.proposal_bytes, proposal.signature, proposal.creator, context)
        error = self.script.errors.get(proposal.function)
        if error is not None:
            abort(context, error)
        return proposal

    def Evaluate(self, request, context):  # type: ignore[no-untyped-def]
        proposal = self._proposal(request.proposed_transaction, context)
        return gateway_pb2.EvaluateResponse(
            result=proposal_response_pb2.Response(status=200, payload=_result(proposal))
        )

    def Endorse(self, request, context):  # type: ignore[no-untyped-def]
        proposal = self._proposal(request.proposed_transaction, context)
        payload = endorsed_payload(proposal, _result(proposal))
        return gateway_pb2.EndorseResponse(
            prepared_transaction=common_pb2.Envelope(payload=payload)
        )

    def Submit(self, request, context):  # type: ignore[no-untyped-def]
        envelope = request.prepared_transaction
        parsed = txutil.parse_transaction(envelope.SerializeToString())
        _verify(bytes(envelope.payload), bytes(envelope.signature), parsed.creator, context)
        if self.script.submit_error is not None:
            abort(context, self.script.submit_error)
        self.script.submitted.append(parsed.tx_id)
        return gateway_pb2.SubmitResponse()

    def CommitStatus(self, request, context):  # type: ignore[no-untyped-def]
        inner = gateway_pb2.CommitStatusRequest.FromString(request.request)
        _verify(bytes(request.request), bytes(request.signature), inner.identity, context)
        if self.script.commit_status_error is not None:
            abort(context, self.script.commit_status_error)
        return gateway_pb2.CommitStatusResponse(
            result=self.script.commit_code, block_number=self.script.block_number
        )

    def ChaincodeEvents(self, request, context):  # type: ignore[no-untyped-def]
        inner = gateway_pb2.ChaincodeEventsRequest.FromString(request.request)
        _verify(bytes(request.request), bytes(request.signature), inner.identity, context)
        self.script.event_requests.append(inner)
        start = inner.start_position.specified.number
        for response in self.script.events:
            if response.block_number < start:
                continue
            events = list(response.events)
            if response.block_number == start and inner.after_transaction_id:
                ids = [e.tx_id for e in events]
                if inner.after_transaction_id in ids:
                    events = events[ids.index(inner.after_transaction_id) + 1 :]
            yield gateway_pb2.ChaincodeEventsResponse(
                events=events, block_number=response.block_number
            )
        while context.is_active():  # like the real service: wait until cancelled
            threading.Event().wait(0.05)


class FakeDeliver(events_pb2_grpc.DeliverServicer):
    def __init__(self, script: Script) -> None:
        self.script = script

    def Deliver(self, request_iterator, context):  # type: ignore[no-untyped-def]
        envelope = next(request_iterator)
        header = txutil.parse_envelope_header(envelope.SerializeToString())
        _verify(header.payload_bytes, header.signature, header.signature_header.creator, context)
        info = ab_pb2.SeekInfo.FromString(header.payload.data)
        self.script.deliver_requests.append(info)
        height = len(self.script.blocks)

        def number(position: ab_pb2.SeekPosition) -> int:
            kind = position.WhichOneof("Type")
            if kind == "specified":
                return int(position.specified.number)
            if kind == "oldest":
                return 0
            return height - 1

        start, stop = number(info.start), number(info.stop)
        if start >= height and info.behavior == ab_pb2.SeekInfo.FAIL_IF_NOT_READY:
            yield events_pb2.DeliverResponse(status=common_pb2.NOT_FOUND)
            return
        for n in range(start, min(stop, height - 1) + 1):
            yield events_pb2.DeliverResponse(block=self.script.blocks[n])
        if stop < height:
            yield events_pb2.DeliverResponse(status=common_pb2.SUCCESS)
            return
        while context.is_active():  # "forever": hold the stream until cancelled
            threading.Event().wait(0.05)


class FakeNetwork:
    """A server on 127.0.0.1 with the fakes; `gateway()` connects a client to it."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        gateway_pb2_grpc.add_GatewayServicer_to_server(FakeGateway(self.script), self.server)
        events_pb2_grpc.add_DeliverServicer_to_server(FakeDeliver(self.script), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def gateway(self, **kwargs: object) -> Gateway:
        kwargs.setdefault("identity", client_identity())
        return Gateway.connect(self.target, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self.server.stop(grace=None).wait()


def gateway_error(status: grpc.StatusCode, message: str, *details: str) -> GatewayError:
    return GatewayError(
        status,
        message,
        [EndpointError(f"peer{i}:7051", "CoreMSP", d) for i, d in enumerate(details)],
    )


def make_block(number: int, previous: bytes, functions: list[str]) -> common_pb2.Block:
    """A block of endorser transactions calling `functions`, each with a write and an
    event, all VALID except the last when there are several (MVCC_READ_CONFLICT)."""
    from common.txutil import build_proposal, parse_proposal
    from protos.ledger.rwset import rwset_pb2
    from protos.ledger.rwset.kvrwset import kv_rwset_pb2

    entries = []
    for function in functions:
        proposal, _ = build_proposal(
            "trade", "receivable", [function.encode(), b"V-1"], USER.serialize()
        )
        parsed = parse_proposal(proposal.SerializeToString(deterministic=True))
        kv = kv_rwset_pb2.KVRWSet(
            reads=[kv_rwset_pb2.KVRead(key="V-1", version=kv_rwset_pb2.Version(block_num=1))],
            writes=[kv_rwset_pb2.KVWrite(key="V-1", value=b'{"amount": 5}')],
        )
        rws = rwset_pb2.TxReadWriteSet(
            ns_rwset=[
                rwset_pb2.NsReadWriteSet(namespace="receivable", rwset=kv.SerializeToString())
            ]
        )
        event = chaincode_event_pb2.ChaincodeEvent(
            chaincode_id="receivable", tx_id=parsed.tx_id, event_name=function, payload=b"{}"
        )
        response = txutil.build_proposal_response(
            parsed.hash,
            results=rws.SerializeToString(),
            events=event.SerializeToString(),
            response=proposal_response_pb2.Response(status=200, payload=b'"ok"'),
            chaincode_id=chaincode_pb2.ChaincodeID(name="receivable", version="1.0"),
            signer=PEER,
        )
        payload = txutil.create_transaction_payload(parsed, [response])
        entries.append(txutil.sign_envelope(payload, USER).SerializeToString())
    block = blockutil.new_block(number, previous, entries)
    codes = [transaction_pb2.VALID] * len(entries)
    if len(codes) > 1:
        codes[-1] = transaction_pb2.MVCC_READ_CONFLICT
    while len(block.metadata.metadata) <= common_pb2.TRANSACTIONS_FILTER:
        block.metadata.metadata.append(b"")
    block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes(codes)
    return block


def make_chain(count: int) -> list[common_pb2.Block]:
    blocks: list[common_pb2.Block] = []
    previous = b""
    for n in range(count):
        block = make_block(n, previous, [f"Fn{n}a", f"Fn{n}b"] if n else [])
        blocks.append(block)
        previous = blockutil.header_hash(block.header)
    return blocks


def events_response(block: int, *txids: str) -> gateway_pb2.ChaincodeEventsResponse:
    return gateway_pb2.ChaincodeEventsResponse(
        block_number=block,
        events=[
            chaincode_event_pb2.ChaincodeEvent(
                chaincode_id="receivable", tx_id=t, event_name="Issued", payload=t.encode()
            )
            for t in txids
        ],
    )


def iterate(it: Iterator[object], count: int) -> list[object]:
    return [next(it) for _ in range(count)]
