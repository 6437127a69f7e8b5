"""Test blocks whose envelopes carry their read/write sets, so a ledger can be
rebuilt from its blocks alone (the crash test's replay).

A test envelope is a Fabric `Envelope` whose payload has a channel header (tx id,
timestamp) and, as `data`, the bytes of a Fabric `TxReadWriteSet`. Real endorser
transactions nest the rwset deeper; the ledger does not care.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaincode.errors import ChaincodeError
from chaincode.stub import Creator, Timestamp
from common import block as blk
from peer.ledger import Ledger, Namespace, TxId, Write, rwset
from peer.validator.mvcc import BlockTx, MvccResult, validate_block
from protos.common import common_pb2

CC = Namespace("cc")
TS = Timestamp(1_750_000_000, 5)
CREATOR = Creator("CoreMSP", "client", "alice", {"role": "treasurer"})


def no_signatures(identity: bytes, data: bytes, signature: bytes) -> Creator:
    """A `check_signature` for tests without MSPs: every signature is refused."""
    raise ChaincodeError("INVALID_SIGNATURE", "no MSPs in this test")


@dataclass(frozen=True)
class Tx:
    tx_id: str
    rwset: rwset.TxRWSet
    timestamp: Timestamp = TS


def writes(*pairs: tuple[str, bytes | None], namespace: str = CC) -> rwset.TxRWSet:
    """A blind-write rwset: `(key, value)` pairs, `None` deleting the key."""
    ns = Namespace(namespace)
    return rwset.TxRWSet((rwset.NsRWSet(ns, writes=tuple(Write(ns, k, v) for k, v in pairs)),))


def envelope(tx: Tx) -> bytes:
    header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION, channel_id="trade", tx_id=tx.tx_id
    )
    header.timestamp.seconds = tx.timestamp.seconds
    header.timestamp.nanos = tx.timestamp.nanos
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=header.SerializeToString()),
        data=rwset.encode(tx.rwset),
    )
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


def parse(entry: bytes) -> BlockTx:
    payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(entry).payload)
    header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    return BlockTx(
        tx_id=TxId(header.tx_id),
        timestamp=Timestamp(header.timestamp.seconds, header.timestamp.nanos),
        rwset=rwset.decode(payload.data),
    )


def next_block(ledger: Ledger, entries: Sequence[bytes]) -> common_pb2.Block:
    height = ledger.height()
    previous = b""
    if height > 0:
        last = ledger.block(height - 1)
        assert last is not None
        previous = blk.header_hash(last.header)
    return blk.new_block(height, previous, list(entries))


def commit_block(
    ledger: Ledger, block: common_pb2.Block, pre_codes: Sequence[int] | None = None
) -> MvccResult:
    """Validate `block` against `ledger` (MVCC only) and commit it."""
    txs = [parse(entry) for entry in block.data.data]
    if pre_codes is not None:
        txs = [
            BlockTx(tx.tx_id, tx.timestamp, tx.rwset, code)
            for tx, code in zip(txs, pre_codes, strict=True)
        ]
    result = validate_block(block.header.number, txs, ledger)
    ledger.commit(block, result.codes, result.writes)
    return result


def commit(ledger: Ledger, txs: Sequence[Tx]) -> MvccResult:
    return commit_block(ledger, next_block(ledger, [envelope(tx) for tx in txs]))


def replay(source: Ledger, target: Ledger) -> None:
    """Re-validate and re-commit every block of `source` into `target`."""
    for block in source.blocks(0):
        fresh = common_pb2.Block()
        fresh.CopyFrom(block)
        del fresh.metadata.metadata[:]
        fresh.metadata.metadata.extend([b""] * blk.METADATA_SLOTS)
        commit_block(target, fresh)
