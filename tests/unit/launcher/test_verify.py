"""`client.verify`: the per-block checks and the comparison across peers."""

from __future__ import annotations

import pytest

from client.genesis import read_block
from client.launcher import NetworkLayout
from client.netconfig import NetworkConfig
from client.verify import ChainResult, Divergence, VerifyReport, _Chain, _divergence
from common.block import BlockError, header_hash, new_block, sign_block
from common.msp import SigningIdentity
from protos.common import common_pb2


def _signer(layout: NetworkLayout, org: str, kind: str, name: str, mspid: str) -> SigningIdentity:
    return SigningIdentity.from_msp_dir(layout.crypto / "orgs" / org / kind / name / "msp", mspid)


def _chain_of(
    layout: NetworkLayout, n: int, signer: SigningIdentity | None = None
) -> list[common_pb2.Block]:
    signer = signer or _signer(layout, "orderer", "orderers", "orderer1", "OrdererMSP")
    blocks = [read_block(layout.genesis_block("trade"))]
    for i in range(1, n):
        block = new_block(i, header_hash(blocks[-1].header), [f"tx {i}".encode()])
        sign_block(block, signer, 0, nonce=bytes([i]) * 24)
        block.metadata.metadata[common_pb2.COMMIT_HASH] = f"commit {i}".encode()
        blocks.append(block)
    return blocks


def test_a_good_chain_verifies(prepared: tuple[NetworkLayout, NetworkConfig]) -> None:
    layout, _ = prepared
    chain = _Chain()
    for block in _chain_of(layout, 4):
        chain.add(block)
    assert chain.height == 4
    assert chain.commit_hashes[3] == b"commit 3"


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda b: b.data.data.append(b"extra"), "DATA_HASH_MISMATCH"),
        (lambda b: setattr(b.header, "previous_hash", b"\x00" * 32), "PREVIOUS_HASH_MISMATCH"),
        (lambda b: setattr(b.header, "number", 7), "BLOCK_OUT_OF_ORDER"),
        (lambda b: b.metadata.metadata.__setitem__(common_pb2.SIGNATURES, b""), "BAD_SIGNATURE"),
    ],
)
def test_tampered_block_is_caught(
    prepared: tuple[NetworkLayout, NetworkConfig], tamper: object, code: str
) -> None:
    layout, _ = prepared
    blocks = _chain_of(layout, 3)
    assert callable(tamper)
    tamper(blocks[2])
    chain = _Chain()
    chain.add(blocks[0])
    chain.add(blocks[1])
    with pytest.raises(BlockError) as info:
        chain.add(blocks[2])
    assert info.value.code == code


def test_block_signed_by_a_non_consenter_is_refused(
    prepared: tuple[NetworkLayout, NetworkConfig],
) -> None:
    layout, _ = prepared
    intruder = _signer(layout, "core", "peers", "peer0", "CoreMSP")
    blocks = _chain_of(layout, 2, intruder)
    chain = _Chain()
    chain.add(blocks[0])
    with pytest.raises(BlockError) as info:
        chain.add(blocks[1])
    assert info.value.code == "BAD_SIGNATURE"


def test_header_changed_after_signing_is_refused(
    prepared: tuple[NetworkLayout, NetworkConfig],
) -> None:
    layout, _ = prepared
    blocks = _chain_of(layout, 2)
    # Recompute a consistent data hash for other data: the signature no longer covers it.
    blocks[1].data.data[0] = b"forged"
    from common.block import data_hash

    blocks[1].header.data_hash = data_hash(blocks[1].data.data)
    chain = _Chain()
    chain.add(blocks[0])
    with pytest.raises(BlockError) as info:
        chain.add(blocks[1])
    assert info.value.code == "BAD_SIGNATURE"


def _result(peer: str, hashes: list[bytes], commits: list[bytes] | None = None) -> ChainResult:
    return ChainResult(
        peer, "org", "OK", len(hashes), tuple(hashes), tuple(commits or [b""] * len(hashes))
    )


def test_divergence_finds_the_first_differing_block() -> None:
    a = _result("a", [b"0", b"1", b"2"])
    b = _result("b", [b"0", b"1", b"X"])
    assert _divergence([a, b]) == Divergence(2, "header hash", (("a", "32"), ("b", "58")))
    c = _result("c", [b"0", b"1"], [b"", b"c1"])
    d = _result("d", [b"0", b"1", b"2"], [b"", b"d1", b""])
    found = _divergence([c, d])
    assert found is not None
    assert (found.block, found.what) == (1, "commit hash")


def test_height_mismatch_is_a_divergence_and_not_joined_is_skipped() -> None:
    a = _result("a", [b"0", b"1"])
    b = _result("b", [b"0"])
    found = _divergence([a, b])
    assert found is not None
    assert (found.block, found.what) == (1, "height")
    skipped = ChainResult("c", "org", "NOT_JOINED", 0, (), ())
    assert VerifyReport("trade", (a, skipped), _divergence([a, skipped])).ok
    failed = ChainResult("d", "org", "FAIL", 1, (b"0",), (b"",), "bad", 1)
    assert not VerifyReport("trade", (a, failed), None).ok
    assert not VerifyReport("trade", (skipped,), None).ok
