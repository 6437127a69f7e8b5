"""`Contract`: one chaincode on one channel, with fabric-gateway's call shapes.

Arguments are `str` (sent UTF-8 encoded) or `bytes`; the function name is sent as
`args[0]`, as Fabric's clients send it. Results are the contract's raw bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.commit import Commit
from client.errors import CommitError
from client.proposal import Proposal
from common.txutil import build_proposal

if TYPE_CHECKING:
    from client.gateway import Connection

__all__ = ["Arg", "Contract"]

Arg = str | bytes


def _encode(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    raise TypeError(f"a chaincode argument is str or bytes, not {type(arg).__name__}")


@dataclass(frozen=True)
class Contract:
    """Chaincode `chaincode` on channel `channel`."""

    _connection: Connection
    channel: str
    chaincode: str

    def new_proposal(
        self,
        function: str,
        *args: Arg,
        transient: Mapping[str, bytes] | None = None,
        endorsing_organizations: Sequence[str] = (),
    ) -> Proposal:
        """A new (unsigned) proposal with a fresh txid; the step-by-step path starts
        here: `.evaluate()`, or `.endorse()` → `.submit()` → `.status()`.
        `endorsing_organizations` (MSP ids) restricts who endorses (Fabric's option)."""
        proposal, tx_id = build_proposal(
            self.channel,
            self.chaincode,
            [function.encode(), *(_encode(a) for a in args)],
            self._connection.creator,
            transient=transient,
        )
        return Proposal(
            self._connection,
            channel=self.channel,
            chaincode=self.chaincode,
            transaction_id=tx_id,
            proposal_bytes=proposal.SerializeToString(deterministic=True),
            endorsing_organizations=tuple(endorsing_organizations),
        )

    def evaluate(self, function: str, *args: Arg) -> bytes:
        """Run a query on the gateway peer; nothing is ordered. Raises `EvaluateError`."""
        return self.new_proposal(function, *args).evaluate()

    def submit_async(self, function: str, *args: Arg) -> tuple[bytes, Commit]:
        """Endorse and submit; returns the result and the `Commit` to wait on.
        Raises `EndorseError` or `SubmitError`."""
        transaction = self.new_proposal(function, *args).endorse()
        return transaction.result, transaction.submit()

    def submit(self, function: str, *args: Arg) -> bytes:
        """Endorse, submit and wait for the commit; returns the result of a VALID
        transaction. Raises `EndorseError`, `SubmitError`, `CommitStatusError`, or
        `CommitError` (committed invalid, e.g. `MVCC_READ_CONFLICT`)."""
        result, commit = self.submit_async(function, *args)
        status = commit.status()
        if not status.successful:
            raise CommitError(status.transaction_id, status.code, status.block_number)
        return result
