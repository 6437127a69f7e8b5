"""The regulator on a live network (issue 7 "Done when"), through `scf regulator`.

The default consortium on free ports as OS processes (`scf network up`), then:

1. the demo's story (`client.demo_story.Story`: issue, accept, split, transfer down
   three tiers, finance, a warehouse receipt pledged), a circular transfer
   (Supplier1 → 2 → 3 → 1) and a voucher reusing another root's invoice hash;
2. `scf regulator lineage` shows the whole tree summing to the face amount,
   `exposure` the core enterprise's live and financed face, `alerts` both alerts
   with their evidence txids; `channels`, `block`, `tx --proof`, `history` and
   `watch --count` answer; a regulator Submit through the Gateway is refused;
3. `scf regulator verify` passes on the healthy network, then detects (exit 1, the
   right peer named) a peer whose LevelDB state was altered offline and a peer with
   one flipped byte in a stored block.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import plyvel
import pytest

from client.demo import _peer_sync
from client.demo_plan import FACE, TO_TIER3, Plan
from client.demo_story import Story
from client.gateway import Gateway
from client.launcher import NetworkLayout, node_specs
from client.launcher_ops import load_folder_config
from client.profile import load_profile
from client.regulator import dial
from common import txutil
from common.blockstore import BLOCK_FILES_DIR
from common.blockstore.files import FilePosition
from common.msp import SigningIdentity
from protos.common import common_pb2
from protos.gateway import gateway_pb2, gateway_pb2_grpc
from tests.integration.test_network_cli import SCF, _kill_leftovers, write_network_yaml
from tests.unit.orderer.support import signed_envelope

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

CHANNEL = "trade"
BANK_PEER = "peer0.bank.scf.example"
WAREHOUSE_PEER = "peer0.warehouse.scf.example"


def scf(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [SCF, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert result.returncode == 0, (
            f"scf {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def reg(profile: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return scf("regulator", *args, "--profile", str(profile), check=check)


def reg_json(profile: Path, *args: str, check: bool = True) -> Any:
    return json.loads(reg(profile, *args, "--json", check=check).stdout)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    config = tmp_path / "network.yaml"
    write_network_yaml(config)
    net = tmp_path / "net"
    try:
        scf("network", "up", "--config", str(config), "--dir", str(net))
        yield net
    finally:
        if (net / "network.yaml").exists():
            scf("network", "down", "--dir", str(net), "--timeout", "5", check=False)
            _kill_leftovers(net)


class Submitter:
    """Submits as any org's user and waits until every peer has the block."""

    def __init__(self, folder: Path) -> None:
        self.layout = NetworkLayout(folder)
        self.sync = _peer_sync(self.layout, node_specs(load_folder_config(self.layout)))
        self.gateways: dict[tuple[str, str], Gateway] = {}

    def __call__(self, org: str, user: str, fn: str, args: dict[str, Any]) -> str:
        gw = self.gateways.get((org, user))
        if gw is None:
            gw = Gateway.from_profile(self.layout.profile, org=org, user=user)
            self.gateways[(org, user)] = gw
        body = {"request_id": f"reg-live-{uuid.uuid4().hex}", **args}
        contract = gw.network(CHANNEL).contract("receivable")
        _, commit = contract.submit_async(fn, json.dumps(body))
        status = commit.status()
        assert status.successful, (fn, status)
        self.sync(status.block_number)
        return status.transaction_id

    def close(self) -> None:
        for gw in self.gateways.values():
            gw.close()


def sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def issue(submit: Submitter, plan: Plan, voucher_id: str, invoice: str) -> tuple[str, str]:
    docs = {
        "contract_no": f"PO-{voucher_id}",
        "contract_hash": sha(f"contract {voucher_id}"),
        "contract_date": plan.today.isoformat(),
        "invoice_nos": [f"INV-{voucher_id}"],
        "invoice_hashes": [sha(invoice)],
        "delivery_date": plan.today.isoformat(),
        "delivery_proof_hash": sha(f"delivery {voucher_id}"),
        "goods_desc_hash": sha(f"goods {voucher_id}"),
    }
    issued = submit(
        "core",
        "Treasurer",
        "IssueVoucher",
        {
            "voucher_id": voucher_id,
            "payee": "Supplier1MSP",
            "amount": 10_000_000,
            "currency": "CNY",
            "issue_date": plan.today.isoformat(),
            "maturity_date": plan.maturity_date.isoformat(),
            "underlying": docs,
            "sme_flag": True,
        },
    )
    accepted = submit("supplier1", "User1", "AcceptVoucher", {"voucher_id": voucher_id})
    return issued, accepted


def node(folder: Path, name: str) -> Any:
    for spec in node_specs(load_folder_config(NetworkLayout(folder))):
        if spec.id == name:
            return spec
    raise AssertionError(name)


