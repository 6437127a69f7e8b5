"""Suspicious-pattern detectors of DOMAIN §6.2, run incrementally as each valid
transaction is applied to the indicator tables.

Each detector reads and writes only a few rows keyed by the subject (a voucher
root, a document hash, a receipt), so its cost per transaction is independent of
the ledger's size. Each alert carries the tx ids that prove it.

* CIRCULAR_TRANSFER: a voucher's holder path (root payee → … → this node) gets a
  holder it already had, or the issuer (A→B→C→A). Evidence: the txs of the cycle.
* TRADE_DOC_REUSE: an invoice or contract hash already used by another live root
  (same or another issuer). Evidence: the first use and the reuse.
* SPLIT_STORM: more than `split_storm_splits` splits (or `split_storm_children`
  children) of one root within `window_seconds` by tx timestamp.
  SPLIT_DUST: children below `min_split_unit × 10`.
* REPEATED_PLEDGE: a second pledge attempt (successful or recorded as rejected
  in the audit log) on a receipt while a pledge is live or since the last release.
* STOCK_SHORTFALL: the contract's `StockShortfall` event; evidence adds the txs
  that issued the frozen receipts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from peer.regulator.store import BlockBatch, k

CIRCULAR_TRANSFER = "CIRCULAR_TRANSFER"
TRADE_DOC_REUSE = "TRADE_DOC_REUSE"
SPLIT_STORM = "SPLIT_STORM"
SPLIT_DUST = "SPLIT_DUST"
REPEATED_PLEDGE = "REPEATED_PLEDGE"
STOCK_SHORTFALL = "STOCK_SHORTFALL"

CONTRACT_ALERT_RULES: Mapping[str, tuple[str, str]] = {
    "LongTenorVoucher": ("LONG_TENOR", "voucher_id"),
    "SmePaymentTermException": ("SME_TERM_EXCEPTION", "voucher_id"),
    "VoucherOverdue": ("VOUCHER_OVERDUE", "root_id"),
    "IssuerBlocked": ("ISSUER_BLOCKED", "issuer"),
}
"""Alerts a receivable transaction's event carries, passed through as (rule,
field naming the subject); DuplicateTradeDoc is covered by TRADE_DOC_REUSE,
with more evidence."""

WAREHOUSE_EVENT_RULES: Mapping[str, str] = {
    "LtvWarning": "LTV_WARNING",
    "MarginCall": "MARGIN_CALL",
    "LoanDefaulted": "LOAN_DEFAULTED",
}

CLOSED_ROOT = frozenset({"REJECTED", "CANCELLED"})


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds (DOMAIN §6.2 leaves them to the deployment)."""

    split_storm_splits: int = 5
    split_storm_children: int = 50
    window_seconds: int = 86_400
    min_split_unit: int = 1


@dataclass
class TxContext:
    """One valid transaction being applied: where alerts go and what evidence it is."""

    batch: BlockBatch
    block_num: int
    tx_id: str
    ts: int
    config: DetectorConfig
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def alert(
        self, rule: str, subject: str, evidence: Sequence[str], details: Mapping[str, Any]
    ) -> None:
        """Store an alert (`al/<seq>` plus the rule index `ar/<rule>/<seq>`)."""
        seq = self.batch.next_alert_seq()
        ordered = list(dict.fromkeys([*(e for e in evidence if e), self.tx_id]))
        alert = {
            "seq": seq,
            "rule": rule,
            "subject": subject,
            "evidence_tx_ids": ordered,
            "block_number": self.block_num,
            "tx_id": self.tx_id,
            "timestamp": self.ts,
            "details": dict(details),
        }
        self.batch.put(k("al", f"{seq:016d}"), alert)
        self.batch.put(k("ar", rule, f"{seq:016d}"), seq)
        self.alerts.append(alert)


def extend_holder_path(
    ctx: TxContext, base: list[list[Any]], holder: str, issuer: str, subject: str
) -> list[list[Any]]:
    """`base` plus `holder` when it changed; alerts CIRCULAR_TRANSFER when the
    new holder already held this lineage (or is the issuer)."""
    path = [list(entry) for entry in base]
    if path and path[-1][0] == holder:
        return path
    earlier = [i for i, entry in enumerate(path) if entry[0] == holder]
    if earlier or (path and holder == issuer):
        start = earlier[0] if earlier else 0
        ctx.alert(
            CIRCULAR_TRANSFER,
            subject,
            [str(entry[1]) for entry in path[start:]],
            {
                "holder": holder,
                "path": [entry[0] for entry in path] + [holder],
                "to_issuer": holder == issuer,
            },
        )
    path.append([holder, ctx.tx_id, ctx.ts])
    return path


