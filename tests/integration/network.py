"""A small consortium as real processes: 3 orderers (`python -m orderer`) and the
peers of CoreMSP and BankMSP (`python -m peer`), optionally the regulator's
non-endorsing peer, with crypto material from `client.cryptogen`, genesis from
`client.genesis`, free ports, and mutual TLS between every node (peers and the
orderers' public ports require client certificates).

Client helpers speak the real protocols over mutual TLS: ProcessProposal on each
peer, Broadcast to the orderers (next orderer on a non-SUCCESS answer), filtered
blocks from a peer's Deliver service to wait for commit statuses.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml

from client.cryptogen import generate, node_dir, org_dir, user_dir
from client.free_ports import free_port
from client.genesis import write_genesis_blocks
from client.netconfig import NetworkConfig, load_network_config
from common import tls, txutil
from common.msp import SigningIdentity
from peer.ledger import LevelLedger, open_channel_ledger
from protos.common import common_pb2
from protos.orderer import ab_pb2_grpc
from protos.peer import events_pb2_grpc, peer_pb2_grpc, proposal_pb2, proposal_response_pb2
from tests.integration.orderer_net import REPO, OrdererNetwork, OrdererProc

CHANNEL = "trade"
BENCH = "bench"
POLICY = "AND('CoreMSP.peer','BankMSP.peer')"


@dataclass
class PeerProc:
    name: str
    mspid: str
    config_path: Path
    data_dir: Path
    port: int
    ops_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def _network_yaml(with_regulator: bool, batch_count: int) -> dict[str, Any]:
    def peer(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "host": "127.0.0.1",
            "port": free_port(),
            "operations_port": free_port(),
        }

    orgs: list[dict[str, Any]] = [
        {
            "name": "orderer",
            "mspid": "OrdererMSP",
            "kind": "orderer",
            "domain": "scf.example",
            "orderers": [
                {
                    "name": f"orderer{i}",
                    "host": "127.0.0.1",
                    "port": free_port(),
                    "cluster_port": free_port(),
                    "operations_port": free_port(),
                }
                for i in range(3)
            ],
            "users": [{"name": "Admin", "role": "admin"}],
        },
        {
            "name": "core",
            "mspid": "CoreMSP",
            "kind": "core",
            "domain": "core.scf.example",
            "peers": [peer("peer0")],
            "users": [{"name": "User1", "role": "client"}],
        },
        {
            "name": "bank",
            "mspid": "BankMSP",
            "kind": "bank",
            "domain": "bank.scf.example",
            "peers": [peer("peer0")],
            "users": [{"name": "User1", "role": "client"}],
        },
    ]
    members = ["CoreMSP", "BankMSP"]
    if with_regulator:
        regulator = peer("peer0") | {"endorser": False}
        orgs.append(
            {
                "name": "regulator",
                "mspid": "RegulatorMSP",
                "kind": "regulator",
                "domain": "regulator.scf.example",
                "peers": [regulator],
                "users": [{"name": "Auditor1", "role": "client"}],
            }
        )
        members.append("RegulatorMSP")
    return {
        "orgs": orgs,
        "channels": [
            {
                "name": CHANNEL,
                "orgs": members,
                "orderer_orgs": ["OrdererMSP"],
                "batch": {"max_message_count": batch_count, "batch_timeout_ms": 100},
                "raft": {"tick_ms": 50, "election_ticks": 10, "heartbeat_ticks": 1},
                "chaincodes": [{"name": BENCH, "version": "1.0", "endorsement_policy": POLICY}],
                "governance": {"approvers": ["CoreMSP"]},
            }
        ],
    }


@dataclass
class Network:
    """The processes and the material to talk to them; see the module docstring."""

    root: Path
    config: NetworkConfig
    orderers: OrdererNetwork
    peers: dict[str, PeerProc] = field(default_factory=dict)
    tls_roots: list[bytes] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, *, with_regulator: bool = False, batch_count: int = 50) -> Network:
        (root / "network.yaml").write_text(
            yaml.safe_dump(_network_yaml(with_regulator, batch_count))
        )
        config = load_network_config(root / "network.yaml")
        crypto = root / "crypto"
        generate(config, crypto)
        genesis = write_genesis_blocks(config, crypto, root / "artifacts")[CHANNEL]
        tls_cas = {
            org.name: org_dir(crypto, org) / "tlsca" / "tlsca-cert.pem" for org in config.orgs
        }
        all_cas = [str(p) for p in tls_cas.values()]
        orderer_org = config.org("orderer")
        nodes: list[OrdererProc] = []
        for i, orderer in enumerate(orderer_org.orderers):
            folder = node_dir(crypto, orderer_org, orderer.name)
            work = root / orderer.name
            work.mkdir()
            node = OrdererProc(
                i,
                work / "orderer.yaml",
                work / "data",
                orderer.port,
                orderer.cluster_port,
                orderer.operations_port,
                work / "orderer.log",
            )
            node.config_path.write_text(
                yaml.safe_dump(
                    {
                        "name": orderer.name,
                        "mspid": orderer_org.mspid,
                        "msp_dir": str(folder / "msp"),
                        "tls": {
                            "cert": str(folder / "tls" / "server.crt"),
                            "key": str(folder / "tls" / "server.key"),
                            "root_cas": [str(tls_cas["orderer"])],
                            "client_root_cas": all_cas,
                            "client_auth_required": True,
                        },
                        "listen_address": node.address,
                        "cluster_listen_address": f"127.0.0.1:{orderer.cluster_port}",
                        "operations_address": f"127.0.0.1:{orderer.operations_port}",
                        "data_dir": "data",
                        "broadcast_ack": "commit",
                        "genesis_blocks": [str(genesis)],
                    }
                )
            )
            nodes.append(node)
        admin = SigningIdentity.from_msp_dir(
            user_dir(crypto, orderer_org, "Admin") / "msp", orderer_org.mspid
        )
        orderers = OrdererNetwork(root, admin, tls_cas["orderer"].read_bytes(), nodes=nodes)
        net = cls(root, config, orderers, tls_roots=[p.read_bytes() for p in tls_cas.values()])
        for org in config.peer_orgs:
            for peer in org.peers:
                folder = node_dir(crypto, org, peer.name)
                work = root / f"{peer.name}.{org.name}"
                work.mkdir()
                proc = PeerProc(
                    f"{peer.name}.{org.name}",
                    org.mspid,
                    work / "peer.yaml",
                    work / "data",
                    peer.port,
                    peer.operations_port,
                    work / "peer.log",
                )
                proc.config_path.write_text(
                    yaml.safe_dump(
                        {
                            "name": proc.name,
                            "mspid": org.mspid,
                            "msp_dir": str(folder / "msp"),
                            "tls": {
                                "cert": str(folder / "tls" / "server.crt"),
                                "key": str(folder / "tls" / "server.key"),
                                "root_cas": all_cas,
                                "client_root_cas": all_cas,
                                "client_auth_required": True,
                            },
                            "listen_address": proc.address,
                            "operations_address": f"127.0.0.1:{proc.ops_port}",
                            "data_dir": "data",
                            "genesis_blocks": [str(genesis)],
                            "endorser": peer.endorser,
                            "validation_workers": 2,
                            "deliver": {"reconnect_backoff_max_s": 1.0},
                        }
                    )
                )
                net.peers[org.mspid] = proc
        return net

    # -- identities -----------------------------------------------------------------------

    def user(self, org: str, name: str = "User1") -> SigningIdentity:
        spec = self.config.org(org)
        return SigningIdentity.from_msp_dir(
            user_dir(self.root / "crypto", spec, name) / "msp", spec.mspid
        )

    def peer_identity(self, org: str) -> SigningIdentity:
        spec = self.config.org(org)
        return SigningIdentity.from_msp_dir(
            node_dir(self.root / "crypto", spec, "peer0") / "msp", spec.mspid
        )

    def client_tls(self, org: str = "core", name: str = "User1") -> tls.ClientTls:
        folder = user_dir(self.root / "crypto", self.config.org(org), name) / "tls"
        return tls.ClientTls.load(self.tls_roots, folder / "client.crt", folder / "client.key")

    def channel(self, address: str) -> grpc.Channel:
        return grpc.secure_channel(address, self.client_tls().credentials(), tls.channel_options())

    # -- processes ------------------------------------------------------------------------

    def start_peer(self, mspid: str) -> None:
        node = self.peers[mspid]
        log = node.log_path.open("ab")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        node.proc = subprocess.Popen(
            [sys.executable, "-m", "peer", "--config", str(node.config_path)],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=REPO,
            env=env,
        )
        log.close()
        assert node.proc.stdout is not None
        line = node.proc.stdout.readline().decode()
        node.proc.stdout.close()
        assert line.startswith("READY"), f"{node.name} failed to start: see {node.log_path}"

    def kill_peer(self, mspid: str, sig: int = signal.SIGKILL) -> int:
        node = self.peers[mspid]
        assert node.proc is not None
        node.proc.send_signal(sig)
        code = node.proc.wait(30)
        node.proc = None
        return code

    def start(self) -> None:
        self.orderers.start_all()
        for mspid in self.peers:
            self.start_peer(mspid)
        self.orderers.leader()

    def stop(self) -> None:
        for mspid, node in self.peers.items():
            if node.proc is not None:
                self.kill_peer(mspid, signal.SIGTERM)
        self.orderers.stop_all()

    # -- observing ------------------------------------------------------------------------

    def peer_metric(
        self, mspid: str, name: str, labels: str = f'channel="{CHANNEL}"'
    ) -> float | None:
        url = f"http://127.0.0.1:{self.peers[mspid].ops_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return None
        m = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
        return float(m.group(1)) if m else None

    def height(self, mspid: str) -> int:
        value = self.peer_metric(mspid, "peer_ledger_height")
        return int(value) if value is not None else 0

    def wait_heights_equal(self, timeout: float = 30.0) -> int:
        """Wait until every running peer holds the same number of blocks, stable for
        a moment (no block in flight); returns that height."""
        deadline = time.monotonic() + timeout
        last: list[int] = []
        while time.monotonic() < deadline:
            heights = [self.height(m) for m, p in self.peers.items() if p.proc is not None]
            if len(set(heights)) == 1 and heights == last:
                return heights[0]
            last = heights
            time.sleep(0.5)
        raise AssertionError(f"peers did not converge: heights {last}")

    def open_ledger(self, mspid: str) -> LevelLedger:
        """The peer's ledger, read from disk (the peer must be stopped)."""
        return open_channel_ledger(self.peers[mspid].data_dir / "ledgers", CHANNEL)


