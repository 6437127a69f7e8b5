"""Endorsing many proposals at once, without a thread per proposal: the engine of
the gateway's Endorse (a batch of one) and EndorseBatch (`GatewayServicer`).

The unit of work is an `OrgTask`: one proposal to be endorsed by one org, whose
peers are tried in order (the next only when one could not be reached or did not
endorse), as Fabric's gateway does per org. `endorse_orgs` runs many tasks in
rounds: each round sends every waiting task to its current peer, grouped by peer,
so a remote peer gets ONE call per round carrying all its proposals
(`BatchEndorserClient`), the calls to several peers are in flight together, and
the in-process endorser (and any client without the batch method) runs its
proposals one after another on the calling thread meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc

from common.errors import ScfError
from peer.gateway.errors import EndpointError, GatewayError
from peer.gateway.support import EndorserClient, PendingResponses, batches_endorsements
from protos.peer import proposal_pb2, proposal_response_pb2

__all__ = [
    "REFUSAL_CODES",
    "Endpoint",
    "OrgTask",
    "describe",
    "endorse_failed",
    "endorse_orgs",
]

log = logging.getLogger(__name__)

ProposalResponse = proposal_response_pb2.ProposalResponse
Answers = list[ProposalResponse | Exception]

REFUSAL_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
}
"""The gateway's status for an endorser's refusal status (else ABORTED / UNKNOWN)."""


class Endpoint:
    """An endorser to call: local (in-process) or remote, with what ErrorDetail says.
    Remote endorsers are told this peer's ledger height (`min_height`), so they do
    not simulate on state older than what this gateway reported committed."""

    def __init__(
        self,
        address: str,
        mspid: str,
        client: Callable[[], EndorserClient],
        min_height: Callable[[], int] = lambda: 0,
    ) -> None:
        self.address = address
        self.mspid = mspid
        self._client = client
        self._min_height = min_height

    def call(self, signed: proposal_pb2.SignedProposal) -> ProposalResponse:
        """One proposal; raises when the endorser could not be reached."""
        return self._client().process_proposal(signed, self._min_height())

    def start(self, signed: Sequence[proposal_pb2.SignedProposal], *, block: bool) -> _Call:
        """`signed` sent to this endorser: one batch call if its client has one
        (sent now as a future call, or when `block` is set, as a blocking call on
        the calling thread: gRPC then polls on this thread instead of waking its
        spin thread), else one `process_proposal` each, run when the answers are
        asked for (the in-process endorser's proposals thus run while the remote
        calls are in flight)."""
        try:
            client = self._client()
            min_height = self._min_height()
        except Exception as exc:  # e.g. the node is closing its channels
            error = exc
            return _Call(False, lambda: [error] * len(signed))
        if not batches_endorsements(client):
            return _Call(False, lambda: _one_by_one(client, signed, min_height))
        if block:
            return _Call(True, lambda: client.process_proposals(signed, min_height))
        pending: PendingResponses = client.start_proposals(signed, min_height)
        return _Call(True, pending.result)

    def error(self, message: str) -> EndpointError:
        return EndpointError(self.address, self.mspid, message)


@dataclass(frozen=True)
class _Call:
    """Proposals sent to one endpoint; `answers()` gives one answer per proposal."""

    remote: bool
    answers: Callable[[], Answers]


def _one_by_one(
    client: EndorserClient, signed: Sequence[proposal_pb2.SignedProposal], min_height: int
) -> Answers:
    answers: Answers = []
    for proposal in signed:
        try:
            answers.append(client.process_proposal(proposal, min_height))
        except Exception as exc:  # unreachable, timed out, broken: this proposal only
            answers.append(exc)
    return answers


@dataclass(eq=False)
class OrgTask:
    """One proposal to be endorsed by one org, by the first of `endpoints` to give
    an endorsement. After `endorse_orgs`: `result` is that (endpoint, response), or
    None with `errors` (one per peer tried) and `status` (the last refusal's status,
    0 when the last peer could not be reached)."""

    signed: proposal_pb2.SignedProposal
    endpoints: Sequence[Endpoint]
    result: tuple[Endpoint, ProposalResponse] | None = None
    errors: list[EndpointError] = field(default_factory=list)
    status: int = 0
    tried: int = 0
    """Endpoints tried so far (the next round uses `endpoints[tried]`)."""


def endorse_orgs(tasks: Sequence[OrgTask]) -> None:
    """Settle every task (see `OrgTask`), in rounds (module docstring). Each round
    sends every unsettled task to its next endpoint: one call per endpoint for all
    its tasks, remote calls in flight together, in-process ones on this thread
    meanwhile. A task fails over to its org's next peer in the following round."""
    waiting = [task for task in tasks if task.endpoints]
    while waiting:
        groups: dict[Endpoint, list[OrgTask]] = {}
        for task in waiting:
            groups.setdefault(task.endpoints[task.tried], []).append(task)
        calls = [
            (endpoint, group, endpoint.start([t.signed for t in group], block=len(groups) == 1))
            for endpoint, group in groups.items()
        ]
        calls.sort(key=lambda c: c[2].remote)  # in-process work while the calls fly
        waiting = []
        for endpoint, group, call in calls:
            for task, answer in zip(group, call.answers(), strict=True):
                if not _settle(task, endpoint, answer):
                    task.tried += 1
                    if task.tried < len(task.endpoints):
                        waiting.append(task)


def _settle(task: OrgTask, endpoint: Endpoint, answer: ProposalResponse | Exception) -> bool:
    """Record `endpoint`'s answer to `task`; True if it endorsed."""
    if isinstance(answer, Exception):
        log.info("endorser %s failed: %s", endpoint.address, answer)
        task.errors.append(endpoint.error(f"failed to endorse: {describe(answer)}"))
        task.status = 0
        return False
    why = response_error(answer)
    if why is None:
        task.result = (endpoint, answer)
        return True
    task.errors.append(endpoint.error(why))
    task.status = answer.response.status
    return False


def response_error(response: ProposalResponse) -> str | None:
    """None for a usable response, else why not (Fabric's wording)."""
    status = response.response.status
    if 200 <= status < 400 and response.HasField("endorsement"):
        return None
    if 200 <= status < 400:
        return "the peer returned no endorsement"
    return f"chaincode response {status}, {response.response.message}"


def endorse_failed(failed: Sequence[OrgTask]) -> GatewayError:
    """The Endorse error for these failed org tasks (of one proposal): the refusal's
    code when every org failed with the same status, else ABORTED."""
    errors = [e for task in failed for e in task.errors]
    statuses = {task.status for task in failed}
    code = grpc.StatusCode.ABORTED
    if len(statuses) == 1:
        code = REFUSAL_CODES.get(statuses.pop(), grpc.StatusCode.ABORTED)
    if code is grpc.StatusCode.ABORTED:
        message = "failed to endorse transaction, see attached details for more info"
    else:
        message = "failed to endorse transaction: " + "; ".join(str(e) for e in errors)
    return GatewayError(code, message, errors)


def describe(exc: BaseException) -> str:
    """An endpoint's exception as ErrorDetail words."""
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, ScfError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