def index_trade_docs(ctx: TxContext, view: Mapping[str, Any], contract_flagged: set[str]) -> None:
    """Claim a new root's invoice and contract hashes; a hash claimed by another
    root that is still open is TRADE_DOC_REUSE."""
    docs = [("invoice", h) for h in view["underlying"]["invoice_hashes"]]
    if view["underlying"]["contract_hash"]:
        docs.append(("contract", view["underlying"]["contract_hash"]))
    for kind, digest in docs:
        key = k("doc", digest)
        first = ctx.batch.get(key)
        mine = {"kind": kind, "root_id": view["root_id"], "issuer": view["issuer"], "tx": ctx.tx_id}
        if first is None:
            ctx.batch.put(key, mine)
            continue
        if first["root_id"] == view["root_id"]:
            continue
        first_view = ctx.batch.get(k("v", first["root_id"]))
        if first_view is not None and first_view["status"] in CLOSED_ROOT:
            ctx.batch.put(key, mine)  # released by a rejected/cancelled root
            continue
        ctx.alert(
            TRADE_DOC_REUSE,
            digest,
            [first["tx"]],
            {
                "kind": kind,
                "first_root": first["root_id"],
                "first_issuer": first["issuer"],
                "root_id": view["root_id"],
                "issuer": view["issuer"],
                "same_issuer": first["issuer"] == view["issuer"],
                "contract_flagged": digest in contract_flagged,
            },
        )


def record_split(ctx: TxContext, root_id: str, children: int) -> None:
    """A node of `root_id` was split into `children` nodes at `ctx.ts`."""
    cfg = ctx.config
    key = k("ss", root_id)
    state = ctx.batch.get(key) or {"events": [], "alerted": False}
    events = [e for e in state["events"] if e[0] > ctx.ts - cfg.window_seconds]
    events.append([ctx.ts, ctx.tx_id, children])
    splits, kids = len(events), sum(int(e[2]) for e in events)
    storm = splits > cfg.split_storm_splits or kids > cfg.split_storm_children
    if storm and not state["alerted"]:
        ctx.alert(
            SPLIT_STORM,
            root_id,
            [str(e[1]) for e in events],
            {"splits": splits, "children": kids, "window_seconds": cfg.window_seconds},
        )
    ctx.batch.put(key, {"events": events, "alerted": storm})


def check_dust(ctx: TxContext, root_id: str, children: Sequence[Mapping[str, Any]]) -> None:
    threshold = ctx.config.min_split_unit * 10
    dust = [c for c in children if int(c["amount"]) < threshold]
    if dust:
        ctx.alert(
            SPLIT_DUST,
            root_id,
            [],
            {
                "threshold": threshold,
                "children": {str(c["voucher_id"]): int(c["amount"]) for c in dust},
            },
        )


def record_pledge_attempt(
    ctx: TxContext, receipt_id: str, outcome: str, bank: str, error_code: str
) -> None:
    key = k("pa", receipt_id)
    attempts = ctx.batch.get(key) or []
    attempts.append([ctx.tx_id, outcome, bank, error_code])
    ctx.batch.put(key, attempts)
    if len(attempts) >= 2:
        ctx.alert(
            REPEATED_PLEDGE,
            receipt_id,
            [str(a[0]) for a in attempts],
            {
                "attempts": [
                    {"tx_id": a[0], "outcome": a[1], "bank": a[2], "error_code": a[3]}
                    for a in attempts
                ]
            },
        )


def close_pledge_window(ctx: TxContext, receipt_id: str) -> None:
    """A pledge ended (released, transferred): earlier attempts are history,
    kept under `pah/<receipt>` for ReceiptHistory."""
    attempts = ctx.batch.get(k("pa", receipt_id))
    if attempts:
        past = ctx.batch.get(k("pah", receipt_id)) or []
        ctx.batch.put(k("pah", receipt_id), past + attempts)
        ctx.batch.delete(k("pa", receipt_id))
