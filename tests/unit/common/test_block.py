"""Block hashing and signatures: Fabric's recipes, a verified chain, tampering caught."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from common import block as blk
from common import der
from protos.common import common_pb2


class _Signer:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    def serialize(self) -> bytes:
        return b"orderer0-identity"

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def verify(self, data: bytes, signature: bytes) -> None:
        self.key.public_key().verify(signature, data, ec.ECDSA(hashes.SHA256()))


def _chain(length: int, signer: _Signer) -> list[common_pb2.Block]:
    chain: list[common_pb2.Block] = []
    previous = b""
    for number in range(length):
        entries = [f"tx-{number}-{i}".encode() for i in range(3)]
        block = blk.new_block(number, previous, entries)
        blk.sign_block(block, signer, last_config=0, nonce=bytes(24))
        chain.append(block)
        previous = blk.header_hash(block.header)
    return chain


def test_der_integer_is_minimal_twos_complement() -> None:
    assert der.integer(0) == b"\x02\x01\x00"
    assert der.integer(127) == b"\x02\x01\x7f"
    assert der.integer(128) == b"\x02\x02\x00\x80"
    assert der.integer(256) == b"\x02\x02\x01\x00"


def test_header_hash_is_sha256_of_der_sequence() -> None:
    header = common_pb2.BlockHeader(number=1, previous_hash=b"\xaa" * 32, data_hash=b"\xbb" * 32)
    expected_der = (
        b"\x30\x47"  # SEQUENCE, 71 bytes
        + b"\x02\x01\x01"
        + b"\x04\x20"
        + b"\xaa" * 32
        + b"\x04\x20"
        + b"\xbb" * 32
    )
    assert blk.header_der(header) == expected_der
    assert blk.header_hash(header) == hashlib.sha256(expected_der).digest()


def test_data_hash_is_sha256_of_concatenated_entries() -> None:
    assert blk.data_hash([b"ab", b"cd"]) == hashlib.sha256(b"abcd").digest()


def test_chain_verifies_and_signatures_cover_exact_bytes() -> None:
    signer = _Signer()
    chain = _chain(4, signer)
    for previous, current in itertools.pairwise(chain):
        blk.verify_chain_link(previous, current)
    for block in chain:
        (signature,) = blk.block_signatures(block)
        assert signature.creator == b"orderer0-identity"
        signer.verify(signature.signed_bytes, signature.signature)
        assert blk.last_config_index(block) == 0


def test_tampered_data_is_detected() -> None:
    chain = _chain(3, _Signer())
    chain[1].data.data[0] = b"forged"
    with pytest.raises(blk.BlockError) as caught:
        blk.verify_chain_link(chain[0], chain[1])
    assert caught.value.code == "DATA_HASH_MISMATCH"


def test_tampered_header_breaks_the_next_link_and_the_signature() -> None:
    signer = _Signer()
    chain = _chain(3, signer)
    chain[1].header.data_hash = hashlib.sha256(b"other").digest()
    with pytest.raises(blk.BlockError) as caught:
        blk.verify_chain_link(chain[1], chain[2])
    assert caught.value.code == "PREVIOUS_HASH_MISMATCH"
    (signature,) = blk.block_signatures(chain[1])
    with pytest.raises(InvalidSignature):
        signer.verify(signature.signed_bytes, signature.signature)


def test_missing_or_garbled_signatures_metadata_is_a_named_error() -> None:
    block = blk.new_block(0, b"", [b"x"])
    block.metadata.metadata[common_pb2.SIGNATURES] = b"\xff\xff\xff"
    with pytest.raises(blk.BlockError):
        blk.block_signatures(block)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13])
def test_merkle_paths_prove_every_entry(count: int) -> None:
    entries = [f"tx{i}".encode() for i in range(count)]
    root = blk.merkle_root(entries)
    for index, entry in enumerate(entries):
        path = blk.merkle_path(entries, index)
        assert blk.verify_merkle_path(entry, path, root)
        assert not blk.verify_merkle_path(b"forged", path, root)
