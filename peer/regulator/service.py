"""The `scf.Regulator` gRPC servicer (issue 7 item 2): read-only, signed queries
by regulator identities over every channel of the regulator's peer.

Each RPC first authorises the `SignedRegulatorRequest` (`auth.Authorizer`) on
every channel it reads — PERMISSION_DENIED otherwise — then answers from the
channel ledgers (blocks, transactions, key history) or the indicator store
(exposure, overdue, LTV, exceptions, alerts, lineage). An empty `channel` means
every channel for the aggregate queries, alerts, exceptions and Watch.

Wiring (the peer's `node.py`): one `IndicatorStore` (`<data>/regulator.db`), one
`WatchHub`, per channel an `IndicatorListener(channel, ledger, store, sink=hub)`
registered on that channel's `Committer` (after `catch_up()`), and
`regulator_pb2_grpc.add_RegulatorServicer_to_server(RegulatorService(channels,
store, hub), server)`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, Protocol

import grpc

from chaincode.contracts.warehouse_rules import receipt_key
from chaincode.errors import ChaincodeError
from chaincode.stub import KeyModification
from common import block as blk
from common.blockstore import TxLocation
from common.config.bundle import ChannelBundle
from peer.ledger.types import VersionedValue
from peer.regulator import queries, txview
from peer.regulator.auth import Authorizer, BadRequest, RequestDenied
from peer.regulator.store import IndicatorStore, StoreReader, k
from peer.regulator.watch import Lagged, WatchHub, WatchItem
from protos.common import common_pb2
from protos.scf import regulator_pb2, regulator_pb2_grpc

log = logging.getLogger(__name__)

WAREHOUSE = "warehouse"


class RegulatorLedger(Protocol):
    """What the service reads of a channel's ledger (`LevelLedger` has it)."""

    def height(self) -> int: ...

    def block(self, number: int) -> common_pb2.Block | None: ...

    def commit_hash(self, block_num: int) -> bytes | None: ...

    def tx_location(self, txid: str) -> TxLocation | None: ...

    def history(self, namespace: str, key: str) -> list[KeyModification]: ...

    def get_state(self, namespace: str, key: str) -> VersionedValue | None: ...


class Channels(Protocol):
    """The channels the regulator's peer has joined."""

    def channel_ids(self) -> list[str]: ...

    def ledger(self, channel: str) -> RegulatorLedger | None: ...

    def bundle(self, channel: str) -> ChannelBundle | None: ...


