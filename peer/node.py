"""Wiring of one peer process: channels, committers, deliver clients, services,
operations (Fabric's `peer node start`).

Start order: identity and TLS material → channels (each: ledger opened or created,
genesis block committed when the ledger is empty, committer with its listeners) →
the gRPC server (Endorser, Deliver, Gateway) → the deliver clients (pulling from the
orderers from each ledger's height) → the operations server. `stop()` undoes it in
reverse: waiting Deliver streams are ended, the server stops taking calls, the
deliver clients stop (a block being committed finishes: each commit is one synced
batch), validators release their threads, ledgers close.

Recovery: nothing is kept outside the ledgers. After a crash (SIGKILL at any point)
each ledger reopens at its savepoint and its deliver client asks the orderers for
the blocks from there on, so no block is lost or applied twice.

Channels joined: those of `genesis_blocks` plus any ledger already in
`<data_dir>/ledgers/` (a restart need not list them again). A channel whose
config does not list this peer's org is skipped with a warning.

Regulator peer (issue 7): on every joined channel whose config gives this peer's org
the kind `regulator`, the node also keeps the regulator's indicator tables
(`<data_dir>/regulator.db`, one `IndicatorListener` per such channel, caught up from
the ledger before the deliver clients start, then fed by the committer) and serves
the `scf.Regulator` service on the same gRPC port and TLS as the other services.
No config flag: the channel config decides. Such a peer should run with
`endorser: false` (the launcher does so for regulator orgs).

Every peer's operations server (when configured) also answers `GET
/ledger/state?channel=C` with `{"channel", "height", "state_hash",
"commit_hash"}` (hex) read from ONE ledger snapshot — what `scf regulator verify`
compares with its own replay of the blocks. A digest and a height only, no state.

`PeerNode` is also the gateway's `GatewaySupport` (see `peer.gateway.support`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from common import tls
from common.config.bundle import ChannelBundle
from common.config.genesis import config_from_block
from common.errors import ScfError
from common.msp import SigningIdentity
from common.operations import OperationsServer
from peer import gateway
from peer.chaincodes import builtin_registry
from peer.committer import CommitListener, Committer, TxStatusWaiters
from peer.config import PeerConfig
from peer.deliver import BlockNotifier, DeliverChannel, DeliverService
from peer.deliver_client import DeliverClient
from peer.endorser.batch import EndorserBatchServicer
from peer.endorser.endorser import ChannelSupport, Endorser, EndorserServicer, ProposalProcessor
from peer.ledger import LevelLedger, open_channel_ledger
from peer.metrics import PeerMetrics
from peer.regulator.auth import REGULATOR_KIND
from peer.regulator.indicators import IndicatorListener
from peer.regulator.service import RegulatorService, StaticChannels
from peer.regulator.store import IndicatorStore
from peer.regulator.watch import WatchHub
from peer.server import NonEndorser, PeerServer, TimedEndorser
from peer.validator import BlockRefused, BlockValidator, ThreadExecutor
from protos.common import common_pb2
from protos.gateway import gateway_pb2_grpc
from protos.peer import peer_pb2_grpc
from protos.scf import batch_pb2_grpc, regulator_pb2_grpc

__all__ = ["PeerNode"]

log = logging.getLogger("peer.node")


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


@dataclass
class _Channel:
    """One joined channel and everything the node runs for it."""

    bundle: ChannelBundle
    ledger: LevelLedger
    committer: Committer
    waiters: TxStatusWaiters
    notifier: BlockNotifier
    deliver: DeliverClient | None = None

    @property
    def channel_id(self) -> str:
        return self.bundle.channel_id


class _Sink:
    """The deliver client's `BlockSink`: commit through the committer, timed."""

    def __init__(self, channel: _Channel, metrics: PeerMetrics) -> None:
        self._channel = channel
        self._metrics = metrics

    def height(self) -> int:
        return self._channel.ledger.height()

    def commit(self, block: common_pb2.Block) -> None:
        channel_id = self._channel.channel_id
        started = time.perf_counter()
        try:
            event = self._channel.committer.commit_block(block)
        except BlockRefused as exc:
            self._metrics.blocks_refused.labels(channel_id, exc.code).inc()
            raise
        self._metrics.block_committed(
            channel_id, event.number + 1, event.codes, time.perf_counter() - started
        )


