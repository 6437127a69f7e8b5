"""`scf crypto generate`: layout, openssl-verifiable certificates, modes, idempotency."""

from __future__ import annotations

import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from client.cli.main import cli
from client.cryptogen import generate
from client.netconfig import default_network_config, default_network_yaml
from common import crypto
from common.msp import MSP, MspConfig, MSPManager, NodeOU, SigningIdentity

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crypto")
    result = CliRunner().invoke(cli, ["crypto", "generate", "--out", str(root)])
    assert result.exit_code == 0, result.output
    assert "10 orgs" in result.output
    return root


def _openssl(*args: str) -> str:
    assert OPENSSL is not None
    proc = subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _certs(org: Path, name: str) -> list[Path]:
    return sorted(org.glob(f"*/*/{name}"))


def test_layout(out: Path) -> None:
    core = out / "orgs" / "core"
    for rel in [
        "ca/ca-cert.pem", "ca/priv_sk", "ca/crl.pem",
        "tlsca/tlsca-cert.pem", "tlsca/priv_sk", "tlsca/crl.pem",
        "msp/cacerts/ca-cert.pem", "msp/tlscacerts/tlsca-cert.pem", "msp/crls/ca-crl.pem",
        "msp/config.yaml",
        "peers/peer0/msp/signcerts/cert.pem", "peers/peer0/msp/keystore/priv_sk",
        "peers/peer0/msp/cacerts/ca-cert.pem",
        "peers/peer0/tls/ca.crt", "peers/peer0/tls/server.crt", "peers/peer0/tls/server.key",
        "users/Treasurer/msp/signcerts/cert.pem", "users/Treasurer/tls/client.crt",
        "users/Treasurer/tls/client.key",
    ]:  # fmt: skip
        assert (core / rel).is_file(), rel
    orderer = out / "orgs" / "orderer"
    assert sorted(p.name for p in (orderer / "orderers").iterdir()) == [
        "orderer0", "orderer1", "orderer2",
    ]  # fmt: skip
    assert not (out / "orgs" / "supplier1" / "peers").exists()
    assert (
        out / "orgs" / "supplier1" / "users" / "User1" / "msp" / "signcerts" / "cert.pem"
    ).is_file()


def test_private_keys_are_0600(out: Path) -> None:
    keys = [*out.rglob("priv_sk"), *out.rglob("*.key")]
    assert len(keys) > 50
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


@needs_openssl
def test_openssl_verifies_every_certificate(out: Path) -> None:
    for org in sorted((out / "orgs").iterdir()):
        enrollment = _certs(org, "msp/signcerts/cert.pem")
        assert enrollment
        _openssl(
            "verify", "-crl_check", "-CRLfile", str(org / "ca" / "crl.pem"),
            "-CAfile", str(org / "ca" / "ca-cert.pem"), *map(str, enrollment),
        )  # fmt: skip
        servers = _certs(org, "tls/server.crt")
        if servers:
            _openssl("verify", "-purpose", "sslserver", "-CAfile",
                     str(org / "tlsca" / "tlsca-cert.pem"), *map(str, servers))  # fmt: skip
        clients = _certs(org, "tls/client.crt") + servers
        _openssl("verify", "-purpose", "sslclient", "-CAfile",
                 str(org / "tlsca" / "tlsca-cert.pem"), *map(str, clients))  # fmt: skip


@needs_openssl
def test_foreign_ca_does_not_verify(out: Path) -> None:
    assert OPENSSL is not None
    proc = subprocess.run(
        [OPENSSL, "verify", "-CAfile", str(out / "orgs/bank/ca/ca-cert.pem"),
         str(out / "orgs/core/users/User1/msp/signcerts/cert.pem")],
        capture_output=True, check=False,
    )  # fmt: skip
    assert proc.returncode != 0


@needs_openssl
@pytest.mark.parametrize(
    ("rel", "ou"),
    [
        ("orgs/core/peers/peer0", "peer"),
        ("orgs/orderer/orderers/orderer1", "orderer"),
        ("orgs/bank/users/Admin", "admin"),
        ("orgs/bank/users/Appraiser", "client"),
    ],
)
def test_openssl_shows_role_ou(out: Path, rel: str, ou: str) -> None:
    text = _openssl("x509", "-noout", "-text", "-in", str(out / rel / "msp/signcerts/cert.pem"))
    assert f"OU = {ou}" in text
    assert "1.2.3.4.5.6.7.8.1" in text
    assert '"hf.Type":"' + ou + '"' in text