# ---------------------------------------------------------------------------- client side


def propose(
    creator: SigningIdentity, fn: str, args: Mapping[str, Any]
) -> tuple[proposal_pb2.SignedProposal, txutil.ParsedProposal]:
    proposal, _ = txutil.build_proposal(
        CHANNEL, BENCH, [fn.encode(), json.dumps(args).encode()], creator.serialize()
    )
    signed = txutil.sign_proposal(proposal, creator)
    return signed, txutil.parse_signed_proposal(signed)


def endorse(
    net: Network,
    creator: SigningIdentity,
    fn: str,
    args: Mapping[str, Any],
    orgs: Sequence[str] = ("CoreMSP", "BankMSP"),
    channels: Mapping[str, grpc.Channel] | None = None,
) -> tuple[common_pb2.Envelope, str]:
    """ProcessProposal on each org's peer, then the signed transaction envelope."""
    signed, parsed = propose(creator, fn, args)
    responses: list[proposal_response_pb2.ProposalResponse] = []
    for mspid in orgs:
        if channels is not None:
            responses.append(
                peer_pb2_grpc.EndorserStub(channels[mspid]).ProcessProposal(signed, timeout=10)
            )  # type: ignore[no-untyped-call]
        else:
            with net.channel(net.peers[mspid].address) as channel:
                stub = peer_pb2_grpc.EndorserStub(channel)  # type: ignore[no-untyped-call]
                responses.append(stub.ProcessProposal(signed, timeout=10))
    for response in responses:
        assert response.response.status == 200, response.response.message
    return txutil.assemble_transaction(parsed, responses, creator), parsed.tx_id


