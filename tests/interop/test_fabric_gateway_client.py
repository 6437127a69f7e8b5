"""Fabric's own client against our network: `@hyperledger/fabric-gateway` (from npm,
run with the machine's Node.js) connects to a running `scf network` exactly as
Fabric's samples do — mutual TLS with the name the connection profile gives,
a CoreMSP User1 identity from our generated material, SHA-256 + private-key signer —
and evaluates, submits (waiting for commit status), reads chaincode events (live,
replayed from a block, resumed from a checkpoint), reads block and filtered-block
events, and sees an MVCC conflict as its `CommitError` with MVCC_READ_CONFLICT (11).

The Node side is `tests/node/interop.js`; it prints one JSON line per step and the
tests below check each. One network and one client run serve the whole module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client.profile import load_profile
from tests.integration.test_network_cli import _kill_leftovers, scf_json, write_network_yaml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "interop.js"
FABRIC_GATEWAY = NODE_DIR / "node_modules" / "@hyperledger" / "fabric-gateway"

VALID = 0
MVCC_READ_CONFLICT = 11  # peer.TxValidationCode
ENDORSER_TX = 3  # common.HeaderType


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (`node`) is not on PATH; install it, then run `make node-deps`")
    if not (FABRIC_GATEWAY / "package.json").is_file():
        pytest.fail(f"{FABRIC_GATEWAY} is missing; run `make node-deps` (npm ci in tests/node)")
    return node


def _client_config(profile_path: Path) -> dict[str, Any]:
    """What the Node script needs, all read from the connection profile."""
    profile = load_profile(profile_path)
    org = profile.org("core")
    user = org.user("User1")
    peer = profile.gateway_peer("core")
    assert peer.tls
    assert isinstance(peer.tls_ca, Path)
    assert None not in (user.cert, user.key, user.tls_cert, user.tls_key), user
    return {
        "endpoint": peer.address,
        "hostOverride": peer.server_name,
        "tlsRootCert": str(peer.tls_ca),
        "tlsClientCert": str(user.tls_cert),
        "tlsClientKey": str(user.tls_key),
        "mspId": org.mspid,
        "cert": str(user.cert),
        "key": str(user.key),
        "channel": "trade",
        "chaincode": "bench",
        "prefix": f"interop-{uuid.uuid4().hex[:8]}",
        "endorsers": ["CoreMSP", "BankMSP"],  # bench: AND(CoreMSP.peer, BankMSP.peer)
    }


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    node = _node()
    tmp = tmp_path_factory.mktemp("interop")
    config = tmp / "network.yaml"
    write_network_yaml(config)
    folder = tmp / "net"
    try:
        up = scf_json("network", "up", "--config", str(config), "--dir", str(folder))
        client = _client_config(Path(up["profile"]))
        began = time.monotonic()
        run = subprocess.run(
            [node, str(SCRIPT)],
            input=json.dumps(client),
            capture_output=True,
            text=True,
            cwd=NODE_DIR,
            timeout=240,
            check=False,
        )
        print(f"fabric-gateway client run: {time.monotonic() - began:.1f} s")
        assert run.returncode == 0, f"interop.js exited {run.returncode}:\n{run.stderr}"
        lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
        by_step = {line["step"]: line for line in lines}
        assert lines, run.stderr
        assert lines[-1]["step"] == "done", run.stdout + run.stderr
        by_step["config"] = client
        yield by_step
    finally:
        if (folder / "network.yaml").exists():
            scf_json("network", "down", "--dir", str(folder), "--timeout", "5", check=False)
            _kill_leftovers(folder)


def _ok(steps: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    result = steps[name]
    assert result["ok"], f"{name}: {result.get('error')}"
    return result


def test_evaluate(steps: dict[str, dict[str, Any]]) -> None:
    prefix = steps["config"]["prefix"]
    missing = _ok(steps, "evaluate_missing")
    assert missing["result"] == {"key": f"{prefix}-absent", "value": None}
    # evaluate after submitTransaction returned: the commit is visible.
    assert _ok(steps, "submit")["result"] == {"key": f"{prefix}-k1", "value": "hello"}
    assert _ok(steps, "evaluate")["result"] == {"key": f"{prefix}-k1", "value": "hello"}


def test_submit_async_commit_status(steps: dict[str, dict[str, Any]]) -> None:
    prefix = steps["config"]["prefix"]
    step = _ok(steps, "submit_async")
    assert step["result"] == {"key": f"{prefix}-k2", "value": "world"}
    status = step["status"]
    assert status["code"] == VALID
    assert status["successful"] is True
    assert status["transactionId"] == step["transactionId"]
    assert len(step["transactionId"]) == 64
    assert status["blockNumber"] >= 1


@pytest.mark.parametrize("name", ["chaincode_event_live", "chaincode_event_replay"])
def test_chaincode_events(steps: dict[str, dict[str, Any]], name: str) -> None:
    prefix = steps["config"]["prefix"]
    step = _ok(steps, name)
    key = f"{prefix}-ev1" if name.endswith("live") else f"{prefix}-ev2"
    assert step["event"] == {
        "chaincodeName": "bench",
        "eventName": "Put",
        "transactionId": step["transactionId"],
        "blockNumber": step["blockNumber"],
        "payload": key,
    }


def test_chaincode_events_resume_from_checkpoint(steps: dict[str, dict[str, Any]]) -> None:
    step = _ok(steps, "chaincode_event_checkpoint")
    first, after = step["first"], step["next"]
    assert {first["transactionId"], after["transactionId"]} == set(step["transactionIds"])
    assert step["checkpoint"] == {
        "blockNumber": first["blockNumber"],
        "transactionId": first["transactionId"],
    }
    if len(set(step["blockNumbers"])) == 1:  # both in one block: resumed mid-block
        assert after["blockNumber"] == first["blockNumber"]


def test_block_and_filtered_block_events(steps: dict[str, dict[str, Any]]) -> None:
    step = _ok(steps, "block_events")
    number, txid = step["blockNumber"], step["transactionId"]
    block = step["block"]
    assert block["number"] == number
    assert txid in block["transactionIds"]
    index = block["transactionIds"].index(txid)
    assert block["validationCodes"][index] == VALID  # TRANSACTIONS_FILTER metadata
    filtered = step["filtered"]
    assert filtered["channelId"] == "trade"
    assert filtered["number"] == number
    assert {"transactionId": txid, "type": ENDORSER_TX, "validationCode": VALID} in filtered[
        "transactions"
    ]


def test_mvcc_conflict_in_commit_status(steps: dict[str, dict[str, Any]]) -> None:
    step = _ok(steps, "mvcc_status")
    # Both endorsed against the same version, ordered into the same block.
    assert [r["previous"] for r in step["results"]] == ["v0", "v0"]
    statuses = step["statuses"]
    assert len({s["blockNumber"] for s in statuses}) == 1, statuses
    assert sorted(s["code"] for s in statuses) == [VALID, MVCC_READ_CONFLICT]
    failed = next(s for s in statuses if s["code"] == MVCC_READ_CONFLICT)
    assert failed["successful"] is False


def test_mvcc_conflict_as_commit_error(steps: dict[str, dict[str, Any]]) -> None:
    outcome = _ok(steps, "mvcc_commit_error")["outcome"]
    assert sorted(o["fulfilled"] for o in outcome) == [False, True], outcome
    error = next(o["error"] for o in outcome if not o["fulfilled"])
    assert error["kind"] == "CommitError"
    assert error["code"] == MVCC_READ_CONFLICT
    assert len(error["transactionId"]) == 64
    assert "MVCC_READ_CONFLICT" in error["message"]


def test_endorse_error_carries_details(steps: dict[str, dict[str, Any]]) -> None:
    step = steps["endorse_error"]
    assert not step["ok"]
    error = step["error"]
    assert error["kind"] == "EndorseError"
    assert len(error["transactionId"]) == 64
    assert error["details"], error
    detail = error["details"][0]
    assert detail["mspId"] == "CoreMSP"
    assert "NoSuchFunction" in detail["message"]