def test_attributes_and_tls_extensions(out: Path) -> None:
    signer = SigningIdentity.from_msp_dir(out / "orgs/bank/users/Appraiser", "BankMSP")
    assert signer.identity.attributes == {
        "hf.EnrollmentID": "Appraiser",
        "hf.Type": "client",
        "role": "appraiser",
    }
    server = crypto.load_certificate_pem(
        (out / "orgs/core/peers/peer0/tls/server.crt").read_bytes()
    )
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) >= {"localhost", "peer0.core.scf.example"}
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    client = crypto.load_certificate_pem(
        (out / "orgs/core/users/User1/tls/client.crt").read_bytes()
    )
    eku = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ca = crypto.load_certificate_pem((out / "orgs/core/ca/ca-cert.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign


def test_generated_msps_accept_their_identities(out: Path) -> None:
    net = default_network_config()
    manager = MSPManager(
        MSP(MspConfig.from_dir(out / "orgs" / org.name / "msp", org.mspid)) for org in net.orgs
    )
    cases = [
        ("core", "peers/peer0", NodeOU.PEER),
        ("orderer", "orderers/orderer2", NodeOU.ORDERER),
        ("regulator", "users/Auditor1", NodeOU.CLIENT),
        ("govfund", "users/Admin", NodeOU.ADMIN),
    ]
    for org, rel, role in cases:
        mspid = net.org(org).mspid
        signer = SigningIdentity.from_msp_dir(out / "orgs" / org / rel, mspid)
        identity = manager.deserialize_identity(signer.serialize())
        assert identity.role is role
        assert identity.mspid == mspid
        identity.verify(b"block", signer.sign(b"block"))


def test_idempotent_and_force(tmp_path: Path) -> None:
    net = default_network_config()
    when = datetime(2030, 1, 1, tzinfo=UTC)
    first = generate(net, tmp_path, now=when)
    assert first.created
    assert not first.kept
    user_cert = tmp_path / "orgs/core/users/User1/msp/signcerts/cert.pem"
    before = user_cert.read_bytes()
    second = generate(net, tmp_path, now=when + timedelta(days=1))
    assert not second.created
    assert len(second.kept) == len(first.created)
    assert user_cert.read_bytes() == before
    # A missing piece is re-created alone, from the kept CA.
    user_cert.unlink()
    third = generate(net, tmp_path, now=when)
    assert user_cert in third.created
    assert (tmp_path / "orgs/core/ca/ca-cert.pem") in third.kept
    forced = generate(net, tmp_path, now=when, force=True)
    assert not forced.kept
    assert user_cert.read_bytes() != before


def test_regenerated_ca_reissues_leaves(tmp_path: Path) -> None:
    net = default_network_config()
    generate(net, tmp_path)
    (tmp_path / "orgs/bank/ca/priv_sk").unlink()
    report = generate(net, tmp_path)
    leaf = tmp_path / "orgs/bank/users/User1/msp/signcerts/cert.pem"
    assert leaf in report.created
    assert (tmp_path / "orgs/core/users/User1/msp/signcerts/cert.pem") in report.kept
    ca = crypto.load_certificate_pem((tmp_path / "orgs/bank/ca/ca-cert.pem").read_bytes())
    crypto.load_certificate_pem(leaf.read_bytes()).verify_directly_issued_by(ca)


def test_custom_config_via_cli(tmp_path: Path) -> None:
    config = tmp_path / "network.yaml"
    config.write_text(default_network_yaml())
    result = CliRunner().invoke(
        cli, ["crypto", "generate", "--config", str(config), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/orgs/warehouse/peers/peer0/tls/server.key").is_file()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("orgs: [\n", "not valid YAML"),
        (default_network_yaml().replace("kind: bank", "kind: factory", 1), "orgs[2].kind"),
    ],
    ids=["bad-yaml", "bad-kind"],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, content: str, needle: str) -> None:
    config = tmp_path / "network.yaml"
    config.write_text(content)
    result = CliRunner().invoke(
        cli, ["crypto", "generate", "--config", str(config), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "NETWORK_CONFIG_INVALID" in lines[0]
    assert needle in lines[0]
    assert not (tmp_path / "out").exists()


def test_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["crypto", "generate", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "NETWORK_CONFIG_NOT_FOUND" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
