"""On-disk encodings, the commit-hash and state-hash recipes, and commit preparation.

Both ledgers (LevelDB and in-memory) use this module, so fed the same blocks they
produce byte-identical commit hashes and state hashes.

Key layout inside one channel's plyvel database (all integers big-endian):

* `blk/...`                       the `LevelBlockStore` (blocks, hash and txid index)
* `st/` ns16 ns key               → block(8) tx(4) value        versioned state
* `hi/` ns16 ns key32 key block(8) tx(4)
                                  → secs(8, signed) nanos(4) is_delete(1) txid16 txid value
* `ch/` block(8)                  → commit hash (32 bytes)
* `meta/savepoint`                → block(8) tx_count(4)

`ns16 ns` is the namespace's UTF-8 length (2 bytes) then its bytes, and `key32 key`
the key's UTF-8 length (4 bytes) then its bytes. The length prefixes are what make
any UTF-8 key safe, `\\x00` included (Fabric composite keys are full of them): a
namespace can never run into its key, and in the history one key's entries can
never be mistaken for those of a longer key sharing its prefix. In `st/` the key is
last and unprefixed, so within a namespace state iterates in key byte order, which
for UTF-8 is code-point order, which is Python's `str` order.

Commit hash of block n: the recipe in `common.commithash` (shared with the
regulator's independent verifier, which replays blocks into a fresh state),
where the block's state updates are the writes of its VALID transactions, the last
writer of a key winning. Two peers agree on commit hash n iff they agree on every
validation code and every state change of blocks `[0, n]`. Before the block is
stored, its metadata slot TRANSACTIONS_FILTER gets the codes (one byte per tx) and
slot COMMIT_HASH a serialised `common.Metadata{value: commit hash}`, as in Fabric.

State hash: `common.commithash.state_hash` over every live entry in `st/` key order.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chaincode.stub import KeyModification, Timestamp
from common import commithash
from common.block import METADATA_SLOTS
from peer.ledger.types import (
    Height,
    LedgerError,
    TxWrites,
    Version,
    VersionedValue,
)
from protos.common import common_pb2
from protos.peer import transaction_pb2

BLOCKS_PREFIX = b"blk/"
STATE_PREFIX = b"st/"
HISTORY_PREFIX = b"hi/"
COMMIT_HASH_PREFIX = b"ch/"
SAVEPOINT_KEY = b"meta/savepoint"

VALID = transaction_pb2.VALID

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_VERSION = struct.Struct(">QI")
_HEIGHT = struct.Struct(">QI")
_HISTORY_HEAD = struct.Struct(">qIBH")

StateKey = tuple[str, str]
"""(namespace, key)."""


def utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise LedgerError(f"{what} {text!r} is not valid UTF-8", code="INVALID_KEY") from None


@functools.lru_cache(maxsize=1024)  # a channel has a handful of chaincodes
def namespace_prefix(namespace: str) -> bytes:
    raw = utf8(namespace, "namespace")
    if len(raw) > 0xFFFF:
        raise LedgerError("namespace longer than 65535 bytes", code="INVALID_KEY")
    return _U16.pack(len(raw)) + raw


def state_key(namespace: str, key: str) -> bytes:
    return STATE_PREFIX + namespace_prefix(namespace) + utf8(key, "key")


def history_prefix(namespace: str, key: str) -> bytes:
    raw = utf8(key, "key")
    return HISTORY_PREFIX + namespace_prefix(namespace) + _U32.pack(len(raw)) + raw


def history_key(namespace: str, key: str, version: Version) -> bytes:
    return history_prefix(namespace, key) + _VERSION.pack(version.block_num, version.tx_num)


def commit_hash_key(block_num: int) -> bytes:
    return COMMIT_HASH_PREFIX + _U64.pack(block_num)


def upper_bound(prefix: bytes) -> bytes:
    """The smallest byte string greater than every string starting with `prefix`."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        raise LedgerError("no upper bound for an all-0xff prefix")
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def encode_state_value(value: bytes, version: Version) -> bytes:
    return _VERSION.pack(version.block_num, version.tx_num) + value


def decode_state_value(raw: bytes) -> VersionedValue:
    block_num, tx_num = _VERSION.unpack_from(raw)
    return VersionedValue(raw[_VERSION.size :], Version(block_num, tx_num))


def encode_history_value(change: KeyModification) -> bytes:
    txid = change.tx_id.encode()
    head = _HISTORY_HEAD.pack(
        change.timestamp.seconds, change.timestamp.nanos, change.is_delete, len(txid)
    )
    return head + txid + change.value


def decode_history_value(raw: bytes) -> KeyModification:
    seconds, nanos, is_delete, txid_len = _HISTORY_HEAD.unpack_from(raw)
    start = _HISTORY_HEAD.size
    txid = raw[start : start + txid_len].decode()
    return KeyModification(
        tx_id=txid,
        value=raw[start + txid_len :],
        timestamp=Timestamp(seconds, nanos),
        is_delete=bool(is_delete),
    )