class PeerNode:
    """One peer: see the module docstring. `start()` then `stop()`, once each."""

    def __init__(self, config: PeerConfig, *, metrics: PeerMetrics | None = None) -> None:
        self.config = config
        self.signer = SigningIdentity.from_msp_dir(config.msp_dir, config.mspid)
        self.metrics = metrics or PeerMetrics()
        self._channels: dict[str, _Channel] = {}
        self._endorser_channels: dict[str, ChannelSupport] = {}
        self._deliver_channels: dict[str, DeliverChannel] = {}
        self._server: PeerServer | None = None
        self._deliver_service: DeliverService | None = None
        self._operations: OperationsServer | None = None
        self._pool_lock = threading.Lock()
        self._grpc_channels: dict[str, grpc.Channel] = {}
        self._endorser_clients: dict[str, gateway.CoalescingEndorserClient] = {}
        self._broadcasters: dict[str, gateway.GrpcBroadcastClient] = {}
        self._client_tls: tls.ClientTls | None = None
        self._local_endorser: ProposalProcessor | None = None
        self._indicators: IndicatorStore | None = None
        self._regulator_channels: StaticChannels | None = None
        self.port = 0
        self.operations_port = 0

    # -- channels ---------------------------------------------------------------------

    @property
    def _ledger_root(self) -> Path:
        return self.config.data_dir / "ledgers"

    def _genesis_blocks(self) -> dict[str, common_pb2.Block | None]:
        """Channel → genesis block from the config, or None for a ledger found on disk
        (its block 0 is read from the ledger itself)."""
        blocks: dict[str, common_pb2.Block | None] = {}
        for path in self.config.genesis_blocks:
            try:
                block = common_pb2.Block.FromString(path.read_bytes())
            except OSError as exc:
                raise ScfError(
                    f"cannot read genesis block {path}: {exc.strerror}", code="GENESIS_UNREADABLE"
                ) from None
            blocks[config_from_block(block).channel_id] = block
        if self._ledger_root.is_dir():
            for folder in sorted(self._ledger_root.iterdir()):
                if folder.is_dir() and folder.name not in blocks:
                    blocks[folder.name] = None
        return blocks

    def _join(self, channel_id: str, genesis: common_pb2.Block | None) -> None:
        ledger = open_channel_ledger(self._ledger_root, channel_id)
        try:
            if genesis is None:
                genesis = ledger.block(0)
                if genesis is None:
                    log.warning(
                        "ledger %s is empty and no genesis block given; skipped", channel_id
                    )
                    ledger.close()
                    return
            bundle = ChannelBundle(config_from_block(genesis))
            if bundle.config.org(self.config.mspid) is None:
                log.warning(
                    "channel %s: org %s is not a member; not joined", channel_id, self.config.mspid
                )
                ledger.close()
                return
            executor = ThreadExecutor(bundle, self.config.validation_workers)
            waiters = TxStatusWaiters(ledger)
            notifier = BlockNotifier(ledger)
            committer = Committer(
                ledger,
                bundle,
                validator=BlockValidator(bundle, executor),
                listeners=[waiters, notifier],
            )
            channel = _Channel(bundle, ledger, committer, waiters, notifier)
            if ledger.height() == 0:
                committer.commit_block(genesis)
                log.info("channel %s: genesis block committed", channel_id)
        except BaseException:
            ledger.close()
            raise
        self._channels[channel_id] = channel
        self._endorser_channels[channel_id] = ChannelSupport(bundle, ledger, notifier)
        self._deliver_channels[channel_id] = DeliverChannel(bundle, ledger, notifier)
        self.metrics.ledger_height.labels(channel_id).set(ledger.height())
        log.info("channel %s joined at height %d", channel_id, ledger.height())

    def _tls_roots(self, *, orderers: bool, peers: bool) -> list[bytes]:
        """TLS CAs of the joined channels' orderer and/or application orgs."""
        roots: list[bytes] = []
        for channel in self._channels.values():
            config = channel.bundle.config
            orgs = (config.orderer_orgs if orderers else ()) + (
                config.application_orgs if peers else ()
            )
            for org in orgs:
                for cert in org.tls_root_certs:
                    if cert not in roots:
                        roots.append(cert)
        return roots

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        cfg = self.config
        for channel_id, genesis in self._genesis_blocks().items():
            self._join(channel_id, genesis)
        server_tls = None
        if cfg.tls is not None:
            roots: list[tls.PemSource] = [
                *cfg.tls.root_cas,
                *self._tls_roots(orderers=True, peers=True),
            ]
            self._client_tls = tls.ClientTls.load(roots, cfg.tls.cert, cfg.tls.key)
            client_roots: list[tls.PemSource] = []
            if cfg.tls.client_auth_required:
                client_roots = [
                    *cfg.tls.client_root_cas,
                    *self._tls_roots(orderers=True, peers=True),
                ]
            server_tls = tls.ServerTls.load(
                cfg.tls.cert,
                cfg.tls.key,
                client_roots,
                require_client_auth=cfg.tls.client_auth_required,
            )
        if cfg.endorser:
            endorser = Endorser(self.signer, builtin_registry(), self._endorser_channels)
            self._local_endorser = TimedEndorser(endorser, self.metrics)
            served: ProposalProcessor = self._local_endorser
        else:
            served = NonEndorser(cfg.name, cfg.mspid)
        self._server = PeerServer(cfg.listen_address, server_tls)
        peer_pb2_grpc.add_EndorserServicer_to_server(  # type: ignore[no-untyped-call]
            EndorserServicer(served), self._server.server
        )
        # scf.EndorserBatch: other scfchain gateways' proposals, many per call.
        batch_pb2_grpc.add_EndorserBatchServicer_to_server(  # type: ignore[no-untyped-call]
            EndorserBatchServicer(served), self._server.server
        )
        self._deliver_service = DeliverService(
            self._deliver_channels, time_window_s=cfg.delivery_time_window_s
        )
        self._deliver_service.add_to_server(self._server.server)
        servicer = gateway.GatewayServicer(self)
        gateway_pb2_grpc.add_GatewayServicer_to_server(  # type: ignore[no-untyped-call]
            servicer, self._server.server
        )
        # scf.GatewayBatch, for our SDK: no threads of its own, nothing to close.
        batch_pb2_grpc.add_GatewayBatchServicer_to_server(  # type: ignore[no-untyped-call]
            gateway.GatewayBatchServicer(servicer), self._server.server
        )
        self._start_regulator()
        self.port = self._server.start()
        for channel in self._channels.values():
            self._start_deliver(channel)
        if cfg.operations_address:
            host, port = _host_port(cfg.operations_address)
            self._operations = OperationsServer(self.metrics.registry, host=host, port=port)
            for channel in self._channels.values():
                self._operations.register_check(
                    f"deliver/{channel.channel_id}", _deliver_check(channel)
                )
            self._operations.register_route("/ledger/state", self._state_route)
            self._operations.start()
            self.operations_port = self._operations.port
        log.info(
            "peer %s (%s) serving on port %d with %d channel(s)%s",
            cfg.name,
            cfg.mspid,
            self.port,
            len(self._channels),
            "" if cfg.endorser else ", not endorsing",
        )
        if self._regulator_channels is not None:
            log.info(
                "regulator service on port %d for channel(s) %s",
                self.port,
                ", ".join(self._regulator_channels.channel_ids()),
            )

    def _start_regulator(self) -> None:
        """Indicator tables and the Regulator service, on the channels where this
        peer's org is the regulator (module docstring). Before the deliver clients
        start, so no block commits between a listener's catch-up and its
        registration."""
        assert self._server is not None
        regulated = [
            c
            for c in self._channels.values()
            if c.bundle.config.org_kinds().get(self.config.mspid) == REGULATOR_KIND
        ]
        if not regulated:
            return
        store = IndicatorStore.open(self.config.data_dir / "regulator.db")
        self._indicators = store
        hub = WatchHub()
        channels = StaticChannels()
        for channel in regulated:
            listener = IndicatorListener(channel.channel_id, channel.ledger, store, sink=hub)
            applied = listener.catch_up()
            channel.committer.add_listener(listener)
            channels.add(channel.channel_id, channel.ledger, _bundle_getter(channel))
            log.info(
                "channel %s: regulator indicators at height %d (%d block(s) caught up)",
                channel.channel_id,
                store.height(channel.channel_id),
                applied,
            )
        self._regulator_channels = channels
        regulator_pb2_grpc.add_RegulatorServicer_to_server(  # type: ignore[no-untyped-call]
            RegulatorService(channels, store, hub), self._server.server
        )

    def _state_route(self, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        """`GET /ledger/state?channel=C` (module docstring)."""
        channel_id = (query.get("channel") or [""])[0]
        channel = self._channels.get(channel_id)
        if channel is None:
            missing = {"error": f"channel {channel_id!r} is not joined"}
            return 404, "application/json", json.dumps(missing).encode()
        with channel.ledger.snapshot() as snapshot:
            height = snapshot.height()
            state = snapshot.state_hash()
        commit = channel.ledger.commit_hash(height - 1) or b""
        body: dict[str, object] = {
            "channel": channel_id,
            "height": height,
            "state_hash": state.hex(),
            "commit_hash": commit.hex(),
        }
        return 200, "application/json", json.dumps(body).encode()

    def _start_deliver(self, channel: _Channel) -> None:
        bundle = channel.bundle
        channel_id = channel.channel_id

        def endpoints() -> Sequence[str]:
            return [c.address for c in bundle.config.consenters]

        def on_reconnect(reason: str) -> None:
            self.metrics.deliver_reconnects.labels(channel_id).inc()

        channel.deliver = DeliverClient(
            channel_id,
            endpoints,
            self.signer,
            _Sink(channel, self.metrics),
            client_tls=self._client_tls,
            options=self.config.deliver,
            on_reconnect=on_reconnect,
        )
        channel.deliver.start()

    def stop(self) -> None:
        """Shut down cleanly (idempotent)."""
        if self._deliver_service is not None:
            self._deliver_service.close()
        if self._server is not None:
            self._server.stop(1.0)
            self._server = None
        for channel in self._channels.values():
            if channel.deliver is not None:
                channel.deliver.stop()
        if self._operations is not None:
            self._operations.stop()
            self._operations = None
        with self._pool_lock:
            for client in self._broadcasters.values():
                client.close()
            for grpc_channel in self._grpc_channels.values():
                grpc_channel.close()
            self._broadcasters.clear()
            self._endorser_clients.clear()
            self._grpc_channels.clear()
        for channel in self._channels.values():
            channel.committer.close()
            channel.ledger.close()
        if self._indicators is not None:
            self._indicators.close()
            self._indicators = None
        self._regulator_channels = None
        self._channels.clear()
        self._endorser_channels.clear()
        self._deliver_channels.clear()
        log.info("peer %s stopped", self.config.name)

    # -- observing (tests, operations) ----------------------------------------------------

    def channel_ids(self) -> list[str]:
        return sorted(self._channels)

    def ledger(self, channel_id: str) -> LevelLedger | None:
        channel = self._channels.get(channel_id)
        return channel.ledger if channel is not None else None

    # -- GatewaySupport ---------------------------------------------------------------

    @property
    def local_mspid(self) -> str:
        return self.config.mspid

    @property
    def local_address(self) -> str:
        host, port = _host_port(self.config.listen_address)
        if host in ("0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        return f"{host}:{self.port or port}"

    def bundle(self, channel_id: str) -> ChannelBundle | None:
        channel = self._channels.get(channel_id)
        return channel.bundle if channel is not None else None

    def local_endorser(self) -> ProposalProcessor | None:
        return self._local_endorser

    def remote_peers(self, channel_id: str) -> Sequence[gateway.RemotePeer]:
        channel = self._channels.get(channel_id)
        if channel is None:
            return []
        return gateway.endorsing_peers_from_config(
            channel.bundle.config, exclude={self.local_address, self.config.listen_address}
        )

    def _grpc_channel(self, address: str) -> grpc.Channel:
        """A pooled channel to another node (mutual TLS when configured); call with
        `_pool_lock` held. gRPC connects lazily, so this never blocks."""
        existing = self._grpc_channels.get(address)
        if existing is None:
            options = tls.channel_options()
            existing = (
                grpc.secure_channel(address, self._client_tls.credentials(), options=options)
                if self._client_tls is not None
                else grpc.insecure_channel(address, options=options)
            )
            self._grpc_channels[address] = existing
        return existing

    def endorser(self, address: str) -> gateway.EndorserClient:
        with self._pool_lock:
            client = self._endorser_clients.get(address)
            if client is None:
                # Coalesces concurrent proposals to this peer into batch calls (one
                # call's CPU for many); unary for a peer without the batch service.
                client = gateway.CoalescingEndorserClient(
                    self._grpc_channel(address), address=address
                )
                self._endorser_clients[address] = client
            return client

    def orderers(self, channel_id: str) -> Sequence[str]:
        channel = self._channels.get(channel_id)
        if channel is None:
            return []
        return [c.address for c in channel.bundle.config.consenters]

    def broadcaster(self, address: str) -> gateway.BroadcastClient:
        with self._pool_lock:
            client = self._broadcasters.get(address)
            if client is None:
                # Single Submits pipelined on one Broadcast stream; a SubmitBatch's
                # envelopes in one BroadcastEnvelopes call (the stream for an
                # orderer without that service).
                client = gateway.GrpcBroadcastClient(self._grpc_channel(address), address=address)
                self._broadcasters[address] = client
            return client

    def commit_waiter(self, channel_id: str) -> TxStatusWaiters | None:
        channel = self._channels.get(channel_id)
        return channel.waiters if channel is not None else None

    def blocks(self, channel_id: str) -> LevelLedger | None:
        return self.ledger(channel_id)

    def add_commit_listener(self, channel_id: str, listener: CommitListener) -> None:
        channel = self._channels.get(channel_id)
        if channel is not None:
            channel.committer.add_listener(listener)

    def remove_commit_listener(self, channel_id: str, listener: CommitListener) -> None:
        channel = self._channels.get(channel_id)
        if channel is not None:
            with contextlib.suppress(ValueError):
                channel.committer.remove_listener(listener)


def _bundle_getter(channel: _Channel) -> Callable[[], ChannelBundle]:
    return lambda: channel.bundle


def _deliver_check(channel: _Channel) -> Callable[[], str | None]:
    def check() -> str | None:
        client = channel.deliver
        if client is None or not client.running:
            return f"channel {channel.channel_id}: the deliver client is not running"
        return None

    return check
