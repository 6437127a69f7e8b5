"""The orderer's Prometheus metrics, in a registry of their own (no global state, so
several nodes can live in one test process). The operations server exposes
`registry`; drivers and the Broadcast service record into it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class OrdererMetrics:
    """Blocks cut, Raft term and leader, commit latency, broadcast rejections."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.blocks_cut = Counter(
            "orderer_blocks_cut",
            "Blocks cut and proposed by this node as leader",
            ["channel"],
            registry=self.registry,
        )
        self.envelopes_ordered = Counter(
            "orderer_envelopes_ordered",
            "Envelopes accepted into the leader's pending batch",
            ["channel"],
            registry=self.registry,
        )
        self.block_height = Gauge(
            "orderer_block_height",
            "Blocks in the channel's block store",
            ["channel"],
            registry=self.registry,
        )
        self.raft_term = Gauge(
            "orderer_raft_term", "Current Raft term", ["channel"], registry=self.registry
        )
        self.raft_leader = Gauge(
            "orderer_raft_leader",
            "Raft id of the known leader (0: none)",
            ["channel"],
            registry=self.registry,
        )
        self.is_leader = Gauge(
            "orderer_is_leader",
            "1 if this node leads the channel",
            ["channel"],
            registry=self.registry,
        )
        self.commit_latency = Histogram(
            "orderer_commit_latency_seconds",
            "From proposing a block to applying it (leader only)",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.broadcast_rejections = Counter(
            "orderer_broadcast_rejections",
            "Broadcast envelopes refused, by reason",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.deliver_rejections = Counter(
            "orderer_deliver_rejections",
            "Deliver requests refused, by reason",
            ["channel", "reason"],
            registry=self.registry,
        )