def broadcast(
    net: Network, envelopes: Sequence[common_pb2.Envelope], timeout: float = 30.0
) -> None:
    """Send `envelopes` in order until every one is answered SUCCESS, moving to the
    next orderer when one refuses or is down."""
    pending = list(envelopes)
    deadline = time.monotonic() + timeout
    target = 0
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} envelopes not accepted"
        node = net.orderers.nodes[target % 3]
        target += 1
        if node.proc is None:
            continue
        try:
            with net.channel(node.address) as channel:
                stub = ab_pb2_grpc.AtomicBroadcastStub(channel)  # type: ignore[no-untyped-call]
                responses = list(stub.Broadcast(iter(pending), timeout=15))
        except grpc.RpcError:
            time.sleep(0.2)
            continue
        accepted = 0
        for response in responses:
            if response.status != common_pb2.SUCCESS:
                break
            accepted += 1
        pending = pending[accepted:]
        if pending:
            time.sleep(0.2)


def statuses(
    net: Network,
    mspid: str,
    tx_ids: Iterable[str],
    *,
    start: int = 0,
    times: int = 1,
    timeout: float = 30.0,
) -> dict[str, list[tuple[int, int]]]:
    """For each txid: every (block, code) it got on `mspid`'s peer, read from the
    peer's DeliverFiltered from block `start` until each txid was seen `times` times."""
    wanted = set(tx_ids)
    seen: dict[str, list[tuple[int, int]]] = {}
    creator = net.user("core")
    request = txutil.build_seek_envelope(CHANNEL, txutil.seek_info(start, None), creator)
    with net.channel(net.peers[mspid].address) as channel:
        stub = events_pb2_grpc.DeliverStub(channel)  # type: ignore[no-untyped-call]
        call = stub.DeliverFiltered(iter([request]), timeout=timeout)
        for response in call:
            assert response.WhichOneof("Type") == "filtered_block", response
            block = response.filtered_block
            for tx in block.filtered_transactions:
                seen.setdefault(tx.txid, []).append((block.number, tx.tx_validation_code))
            if all(len(seen.get(txid, ())) >= times for txid in wanted):
                call.cancel()
                break
    return {txid: seen[txid] for txid in wanted}
