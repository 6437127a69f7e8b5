"""The pieces of the fault-injection suite (`test_faults.py` drives them).

* `FaultNet`: the default consortium as OS processes on free ports, every orderer's
  cluster port behind a `ClusterProxy`; kill / stop / continue / restart nodes.
* `ChainTracker`: one Deliver stream per peer, kept open across the peer's crashes,
  recording each block's header hash, previous hash, commit hash and (txid, code)s;
  `check` compares the peers height by height and looks up acknowledged txids.
* `VoucherLoad`: client threads running the voucher flow (issue → accept → split →
  partial transfer → financing request → approval), each on roots it owns, and
  recording every transaction whose CommitStatus said VALID.
* `probe_recovery`: time from a fault's end to the first VALID commit of a fresh
  transaction.
* `check_conservation`: the contracts' invariant over voucher roots, read as the
  regulator's Auditor1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from client.bench.voucher_pool import issue_request, outcome_code
from client.free_ports import free_ports
from client.gateway import Gateway, Timeouts
from client.launcher import (
    NetworkLayout,
    NodeRole,
    NodeSpec,
    node_specs,
    port_in_use,
    process_alive,
    running_pid,
    start_node,
)
from client.launcher_ops import prepare
from client.launcher_probe import leaders, probe_all, wait_ready
from client.netconfig import default_network_yaml
from common.block import header_hash
from common.blockstore.base import tx_ids, validation_codes
from protos.common import common_pb2
from protos.peer import transaction_pb2
from tests.faults.proxy import ClusterProxy

CHANNEL = "trade"
VALID = transaction_pb2.VALID
SUPPLIER_MSP = {
    "supplier1": "Supplier1MSP",
    "supplier2": "Supplier2MSP",
    "supplier3": "Supplier3MSP",
}
PEER_USERS = {
    "peer0.core.scf.example": ("core", "User1"),
    "peer0.bank.scf.example": ("bank", "User1"),
    "peer0.warehouse.scf.example": ("warehouse", "User1"),
    "peer0.regulator.scf.example": ("regulator", "Auditor1"),
}
ENDORSERS = ("peer0.core.scf.example", "peer0.bank.scf.example")
REGULATOR_PEER = "peer0.regulator.scf.example"


class Timer:
    """Wall-clock deadlines for waits (monotonic)."""

    @staticmethod
    def wait_for(what: str, check: Callable[[], bool], timeout: float, pause: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(pause)


# ------------------------------------------------------------------------ the network


@dataclass
class FaultNet:
    """The default network in `root`, orderer cluster traffic through `proxy`."""

    root: Path
    layout: NetworkLayout = field(init=False)
    specs: tuple[NodeSpec, ...] = field(init=False, default=())
    proxy: ClusterProxy = field(default_factory=ClusterProxy)
    public_cluster: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layout = NetworkLayout(self.root / "net")

    # -- set-up ------------------------------------------------------------------

    def up(self) -> None:
        """Write network.yaml on free ports (cluster ports = proxy ports), prepare the
        folder, point each orderer's own cluster listener at a hidden real port,
        start the proxy and every node, and wait until ready."""
        doc = yaml.safe_load(default_network_yaml())
        ports = iter(free_ports(48))
        real: dict[str, int] = {}
        for org in doc["orgs"]:
            for o in org.get("orderers") or []:
                o["port"], o["cluster_port"], o["operations_port"] = (
                    next(ports),
                    next(ports),
                    next(ports),
                )
                real[f"{o['name']}.{org['domain']}"] = next(ports)
            for p in org.get("peers") or []:
                p["port"], p["operations_port"] = next(ports), next(ports)
        config_path = self.root / "network.yaml"
        config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        config = prepare(self.layout, config_path)
        specs = []
        for spec in node_specs(config):
            if spec.role is NodeRole.ORDERER:
                assert spec.cluster_port is not None
                self.public_cluster[spec.id] = spec.cluster_port
                hidden = real[spec.id]
                path = self.layout.config_path(spec)
                node_doc = yaml.safe_load(path.read_text())
                node_doc["cluster_listen_address"] = f"{spec.host}:{hidden}"
                path.write_text(yaml.safe_dump(node_doc, sort_keys=False))
                self.proxy.listen(spec.cluster_port, hidden)
                spec = dataclasses.replace(spec, cluster_port=hidden)
            specs.append(spec)
        self.specs = tuple(specs)
        for spec in self.specs:
            start_node(self.layout, spec)
        self.wait_ready(60)

    def down(self) -> None:
        for spec in self.specs:
            self._signal(spec, signal.SIGCONT)
            self._signal(spec, signal.SIGKILL)
        self.proxy.close()

    # -- views -------------------------------------------------------------------

    def spec(self, node_id: str) -> NodeSpec:
        return next(s for s in self.specs if s.id == node_id)

    @property
    def orderers(self) -> list[NodeSpec]:
        return [s for s in self.specs if s.role is NodeRole.ORDERER]

    @property
    def peers(self) -> list[NodeSpec]:
        return [s for s in self.specs if s.role is NodeRole.PEER]

    @property
    def profile(self) -> Path:
        return self.layout.profile

    def pid(self, spec: NodeSpec) -> int | None:
        return running_pid(self.layout, spec)

    def leader(self) -> str | None:
        return leaders(probe_all(self.layout, self.orderers)).get(CHANNEL)

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_ready(self.layout, self.specs, timeout=timeout)

    # -- faults --------------------------------------------------------------------

    def _signal(self, spec: NodeSpec, sig: signal.Signals) -> int | None:
        pid = self.pid(spec)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        return pid

    def kill(self, spec: NodeSpec) -> None:
        """SIGKILL the node's process group and wait until it is gone."""
        pid = self._signal(spec, signal.SIGKILL)
        if pid is None:
            return
        Timer.wait_for(f"{spec.id} to die", lambda: not process_alive(pid), 10, 0.02)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our child (start_node spawned it): reap

    def stop(self, spec: NodeSpec) -> None:
        self._signal(spec, signal.SIGSTOP)

    def cont(self, spec: NodeSpec) -> None:
        self._signal(spec, signal.SIGCONT)

    def start(self, spec: NodeSpec) -> None:
        """Start the node unless it runs; first wait until its ports are free (a node
        just killed may hold them for a moment)."""
        if self.pid(spec) is not None:
            return
        ports = [spec.port, spec.operations_port, spec.cluster_port]
        Timer.wait_for(
            f"{spec.id}'s ports to be free",
            lambda: not any(p is not None and port_in_use(spec.host, p, 0.1) for p in ports),
            10,
            0.05,
        )
        start_node(self.layout, spec)

    def start_all(self) -> None:
        for spec in self.specs:
            self.start(spec)

    def isolate(self, spec: NodeSpec) -> None:
        pid = self.pid(spec)
        assert pid is not None, f"{spec.id} is not running"
        self.proxy.cut(self.public_cluster[spec.id], pid)

    def heal(self) -> None:
        self.proxy.heal()


