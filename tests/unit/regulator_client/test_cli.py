"""`scf regulator ...` over a real in-process Regulator service (the client the CLI
builds from the profile is replaced by one connected to that service): tables and
the lineage tree for people, JSON for machines, a clear one-line refusal for a
non-regulator identity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from client.cli.regulator import regulator_group
from client.regulator import RegulatorClient
from tests.regulator_console.story import FACE, Console, console


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console(tmp_path_factory.mktemp("cli")) as c:
        yield c


@pytest.fixture
def run(served: Console, monkeypatch: pytest.MonkeyPatch) -> Any:
    identity = {"who": "regulator"}

    def from_profile(*_args: Any, **_kwargs: Any) -> RegulatorClient:
        signer = served.net.ids[identity["who"]]
        return RegulatorClient(served.client._channel, signer, target="test")

    monkeypatch.setattr(RegulatorClient, "from_profile", from_profile)

    def invoke(*args: str, who: str = "regulator") -> Any:
        identity["who"] = who
        result = CliRunner().invoke(regulator_group, list(args), catch_exceptions=False)
        return result

    return invoke


def test_lineage_prints_the_tree_and_its_totals(run: Any) -> None:
    out = run("lineage", "V1-2-2").output
    assert "lineage of V1: face 1,000,000.00 CNY, leaves sum 1,000,000.00 (balanced)" in out
    lines = out.splitlines()
    depth = {
        v: next(i for i, line in enumerate(lines) if f" {v} " in line)
        for v in ("V1-1", "V1-2", "V1-2-1")
    }
    assert depth["V1-1"] < depth["V1-2"] < depth["V1-2-1"]
    assert "└──" in out
    assert "FINANCED" in out
    assert "financed by BankMSP" in out
    data = json.loads(run("lineage", "V1", "--json").output)
    assert int(data["face_total"]) == FACE == int(data["leaf_total"])
    assert len(data["nodes"]) == 5


def test_exposure_and_alerts(run: Any, served: Console) -> None:
    out = run("exposure").output
    assert "CoreMSP" in out
    assert "1,150,000.00" in out
    assert "150,000.00" in out
    (row,) = json.loads(run("exposure", "--json").output)
    assert (int(row["live_face"]), int(row["financed_face"])) == (115_000_000, 15_000_000)
    alerts = json.loads(run("alerts", "--json").output)
    by_rule = {a["rule"]: a for a in alerts}
    assert by_rule["CIRCULAR_TRANSFER"]["evidence_tx_ids"] == [
        served.tx[k] for k in ("c_issue", "c1", "c2", "c3")
    ]
    assert served.tx["dup"] in by_rule["TRADE_DOC_REUSE"]["evidence_tx_ids"]
    assert by_rule["CIRCULAR_TRANSFER"]["details"]["path"][0] == "Supplier1MSP"
    table = run("alerts", "--rule", "TRADE_DOC_REUSE").output
    assert "TRADE_DOC_REUSE" in table
    assert "CIRCULAR" not in table


def test_ledger_views_and_the_inclusion_proof(run: Any, served: Console) -> None:
    (info,) = json.loads(run("channels", "--json").output)
    assert info["height"] == info["indicator_height"]
    tx = json.loads(run("tx", served.tx["c3"], "--proof", "--json").output)
    assert tx["creator_mspid"] == "Supplier3MSP"
    assert tx["proof"]["verified"] is True
    assert tx["proof"]["entries"] == 1
    writes = [w for ns in tx["rwset"] for w in ns["writes"]]
    assert any(
        isinstance(w["value"], dict) and w["value"].get("holder") == "Supplier1MSP" for w in writes
    )
    assert "verified" in run("tx", served.tx["c3"], "--proof").output
    block = json.loads(run("block", str(tx["block_number"]), "--json").output)
    assert [t["tx_id"] for t in block["txs"]] == [served.tx["c3"]]
    history = json.loads(run("history", "receivable", "·voucher·C1·", "--json").output)
    assert [h["tx_id"] for h in history][-1] == served.tx["c3"]
    assert [h["value"]["holder"] for h in history][-3:] == [
        "Supplier2MSP",
        "Supplier3MSP",
        "Supplier1MSP",
    ]


def test_a_non_regulator_gets_one_clear_line(run: Any) -> None:
    result = CliRunner().invoke(regulator_group, ["exposure"])  # regulator: fine
    assert result.exit_code == 0
    refused = run("exposure", who="bank")
    assert refused.exit_code == 1
    assert refused.output.count("\n") == 1
    assert "PERMISSION_DENIED" in refused.output
    assert "regulator identities only" in refused.output


def test_watch_streams_new_blocks(run: Any, served: Console) -> None:
    import threading
    import time

    def later() -> None:
        time.sleep(0.5)
        served.net.run(
            "s1", "receivable", "TransferVoucher", {"voucher_id": "C1", "to": "Supplier2MSP"}
        )

    thread = threading.Thread(target=later)
    thread.start()
    out = run("watch", "--blocks-only", "--count", "1", "--json").output
    thread.join()
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert event["block"]["channel"] == "trade"
    assert int(event["block"]["number"]) == served.net.ledger.height() - 1
