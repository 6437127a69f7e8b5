"""Genesis blocks from network.yaml + generated crypto material."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.cryptogen import generate
from client.genesis import GenesisError, read_block, write_genesis_blocks
from client.netconfig import default_network_config
from common.config.bundle import ChannelBundle
from common.config.genesis import config_from_block
from common.msp import SigningIdentity
from common.policies import SignedData


@pytest.fixture(scope="module")
def network_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("net")
    generate(default_network_config(), root / "crypto")
    return root


def _user(root: Path, org: str, user: str, mspid: str) -> SigningIdentity:
    return SigningIdentity.from_msp_dir(
        root / "crypto" / "orgs" / org / "users" / user / "msp", mspid
    )


def test_default_network_genesis_describes_the_trade_channel(network_dir: Path) -> None:
    paths = write_genesis_blocks(
        default_network_config(), network_dir / "crypto", network_dir / "genesis"
    )
    config = config_from_block(read_block(paths["trade"]))
    assert config.channel_id == "trade"
    assert len(config.consenters) == 3
    assert {c.port for c in config.consenters} == {7050, 7060, 7070}
    kinds = config.org_kinds()
    assert kinds["RegulatorMSP"] == "regulator"
    assert kinds["CoreMSP"] == "core"
    assert set(config.chaincodes) >= {"receivable", "warehouse", "policy"}
    assert config.governance_approvers == ("CoreMSP", "RegulatorMSP")
    regulator = config.org("RegulatorMSP")
    assert regulator is not None
    assert "Writers" not in regulator.policies
    assert [p.endorser for p in regulator.peers] == [False]


def test_genesis_block_is_kept_once_written(network_dir: Path) -> None:
    out = network_dir / "genesis-keep"
    first = write_genesis_blocks(default_network_config(), network_dir / "crypto", out)["trade"]
    before = first.read_bytes()
    write_genesis_blocks(
        default_network_config(), network_dir / "crypto", out, timestamp_seconds=99
    )
    assert first.read_bytes() == before


def test_generated_identities_pass_the_channel_policies(network_dir: Path) -> None:
    paths = write_genesis_blocks(
        default_network_config(), network_dir / "crypto", network_dir / "g2"
    )
    bundle = ChannelBundle(config_from_block(read_block(paths["trade"])))
    data = b"request"
    supplier = _user(network_dir, "supplier1", "User1", "Supplier1MSP")
    auditor = _user(network_dir, "regulator", "Auditor1", "RegulatorMSP")
    assert bundle.evaluate(
        "Writers", [SignedData(supplier.serialize(), data, supplier.sign(data))]
    ).satisfied
    assert bundle.evaluate(
        "Readers", [SignedData(auditor.serialize(), data, auditor.sign(data))]
    ).satisfied
    assert not bundle.evaluate(
        "Writers", [SignedData(auditor.serialize(), data, auditor.sign(data))]
    ).satisfied


def test_missing_crypto_material_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GenesisError) as caught:
        write_genesis_blocks(default_network_config(), tmp_path / "nothing", tmp_path / "out")
    assert "scf crypto generate" in str(caught.value)
