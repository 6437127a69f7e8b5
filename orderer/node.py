"""Wiring of one orderer process: channels, drivers, cluster, services, operations.

Start order: channels (block store + Raft log per channel, created from a genesis
block or reopened from the data dir) → cluster server and transport → drivers →
the public AtomicBroadcast server → the operations server. `stop()` undoes it in
reverse: no new client work, drivers stop (their logs and stores stay consistent
on disk: every write is one synced batch), then the network, then the files.

A channel whose consenters do not include this node's identity is skipped with a
warning (this orderer cannot order for it).

Data dir layout: `<data_dir>/channels/<channel>/{blocks,wal}`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc

from common import grpclimits, tls
from common.blockstore.leveldb import LevelBlockStore
from common.config.bundle import ChannelBundle
from common.config.channel import ChannelConfig
from common.config.genesis import config_from_block
from common.msp import SigningIdentity
from common.operations import OperationsServer
from orderer.broadcast import BroadcastHandler
from orderer.cluster import ClusterTransport, ForwardResult
from orderer.cluster_service import ClusterMembership, ClusterServer
from orderer.config import OrdererConfig
from orderer.deliver import DeliverHandler
from orderer.driver import BlockPuller, Driver
from orderer.driver_options import DriverOptions
from orderer.metrics import OrdererMetrics
from orderer.puller import GrpcBlockPuller
from orderer.raft import NO_NODE, Message, NodeId
from orderer.registrar import ChannelSupport, Registrar
from orderer.server import AtomicBroadcastService
from orderer.transport import GrpcClusterTransport
from orderer.wal import LevelRaftStorage
from protos.common import common_pb2

log = logging.getLogger("orderer.node")


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


@dataclass
class _Channel:
    support: ChannelSupport
    storage: LevelRaftStorage


class OrdererNode:
    def __init__(self, config: OrdererConfig) -> None:
        self.config = config
        self.signer = SigningIdentity.from_msp_dir(config.msp_dir, config.mspid)
        self.metrics = OrdererMetrics()
        self.registrar = Registrar()
        self._channels: list[_Channel] = []
        self._server: grpc.Server | None = None
        self._executor: futures.ThreadPoolExecutor | None = None
        self._cluster_server: ClusterServer | None = None
        self._transport: GrpcClusterTransport | None = None
        self._operations: OperationsServer | None = None
        self.port = 0
        self.cluster_port = 0
        self.operations_port = 0
        if config.tls is not None:
            self._client_tls: tls.ClientTls | None = tls.ClientTls.load(
                list(config.tls.root_cas), config.tls.cert, config.tls.key
            )
        else:
            self._client_tls = None

    # -- channels ---------------------------------------------------------------------

    def _channel_dir(self, channel: str) -> Path:
        return self.config.data_dir / "channels" / channel

    def _genesis_configs(self) -> dict[str, common_pb2.Block]:
        """Genesis blocks from the config file and from the data dir (restart)."""
        blocks: dict[str, common_pb2.Block] = {}
        for path in self.config.genesis_blocks:
            block = common_pb2.Block.FromString(path.read_bytes())
            blocks[config_from_block(block).channel_id] = block
        root = self.config.data_dir / "channels"
        if root.is_dir():
            for folder in sorted(root.iterdir()):
                if folder.name not in blocks and (folder / "blocks").is_dir():
                    store = LevelBlockStore.open(str(folder / "blocks"))
                    try:
                        genesis = store.block(0)
                    finally:
                        store.close()
                    if genesis is not None:
                        blocks[folder.name] = genesis
        return blocks

    def _open_channel(self, genesis: common_pb2.Block, transport: ClusterTransport) -> None:
        config = config_from_block(genesis)
        me = self.signer.serialize()
        consenter = next((c for c in config.consenters if c.identity == me), None)
        if consenter is None:
            log.warning(
                "channel %s: this node (%s) is not among its consenters; skipped",
                config.channel_id,
                self.config.name,
            )
            return
        folder = self._channel_dir(config.channel_id)
        folder.mkdir(parents=True, exist_ok=True)
        store = LevelBlockStore.open(str(folder / "blocks"))
        if store.height() == 0:
            store.append(genesis)
        storage = LevelRaftStorage.open(str(folder / "wal"))
        bundle = ChannelBundle(config)
        others = [c for c in config.consenters if c.id != consenter.id]
        puller: BlockPuller = GrpcBlockPuller(bundle, others, self.signer, self._client_tls)
        driver = Driver(
            DriverOptions.from_config(config, consenter.id),
            storage,
            store,
            self.signer,
            transport,
            puller,
            rng=random.Random(),
            metrics=self.metrics,
        )
        support = ChannelSupport(bundle, store, driver)
        self.registrar.add(support)
        self._channels.append(_Channel(support, storage))
        if self._transport is not None:
            self._transport.update_consenters(
                config.channel_id, config.consenters, self_id=consenter.id
            )
        log.info(
            "channel %s: consenter %d, height %d", config.channel_id, consenter.id, store.height()
        )

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        cfg = self.config
        membership = ClusterMembership()
        transport: ClusterTransport
        if cfg.tls is not None and self._client_tls is not None:
            self._transport = GrpcClusterTransport(self._client_tls)
            transport = self._transport
        else:
            log.warning("no TLS configured: running without a cluster transport (dev only)")
            transport = _NoCluster()
        for genesis in self._genesis_configs().values():
            self._open_channel(genesis, transport)
        configs: list[ChannelConfig] = [c.support.bundle.config for c in self._channels]
        for config in configs:
            membership.update_config(config)
        if self._transport is not None:
            self._transport.set_handler(self.registrar)
        if cfg.tls is not None:
            self._cluster_server = ClusterServer(
                cfg.cluster_listen_address,
                tls.ServerTls.load(cfg.tls.cert, cfg.tls.key, list(cfg.tls.client_root_cas)),
                self.registrar,
                membership,
            )
            self._cluster_server.start()
            self.cluster_port = self._cluster_server.port
        for channel in self._channels:
            channel.support.driver.start()
        self._server, self._executor, _ = grpclimits.limited_server(name="ab")
        AtomicBroadcastService(
            BroadcastHandler(
                self.registrar, self.metrics, ack_on_commit=cfg.broadcast_ack == "commit"
            ),
            DeliverHandler(self.registrar, self.metrics),
        ).add_to_server(self._server)
        if cfg.tls is not None:
            creds = tls.ServerTls.load(
                cfg.tls.cert,
                cfg.tls.key,
                list(cfg.tls.public_roots) if cfg.tls.client_auth_required else [],
                require_client_auth=cfg.tls.client_auth_required,
            ).credentials()
            self.port = self._server.add_secure_port(cfg.listen_address, creds)
        else:
            self.port = self._server.add_insecure_port(cfg.listen_address)
        if self.port == 0:
            raise OSError(f"cannot listen on {cfg.listen_address}")
        self._server.start()
        if cfg.operations_address:
            host, port = _host_port(cfg.operations_address)
            self._operations = OperationsServer(self.metrics.registry, host=host, port=port)
            for channel in self._channels:
                self._operations.register_check(
                    f"raft/{channel.support.channel_id}", _driver_check(channel.support.driver)
                )
            self._operations.start()
            self.operations_port = self._operations.port
        log.info(
            "orderer %s serving on %s (cluster %s) with %d channels",
            cfg.name,
            self.port,
            self.cluster_port,
            len(self._channels),
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(1.0).wait()
        for channel in self._channels:
            channel.support.driver.stop()
        if self._cluster_server is not None:
            self._cluster_server.stop(1.0)
        if self._transport is not None:
            self._transport.close()
        if self._operations is not None:
            self._operations.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        for channel in self._channels:
            channel.storage.close()
            channel.support.store.close()
        self._channels.clear()
        log.info("orderer %s stopped", self.config.name)


def _driver_check(driver: Driver) -> Callable[[], str | None]:
    def check() -> str | None:
        if not driver.running:
            return "raft driver is not running"
        if driver.status().leader == NO_NODE:
            return "no raft leader known"
        return None

    return check


class _NoCluster:
    """The transport of a node without TLS: talks to nobody (a single-node dev setup)."""

    def send(self, channel: str, messages: Sequence[Message]) -> None:
        return None

    def forward(
        self, channel: str, leader: NodeId, envelope: bytes, timeout_s: float
    ) -> ForwardResult:
        return ForwardResult(common_pb2.SERVICE_UNAVAILABLE, "no cluster transport (no TLS)")
