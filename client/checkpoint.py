"""Checkpointers: where an event listener has got to, so it resumes after a restart.

Fabric-gateway's model: a checkpoint is the next block to read plus, within it, the
last transaction already processed. The application calls `checkpoint_block` once it
has processed a whole block, and `checkpoint_chaincode_event` (or
`checkpoint_transaction`) after each event; passing the checkpointer to
`Network.block_events` / `Network.chaincode_events` resumes from it (the events of
the checkpointed transaction and those before it in its block are not re-delivered).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Protocol

from client.events import ChaincodeEvent
from common.errors import ScfError

__all__ = ["CheckpointError", "Checkpointer", "FileCheckpointer", "InMemoryCheckpointer"]


class CheckpointError(ScfError):
    code = "CHECKPOINT_UNREADABLE"


class Checkpointer(Protocol):
    @property
    def block_number(self) -> int | None:
        """The block to resume from (None: no checkpoint yet)."""
        ...

    @property
    def transaction_id(self) -> str:
        """The last processed transaction in `block_number` ('' if none)."""
        ...

    def checkpoint_block(self, block_number: int) -> None: ...

    def checkpoint_transaction(self, block_number: int, transaction_id: str) -> None: ...

    def checkpoint_chaincode_event(self, event: ChaincodeEvent) -> None: ...


class InMemoryCheckpointer:
    """A checkpointer that forgets on exit (for tests and short-lived listeners)."""

    def __init__(self) -> None:
        self._block: int | None = None
        self._txid = ""

    @property
    def block_number(self) -> int | None:
        return self._block

    @property
    def transaction_id(self) -> str:
        return self._txid

    def checkpoint_block(self, block_number: int) -> None:
        """Block `block_number` is done: resume from the next one."""
        self._set(block_number + 1, "")

    def checkpoint_transaction(self, block_number: int, transaction_id: str) -> None:
        """`transaction_id` in `block_number` is done: resume after it."""
        self._set(block_number, transaction_id)

    def checkpoint_chaincode_event(self, event: ChaincodeEvent) -> None:
        self.checkpoint_transaction(event.block_number, event.transaction_id)

    def _set(self, block_number: int, transaction_id: str) -> None:
        self._block, self._txid = block_number, transaction_id


class FileCheckpointer(InMemoryCheckpointer):
    """A checkpointer kept in a JSON file `{"blockNumber": n, "transactionId": id}`
    (fabric-gateway's file format). Each checkpoint is written atomically and fsynced
    before returning, so a crash leaves the old or the new checkpoint, never a torn
    one. A missing file means no checkpoint yet."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"checkpoint file {self.path} is unreadable: {exc}") from None
        block, txid = data.get("blockNumber"), data.get("transactionId", "")
        if not isinstance(block, int) or block < 0 or not isinstance(txid, str):
            raise CheckpointError(
                f"checkpoint file {self.path}: expected blockNumber (int >= 0) and "
                "transactionId (string)"
            )
        super()._set(block, txid)

    def _set(self, block_number: int, transaction_id: str) -> None:
        data = json.dumps({"blockNumber": block_number, "transactionId": transaction_id})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        super()._set(block_number, transaction_id)
