"""An in-process orderer cluster for tests: real drivers, real Raft logs and block
stores on disk (tmp dirs), joined by an in-memory loopback transport and an
in-memory block puller that reads the other nodes' stores."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from common import block as blk
from common.blockstore.leveldb import LevelBlockStore
from common.config.bundle import ChannelBundle
from common.config.genesis import config_from_block, genesis_block
from common.crypto import compute_txid, new_nonce
from common.msp import SigningIdentity
from orderer.cluster import ClusterHandler, ForwardResult
from orderer.driver import Driver
from orderer.driver_options import DriverOptions
from orderer.metrics import OrdererMetrics
from orderer.raft import Message, NodeId, Role
from orderer.registrar import ChannelSupport, Registrar
from orderer.wal import LevelRaftStorage
from protos.common import common_pb2
from protos.scf import config_pb2
from tests.support.consortium import TestOrg, channel_config, make_org

CHANNEL = "scf-channel"


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def signed_envelope(
    channel: str, signer: SigningIdentity, data: bytes = b"tx", *, signature: bytes | None = None
) -> bytes:
    """A client envelope (ENDORSER_TRANSACTION header, opaque data), signed."""
    creator = signer.serialize()
    nonce = new_nonce()
    header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION, channel_id=channel, tx_id=compute_txid(nonce, creator)
    )
    payload = common_pb2.Payload(
        header=common_pb2.Header(
            channel_header=header.SerializeToString(),
            signature_header=common_pb2.SignatureHeader(
                creator=creator, nonce=nonce
            ).SerializeToString(),
        ),
        data=data,
    ).SerializeToString()
    sig = signer.sign(payload) if signature is None else signature
    return common_pb2.Envelope(payload=payload, signature=sig).SerializeToString()


def txid_of(envelope: bytes) -> str:
    payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(envelope).payload)
    return common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id


class LoopbackNetwork:
    """Connects the registrars of in-process nodes; a detached node is 'down'."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.handlers: dict[NodeId, ClusterHandler] = {}
        self.stores: dict[NodeId, LevelBlockStore] = {}
        self.blocked: set[NodeId] = set()

    def attach(self, node: NodeId, handler: ClusterHandler, store: LevelBlockStore) -> None:
        with self._lock:
            self.handlers[node] = handler
            self.stores[node] = store

    def detach(self, node: NodeId) -> None:
        with self._lock:
            self.handlers.pop(node, None)
            self.stores.pop(node, None)

    def handler(self, node: NodeId) -> ClusterHandler | None:
        with self._lock:
            if node in self.blocked:
                return None
            return self.handlers.get(node)


class LoopbackTransport:
    """`ClusterTransport` over `LoopbackNetwork` (messages are passed as values)."""

    def __init__(self, network: LoopbackNetwork, node: NodeId) -> None:
        self._net = network
        self._node = node

    def send(self, channel: str, messages: Sequence[Message]) -> None:
        if self._node in self._net.blocked:
            return
        by_target: dict[NodeId, list[Message]] = {}
        for m in messages:
            by_target.setdefault(m.to, []).append(m)
        for target, msgs in by_target.items():
            handler = self._net.handler(target)
            if handler is None:
                own = self._net.handler(self._node)
                if own is not None:
                    own.on_unreachable(channel, target)
                continue
            handler.on_raft_messages(channel, self._node, msgs)

    def forward(
        self, channel: str, leader: NodeId, envelope: bytes, timeout_s: float
    ) -> ForwardResult:
        handler = self._net.handler(leader)
        if handler is None:
            raise ConnectionError(f"consenter {leader} is unreachable")
        return handler.on_forwarded_envelope(channel, self._node, envelope)


class LoopbackPuller:
    """`BlockPuller` reading another live node's block store."""

    def __init__(self, network: LoopbackNetwork, node: NodeId) -> None:
        self._net = network
        self._node = node
        self.pulled = 0

    def pull(self, start: int, stop: int) -> Iterator[common_pb2.Block]:
        with self._net._lock:
            stores = [s for n, s in self._net.stores.items() if n != self._node]
        for store in stores:
            if store.height() > start:
                for block in store.blocks(start, stop):
                    self.pulled += 1
                    yield block
                return
        raise ConnectionError("no consenter has the blocks")


@dataclass
class Node:
    id: NodeId
    storage: LevelRaftStorage
    store: LevelBlockStore
    driver: Driver
    registrar: Registrar
    puller: LoopbackPuller


