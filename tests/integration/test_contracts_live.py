"""Double spends of voucher leaves on the live default network (issue 6, "Done when").

The default consortium runs as OS processes on free ports (`scf network up`). Three
roots are issued to the three suppliers, accepted, split twice (4 × 3 leaves each)
and a third of the leaves change hands, so the 36 leaves are held by all three
suppliers. Then 20 clients — threads, each with its own gateway connection, as
User1 or Admin of Supplier1..3 — start together and each fires `submit_async` at its
share of the leaves without waiting: every leaf is targeted by three clients of its
holder's org and two of other orgs, with a partial transfer (atomic split then
transfer), a whole transfer to Bank2, or a financing request (whole or partial).

Checked afterwards:

* exactly one attempt per leaf commits VALID; every other attempt ends as
  MVCC_READ_CONFLICT (a CommitError: it was ordered after the winner in the same
  or a later block) or is refused at endorsement with a contract code (NOT_HOLDER,
  FROZEN, NOT_A_LEAF) or an endorsement mismatch (one endorser had already
  committed the winner);
* the ledger, read through queries as the regulator's Auditor1 (Lineage, GetRoot,
  GetVoucher, HoldingsOf): each leaf shows the winner's effect; conservation (I1)
  over every root — live leaves sum to `face_total`, children of every SPLIT node
  sum to it; ids unique and every leaf has exactly one holder (I3), each live leaf
  appears in exactly one org's holdings; the regulator cannot write (I10);
* `scf verify`'s check (`client.verify.verify_channel`): all peers hold the same
  valid chain.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from client.bench.voucher_pool import issue_request, outcome_code, submit_all
from client.commit import Commit
from client.contract import Contract
from client.errors import EndorseError, EvaluateError
from client.gateway import Gateway
from client.profile import load_profile
from client.verify import VerifyReport, verify_channel
from tests.integration.test_network_cli import net, scf, scf_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

__all__ = ["net"]  # the fixture, imported for pytest

SUPPLIERS = {"supplier1": "Supplier1MSP", "supplier2": "Supplier2MSP", "supplier3": "Supplier3MSP"}
ORGS = list(SUPPLIERS)
ROOTS = {f"LR.{org}": org for org in ORGS}
FACE = 1_200_000
LEVEL1 = [300_000] * 4
LEVEL2 = [100_000] * 3
CLIENTS = 20
HOLDER_ATTACKERS = 3
OTHER_ATTACKERS = 2
REFUSALS = {"NOT_HOLDER", "FROZEN", "NOT_A_LEAF", "ENDORSEMENT_MISMATCH"}
LIVE = {"ACTIVE", "FINANCING_PENDING", "FINANCED", "OVERDUE", "DEFAULTED"}


def _contract(profile: Path, org: str, user: str = "User1") -> tuple[Gateway, Contract]:
    gateway = Gateway.from_profile(profile, org=org, user=user)
    return gateway, gateway.network("trade").contract("receivable")


def _network_up(config: Path, folder: Path) -> Any:
    """`scf network up`, once more if a node was wrongly reported as having exited
    during start-up (the launcher can read a child's /proc cmdline before its exec;
    the node is running, and the second `up` finds it)."""
    first = scf(
        "network", "up", "--config", str(config), "--dir", str(folder), "--json", check=False
    )
    if first.returncode == 0:
        return json.loads(first.stdout)
    assert "exited during start-up" in first.stderr, first.stderr
    time.sleep(1)
    return scf_json("network", "up", "--dir", str(folder))


def _query(contract: Contract, fn: str, **args: Any) -> Any:
    return json.loads(contract.evaluate(fn, json.dumps(args)))


# ------------------------------------------------------------------------- set-up


def _setup(profile: Path) -> dict[str, str]:
    """Issue, accept and split the roots, move a third of the leaves; returns
    leaf id → holder org."""
    gateway, core = _contract(profile, "core")
    with gateway:
        for root_id, org in ROOTS.items():  # one at a time: the issuer's record
            submit_all(core, [("IssueVoucher", issue_request(root_id, SUPPLIERS[org], FACE))])
    holders: dict[str, str] = {}
    for k, (root_id, org) in enumerate(ROOTS.items()):
        gateway, contract = _contract(profile, org)
        with gateway:
            submit_all(
                contract,
                [("AcceptVoucher", {"request_id": f"acc-{root_id}", "voucher_id": root_id})],
            )
            submit_all(
                contract,
                [
                    (
                        "SplitVoucher",
                        {"request_id": f"s1-{root_id}", "voucher_id": root_id, "amounts": LEVEL1},
                    )
                ],
            )
            parts = [f"{root_id}-{i}" for i in range(1, len(LEVEL1) + 1)]
            submit_all(
                contract,
                [
                    ("SplitVoucher", {"request_id": f"s2-{p}", "voucher_id": p, "amounts": LEVEL2})
                    for p in parts
                ],
            )
            moved = [f"{p}-3" for p in parts]
            to = ORGS[(k + 1) % len(ORGS)]
            submit_all(
                contract,
                [
                    (
                        "TransferVoucher",
                        {"request_id": f"mv-{leaf}", "voucher_id": leaf, "to": SUPPLIERS[to]},
                    )
                    for leaf in moved
                ],
            )
            for p in parts:
                for j in range(1, len(LEVEL2) + 1):
                    leaf = f"{p}-{j}"
                    holders[leaf] = to if leaf in moved else org
    return holders


# ------------------------------------------------------------------------- attack


@dataclass(frozen=True)
class Attempt:
    client: int
    leaf: str
    fn: str
    args: dict[str, Any]


@dataclass
class Client:
    index: int
    org: str
    user: str
    attempts: list[Attempt] = field(default_factory=list)
    outcomes: list[tuple[Attempt, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    error: str = ""


def _plan(holders: dict[str, str], rng: random.Random) -> list[Client]:
    clients = [
        Client(i, ORGS[i % 3], "User1" if (i // 3) % 2 == 0 else "Admin") for i in range(CLIENTS)
    ]
    for leaf, holder in sorted(holders.items()):
        own = [c for c in clients if c.org == holder]
        others = [c for c in clients if c.org != holder]
        for c in rng.sample(own, HOLDER_ATTACKERS) + rng.sample(others, OTHER_ATTACKERS):
            kind = rng.choice(["partial", "whole", "finance", "finance_part"])
            request_id = f"atk-{c.index}-{leaf}"
            if kind == "partial":
                to = rng.choice([o for o in ORGS if o != holder])
                fn, args = "TransferVoucher", {"to": SUPPLIERS[to], "amount": 40_000}
            elif kind == "whole":
                fn, args = "TransferVoucher", {"to": "Bank2MSP"}
            else:
                fn = "RequestFinancing"
                args = {"financier": rng.choice(["BankMSP", "Bank2MSP"])}
                if kind == "finance_part":
                    args["amount"] = 50_000
            c.attempts.append(
                Attempt(c.index, leaf, fn, {"request_id": request_id, "voucher_id": leaf, **args})
            )
    return clients


def _run_client(profile: Path, client: Client, barrier: threading.Barrier) -> None:
    """Connect, wait for everyone, fire every attempt without waiting for commits,
    then collect the commit statuses."""
    try:
        gateway, contract = _contract(profile, client.org, client.user)
        with gateway:
            for tries in range(10):  # connect (TLS) before the race; 20 at once
                try:
                    _query(contract, "HoldingsOf", org=SUPPLIERS[client.org])
                    break
                except EvaluateError as exc:
                    if exc.code != "NETWORK_UNREACHABLE" or tries == 9:
                        raise
                    time.sleep(0.5)
            barrier.wait(timeout=60)
            pending: list[tuple[Attempt, Commit]] = []
            for attempt in client.attempts:
                try:
                    _, commit = contract.submit_async(attempt.fn, json.dumps(attempt.args))
                except EndorseError as exc:
                    code = outcome_code(exc)
                    client.outcomes.append((attempt, code))
                    if code not in REFUSALS:
                        client.unexpected.append(str(exc))
                else:
                    pending.append((attempt, commit))
            for attempt, commit in pending:
                status = commit.status()
                client.outcomes.append((attempt, status.code_name))
    except Exception as exc:
        client.error = f"{type(exc).__name__}: {exc}"
        barrier.abort()


# ------------------------------------------------------------------------- checks


def _check_winner(attempt: Attempt, holder: str, nodes: dict[str, Any]) -> None:
    """The leaf's committed state is the winning attempt's effect."""
    node = nodes[attempt.leaf]
    args = attempt.args
    holder_msp = SUPPLIERS[holder]
    if "amount" in args:  # split first; the first child moved or frozen
        assert node["status"] == "SPLIT", node
        first, rest = (nodes[c] for c in node["children"])
        assert first["amount"] == args["amount"]
        assert rest["amount"] == node["amount"] - args["amount"]
        assert rest["holder"] == holder_msp
        assert rest["status"] == "ACTIVE"
        if attempt.fn == "TransferVoucher":
            assert first["holder"] == args["to"]
            assert first["status"] == "ACTIVE"
        else:
            assert first["holder"] == holder_msp
            assert first["status"] == "FINANCING_PENDING"
    elif attempt.fn == "TransferVoucher":
        assert node["status"] == "ACTIVE"
        assert node["holder"] == args["to"]
        assert node["transfer_hops"] >= 1
    else:
        assert node["status"] == "FINANCING_PENDING"
        assert node["holder"] == holder_msp


def _check_conservation(lineage: dict[str, Any]) -> dict[str, Any]:
    """I1, I3 and I5 over one tree as Lineage returns it; returns id → node."""
    root = lineage["root"]
    ids = [n["voucher_id"] for n in lineage["nodes"]]
    assert len(ids) == len(set(ids)), "a voucher id appears twice"
    nodes = {n["voucher_id"]: n for n in lineage["nodes"]}
    leaves = [n for n in nodes.values() if n["status"] != "SPLIT"]
    assert sum(n["amount"] for n in leaves) == root["face_total"]
    assert lineage["leaves_total"] == root["face_total"]
    for node in nodes.values():
        assert isinstance(node["holder"], str)
        assert node["holder"]
        if node["status"] == "SPLIT":
            kids = [nodes[c] for c in node["children"]]
            assert len(kids) >= 2
            assert sum(k["amount"] for k in kids) == node["amount"], node["voucher_id"]
            assert all(k["parent_id"] == node["voucher_id"] for k in kids)
            assert all(k["depth"] == node["depth"] + 1 for k in kids)
        else:
            assert node["children"] == []
    return nodes


def _verify(profile: Path) -> VerifyReport:
    """`scf verify`: every peer's chain valid and all of them equal."""
    for _ in range(3):  # a peer may still be committing the last block
        report = verify_channel(load_profile(profile), "trade")
        if report.ok:
            break
        time.sleep(1)
    assert report.ok, [(c.peer, c.status, c.height, c.error) for c in report.chains]
    return report


