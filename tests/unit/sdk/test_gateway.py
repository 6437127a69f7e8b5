"""The SDK against a scripted in-process Gateway server."""

from __future__ import annotations

import json

import grpc
import pytest

from client import (
    CommitError,
    CommitStatusError,
    EndorseError,
    EvaluateError,
    Gateway,
    Identity,
    NoSignerError,
    SubmitError,
    sha256,
)
from client.errors import contract_code
from common import crypto
from protos.peer import transaction_pb2
from tests.unit.sdk.fakes import USER, FakeNetwork, client_identity, gateway_error


def test_submit_happy_path_endorses_signs_submits_and_waits(fake: FakeNetwork) -> None:
    with fake.gateway() as gw:
        contract = gw.network("trade").contract("receivable")
        out = contract.submit("IssueVoucher", json.dumps({"id": "V-1"}), b"raw")
    assert json.loads(out) == {"function": "IssueVoucher", "args": ['{"id": "V-1"}', "raw"]}
    assert len(fake.script.submitted) == 1


def test_evaluate_returns_the_result_and_orders_nothing(fake: FakeNetwork) -> None:
    with fake.gateway() as gw:
        out = gw.network("trade").contract("receivable").evaluate("GetVoucher", "V-1")
    assert json.loads(out)["args"] == ["V-1"]
    assert fake.script.submitted == []


def test_step_by_step_path_exposes_txid_result_and_status(fake: FakeNetwork) -> None:
    with fake.gateway() as gw:
        proposal = gw.network("trade").contract("receivable").new_proposal("Split", "V-1")
        transaction = proposal.endorse()
        assert transaction.transaction_id == proposal.transaction_id
        assert json.loads(transaction.result)["function"] == "Split"
        commit = transaction.submit()
        status = commit.status()
    assert status.successful
    assert (status.code_name, status.block_number) == ("VALID", 7)
    assert fake.script.submitted == [proposal.transaction_id]


def test_submit_async_returns_result_before_commit(fake: FakeNetwork) -> None:
    with fake.gateway() as gw:
        result, commit = gw.network("trade").contract("receivable").submit_async("Pay")
        assert json.loads(result)["function"] == "Pay"
        assert commit.status().successful


def test_offline_signing_digest_is_what_gets_signed(fake: FakeNetwork) -> None:
    offline = Identity(USER.mspid, client_identity().certificate)  # no key
    signer = client_identity().signer
    assert signer is not None
    with fake.gateway(identity=offline) as gw:
        proposal = gw.network("trade").contract("receivable").new_proposal("Issue", "x")
        with pytest.raises(NoSignerError):
            proposal.endorse()
        assert proposal.digest() == sha256(proposal.proposal_bytes)
        signature = signer(proposal.digest())
        USER.identity.verify(proposal.proposal_bytes, signature)  # over the exact bytes
        # Round trip through bytes, as a remote signer would.
        proposal = gw.new_signed_proposal(proposal.to_bytes(), signature)
        transaction = proposal.endorse()
        assert transaction.digest() == sha256(transaction.payload)
        transaction = gw.new_signed_transaction(
            transaction.to_bytes(), signer(transaction.digest())
        )
        commit = transaction.submit()
        assert commit.digest() == sha256(commit.request_bytes)
        commit = gw.new_signed_commit(commit.to_bytes(), signer(commit.digest()))
        assert commit.status().successful


def test_signatures_are_low_s(fake: FakeNetwork) -> None:
    signer = client_identity().signer
    assert signer is not None
    assert all(crypto.is_low_s(signer(sha256(bytes([i])))) for i in range(32))


def test_a_custom_signer_is_used(fake: FakeNetwork) -> None:
    calls: list[bytes] = []
    inner = client_identity().signer
    assert inner is not None

    def signer(digest: bytes) -> bytes:
        calls.append(digest)
        return inner(digest)

    with fake.gateway(
        identity=Identity(USER.mspid, client_identity().certificate), signer=signer
    ) as gw:
        gw.network("trade").contract("receivable").submit("Issue")
    assert len(calls) == 3  # proposal, transaction, commit status request


def test_endorse_error_carries_txid_grpc_code_details_and_contract_code(fake: FakeNetwork) -> None:
    fake.script.errors["Transfer"] = gateway_error(
        grpc.StatusCode.ABORTED,
        "failed to endorse transaction, see attached details for more info",
        "chaincode response 500, INSUFFICIENT_AMOUNT: voucher V-1 has 5, asked 9",
    )
    with fake.gateway() as gw:
        proposal = gw.network("trade").contract("receivable").new_proposal("Transfer")
        with pytest.raises(EndorseError) as caught:
            proposal.endorse()
    error = caught.value
    assert error.transaction_id == proposal.transaction_id
    assert error.grpc_code == grpc.StatusCode.ABORTED
    assert error.code == "INSUFFICIENT_AMOUNT"
    assert error.details[0].msp_id == "CoreMSP"
    assert "voucher V-1 has 5" in str(error)
    assert fake.script.submitted == []


