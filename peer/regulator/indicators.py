"""Risk indicators kept incrementally as blocks commit (issue 7 item 3).

`IndicatorListener` is a `CommitListener` for one channel. For each committed
block it takes the VALID transactions, decodes the JSON of the records it tables
(voucher, voucher root, blocked issuer, receipt, loan and pledge-attempt) and
chaincode events, updates the tables and runs the detectors, then writes
everything with the new height in ONE sync batch.

Live commits take the transactions from the validator's own parse, carried by the
commit event (`committed_transactions`: no envelope is parsed twice); catch-up and
rebuild parse them from the committed block (`valid_transactions`). Both give the
same `TxRecord`s and go through the same `apply_records`, so a rebuild from the
ledger yields byte-identical tables.

Ordering rules: blocks apply in number order; a block already in the tables
(`number < height`) is ignored; a gap (`number > height`, e.g. the regulator peer
restarted with an older indicator store) is filled from the ledger first.

Work per block is O(keys written + detector rows touched) — never a scan.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chaincode.contracts.receivable_model import BLOCKED, ROOT, VOUCHER
from chaincode.stub import COMPOSITE_KEY_NAMESPACE, split_composite_key
from common import block as blk
from common import txutil
from peer.committer import BlockCommitted
from peer.ledger import rwset
from peer.regulator import detectors as det
from peer.regulator.projections import (
    SPLIT,
    Effects,
    loan_effects,
    loan_projection,
    voucher_effects,
    voucher_projection,
)
from peer.regulator.store import BlockBatch, IndicatorStore, k
from protos.common import common_pb2
from protos.peer import chaincode_event_pb2, transaction_pb2

log = logging.getLogger(__name__)

RECEIVABLE = "receivable"
WAREHOUSE = "warehouse"
TABLE_NAMESPACES = frozenset({RECEIVABLE, WAREHOUSE})
WAREHOUSE_TYPES = frozenset({"wr_loan", "receipt", "wr_pledge_attempt"})
PLATFORM_TZ = dt.timezone(dt.timedelta(hours=8))


class BlockSource(Protocol):
    """What the listener needs of a channel's ledger (`LevelLedger` has it)."""

    def height(self) -> int: ...

    def blocks(self, start: int, stop: int | None = None) -> Iterator[common_pb2.Block]: ...

    def commit_hash(self, block_num: int) -> bytes | None: ...


class BlockSink(Protocol):
    """Told about each block once its indicator batch is durable (the Watch hub)."""

    def publish(
        self, channel: str, notice: Mapping[str, Any], alerts: list[dict[str, Any]]
    ) -> None: ...


@dataclass(frozen=True)
class TxRecord:
    """A VALID transaction as the indicator tables need it: `writes` are
    `(namespace, key, value or None)` in the contracts' namespaces only (no other
    namespace feeds a table); `event` is the event payload's JSON object, or `{}`."""

    tx_index: int
    tx_id: str
    timestamp: int
    chaincode: str
    writes: tuple[tuple[str, str, bytes | None], ...]
    event_name: str
    event: Mapping[str, Any]


def valid_transactions(block: common_pb2.Block) -> Iterator[TxRecord]:
    """The block's VALID endorser transactions, in block order (config and
    unparseable envelopes are skipped), parsed from the committed block itself
    (catch-up and rebuild: no validator verdict at hand)."""
    flags = bytes(block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER])
    for i, entry in enumerate(block.data.data):
        if i >= len(flags) or flags[i] != transaction_pb2.VALID:
            continue
        try:
            tx = txutil.parse_transaction(entry)
            rw = rwset.decode(tx.rwset_bytes)
        except (txutil.EnvelopeError, rwset.RWSetError):
            continue
        yield _record(i, tx.tx_id, tx.timestamp[0], tx.chaincode, rw, tx.event_bytes)


def committed_transactions(event: BlockCommitted) -> Iterator[TxRecord]:
    """`valid_transactions(event.block)`, from the validator's parse carried by the
    event (`TxInfo.rwset`) instead of parsing every envelope again. An event without
    one `TxInfo` per envelope falls back to parsing the block.

    Same records as `valid_transactions`: a VALID code implies the envelope parsed
    and its rwset decoded (the validator checks both first), and the ledger stored
    exactly these codes as the block's TRANSACTIONS_FILTER.
    """
    if len(event.txs) != len(event.block.data.data):
        yield from valid_transactions(event.block)
        return
    for tx in event.txs:
        if tx.code == transaction_pb2.VALID and tx.rwset is not None:
            yield _record(
                tx.tx_num, tx.tx_id, tx.timestamp.seconds, tx.chaincode, tx.rwset, tx.event_bytes
            )


