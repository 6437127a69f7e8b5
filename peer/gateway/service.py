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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import grpc

from common import txutil
from common.config.bundle import ChannelBundle
from common.config.channel import READERS, ChannelConfigError
from common.errors import ScfError
from common.policies import SignedData
from peer.gateway import events as ev
from peer.gateway.errors import EndpointError, GatewayError, abort
from peer.gateway.plan import as_signature_policy, endorsing_orgs, plan_orgs
from peer.gateway.support import EndorserClient, GatewaySupport
from protos.common import common_pb2
from protos.gateway import gateway_pb2, gateway_pb2_grpc
from protos.peer import proposal_pb2, proposal_response_pb2

__all__ = ["GatewayServicer"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
ProposalResponse = proposal_response_pb2.ProposalResponse

_REFUSAL_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
}
_WAIT_SLICE = 1.0  # seconds between checks that a waiting client is still there


class _Endpoint:
    """An endorser to call: local (in-process) or remote, with what ErrorDetail says."""

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
        """Remote endorsers are told this peer's ledger height, so they do not
        simulate on state older than what this gateway reported committed."""
        return self._client().process_proposal(signed, self._min_height())

    def error(self, message: str) -> EndpointError:
        return EndpointError(self.address, self.mspid, message)


class _Failure(Exception):
    """One org's endorsement failed: `errors` per peer tried, `status` the last
    refusal status (0 when the last peer could not be reached)."""

    def __init__(self, errors: Sequence[EndpointError], status: int) -> None:
        super().__init__(errors)
        self.errors = tuple(errors)
        self.status = status


def _response_error(response: ProposalResponse) -> str | None:
    """None for a usable response, else why not (Fabric's wording)."""
    status = response.response.status
    if 200 <= status < 400 and response.HasField("endorsement"):
        return None
    if 200 <= status < 400:
        return "the peer returned no endorsement"
    return f"chaincode response {status}, {response.response.message}"


def _failure_code(failures: Sequence[_Failure]) -> grpc.StatusCode:
    statuses = {f.status for f in failures}
    if len(statuses) == 1:
        return _REFUSAL_CODES.get(statuses.pop(), grpc.StatusCode.ABORTED)
    return grpc.StatusCode.ABORTED


