"""Peer metrics: labelled children are bound once and record what `labels()` would."""

from __future__ import annotations

from peer.metrics import PeerMetrics
from protos.peer import transaction_pb2


def test_prebound_children_record_per_label() -> None:
    metrics = PeerMetrics()
    for _ in range(3):
        metrics.endorsed(200, 0.002)
    metrics.endorsed(500, 0.002)
    codes = [transaction_pb2.VALID] * 4 + [transaction_pb2.MVCC_READ_CONFLICT, 9999]
    metrics.block_committed("ch", 2, codes, 0.01)
    metrics.block_committed("ch", 3, codes[:1], 0.01)
    value = metrics.registry.get_sample_value
    assert value("peer_endorse_latency_seconds_count", {"status": "200"}) == 3
    assert value("peer_endorse_latency_seconds_count", {"status": "500"}) == 1
    valid = {"channel": "ch", "code": "VALID"}
    assert value("peer_transactions_validated_total", valid) == 5
    mvcc = {"channel": "ch", "code": "MVCC_READ_CONFLICT"}
    assert value("peer_transactions_validated_total", mvcc) == 1
    assert value("peer_transactions_validated_total", {"channel": "ch", "code": "9999"}) == 1
    assert value("peer_ledger_height", {"channel": "ch"}) == 3
    assert value("peer_blocks_committed_total", {"channel": "ch"}) == 2