@contextlib.contextmanager
def stopped(folder: Path, name: str) -> Iterator[Path]:
    """Stop one peer (SIGTERM, wait), yield its ledger folder, restart with `scf network up`."""
    pid_file = folder / "nodes" / name / "pid"
    pid = int(pid_file.read_text())
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    time.sleep(0.3)
    yield folder / "nodes" / name / "data" / "ledgers" / CHANNEL
    scf("network", "up", "--dir", str(folder))


def test_regulator_on_a_live_network(folder: Path) -> None:
    profile = folder / "connection.yaml"
    plan = Plan.new()
    layout = NetworkLayout(folder)
    sync = _peer_sync(layout, node_specs(load_folder_config(layout)))
    result = Story(profile, plan, after_commit=sync).run()
    assert result.lineage  # the story's own regulator step read it back

    submit = Submitter(folder)
    try:
        # A circular transfer: Supplier1 → Supplier2 → Supplier3 → Supplier1.
        circ = f"CIRC{plan.tag}"
        c_issue, _c_accept = issue(submit, plan, circ, f"circular invoice {plan.tag}")
        t1 = submit(
            "supplier1", "User1", "TransferVoucher", {"voucher_id": circ, "to": "Supplier2MSP"}
        )
        t2 = submit(
            "supplier2", "User1", "TransferVoucher", {"voucher_id": circ, "to": "Supplier3MSP"}
        )
        t3 = submit(
            "supplier3", "User1", "TransferVoucher", {"voucher_id": circ, "to": "Supplier1MSP"}
        )
        # The story's invoice used again under another root.
        dup = f"DUP{plan.tag}"
        d_issue, _ = issue(submit, plan, dup, f"invoice {plan.tag} 1")
    finally:
        submit.close()

    # --- lineage: the whole tree, leaves summing to the face amount ------------------
    lineage = reg_json(profile, "lineage", plan.child(2, 1))
    assert lineage["root_id"] == plan.voucher_id
    assert int(lineage["face_total"]) == FACE == int(lineage["leaf_total"])
    ids = {n["voucher_id"] for n in lineage["nodes"]}
    assert ids == {
        plan.voucher_id,
        plan.child(1),
        plan.child(2),
        plan.child(2, 1),
        plan.child(2, 2),
    }
    leaves = [n for n in lineage["nodes"] if n["status"] != "SPLIT"]
    assert sum(int(n["amount"]) for n in leaves) == FACE
    financed = next(n for n in lineage["nodes"] if n["voucher_id"] == plan.child(2, 1))
    assert financed["status"] == "FINANCED"
    assert financed["holder"] == "BankMSP"
    tree = reg(profile, "lineage", plan.voucher_id).stdout
    assert "(balanced)" in tree
    assert "└──" in tree
    assert plan.child(2, 2) in tree
    print(tree)

    # --- exposure: live and financed face of the core enterprise --------------------
    (core,) = [
        r for r in reg_json(profile, "exposure", "--issuer", "CoreMSP") if r["channel"] == CHANNEL
    ]
    assert int(core["live_face"]) == FACE + 2 * 10_000_000
    assert int(core["financed_face"]) == TO_TIER3
    table = reg(profile, "exposure").stdout
    assert "CoreMSP" in table
    assert "1,200,000.00" in table
    assert "150,000.00" in table
    print(table)

    # --- alerts, with their evidence ------------------------------------------------
    alerts = reg_json(profile, "alerts")
    circular = [a for a in alerts if a["rule"] == "CIRCULAR_TRANSFER"]
    assert [a["subject"] for a in circular] == [circ]
    assert circular[0]["evidence_tx_ids"] == [c_issue, t1, t2, t3]
    reuse = [a for a in alerts if a["rule"] == "TRADE_DOC_REUSE"]
    assert len(reuse) == 1
    assert d_issue in reuse[0]["evidence_tx_ids"]
    first_use = result.steps[0].tx_id
    assert first_use in reuse[0]["evidence_tx_ids"]
    print(reg(profile, "alerts").stdout)

    # --- the ledger views --------------------------------------------------------------
    (info,) = reg_json(profile, "channels")
    assert info["channel"] == CHANNEL
    assert int(info["height"]) == int(info["indicator_height"])
    tx = reg_json(profile, "tx", t3, "--proof")
    assert tx["validation_code_name"] == "VALID"
    assert tx["creator_mspid"] == "Supplier3MSP"
    assert tx["proof"]["verified"] is True
    block = reg_json(profile, "block", "--channel", CHANNEL, str(tx["block_number"]))
    assert t3 in [t["tx_id"] for t in block["txs"]]
    history = reg_json(profile, "history", "receivable", f"·voucher·{circ}·")
    assert [h["tx_id"] for h in history][-1] == t3
    print(reg(profile, "tx", t3, "--proof").stdout)

    # --- watch: a new block arrives on the stream ---------------------------------------
    watcher = subprocess.Popen(
        [
            SCF,
            "regulator",
            "watch",
            "--profile",
            str(profile),
            "--blocks-only",
            "--count",
            "1",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.0)
        submit = Submitter(folder)
        try:
            extra = submit(
                "supplier1", "User1", "TransferVoucher", {"voucher_id": circ, "to": "Supplier2MSP"}
            )
        finally:
            submit.close()
        out, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    event = json.loads(out.splitlines()[0])
    assert event["block"]["channel"] == CHANNEL
    assert extra

    # --- a regulator Submit through the Gateway is refused ------------------------------
    submit_refusal(profile)

    # --- verify: healthy --------------------------------------------------------------
    healthy = reg(profile, "verify", "--channel", CHANNEL)
    print(healthy.stdout)
    assert "all agree" in healthy.stdout
    report = reg_json(profile, "verify", "--channel", CHANNEL)
    assert report["ok"] is True
    assert {p["state"] for p in report["peers"]} == {"OK"}
    assert len(report["peers"]) == 4

    # --- a peer whose LevelDB state was altered offline ---------------------------------
    with stopped(folder, BANK_PEER) as ledger_dir:
        db = plyvel.DB(str(ledger_dir))
        try:
            key = next(k for k, _ in db.iterator(prefix=b"st/") if circ.encode() in k)
            value = bytearray(db.get(key))
            at = value.find(b"Supplier")
            value[at : at + 12] = b"Supplier9MSP"
            db.put(key, bytes(value), sync=True)
        finally:
            db.close()
    tampered = reg(profile, "verify", "--channel", CHANNEL, check=False)
    print(tampered.stdout)
    assert tampered.returncode == 1
    lines = {
        line.split()[0]: line for line in tampered.stdout.splitlines() if line.startswith("peer")
    }
    assert "FAIL" in lines[BANK_PEER]
    assert "state" in lines[BANK_PEER]
    assert all("OK" in lines[p] for p in lines if p != BANK_PEER)
    report = reg_json(profile, "verify", "--channel", CHANNEL, check=False)
    bank = next(p for p in report["peers"] if p["peer"] == BANK_PEER)
    assert bank["state"] == "MISMATCH"

    # --- a peer with one flipped byte in a stored block ----------------------------------
    flipped = int(tx["block_number"])
    with stopped(folder, WAREHOUSE_PEER) as ledger_dir:
        db = plyvel.DB(str(ledger_dir))
        try:
            position = FilePosition.decode(db.get(b"blk/b" + flipped.to_bytes(8, "big")))
        finally:
            db.close()
        block_file = ledger_dir / BLOCK_FILES_DIR / f"blockfile_{position.file:06d}"
        with open(block_file, "r+b") as handle:
            handle.seek(position.offset)
            raw = bytearray(handle.read(position.length))
            at = raw.find(b"Supplier1MSP")
            assert at > 0
            raw[at + 8] ^= 0x08  # '1' → '9'
            handle.seek(position.offset)
            handle.write(raw)
    broken = reg(profile, "verify", "--channel", CHANNEL, check=False)
    print(broken.stdout)
    assert broken.returncode == 1
    lines = {
        line.split()[0]: line for line in broken.stdout.splitlines() if line.startswith("peer")
    }
    assert f"FAIL  block {flipped}" in lines[WAREHOUSE_PEER]
    assert (
        "data hash" in lines[WAREHOUSE_PEER].lower() or "data_hash" in lines[WAREHOUSE_PEER].lower()
    )
    assert f"first divergent block {flipped}" in broken.stdout


def submit_refusal(profile: Path) -> None:
    """The regulator signs a transaction envelope and submits it through the Gateway
    of its own peer: the orderer's Writers check refuses it, and nothing is ordered."""
    loaded = load_profile(profile)
    org = loaded.org("regulator")
    user = org.user("Auditor1")
    if user.cert is not None and user.key is not None:
        signer = SigningIdentity.from_pem(org.mspid, user.cert.read_bytes(), user.key.read_bytes())
    else:
        assert user.msp_dir is not None
        signer = SigningIdentity.from_msp_dir(user.msp_dir, org.mspid)
    envelope = common_pb2.Envelope.FromString(signed_envelope(CHANNEL, signer))
    tx_id = txutil.parse_envelope_header(envelope.SerializeToString()).channel_header.tx_id
    with dial(loaded.gateway_peer("regulator"), user.tls_cert, user.tls_key) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as caught:
            stub.Submit(
                gateway_pb2.SubmitRequest(
                    transaction_id=tx_id, channel_id=CHANNEL, prepared_transaction=envelope
                ),
                timeout=20,
            )
    error = caught.value
    details = error.details() or ""
    print(f"regulator Submit through the Gateway: {error.code().name}: {details}")
    # The Gateway relays the orderer's refusal (Fabric: ABORTED carrying the status).
    assert error.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.ABORTED)
    assert "FORBIDDEN" in details
    assert "Writers" in details
