"""`scf.EndorserBatch/ProcessProposals`: many proposals per call, between scfchain
nodes only (a gateway peer → a remote endorsing peer; see `protos/scf/batch.proto`).

gRPC-Python spends about 0.75 ms of CPU per unary call at each end; a gateway that
sends the proposals waiting for one peer in one call pays that once per batch.

Contract of `EndorserBatchServicer.ProcessProposals`:

* Each proposal is answered by the same `ProposalProcessor` the node serves on
  `protos.Endorser/ProcessProposal` (same checks, same simulation, same response).
* `responses[i]` answers `proposals[i]`; there is exactly one response per proposal.
* Items fail alone: a refusal is a response (as for the single call), and an
  unexpected exception while processing one item becomes a status-500 response
  for that item only (where the single call would have ended in an RPC error).
* `min_ledger_height` is waited for once per batch, not once per item: items get it
  as their `min_height` until `MIN_HEIGHT_WAIT_S` has passed since the batch
  started, and 0 afterwards. Heights only grow, so once one item has seen the
  height every later wait is free; when the ledger never reaches it the batch waits
  at most about twice `MIN_HEIGHT_WAIT_S` (the last wait may start just before the
  budget runs out), never once per item.
* More than `MAX_PROPOSALS_PER_BATCH` proposals → `INVALID_ARGUMENT`, nothing
  processed. An empty batch → an empty response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import grpc

from peer.endorser.endorser import MIN_HEIGHT_WAIT_S, ProposalProcessor
from protos.common import common_pb2
from protos.peer import proposal_pb2, proposal_response_pb2
from protos.scf import batch_pb2, batch_pb2_grpc

__all__ = ["MAX_PROPOSALS_PER_BATCH", "EndorserBatchServicer"]

log = logging.getLogger(__name__)

MAX_PROPOSALS_PER_BATCH = 512
"""Proposals one ProcessProposals call may carry. The batch runs on one server
thread, so this bounds how long one call holds it (and the client splits its
batches at this size)."""


class EndorserBatchServicer(batch_pb2_grpc.EndorserBatchServicer):
    """The batch face of a `ProposalProcessor` (module docstring). `clock` is the
    monotonic clock the min-height budget is measured with (injected for tests)."""

    def __init__(
        self,
        endorser: ProposalProcessor,
        *,
        max_proposals: int = MAX_PROPOSALS_PER_BATCH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._endorser = endorser
        self._max_proposals = max_proposals
        self._clock = clock

    def ProcessProposals(
        self, request: batch_pb2.ProposalBatch, context: grpc.ServicerContext
    ) -> batch_pb2.ProposalResponseBatch:
        count = len(request.proposals)
        if count > self._max_proposals:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"BATCH_TOO_LARGE: {count} proposals in one batch; at most "
                f"{self._max_proposals} are accepted",
            )
        height = request.min_ledger_height
        wait_until = self._clock() + MIN_HEIGHT_WAIT_S
        reply = batch_pb2.ProposalResponseBatch()
        for signed in request.proposals:
            if height and self._clock() >= wait_until:
                height = 0  # the batch's wait budget is spent (module docstring)
            reply.responses.append(self._one(signed, height))
        return reply

    def _one(
        self, signed: proposal_pb2.SignedProposal, min_height: int
    ) -> proposal_response_pb2.ProposalResponse:
        try:
            return self._endorser.process_proposal(signed, min_height)
        except Exception:
            # The single call would end in an RPC error (UNKNOWN); in a batch that
            # would fail the neighbours too, so this item alone gets a 500.
            log.exception("endorsing one proposal of a batch failed unexpectedly")
            return proposal_response_pb2.ProposalResponse(
                version=1,
                response=proposal_response_pb2.Response(
                    status=common_pb2.INTERNAL_SERVER_ERROR,
                    message="ENDORSER_FAILURE: the endorser failed unexpectedly on this "
                    "proposal; see the peer's log",
                ),
            )
