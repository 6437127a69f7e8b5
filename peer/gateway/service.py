"""`gateway.Gateway`: Fabric's Gateway service on a peer (Fabric's
`internal/pkg/gateway/api.go`), over a `GatewaySupport`.

Behaviour, as Fabric's gateway (status codes in brackets):

* Evaluate — one peer: the local endorser first (when it endorses and its org is
  wanted), else peers of `target_organizations`, else of the orgs the chaincode's
  endorsement policy names; the next peer only if one cannot be reached. A refusal or
  chaincode error is returned with one ErrorDetail [PERMISSION_DENIED for 403,
  NOT_FOUND for 404, INVALID_ARGUMENT for 400, else UNKNOWN]; nobody reachable
  [UNAVAILABLE].
* Endorse — the orgs to endorse are `endorsing_organizations` when given, else a
  smallest set satisfying the endorsement policy, preferring the local org (see
  `plan`). The local endorser runs first, in-process; the other orgs' peers in
  parallel (another peer of the same org is tried if one fails). Every response must
  be 200 and all payloads byte-for-byte equal. Result: the unsigned transaction
  payload in `prepared_transaction`. Failures [ABORTED, or the refusal's code when
  every failure is the same refusal — a Reader-only client gets PERMISSION_DENIED]
  carry one ErrorDetail per failing endorser; a payload mismatch names the peer
  that disagreed with the first endorser.
* Submit — to the channel's orderers in turn: SUCCESS ends; SERVICE_UNAVAILABLE or
  an unreachable orderer moves to the next [UNAVAILABLE when none accepted]; any
  other orderer status [ABORTED] stops.
* CommitStatus / ChaincodeEvents — the request must be signed by its `identity`
  (over the exact request bytes) and that identity must satisfy the channel's
  `Readers` [PERMISSION_DENIED]. CommitStatus waits for the commit until the call's
  deadline [DEADLINE_EXCEEDED]; ChaincodeEvents streams until the client leaves.

Malformed requests [INVALID_ARGUMENT]; unknown channel or chaincode [NOT_FOUND].
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc

from common import txutil
from common.config.bundle import ChannelBundle
from common.config.channel import READERS, ChannelConfigError
from common.policies import SignaturePolicy, SignedData
from peer.gateway import events as ev
from peer.gateway.endorse import (
    REFUSAL_CODES,
    Endpoint,
    OrgTask,
    describe,
    endorse_failed,
    endorse_orgs,
)
from peer.gateway.errors import EndpointError, GatewayError, abort
from peer.gateway.plan import as_signature_policy, endorsing_orgs, plan_orgs
from peer.gateway.support import BroadcastClient, GatewaySupport, batches_broadcasts
from protos.common import common_pb2
from protos.gateway import gateway_pb2, gateway_pb2_grpc
from protos.orderer import ab_pb2
from protos.peer import proposal_pb2

__all__ = ["GatewayServicer"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
BroadcastResponse = ab_pb2.BroadcastResponse

_WAIT_SLICE = 1.0  # seconds between checks that a waiting client is still there


@dataclass(eq=False)
class _EndorseItem:
    """One Endorse request planned: `first` is the local org's task when the plan
    starts with it (endorsed before, and without, the others), `others` the rest
    of the plan's orgs in plan order."""

    parsed: txutil.ParsedProposal
    first: OrgTask | None
    others: list[OrgTask]


Send = Callable[[BroadcastClient, list[common_pb2.Envelope]], list[BroadcastResponse | Exception]]
"""How envelopes go to one orderer: one answer per envelope (see `BatchBroadcastClient`)."""