def test_evaluate_error_with_leading_code(fake: FakeNetwork) -> None:
    fake.script.errors["GetVoucher"] = gateway_error(
        grpc.StatusCode.UNKNOWN, "VOUCHER_NOT_FOUND: no voucher V-9"
    )
    with fake.gateway() as gw, pytest.raises(EvaluateError) as caught:
        gw.network("trade").contract("receivable").evaluate("GetVoucher", "V-9")
    assert caught.value.code == "VOUCHER_NOT_FOUND"
    assert caught.value.message == "VOUCHER_NOT_FOUND: no voucher V-9"
    assert caught.value.transaction_id


def test_error_without_a_contract_code_names_the_stage(fake: FakeNetwork) -> None:
    fake.script.errors["X"] = gateway_error(grpc.StatusCode.NOT_FOUND, "channel nope not found")
    with fake.gateway() as gw, pytest.raises(EndorseError) as caught:
        gw.network("nope").contract("receivable").submit("X")
    assert caught.value.code == "ENDORSE_FAILED"


def test_submit_error(fake: FakeNetwork) -> None:
    fake.script.submit_error = gateway_error(
        grpc.StatusCode.UNAVAILABLE, "no orderer accepted", "SERVICE_UNAVAILABLE: no leader"
    )
    with fake.gateway() as gw:
        transaction = gw.network("trade").contract("receivable").new_proposal("Issue").endorse()
        with pytest.raises(SubmitError) as caught:
            transaction.submit()
    assert caught.value.transaction_id == transaction.transaction_id
    assert caught.value.grpc_code == grpc.StatusCode.UNAVAILABLE


def test_commit_status_error(fake: FakeNetwork) -> None:
    fake.script.commit_status_error = gateway_error(
        grpc.StatusCode.PERMISSION_DENIED, "ACCESS_DENIED: not a reader"
    )
    with fake.gateway() as gw, pytest.raises(CommitStatusError) as caught:
        gw.network("trade").contract("receivable").submit("Issue")
    assert caught.value.code == "ACCESS_DENIED"
    assert caught.value.grpc_code == grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.transaction_id == fake.script.submitted[0]


def test_commit_error_names_the_validation_code(fake: FakeNetwork) -> None:
    fake.script.commit_code = transaction_pb2.MVCC_READ_CONFLICT
    with fake.gateway() as gw, pytest.raises(CommitError) as caught:
        gw.network("trade").contract("receivable").submit("Issue")
    error = caught.value
    assert error.code == "MVCC_READ_CONFLICT"
    assert error.validation_code == transaction_pb2.MVCC_READ_CONFLICT
    assert error.transaction_id == fake.script.submitted[0]
    assert error.block_number == 7


def test_unreachable_peer_is_one_clear_error() -> None:
    with (
        Gateway.connect("127.0.0.1:1", identity=client_identity()) as gw,
        pytest.raises(EvaluateError) as caught,
    ):
        gw.network("trade").contract("receivable").evaluate("Get")
    assert caught.value.code == "NETWORK_UNREACHABLE"
    assert "is the network running" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_caller_owned_channel_stays_open(fake: FakeNetwork) -> None:
    channel = grpc.insecure_channel(fake.target)
    try:
        with Gateway.connect("ignored", identity=client_identity(), channel=channel) as gw:
            gw.network("trade").contract("receivable").evaluate("Get")
        # Still usable after the gateway closed.
        with Gateway.connect("ignored", identity=client_identity(), channel=channel) as gw:
            gw.network("trade").contract("receivable").evaluate("Get")
    finally:
        channel.close()


def test_arguments_must_be_str_or_bytes(fake: FakeNetwork) -> None:
    with fake.gateway() as gw, pytest.raises(TypeError):
        gw.network("trade").contract("receivable").new_proposal("F", 5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("chaincode response 500, FROZEN: voucher V-1 is frozen", "FROZEN"),
        ("chaincode response 500, INSUFFICIENT_AMOUNT: holds 25", "INSUFFICIENT_AMOUNT"),
        ("MATURED: on or after maturity", "MATURED"),
        ("endorsement failed: peer unreachable", None),
        ("Error: something went wrong", None),
    ],
)
def test_contract_code_is_found_where_the_gateway_puts_it(message: str, code: str | None) -> None:
    assert contract_code(message) == code
