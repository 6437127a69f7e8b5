"""Reading connection profiles, and connecting through one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client import Gateway, ProfileError, load_profile
from tests.unit.sdk.fakes import FakeNetwork
from tests.unit.sdk.profiles import profile_document, write_profile

TLS_PROFILE = """
organizations:
  core:
    mspid: CoreMSP
    peers: [peer0.core.scf.example]
    users:
      User1:
        cert: crypto/u1/cert.pem
        key: /abs/u1/key.pem
        tls: {cert: crypto/u1/tls/client.crt, key: crypto/u1/tls/client.key}
  supplier1:
    mspid: Supplier1MSP
    gatewayPeers: [peer0.bank.scf.example, peer0.core.scf.example]
    users:
      User1: {msp_dir: crypto/s1/msp}
  lonely:
    mspid: LonelyMSP
peers:
  peer0.core.scf.example:
    url: grpcs://127.0.0.1:8051
    tlsCACerts: {path: crypto/core/tlsca.pem}
    grpcOptions: {ssl-target-name-override: peer0.core.scf.example}
  peer0.bank.scf.example:
    url: grpcs://127.0.0.1:8061
    tlsCACerts: {pem: "-----BEGIN CERTIFICATE-----"}
orderers:
  orderer0.scf.example:
    url: grpcs://127.0.0.1:7050
    tlsCACerts: {path: crypto/orderer/tlsca.pem}
"""


def test_a_profile_is_read_with_paths_resolved_against_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "net" / "connection.yaml"
    path.parent.mkdir()
    path.write_text(TLS_PROFILE)
    profile = load_profile(path)
    base = path.parent.resolve()
    user = profile.user("core", "User1")
    assert user.cert == base / "crypto/u1/cert.pem"
    assert user.key == Path("/abs/u1/key.pem")
    assert user.tls_cert == base / "crypto/u1/tls/client.crt"
    peer = profile.gateway_peer("core")
    assert (peer.address, peer.tls, peer.server_name) == (
        "127.0.0.1:8051",
        True,
        "peer0.core.scf.example",
    )
    assert peer.tls_ca == base / "crypto/core/tlsca.pem"
    assert profile.orderers["orderer0.scf.example"].address == "127.0.0.1:7050"
    # Org by MSP id; a client-only org uses the first of its gatewayPeers.
    assert profile.gateway_peer("Supplier1MSP").name == "peer0.bank.scf.example"
    assert profile.gateway_peer("supplier1").tls_ca == b"-----BEGIN CERTIFICATE-----"


@pytest.mark.parametrize(
    ("call", "code", "hint"),
    [
        (lambda p: p.org("nobody"), "UNKNOWN_ORG", "core, lonely, supplier1"),
        (lambda p: p.user("core", "Eve"), "UNKNOWN_USER", "users: User1"),
        (lambda p: p.gateway_peer("lonely"), "PROFILE_INVALID", "neither peers"),
    ],
)
def test_unknown_names_are_named_errors(tmp_path: Path, call, code: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "connection.yaml"
    path.write_text(TLS_PROFILE)
    with pytest.raises(ProfileError) as caught:
        call(load_profile(path))
    assert caught.value.code == code
    assert hint in str(caught.value)


def test_a_missing_profile_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(tmp_path / "nope.yaml")
    assert caught.value.code == "PROFILE_NOT_FOUND"
    assert "scf network up" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[1, 2", "not valid YAML"),
        ("- a list", "top level: must be a mapping"),
        ("organizations: {}", "lists no organization"),
        ("organizations: {core: {peers: []}}", "organizations.core.mspid"),
        (
            "organizations: {core: {mspid: C, peers: [p]}}",
            "peer 'p' is not under 'peers'",
        ),
        (
            "organizations: {core: {mspid: C}}\npeers: {p: {url: 'http://x:1'}}",
            "peers.p.url",
        ),
        (
            "organizations: {core: {mspid: C}}\npeers: {p: {url: 'grpcs://x:1'}}",
            "peers.p.tlsCACerts",
        ),
        (
            "organizations: {core: {mspid: C, users: {U: {cert: c}}}}",
            "organizations.core.users.U: needs msp_dir, or both cert and key",
        ),
    ],
)
def test_invalid_profiles_name_the_offending_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "connection.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert caught.value.code == "PROFILE_INVALID"
    assert where in str(caught.value)


def test_gateway_from_profile_connects_as_the_user(fake: FakeNetwork, tmp_path: Path) -> None:
    path = write_profile(tmp_path, fake.target)
    with Gateway.from_profile(path, org="core", user="User1") as gw:
        assert gw.target == fake.target
        out = gw.network("trade").contract("receivable").evaluate("Get", "V-1")
        assert json.loads(out)["args"] == ["V-1"]
    # A client-only org goes through its gateway peer, with its own MSP id.
    with Gateway.from_profile(path, org="supplier1", user="User1") as gw:
        assert (gw.target, gw.identity.mspid) == (fake.target, "Supplier1MSP")
    assert load_profile(path).channels == ("trade",)
    assert profile_document(fake.target)["organizations"]["core"]["mspid"] == "CoreMSP"