class StaticChannels:
    """A `Channels` over fixed maps; `bundle_of` may return a fresh bundle after a
    config update."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ledgers: dict[str, RegulatorLedger] = {}
        self._bundles: dict[str, Callable[[], ChannelBundle]] = {}

    def add(
        self, channel: str, ledger: RegulatorLedger, bundle: Callable[[], ChannelBundle]
    ) -> None:
        with self._lock:
            self._ledgers[channel] = ledger
            self._bundles[channel] = bundle

    def channel_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._ledgers)

    def ledger(self, channel: str) -> RegulatorLedger | None:
        with self._lock:
            return self._ledgers.get(channel)

    def bundle(self, channel: str) -> ChannelBundle | None:
        with self._lock:
            getter = self._bundles.get(channel)
        return getter() if getter is not None else None


def _one(request: Any) -> list[str]:
    return [request.channel] if request.channel else []


class RegulatorService(regulator_pb2_grpc.RegulatorServicer):
    """See the module docstring. Thread-safe (reads only; the store and the
    ledgers allow concurrent readers)."""

    def __init__(
        self,
        channels: Channels,
        store: IndicatorStore,
        hub: WatchHub,
        *,
        clock: Callable[[], float] = time.time,
        max_skew_seconds: int = 300,
        watch_poll_seconds: float = 0.5,
    ) -> None:
        self._channels = channels
        self._store = store
        self._hub = hub
        self._auth = Authorizer(channels.bundle, clock=clock, max_skew_seconds=max_skew_seconds)
        self._poll = watch_poll_seconds

    # --- plumbing -------------------------------------------------------------------

    def _authorize(
        self,
        signed: regulator_pb2.SignedRegulatorRequest,
        context: grpc.ServicerContext,
        body: str,
        *,
        single: bool = False,
    ) -> tuple[Any, list[str]]:
        """(the body message, channels read). `single`: the body must name a channel."""

        def channels(request: regulator_pb2.RegulatorRequest) -> Sequence[str]:
            named = str(getattr(getattr(request, body), "channel", ""))
            if named:
                return [named]
            if single:
                raise BadRequest("channel is required")
            return self._channels.channel_ids()

        try:
            request, names = self._auth.authorize(signed, body, channels)
        except RequestDenied as exc:
            _abort(context, grpc.StatusCode.PERMISSION_DENIED, exc.message)
        except BadRequest as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        return getattr(request, body), names

    def _ledger(self, channel: str, context: grpc.ServicerContext) -> RegulatorLedger:
        ledger = self._channels.ledger(channel)
        if ledger is None:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"channel {channel!r} is not joined")
        return ledger

    # --- ledger queries ---------------------------------------------------------------

    def ListChannels(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.ListChannelsResponse:
        _, names = self._authorize(request, context, "list_channels")
        out = regulator_pb2.ListChannelsResponse()
        for channel in names:
            ledger = self._ledger(channel, context)
            height = ledger.height()
            info = regulator_pb2.ChannelInfo(
                channel=channel, height=height, indicator_height=self._store.height(channel)
            )
            last = ledger.block(height - 1) if height > 0 else None
            if last is not None:
                info.last_block_hash = blk.header_hash(last.header)
                info.last_commit_hash = ledger.commit_hash(height - 1) or b""
            out.channels.append(info)
        return out

    def GetBlock(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.GetBlockResponse:
        body, (channel,) = self._authorize(request, context, "get_block", single=True)
        ledger = self._ledger(channel, context)
        if body.WhichOneof("selector") == "header_hash":
            number = self._store.get(channel, k("bh", body.header_hash.hex()))
            block = ledger.block(int(number)) if number is not None else None
        else:
            block = ledger.block(body.number)
        if block is None:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"no such block on {channel}")
        number = block.header.number
        out = regulator_pb2.GetBlockResponse(
            header_hash=blk.header_hash(block.header),
            commit_hash=ledger.commit_hash(number) or b"",
        )
        out.block.CopyFrom(block)
        flags = bytes(block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER])
        for i, entry in enumerate(block.data.data):
            out.txs.append(txview.summary(i, entry, flags[i] if i < len(flags) else 255))
        return out

    def GetTransaction(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.GetTransactionResponse:
        body, names = self._authorize(request, context, "get_transaction")
        for channel in names:
            ledger = self._ledger(channel, context)
            location = ledger.tx_location(body.tx_id)
            if location is None:
                continue
            block = ledger.block(location.block_number)
            if block is None:
                break
            entry = block.data.data[location.tx_index]
            return txview.detail(
                channel,
                location.block_number,
                location.tx_index,
                entry,
                location.validation_code,
            )
        _abort(context, grpc.StatusCode.NOT_FOUND, f"no transaction {body.tx_id!r}")

    def KeyHistory(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.KeyHistoryResponse:
        body, (channel,) = self._authorize(request, context, "key_history", single=True)
        history = self._ledger(channel, context).history(body.namespace, body.key)
        items, token = _offset_page(history, body.page_size, body.page_token, context)
        out = regulator_pb2.KeyHistoryResponse(next_page_token=token)
        out.modifications.extend(_modification(m) for m in items)
        return out

    def ReceiptHistory(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.ReceiptHistoryResponse:
        body, (channel,) = self._authorize(request, context, "receipt_history", single=True)
        ledger = self._ledger(channel, context)
        try:
            key = receipt_key(body.receipt_id)
        except ChaincodeError as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        items, token = _offset_page(
            ledger.history(WAREHOUSE, key), body.page_size, body.page_token, context
        )
        current = ledger.get_state(WAREHOUSE, key)
        out = regulator_pb2.ReceiptHistoryResponse(
            next_page_token=token, current=current.value if current is not None else b""
        )
        out.modifications.extend(_modification(m) for m in items)
        attempts = (self._store.get(channel, k("pah", body.receipt_id)) or []) + (
            self._store.get(channel, k("pa", body.receipt_id)) or []
        )
        out.pledge_attempt_tx_ids.extend(str(a[0]) for a in attempts)
        return out

    def VoucherLineage(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.VoucherLineageResponse:
        body, (channel,) = self._authorize(request, context, "voucher_lineage", single=True)
        self._ledger(channel, context)
        tree = self._guard(context, lambda view: queries.lineage(view, channel, body.voucher_id))
        if tree is None:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"no voucher {body.voucher_id!r}")
        out = regulator_pb2.VoucherLineageResponse(
            root_id=tree.root_id,
            face_total=tree.face_total,
            currency=tree.currency,
            leaf_total=tree.leaf_total,
        )
        for node in tree.nodes:
            message = regulator_pb2.VoucherNode(
                voucher_id=node["voucher_id"],
                parent_id=node["parent_id"] or "",
                depth=int(node["depth"]),
                holder=node["holder"],
                amount=int(node["amount"]),
                currency=node["currency"],
                status=node["status"],
                issuer=node["issuer"],
                maturity_date=node["maturity_date"],
                created_tx=node["created_tx"],
                updated_tx=node["updated_tx"],
                created_at=int(node["created_at"]),
                updated_at=int(node["updated_at"]),
                children=node["children"],
                financier=node["financier"],
            )
            for holder, tx_id, ts in node["holders"]:
                message.holders.append(
                    regulator_pb2.HolderChange(holder=holder, tx_id=tx_id, timestamp=int(ts))
                )
            out.nodes.append(message)
        return out

    # --- indicators -------------------------------------------------------------------

    def Exposure(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.ExposureResponse:
        body, names = self._authorize(request, context, "exposure")
        rows = self._guard(
            context, lambda view: queries.exposure(view, names, body.issuer, body.as_of)
        )
        out = regulator_pb2.ExposureResponse()
        for row in rows:
            message = regulator_pb2.IssuerExposure(
                channel=row.channel,
                issuer=row.issuer,
                currency=row.currency,
                live_face=row.live_face,
                financed_face=row.financed_face,
                pending_face=row.pending_face,
                leaves=row.leaves,
                as_of=row.as_of,
            )
            for bucket in row.buckets.values():
                message.buckets.append(
                    regulator_pb2.MaturityBucket(
                        label=bucket.label,
                        max_days=queries.bucket_max_days(bucket.label),
                        live_face=bucket.live_face,
                        financed_face=bucket.financed_face,
                    )
                )
            out.exposures.append(message)
        return out

    def Overdue(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.OverdueResponse:
        body, names = self._authorize(request, context, "overdue")
        issuers, blocked = self._guard(
            context, lambda view: queries.overdue(view, names, body.issuer, body.as_of)
        )
        out = regulator_pb2.OverdueResponse()
        for row in issuers:
            out.issuers.append(
                regulator_pb2.IssuerOverdue(
                    channel=row.channel,
                    issuer=row.issuer,
                    currency=row.currency,
                    overdue_amount=row.overdue_amount,
                    defaulted_amount=row.defaulted_amount,
                    overdue_leaves=row.overdue_leaves,
                    defaulted_leaves=row.defaulted_leaves,
                    max_days_overdue=row.max_days_overdue,
                    as_of=row.as_of,
                )
            )
        for b in blocked:
            out.blocked.append(
                regulator_pb2.BlockedIssuer(
                    channel=b.channel, issuer=b.issuer, root_id=b.root_id, since_tx=b.since_tx
                )
            )
        return out

    def LtvDistribution(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.LtvDistributionResponse:
        body, names = self._authorize(request, context, "ltv_distribution")
        prefix = k("mc", body.bank, "") if body.bank else k("mc", "")
        banks, (calls, token) = self._guard(
            context,
            lambda view: (
                queries.ltv_distribution(view, names, body.bank),
                queries.page(view, [(c, prefix) for c in names], body.page_size, body.page_token),
            ),
        )
        out = regulator_pb2.LtvDistributionResponse(next_page_token=token)
        for row in banks:
            message = regulator_pb2.BankLtv(
                channel=row.channel,
                bank=row.bank,
                currency=row.currency,
                loans=row.loans,
                outstanding=row.outstanding,
            )
            for b in row.buckets:
                message.buckets.append(
                    regulator_pb2.LtvBucket(
                        label=b.label,
                        lo_bps=b.lo_bps,
                        hi_bps=b.hi_bps,
                        loans=b.loans,
                        outstanding=b.outstanding,
                    )
                )
            out.banks.append(message)
        for channel, call in calls:
            out.margin_calls.append(regulator_pb2.MarginCall(channel=channel, **call))
        return out

    def Exceptions(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.ExceptionsResponse:
        body, names = self._authorize(request, context, "exceptions")
        rows, token = self._guard(
            context,
            lambda view: queries.page(
                view,
                queries.exception_sources(names, body.kind),
                body.page_size,
                body.page_token,
            ),
        )
        out = regulator_pb2.ExceptionsResponse(next_page_token=token)
        for channel, row in rows:
            long_tenor = "tenor_days" in row
            out.exceptions.append(
                regulator_pb2.ComplianceException(
                    channel=channel,
                    kind="LONG_TENOR" if long_tenor else "SME_TERM",
                    voucher_id=row["voucher_id"],
                    root_id=row["root_id"],
                    issuer=row["issuer"],
                    amount=int(row["amount"]),
                    currency=row["currency"],
                    tenor_days=int(row.get("tenor_days", 0)),
                    maturity_date=row["maturity_date"],
                    reason="; ".join(row["reasons"]) if long_tenor else row["code"],
                    tx_ids=row["tx_ids"],
                )
            )
        return out

    def Alerts(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> regulator_pb2.AlertsResponse:
        body, names = self._authorize(request, context, "alerts")
        rows, token = self._guard(
            context,
            lambda view: queries.page(
                view,
                queries.alert_sources(names, body.rule),
                body.page_size,
                body.page_token,
                resolve=queries.resolve_alert(view, body.rule),
            ),
        )
        out = regulator_pb2.AlertsResponse(next_page_token=token)
        out.alerts.extend(alert_message(channel, row) for channel, row in rows)
        return out

    def Watch(
        self, request: regulator_pb2.SignedRegulatorRequest, context: grpc.ServicerContext
    ) -> Iterator[regulator_pb2.WatchEvent]:
        signed = request
        try:
            parsed, names = self._auth.authorize(
                signed,
                "watch",
                lambda r: list(r.watch.channels) or self._channels.channel_ids(),
            )
        except RequestDenied as exc:
            _abort(context, grpc.StatusCode.PERMISSION_DENIED, exc.message)
        except BadRequest as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        body = parsed.watch
        with self._hub.subscribe(names) as subscription:
            while context.is_active():
                try:
                    item = subscription.get(self._poll)
                except Lagged as exc:
                    _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, exc.message)
                if item is None:
                    continue
                event = watch_event(item)
                if (body.blocks_only and item.kind != "block") or (
                    body.alerts_only and item.kind != "alert"
                ):
                    continue
                yield event

    def _guard(self, context: grpc.ServicerContext, call: Callable[[StoreReader], Any]) -> Any:
        """Run a query over one consistent snapshot of the indicator store."""
        with self._store.snapshot() as view:
            try:
                return call(view)
            except queries.QueryError as exc:
                _abort(context, grpc.StatusCode.INVALID_ARGUMENT, exc.message)


def alert_message(channel: str, row: dict[str, Any]) -> regulator_pb2.Alert:
    return regulator_pb2.Alert(
        channel=channel,
        seq=int(row["seq"]),
        rule=row["rule"],
        subject=row["subject"],
        evidence_tx_ids=row["evidence_tx_ids"],
        block_number=int(row["block_number"]),
        tx_id=row["tx_id"],
        timestamp=int(row["timestamp"]),
        details_json=json.dumps(row["details"], sort_keys=True),
    )


def watch_event(item: WatchItem) -> regulator_pb2.WatchEvent:
    if item.kind == "alert":
        return regulator_pb2.WatchEvent(alert=alert_message(item.channel, dict(item.payload)))
    p = item.payload
    return regulator_pb2.WatchEvent(
        block=regulator_pb2.BlockNotice(
            channel=item.channel,
            number=int(p["number"]),
            header_hash=bytes(p["header_hash"]),
            tx_count=int(p["tx_count"]),
            valid_tx_count=int(p["valid_tx_count"]),
            commit_hash=bytes(p["commit_hash"]),
        )
    )


def _modification(m: KeyModification) -> regulator_pb2.KeyModification:
    return regulator_pb2.KeyModification(
        tx_id=m.tx_id, value=m.value, timestamp=m.timestamp.seconds, is_delete=m.is_delete
    )


def _offset_page(
    items: list[KeyModification], page_size: int, token: str, context: grpc.ServicerContext
) -> tuple[list[KeyModification], str]:
    size = min(page_size or queries.DEFAULT_PAGE, queries.MAX_PAGE)
    try:
        start = int(token) if token else 0
    except ValueError:
        _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "page_token is malformed")
    end = start + size
    return items[start:end], str(end) if end < len(items) else ""


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")