def encode_height(height: Height) -> bytes:
    return _HEIGHT.pack(height.block_num, height.tx_count)


def decode_height(raw: bytes) -> Height:
    block_num, tx_count = _HEIGHT.unpack(raw)
    return Height(block_num, tx_count)


def state_hash(entries: Iterable[tuple[str, str, VersionedValue]]) -> bytes:
    """The state hash over `(namespace, key, value)` given in `st/` key order."""
    return commithash.state_hash(
        (ns, key, v.value, v.version.block_num, v.version.tx_num) for ns, key, v in entries
    )


@dataclass(frozen=True)
class HistoryEntry:
    namespace: str
    key: str
    version: Version
    change: KeyModification


@dataclass(frozen=True)
class PreparedCommit:
    """What committing one block writes besides the block itself.

    `updates` maps each changed (namespace, key) to its new value and version, or to
    `None` when the key is deleted; `history` holds one entry per (tx, key) written.
    """

    block_num: int
    updates: Mapping[StateKey, VersionedValue | None]
    history: tuple[HistoryEntry, ...]
    commit_hash: bytes
    savepoint: Height


def prepare_commit(
    block: common_pb2.Block,
    codes: Sequence[int],
    txs: Sequence[TxWrites],
    expected_number: int,
    previous_hash: bytes,
) -> PreparedCommit:
    """Check the inputs, compute the block's effects and commit hash, and write the
    TRANSACTIONS_FILTER and COMMIT_HASH metadata slots into `block` (in place).

    Raises `LedgerError` if the block is not the next one, if `codes` does not have
    one entry per transaction, or if `txs` holds a transaction that is not VALID, is
    out of range or out of block order.
    """
    number = block.header.number
    if number != expected_number:
        raise LedgerError(
            f"cannot commit block {number}: the ledger's height is {expected_number}",
            code="BLOCK_OUT_OF_ORDER",
        )
    count = len(block.data.data)
    if len(codes) != count:
        raise LedgerError(
            f"block {number} has {count} transactions but {len(codes)} validation codes",
            code="BAD_VALIDATION_CODES",
        )
    if any(not 0 <= code <= 255 for code in codes):
        raise LedgerError(f"block {number}: validation code out of range", code="BAD_CODE")
    updates: dict[StateKey, VersionedValue | None] = {}
    history: list[HistoryEntry] = []
    last_tx = -1
    for tx in txs:
        if not last_tx < tx.tx_num < count:
            raise LedgerError(
                f"block {number}: write set for tx {tx.tx_num} is out of range or order",
                code="BAD_WRITE_SET",
            )
        if codes[tx.tx_num] != VALID:
            raise LedgerError(
                f"block {number}: tx {tx.tx_num} has writes but code {codes[tx.tx_num]}",
                code="BAD_WRITE_SET",
            )
        last_tx = tx.tx_num
        version = Version(number, tx.tx_num)
        tx_updates: dict[StateKey, bytes | None] = {}
        for write in tx.writes:
            tx_updates[(write.namespace, write.key)] = write.value
        for (namespace, key), value in tx_updates.items():
            updates[(namespace, key)] = None if value is None else VersionedValue(value, version)
            change = KeyModification(tx.tx_id, value or b"", tx.timestamp, value is None)
            history.append(HistoryEntry(namespace, key, version, change))
    digest = commit_hash(previous_hash, number, bytes(codes), updates)
    _set_metadata(block, bytes(codes), digest)
    return PreparedCommit(
        block_num=number,
        updates=updates,
        history=tuple(history),
        commit_hash=digest,
        savepoint=Height(number, count),
    )


def commit_hash(
    previous: bytes,
    block_num: int,
    codes: bytes,
    updates: Mapping[StateKey, VersionedValue | None],
) -> bytes:
    """`common.commithash.commit_hash` over the block's updates."""
    for namespace, key in updates:
        utf8(namespace, "namespace")
        utf8(key, "key")
    return commithash.commit_hash(
        previous,
        block_num,
        codes,
        {k: (None if v is None else v.value) for k, v in updates.items()},
    )


def _set_metadata(block: common_pb2.Block, codes: bytes, digest: bytes) -> None:
    missing = METADATA_SLOTS - len(block.metadata.metadata)
    if missing > 0:
        block.metadata.metadata.extend([b""] * missing)
    block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = codes
    # Fabric stores the commit hash as a serialised Metadata{value}.
    block.metadata.metadata[common_pb2.COMMIT_HASH] = common_pb2.Metadata(
        value=digest
    ).SerializeToString(deterministic=True)


def block_commit_hash(block: common_pb2.Block) -> bytes | None:
    """The commit hash written into a committed block's COMMIT_HASH slot."""
    if len(block.metadata.metadata) <= common_pb2.COMMIT_HASH:
        return None
    raw = block.metadata.metadata[common_pb2.COMMIT_HASH]
    return common_pb2.Metadata.FromString(raw).value if raw else None
