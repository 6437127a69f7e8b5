"""The orderer process wiring, in-process: config file, single-node channel without
TLS (no cluster), Broadcast/Deliver over gRPC, restart from the data dir, metrics."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import grpc
import pytest
import yaml

from client.free_ports import free_port
from common.config.genesis import genesis_block
from common.txutil import build_seek_envelope, seek_info
from orderer.config import OrdererConfig, OrdererConfigError
from orderer.node import OrdererNode
from protos.common import common_pb2
from protos.orderer import ab_pb2_grpc
from tests.integration.orderer_net import write_msp
from tests.support.consortium import channel_config, make_org
from tests.unit.orderer.support import CHANNEL, signed_envelope, wait_until


def healthy(ops_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/healthz", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def test_config_resolves_relative_paths_and_checks_fields(tmp_path: Path) -> None:
    file = tmp_path / "orderer.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "name": "o0",
                "mspid": "OrdererMSP",
                "msp_dir": "msp",
                "tls": {"cert": "tls/c.pem", "key": "tls/k.pem", "root_cas": ["ca.pem"]},
                "listen_address": "127.0.0.1:7050",
                "cluster_listen_address": "127.0.0.1:7051",
                "data_dir": "/var/data",
                "genesis_blocks": ["a.block"],
            }
        )
    )
    config = OrdererConfig.load(file)
    assert config.msp_dir == tmp_path / "msp"
    assert config.data_dir == Path("/var/data")
    assert config.tls is not None
    assert config.tls.client_root_cas == (tmp_path / "ca.pem",)
    assert config.tls.public_roots == config.tls.client_root_cas  # when not given
    tls_raw = {"cert": "c", "key": "k", "root_cas": ["ca.pem"], "public_client_root_cas": ["m.pem"]}
    raw = yaml.safe_load(file.read_text()) | {"tls": tls_raw}
    loaded = OrdererConfig.from_dict(raw, tmp_path).tls
    assert loaded is not None
    assert loaded.public_roots == (tmp_path / "m.pem",)
    assert loaded.client_root_cas == (tmp_path / "ca.pem",)
    assert config.broadcast_ack == "commit"  # the default: acks survive a leader crash
    with pytest.raises(OrdererConfigError, match="listen_address"):
        OrdererConfig.from_dict({"name": "o", "mspid": "M", "msp_dir": "m"}, tmp_path)
    raw = yaml.safe_load(file.read_text()) | {"broadcast_ack": "never"}
    with pytest.raises(OrdererConfigError, match="broadcast_ack"):
        OrdererConfig.from_dict(raw, tmp_path)


def test_single_node_serves_and_restarts_from_its_data_dir(tmp_path: Path) -> None:
    orderer_org = make_org("OrdererMSP", "orderer")
    core = make_org("CoreMSP", "core")
    me = orderer_org.member("orderer0", "orderer")
    alice = core.member("alice", "client")
    config_proto = channel_config(CHANNEL, [core], orderer_org, [me])
    config_proto.raft.tick_interval_ms = 10
    config_proto.batch_timeout_ms = 20
    (tmp_path / "g.block").write_bytes(genesis_block(config_proto).SerializeToString())
    write_msp(tmp_path / "msp", me)
    port, ops = free_port(), free_port()
    raw = {
        "name": "orderer0",
        "mspid": "OrdererMSP",
        "msp_dir": "msp",
        "listen_address": f"127.0.0.1:{port}",
        "cluster_listen_address": "127.0.0.1:0",
        "operations_address": f"127.0.0.1:{ops}",
        "data_dir": "data",
        "broadcast_ack": "commit",
        "genesis_blocks": ["g.block"],
    }
    sent = [signed_envelope(CHANNEL, alice, f"n{i}".encode()) for i in range(3)]
    node = OrdererNode(OrdererConfig.from_dict(raw, tmp_path))
    node.start()
    try:
        wait_until(lambda: healthy(ops), what="a healthy node")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
            envs = [common_pb2.Envelope.FromString(e) for e in sent]
            responses = list(stub.Broadcast(iter(envs), timeout=10))
            assert [r.status for r in responses] == [common_pb2.SUCCESS] * 3
        with urllib.request.urlopen(f"http://127.0.0.1:{ops}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert 'orderer_is_leader{channel="scf-channel"} 1.0' in text
    finally:
        node.stop()
    # restart from the data dir alone (no genesis blocks listed any more)
    node = OrdererNode(OrdererConfig.from_dict(raw | {"genesis_blocks": []}, tmp_path))
    node.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
            request = build_seek_envelope(
                CHANNEL, seek_info(0, None, block_until_ready=False), alice
            )
            request = build_seek_envelope(CHANNEL, seek_info(0, 1, block_until_ready=False), alice)
            responses = list(stub.Deliver(iter([request]), timeout=10))
        assert responses[-1].status == common_pb2.SUCCESS
        assert sorted(bytes(e) for e in responses[1].block.data.data) == sorted(sent)
    finally:
        node.stop()