class GatewayServicer(gateway_pb2_grpc.GatewayServicer):
    """The Gateway gRPC service. Thread-safe, with no threads of its own: a call's
    endorsements and broadcasts run on, or are awaited by, the calling thread."""

    def __init__(self, support: GatewaySupport) -> None:
        self._support = support

    # ------------------------------------------------------------------ helpers

    def _bundle(self, channel_id: str) -> ChannelBundle:
        bundle = self._support.bundle(channel_id)
        if bundle is None:
            raise GatewayError(grpc.StatusCode.NOT_FOUND, f"channel '{channel_id}' not found")
        return bundle

    def _proposal(
        self, channel_id: str, signed: proposal_pb2.SignedProposal, has_proposal: bool
    ) -> txutil.ParsedProposal:
        if not has_proposal:
            raise GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT, "a proposed transaction is required"
            )
        try:
            parsed = txutil.parse_signed_proposal(signed)
        except txutil.ProposalError as exc:
            raise GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT, f"failed to unpack transaction proposal: {exc}"
            ) from None
        if channel_id and channel_id != parsed.channel_id:
            raise GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request channel '{channel_id}' differs from the proposal's '{parsed.channel_id}'",
            )
        return parsed

    def _endpoints_by_org(self, channel_id: str) -> dict[str, list[Endpoint]]:
        """Endorsers per org: the local one first in its org, remote ones after."""
        support = self._support
        by_org: dict[str, list[Endpoint]] = {}
        local = support.local_endorser()
        if local is not None:
            by_org[support.local_mspid] = [
                Endpoint(support.local_address, support.local_mspid, lambda: local)
            ]
        blocks = support.blocks(channel_id)
        local_height = blocks.height if blocks is not None else (lambda: 0)
        for peer in support.remote_peers(channel_id):
            by_org.setdefault(peer.mspid, []).append(
                Endpoint(
                    peer.address,
                    peer.mspid,
                    lambda address=peer.address: support.endorser(address),  # type: ignore[misc]
                    local_height,
                )
            )
        return by_org

    def _policy_orgs(self, bundle: ChannelBundle, chaincode: str) -> list[str] | None:
        """The orgs the chaincode's policy could use, or None if it has no such list."""
        policy = _signature_policy(bundle, chaincode)
        return None if policy is None else endorsing_orgs(policy)

    def _plan(
        self,
        bundle: ChannelBundle,
        parsed: txutil.ParsedProposal,
        by_org: dict[str, list[Endpoint]],
        requested: Sequence[str],
    ) -> list[str]:
        if requested:
            orgs = list(dict.fromkeys(requested))
            missing = [org for org in orgs if not by_org.get(org)]
            if missing:
                raise GatewayError(
                    grpc.StatusCode.UNAVAILABLE,
                    f"no endorsing peers available for organization(s) {', '.join(missing)} "
                    f"on channel '{parsed.channel_id}'",
                )
            # The local org endorses first when it is one of them.
            orgs.sort(key=lambda org: org != self._support.local_mspid)
            return orgs
        policy = _signature_policy(bundle, parsed.chaincode)
        plan = None
        if policy is not None:
            available = [
                org.mspid for org in bundle.config.application_orgs if by_org.get(org.mspid)
            ]
            plan = plan_orgs(policy, available, preferred=self._support.local_mspid)
        if plan is None:
            raise GatewayError(
                grpc.StatusCode.UNAVAILABLE,
                f"no combination of available peers satisfies the endorsement policy of "
                f"chaincode '{parsed.chaincode}' on channel '{parsed.channel_id}'",
            )
        return plan

    # ----------------------------------------------------------------- Evaluate

    def Evaluate(
        self, request: gateway_pb2.EvaluateRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.EvaluateResponse:
        return _serve(context, lambda: self._evaluate(request))

    def _evaluate(self, request: gateway_pb2.EvaluateRequest) -> gateway_pb2.EvaluateResponse:
        parsed = self._proposal(
            request.channel_id,
            request.proposed_transaction,
            request.HasField("proposed_transaction"),
        )
        bundle = self._bundle(parsed.channel_id)
        by_org = self._endpoints_by_org(parsed.channel_id)
        targets = list(dict.fromkeys(request.target_organizations))
        if not targets:
            targets = self._policy_orgs(bundle, parsed.chaincode) or list(by_org)
        local = self._support.local_mspid
        ordered = sorted(targets, key=lambda org: org != local)  # own org first
        endpoints = [e for org in ordered for e in by_org.get(org, ())]
        if not endpoints:
            raise GatewayError(
                grpc.StatusCode.UNAVAILABLE,
                f"no peers available to evaluate chaincode {parsed.chaincode} in channel "
                f"{parsed.channel_id}",
            )
        errors: list[EndpointError] = []
        for endpoint in endpoints:
            try:
                response = endpoint.call(request.proposed_transaction)
            except Exception as exc:
                errors.append(endpoint.error(f"failed to evaluate: {describe(exc)}"))
                continue
            status = response.response.status
            if not 200 <= status < 400:
                message = response.response.message
                raise GatewayError(
                    REFUSAL_CODES.get(status, grpc.StatusCode.UNKNOWN),
                    f"evaluate call to endorser returned error: {message}",
                    [endpoint.error(f"chaincode response {status}, {message}")],
                )
            return gateway_pb2.EvaluateResponse(result=response.response)
        raise GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            "failed to evaluate transaction, see attached details for more info",
            errors,
        )

    # ------------------------------------------------------------------ Endorse

    def Endorse(
        self, request: gateway_pb2.EndorseRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.EndorseResponse:
        return _serve(context, lambda: self._endorse(request))

    def endorse_batch(
        self, requests: Sequence[gateway_pb2.EndorseRequest]
    ) -> list[gateway_pb2.EndorseResponse | Exception]:
        """Each request's Endorse, in request order, as the gRPC method answers it
        alone: its response, or the `GatewayError` that would become its status (or
        the unexpected exception that would be UNKNOWN). Items fail alone.

        Vectorised (`peer.gateway.endorse`): the local org's endorsements first, on
        this thread one after another (a refusal there is answered without
        bothering the other orgs, per item); then every other org's, with ONE call
        per remote endorser for all the items it endorses, the calls in flight
        together; failover to an org's next peer per item. Thread-safe; no threads
        of its own."""
        by_channel: dict[str, dict[str, list[Endpoint]]] = {}
        items: list[_EndorseItem | Exception] = []
        for request in requests:
            try:
                items.append(self._endorse_item(request, by_channel))
            except Exception as exc:  # answered for this item only
                items.append(exc)
        planned = [item for item in items if isinstance(item, _EndorseItem)]
        endorse_orgs([item.first for item in planned if item.first is not None])
        endorse_orgs(
            [
                task
                for item in planned
                if item.first is None or item.first.result is not None
                for task in item.others
            ]
        )
        return [item if isinstance(item, Exception) else _endorsed(item) for item in items]

    def _endorse(self, request: gateway_pb2.EndorseRequest) -> gateway_pb2.EndorseResponse:
        [outcome] = self.endorse_batch([request])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _endorse_item(
        self,
        request: gateway_pb2.EndorseRequest,
        by_channel: dict[str, dict[str, list[Endpoint]]],
    ) -> _EndorseItem:
        """Parse and plan one request (`by_channel` caches the endorsers per channel,
        so one batch calls each endorser through one `Endpoint`)."""
        parsed = self._proposal(
            request.channel_id,
            request.proposed_transaction,
            request.HasField("proposed_transaction"),
        )
        bundle = self._bundle(parsed.channel_id)
        by_org = by_channel.get(parsed.channel_id)
        if by_org is None:
            by_org = by_channel[parsed.channel_id] = self._endpoints_by_org(parsed.channel_id)
        plan = self._plan(bundle, parsed, by_org, list(request.endorsing_organizations))
        signed = request.proposed_transaction
        tasks = [OrgTask(signed, by_org[org]) for org in plan]
        if plan[0] == self._support.local_mspid:
            return _EndorseItem(parsed, tasks[0], tasks[1:])
        return _EndorseItem(parsed, None, tasks)

    # ------------------------------------------------------------------- Submit

    def Submit(
        self, request: gateway_pb2.SubmitRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.SubmitResponse:
        return _serve(context, lambda: self._submit(request))

    def submit_batch(
        self, requests: Sequence[gateway_pb2.SubmitRequest]
    ) -> list[gateway_pb2.SubmitResponse | Exception]:
        """Each request's Submit, in request order, as the gRPC method answers it
        alone (as `endorse_batch`). The valid envelopes go to each orderer all at
        once (`BatchBroadcastClient.broadcast_batch`: one BroadcastEnvelopes call,
        or pipelined on a Fabric orderer's stream); those it does not take
        (SERVICE_UNAVAILABLE, unreachable) go on to the next orderer together.
        Thread-safe; blocks until every item is answered."""
        return self._submit_all(requests, _broadcast_all)

    def _submit(self, request: gateway_pb2.SubmitRequest) -> gateway_pb2.SubmitResponse:
        # One envelope goes as one message on the orderer's Broadcast stream, where
        # concurrent Submit calls are pipelined (`GrpcBroadcastClient`).
        [outcome] = self._submit_all([request], _broadcast_each)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _submit_all(
        self, requests: Sequence[gateway_pb2.SubmitRequest], send: Send
    ) -> list[gateway_pb2.SubmitResponse | Exception]:
        outcomes: list[gateway_pb2.SubmitResponse | Exception | None] = [None] * len(requests)
        by_channel: dict[str, tuple[ChannelBundle, list[int]]] = {}
        for index, request in enumerate(requests):
            try:
                bundle = self._submittable(request)
            except Exception as exc:  # answered for this item only
                outcomes[index] = exc
                continue
            by_channel.setdefault(bundle.channel_id, (bundle, []))[1].append(index)
        for bundle, indexes in by_channel.values():
            envelopes = [requests[i].prepared_transaction for i in indexes]
            answers = self._broadcast(bundle, envelopes, send)
            for index, answer in zip(indexes, answers, strict=True):
                outcomes[index] = answer
        return [o if o is not None else _never_answered() for o in outcomes]

    def _submittable(self, request: gateway_pb2.SubmitRequest) -> ChannelBundle:
        """The bundle of the channel `request`'s transaction goes to, after the
        checks a Submit makes before sending it."""
        if not request.HasField("prepared_transaction"):
            raise GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT, "a prepared transaction is required"
            )
        envelope = request.prepared_transaction
        try:
            header = txutil.parse_envelope_message_header(envelope)
        except txutil.EnvelopeError as exc:
            raise GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT, f"failed to unpack transaction: {exc}"
            ) from None
        channel_id = header.channel_header.channel_id
        if request.channel_id and request.channel_id != channel_id:
            raise GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request channel '{request.channel_id}' differs from the transaction's "
                f"'{channel_id}'",
            )
        if not envelope.signature:
            raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, "the transaction is not signed")
        return self._bundle(channel_id)

    def _broadcast(
        self, bundle: ChannelBundle, envelopes: Sequence[common_pb2.Envelope], send: Send
    ) -> list[gateway_pb2.SubmitResponse | GatewayError]:
        """Each envelope to the channel's orderers in turn, all the envelopes still
        waiting at once: SUCCESS ends; SERVICE_UNAVAILABLE or an unreachable
        orderer moves to the next [UNAVAILABLE when none accepted]; any other
        orderer status [ABORTED; PERMISSION_DENIED for FORBIDDEN] stops."""
        msp_of = {c.address: c.mspid for c in bundle.config.consenters}
        outcomes: list[gateway_pb2.SubmitResponse | GatewayError | None] = [None] * len(envelopes)
        errors: list[list[EndpointError]] = [[] for _ in envelopes]
        waiting = list(range(len(envelopes)))
        for address in self._support.orderers(bundle.channel_id):
            if not waiting:
                break
            mspid = msp_of.get(address, "")
            batch = [envelopes[i] for i in waiting]
            try:
                answers = send(self._support.broadcaster(address), batch)
            except Exception as exc:  # no client for it: every envelope failed here
                answers = [exc] * len(batch)
            still: list[int] = []
            for index, answer in zip(waiting, answers, strict=True):
                if isinstance(answer, Exception):
                    log.info("orderer %s failed: %s", address, answer)
                    message = f"failed to send: {describe(answer)}"
                    errors[index].append(EndpointError(address, mspid, message))
                    still.append(index)
                    continue
                if answer.status == common_pb2.SUCCESS:
                    outcomes[index] = gateway_pb2.SubmitResponse()
                    continue
                status = common_pb2.Status.Name(answer.status)
                message = (
                    f"received unsuccessful response from orderer: status={status}, "
                    f"info={answer.info}"
                )
                if answer.status == common_pb2.SERVICE_UNAVAILABLE:
                    errors[index].append(EndpointError(address, mspid, message))
                    still.append(index)
                    continue
                # The submitter may not write on this channel (e.g. the read-only
                # regulator): say so plainly rather than as an aborted transaction.
                code = (
                    grpc.StatusCode.PERMISSION_DENIED
                    if answer.status == common_pb2.FORBIDDEN
                    else grpc.StatusCode.ABORTED
                )
                outcomes[index] = GatewayError(
                    code, message, [EndpointError(address, mspid, message)]
                )
            waiting = still
        for index in waiting:
            outcomes[index] = GatewayError(
                grpc.StatusCode.UNAVAILABLE, "no orderer nodes available", errors[index]
            )
        return [o if o is not None else _never_answered() for o in outcomes]

    # ------------------------------------------------------------- CommitStatus

    def CommitStatus(
        self, request: gateway_pb2.SignedCommitStatusRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.CommitStatusResponse:
        return _serve(context, lambda: self._commit_status(request, context))

    def _check_reader(
        self, bundle: ChannelBundle, identity: bytes, data: bytes, sig: bytes
    ) -> None:
        # The request's signature is verified on every call, over the exact bytes;
        # what the bundle caches (`OutcomeCache`) is only the Readers outcome for the
        # signer's (MSP id, role), so the policy tree is walked once per bundle.
        result = bundle.evaluate(READERS, [SignedData(identity, data, sig)])
        if not result.satisfied:
            raise GatewayError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"the request is not signed by a reader of channel '{bundle.channel_id}': "
                f"{result.reason}",
            )

    def _commit_status(
        self, request: gateway_pb2.SignedCommitStatusRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.CommitStatusResponse:
        inner = _parse(gateway_pb2.CommitStatusRequest, request.request, "commit status request")
        bundle = self._bundle(inner.channel_id)
        self._check_reader(bundle, inner.identity, request.request, request.signature)
        waiter = self._support.commit_waiter(inner.channel_id)
        if waiter is None:
            raise GatewayError(grpc.StatusCode.NOT_FOUND, f"channel '{inner.channel_id}' not found")
        while context.is_active():
            remaining = context.time_remaining()
            slice_ = _WAIT_SLICE if remaining is None else max(min(_WAIT_SLICE, remaining), 0.0)
            status = waiter.wait(inner.transaction_id, slice_)
            if status is not None:
                return gateway_pb2.CommitStatusResponse(
                    result=status.code,  # type: ignore[arg-type]
                    block_number=status.block_num,
                )
            if remaining is not None and remaining <= _WAIT_SLICE:
                break
        raise GatewayError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"timed out waiting for transaction {inner.transaction_id} to commit",
        )

    # ---------------------------------------------------------- ChaincodeEvents

    def ChaincodeEvents(
        self, request: gateway_pb2.SignedChaincodeEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[gateway_pb2.ChaincodeEventsResponse]:
        try:
            inner = _parse(
                gateway_pb2.ChaincodeEventsRequest, request.request, "chaincode events request"
            )
            bundle = self._bundle(inner.channel_id)
            self._check_reader(bundle, inner.identity, request.request, request.signature)
            blocks = self._support.blocks(inner.channel_id)
            if blocks is None:
                raise GatewayError(
                    grpc.StatusCode.NOT_FOUND, f"channel '{inner.channel_id}' not found"
                )
        except GatewayError as error:
            abort(context, error)
        wakeup = ev.BlockWakeup()
        context.add_callback(wakeup.poke)  # a leaving client ends the wait at once
        self._support.add_commit_listener(inner.channel_id, wakeup)
        try:
            start = ev.start_block(
                inner.start_position, blocks.height(), has_position=inner.HasField("start_position")
            )
            yield from ev.follow_events(
                blocks,
                wakeup,
                inner.chaincode_id,
                start,
                after_tx_id=inner.after_transaction_id,
                active=context.is_active,
            )
        finally:
            self._support.remove_commit_listener(inner.channel_id, wakeup)


_M = TypeVar("_M", gateway_pb2.CommitStatusRequest, gateway_pb2.ChaincodeEventsRequest)


def _signature_policy(bundle: ChannelBundle, chaincode: str) -> SignaturePolicy | None:
    """The chaincode's endorsement policy as one signature policy (`as_signature_policy`);
    a chaincode the channel does not define is NOT_FOUND."""
    try:
        return as_signature_policy(bundle.endorsement_policy(chaincode), bundle.config)
    except ChannelConfigError as exc:
        raise GatewayError(grpc.StatusCode.NOT_FOUND, exc.message) from None


def _parse(message_type: type[_M], data: bytes, what: str) -> _M:
    try:
        return message_type.FromString(data)
    except Exception as exc:
        raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, f"malformed {what}: {exc}") from None


