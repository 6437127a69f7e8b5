"""`scf invoke|query|block|tx` against the scripted gateway, and their bad input."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from client.cli.main import cli
from protos.peer import transaction_pb2
from tests.unit.sdk.fakes import FakeNetwork, gateway_error, make_chain
from tests.unit.sdk.profiles import write_profile

BASE = ["--org", "core", "--user", "User1", "--channel", "trade"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def profile(fake: FakeNetwork, tmp_path: Path) -> str:
    return str(write_profile(tmp_path, fake.target))


def test_invoke_prints_the_result_and_the_commit(profile: str) -> None:
    code, out, err = run(
        "invoke", "--profile", profile, *BASE, "--chaincode", "receivable", "Issue", '{"a": 1}'
    )
    assert code == 0
    assert json.loads(out) == {"function": "Issue", "args": ['{"a": 1}']}
    assert "committed VALID in block 7" in err


def test_invoke_json(profile: str, fake: FakeNetwork) -> None:
    code, out, _ = run(
        "invoke", "--profile", profile, *BASE, "--chaincode", "receivable", "Issue", "--json"
    )
    assert code == 0
    body = json.loads(out)
    assert body["transaction_id"] == fake.script.submitted[0]
    assert (body["validation_code"], body["block"]) == ("VALID", 7)


def test_query(profile: str, fake: FakeNetwork) -> None:
    code, out, _ = run("query", "--profile", profile, *BASE, "--chaincode", "cc", "Get", "V-1")
    assert code == 0
    assert json.loads(out)["args"] == ["V-1"]
    assert fake.script.submitted == []


def test_contract_error_is_one_line_with_its_code(profile: str, fake: FakeNetwork) -> None:
    fake.script.errors["Transfer"] = gateway_error(
        grpc.StatusCode.ABORTED,
        "failed to endorse transaction",
        "chaincode response 500, INSUFFICIENT_AMOUNT: has 5,\nasked 9",
    )
    code, out, err = run(
        "invoke", "--profile", profile, *BASE, "--chaincode", "receivable", "Transfer"
    )
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith("Error: INSUFFICIENT_AMOUNT: ")
    code, _, err = run(
        "invoke", "--profile", profile, *BASE, "--chaincode", "receivable", "Transfer", "--json"
    )
    assert code == 1
    assert json.loads(err)["error"]["code"] == "INSUFFICIENT_AMOUNT"


def test_invalid_commit_exits_1_with_the_validation_code(profile: str, fake: FakeNetwork) -> None:
    fake.script.commit_code = transaction_pb2.MVCC_READ_CONFLICT
    code, _, err = run("invoke", "--profile", profile, *BASE, "--chaincode", "cc", "Issue")
    assert code == 1
    assert err.startswith("Error: MVCC_READ_CONFLICT: ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--org", "nobody", "--user", "User1"], "UNKNOWN_ORG"),
        (["--org", "core", "--user", "Eve"], "UNKNOWN_USER"),
        (["--org", "core", "--user", "User1", "--channel", "nope"], "UNKNOWN_CHANNEL"),
    ],
)
def test_unknown_names_are_one_line(profile: str, args: list[str], needle: str) -> None:
    for command in ("invoke", "query"):
        code, out, err = run(command, "--profile", profile, *args, "--chaincode", "cc", "F")
        assert code == 1
        assert out == ""
        assert err.count("\n") == 1
        assert needle in err


def test_missing_profile_is_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.yaml")
    for args in (
        ["query", "--profile", missing, *BASE, "--chaincode", "cc", "F"],
        ["block", "get", "--profile", missing, *BASE, "0"],
        ["tx", "get", "--profile", missing, *BASE, "abc"],
    ):
        code, _, err = run(*args)
        assert code == 1
        assert err.count("\n") == 1
        assert "PROFILE_NOT_FOUND" in err
        assert "scf network up" in err


@pytest.mark.parametrize(
    "args",
    [
        ["invoke", *BASE, "--chaincode", "cc"],  # no function
        ["query", *BASE],  # no --chaincode, no function
        ["block", "get", *BASE],  # no number
        ["block", "get", *BASE, "1", "2"],  # one too many
        ["block", "get", *BASE, "minus-one"],
        ["tx", "get", *BASE],
    ],
)
def test_wrong_argument_count_is_one_line(args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("Error: ")
    assert "--help" in err


def test_network_not_running_is_one_line(tmp_path: Path) -> None:
    profile = str(write_profile(tmp_path, "127.0.0.1:1"))
    code, _, err = run("query", "--profile", profile, *BASE, "--chaincode", "cc", "F")
    assert code == 1
    assert err.count("\n") == 1
    assert "NETWORK_UNREACHABLE" in err


def test_block_get_decodes_header_transactions_rwset_and_events(
    profile: str, fake: FakeNetwork
) -> None:
    fake.script.blocks = make_chain(3)
    code, out, _ = run("block", "get", "--profile", profile, *BASE, "1", "--json")
    assert code == 0
    block = json.loads(out)
    assert block["number"] == 1
    assert len(block["previous_hash"]) == 64
    first, second = block["transactions"]
    assert first["type"] == "ENDORSER_TRANSACTION"
    assert first["creator"] == {"mspid": "CoreMSP", "id": "User1.CoreMSP"}
    assert (first["chaincode"], first["function"], first["args"]) == ("receivable", "Fn1a", ["V-1"])
    assert first["validation_code"] == "VALID"
    assert second["validation_code"] == "MVCC_READ_CONFLICT"
    rwset = first["rwset"][0]
    assert rwset["namespace"] == "receivable"
    assert rwset["reads"] == [{"key": "V-1", "version": {"block": 1, "tx": 0}}]
    assert rwset["writes"] == [{"key": "V-1", "value": {"amount": 5}}]
    assert first["events"] == [{"chaincode": "receivable", "name": "Fn1a", "payload": {}}]
    assert first["endorsers"][0]["mspid"] == "CoreMSP"


def test_block_get_beyond_the_height(profile: str, fake: FakeNetwork) -> None:
    fake.script.blocks = make_chain(2)
    code, _, err = run("block", "get", "--profile", profile, *BASE, "5")
    assert code == 1
    assert "BLOCK_NOT_FOUND" in err
    assert err.count("\n") == 1


def test_block_list(profile: str, fake: FakeNetwork) -> None:
    fake.script.blocks = make_chain(4)
    code, out, _ = run("block", "list", "--profile", profile, *BASE, "--from", "1", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["number"] for r in rows] == [1, 2, 3]
    assert [(r["transactions"], r["valid"]) for r in rows] == [(2, 1)] * 3
    code, out, _ = run("block", "list", "--profile", profile, *BASE, "--to", "1")
    assert code == 0
    assert "channel trade" in out
    code, _, err = run("block", "list", "--profile", profile, *BASE, "--from", "3", "--to", "1")
    assert code == 1
    assert "BAD_RANGE" in err


def test_tx_get_finds_the_transaction_in_its_block(profile: str, fake: FakeNetwork) -> None:
    fake.script.blocks = make_chain(4)
    fake.script.block_number = 2
    txid = json.loads(run("block", "get", "--profile", profile, *BASE, "2", "--json")[1])[
        "transactions"
    ][1]["txid"]
    code, out, _ = run("tx", "get", "--profile", profile, *BASE, txid, "--json")
    assert code == 0
    tx = json.loads(out)
    assert (tx["block"], tx["index"], tx["txid"]) == (2, 1, txid)
    code, _, err = run("tx", "get", "--profile", profile, *BASE, "f" * 64)
    assert code == 1
    assert "TX_NOT_FOUND" in err
