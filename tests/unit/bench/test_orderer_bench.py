"""`scf bench orderer`'s pure parts: its network, its options, its envelopes."""

from __future__ import annotations

import pytest

from client.bench.errors import BenchError
from client.bench.orderer import BenchOptions
from client.bench.orderer_load import envelope_maker, signature_of
from client.bench.orderer_net import CHANNEL, bench_network
from protos.common import common_pb2
from tests.support.consortium import make_org


def test_bench_network_has_three_orderers_and_the_batch_parameters() -> None:
    config = bench_network(list(range(20000, 20009)), 100, 500)
    orderers = [o for org in config.orgs for o in org.orderers]
    assert [(o.port, o.cluster_port, o.operations_port) for o in orderers] == [
        (20000, 20001, 20002),
        (20003, 20004, 20005),
        (20006, 20007, 20008),
    ]
    channel = config.channel(CHANNEL)
    assert channel.batch.batch_timeout_ms == 100
    assert channel.batch.max_message_count == 500


def test_options_need_exactly_one_bound() -> None:
    with pytest.raises(BenchError):
        BenchOptions(envelopes=None, duration_s=None)
    with pytest.raises(BenchError):
        BenchOptions(envelopes=10, duration_s=1.0)
    with pytest.raises(BenchError):
        BenchOptions(clients=0)
    assert BenchOptions(envelopes=None, duration_s=2.0).duration_s == 2.0


def test_envelopes_have_the_size_fresh_txids_and_verifiable_signatures() -> None:
    signer = make_org("BenchMSP", "core").member("User1", "client")
    make = envelope_maker(signer, CHANNEL, 1024)
    a, b = make(), make()
    assert abs(len(a) - 1024) <= 2
    txids = set()
    for raw in (a, b):
        env = common_pb2.Envelope.FromString(raw)
        payload = common_pb2.Payload.FromString(env.payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        assert header.channel_id == CHANNEL
        assert header.type == common_pb2.ENDORSER_TRANSACTION
        txids.add(header.tx_id)
        signer.identity.verify(env.payload, env.signature)
        assert signature_of(raw) == env.signature
    assert len(txids) == 2
