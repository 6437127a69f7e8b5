"""Node configs and the connection profile written by `scf network up`'s preparation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from client.launcher import LauncherError, NetworkLayout, NodeRole, node_specs
from client.launcher_ops import load_folder_config, prepare
from client.netconfig import NetworkConfig, default_network_config, default_network_yaml
from client.profile import load_profile
from orderer.config import OrdererConfig
from peer.config import PeerConfig


def test_node_specs_are_unique_and_ordered() -> None:
    specs = node_specs(default_network_config())
    ids = [s.id for s in specs]
    assert len(ids) == len(set(ids)) == 7
    assert [s.role for s in specs[:3]] == [NodeRole.ORDERER] * 3
    assert ids[3] == "peer0.core.scf.example"
    regulator = next(s for s in specs if s.org == "regulator")
    assert not regulator.endorser
    assert all(s.channels == ("trade",) for s in specs)
    assert specs[0].cluster_port == 7051


def test_folder_layout(prepared: tuple[NetworkLayout, NetworkConfig]) -> None:
    layout, config = prepared
    assert (layout.crypto / "orgs" / "core" / "users" / "User1" / "msp").is_dir()
    assert layout.genesis_block("trade").is_file()
    assert layout.profile.is_file()
    assert load_folder_config(layout) == config
    for node in node_specs(config):
        assert layout.config_path(node).is_file()
        assert not layout.pid_path(node).exists()


def test_orderer_configs_load_and_point_at_real_files(
    prepared: tuple[NetworkLayout, NetworkConfig],
) -> None:
    layout, config = prepared
    for node in node_specs(config):
        if node.role is not NodeRole.ORDERER:
            continue
        loaded = OrdererConfig.load(layout.config_path(node))
        assert loaded.mspid == "OrdererMSP"
        assert loaded.listen_address == node.address
        assert loaded.cluster_listen_address == f"{node.host}:{node.cluster_port}"
        assert loaded.operations_address == f"{node.host}:{node.operations_port}"
        assert loaded.data_dir.resolve() == layout.data_dir(node).resolve()
        assert (loaded.msp_dir / "signcerts" / "cert.pem").is_file()
        assert loaded.tls is not None
        for path in (loaded.tls.cert, loaded.tls.key, *loaded.tls.root_cas):
            assert path.is_file(), path
        assert [p.resolve() for p in loaded.genesis_blocks] == [
            layout.genesis_block("trade").resolve()
        ]


def test_orderer_configs_require_client_tls_on_the_public_port(
    prepared: tuple[NetworkLayout, NetworkConfig],
) -> None:
    """The public port trusts the orderer org's and every member org's TLS CA; the
    cluster port stays with the orderer orgs' CAs only."""
    layout, config = prepared
    orgs = layout.crypto / "orgs"
    for node in node_specs(config):
        if node.role is not NodeRole.ORDERER:
            continue
        loaded = OrdererConfig.load(layout.config_path(node))
        assert loaded.tls is not None
        assert loaded.tls.client_auth_required
        public = {p.resolve() for p in loaded.tls.public_roots}
        trade = config.channel("trade")
        expected = {
            (orgs / config.org_by_mspid(m).name / "tlsca" / "tlsca-cert.pem").resolve()
            for m in (*trade.orgs, *trade.orderer_orgs)
        }
        assert len(expected) == len(config.orgs)
        assert public == expected
        cluster = {p.resolve() for p in loaded.tls.client_root_cas}
        assert cluster == {(orgs / "orderer" / "tlsca" / "tlsca-cert.pem").resolve()}
        for path in public:
            assert path.is_file(), path


def test_peer_configs_load_and_require_client_tls(
    prepared: tuple[NetworkLayout, NetworkConfig],
) -> None:
    layout, config = prepared
    peers = [n for n in node_specs(config) if n.role is NodeRole.PEER]
    assert len(peers) == 4
    for node in peers:
        loaded = PeerConfig.load(layout.config_path(node))
        assert loaded.name == node.id
        assert loaded.mspid == node.mspid
        assert loaded.endorser is node.endorser
        assert loaded.listen_address == node.address
        assert loaded.tls is not None
        assert loaded.tls.client_auth_required
        # Trusts the orderer org's and every member org's TLS CA.
        roots = {p.resolve() for p in loaded.tls.root_cas}
        assert (layout.crypto / "orgs/orderer/tlsca/tlsca-cert.pem").resolve() in roots
        clients = {p.resolve() for p in loaded.tls.client_root_cas}
        assert (layout.crypto / "orgs/supplier1/tlsca/tlsca-cert.pem").resolve() in clients
        for path in (loaded.tls.cert, loaded.tls.key, *roots, *clients):
            assert path.is_file(), path


def test_profile_is_readable_by_the_sdk_reader(
    prepared: tuple[NetworkLayout, NetworkConfig],
) -> None:
    layout, _ = prepared
    profile = load_profile(layout.profile)
    assert set(profile.organizations) >= {"core", "bank", "supplier1", "govfund", "orderer"}
    assert profile.channels == ("trade",)
    core = profile.org("CoreMSP")
    assert core.peers == ("peer0.core.scf.example",)
    # Client-only orgs go through the core enterprise's peer first.
    assert profile.gateway_peer("supplier1").name == "peer0.core.scf.example"
    assert "peer0.regulator.scf.example" not in profile.org("supplier2").gateway_peers
    peer = profile.peers["peer0.bank.scf.example"]
    assert peer.tls
    assert isinstance(peer.tls_ca, Path)
    assert peer.tls_ca.is_file()
    assert peer.server_name == "peer0.bank.scf.example"
    assert set(profile.orderers) == {f"orderer{i}.scf.example" for i in range(3)}
    for org in profile.organizations.values():
        for user in org.users.values():
            for path in (user.msp_dir, user.cert, user.key, user.tls_cert, user.tls_key):
                assert path is not None
                assert path.exists(), path


def test_profile_paths_are_relative(prepared: tuple[NetworkLayout, NetworkConfig]) -> None:
    layout, _ = prepared
    raw = yaml.safe_load(layout.profile.read_text())
    user = raw["organizations"]["core"]["users"]["User1"]
    assert not Path(user["msp_dir"]).is_absolute()
    assert raw["peers"]["peer0.core.scf.example"]["url"].startswith("grpcs://127.0.0.1:")


def test_prepare_keeps_material_and_reuses_the_folders_config(
    prepared: tuple[NetworkLayout, NetworkConfig],
) -> None:
    layout, config = prepared
    genesis = layout.genesis_block("trade").read_bytes()
    key = (layout.crypto / "orgs/core/ca/priv_sk").read_bytes()
    assert prepare(layout, None) == config
    assert layout.genesis_block("trade").read_bytes() == genesis
    assert (layout.crypto / "orgs/core/ca/priv_sk").read_bytes() == key


def test_prepare_refuses_a_different_config(
    prepared: tuple[NetworkLayout, NetworkConfig], tmp_path: Path
) -> None:
    layout, _ = prepared
    other = tmp_path / "other.yaml"
    other.write_text(default_network_yaml().replace("port: 8051", "port: 8052"))
    with pytest.raises(LauncherError) as info:
        prepare(layout, other)
    assert info.value.code == "NETWORK_CONFIG_MISMATCH"


def test_missing_folder_is_one_clear_error(layout_dir: NetworkLayout) -> None:
    with pytest.raises(LauncherError) as info:
        load_folder_config(layout_dir)
    assert info.value.code == "NETWORK_NOT_FOUND"
    assert "scf network up" in info.value.message