def _record(
    tx_num: int, tx_id: str, seconds: int, chaincode: str, rw: rwset.TxRWSet, event_bytes: bytes
) -> TxRecord:
    """The one place both paths (`valid_transactions`, `committed_transactions`)
    turn a transaction into a `TxRecord`, so they cannot drift apart."""
    name, event = "", {}
    if event_bytes:
        cc_event = chaincode_event_pb2.ChaincodeEvent.FromString(event_bytes)
        name = cc_event.event_name
        event = _json(cc_event.payload) or {}
    # Only the contracts' namespaces feed the tables (`apply_transaction`).
    writes = tuple(
        (w.namespace, w.key, w.value)
        for ns in rw.namespaces
        if ns.namespace in TABLE_NAMESPACES
        for w in ns.writes
    )
    return TxRecord(tx_num, tx_id, seconds, chaincode, writes, name, event)


def _apply_effects(batch: BlockBatch, old: Effects, new: Effects) -> None:
    for keys, vector in old.aggregates.items():
        batch.add_to_all(keys, vector, -1)
    for keys, vector in new.aggregates.items():
        batch.add_to_all(keys, vector, +1)
    for key in old.rows:
        if key not in new.rows:
            batch.delete(key)
    for key, row in new.rows.items():
        batch.put(key, row)


_MAYBE_OBJECT = frozenset(b"{ \t\n\r\x00\xef\xfe\xff")
"""First bytes after which `json.loads` might return a dict: `{`, JSON whitespace,
and the starts of the BOMs and UTF-16/32 forms `json.loads` detects on bytes."""


def _json(raw: bytes) -> dict[str, Any] | None:
    """`json.loads(raw)` when it is a dict, else None — without raising and catching
    a JSONDecodeError for the common non-JSON value. Any other first byte starts a
    UTF-8 text (no BOM: not 0xef; a second byte 0 would mean UTF-16/32) whose first
    character is neither `{` nor whitespace, so `json.loads` gives no dict."""
    if not raw or (raw[0] not in _MAYBE_OBJECT and raw[1:2] != b"\x00"):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def apply_transaction(ctx: det.TxContext, tx: TxRecord) -> None:
    """Apply one valid transaction's writes and event to the tables."""
    vouchers: list[dict[str, Any]] = []
    loans: list[dict[str, Any]] = []
    for namespace, raw_key, value in tx.writes:
        # Only composite keys of the two contracts' namespaces are tabled; a value is
        # decoded only for the object types that use it.
        if namespace not in TABLE_NAMESPACES or not raw_key.startswith(COMPOSITE_KEY_NAMESPACE):
            continue
        object_type, parts = split_composite_key(raw_key)
        if namespace == RECEIVABLE:
            if object_type == VOUCHER:
                record = _json(value) if value is not None else None
                if record is not None:
                    vouchers.append(record)
            elif object_type == BLOCKED and parts:
                record = _json(value) if value is not None else None
                if record is None:
                    ctx.batch.delete(k("blk", parts[0]))
                else:
                    ctx.batch.put(k("blk", parts[0]), {**record, "issuer": parts[0]})
            elif object_type == ROOT:
                record = _json(value) if value is not None else None
                if record is not None:
                    ctx.batch.put(k("root", record["root_id"]), record)
        elif object_type in WAREHOUSE_TYPES:
            record = _json(value) if value is not None else None
            if record is None:
                continue
            if object_type == "wr_loan":
                loans.append(record)
            elif object_type == "receipt":
                _apply_receipt(ctx, record)
            elif parts:  # wr_pledge_attempt
                det.record_pledge_attempt(
                    ctx,
                    parts[0],
                    "REJECTED",
                    str(record.get("bank", "")),
                    str(record.get("error_code", "")),
                )
    alerts = tx.event.get("alerts") or []
    flagged = {str(a.get("invoice_hash")) for a in alerts if a.get("type") == "DuplicateTradeDoc"}
    splits: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(vouchers, key=lambda r: (int(r.get("depth", 0)), r["voucher_id"])):
        _apply_voucher(ctx, record, flagged, splits)
    for root_id, children in splits.items():
        det.check_dust(ctx, root_id, children)
    for record in loans:
        view = loan_projection(record)
        key = k("loan", view["bank"], view["loan_id"])
        prior = ctx.batch.get(key)
        _apply_effects(ctx.batch, loan_effects(prior), loan_effects(view))
        ctx.batch.put(key, view)
    _event_alerts(ctx, tx, alerts, loans)


