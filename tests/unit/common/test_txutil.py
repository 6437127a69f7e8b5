"""txutil: proposals, responses and envelopes built as Fabric builds them, parsed
back with the exact signed bytes; the proposal hash ignores the transient map."""

from __future__ import annotations

import hashlib

import pytest

from common import crypto, txutil
from common.msp import SigningIdentity
from protos.common import common_pb2
from protos.orderer import ab_pb2
from protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2
from tests.support.consortium import make_org

TS = (1_750_000_000, 123)


@pytest.fixture(scope="module")
def alice() -> SigningIdentity:
    return make_org("CoreMSP", "core").member("alice", "client")


@pytest.fixture(scope="module")
def peer() -> SigningIdentity:
    return make_org("BankMSP", "bank").member("peer0", "peer")


def test_proposal_round_trip(alice: SigningIdentity) -> None:
    nonce = b"\x01" * 24
    proposal, tx_id = txutil.build_proposal(
        "trade", "bench", [b"Put", b"{}"], alice.serialize(), nonce=nonce, timestamp=TS
    )
    assert tx_id == crypto.compute_txid(nonce, alice.serialize())
    signed = txutil.sign_proposal(proposal, alice)
    alice.identity.verify(signed.proposal_bytes, signed.signature)
    parsed = txutil.parse_signed_proposal(signed)
    assert (parsed.channel_id, parsed.tx_id, parsed.chaincode) == ("trade", tx_id, "bench")
    assert (parsed.creator, parsed.nonce, parsed.timestamp) == (alice.serialize(), nonce, TS)
    assert parsed.args == (b"Put", b"{}")
    assert (parsed.function, parsed.function_args) == ("Put", (b"{}",))
    assert parsed.proposal_bytes == signed.proposal_bytes
    header = common_pb2.Header.FromString(proposal.header)
    assert parsed.channel_header_bytes == header.channel_header
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    assert channel_header.type == common_pb2.ENDORSER_TRANSACTION
    extension = proposal_pb2.ChaincodeHeaderExtension.FromString(channel_header.extension)
    assert extension.chaincode_id.name == "bench"
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(
        proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload).input
    )
    assert list(spec.chaincode_spec.input.args) == [b"Put", b"{}"]


def test_proposal_hash_is_fabrics_and_ignores_the_transient_map(alice: SigningIdentity) -> None:
    args = [b"Put", b"{}"]
    plain, _ = txutil.build_proposal(
        "trade", "bench", args, alice.serialize(), nonce=b"n" * 24, timestamp=TS
    )
    secret, _ = txutil.build_proposal(
        "trade",
        "bench",
        args,
        alice.serialize(),
        nonce=b"n" * 24,
        timestamp=TS,
        transient={"price": b"42"},
    )
    a = txutil.parse_proposal(plain.SerializeToString())
    b = txutil.parse_proposal(secret.SerializeToString())
    assert a.payload_bytes != b.payload_bytes
    assert a.stripped_payload_bytes == b.stripped_payload_bytes == plain.payload
    header = common_pb2.Header.FromString(plain.header)
    expected = hashlib.sha256(
        header.channel_header + header.signature_header + plain.payload
    ).digest()
    assert a.hash == b.hash == expected
    assert txutil.strip_transient(secret.payload) == plain.payload


