"""One live default consortium (`scf network up`, in process, free ports) shared by the
security tests, with extra Supplier1MSP identities for the adversarial cases.

Before the genesis blocks are made, Supplier1's CA issues four more enrollment
certificates: an expired one, a not-yet-valid one, a revoked one (its serial goes into
the org's `msp/crls/ca-crl.pem`, so the channel config carries the CRL), and a foreign
root issues one that claims Supplier1MSP. The network gets a second channel,
`bilateral` (CoreMSP and BankMSP only), so that a proposal for a channel that exists
but that the caller's org is not in can be sent. Then the network starts.

The ledger check (`Net.ledger_digest`): every peer's operations route
`/ledger/state?channel=trade` answers the height, the state hash (SHA-256 over every
live key, `common.commithash`) and the commit hash, read from one snapshot. A case
leaves the ledger unchanged when, once all peers are at one stable height, every
peer's state hash equals the one before the case. (Refused transactions that reached
the orderer may add blocks with INVALID flags — those change the height and the
commit hash but never the state.)
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from cryptography import x509

from client.cryptogen import generate
from client.launcher import NetworkLayout
from client.launcher_ops import network_down, network_up
from client.netconfig import load_network_config
from client.profile import ConnectionProfile, load_profile
from common import crypto, tls
from common.msp import SigningIdentity
from common.msp.ca import CertificateAuthority
from common.msp.identity import Identity, identity_from_certificate, serialize_identity
from tests.integration.test_network_cli import _kill_leftovers, write_network_yaml

CHANNEL = "trade"
PRIVATE_CHANNEL = "bilateral"
"""Exists, but only CoreMSP and BankMSP are members (not Supplier1MSP)."""
PEERS = ("core", "bank", "warehouse", "regulator")


def _write_network_yaml(path: Path) -> None:
    """The default consortium on free ports, plus `PRIVATE_CHANNEL`."""
    write_network_yaml(path)
    doc = yaml.safe_load(path.read_text())
    trade = next(c for c in doc["channels"] if c["name"] == CHANNEL)
    private = copy.deepcopy(trade)
    private["name"] = PRIVATE_CHANNEL
    private["orgs"] = ["CoreMSP", "BankMSP"]
    private["chaincodes"] = [c for c in trade["chaincodes"] if c["name"] == "bench"]
    private["governance"] = {"approvers": ["CoreMSP", "BankMSP"]}
    doc["channels"].append(private)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


@dataclass
class Net:
    folder: Path
    profile: ConnectionProfile
    extra: dict[str, SigningIdentity] = field(default_factory=dict)

    @property
    def crypto(self) -> Path:
        return self.folder / "crypto" / "orgs"

    def user(self, org: str, name: str = "User1") -> SigningIdentity:
        spec = self.profile.user(org, name)
        assert spec.msp_dir is not None
        mspid = self.profile.org(org).mspid
        return SigningIdentity.from_msp_dir(spec.msp_dir, mspid)

    def client_tls(self, org: str = "core", name: str = "User1") -> tls.ClientTls:
        spec = self.profile.user(org, name)
        assert spec.tls_cert is not None
        assert spec.tls_key is not None
        return tls.ClientTls.load(self.roots(), spec.tls_cert, spec.tls_key)

    def roots(self) -> list[Path]:
        return sorted(self.crypto.glob("*/tlsca/tlsca-cert.pem"))

    def peer_address(self, org: str) -> str:
        return self.profile.peers[f"peer0.{org}.scf.example"].address

    def orderer_address(self, i: int = 0) -> str:
        return self.profile.orderers[f"orderer{i}.scf.example"].address

    def node_tls(self, kind: str, org: str, name: str) -> tuple[Path, Path]:
        folder = self.crypto / org / kind / name / "tls"
        return folder / "server.crt", folder / "server.key"

    def channel(self, address: str, client: tls.ClientTls | None = None) -> grpc.Channel:
        creds = (client or self.client_tls()).credentials()
        return grpc.secure_channel(address, creds, tls.channel_options())

    def cluster_address(self, i: int = 0) -> str:
        cfg = load_network_config(self.folder / "network.yaml")
        o = cfg.org("orderer").orderers[i]
        return f"{o.host}:{o.cluster_port}"

    def operations_ports(self) -> dict[str, int]:
        cfg = load_network_config(self.folder / "network.yaml")
        ports = {}
        for org in cfg.orgs:
            for p in org.peers:
                ports[f"{p.name}.{org.name}"] = p.operations_port
            for o in org.orderers:
                ports[o.name] = o.operations_port
        return ports

    def healthy(self) -> dict[str, int]:
        """HTTP status of /healthz per node."""
        out = {}
        for node, port in self.operations_ports().items():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    out[node] = r.status
            except urllib.error.HTTPError as e:
                e.close()
                out[node] = e.code
            except OSError:
                out[node] = 0
        return out

    def ledger_state(self) -> dict[str, dict[str, object]]:
        ports = self.operations_ports()
        out = {}
        for org in PEERS:
            port = ports[f"peer0.{org}"]
            url = f"http://127.0.0.1:{port}/ledger/state?channel={CHANNEL}"
            with urllib.request.urlopen(url, timeout=5) as r:
                out[org] = json.loads(r.read())
        return out

    def ledger_digest(self, timeout: float = 20.0) -> tuple[int, str]:
        """(height, state hash) once every peer holds the same, stable height."""
        deadline = time.monotonic() + timeout
        last: dict[str, dict[str, object]] = {}
        while time.monotonic() < deadline:
            now = self.ledger_state()
            heights = {int(str(s["height"])) for s in now.values()}
            if len(heights) == 1 and now == last:
                states = {str(s["state_hash"]) for s in now.values()}
                assert len(states) == 1, f"peers disagree on the state: {now}"
                return heights.pop(), states.pop()
            last = now
            time.sleep(0.4)
        raise AssertionError(f"peers did not settle: {last}")


def _make_identities(folder: Path) -> dict[str, SigningIdentity]:
    org = folder / "crypto" / "orgs" / "supplier1"
    ca_cert = crypto.load_certificate_pem((org / "ca" / "ca-cert.pem").read_bytes())
    ca_key = crypto.load_private_key_pem((org / "ca" / "priv_sk").read_bytes())
    ca = CertificateAuthority(certificate=ca_cert, private_key=ca_key)
    now = datetime.now(UTC)
    day = timedelta(days=1)
    windows = {
        "expired": (now - 10 * day, now - day),
        "not_yet_valid": (now + day, now + 10 * day),
        "revoked": (now - day, now + 365 * day),
    }
    out: dict[str, SigningIdentity] = {}
    for name, (nb, na) in windows.items():
        key = crypto.generate_private_key()
        cert = ca.issue(
            key.public_key(),
            f"{name}@supplier1",
            organization="Supplier1MSP",
            organizational_units=["client"],
            not_before=nb,
            not_after=na,
        )
        out[name] = SigningIdentity(identity=_identity("Supplier1MSP", cert), private_key=key)
    revoked_serial = out["revoked"].identity.certificate.serial_number
    crl = ca.issue_crl(
        [(revoked_serial, now - day)], this_update=now - day, next_update=now + 30 * day
    )
    from cryptography.hazmat.primitives import serialization

    pem = crl.public_bytes(serialization.Encoding.PEM)
    for path in (org / "ca" / "crl.pem", org / "msp" / "crls" / "ca-crl.pem"):
        path.write_bytes(pem)  # cryptogen copies ca/crl.pem into the MSP folder
    foreign = CertificateAuthority.create_root(
        "ca.supplier1.scf.example",
        organization="Supplier1MSP",
        not_before=now - day,
        not_after=now + 365 * day,
    )
    key = crypto.generate_private_key()
    cert = foreign.issue(
        key.public_key(),
        "mallory@supplier1",
        organization="Supplier1MSP",
        organizational_units=["client"],
        not_before=now - day,
        not_after=now + 365 * day,
    )
    out["foreign_ca"] = SigningIdentity(identity=_identity("Supplier1MSP", cert), private_key=key)
    return out


def _identity(mspid: str, cert: x509.Certificate) -> Identity:
    serialized = serialize_identity(mspid, crypto.certificate_to_pem(cert))
    return identity_from_certificate(mspid, cert, serialized, node_ous=True)


@pytest.fixture(scope="session")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("secnet")
    config_path = root / "network.yaml"
    _write_network_yaml(config_path)
    layout = NetworkLayout(root / "net")
    layout.root.mkdir()
    config = load_network_config(config_path)
    generate(config, layout.crypto)
    extra = _make_identities(layout.root)
    try:
        network_up(layout, config_path, timeout=120)
        n = Net(layout.root, load_profile(layout.profile), extra)
        yield n
    finally:
        with contextlib.suppress(Exception):
            network_down(layout, timeout=5)
        _kill_leftovers(layout.root)


@pytest.fixture(scope="session")
def honest(net: Net) -> Iterator[Callable[[], None]]:
    """An honest evaluate through the core peer's gateway: must answer."""
    from client.gateway import Gateway

    with Gateway.from_profile(net.profile.path, org="core", user="User1") as gateway:
        contract = gateway.network(CHANNEL).contract("bench")

        def check() -> None:
            out = json.loads(contract.evaluate("Get", json.dumps({"key": "honest"})))
            assert out["key"] == "honest"

        yield check


@pytest.fixture
def unharmed(net: Net, honest: Callable[[], None]) -> Iterator[None]:
    """Around a test: the ledger's state hash is unchanged, every node's /healthz is
    200 and an honest request is still served."""
    _, before = net.ledger_digest()
    yield
    _, after = net.ledger_digest()
    assert after == before, "the ledger state changed"
    health = net.healthy()
    assert set(health.values()) == {200}, health
    honest()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.security.support import TALLY

    if not TALLY:
        return
    tr = terminalreporter
    tr.section("security: adversarial cases per endpoint")
    tr.write_line(f"{'endpoint':<28}{'tried':>8}{'refused':>9}{'crashes':>9}")
    total = [0, 0, 0]
    for name in sorted(TALLY):
        tried, refused, crashes = TALLY[name]
        total = [total[0] + tried, total[1] + refused, total[2] + crashes]
        tr.write_line(f"{name:<28}{tried:>8}{refused:>9}{crashes:>9}")
    tr.write_line(f"{'total':<28}{total[0]:>8}{total[1]:>9}{total[2]:>9}")