def _apply_voucher(
    ctx: det.TxContext,
    record: dict[str, Any],
    flagged: set[str],
    splits: dict[str, list[dict[str, Any]]],
) -> None:
    key = k("v", record["voucher_id"])
    prior = ctx.batch.get(key)
    if prior is not None:
        base = prior["holders"]
    elif record.get("parent_id"):
        parent = ctx.batch.get(k("v", record["parent_id"]))
        base = parent["holders"] if parent is not None else []
    else:
        base = []
    holders = det.extend_holder_path(
        ctx, base, record["holder"], record["issuer"], record["voucher_id"]
    )
    created_at = prior["created_at"] if prior is not None else ctx.ts
    view = voucher_projection(record, holders, created_at, ctx.ts)
    _apply_effects(ctx.batch, voucher_effects(prior), voucher_effects(view))
    ctx.batch.put(key, view)
    if prior is None and view["parent_id"] is None:
        det.index_trade_docs(ctx, view, flagged)
        if view["long_tenor"]:
            tenor = (
                dt.date.fromisoformat(view["maturity_date"])
                - dt.date.fromisoformat(view["issue_date"])
            ).days
            ctx.batch.put(
                k("lt", view["root_id"]),
                {
                    "voucher_id": view["voucher_id"],
                    "root_id": view["root_id"],
                    "issuer": view["issuer"],
                    "amount": view["amount"],
                    "currency": view["currency"],
                    "tenor_days": tenor,
                    "maturity_date": view["maturity_date"],
                    "reasons": [],
                    "tx_ids": [ctx.tx_id],
                },
            )
    if prior is None and view["parent_id"] is not None:
        splits.setdefault(view["root_id"], []).append(view)
    was_split = prior is not None and prior["status"] == SPLIT
    if view["status"] == SPLIT and not was_split:
        det.record_split(ctx, view["root_id"], len(view["children"]))
    if view["review_reason"] and (prior is None or prior["review_reason"] != view["review_reason"]):
        row = ctx.batch.get(k("lt", view["root_id"]))
        if row is not None:
            row["reasons"] = [*row["reasons"], view["review_reason"]]
            row["tx_ids"] = [*row["tx_ids"], ctx.tx_id]
            ctx.batch.put(k("lt", view["root_id"]), row)


def _apply_receipt(ctx: det.TxContext, record: dict[str, Any]) -> None:
    receipt_id = str(record["receipt_id"])
    key = k("rc", receipt_id)
    prior = ctx.batch.get(key)
    pledge = record.get("pledge") or None
    view = {
        "receipt_id": receipt_id,
        "status": record.get("status"),
        "holder": record.get("holder"),
        "warehouse_id": record.get("warehouse_id"),
        "pledge_bank": (pledge or {}).get("pledgee_bank") or "",
        "pledge_loan": (pledge or {}).get("loan_id") or "",
        "created_tx": prior["created_tx"] if prior is not None else ctx.tx_id,
    }
    ctx.batch.put(key, view)
    before = (prior or {}).get("pledge_loan") or ""
    if view["pledge_loan"] and view["pledge_loan"] != before:
        det.record_pledge_attempt(ctx, receipt_id, "PLEDGED", str(view["pledge_bank"]), "")
    elif before and not view["pledge_loan"]:
        det.close_pledge_window(ctx, receipt_id)


def _event_alerts(
    ctx: det.TxContext, tx: TxRecord, alerts: list[Any], loans: list[dict[str, Any]]
) -> None:
    for alert in alerts:
        if not isinstance(alert, dict):
            continue
        known = det.CONTRACT_ALERT_RULES.get(str(alert.get("type")))
        if known is None:
            continue
        rule, subject_field = known
        subject = str(alert.get(subject_field, ""))
        # Evidence: the tx that created the voucher (or root) the alert is about.
        evidence: list[str] = []
        node_id = str(alert.get("root_id") or alert.get("voucher_id") or "")
        node = ctx.batch.get(k("v", node_id)) if node_id else None
        if node is not None:
            evidence.append(node["created_tx"])
        ctx.alert(rule, subject, evidence, alert)
        if rule == "SME_TERM_EXCEPTION":
            view = ctx.batch.get(k("v", subject)) or {}
            ctx.batch.put(
                k("sme", subject),
                {
                    "voucher_id": subject,
                    "root_id": view.get("root_id", subject),
                    "issuer": view.get("issuer", str(tx.event.get("actor", ""))),
                    "amount": int(view.get("amount", 0)),
                    "currency": view.get("currency", ""),
                    "maturity_date": str(alert.get("maturity_date", "")),
                    "latest": str(alert.get("latest", "")),
                    "code": str(alert.get("code", "")),
                    "tx_ids": [ctx.tx_id],
                },
            )
    if tx.chaincode != WAREHOUSE:
        return
    if tx.event_name == "StockShortfall":
        for change in tx.event.get("changes") or []:
            if not isinstance(change, dict) or "shortfall" not in change:
                continue
            frozen = [str(r) for r in change.get("frozen") or []]
            issued = [(ctx.batch.get(k("rc", r)) or {}).get("created_tx", "") for r in frozen]
            ctx.alert(
                det.STOCK_SHORTFALL,
                str(change.get("key", "")),
                issued,
                {"shortfall": change.get("shortfall"), "frozen_receipts": frozen},
            )
    loan_rule = det.WAREHOUSE_EVENT_RULES.get(tx.event_name)
    if loan_rule is not None:
        for loan in loans:
            view = loan_projection(loan)
            ctx.alert(
                loan_rule,
                f"{view['bank']}/{view['loan_id']}",
                [],
                {"ltv_bps": view["ltv_bps"], "status": view["status"]},
            )


