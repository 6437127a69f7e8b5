"""Block construction, hashing and orderer signatures, as Fabric does them.

* Header hash: SHA-256 over DER `SEQUENCE(number, previous_hash, data_hash)`.
* Data hash: SHA-256 over the concatenation of the block's data entries
  (Fabric's `protoutil.ComputeBlockDataHash`).
* Merkle root: a binary SHA-256 tree over the entries, kept beside the data hash
  (never instead of it) so that one transaction's inclusion can be proven with a
  logarithmic path. Leaves are `H(0x00 ‖ entry)`, inner nodes `H(0x01 ‖ l ‖ r)`,
  and an odd node is promoted unchanged (RFC 6962 style, no duplication).
* Orderer signature, metadata slot SIGNATURES: `Metadata{value, signatures}` where
  `value` is an `OrdererBlockMetadata{last_config}` and each signature covers
  `value ‖ signature_header ‖ header_der`.

Signatures are verified over the exact bytes stored in the block; nothing is
re-serialised to check it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from common import der
from common.errors import ScfError
from protos.common import common_pb2

METADATA_SLOTS = 5
"""Fabric allocates one metadata entry per `BlockMetadataIndex` value (0..4)."""


class BlockError(ScfError):
    code = "BAD_BLOCK"


def header_der(header: common_pb2.BlockHeader) -> bytes:
    return der.sequence(
        der.integer(header.number),
        der.octet_string(header.previous_hash),
        der.octet_string(header.data_hash),
    )


def header_hash(header: common_pb2.BlockHeader) -> bytes:
    return hashlib.sha256(header_der(header)).digest()


def data_hash(entries: Sequence[bytes]) -> bytes:
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(entry)
    return digest.digest()


def merkle_root(entries: Sequence[bytes]) -> bytes:
    """Root of the transaction Merkle tree; SHA-256 of nothing for no entries."""
    if not entries:
        return hashlib.sha256(b"").digest()
    level = [hashlib.sha256(b"\x00" + entry).digest() for entry in entries]
    while len(level) > 1:
        level = _merkle_parents(level)
    return level[0]


def merkle_path(entries: Sequence[bytes], index: int) -> list[tuple[bool, bytes]]:
    """Sibling hashes from leaf `index` up to the root; `True` marks a left sibling."""
    if not 0 <= index < len(entries):
        raise IndexError(f"entry {index} not in [0, {len(entries)})")
    level = [hashlib.sha256(b"\x00" + entry).digest() for entry in entries]
    path: list[tuple[bool, bytes]] = []
    position = index
    while len(level) > 1:
        sibling = position ^ 1
        if sibling < len(level):
            path.append((sibling < position, level[sibling]))
        level = _merkle_parents(level)
        position //= 2
    return path


def verify_merkle_path(entry: bytes, path: Sequence[tuple[bool, bytes]], root: bytes) -> bool:
    node = hashlib.sha256(b"\x00" + entry).digest()
    for is_left, sibling in path:
        pair = sibling + node if is_left else node + sibling
        node = hashlib.sha256(b"\x01" + pair).digest()
    return node == root


def _merkle_parents(level: list[bytes]) -> list[bytes]:
    parents = [
        hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
        for i in range(0, len(level) - 1, 2)
    ]
    if len(level) % 2:
        parents.append(level[-1])
    return parents


def new_block(number: int, previous_hash: bytes, entries: Sequence[bytes]) -> common_pb2.Block:
    """An unsigned block over `entries` (serialized envelopes), metadata slots empty."""
    block = common_pb2.Block()
    block.header.number = number
    block.header.previous_hash = previous_hash
    block.header.data_hash = data_hash(entries)
    block.data.data.extend(entries)
    block.metadata.metadata.extend([b""] * METADATA_SLOTS)
    return block


class BlockSigner(Protocol):
    """An orderer's signing identity."""

    def serialize(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


def sign_block(
    block: common_pb2.Block, signer: BlockSigner, last_config: int, nonce: bytes
) -> None:
    """Put the orderer's signature into metadata slot SIGNATURES."""
    value = common_pb2.OrdererBlockMetadata(
        last_config=common_pb2.LastConfig(index=last_config)
    ).SerializeToString(deterministic=True)
    signature_header = common_pb2.SignatureHeader(
        creator=signer.serialize(), nonce=nonce
    ).SerializeToString(deterministic=True)
    signature = signer.sign(value + signature_header + header_der(block.header))
    metadata = common_pb2.Metadata(
        value=value,
        signatures=[
            common_pb2.MetadataSignature(signature_header=signature_header, signature=signature)
        ],
    )
    _ensure_slots(block)
    block.metadata.metadata[common_pb2.SIGNATURES] = metadata.SerializeToString(deterministic=True)


@dataclass(frozen=True)
class BlockSignature:
    """One signature found in a block's SIGNATURES slot, with the bytes it covers."""

    creator: bytes
    signed_bytes: bytes
    signature: bytes


def block_signatures(block: common_pb2.Block) -> list[BlockSignature]:
    """Every orderer signature of the block, each with the exact bytes it signs."""
    if len(block.metadata.metadata) <= common_pb2.SIGNATURES:
        raise BlockError(f"block {block.header.number} has no SIGNATURES metadata")
    try:
        metadata = common_pb2.Metadata.FromString(block.metadata.metadata[common_pb2.SIGNATURES])
    except Exception as exc:  # protobuf raises DecodeError (a plain Exception subclass)
        raise BlockError(f"block {block.header.number}: SIGNATURES metadata: {exc}") from None
    hdr = header_der(block.header)
    found = []
    for entry in metadata.signatures:
        try:
            sig_header = common_pb2.SignatureHeader.FromString(entry.signature_header)
        except Exception as exc:
            raise BlockError(f"block {block.header.number}: signature header: {exc}") from None
        found.append(
            BlockSignature(
                creator=sig_header.creator,
                signed_bytes=metadata.value + entry.signature_header + hdr,
                signature=entry.signature,
            )
        )
    return found


def last_config_index(block: common_pb2.Block) -> int:
    metadata = common_pb2.Metadata.FromString(block.metadata.metadata[common_pb2.SIGNATURES])
    return common_pb2.OrdererBlockMetadata.FromString(metadata.value).last_config.index


def verify_chain_link(previous: common_pb2.Block, block: common_pb2.Block) -> None:
    """Raise `BlockError` unless `block` follows `previous` and its data hash is right."""
    if block.header.number != previous.header.number + 1:
        raise BlockError(
            f"block {block.header.number} does not follow block {previous.header.number}",
            code="BLOCK_OUT_OF_ORDER",
        )
    if block.header.previous_hash != header_hash(previous.header):
        raise BlockError(
            f"block {block.header.number}: previous_hash does not match block "
            f"{previous.header.number}'s header hash",
            code="PREVIOUS_HASH_MISMATCH",
        )
    verify_data_hash(block)


def verify_data_hash(block: common_pb2.Block) -> None:
    if block.header.data_hash != data_hash(block.data.data):
        raise BlockError(
            f"block {block.header.number}: data_hash does not match its data",
            code="DATA_HASH_MISMATCH",
        )


def _ensure_slots(block: common_pb2.Block) -> None:
    missing = METADATA_SLOTS - len(block.metadata.metadata)
    if missing > 0:
        block.metadata.metadata.extend([b""] * missing)
