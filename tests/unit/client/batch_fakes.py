"""An in-process gateway peer for the SDK's batching mode: the scripted Gateway of
`tests.unit.sdk.fakes` (signatures checked, real endorsed transactions), a
`scf.GatewayBatch` service answering each item exactly as that Gateway answers the
single call, and a `DeliverFiltered` over a ledger of filtered blocks the test
controls (append blocks, break every open stream, refuse)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any, NoReturn

import grpc
from google.rpc import status_pb2  # type: ignore[import-untyped]

from client import Gateway
from common import txutil
from protos.common import common_pb2
from protos.gateway import gateway_pb2, gateway_pb2_grpc
from protos.orderer import ab_pb2
from protos.peer import events_pb2, events_pb2_grpc, transaction_pb2
from protos.scf import batch_pb2, batch_pb2_grpc
from tests.unit.sdk.fakes import USER, FakeDeliver, FakeGateway, Script, client_identity

__all__ = ["BatchNetwork", "FilteredLedger"]


class FilteredLedger:
    """Filtered blocks 0..n-1 (block 0: the genesis block, no transactions)."""

    def __init__(self) -> None:
        self.blocks: list[events_pb2.FilteredBlock] = [
            events_pb2.FilteredBlock(channel_id="trade", number=0)
        ]
        self.changed = threading.Condition()
        self.generation = 0  # bumped to break every open stream
        self.requests: list[ab_pb2.SeekInfo] = []
        self.refuse: int | None = None  # a common.Status to answer every request with
        self.hold: threading.Event | None = None  # set: stream requests wait for it

    def append(self, txids: list[str], code: int = transaction_pb2.VALID) -> int:
        """Commit a block of `txids`, all with `code`; returns its number."""
        with self.changed:
            number = len(self.blocks)
            block = events_pb2.FilteredBlock(channel_id="trade", number=number)
            for txid in txids:
                block.filtered_transactions.add(
                    txid=txid, type=common_pb2.ENDORSER_TRANSACTION, tx_validation_code=code
                )
            self.blocks.append(block)
            self.changed.notify_all()
            return number

    def break_streams(self) -> None:
        with self.changed:
            self.generation += 1
            self.changed.notify_all()


class _ItemAborted(Exception):
    def __init__(self, error: batch_pb2.ItemError) -> None:
        super().__init__(error.message)
        self.error = error


class _ItemContext:
    """What the scripted Gateway's handlers need of a context, for one batch item: an
    abort becomes the item's `ItemError`, carrying what the call's status would."""

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise _ItemAborted(batch_pb2.ItemError(code=code.value[0], message=details))

    def abort_with_status(self, status: grpc.Status) -> NoReturn:
        packed = dict(status.trailing_metadata)["grpc-status-details-bin"]
        rpc = status_pb2.Status.FromString(packed)
        error = batch_pb2.ItemError(code=rpc.code, message=rpc.message)
        for item in rpc.details:
            detail = gateway_pb2.ErrorDetail()
            item.Unpack(detail)
            error.details.append(detail)
        raise _ItemAborted(error)


class CountingGateway(FakeGateway):
    """The scripted Gateway, counting unary calls per method; with `auto_commit`, each
    accepted Submit commits at once in a block of its own (code `script.commit_code`)."""

    def __init__(self, script: Script, ledger: FilteredLedger) -> None:
        super().__init__(script)
        self.ledger = ledger
        self.calls: Counter[str] = Counter()
        self.auto_commit = True
        self._lock = threading.Lock()

    def _count(self, name: str, context: object) -> None:
        """Count a unary call (not an item of a batch call)."""
        if not isinstance(context, _ItemContext):
            with self._lock:
                self.calls[name] += 1

    def Endorse(self, request, context):  # type: ignore[no-untyped-def]
        self._count("Endorse", context)
        return super().Endorse(request, context)  # type: ignore[no-untyped-call]

    def Submit(self, request, context):  # type: ignore[no-untyped-def]
        self._count("Submit", context)
        response = super().Submit(request, context)  # type: ignore[no-untyped-call]
        if self.auto_commit:
            self.ledger.append([request.transaction_id], self.script.commit_code)
        return response

    def CommitStatus(self, request, context):  # type: ignore[no-untyped-def]
        self._count("CommitStatus", context)
        return super().CommitStatus(request, context)  # type: ignore[no-untyped-call]


class FakeGatewayBatch(batch_pb2_grpc.GatewayBatchServicer):
    """Each item handled by the scripted Gateway's own handler. `gate`, when set,
    holds every batch call until it is set; `batch_error` fails whole batch calls."""

    def __init__(self, gateway: CountingGateway) -> None:
        self.gateway = gateway
        self.sizes: dict[str, list[int]] = {"EndorseBatch": [], "SubmitBatch": []}
        self.gate: threading.Event | None = None
        self.batch_error: tuple[grpc.StatusCode, str] | None = None
        self._lock = threading.Lock()

    def _enter(self, name: str, size: int, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.sizes[name].append(size)
        if self.gate is not None:
            self.gate.wait(10)
        if self.batch_error is not None:
            context.abort(*self.batch_error)

    def _items(self, handler: Callable[[Any, Any], Any], requests: Any) -> Iterator[Any]:
        for request in requests:
            try:
                yield handler(request, _ItemContext()), None
            except _ItemAborted as aborted:
                yield None, aborted.error

    def EndorseBatch(self, request, context):  # type: ignore[no-untyped-def]
        self._enter("EndorseBatch", len(request.requests), context)
        outcomes = [
            batch_pb2.EndorseOutcome(response=r) if e is None else batch_pb2.EndorseOutcome(error=e)
            for r, e in self._items(self.gateway.Endorse, request.requests)
        ]
        return batch_pb2.EndorseOutcomes(outcomes=outcomes)

    def SubmitBatch(self, request, context):  # type: ignore[no-untyped-def]
        self._enter("SubmitBatch", len(request.requests), context)
        outcomes = [
            batch_pb2.SubmitOutcome(response=r) if e is None else batch_pb2.SubmitOutcome(error=e)
            for r, e in self._items(self.gateway.Submit, request.requests)
        ]
        return batch_pb2.SubmitOutcomes(outcomes=outcomes)


class FilteredDeliver(FakeDeliver):
    """`Deliver` as the SDK tests' fake; `DeliverFiltered` over a `FilteredLedger`."""

    def __init__(self, script: Script, ledger: FilteredLedger) -> None:
        super().__init__(script)
        self.ledger = ledger

    def DeliverFiltered(self, request_iterator, context):  # type: ignore[no-untyped-def]
        ledger = self.ledger
        envelope = next(request_iterator)
        header = txutil.parse_envelope_header(envelope.SerializeToString())
        assert header.signature_header.creator == USER.serialize()
        USER.identity.verify(header.payload_bytes, header.signature)
        info = ab_pb2.SeekInfo.FromString(header.payload.data)
        ledger.requests.append(info)
        if ledger.hold is not None:
            ledger.hold.wait(10)
        if ledger.refuse is not None:
            yield events_pb2.DeliverResponse(status=ledger.refuse)  # type: ignore[arg-type]
            return
        with ledger.changed:
            generation = ledger.generation
            number = (
                int(info.start.specified.number)
                if info.start.WhichOneof("Type") == "specified"
                else len(ledger.blocks) - 1
            )

        def more(after: int) -> Callable[[], bool]:
            return lambda: after < len(ledger.blocks) or ledger.generation != generation

        while context.is_active():
            with ledger.changed:
                ledger.changed.wait_for(more(number), 0.05)
                if ledger.generation != generation:
                    context.abort(grpc.StatusCode.UNAVAILABLE, "the stream broke")
                ready = ledger.blocks[number:]
            for block in ready:
                yield events_pb2.DeliverResponse(filtered_block=block)
                number += 1


