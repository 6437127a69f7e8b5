"""The peer's config file and the node wired in-process (no orderers running): it
joins the channel from its genesis block, serves Endorser/Deliver over mutual TLS,
refuses proposals when `endorser: false`, reports /healthz and /metrics, and
reopens its ledger on restart."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from common import tls, txutil
from peer.config import DeliverOptions, PeerConfig, PeerConfigError
from peer.node import PeerNode
from protos.common import common_pb2
from protos.peer import events_pb2_grpc, peer_pb2_grpc
from tests.integration.network import CHANNEL, Network, propose

BASE: dict[str, Any] = {
    "name": "peer0.core",
    "mspid": "CoreMSP",
    "msp_dir": "msp",
    "listen_address": "127.0.0.1:0",
    "data_dir": "data",
}


def test_config_minimal_and_relative_paths(tmp_path: Path) -> None:
    config = PeerConfig.from_dict(dict(BASE, genesis_blocks=["trade.block"]), tmp_path)
    assert config.msp_dir == tmp_path / "msp"
    assert config.genesis_blocks == (tmp_path / "trade.block",)
    assert config.tls is None
    assert config.endorser is True
    assert config.validation_workers == 2
    assert config.deliver == DeliverOptions()


def test_config_full_file(tmp_path: Path) -> None:
    raw = dict(
        BASE,
        tls={
            "cert": "tls/server.crt",
            "key": "/abs/server.key",
            "root_cas": ["a.pem", "b.pem"],
            "client_auth_required": True,
        },
        operations_address="127.0.0.1:9446",
        endorser=False,
        validation_workers=4,
        deliver={"stall_timeout_s": 5, "reconnect_backoff_max_s": 2},
    )
    (tmp_path / "peer.yaml").write_text(yaml.safe_dump(raw))
    config = PeerConfig.load(tmp_path / "peer.yaml")
    assert config.tls is not None
    assert config.tls.cert == tmp_path / "tls/server.crt"
    assert config.tls.key == Path("/abs/server.key")
    assert config.tls.root_cas == (tmp_path / "a.pem", tmp_path / "b.pem")
    assert config.tls.client_auth_required is True
    assert config.endorser is False
    assert config.validation_workers == 4
    assert config.deliver.stall_timeout_s == 5.0
    assert config.operations_address == "127.0.0.1:9446"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": None}, "'name' is required"),
        ({"listen_address": "nohostport"}, "listen_address"),
        ({"operations_address": "host:99999"}, "operations_address"),
        ({"endorser": "yes"}, "'endorser' must be true or false"),
        ({"validation_workers": 0}, "validation_workers"),
        ({"tls": {"key": "k"}}, "'tls.cert' is required"),
        ({"tls": "on"}, "'tls' must be a mapping"),
        ({"genesis_blocks": "trade.block"}, "'genesis_blocks' must be a list"),
        ({"colour": "blue"}, "unknown key(s) colour"),
        ({"deliver": {"stall": 1}}, "deliver.stall"),
        ({"deliver": {"stall_timeout_s": -1}}, "positive number"),
    ],
)
def test_config_errors(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(PeerConfigError) as info:
        PeerConfig.from_dict(dict(BASE, **change), tmp_path)
    assert message in str(info.value)
    assert info.value.code == "PEER_CONFIG_INVALID"


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PeerConfigError, match="cannot read"):
        PeerConfig.load(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(PeerConfigError, match="mapping at the top level"):
        PeerConfig.load(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(PeerConfigError, match="cannot read"):
        PeerConfig.load(tmp_path / "bad.yaml")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_non_endorsing_peer_in_process(tmp_path: Path) -> None:
    net = Network.create(tmp_path, with_regulator=True)
    proc = net.peers["RegulatorMSP"]
    config = PeerConfig.load(proc.config_path)
    node = PeerNode(config)
    node.start()
    try:
        assert node.channel_ids() == [CHANNEL]
        ledger = node.ledger(CHANNEL)
        assert ledger is not None
        assert ledger.height() == 1  # the genesis block, committed on join
        with net.channel(proc.address) as channel:
            endorser = peer_pb2_grpc.EndorserStub(channel)  # type: ignore[no-untyped-call]
            signed, _ = propose(net.user("core"), "Put", {"key": "a", "value": "1"})
            response = endorser.ProcessProposal(signed, timeout=10)
            assert response.response.status == common_pb2.FORBIDDEN
            assert response.response.message.startswith("ENDORSER_DISABLED")
            deliver = events_pb2_grpc.DeliverStub(channel)  # type: ignore[no-untyped-call]
            request = txutil.build_seek_envelope(
                CHANNEL, txutil.seek_info(0, 0), net.user("regulator", "Auditor1")
            )
            responses = list(deliver.Deliver(iter([request]), timeout=10))
            assert [r.WhichOneof("Type") for r in responses] == ["block", "status"]
        # clientAuthRequired: a client without a certificate cannot connect.
        anonymous = tls.ClientTls.load(net.tls_roots).credentials()
        with grpc.secure_channel(proc.address, anonymous) as channel:
            endorser = peer_pb2_grpc.EndorserStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.RpcError):
                endorser.ProcessProposal(signed, timeout=5)
        ops = f"http://127.0.0.1:{node.operations_port}"
        status, body = _get(ops + "/healthz")
        assert status == 200, body
        assert json.loads(body)["status"] == "OK"
        status, body = _get(ops + "/metrics")
        assert status == 200
        assert 'peer_ledger_height{channel="trade"} 1.0' in body
    finally:
        node.stop()
    again = PeerNode(config)
    again.start()
    try:
        ledger = again.ledger(CHANNEL)
        assert ledger is not None
        assert ledger.height() == 1
    finally:
        again.stop()
