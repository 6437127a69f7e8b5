"""Chaincode events for the Gateway's ChaincodeEvents: read from committed blocks,
block by block, then follow new commits.

Every block is read from the ledger (`BlockSource`), old or new; commit
notifications only wake the follower up. So replay and live streaming are the same
code path and a block committed while the stream catches up is never missed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from common import txutil
from common.blockstore.base import validation_codes
from peer.committer import BlockCommitted
from peer.gateway.support import BlockSource
from protos.gateway import gateway_pb2
from protos.orderer import ab_pb2
from protos.peer import chaincode_event_pb2, transaction_pb2

__all__ = ["BlockWakeup", "block_events", "follow_events", "start_block"]

POLL_SECONDS = 1.0
"""How often a waiting stream re-checks whether its client is still there."""


def start_block(position: ab_pb2.SeekPosition, height: int, *, has_position: bool) -> int:
    """The first block to read: `specified` → its number, `oldest` → 0, `newest` →
    the last committed block; no position → the next block to be committed
    (`height`), as Fabric's gateway does."""
    if not has_position:
        return height
    kind = position.WhichOneof("Type")
    if kind == "specified":
        return int(position.specified.number)
    if kind == "oldest":
        return 0
    if kind == "newest":
        return max(height - 1, 0)
    return height


def block_events(
    block_entries: list[bytes], codes: bytes, chaincode: str, *, after_tx_id: str = ""
) -> list[chaincode_event_pb2.ChaincodeEvent]:
    """The events `chaincode` set in VALID transactions of one block, in block order.

    With `after_tx_id`, events of transactions up to and including the one with that
    id are skipped (if the block holds no such transaction, none are skipped).
    """
    events: list[chaincode_event_pb2.ChaincodeEvent] = []
    for index, entry in enumerate(block_entries):
        code = codes[index] if index < len(codes) else transaction_pb2.INVALID_OTHER_REASON
        if after_tx_id:
            try:
                tx_id = txutil.parse_envelope_header(entry).channel_header.tx_id
            except txutil.EnvelopeError:
                tx_id = ""
            if tx_id == after_tx_id:
                # Everything so far belongs to transactions at or before the
                # checkpoint: drop it and emit from the next transaction on.
                events.clear()
                after_tx_id = ""
                continue
        if code != transaction_pb2.VALID:
            continue
        try:
            tx = txutil.parse_transaction(entry)
        except txutil.EnvelopeError:
            continue
        if not tx.event_bytes:
            continue
        try:
            event = chaincode_event_pb2.ChaincodeEvent.FromString(tx.event_bytes)
        except Exception:  # a VALID tx with an unreadable event: skip the event only
            continue
        if not event.chaincode_id:
            event.chaincode_id = tx.action_chaincode or tx.chaincode
        if not event.tx_id:
            event.tx_id = tx.tx_id
        if event.chaincode_id == chaincode:
            events.append(event)
    return events


class BlockWakeup:
    """A `CommitListener` that wakes waiting streams when a block commits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0

    def block_committed(self, event: BlockCommitted) -> None:
        self.poke()

    def poke(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def generation(self) -> int:
        with self._cond:
            return self._generation

    def wait(self, seen: int, timeout: float) -> None:
        """Return once poked after generation `seen`, or after `timeout` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != seen, timeout)


def follow_events(
    blocks: BlockSource,
    wakeup: BlockWakeup,
    chaincode: str,
    start: int,
    *,
    after_tx_id: str = "",
    active: Callable[[], bool],
) -> Iterator[gateway_pb2.ChaincodeEventsResponse]:
    """One response per block from `start` on that has events of `chaincode`,
    forever, until `active()` turns false (the client went away). `after_tx_id`
    applies to the start block only. `wakeup` must be registered for commits
    before this is called, so no commit goes unnoticed."""
    number = start
    while active():
        seen = wakeup.generation()
        if number >= blocks.height():
            wakeup.wait(seen, POLL_SECONDS)
            continue
        block = blocks.block(number)
        if block is None:  # height moved under us (cannot shrink): re-check
            wakeup.wait(seen, POLL_SECONDS)
            continue
        events = block_events(
            list(block.data.data),
            validation_codes(block),
            chaincode,
            after_tx_id=after_tx_id if number == start else "",
        )
        if events:
            yield gateway_pb2.ChaincodeEventsResponse(events=events, block_number=number)
        number += 1
