"""The channels this orderer serves, and the dispatch of cluster traffic to them.

`Registrar` is the `ClusterHandler` the transport calls back (Raft messages and
forwarded envelopes go to the channel's driver) and the channel lookup of the
Broadcast and Deliver services. Channels are added before serving starts and then
only read, so lookups need no lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from common.blockstore.leveldb import LevelBlockStore
from common.config.bundle import ChannelBundle
from orderer.cluster import ForwardResult
from orderer.driver import CommitWatch, Driver
from orderer.forward import ForwardFuture
from orderer.raft import NO_NODE, Message, NodeId
from protos.common import common_pb2

log = logging.getLogger("orderer.registrar")


@dataclass(frozen=True)
class ChannelSupport:
    """One channel on this node: its config bundle (cached, so identity parses and
    policy compilation are paid once), its block store and its Raft driver."""

    bundle: ChannelBundle
    store: LevelBlockStore
    driver: Driver

    @property
    def channel_id(self) -> str:
        return self.bundle.channel_id

    def submit(self, envelope: bytes, txid: str) -> ForwardResult:
        return self.driver.submit(envelope, txid)

    def submit_async(self, envelope: bytes, txid: str) -> ForwardFuture:
        """`submit` without waiting for a forward: ordered here when this node leads
        (answered at once), else queued on the transport's forwarding stream to the
        leader in call order, so one Broadcast stream keeps several envelopes in
        flight. Falls back to `submit` when the transport cannot forward
        asynchronously."""
        result = self.driver.order(envelope, txid)
        if result is not None:
            return ForwardFuture.done(result)
        driver = self.driver
        leader = driver.status().leader
        if leader == NO_NODE or leader == driver.options.node_id:
            return ForwardFuture.done(
                ForwardResult(common_pb2.SERVICE_UNAVAILABLE, "no Raft leader; retry")
            )
        try:
            future: ForwardFuture | None = driver.forward_async(envelope, leader)
        except Exception as exc:  # the transport's failure is the client's retry
            log.warning("%s: forwarding to leader %d failed: %s", self.channel_id, leader, exc)
            return ForwardFuture.done(
                ForwardResult(
                    common_pb2.SERVICE_UNAVAILABLE, f"cannot reach leader {leader}: {exc}"
                )
            )
        if future is None:
            return ForwardFuture.done(driver.submit(envelope, txid))
        return future

    def watch(self, txid: str) -> CommitWatch:
        return self.driver.watch(txid)

    def unwatch(self, watch: CommitWatch) -> None:
        self.driver.unwatch(watch)

    def height(self) -> int:
        return self.store.height()

    def block_bytes(self, number: int) -> bytes | None:
        return self.store.block_bytes(number)

    def wait_for_height(self, height: int, timeout_s: float) -> bool:
        return self.driver.wait_for_height(height, timeout_s)


class Registrar:
    def __init__(self) -> None:
        self._channels: dict[str, ChannelSupport] = {}

    def add(self, support: ChannelSupport) -> None:
        self._channels[support.channel_id] = support

    def get(self, channel_id: str) -> ChannelSupport | None:
        return self._channels.get(channel_id)

    def channels(self) -> list[ChannelSupport]:
        return list(self._channels.values())

    # -- service lookups ------------------------------------------------------------

    def broadcast_channel(self, channel_id: str) -> ChannelSupport | None:
        return self._channels.get(channel_id)

    def deliver_channel(self, channel_id: str) -> ChannelSupport | None:
        return self._channels.get(channel_id)

    # -- ClusterHandler ---------------------------------------------------------------

    def on_raft_messages(self, channel: str, sender: NodeId, messages: Sequence[Message]) -> None:
        support = self._channels.get(channel)
        if support is None:
            log.warning("raft messages from %d for unknown channel %r dropped", sender, channel)
            return
        support.driver.step(messages)

    def on_forwarded_envelope(self, channel: str, sender: NodeId, envelope: bytes) -> ForwardResult:
        support = self._channels.get(channel)
        if support is None:
            return ForwardResult(common_pb2.NOT_FOUND, f"channel {channel} does not exist here")
        return support.driver.accept_forwarded(envelope)

    def on_unreachable(self, channel: str, consenter: NodeId) -> None:
        support = self._channels.get(channel)
        if support is not None:
            support.driver.unreachable(consenter)
