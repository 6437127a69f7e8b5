"""The committer: verify a block, validate its transactions, commit it atomically,
then tell listeners (Fabric's `committer` + `ledger` event hooks).

Order for each block (one block at a time; the committer is the ledger's only writer):

1. `blockcheck.verify_block`: next number, previous hash, data hash, orderer
   signatures (BlockValidation). A failure raises `BlockRefused`: nothing is
   written, the committer stays usable for the next (correct) block.
   The genesis block (number 0) carries no orderer signature; it is accepted when it
   is the config block of this channel.
2. `BlockValidator.validate`: one TxValidationCode per transaction and the writes
   of the VALID ones.
3. ONE `Ledger.commit(block, codes, writes)` call: block, codes, state, history, tx
   index and savepoint in one atomic batch.
4. Listeners, in registration order, get a `BlockCommitted` (block events,
   chaincode events of VALID transactions, tx statuses, and per transaction the
   validator's parse of it, `TxInfo`, so no listener parses an envelope again).
   A listener that raises is logged and skipped: the block is committed whatever
   listeners do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from common import block as blk
from common.blockstore import TxLocation
from common.config.bundle import ChannelBundle
from common.config.channel import ChannelConfigError
from common.config.genesis import config_from_block
from common.crashpoints import crash_point
from peer.ledger.types import TxWrites, VersionedValue
from peer.validator.blockcheck import BlockRefused, verify_block
from peer.validator.validator import BlockValidator, TxInfo
from protos.common import common_pb2
from protos.peer import chaincode_event_pb2, transaction_pb2

__all__ = [
    "BlockCommitted",
    "ChaincodeEvent",
    "CommitLedger",
    "CommitListener",
    "Committer",
    "TxStatus",
    "TxStatusWaiters",
]

log = logging.getLogger(__name__)

VALID = transaction_pb2.VALID


class CommitLedger(Protocol):
    """What the committer needs of a channel's ledger (`peer.ledger.Ledger` has it)."""

    def height(self) -> int: ...

    def block(self, number: int) -> common_pb2.Block | None: ...

    def get_state(self, namespace: str, key: str) -> VersionedValue | None: ...

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        """Keys in `[start, end)` ascending; empty `end` = to the namespace's end."""
        ...

    def tx_location(self, txid: str) -> TxLocation | None: ...

    def commit(
        self, block: common_pb2.Block, codes: Sequence[int], txs: Sequence[TxWrites]
    ) -> bytes: ...


@dataclass(frozen=True)
class ChaincodeEvent:
    """The event a VALID transaction's chaincode set."""

    block_num: int
    tx_num: int
    tx_id: str
    chaincode: str
    name: str
    payload: bytes


@dataclass(frozen=True)
class TxStatus:
    tx_id: str
    code: int
    block_num: int
    tx_num: int


@dataclass(frozen=True)
class BlockCommitted:
    """A committed block (its TRANSACTIONS_FILTER and COMMIT_HASH slots filled) and
    what listeners derive from it. `txs` holds one `TxInfo` per envelope, in block
    order, its `code` the one stored in TRANSACTIONS_FILTER (events built by hand
    may hold none: listeners then read the block)."""

    block: common_pb2.Block
    commit_hash: bytes
    txs: tuple[TxInfo, ...]

    @property
    def number(self) -> int:
        return self.block.header.number

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(tx.code for tx in self.txs)

    def statuses(self) -> list[TxStatus]:
        """Each transaction with a txid, its code and position (duplicates included)."""
        return [TxStatus(t.tx_id, t.code, self.number, t.tx_num) for t in self.txs if t.tx_id]

    def chaincode_events(self) -> list[ChaincodeEvent]:
        """Events of VALID transactions only, in block order."""
        events = []
        for tx in self.txs:
            if tx.code != VALID or not tx.event_bytes:
                continue
            event = chaincode_event_pb2.ChaincodeEvent.FromString(tx.event_bytes)
            events.append(
                ChaincodeEvent(
                    self.number, tx.tx_num, tx.tx_id, tx.chaincode, event.event_name, event.payload
                )
            )
        return events


class CommitListener(Protocol):
    """Told about every committed block, in block order, on the committing thread;
    must be quick (hand work to another thread)."""

    def block_committed(self, event: BlockCommitted) -> None: ...