class GatewayServicer(gateway_pb2_grpc.GatewayServicer):
    """The Gateway gRPC service. Thread-safe; owns a small thread pool for parallel
    endorsements, released by `close()` (the support and its clients are not closed).
    """

    def __init__(self, support: GatewaySupport, *, max_parallel_endorsements: int = 16) -> None:
        self._support = support
        self._pool = ThreadPoolExecutor(
            max_workers=max_parallel_endorsements, thread_name_prefix="gateway-endorse"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

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

    def _endpoints_by_org(self, channel_id: str) -> dict[str, list[_Endpoint]]:
        """Endorsers per org: the local one first in its org, remote ones after."""
        support = self._support
        by_org: dict[str, list[_Endpoint]] = {}
        local = support.local_endorser()
        if local is not None:
            by_org[support.local_mspid] = [
                _Endpoint(support.local_address, support.local_mspid, lambda: local)
            ]
        blocks = support.blocks(channel_id)
        local_height = blocks.height if blocks is not None else (lambda: 0)
        for peer in support.remote_peers(channel_id):
            by_org.setdefault(peer.mspid, []).append(
                _Endpoint(
                    peer.address,
                    peer.mspid,
                    lambda address=peer.address: support.endorser(address),  # type: ignore[misc]
                    local_height,
                )
            )
        return by_org

    def _policy_orgs(self, bundle: ChannelBundle, chaincode: str) -> list[str] | None:
        """The orgs the chaincode's policy could use, or None if it has no such list."""
        try:
            policy = as_signature_policy(bundle.endorsement_policy(chaincode), bundle.config)
        except ChannelConfigError as exc:
            raise GatewayError(grpc.StatusCode.NOT_FOUND, exc.message) from None
        return None if policy is None else endorsing_orgs(policy)

    def _plan(
        self,
        bundle: ChannelBundle,
        parsed: txutil.ParsedProposal,
        by_org: dict[str, list[_Endpoint]],
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
        try:
            policy = as_signature_policy(bundle.endorsement_policy(parsed.chaincode), bundle.config)
        except ChannelConfigError as exc:
            raise GatewayError(grpc.StatusCode.NOT_FOUND, exc.message) from None
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

    @staticmethod
    def _endorse_org(
        endpoints: Sequence[_Endpoint], signed: proposal_pb2.SignedProposal
    ) -> tuple[_Endpoint, ProposalResponse]:
        """An endorsement from the first of `endpoints` to give one; `_Failure` if none."""
        errors: list[EndpointError] = []
        status = 0
        for endpoint in endpoints:
            try:
                response = endpoint.call(signed)
            except Exception as exc:  # unreachable, timed out, broken: try the next peer
                log.info("endorser %s failed: %s", endpoint.address, exc)
                errors.append(endpoint.error(f"failed to endorse: {_describe(exc)}"))
                status = 0
                continue
            why = _response_error(response)
            if why is None:
                return endpoint, response
            errors.append(endpoint.error(why))
            status = response.response.status
        raise _Failure(errors, status)

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
                errors.append(endpoint.error(f"failed to evaluate: {_describe(exc)}"))
                continue
            status = response.response.status
            if not 200 <= status < 400:
                message = response.response.message
                raise GatewayError(
                    _REFUSAL_CODES.get(status, grpc.StatusCode.UNKNOWN),
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

    def endorse(self, request: gateway_pb2.EndorseRequest) -> gateway_pb2.EndorseResponse:
        """One Endorse exactly as the gRPC method serves it, raising the `GatewayError`
        that would become the call's status (what `GatewayBatchServicer` runs per
        item). Thread-safe; blocks until every endorser answered or failed."""
        return self._endorse(request)

    def _endorse(self, request: gateway_pb2.EndorseRequest) -> gateway_pb2.EndorseResponse:
        parsed = self._proposal(
            request.channel_id,
            request.proposed_transaction,
            request.HasField("proposed_transaction"),
        )
        bundle = self._bundle(parsed.channel_id)
        by_org = self._endpoints_by_org(parsed.channel_id)
        plan = self._plan(bundle, parsed, by_org, list(request.endorsing_organizations))
        signed = request.proposed_transaction
        results: list[tuple[_Endpoint, ProposalResponse]] = []
        rest = plan
        if plan[0] == self._support.local_mspid:
            # The local org first and alone: a refusal there (ACL, chaincode error)
            # is answered without bothering the other orgs.
            try:
                results.append(self._endorse_org(by_org[plan[0]], signed))
            except _Failure as failure:
                raise self._endorse_failed([failure]) from None
            rest = plan[1:]
        # The first other org is endorsed on this thread, the rest on the pool: the
        # usual single remote org then costs no thread hand-off, and the items of a
        # GatewayBatch call (each on a thread of its own) are not capped by this pool.
        futures = [self._pool.submit(self._endorse_org, by_org[org], signed) for org in rest[1:]]
        if rest:
            futures.insert(0, _inline(self._endorse_org, by_org[rest[0]], signed))
        failures: list[_Failure] = []
        for future in futures:
            try:
                results.append(future.result())
            except _Failure as failure:
                failures.append(failure)
        if failures:
            raise self._endorse_failed(failures)
        first_endpoint, first = results[0]
        for endpoint, response in results[1:]:
            if response.payload != first.payload:
                raise GatewayError(
                    grpc.StatusCode.ABORTED,
                    f"ProposalResponsePayloads do not match: endorser {endpoint.address} "
                    f"({endpoint.mspid}) returned a different result from endorser "
                    f"{first_endpoint.address} ({first_endpoint.mspid})",
                    [endpoint.error("ProposalResponsePayloads do not match")],
                )
        try:
            payload = txutil.create_transaction_payload(parsed, [r for _, r in results])
        except txutil.TxUtilError as exc:
            raise GatewayError(
                grpc.StatusCode.ABORTED, f"failed to assemble transaction: {exc}"
            ) from None
        return gateway_pb2.EndorseResponse(
            prepared_transaction=common_pb2.Envelope(payload=payload)
        )

    @staticmethod
    def _endorse_failed(failures: Sequence[_Failure]) -> GatewayError:
        errors = [e for f in failures for e in f.errors]
        code = _failure_code(failures)
        if code is grpc.StatusCode.ABORTED:
            message = "failed to endorse transaction, see attached details for more info"
        else:
            message = "failed to endorse transaction: " + "; ".join(str(e) for e in errors)
        return GatewayError(code, message, errors)

    # ------------------------------------------------------------------- Submit

    def Submit(
        self, request: gateway_pb2.SubmitRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.SubmitResponse:
        return _serve(context, lambda: self._submit(request))

    def submit(self, request: gateway_pb2.SubmitRequest) -> gateway_pb2.SubmitResponse:
        """One Submit exactly as the gRPC method serves it, raising the `GatewayError`
        that would become the call's status (what `GatewayBatchServicer` runs per
        item). Thread-safe; blocks until an orderer answered (concurrent calls are
        pipelined on the orderer's stream by its `BroadcastClient`)."""
        return self._submit(request)

    def _submit(self, request: gateway_pb2.SubmitRequest) -> gateway_pb2.SubmitResponse:
        if not request.HasField("prepared_transaction"):
            raise GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT, "a prepared transaction is required"
            )
        envelope = request.prepared_transaction
        try:
            header = txutil.parse_envelope_header(envelope.SerializeToString())
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
        bundle = self._bundle(channel_id)
        msp_of = {c.address: c.mspid for c in bundle.config.consenters}
        errors: list[EndpointError] = []
        for address in self._support.orderers(channel_id):
            mspid = msp_of.get(address, "")
            try:
                response = self._support.broadcaster(address).broadcast(envelope)
            except Exception as exc:
                log.info("orderer %s failed: %s", address, exc)
                errors.append(EndpointError(address, mspid, f"failed to send: {_describe(exc)}"))
                continue
            if response.status == common_pb2.SUCCESS:
                return gateway_pb2.SubmitResponse()
            status = common_pb2.Status.Name(response.status)
            message = (
                f"received unsuccessful response from orderer: status={status}, "
                f"info={response.info}"
            )
            if response.status == common_pb2.SERVICE_UNAVAILABLE:
                errors.append(EndpointError(address, mspid, message))
                continue
            # The submitter may not write on this channel (e.g. the read-only
            # regulator): say so plainly rather than as an aborted transaction.
            code = (
                grpc.StatusCode.PERMISSION_DENIED
                if response.status == common_pb2.FORBIDDEN
                else grpc.StatusCode.ABORTED
            )
            raise GatewayError(code, message, [EndpointError(address, mspid, message)])
        raise GatewayError(grpc.StatusCode.UNAVAILABLE, "no orderer nodes available", errors)

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


def _parse(message_type: type[_M], data: bytes, what: str) -> _M:
    try:
        return message_type.FromString(data)
    except Exception as exc:
        raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, f"malformed {what}: {exc}") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, ScfError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _inline(fn: Callable[..., _T], *args: object) -> Future[_T]:
    """`fn(*args)` run now, on this thread, as a completed future."""
    future: Future[_T] = Future()
    try:
        future.set_result(fn(*args))
    except Exception as exc:  # raised again by `result()`, as a pool's future would
        future.set_exception(exc)
    return future


def _serve(context: grpc.ServicerContext, handler: Callable[[], _T]) -> _T:
    """Run a unary handler, turning a `GatewayError` into the call's status."""
    try:
        return handler()
    except GatewayError as error:
        abort(context, error)
