"""`parse_transaction` / `parse_envelope_header`: every structural fault gets its
Fabric validation code, checked in Fabric's order, and every parsed value is the
exact received bytes (what signatures and hashes are checked over)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from common import txutil
from common.msp import SigningIdentity
from protos.common import common_pb2
from protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2
from protos.peer import transaction_pb2 as V
from tests.support.consortium import make_org

BAD = b"\xff\xff"  # not a protobuf message


@pytest.fixture(scope="module")
def alice() -> SigningIdentity:
    return make_org("CoreMSP", "core").member("alice", "client")


@pytest.fixture(scope="module")
def envelope(alice: SigningIdentity) -> common_pb2.Envelope:
    proposal, _ = txutil.build_proposal(
        "trade", "bench", [b"Put", b"k"], alice.serialize(), timestamp=(1_750_000_000, 7)
    )
    parsed = txutil.parse_signed_proposal(txutil.sign_proposal(proposal, alice))
    response = txutil.build_proposal_response(
        parsed.hash,
        results=b"rw",
        events=b"ev",
        response=proposal_response_pb2.Response(status=200, message="ok"),
        chaincode_id=chaincode_pb2.ChaincodeID(name="bench", version="1.0"),
        signer=alice,
    )
    return txutil.assemble_transaction(parsed, [response], alice)


Mutation = Callable[[common_pb2.Payload], None]


def _channel_header(payload: common_pb2.Payload, **changes: object) -> None:
    header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    for name, value in changes.items():
        setattr(header, name, value)
    payload.header.channel_header = header.SerializeToString()


def _signature_header(payload: common_pb2.Payload, **changes: object) -> None:
    header = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
    for name, value in changes.items():
        setattr(header, name, value)
    payload.header.signature_header = header.SerializeToString()


def _transaction(payload: common_pb2.Payload, edit: Callable[[V.Transaction], None]) -> None:
    transaction = V.Transaction.FromString(payload.data)
    edit(transaction)
    payload.data = transaction.SerializeToString()


def _action_payload(
    payload: common_pb2.Payload, edit: Callable[[V.ChaincodeActionPayload], None]
) -> None:
    def apply(transaction: V.Transaction) -> None:
        action_payload = V.ChaincodeActionPayload.FromString(transaction.actions[0].payload)
        edit(action_payload)
        transaction.actions[0].payload = action_payload.SerializeToString()

    _transaction(payload, apply)


def _response_extension(action_payload: V.ChaincodeActionPayload) -> None:
    response = proposal_response_pb2.ProposalResponsePayload.FromString(
        action_payload.action.proposal_response_payload
    )
    response.extension = BAD
    action_payload.action.proposal_response_payload = response.SerializeToString()


def _two_actions(transaction: V.Transaction) -> None:
    transaction.actions.append(transaction.actions[0])


def _no_chaincode(payload: common_pb2.Payload) -> None:
    extension = proposal_pb2.ChaincodeHeaderExtension()
    _channel_header(payload, extension=extension.SerializeToString())


CASES: list[tuple[str, Mutation, int]] = [
    ("no header", lambda p: p.ClearField("header"), V.BAD_COMMON_HEADER),
    (
        "bad channel header",
        lambda p: setattr(p.header, "channel_header", BAD),
        V.BAD_CHANNEL_HEADER,
    ),
    (
        "bad signature header",
        lambda p: setattr(p.header, "signature_header", BAD),
        V.BAD_COMMON_HEADER,
    ),
    ("config type", lambda p: _channel_header(p, type=common_pb2.CONFIG), V.UNKNOWN_TX_TYPE),
    ("no nonce", lambda p: _signature_header(p, nonce=b""), V.BAD_COMMON_HEADER),
    ("no creator", lambda p: _signature_header(p, creator=b""), V.BAD_COMMON_HEADER),
    ("bad extension", lambda p: _channel_header(p, extension=BAD), V.BAD_HEADER_EXTENSION),
    ("no chaincode", _no_chaincode, V.BAD_HEADER_EXTENSION),
    ("bad transaction", lambda p: setattr(p, "data", BAD), V.BAD_PAYLOAD),
    ("no action", lambda p: _transaction(p, lambda t: t.ClearField("actions")), V.NIL_TXACTION),
    ("two actions", lambda p: _transaction(p, _two_actions), V.BAD_PAYLOAD),
    (
        "foreign action header",
        lambda p: _transaction(p, lambda t: setattr(t.actions[0], "header", b"x")),
        V.INVALID_ENDORSER_TRANSACTION,
    ),
    (
        "bad action payload",
        lambda p: _transaction(p, lambda t: setattr(t.actions[0], "payload", BAD)),
        V.BAD_RESPONSE_PAYLOAD,
    ),
    (
        "bad response payload",
        lambda p: _action_payload(p, lambda a: setattr(a.action, "proposal_response_payload", BAD)),
        V.BAD_RESPONSE_PAYLOAD,
    ),
    (
        "bad chaincode action",
        lambda p: _action_payload(p, _response_extension),
        V.BAD_RESPONSE_PAYLOAD,
    ),
]


@pytest.mark.parametrize(("mutate", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_structural_fault_has_its_code(
    envelope: common_pb2.Envelope, mutate: Mutation, code: int
) -> None:
    payload = common_pb2.Payload.FromString(envelope.payload)
    mutate(payload)
    entry = common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()
    with pytest.raises(txutil.EnvelopeError) as info:
        txutil.parse_transaction(entry)
    assert info.value.validation_code == code


def test_parsed_values_are_the_exact_received_bytes(envelope: common_pb2.Envelope) -> None:
    raw = envelope.SerializeToString()
    tx = txutil.parse_transaction(raw)
    payload = common_pb2.Payload.FromString(envelope.payload)
    header = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
    action_payload = V.ChaincodeActionPayload.FromString(
        V.Transaction.FromString(payload.data).actions[0].payload
    )
    response = proposal_response_pb2.ProposalResponsePayload.FromString(
        action_payload.action.proposal_response_payload
    )
    action = proposal_pb2.ChaincodeAction.FromString(response.extension)
    assert tx.payload_bytes == envelope.payload
    assert tx.signature == envelope.signature
    assert tx.channel_header_bytes == payload.header.channel_header
    assert tx.signature_header_bytes == payload.header.signature_header
    assert (tx.creator, tx.nonce) == (header.creator, header.nonce)
    assert tx.chaincode_proposal_payload == action_payload.chaincode_proposal_payload
    assert tx.response_payload_bytes == action_payload.action.proposal_response_payload
    assert tx.proposal_hash == response.proposal_hash == tx.computed_proposal_hash()
    assert tx.endorsements == tuple(
        txutil.EndorsementData(e.endorser, e.signature) for e in action_payload.action.endorsements
    )
    assert (tx.rwset_bytes, tx.event_bytes) == (action.results, action.events)
    assert (tx.response_status, tx.response_message) == (200, "ok")
    assert (tx.timestamp, tx.header_type) == ((1_750_000_000, 7), common_pb2.ENDORSER_TRANSACTION)
    for field in dataclasses.fields(tx):
        value = getattr(tx, field.name)
        if field.type == "bytes":
            assert type(value) is bytes, field.name
    header_view = txutil.parse_envelope_header(raw)
    assert (header_view.payload_bytes, header_view.signature) == (tx.payload_bytes, tx.signature)
    assert header_view.channel_header_bytes == tx.channel_header_bytes
    assert header_view.signature_header_bytes == tx.signature_header_bytes
    assert header_view.channel_header.tx_id == tx.tx_id
    assert header_view.signature_header.creator == tx.creator


HEADER_CASES: list[tuple[str, Mutation, int]] = [
    (name, mutate, code)
    for name, mutate, code in CASES
    if name in {"no header", "bad channel header", "bad signature header"}
]


@pytest.mark.parametrize(("name", "mutate", "code"), HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
def test_the_message_form_of_the_header_parser_refuses_alike(
    envelope: common_pb2.Envelope, name: str, mutate: Mutation, code: int
) -> None:
    payload = common_pb2.Payload.FromString(envelope.payload)
    mutate(payload)
    broken = common_pb2.Envelope(payload=payload.SerializeToString(), signature=b"sig")
    with pytest.raises(txutil.EnvelopeError) as from_bytes:
        txutil.parse_envelope_header(broken.SerializeToString())
    with pytest.raises(txutil.EnvelopeError) as from_message:
        txutil.parse_envelope_message_header(broken)
    assert from_message.value.validation_code == from_bytes.value.validation_code == code
    assert str(from_message.value) == str(from_bytes.value)


def test_the_message_form_of_the_header_parser_reads_alike(envelope: common_pb2.Envelope) -> None:
    assert txutil.parse_envelope_message_header(envelope) == txutil.parse_envelope_header(
        envelope.SerializeToString()
    )
    with pytest.raises(txutil.EnvelopeError) as from_bytes:
        txutil.parse_envelope_header(b"")
    with pytest.raises(txutil.EnvelopeError) as from_message:
        txutil.parse_envelope_message_header(common_pb2.Envelope())
    assert from_message.value.validation_code == from_bytes.value.validation_code == V.NIL_ENVELOPE
    assert str(from_message.value) == str(from_bytes.value)