def platform_date(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts, tz=PLATFORM_TZ).date()


def apply_block(
    store: IndicatorStore,
    channel: str,
    block: common_pb2.Block,
    config: det.DetectorConfig,
) -> list[dict[str, Any]]:
    """Apply one committed block (its number must equal the store's height) in
    one sync batch; returns the alerts it raised."""
    return apply_records(
        store,
        channel,
        block.header.number,
        blk.header_hash(block.header),
        valid_transactions(block),
        config,
    )


def apply_committed(
    store: IndicatorStore, channel: str, event: BlockCommitted, config: det.DetectorConfig
) -> list[dict[str, Any]]:
    """`apply_block(event.block)` from the validator's parse of its transactions
    (`committed_transactions`): the same tables, without parsing the block again."""
    return apply_records(
        store,
        channel,
        event.number,
        blk.header_hash(event.block.header),
        committed_transactions(event),
        config,
    )


def apply_records(
    store: IndicatorStore,
    channel: str,
    number: int,
    header_hash: bytes,
    txs: Iterable[TxRecord],
    config: det.DetectorConfig,
) -> list[dict[str, Any]]:
    """`apply_block` over already-decoded valid transactions (also the entry
    point for synthetic load in benchmarks)."""
    batch = store.batch(channel)
    alerts: list[dict[str, Any]] = []
    last_ts = 0
    for tx in txs:
        ctx = det.TxContext(batch, number, tx.tx_id, tx.timestamp, config)
        apply_transaction(ctx, tx)
        alerts.extend(ctx.alerts)
        last_ts = max(last_ts, tx.timestamp)
    batch.put(k("bh", header_hash.hex()), number)
    batch.commit(number + 1, last_ts)
    return alerts


class IndicatorListener:
    """Keeps one channel's indicator tables; see the module docstring.

    Runs on the committing thread (one sync batch per block, O(changed keys));
    `sink` (the Watch hub) hears of each block after it is durable.
    """

    def __init__(
        self,
        channel: str,
        ledger: BlockSource,
        store: IndicatorStore,
        *,
        config: det.DetectorConfig | None = None,
        sink: BlockSink | None = None,
    ) -> None:
        self.channel = channel
        self._ledger = ledger
        self._store = store
        self._config = config or det.DetectorConfig()
        self._sink = sink
        self._lock = threading.Lock()

    def catch_up(self) -> int:
        """Apply the ledger's blocks the tables lack; returns how many."""
        with self._lock:
            return self._replay(self._ledger.height())

    def block_committed(self, event: BlockCommitted) -> None:
        with self._lock:
            height = self._store.height(self.channel)
            if event.number < height:
                return
            if event.number > height:
                self._replay(event.number)
            alerts = apply_committed(self._store, self.channel, event, self._config)
            self._publish(event.block, event.commit_hash, alerts)

    def _replay(self, stop: int) -> int:
        start = self._store.height(self.channel)
        if start >= stop:
            return 0
        for block in self._ledger.blocks(start, stop):
            alerts = apply_block(self._store, self.channel, block, self._config)
            self._publish(block, self._ledger.commit_hash(block.header.number) or b"", alerts)
        return stop - start

    def _publish(
        self, block: common_pb2.Block, commit_hash: bytes, alerts: list[dict[str, Any]]
    ) -> None:
        if self._sink is None:
            return
        flags = bytes(block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER])
        notice = {
            "channel": self.channel,
            "number": block.header.number,
            "header_hash": blk.header_hash(block.header),
            "tx_count": len(block.data.data),
            "valid_tx_count": sum(1 for f in flags if f == transaction_pb2.VALID),
            "commit_hash": commit_hash,
        }
        try:
            self._sink.publish(self.channel, notice, alerts)
        except Exception:
            log.exception("regulator watch sink failed on block %d", block.header.number)


def rebuild(
    ledger: BlockSource,
    store: IndicatorStore,
    channel: str,
    config: det.DetectorConfig | None = None,
) -> int:
    """Drop `channel`'s tables and rebuild them from the ledger's blocks; the
    result equals the incrementally kept tables (same `apply_block`)."""
    store.clear(channel)
    return IndicatorListener(channel, ledger, store, config=config).catch_up()