# ------------------------------------------------------------------------ the chains


def commit_hash_of(block: common_pb2.Block) -> bytes:
    metadata = block.metadata.metadata
    if len(metadata) <= common_pb2.COMMIT_HASH or not metadata[common_pb2.COMMIT_HASH]:
        return b""
    return bytes(common_pb2.Metadata.FromString(metadata[common_pb2.COMMIT_HASH]).value)


@dataclass(frozen=True)
class BlockRecord:
    number: int
    header_hash: bytes
    previous_hash: bytes
    commit_hash: bytes
    txs: tuple[tuple[str, int], ...]


@dataclass
class _PeerChain:
    peer: str
    blocks: list[BlockRecord] = field(default_factory=list)
    valid: dict[str, list[int]] = field(default_factory=dict)
    """txid → block numbers where it is VALID."""
    seen: Counter[str] = field(default_factory=Counter)
    """txid → occurrences in any block, valid or not."""
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0


@dataclass
class Verdict:
    forks: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    twice_valid: list[str] = field(default_factory=list)
    duplicate_copies: int = 0
    heights: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.forks or self.lost or self.twice_valid)


class ChainTracker:
    """A Deliver block stream per peer (see the module docstring)."""

    def __init__(self, profile: Path, peers: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._chains = {p: _PeerChain(p) for p in peers}
        self._checked = 0
        self._threads = [
            threading.Thread(target=self._follow, args=(profile, p), name=f"track-{p}", daemon=True)
            for p in self._chains
        ]
        self._streams: dict[str, Any] = {}
        for t in self._threads:
            t.start()

    def heights(self) -> dict[str, int]:
        with self._lock:
            return {p: len(c.blocks) for p, c in self._chains.items()}

    def close(self) -> None:
        self._stopping.set()
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.close()
        for t in self._threads:
            t.join(timeout=5)

    def _follow(self, profile: Path, peer: str) -> None:
        org, user = PEER_USERS[peer]
        timeouts = Timeouts(evaluate=5, endorse=5, submit=5, commit_status=5)
        with Gateway.from_profile(profile, org=org, user=user, timeouts=timeouts) as gateway:
            network = gateway.network(CHANNEL)
            chain = self._chains[peer]
            while not self._stopping.is_set():
                try:
                    stream = network.block_events(start_block=len(chain.blocks))
                    with self._lock:
                        self._streams[peer] = stream
                    with stream:
                        for block in stream:
                            self._add(chain, block)
                            if self._stopping.is_set():
                                break
                except Exception:  # the peer is down or restarting: resume later
                    chain.reconnects += 1
                    self._stopping.wait(0.2)

    def _add(self, chain: _PeerChain, block: common_pb2.Block) -> None:
        number = block.header.number
        with self._lock:
            if number != len(chain.blocks):
                chain.errors.append(f"got block {number} at height {len(chain.blocks)}")
                return
            codes = validation_codes(block)
            txs = tuple(zip(tx_ids(block), codes, strict=True))
            record = BlockRecord(
                number,
                header_hash(block.header),
                bytes(block.header.previous_hash),
                commit_hash_of(block),
                txs,
            )
            chain.blocks.append(record)
            for txid, code in txs:
                if not txid:
                    continue
                chain.seen[txid] += 1
                if code == VALID:
                    chain.valid.setdefault(txid, []).append(number)

    def wait_level(self, height: int, timeout: float) -> None:
        """Until every peer's tracked chain holds `height` blocks."""

        def level() -> bool:
            return min(self.heights().values()) >= height

        try:
            Timer.wait_for(f"every peer at height {height}", level, timeout)
        except AssertionError:
            raise AssertionError(f"{self.heights()} after {timeout:.0f} s; want {height}") from None

    def check(self, acknowledged: dict[str, int]) -> Verdict:
        """Compare the peers' chains height by height (header hash, previous-hash
        link, commit hash) from the last checked height, and look up every
        acknowledged txid (txid → block the CommitStatus named) on every peer."""
        verdict = Verdict()
        with self._lock:
            chains = list(self._chains.values())
            verdict.heights = {c.peer: len(c.blocks) for c in chains}
            common = min(verdict.heights.values())
            for n in range(max(self._checked, 0), common):
                records = [c.blocks[n] for c in chains]
                first = records[0]
                if n > 0 and first.previous_hash != chains[0].blocks[n - 1].header_hash:
                    verdict.forks.append(f"block {n}: previous hash does not link")
                for other, chain in zip(records[1:], chains[1:], strict=True):
                    for what, mine, theirs in (
                        ("header hash", first.header_hash, other.header_hash),
                        ("commit hash", first.commit_hash, other.commit_hash),
                    ):
                        if mine != theirs:
                            verdict.forks.append(
                                f"block {n}: {what} {chains[0].peer} {mine.hex()[:12]}"
                                f" != {chain.peer} {theirs.hex()[:12]}"
                            )
            if not verdict.forks:
                self._checked = common
            for chain in chains:
                verdict.forks.extend(f"{chain.peer}: {e}" for e in chain.errors)
                for txid, numbers in chain.valid.items():
                    if len(numbers) > 1:
                        verdict.twice_valid.append(f"{chain.peer}: {txid} VALID in {numbers}")
                verdict.duplicate_copies = max(
                    verdict.duplicate_copies, sum(n - 1 for n in chain.seen.values() if n > 1)
                )
                for txid, number in acknowledged.items():
                    if number >= len(chain.blocks):
                        verdict.lost.append(f"{chain.peer}: {txid} (block {number}) not reached")
                    elif chain.valid.get(txid) != [number]:
                        verdict.lost.append(
                            f"{chain.peer}: {txid} acknowledged VALID in block {number}, "
                            f"found VALID in {chain.valid.get(txid)}"
                        )
        return verdict


# ------------------------------------------------------------------------ the load


@dataclass
class LoadFigures:
    submitted: int = 0
    acknowledged: dict[str, int] = field(default_factory=dict)
    """txid → block number, for every tx whose CommitStatus said VALID."""
    outcomes: Counter[str] = field(default_factory=Counter)
    roots: set[str] = field(default_factory=set)
    dirty_roots: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


class VoucherLoad:
    """`threads` client threads, each as User1 of a supplier org, each owning its
    roots: the core enterprise issues a root to it (issuances one at a time: they
    update the issuer's exposure record), it accepts, splits it in three, transfers
    part of the first child to the next supplier, asks BankMSP to finance the third,
    and BankMSP approves. A failed step abandons the root (its tree stays as
    committed) and the thread starts a new one."""

    def __init__(self, profile: Path, threads: int, seed: int, pause_s: float = 0.0) -> None:
        self._profile = profile
        self._stopping = threading.Event()
        self._issue_lock = threading.Lock()
        self._lock = threading.Lock()
        self.figures = LoadFigures()
        self._pause_s = pause_s
        self._tag = f"{seed:x}.{uuid.uuid4().hex[:4]}"
        self._timeouts = Timeouts(evaluate=5, endorse=5, submit=10, commit_status=15)
        self._gateways: list[Gateway] = []
        self._core = self._gateway("core")
        self._bank = self._gateway("bank")
        orgs = list(SUPPLIER_MSP)
        self._threads = [
            threading.Thread(
                target=self._run,
                args=(k, orgs[k % len(orgs)], orgs[(k + 1) % len(orgs)]),
                name=f"load-{k}",
                daemon=True,
            )
            for k in range(threads)
        ]

    def _gateway(self, org: str) -> Gateway:
        gateway = Gateway.from_profile(
            self._profile, org=org, user="User1", timeouts=self._timeouts
        )
        self._gateways.append(gateway)
        return gateway

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stopping.set()
        for t in self._threads:
            t.join(timeout=60)
        for gateway in self._gateways:
            gateway.close()

    def take_dirty_roots(self) -> set[str]:
        """Issued roots with a transaction submitted since the last call."""
        with self._lock:
            dirty, self.figures.dirty_roots = self.figures.dirty_roots, set()
            return dirty & self.figures.roots

    def acknowledged(self) -> dict[str, int]:
        with self._lock:
            return dict(self.figures.acknowledged)

    def _submit(self, gateway: Gateway, root: str, fn: str, args: dict[str, Any]) -> bool:
        with self._lock:
            self.figures.submitted += 1
            self.figures.dirty_roots.add(root)
        contract = gateway.network(CHANNEL).contract("receivable")
        try:
            _, commit = contract.submit_async(fn, json.dumps(args))
            status = commit.status()
            code = "VALID" if status.successful else status.code_name
        except Exception as exc:  # every failure is a figure
            code = outcome_code(exc)
            status = None
        with self._lock:
            self.figures.outcomes[f"{fn}:{code}"] += 1
            if status is not None and status.successful:
                self.figures.acknowledged[status.transaction_id] = status.block_number
        return code == "VALID"

    def _run(self, k: int, org: str, next_org: str) -> None:
        try:
            supplier = self._gateway(org)
            n = 0
            while not self._stopping.is_set():
                n += 1
                if not self._one_root(supplier, f"FV.{self._tag}.t{k}.r{n}", org, next_org):
                    self._stopping.wait(0.3)  # the network is hurt: do not spin
                elif self._pause_s:
                    self._stopping.wait(self._pause_s)
        except Exception as exc:
            with self._lock:
                self.figures.errors.append(f"load thread {k}: {type(exc).__name__}: {exc}")

    def _one_root(self, supplier: Gateway, root: str, org: str, next_org: str) -> bool:
        face = 900_000
        with self._issue_lock:
            if self._stopping.is_set():
                return True
            issued = self._submit(
                self._core, root, "IssueVoucher", issue_request(root, SUPPLIER_MSP[org], face)
            )
        if not issued:
            return False
        with self._lock:
            self.figures.roots.add(root)
        steps: list[tuple[Gateway, str, dict[str, Any]]] = [
            (supplier, "AcceptVoucher", {"voucher_id": root}),
            (supplier, "SplitVoucher", {"voucher_id": root, "amounts": [300_000] * 3}),
            (
                supplier,
                "TransferVoucher",
                {"voucher_id": f"{root}-1", "to": SUPPLIER_MSP[next_org], "amount": 100_000},
            ),
            (supplier, "RequestFinancing", {"voucher_id": f"{root}-3", "financier": "BankMSP"}),
            (
                self._bank,
                "ApproveFinancing",
                {
                    "voucher_id": f"{root}-3",
                    "rate_bps": 450,
                    "fees": 0,
                    "registration_ref": f"CRC-{root}",
                    "disbursement_ref": f"PAY-{root}",
                },
            ),
        ]
        for gateway, fn, args in steps:
            if self._stopping.is_set():
                return True
            args = {"request_id": f"{fn}-{root}", **args}
            if not self._submit(gateway, root, fn, args):
                return False
        return True


# ------------------------------------------------------------------------ probes


def probe_recovery(
    profile: Path, since: float, limit_s: float, stats: Counter[str] | None = None
) -> tuple[float | None, str]:
    """Submit fresh `bench Put`s (a new one every 0.3 s, each with short deadlines)
    until one commits VALID; returns (seconds from `since` to that commit, txid) or
    (None, reason) after `limit_s`."""
    timeouts = Timeouts(evaluate=4, endorse=4, submit=4, commit_status=8)
    done = threading.Event()
    result: list[tuple[float, str]] = []
    last_error: list[str] = [""]
    with Gateway.from_profile(profile, org="core", user="User1", timeouts=timeouts) as gateway:
        network = gateway.network(CHANNEL)
        contract = network.contract("bench")

        def attempt() -> None:
            key = f"probe-{uuid.uuid4().hex[:12]}"
            try:
                proposal = contract.new_proposal("Put", json.dumps({"key": key, "value": "p"}))
                transaction = proposal.endorse()
            except Exception as exc:
                last_error[0] = outcome_code(exc)
                return

            def submit() -> None:
                try:
                    transaction.submit()
                except Exception as exc:
                    # An orderer answers a Broadcast stream in order (acknowledging on
                    # commit), so one envelope lost with a killed leader delays the
                    # answers behind it although they commit: the commit, not the
                    # answer, is what is measured; these are counted.
                    if stats is not None:
                        stats[f"probe submit failed: {outcome_code(exc)}"] += 1

            threading.Thread(target=submit, daemon=True).start()
            try:
                status = network.new_commit(proposal.transaction_id).status()
                if status.successful:
                    if not done.is_set():
                        result.append((time.monotonic(), status.transaction_id))
                    done.set()
                else:
                    last_error[0] = status.code_name
            except Exception as exc:
                last_error[0] = outcome_code(exc)

        threads: list[threading.Thread] = []
        deadline = since + limit_s
        while not done.is_set() and time.monotonic() < deadline:
            threads = [t for t in threads if t.is_alive()]
            if len(threads) < 12:
                t = threading.Thread(target=attempt, daemon=True)
                t.start()
                threads.append(t)
            done.wait(0.3)
        # Attempts still waiting (e.g. behind a lost envelope) are not joined:
        # closing the gateway cancels their calls, and they end on their own.
    if not result:
        return None, f"no VALID commit within {limit_s:.0f} s (last error {last_error[0]})"
    at, txid = min(result)
    return at - since, txid


def check_conservation(profile: Path, roots: Sequence[str]) -> list[str]:
    """For every root: live/paid leaves sum to face_total, children of every SPLIT
    node sum to it; returns the violations (reads through the regulator's peer)."""
    problems: list[str] = []
    timeouts = Timeouts(evaluate=10)
    with Gateway.from_profile(profile, org="regulator", user="Auditor1", timeouts=timeouts) as gw:
        contract = gw.network(CHANNEL).contract("receivable")
        for root_id in roots:
            for attempt in range(20):
                try:
                    lineage = json.loads(
                        contract.evaluate("Lineage", json.dumps({"root_id": root_id}))
                    )
                    break
                except Exception as exc:
                    if attempt == 19:
                        problems.append(f"{root_id}: Lineage failed: {exc}")
                        lineage = None
                        break
                    time.sleep(0.25)
            if lineage is None:
                continue
            problems.extend(f"{root_id}: {p}" for p in conservation_problems(lineage))
    return problems


def conservation_problems(lineage: dict[str, Any]) -> list[str]:
    root = lineage["root"]
    nodes = {n["voucher_id"]: n for n in lineage["nodes"]}
    out = []
    if len(nodes) != len(lineage["nodes"]):
        out.append("a voucher id appears twice")
    live = sum(
        n["amount"] for n in nodes.values() if n["status"] not in ("SPLIT", "REJECTED", "CANCELLED")
    )
    if live != root["face_total"] or lineage["leaves_total"] != root["face_total"]:
        out.append(f"leaves sum to {live} ({lineage['leaves_total']}), face {root['face_total']}")
    for node in nodes.values():
        if node["status"] == "SPLIT":
            kids = [nodes.get(c) for c in node["children"]]
            if any(k is None for k in kids):
                out.append(f"{node['voucher_id']}: a child is missing")
            elif sum(k["amount"] for k in kids if k is not None) != node["amount"]:
                out.append(f"{node['voucher_id']}: children do not sum to {node['amount']}")
    return out


def shuffled(rng: random.Random, items: Sequence[Any]) -> list[Any]:
    out = list(items)
    rng.shuffle(out)
    return out
