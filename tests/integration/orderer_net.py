"""A 3-orderer network as real processes (`python -m orderer`) with mutual TLS."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import yaml

from client.free_ports import free_port
from common import crypto, tls
from common.blockstore.leveldb import LevelBlockStore
from common.config.genesis import genesis_block
from common.msp import CertificateAuthority, SigningIdentity
from common.txutil import build_seek_envelope, seek_info
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc
from tests.support.consortium import NOT_AFTER, NOT_BEFORE, TestOrg, channel_config, make_org

REPO = Path(__file__).resolve().parents[2]
CHANNEL = "trade"


def write_msp(folder: Path, identity: SigningIdentity) -> None:
    (folder / "signcerts").mkdir(parents=True, exist_ok=True)
    (folder / "keystore").mkdir(parents=True, exist_ok=True)
    (folder / "signcerts" / "cert.pem").write_bytes(
        crypto.certificate_to_pem(identity.identity.certificate)
    )
    (folder / "keystore" / "priv_sk").write_bytes(crypto.private_key_to_pem(identity.private_key))


@dataclass
class OrdererProc:
    index: int
    config_path: Path
    data_dir: Path
    port: int
    cluster_port: int
    ops_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class OrdererNetwork:
    root: Path
    client: SigningIdentity
    tls_ca_pem: bytes
    nodes: list[OrdererProc] = field(default_factory=list)
    core: TestOrg | None = None

    @classmethod
    def create(
        cls, root: Path, *, snapshot_interval: int = 100, max_count: int = 50
    ) -> OrdererNetwork:
        orderer_org = make_org("OrdererMSP", "orderer")
        core = make_org("CoreMSP", "core")
        tls_ca = CertificateAuthority.create_root(
            "tlsca.orderer", not_before=NOT_BEFORE, not_after=NOT_AFTER
        )
        tls_ca_pem = crypto.certificate_to_pem(tls_ca.certificate)
        (root / "tlsca.pem").write_bytes(tls_ca_pem)
        identities = [orderer_org.member(f"orderer{i}", "orderer") for i in range(3)]
        config = channel_config(CHANNEL, [core], orderer_org, identities)
        config.orderer_orgs[0].tls_root_certs.append(tls_ca_pem)
        config.raft.tick_interval_ms = 50
        config.raft.election_tick = 10
        config.raft.snapshot_interval_blocks = snapshot_interval
        config.batch_size.max_message_count = max_count
        config.batch_timeout_ms = 50
        net = cls(root, core.member("alice", "client"), tls_ca_pem, core=core)
        for i, identity in enumerate(identities):
            node_dir = root / f"orderer{i}"
            write_msp(node_dir / "msp", identity)
            key = crypto.generate_private_key()
            cert = tls_ca.issue(
                key.public_key(),
                f"orderer{i}",
                not_before=NOT_BEFORE,
                not_after=NOT_AFTER,
                sans=("127.0.0.1", "localhost"),
                server_auth=True,
                client_auth=True,
            )
            cert_pem = crypto.certificate_to_pem(cert)
            (node_dir / "tls").mkdir()
            (node_dir / "tls" / "server.crt").write_bytes(cert_pem)
            (node_dir / "tls" / "server.key").write_bytes(crypto.private_key_to_pem(key))
            port, cluster_port, ops_port = free_port(), free_port(), free_port()
            consenter = config.consenters[i]
            consenter.port, consenter.cluster_port = port, cluster_port
            consenter.client_tls_cert = cert_pem
            consenter.server_tls_cert = cert_pem
            node = OrdererProc(
                i,
                node_dir / "orderer.yaml",
                node_dir / "data",
                port,
                cluster_port,
                ops_port,
                node_dir / "orderer.log",
            )
            net.nodes.append(node)
        (root / "trade.block").write_bytes(genesis_block(config).SerializeToString())
        for node in net.nodes:
            node_dir = node.config_path.parent
            node.config_path.write_text(
                yaml.safe_dump(
                    {
                        "name": f"orderer{node.index}",
                        "mspid": "OrdererMSP",
                        "msp_dir": "msp",
                        "tls": {
                            "cert": "tls/server.crt",
                            "key": "tls/server.key",
                            "root_cas": [str(root / "tlsca.pem")],
                            "client_root_cas": [str(root / "tlsca.pem")],
                        },
                        "listen_address": node.address,
                        "cluster_listen_address": f"127.0.0.1:{node.cluster_port}",
                        "operations_address": f"127.0.0.1:{node.ops_port}",
                        "data_dir": "data",
                        "broadcast_ack": "commit",
                        "genesis_blocks": [str(root / "trade.block")],
                    }
                )
            )
            del node_dir
        return net

    # -- processes ----------------------------------------------------------------------

    def start(self, i: int) -> None:
        node = self.nodes[i]
        log = node.log_path.open("ab")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        node.proc = subprocess.Popen(
            [sys.executable, "-m", "orderer", "--config", str(node.config_path)],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=REPO,
            env=env,
        )
        log.close()
        assert node.proc.stdout is not None
        line = node.proc.stdout.readline().decode()
        assert line.startswith("READY"), f"orderer{i} failed to start: see {node.log_path}"
        node.proc.stdout.close()

    def start_all(self) -> None:
        for i in range(len(self.nodes)):
            self.start(i)

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        proc = self.nodes[i].proc
        assert proc is not None
        proc.send_signal(sig)
        proc.wait(20)
        self.nodes[i].proc = None

    def stop_all(self) -> None:
        for i, node in enumerate(self.nodes):
            if node.proc is not None:
                self.kill(i, signal.SIGTERM)

    # -- observing ------------------------------------------------------------------------

    def metric(self, i: int, name: str) -> float | None:
        url = f"http://127.0.0.1:{self.nodes[i].ops_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return None
        m = re.search(rf'^{name}\{{channel="{CHANNEL}"\}} (\S+)$', text, re.MULTILINE)
        return float(m.group(1)) if m else None

    def leader(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, node in enumerate(self.nodes):
                if node.proc is not None and self.metric(i, "orderer_is_leader") == 1.0:
                    return i
            time.sleep(0.1)
        raise AssertionError("no leader elected")

    def client_channel(self, i: int) -> grpc.Channel:
        creds = tls.ClientTls.load([self.tls_ca_pem]).credentials()
        return grpc.secure_channel(self.nodes[i].address, creds)

    def deliver_all(self, i: int, timeout: float = 20.0) -> list[common_pb2.Block]:
        with self.client_channel(i) as channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
            info = ab_pb2.SeekInfo(
                start=ab_pb2.SeekPosition(oldest=ab_pb2.SeekOldest()),
                stop=ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest()),
            )
            request = build_seek_envelope(CHANNEL, info, self.client)
            responses = list(stub.Deliver(iter([request]), timeout=timeout))
        assert responses[-1].status == common_pb2.SUCCESS, responses[-1]
        return [r.block for r in responses[:-1]]

    def wait_height(self, i: int, height: int, timeout: float = 30.0) -> None:
        with self.client_channel(i) as channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
            request = build_seek_envelope(CHANNEL, seek_info(height - 1, height - 1), self.client)
            responses = list(stub.Deliver(iter([request]), timeout=timeout))
        assert responses[-1].status == common_pb2.SUCCESS

    def stored_chain(self, i: int) -> list[common_pb2.Block]:
        store = LevelBlockStore.open(str(self.nodes[i].data_dir / "channels" / CHANNEL / "blocks"))
        try:
            return list(store.blocks(0))
        finally:
            store.close()


class Load:
    """Client threads broadcasting signed envelopes to random orderers, recording the
    envelopes answered SUCCESS."""

    def __init__(self, net: OrdererNetwork, clients: int = 3) -> None:
        self.net = net
        self.clients = clients
        self.acked: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(c,), daemon=True) for c in range(clients)
        ]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _envelopes(self, client: int) -> Iterator[bytes]:
        from tests.unit.orderer.support import signed_envelope

        n = 0
        while not self._stop.is_set():
            n += 1
            yield signed_envelope(CHANNEL, self.net.client, f"c{client}-{n}".encode() * 8)

    def _run(self, client: int) -> None:
        target = client
        gen = self._envelopes(client)
        while not self._stop.is_set():
            target = (target + 1) % len(self.net.nodes)
            if self.net.nodes[target].proc is None:
                continue
            try:
                with self.net.client_channel(target) as channel:
                    stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
                    for _ in range(5):
                        if self._stop.is_set():
                            return
                        # The generator ends when the load is stopped mid-batch.
                        raws = list(itertools.islice(gen, 20))
                        if not raws:
                            return
                        envs = [common_pb2.Envelope.FromString(r) for r in raws]
                        responses = list(stub.Broadcast(iter(envs), timeout=15))
                        for raw, resp in zip(raws, responses, strict=True):
                            if resp.status == common_pb2.SUCCESS:
                                with self._lock:
                                    self.acked.append(raw)
                        if any(r.status != common_pb2.SUCCESS for r in responses):
                            time.sleep(0.05)
            except grpc.RpcError:
                time.sleep(0.1)