def _endorsed(item: _EndorseItem) -> gateway_pb2.EndorseResponse | GatewayError:
    """The Endorse answer of a settled item: the transaction, when every org
    endorsed and all the payloads agree byte for byte."""
    first = item.first
    if first is not None and first.result is None:
        return endorse_failed([first])
    failed = [task for task in item.others if task.result is None]
    if failed:
        return endorse_failed(failed)
    tasks = [first, *item.others] if first is not None else item.others
    results = [task.result for task in tasks if task.result is not None]
    first_endpoint, first_response = results[0]
    for endpoint, response in results[1:]:
        if response.payload != first_response.payload:
            return GatewayError(
                grpc.StatusCode.ABORTED,
                f"ProposalResponsePayloads do not match: endorser {endpoint.address} "
                f"({endpoint.mspid}) returned a different result from endorser "
                f"{first_endpoint.address} ({first_endpoint.mspid})",
                [endpoint.error("ProposalResponsePayloads do not match")],
            )
    try:
        payload = txutil.create_transaction_payload(item.parsed, [r for _, r in results])
    except txutil.TxUtilError as exc:
        return GatewayError(grpc.StatusCode.ABORTED, f"failed to assemble transaction: {exc}")
    return gateway_pb2.EndorseResponse(prepared_transaction=common_pb2.Envelope(payload=payload))


def _broadcast_each(
    client: BroadcastClient, envelopes: list[common_pb2.Envelope]
) -> list[BroadcastResponse | Exception]:
    """One `broadcast` per envelope, one after another."""
    answers: list[BroadcastResponse | Exception] = []
    for envelope in envelopes:
        try:
            answers.append(client.broadcast(envelope))
        except Exception as exc:  # unreachable, stream broken: the next orderer may do
            answers.append(exc)
    return answers


def _broadcast_all(
    client: BroadcastClient, envelopes: list[common_pb2.Envelope]
) -> list[BroadcastResponse | Exception]:
    """All the envelopes at once when the client can (else one by one)."""
    if batches_broadcasts(client):
        return client.broadcast_batch(envelopes)
    return _broadcast_each(client, envelopes)


def _never_answered() -> GatewayError:
    raise AssertionError("an item was left without an answer")  # pragma: no cover


def _serve(context: grpc.ServicerContext, handler: Callable[[], _T]) -> _T:
    """Run a unary handler, turning a `GatewayError` into the call's status."""
    try:
        return handler()
    except GatewayError as error:
        abort(context, error)
