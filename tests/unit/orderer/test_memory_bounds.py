"""What an orderer keeps per envelope or per request stays bounded: commit watches
of a Broadcast stream whose client went away, metric label children for channel
names a client makes up, and the Raft log's tables (bloom filter, see
`common.leveldb`)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from common.config.bundle import ChannelBundle
from common.config.genesis import config_from_block, genesis_block
from common.msp import SigningIdentity
from common.txutil import build_seek_envelope, seek_info
from orderer.broadcast import BroadcastHandler
from orderer.cluster import ForwardResult
from orderer.deliver import DeliverHandler
from orderer.forward import ForwardFuture
from orderer.metrics import OrdererMetrics
from orderer.raft import Entry, EntryType, HardState, Index, NodeId, Term
from orderer.wal import LevelRaftStorage
from protos.common import common_pb2
from protos.orderer import ab_pb2
from tests.support.consortium import channel_config, make_org
from tests.unit.common.test_leveldb import tables_have_bloom_filter
from tests.unit.orderer.support import CHANNEL, signed_envelope, wait_until


@dataclass
class _World:
    bundle: ChannelBundle
    client: SigningIdentity


@pytest.fixture(scope="module")
def world() -> _World:
    orderer_org = make_org("OrdererMSP", "orderer")
    core = make_org("CoreMSP", "core")
    consenters = [orderer_org.member("orderer0", "orderer")]
    config = config_from_block(
        genesis_block(channel_config(CHANNEL, [core], orderer_org, consenters))
    )
    return _World(ChannelBundle(config), core.member("alice", "client"))


class _Watch:
    def wait(self, timeout_s: float) -> bool:
        threading.Event().wait(timeout_s)
        return False  # the envelope was lost with its leader: never committed


@dataclass
class _LosingChannel:
    """Takes every envelope (SUCCESS) and never commits any; counts live watches."""

    bundle: ChannelBundle
    watches: set[_Watch] = field(default_factory=set)
    created: int = 0

    def submit(self, envelope: bytes, txid: str) -> ForwardResult:
        return ForwardResult(common_pb2.SUCCESS)

    def submit_async(self, envelope: bytes, txid: str) -> ForwardFuture:
        return ForwardFuture.done(ForwardResult(common_pb2.SUCCESS))

    def watch(self, txid: str) -> _Watch:
        watch = _Watch()
        self.watches.add(watch)
        self.created += 1
        return watch

    def unwatch(self, watch: Any) -> None:
        self.watches.discard(watch)


@dataclass
class _Channels:
    channel: _LosingChannel | None = None

    def broadcast_channel(self, channel_id: str) -> Any:
        return self.channel if channel_id == CHANNEL else None

    def deliver_channel(self, channel_id: str) -> Any:
        return None


def test_a_stream_closed_early_releases_the_watches_of_unanswered_envelopes(
    world: _World,
) -> None:
    channel = _LosingChannel(world.bundle)
    handler = BroadcastHandler(_Channels(channel), ack_on_commit=True, commit_timeout_s=0.05)
    sent = [signed_envelope(CHANNEL, world.client, f"e{i}".encode()) for i in range(5)]
    stream = cast(Generator[bytes, None, None], handler.stream(iter(sent)))
    first = ab_pb2.BroadcastResponse.FromString(next(stream))
    assert first.status == common_pb2.SERVICE_UNAVAILABLE  # not committed in time
    wait_until(lambda: channel.created == 5, what="all five envelopes admitted")
    stream.close()  # the client went away with four envelopes unanswered
    assert channel.watches == set()


def test_an_answered_stream_keeps_no_watches(world: _World) -> None:
    channel = _LosingChannel(world.bundle)
    handler = BroadcastHandler(_Channels(channel), ack_on_commit=True, commit_timeout_s=0.01)
    sent = [signed_envelope(CHANNEL, world.client, f"a{i}".encode()) for i in range(3)]
    assert len(list(handler.stream(iter(sent)))) == 3
    assert channel.watches == set()


def _label_sets(counter: Any) -> set[tuple[tuple[str, str], ...]]:
    return {
        tuple(sorted(sample.labels.items()))
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


def test_unknown_channel_names_do_not_add_broadcast_metric_children(world: _World) -> None:
    metrics = OrdererMetrics()
    handler = BroadcastHandler(_Channels(), metrics)
    for i in range(20):
        response = handler.handle(signed_envelope(f"made-up-{i}", world.client))
        assert response.status == common_pb2.NOT_FOUND
        assert f"made-up-{i}" in response.info
    assert _label_sets(metrics.broadcast_rejections) == {(("channel", ""), ("reason", "not_found"))}


def test_unknown_channel_names_do_not_add_deliver_metric_children(world: _World) -> None:
    metrics = OrdererMetrics()
    handler = DeliverHandler(_Channels(), metrics)
    for i in range(20):
        raw = build_seek_envelope(f"made-up-{i}", seek_info(0, 0), world.client)
        (response,) = handler.handle(raw.SerializeToString(), lambda: True)
        assert ab_pb2.DeliverResponse.FromString(response).status == common_pb2.NOT_FOUND
    assert _label_sets(metrics.deliver_rejections) == {(("channel", ""), ("reason", "not_found"))}


def test_raft_log_tables_have_a_bloom_filter(tmp_path: Path) -> None:
    storage = LevelRaftStorage.open(str(tmp_path / "wal"))
    try:
        entries = [Entry(Term(1), Index(i), b"x" * 100, EntryType.NORMAL) for i in range(1, 200)]
        storage.save(HardState(Term(1), NodeId(1), Index(199)), entries, None)
        storage._db.compact_range()
        assert storage.term(Index(150)) == 1
    finally:
        storage.close()
    assert tables_have_bloom_filter(tmp_path / "wal")
