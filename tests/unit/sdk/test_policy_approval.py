"""Offline policy approvals: the client signs exactly the bytes the contract checks."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaincode.contracts.policy import approval_payload as contract_payload
from client.cli.main import cli
from client.cryptogen import generate
from client.identity import Identity
from client.netconfig import default_network_config
from client.policy import approval_payload, approve, update_request
from common import crypto
from common.msp import MSP, MspConfig, MSPManager

CHANGES = [
    {"max_children": 50},
    {"day_basis": {"CNY": 360, "GBP": 365}, "note": "调整"},
    {},
]


@pytest.fixture(scope="module")
def crypto_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crypto")
    generate(default_network_config(), out)
    return out


@pytest.mark.parametrize("params", CHANGES)
def test_client_payload_is_the_contracts_payload(params: dict[str, object]) -> None:
    assert approval_payload(7, params) == contract_payload(7, params)


def _verify(crypto_dir: Path, approval: dict[str, str], version: int, params: object) -> str:
    """Check an approval the way the peer's `check_signature` does; return the role."""
    msps = MSPManager([MSP(MspConfig.from_dir(crypto_dir / "orgs/core/msp", "CoreMSP"))])
    identity = msps.deserialize_identity(base64.b64decode(approval["identity"]))
    identity.verify(approval_payload(version, params), base64.b64decode(approval["signature"]))  # type: ignore[arg-type]
    return str(identity.role)


def test_approval_verifies_over_the_payload_as_an_admin(crypto_dir: Path) -> None:
    admin = Identity.from_msp_dir(crypto_dir / "orgs/core/users/Admin/msp", "CoreMSP")
    approval = approve(admin, 3, {"max_children": 50})
    assert _verify(crypto_dir, approval, 3, {"max_children": 50}) == "admin"
    with pytest.raises(crypto.SignatureError):
        _verify(crypto_dir, approval, 4, {"max_children": 50})


def test_cli_approve_writes_an_approval_file(crypto_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "core.approval.json"
    result = CliRunner().invoke(
        cli,
        [
            "policy",
            "approve",
            "--version",
            "1",
            "--params",
            '{"max_children": 50}',
            "--msp-dir",
            str(crypto_dir / "orgs/core/users/Admin/msp"),
            "--mspid",
            "CoreMSP",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    approval = json.loads(out.read_text())
    assert _verify(crypto_dir, approval, 1, {"max_children": 50}) == "admin"


def test_cli_approve_without_an_approver_is_one_clear_line() -> None:
    result = CliRunner().invoke(cli, ["policy", "approve", "--version", "1", "--params", "{}"])
    assert result.exit_code == 1
    assert "name the approver" in result.output
    assert "Traceback" not in result.output


def test_update_request_id_depends_on_content_only() -> None:
    approvals = [{"identity": "aQ==", "signature": "c2ln"}]
    first = update_request({"max_children": 50}, approvals)
    assert first == update_request({"max_children": 50}, approvals)
    assert first["request_id"] != update_request({"max_children": 51}, approvals)["request_id"]
