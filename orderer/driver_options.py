"""`DriverOptions`: what a channel's Raft driver (`orderer.driver.Driver`) is given,
from the channel's config (its consenters, Raft timing, snapshot interval and batch
limits) and this node's consenter id."""

from __future__ import annotations

from dataclasses import dataclass

from common.config.channel import ChannelConfig
from orderer.blockcutter import BatchLimits
from orderer.raft import NodeId

__all__ = ["DriverOptions"]


@dataclass(frozen=True)
class DriverOptions:
    channel: str
    node_id: NodeId
    peers: tuple[NodeId, ...]
    tick_interval_s: float
    election_tick: int
    heartbeat_tick: int
    snapshot_interval_blocks: int
    max_inflight_blocks: int
    batch: BatchLimits
    snapshot_catchup_entries: int = 4
    """Entries kept before a snapshot's index so a slightly lagging follower can
    still catch up by log rather than by snapshot."""
    forward_timeout_s: float = 5.0

    @classmethod
    def from_config(cls, config: ChannelConfig, node_id: int) -> DriverOptions:
        raft, batch = config.raft, config.batch
        return cls(
            channel=config.channel_id,
            node_id=NodeId(node_id),
            peers=tuple(NodeId(c.id) for c in config.consenters),
            tick_interval_s=raft.tick_interval_ms / 1000,
            election_tick=raft.election_tick,
            heartbeat_tick=raft.heartbeat_tick,
            snapshot_interval_blocks=raft.snapshot_interval_blocks,
            max_inflight_blocks=max(1, raft.max_inflight_blocks),
            batch=BatchLimits(
                batch.max_message_count,
                batch.absolute_max_bytes,
                batch.preferred_max_bytes,
                batch.timeout_ms / 1000,
            ),
        )
