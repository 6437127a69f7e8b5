"""The peer's Prometheus metrics, in a registry of its own (no process-global state,
so several peers can live in one test process). The operations server exposes
`registry`; the node's commit path, the endorser wrapper and the deliver client
record into it.

Names (Prometheus appends `_total` to counters and `_bucket`/`_sum`/`_count` to
histograms):

* `peer_ledger_height{channel}` — blocks in the channel's ledger.
* `peer_transactions_validated_total{channel, code}` — transactions committed, by
  TxValidationCode name (`VALID`, `MVCC_READ_CONFLICT`, ...).
* `peer_blocks_committed_total{channel}`, `peer_blocks_refused_total{channel, reason}`.
* `peer_commit_latency_seconds{channel}` — verify + validate + commit of one block.
* `peer_endorse_latency_seconds{status}` — one ProcessProposal, by response status.
* `peer_deliver_reconnects_total{channel}` — orderer streams given up on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from protos.peer import transaction_pb2

__all__ = ["PeerMetrics", "code_name"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def code_name(code: int) -> str:
    """The TxValidationCode's name, or the number for a code the protos don't know."""
    try:
        return transaction_pb2.TxValidationCode.Name(code)
    except ValueError:
        return str(code)


class PeerMetrics:
    """Every metric one peer exports; see the module docstring for names."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.ledger_height = Gauge(
            "peer_ledger_height",
            "Blocks in the channel's ledger",
            ["channel"],
            registry=self.registry,
        )
        self.transactions_validated = Counter(
            "peer_transactions_validated",
            "Committed transactions by validation code",
            ["channel", "code"],
            registry=self.registry,
        )
        self.blocks_committed = Counter(
            "peer_blocks_committed",
            "Blocks committed",
            ["channel"],
            registry=self.registry,
        )
        self.blocks_refused = Counter(
            "peer_blocks_refused",
            "Blocks from the orderers refused by the committer, by reason",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.commit_latency = Histogram(
            "peer_commit_latency_seconds",
            "Verify, validate and commit one block",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.endorse_latency = Histogram(
            "peer_endorse_latency_seconds",
            "One ProcessProposal, by response status",
            ["status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.deliver_reconnects = Counter(
            "peer_deliver_reconnects",
            "Orderer block streams given up on (error, refusal, stall)",
            ["channel"],
            registry=self.registry,
        )
        # Labelled children bound once (a `labels()` look-up hashes and validates the
        # label values under a lock): per-transaction and per-block paths use these.
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}

    def _child(self, name: str, metric: Any, *values: str) -> Any:
        key = (name, values)
        child = self._children.get(key)
        if child is None:
            child = self._children.setdefault(key, metric.labels(*values))
        return child

    def endorsed(self, status: int, seconds: float) -> None:
        """Record one ProcessProposal's latency under its response status."""
        self._child("endorse", self.endorse_latency, str(status)).observe(seconds)

    def block_committed(
        self, channel: str, height: int, codes: Sequence[int], seconds: float
    ) -> None:
        """Record one committed block: new `height`, its tx codes, its latency."""
        self._child("height", self.ledger_height, channel).set(height)
        self._child("blocks", self.blocks_committed, channel).inc()
        self._child("commit", self.commit_latency, channel).observe(seconds)
        counts: dict[int, int] = {}
        for code in codes:
            counts[code] = counts.get(code, 0) + 1
        for code, n in counts.items():
            self._validated(channel, code).inc(n)

    def _validated(self, channel: str, code: int) -> Any:
        key = ("validated", (channel, str(code)))
        child = self._children.get(key)
        if child is None:  # the code's name is looked up once per (channel, code)
            child = self._children.setdefault(
                key, self.transactions_validated.labels(channel, code_name(code))
            )
        return child
