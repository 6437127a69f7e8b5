"""What the security tests send, where, and how an answer is judged.

`ENDPOINTS` names every public gRPC method the tests aim at: its node and port, its
shape (unary or stream) and a builder of one valid request (signed by a given
identity) — the fuzzer truncates and mutates those bytes, the adversarial cases
re-sign them. `judge` classifies an outcome as *refused* (an error status or an
application-level refusal), *accepted* (the node did what was asked: a failure of
the test), or *crash* (UNKNOWN: a handler raised; UNAVAILABLE: the node went away).

`TALLY` counts cases per endpoint; conftest prints it at the end of the session.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from client.regulator import sign_request
from common import txutil
from common.msp import SigningIdentity
from protos.common import common_pb2
from protos.gateway import gateway_pb2
from protos.orderer import ab_pb2
from protos.peer import events_pb2, proposal_response_pb2
from protos.scf import cluster_pb2, regulator_pb2

CHANNEL = "trade"

# endpoint -> [tried, refused, crashes]
TALLY: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])

REFUSAL_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNIMPLEMENTED,
}


@dataclass(frozen=True)
class Endpoint:
    name: str  # the tally row
    target: str  # "peer:<org>", "orderer", "cluster"
    method: str  # /package.Service/Method
    streaming: bool  # request stream (responses then read as a stream too)
    response_stream: bool
    build: Callable[[SigningIdentity], bytes]
    parse: Callable[[bytes], Any] | None  # response decoder


def _proposal(
    signer: SigningIdentity,
    fn: str = "Get",
    args: dict[str, Any] | None = None,
    channel: str = CHANNEL,
    chaincode: str = "bench",
) -> tuple[Any, str]:
    proposal, txid = txutil.build_proposal(
        channel,
        chaincode,
        [fn.encode(), json.dumps(args or {"key": "k"}).encode()],
        signer.serialize(),
    )
    return txutil.sign_proposal(proposal, signer), txid


def signed_proposal(signer: SigningIdentity) -> bytes:
    return bytes(_proposal(signer)[0].SerializeToString())


def evaluate_request(signer: SigningIdentity, **kw: Any) -> bytes:
    sp, txid = _proposal(signer, **kw)
    channel = kw.get("channel", CHANNEL)
    return gateway_pb2.EvaluateRequest(
        transaction_id=txid, channel_id=channel, proposed_transaction=sp
    ).SerializeToString()


def endorse_request(signer: SigningIdentity, **kw: Any) -> bytes:
    sp, txid = _proposal(signer, **kw)
    channel = kw.get("channel", CHANNEL)
    return gateway_pb2.EndorseRequest(
        transaction_id=txid, channel_id=channel, proposed_transaction=sp
    ).SerializeToString()


def submit_request(signer: SigningIdentity) -> bytes:
    env = common_pb2.Envelope.FromString(signed_envelope(signer))
    payload = common_pb2.Payload.FromString(env.payload)
    txid = common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id
    return gateway_pb2.SubmitRequest(
        transaction_id=txid, channel_id=CHANNEL, prepared_transaction=env
    ).SerializeToString()


def commit_status_request(signer: SigningIdentity) -> bytes:
    inner = gateway_pb2.CommitStatusRequest(
        transaction_id="0" * 64, channel_id=CHANNEL, identity=signer.serialize()
    ).SerializeToString()
    return gateway_pb2.SignedCommitStatusRequest(
        request=inner, signature=signer.sign(inner)
    ).SerializeToString()


def events_request(signer: SigningIdentity) -> bytes:
    inner = gateway_pb2.ChaincodeEventsRequest(
        channel_id=CHANNEL, chaincode_id="bench", identity=signer.serialize()
    ).SerializeToString()
    return gateway_pb2.SignedChaincodeEventsRequest(
        request=inner, signature=signer.sign(inner)
    ).SerializeToString()


def seek_envelope(
    signer: SigningIdentity, channel: str = CHANNEL, start: int = 0, stop: int | None = 0
) -> bytes:
    return txutil.build_seek_envelope(
        channel, txutil.seek_info(start, stop), signer
    ).SerializeToString()


def signed_envelope(signer: SigningIdentity, channel: str = CHANNEL, data: bytes = b"tx") -> bytes:
    from tests.unit.orderer.support import signed_envelope as make

    return make(channel, signer, data)


def regulator_request(signer: SigningIdentity) -> bytes:
    req = regulator_pb2.RegulatorRequest(list_channels=regulator_pb2.ListChannelsRequest())
    return sign_request(signer, req).SerializeToString()


def step_request(_signer: SigningIdentity) -> bytes:
    return cluster_pb2.StepRequest(
        channel=CHANNEL,
        messages=[
            cluster_pb2.RaftMessage(type=cluster_pb2.RAFT_HEARTBEAT, to=2, from_node=1, term=1)
        ],
    ).SerializeToString()


def cluster_submit(signer: SigningIdentity) -> bytes:
    return cluster_pb2.SubmitRequest(
        channel=CHANNEL, envelope=signed_envelope(signer), sender=1
    ).SerializeToString()


def _from(cls: Any) -> Callable[[bytes], Any]:
    return cls.FromString  # type: ignore[no-any-return]


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in [
        Endpoint(
            "endorser",
            "peer:core",
            "/protos.Endorser/ProcessProposal",
            False,
            False,
            signed_proposal,
            _from(proposal_response_pb2.ProposalResponse),
        ),
        Endpoint(
            "gateway.Evaluate",
            "peer:core",
            "/gateway.Gateway/Evaluate",
            False,
            False,
            evaluate_request,
            _from(gateway_pb2.EvaluateResponse),
        ),
        Endpoint(
            "gateway.Endorse",
            "peer:core",
            "/gateway.Gateway/Endorse",
            False,
            False,
            endorse_request,
            _from(gateway_pb2.EndorseResponse),
        ),
        Endpoint(
            "gateway.Submit",
            "peer:core",
            "/gateway.Gateway/Submit",
            False,
            False,
            submit_request,
            _from(gateway_pb2.SubmitResponse),
        ),
        Endpoint(
            "gateway.CommitStatus",
            "peer:core",
            "/gateway.Gateway/CommitStatus",
            False,
            False,
            commit_status_request,
            _from(gateway_pb2.CommitStatusResponse),
        ),
        Endpoint(
            "gateway.ChaincodeEvents",
            "peer:core",
            "/gateway.Gateway/ChaincodeEvents",
            False,
            True,
            events_request,
            _from(gateway_pb2.ChaincodeEventsResponse),
        ),
        Endpoint(
            "peer.Deliver",
            "peer:core",
            "/protos.Deliver/Deliver",
            True,
            True,
            seek_envelope,
            _from(events_pb2.DeliverResponse),
        ),
        Endpoint(
            "peer.DeliverFiltered",
            "peer:core",
            "/protos.Deliver/DeliverFiltered",
            True,
            True,
            seek_envelope,
            _from(events_pb2.DeliverResponse),
        ),
        Endpoint(
            "orderer.Broadcast",
            "orderer",
            "/orderer.AtomicBroadcast/Broadcast",
            True,
            True,
            signed_envelope,
            _from(ab_pb2.BroadcastResponse),
        ),
        Endpoint(
            "orderer.Deliver",
            "orderer",
            "/orderer.AtomicBroadcast/Deliver",
            True,
            True,
            seek_envelope,
            _from(ab_pb2.DeliverResponse),
        ),
        Endpoint(
            "regulator",
            "peer:regulator",
            "/scf.Regulator/ListChannels",
            False,
            False,
            regulator_request,
            _from(regulator_pb2.ListChannelsResponse),
        ),
        Endpoint(
            "cluster.Step",
            "cluster",
            "/scf.Cluster/Step",
            True,
            True,
            step_request,
            _from(cluster_pb2.StepResponse),
        ),
        Endpoint(
            "cluster.Submit",
            "cluster",
            "/scf.Cluster/Submit",
            False,
            False,
            cluster_submit,
            _from(cluster_pb2.SubmitResponse),
        ),
    ]
}


def call_raw(
    channel: grpc.Channel, ep: Endpoint, requests: Iterable[bytes], timeout: float = 10.0
) -> list[bytes]:
    """Send raw request bytes; the raw responses (raises grpc.RpcError on a status)."""
    if ep.streaming:
        stream = channel.stream_stream(ep.method, None, None)
        return list(stream(iter(list(requests)), timeout=timeout))
    (request,) = list(requests)
    if ep.response_stream:
        return list(channel.unary_stream(ep.method, None, None)(request, timeout=timeout))
    return [channel.unary_unary(ep.method, None, None)(request, timeout=timeout)]


def refused_response(ep: Endpoint, responses: list[bytes]) -> bool:
    """Whether responses that came with status OK still refuse the request."""
    assert ep.parse is not None
    if not responses:
        # A stream that ends at once with no answer: nothing was delivered or ordered.
        return True
    for raw in responses:
        msg = ep.parse(raw)
        name = ep.name
        if name == "endorser":
            if msg.response.status < 400:
                return False
        elif name in ("peer.Deliver", "peer.DeliverFiltered", "orderer.Deliver"):
            kind = msg.WhichOneof("Type")
            if kind != "status" or msg.status == common_pb2.SUCCESS:
                return False
        elif name == "orderer.Broadcast" or name == "cluster.Submit":
            if msg.status == common_pb2.SUCCESS:
                return False
        else:
            return False
    return True


def outcome(ep: Endpoint, send: Callable[[], list[bytes]]) -> tuple[str, grpc.StatusCode]:
    """The verdict ('refused', 'accepted' or 'crash: ...') and the call's status (OK
    when it answered); counts it in TALLY."""
    row = TALLY[ep.name]
    row[0] += 1
    try:
        responses = send()
    except grpc.RpcError as err:
        code = err.code()
        details = err.details() or ""
        if code in REFUSAL_CODES or (
            code == grpc.StatusCode.INTERNAL and "deserializ" in details.lower()
        ):
            row[1] += 1
            return "refused", code
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            row[1] += 1  # the server never answered the garbage: nothing happened
            return "refused", code
        row[2] += 1
        return f"crash: {code.name} {details}", code
    if refused_response(ep, responses):
        row[1] += 1
        return "refused", grpc.StatusCode.OK
    return "accepted", grpc.StatusCode.OK


def judge(ep: Endpoint, send: Callable[[], list[bytes]]) -> str:
    """'refused', 'accepted' or 'crash: ...'; counts it in TALLY."""
    return outcome(ep, send)[0]


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out: {what}")