# ------------------------------------------------------------------------- the test


def test_concurrent_spends_of_the_same_leaves(net: tuple[Path, Path]) -> None:
    config, folder = net
    began = time.monotonic()
    up = _network_up(config, folder)
    profile = Path(up["profile"])
    print(f"network up: {time.monotonic() - began:.1f} s")

    began = time.monotonic()
    holders = _setup(profile)
    assert len(holders) == len(ROOTS) * len(LEVEL1) * len(LEVEL2)
    assert set(holders.values()) == set(ORGS)
    # Every endorsing peer has the set-up blocks before the race starts.
    _verify(profile)
    print(f"set-up ({len(holders)} leaves): {time.monotonic() - began:.1f} s")

    clients = _plan(holders, random.Random(6))
    barrier = threading.Barrier(len(clients))
    threads = [
        threading.Thread(target=_run_client, args=(profile, c, barrier), daemon=True)
        for c in clients
    ]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert [c.error for c in clients if c.error and "BrokenBarrier" not in c.error] == []
    assert [c.error for c in clients if c.error] == []
    print(f"race: {time.monotonic() - began:.1f} s")

    by_leaf: dict[str, list[tuple[Attempt, str]]] = defaultdict(list)
    for c in clients:
        assert len(c.outcomes) == len(c.attempts)
        for attempt, code in c.outcomes:
            by_leaf[attempt.leaf].append((attempt, code))
    tally = Counter(code for outcomes in by_leaf.values() for _, code in outcomes)
    print(f"outcomes: {dict(tally)}")
    assert [m for c in clients for m in c.unexpected] == []
    assert set(by_leaf) == set(holders)
    winners: dict[str, Attempt] = {}
    for leaf, outcomes in by_leaf.items():
        valid = [a for a, code in outcomes if code == "VALID"]
        assert len(valid) == 1, (leaf, outcomes)
        winners[leaf] = valid[0]
        assert clients[valid[0].client].org == holders[leaf]  # only the holder spends
        others = [code for _, code in outcomes if code != "VALID"]
        assert set(others) <= REFUSALS | {"MVCC_READ_CONFLICT"}, (leaf, outcomes)
    assert tally["VALID"] == len(holders)
    assert tally["MVCC_READ_CONFLICT"] > 0, "no two spends of a leaf met in the validator"

    # The ledger through the regulator's eyes.
    gateway, auditor = _contract(profile, "regulator", "Auditor1")
    with gateway:
        live: dict[str, str] = {}
        for root_id in ROOTS:
            lineage = _query(auditor, "Lineage", root_id=root_id)
            nodes = _check_conservation(lineage)
            root = _query(auditor, "GetRoot", root_id=root_id)
            assert root["face_total"] == FACE
            assert root["paid_total"] == 0
            assert root["status"] == "ACTIVE"
            for leaf, attempt in winners.items():
                if leaf.startswith(f"{root_id}-"):
                    _check_winner(attempt, holders[leaf], nodes)
            live.update({v: n["holder"] for v, n in nodes.items() if n["status"] in LIVE})
        assert _query(auditor, "GetVoucher", voucher_id="LR.supplier1-1-1")["root_id"] == (
            "LR.supplier1"
        )
        held: Counter[str] = Counter()
        for mspid in [*SUPPLIERS.values(), "Bank2MSP", "BankMSP"]:
            holdings = _query(auditor, "HoldingsOf", org=mspid)["vouchers"]
            for voucher in holdings:
                assert voucher["holder"] == mspid
                assert live[voucher["voucher_id"]] == mspid
                held[voucher["voucher_id"]] += 1
        assert set(held) == set(live)
        assert set(held.values()) == {1}, "a leaf appears in two orgs' holdings"
        # I10: the regulator writes nothing.
        with pytest.raises(EndorseError) as refused:
            auditor.submit(
                "TransferVoucher",
                json.dumps(
                    {"request_id": "reg", "voucher_id": "LR.supplier1-1-1", "to": "Bank2MSP"}
                ),
            )
        # The channel's Writers policy refuses it before the contract's own check.
        assert refused.value.code in ("ACCESS_DENIED", "READ_ONLY_ROLE"), refused.value

    report = _verify(profile)
    assert len({c.height for c in report.chains}) == 1
    assert len(report.chains) == 4