class BatchNetwork:
    """A server on 127.0.0.1 with the fakes; `batch_service=False` leaves GatewayBatch
    out (a Fabric peer: UNIMPLEMENTED)."""

    def __init__(self, *, batch_service: bool = True) -> None:
        self.script = Script()
        self.ledger = FilteredLedger()
        self.gateway_service = CountingGateway(self.script, self.ledger)
        self.batch_service = FakeGatewayBatch(self.gateway_service)
        self.deliver = FilteredDeliver(self.script, self.ledger)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        gateway_pb2_grpc.add_GatewayServicer_to_server(self.gateway_service, self.server)  # type: ignore[no-untyped-call]
        events_pb2_grpc.add_DeliverServicer_to_server(self.deliver, self.server)  # type: ignore[no-untyped-call]
        if batch_service:
            batch_pb2_grpc.add_GatewayBatchServicer_to_server(  # type: ignore[no-untyped-call]
                self.batch_service, self.server
            )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def calls(self) -> Counter[str]:
        return self.gateway_service.calls

    def gateway(self, **kwargs: Any) -> Gateway:
        kwargs.setdefault("identity", client_identity())
        kwargs.setdefault("batching", True)
        return Gateway.connect(f"127.0.0.1:{self.port}", **kwargs)

    def close(self) -> None:
        if self.batch_service.gate is not None:
            self.batch_service.gate.set()
        if self.ledger.hold is not None:
            self.ledger.hold.set()
        self.ledger.break_streams()
        self.server.stop(grace=None).wait()
