"""The block-store interface and what every implementation shares.

A store holds blocks `[0, height)` with no gaps: block `n` can only be appended
when the height is `n`. Besides blocks by number it indexes them by header hash
and their transactions by txid (first occurrence only: a later duplicate txid is
an invalid transaction and is not indexed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from common.errors import ScfError
from protos.common import common_pb2
from protos.peer import transaction_pb2


class BlockStoreError(ScfError):
    code = "BLOCK_STORE"


@dataclass(frozen=True)
class TxLocation:
    """Where a transaction is: block number, position in the block, validation code."""

    block_number: int
    tx_index: int
    validation_code: int


class BlockStore(Protocol):
    def height(self) -> int:
        """Number of blocks stored; the next block to append has this number."""
        ...

    def append(self, block: common_pb2.Block) -> None:
        """Store `block` durably; when this returns the block survives a crash."""
        ...

    def block_bytes(self, number: int) -> bytes | None: ...

    def block(self, number: int) -> common_pb2.Block | None: ...

    def block_by_hash(self, block_hash: bytes) -> common_pb2.Block | None: ...

    def tx_location(self, txid: str) -> TxLocation | None: ...

    def blocks(self, start: int, stop: int | None = None) -> Iterator[common_pb2.Block]:
        """Blocks numbered in `[start, min(stop, height))`, ascending."""
        ...


def check_next(block: common_pb2.Block, height: int, last_hash: bytes | None) -> None:
    """Refuse a block that would leave a gap or break the hash chain."""
    number = block.header.number
    if number != height:
        raise BlockStoreError(
            f"cannot append block {number}: the store's height is {height}",
            code="BLOCK_OUT_OF_ORDER",
        )
    if last_hash is not None and block.header.previous_hash != last_hash:
        raise BlockStoreError(
            f"block {number}: previous_hash does not match block {number - 1}",
            code="PREVIOUS_HASH_MISMATCH",
        )


def tx_ids(block: common_pb2.Block) -> list[str]:
    """The txid of each envelope in the block ('' where it cannot be read)."""
    ids = []
    for entry in block.data.data:
        try:
            envelope = common_pb2.Envelope.FromString(entry)
            payload = common_pb2.Payload.FromString(envelope.payload)
            channel_header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
            ids.append(channel_header.tx_id)
        except Exception:  # a malformed envelope is the validator's business, not ours
            ids.append("")
    return ids


def validation_codes(block: common_pb2.Block) -> bytes:
    """The TRANSACTIONS_FILTER metadata (one code per tx), zeros when absent."""
    count = len(block.data.data)
    if len(block.metadata.metadata) > common_pb2.TRANSACTIONS_FILTER:
        codes = bytes(block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER])
        if len(codes) == count:
            return codes
    return bytes(count)


def index_entries(block: common_pb2.Block) -> Iterator[tuple[str, TxLocation]]:
    """(txid, location) to index for each txid in the block.

    An occurrence marked DUPLICATE_TXID is never indexed; among the others, the
    first VALID one wins over earlier invalid ones (the validator marks a repeat as
    a duplicate only of a still-valid transaction), else the first one.
    """
    codes = validation_codes(block)
    chosen: dict[str, TxLocation] = {}
    for position, txid in enumerate(tx_ids(block)):
        code = codes[position]
        if not txid or code == transaction_pb2.DUPLICATE_TXID:
            continue
        current = chosen.get(txid)
        if current is None or (
            current.validation_code != transaction_pb2.VALID and code == transaction_pb2.VALID
        ):
            chosen[txid] = TxLocation(block.header.number, position, code)
    yield from chosen.items()