class Committer:
    """Validates and commits the blocks of one channel, in order. Not re-entrant:
    one thread (the deliver client's) calls `commit_block`."""

    def __init__(
        self,
        ledger: CommitLedger,
        bundle: ChannelBundle,
        *,
        validator: BlockValidator | None = None,
        listeners: Iterable[CommitListener] = (),
    ) -> None:
        self._ledger = ledger
        self._bundle = bundle
        self._validator = validator or BlockValidator(bundle)
        self._listeners: list[CommitListener] = list(listeners)
        self._lock = threading.Lock()
        height = ledger.height()
        last = ledger.block(height - 1) if height > 0 else None
        self._previous_hash = blk.header_hash(last.header) if last is not None else b""

    def add_listener(self, listener: CommitListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: CommitListener) -> None:
        with self._lock:
            self._listeners.remove(listener)

    def close(self) -> None:
        """Release the validator's workers (the ledger belongs to the caller)."""
        self._validator.close()

    def commit_block(self, block: common_pb2.Block) -> BlockCommitted:
        """Verify, validate and commit `block`; raises `BlockRefused` for a bad block."""
        height = self._ledger.height()
        if height == 0:
            txs = self._genesis(block)
            codes: tuple[int, ...] = tuple(tx.code for tx in txs)
            writes: tuple[TxWrites, ...] = ()
        else:
            verify_block(
                block, self._bundle, expected_number=height, previous_hash=self._previous_hash
            )
            crash_point("committer.before_validate")
            validated = self._validator.validate(block, self._ledger)
            txs, codes, writes = validated.txs, validated.codes, validated.writes
            crash_point("committer.after_validate")
        commit_hash = self._ledger.commit(block, codes, writes)
        crash_point("committer.after_commit")
        self._previous_hash = blk.header_hash(block.header)
        event = BlockCommitted(block, commit_hash, txs)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener.block_committed(event)
            except Exception:
                log.exception("commit listener %r failed on block %d", listener, event.number)
        return event

    def _genesis(self, block: common_pb2.Block) -> tuple[TxInfo, ...]:
        number = block.header.number
        if number != 0:
            raise BlockRefused(number, "expected the genesis block 0", code="BLOCK_OUT_OF_ORDER")
        if block.header.data_hash != blk.data_hash(block.data.data):
            raise BlockRefused(0, "data_hash does not match its data", code="DATA_HASH_MISMATCH")
        try:
            config = config_from_block(block)
        except ChannelConfigError as exc:
            raise BlockRefused(0, f"not a config block: {exc}", code="BAD_GENESIS") from None
        if config.channel_id != self._bundle.channel_id:
            raise BlockRefused(
                0,
                f"genesis of channel {config.channel_id}, not {self._bundle.channel_id}",
                code="BAD_GENESIS",
            )
        return (TxInfo(0, "", VALID),)


class TxStatusWaiters:
    """A `CommitListener` that lets threads wait for a transaction's commit status
    (what the Gateway's CommitStatus needs).

    `wait` registers before it looks the txid up in the ledger, so a transaction
    committed in between is not missed.
    """

    def __init__(self, ledger: CommitLedger | None = None) -> None:
        self._ledger = ledger
        self._cond = threading.Condition()
        self._waiting: dict[str, int] = {}
        self._done: dict[str, TxStatus] = {}

    def block_committed(self, event: BlockCommitted) -> None:
        with self._cond:
            if not self._waiting:
                return
            for status in event.statuses():
                if status.tx_id in self._waiting and status.tx_id not in self._done:
                    self._done[status.tx_id] = status
            self._cond.notify_all()

    def wait(self, tx_id: str, timeout: float | None = None) -> TxStatus | None:
        """The status of `tx_id` once committed, or None after `timeout` seconds."""
        with self._cond:
            self._waiting[tx_id] = self._waiting.get(tx_id, 0) + 1
        try:
            if self._ledger is not None:
                location = self._ledger.tx_location(tx_id)
                if location is not None:
                    return TxStatus(
                        tx_id, location.validation_code, location.block_number, location.tx_index
                    )
            with self._cond:
                self._cond.wait_for(lambda: tx_id in self._done, timeout)
                return self._done.get(tx_id)
        finally:
            with self._cond:
                self._waiting[tx_id] -= 1
                if not self._waiting[tx_id]:
                    del self._waiting[tx_id]
                    self._done.pop(tx_id, None)
