"""`scf demo` end to end: the paper's Figure 1 on the default consortium (free ports).

The CLI runs as its own process with `--json`; every step's result is checked
against the contracts' rules, the lineage must sum to the face amount, and no
node may be left running. A failing step must name itself and its error code,
and still stop the network.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from client.demo import DemoError, run_demo
from client.demo_plan import (
    FACE,
    PRINCIPAL,
    RATE_BPS,
    SME_PAYMENT_DAYS,
    TIER1_KEEPS,
    TO_TIER2,
    TO_TIER3,
    Plan,
)
from client.launcher import NetworkLayout, node_specs
from client.launcher_ops import load_folder_config
from client.launcher_probe import probe_all
from tests.integration.test_network_cli import write_network_yaml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SCF = str(Path(sys.executable).with_name("scf"))

EXPECTED_CALLS = [
    ("CoreMSP", "Treasurer", "receivable", "IssueVoucher"),
    ("Supplier1MSP", "User1", "receivable", "AcceptVoucher"),
    ("Supplier1MSP", "User1", "receivable", "SplitVoucher"),
    ("Supplier1MSP", "User1", "receivable", "TransferVoucher"),
    ("Supplier2MSP", "User1", "receivable", "TransferVoucher"),
    ("Supplier3MSP", "User1", "receivable", "RequestFinancing"),
    ("BankMSP", "User1", "receivable", "ApproveFinancing"),
    ("WarehouseMSP", "User1", "warehouse", "RegisterSite"),
    ("WarehouseMSP", "User1", "warehouse", "AttestInventory"),
    ("WarehouseMSP", "User1", "warehouse", "IssueReceipt"),
    ("BankMSP", "Appraiser", "warehouse", "UpdateValuation"),
    ("Supplier1MSP", "User1", "warehouse", "PledgeReceipt"),
    ("RegulatorMSP", "Auditor1", "receivable", "Lineage"),
    ("RegulatorMSP", "Auditor1", "receivable", "IssuerStatus"),
    ("RegulatorMSP", "Auditor1", "warehouse", "GetLoan"),
]


def _half_up(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


def _assert_all_stopped(root: Path) -> None:
    layout = NetworkLayout(root)
    statuses = probe_all(layout, node_specs(load_folder_config(layout)))
    assert [s.node.id for s in statuses if s.pid is not None] == []


@pytest.fixture
def network_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "network.yaml"
    write_network_yaml(path)
    return path


def test_scf_demo_runs_figure_1(tmp_path: Path, network_yaml: Path) -> None:
    net_dir = tmp_path / "net"
    proc = subprocess.run(
        [SCF, "demo", "--json", "--config", str(network_yaml), "--dir", str(net_dir)],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["ok"] is True
    assert doc["nodes"] == 7
    steps = doc["steps"]
    assert [(s["mspid"], s["user"], s["chaincode"], s["function"]) for s in steps] == (
        EXPECTED_CALLS
    )

    # Submits commit in increasing blocks with full txids; queries order nothing.
    blocks = [s["block"] for s in steps[:12]]
    assert blocks == sorted(blocks)
    assert len(set(blocks)) == 12
    assert all(len(s["tx_id"]) == 64 for s in steps[:12])
    assert all(s["tx_id"] is None and s["block"] is None for s in steps[12:])

    r = [s["result"] for s in steps]
    v = r[0]["voucher_id"]
    today = dt.date.fromisoformat(doc["today"])
    maturity = today + dt.timedelta(days=SME_PAYMENT_DAYS)
    assert r[0]["status"] == "PENDING_ACCEPTANCE"
    assert r[1] == {"voucher_id": v, "status": "ACTIVE"}
    assert r[2]["children"] == [
        {"voucher_id": f"{v}-1", "amount": TIER1_KEEPS},
        {"voucher_id": f"{v}-2", "amount": TO_TIER2},
    ]
    assert (r[3]["voucher_id"], r[3]["holder"], r[3]["amount"]) == (
        f"{v}-2",
        "Supplier2MSP",
        TO_TIER2,
    )
    assert (r[4]["voucher_id"], r[4]["holder"], r[4]["amount"], r[4]["split_from"]) == (
        f"{v}-2-1",
        "Supplier3MSP",
        TO_TIER3,
        f"{v}-2",
    )
    assert (r[5]["status"], r[5]["financier"], r[5]["applicant"]) == (
        "FINANCING_PENDING",
        "BankMSP",
        "Supplier3MSP",
    )
    days = (maturity - today).days
    interest = _half_up(TO_TIER3 * RATE_BPS * days, 10_000 * 360)
    assert r[6]["status"] == "FINANCED"
    assert (r[6]["rate_bps"], r[6]["days"], r[6]["day_basis"]) == (RATE_BPS, days, 360)
    assert (r[6]["interest"], r[6]["net_proceeds"]) == (interest, TO_TIER3 - interest)
    assert r[6]["registration_ref"]

    assert r[7]["operator"] == "WarehouseMSP"
    assert r[8]["stock"]["attested_quantity"] == 50_000
    receipt_id = r[9]["receipt_id"]
    assert (r[9]["status"], r[9]["holder"]) == ("ACTIVE", "Supplier1MSP")
    value = r[10]["receipt"]["valuation"]["value"]
    assert value == 20_000 * 7_000_000 * 9_000 // (10_000 * 1_000)
    assert r[11]["status"] == "PLEDGED"
    assert r[11]["receipts"] == [receipt_id]
    assert r[11]["principal"] == PRINCIPAL <= value * r[11]["ltv_max_bps"] // 10_000

    # The regulator's lineage: leaves sum to the face amount, every split conserves.
    lineage = doc["lineage"]
    assert lineage == r[12]
    assert lineage["root"]["face_total"] == FACE == lineage["leaves_total"]
    nodes = {n["voucher_id"]: n for n in lineage["nodes"]}
    leaves = [n for n in nodes.values() if n["status"] != "SPLIT"]
    assert sum(n["amount"] for n in leaves) == FACE
    for n in nodes.values():
        if n["status"] == "SPLIT":
            assert sum(nodes[c]["amount"] for c in n["children"]) == n["amount"]
    assert {n["voucher_id"]: (n["holder"], n["status"]) for n in leaves} == {
        f"{v}-1": ("Supplier1MSP", "ACTIVE"),
        f"{v}-2-1": ("BankMSP", "FINANCED"),
        f"{v}-2-2": ("Supplier2MSP", "ACTIVE"),
    }

    exposure = doc["exposure"]
    assert exposure["issuer"]["outstanding"] == FACE
    assert exposure["receipt_pledge"]["principal"] == PRINCIPAL
    assert exposure["bank_total"] == {"BankMSP": TO_TIER3 + PRINCIPAL}

    assert doc["kept"] is True  # --dir is the caller's folder
    _assert_all_stopped(net_dir)


def test_failing_step_names_itself_and_stops_the_network(
    tmp_path: Path, network_yaml: Path
) -> None:
    # Dated five years ago, the voucher matures before today: the issue is refused.
    plan = Plan.new(today=dt.date.today() - dt.timedelta(days=5 * 365))
    with pytest.raises(DemoError) as info:
        run_demo(tmp_path / "net", config_path=network_yaml, plan=plan)
    assert info.value.code == "BAD_ARGUMENT"
    assert "IssueVoucher" in info.value.step
    _assert_all_stopped(tmp_path / "net")