def test_bad_proposals(alice: SigningIdentity) -> None:
    with pytest.raises(txutil.ProposalError):
        txutil.parse_proposal(b"\xff\xff")
    proposal, _ = txutil.build_proposal("trade", "bench", [b"Get"], alice.serialize())
    header = common_pb2.Header.FromString(proposal.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    channel_header.type = common_pb2.CONFIG
    header.channel_header = channel_header.SerializeToString()
    proposal.header = header.SerializeToString()
    with pytest.raises(txutil.ProposalError) as info:
        txutil.parse_proposal(proposal.SerializeToString())
    assert info.value.code == "BAD_HEADER_TYPE"


def _response(
    parsed: txutil.ParsedProposal, signer: SigningIdentity, results: bytes = b"rw"
) -> proposal_response_pb2.ProposalResponse:
    return txutil.build_proposal_response(
        parsed.hash,
        results=results,
        events=b"ev",
        response=proposal_response_pb2.Response(status=200, payload=b"out"),
        chaincode_id=chaincode_pb2.ChaincodeID(name="bench", version="1.0"),
        signer=signer,
    )


def test_response_and_envelope_round_trip(alice: SigningIdentity, peer: SigningIdentity) -> None:
    proposal, tx_id = txutil.build_proposal(
        "trade", "bench", [b"Put"], alice.serialize(), timestamp=TS, transient={"k": b"v"}
    )
    parsed = txutil.parse_signed_proposal(txutil.sign_proposal(proposal, alice))
    response = _response(parsed, peer)
    peer.identity.verify(
        response.payload + response.endorsement.endorser, response.endorsement.signature
    )
    envelope = txutil.assemble_transaction(parsed, [response, response], alice)
    alice.identity.verify(envelope.payload, envelope.signature)
    tx = txutil.parse_transaction(envelope.SerializeToString())
    assert (tx.channel_id, tx.tx_id, tx.chaincode, tx.timestamp) == ("trade", tx_id, "bench", TS)
    assert tx.payload_bytes == envelope.payload
    assert tx.creator == alice.serialize()
    assert tx.response_payload_bytes == response.payload
    assert tx.proposal_hash == parsed.hash == tx.computed_proposal_hash()
    assert tx.chaincode_proposal_payload == parsed.stripped_payload_bytes  # transient stripped
    assert (tx.rwset_bytes, tx.event_bytes, tx.response_status) == (b"rw", b"ev", 200)
    assert (tx.action_chaincode, tx.action_chaincode_version) == ("bench", "1.0")
    assert len(tx.endorsements) == 2
    assert tx.endorsements[0].endorser == peer.serialize()
    payload = common_pb2.Payload.FromString(envelope.payload)
    transaction = transaction_pb2.Transaction.FromString(payload.data)
    assert transaction.actions[0].header == parsed.signature_header_bytes


def test_assembly_refuses_disagreeing_failed_or_foreign(
    alice: SigningIdentity, peer: SigningIdentity
) -> None:
    proposal, _ = txutil.build_proposal("trade", "bench", [b"Put"], alice.serialize())
    parsed = txutil.parse_proposal(proposal.SerializeToString())
    with pytest.raises(txutil.TxUtilError, match="differs"):
        txutil.assemble_transaction(
            parsed, [_response(parsed, peer), _response(parsed, peer, b"other")], alice
        )
    failed = proposal_response_pb2.ProposalResponse(
        response=proposal_response_pb2.Response(status=500, message="X: no")
    )
    with pytest.raises(txutil.TxUtilError, match="not successful"):
        txutil.assemble_transaction(parsed, [failed], alice)
    with pytest.raises(txutil.TxUtilError) as info:
        txutil.assemble_transaction(parsed, [_response(parsed, peer)], peer)
    assert info.value.code == "NOT_CREATOR"
    with pytest.raises(txutil.TxUtilError):
        txutil.assemble_transaction(parsed, [], alice)


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        (b"", transaction_pb2.NIL_ENVELOPE),
        (b"\xff\xff", transaction_pb2.BAD_PAYLOAD),
        (
            common_pb2.Envelope(
                payload=common_pb2.Payload(
                    header=common_pb2.Header(
                        channel_header=common_pb2.ChannelHeader(
                            type=common_pb2.MESSAGE
                        ).SerializeToString()
                    )
                ).SerializeToString()
            ).SerializeToString(),
            transaction_pb2.UNKNOWN_TX_TYPE,
        ),
    ],
)
def test_malformed_envelopes(entry: bytes, code: int) -> None:
    with pytest.raises(txutil.EnvelopeError) as info:
        txutil.parse_transaction(entry)
    assert info.value.validation_code == code


def test_seek_envelope(alice: SigningIdentity) -> None:
    envelope = txutil.build_seek_envelope("trade", txutil.seek_info(5), alice)
    alice.identity.verify(envelope.payload, envelope.signature)
    header = txutil.parse_envelope_header(envelope.SerializeToString())
    assert header.channel_header.type == common_pb2.DELIVER_SEEK_INFO
    assert header.channel_header.channel_id == "trade"
    info = ab_pb2.SeekInfo.FromString(header.payload.data)
    assert info.start.specified.number == 5
    assert info.stop.specified.number == 2**64 - 1
    assert info.behavior == ab_pb2.SeekInfo.BLOCK_UNTIL_READY
    newest = txutil.seek_info(None, None, block_until_ready=False)
    assert newest.start.HasField("newest")