class Cluster:
    """A channel on n in-process orderers. Tick 10 ms, election after ~100-200 ms."""

    def __init__(
        self,
        root: Path,
        n: int = 3,
        *,
        snapshot_interval_blocks: int = 100,
        max_message_count: int = 10,
        batch_timeout_ms: int = 20,
        orderer_org: TestOrg | None = None,
        config: config_pb2.ChannelConfig | None = None,
        consenter_identities: Sequence[SigningIdentity] | None = None,
        seed: int = 1,
    ) -> None:
        self.root = root
        self.net = LoopbackNetwork()
        self.metrics = OrdererMetrics()
        self.seed = seed
        if config is None:
            org = orderer_org or make_org("OrdererMSP", "orderer")
            app = make_org("CoreMSP", "core")
            consenter_identities = [org.member(f"orderer{i}", "orderer") for i in range(n)]
            config = channel_config(CHANNEL, [app], org, consenter_identities)
            self.client = app.member("alice", "client")
        config.raft.tick_interval_ms = 10
        config.raft.election_tick = 10
        config.raft.heartbeat_tick = 1
        config.raft.snapshot_interval_blocks = snapshot_interval_blocks
        config.batch_size.max_message_count = max_message_count
        config.batch_timeout_ms = batch_timeout_ms
        assert consenter_identities is not None
        self.signers = {NodeId(i + 1): s for i, s in enumerate(consenter_identities)}
        self.genesis = genesis_block(config)
        self.config = config_from_block(self.genesis)
        self.bundle = ChannelBundle(self.config)
        self.nodes: dict[NodeId, Node] = {}

    def start(self, node_id: int) -> Node:
        nid = NodeId(node_id)
        storage = LevelRaftStorage.open(str(self.root / f"n{nid}" / "wal"))
        (self.root / f"n{nid}").mkdir(parents=True, exist_ok=True)
        store = LevelBlockStore.open(str(self.root / f"n{nid}" / "blocks"))
        if store.height() == 0:
            store.append(self.genesis)
        puller = LoopbackPuller(self.net, nid)
        driver = Driver(
            DriverOptions.from_config(self.config, nid),
            storage,
            store,
            self.signers[nid],
            LoopbackTransport(self.net, nid),
            puller,
            rng=random.Random(self.seed * 100 + nid),
            metrics=self.metrics,
        )
        registrar = Registrar()
        registrar.add(ChannelSupport(self.bundle, store, driver))
        node = Node(nid, storage, store, driver, registrar, puller)
        self.nodes[nid] = node
        self.net.attach(nid, registrar, store)
        driver.start()
        return node

    def start_all(self) -> None:
        for i in range(1, len(self.signers) + 1):
            self.start(i)

    def kill(self, node_id: int) -> None:
        """Stop a node and drop its in-memory state (its disk stays)."""
        nid = NodeId(node_id)
        node = self.nodes.pop(nid)
        self.net.detach(nid)
        node.driver.stop()
        node.storage.close()
        node.store.close()

    def close(self) -> None:
        for nid in list(self.nodes):
            self.kill(nid)

    def leader(self, timeout: float = 10.0) -> Node:
        """The node every live node agrees leads (waits for one)."""
        found: list[Node] = []

        def agreed() -> bool:
            leaders = {n.driver.status().leader for n in self.nodes.values()}
            if len(leaders) != 1:
                return False
            lead = leaders.pop()
            node = self.nodes.get(lead)
            if node is None or node.driver.status().role is not Role.LEADER:
                return False
            found[:] = [node]
            return True

        wait_until(agreed, timeout, "a leader all live nodes agree on")
        return found[0]

    def submit(self, envelope: bytes, via: int | None = None) -> ForwardResult:
        node = self.nodes[NodeId(via)] if via is not None else next(iter(self.nodes.values()))
        return node.driver.submit(envelope, txid_of(envelope))

    def submit_until_accepted(self, envelope: bytes, timeout: float = 10.0) -> None:
        """Retry through any node until SUCCESS (leaders come and go)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in list(self.nodes.values()):
                if node.driver.submit(envelope, txid_of(envelope)).status == common_pb2.SUCCESS:
                    return
            time.sleep(0.02)
        raise AssertionError("envelope never accepted")

    def wait_height(self, height: int, timeout: float = 10.0) -> None:
        wait_until(
            lambda: all(n.store.height() >= height for n in self.nodes.values()),
            timeout,
            f"height {height} on every node",
        )

    def chain(self, node_id: int) -> list[bytes]:
        store = self.nodes[NodeId(node_id)].store
        return [blk.header_hash(b.header) for b in store.blocks(0)]

    def envelopes(self, node_id: int) -> list[bytes]:
        store = self.nodes[NodeId(node_id)].store
        return [bytes(e) for b in store.blocks(1) for e in b.data.data]
