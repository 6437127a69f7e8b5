"""The read side of the indicator tables (DOMAIN §6.1).

Costs (independent of how many transactions the ledger holds):

* `exposure`: O(issuers × currencies × log DAYS) reads: the buckets relative to
  the as-of date are differences of Fenwick prefix sums over maturity days.
* `overdue`: O(issuers × currencies × log DAYS) + blocked issuers.
* `ltv_distribution`: O(banks × currencies × 7 buckets) plus one page of margin calls.
* `page`: one page of rows of a key range (alerts, exceptions, margin calls).

The as-of date is the request's, or the business date (Asia/Shanghai) of the
channel's latest committed transaction — never the wall clock.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.errors import ScfError
from peer.regulator.projections import (
    EPOCH,
    FENWICK_BITS,
    FENWICK_SIZE,
    LTV_BOUNDS_BPS,
    fenwick_prefix_nodes,
    ltv_bucket_range,
)
from peer.regulator.store import SEP, StoreReader, k

PLATFORM_TZ = dt.timezone(dt.timedelta(hours=8))
DEFAULT_PAGE = 100
MAX_PAGE = 1000

MATURITY_BUCKETS: tuple[tuple[str, int], ...] = (
    ("<=30", 30),
    ("<=60", 60),
    ("<=90", 90),
    ("<=180", 180),
    ("<=365", 365),
)
PAST_DUE = "past_due"
BEYOND = ">365"
BUCKET_LABELS = (PAST_DUE, *(label for label, _ in MATURITY_BUCKETS), BEYOND)


class QueryError(ScfError):
    """A malformed query (bad date, bad page token): INVALID_ARGUMENT at the edge."""

    code = "BAD_QUERY"


def bucket_of(days_to_maturity: int) -> str:
    if days_to_maturity < 0:
        return PAST_DUE
    for label, limit in MATURITY_BUCKETS:
        if days_to_maturity <= limit:
            return label
    return BEYOND


def bucket_max_days(label: str) -> int:
    if label == PAST_DUE:
        return 0
    return dict(MATURITY_BUCKETS).get(label, -1)


def as_of_date(store: StoreReader, channel: str, as_of: str) -> dt.date:
    if as_of:
        try:
            return dt.date.fromisoformat(as_of)
        except ValueError:
            raise QueryError(f"as_of={as_of!r} is not YYYY-MM-DD") from None
    ts = store.last_ts(channel)
    return dt.datetime.fromtimestamp(ts, tz=PLATFORM_TZ).date()


def _parts(key: str) -> list[str]:
    return key.split(SEP)


# --- exposure -----------------------------------------------------------------------


@dataclass
class Bucket:
    label: str
    live_face: int = 0
    financed_face: int = 0


@dataclass
class IssuerExposure:
    channel: str
    issuer: str
    currency: str
    as_of: str
    live_face: int = 0
    financed_face: int = 0
    pending_face: int = 0
    leaves: int = 0
    buckets: dict[str, Bucket] = field(default_factory=dict)


class _Fenwick:
    """Prefix sums over one (table, issuer, currency) tree, reads cached."""

    def __init__(self, store: StoreReader, channel: str, table: str, *parts: str) -> None:
        self._store = store
        self._channel = channel
        self._key = k(table, *parts, "")
        self._cache: dict[str, list[int]] = {}

    def node(self, name: str, width: int) -> list[int]:
        if name not in self._cache:
            value = self._store.get(self._channel, self._key + name)
            self._cache[name] = [int(x) for x in value] if value is not None else [0] * width
        return self._cache[name]

    def prefix(self, day: int, width: int) -> list[int]:
        """Σ over maturity day numbers `[0, day]` (zeros when `day < 0`)."""
        total = [0] * width
        if day < 0:
            return total
        for name in fenwick_prefix_nodes(day):
            total = [a + b for a, b in zip(total, self.node(name, width), strict=True)]
        return total

    def first_nonzero(self) -> int | None:
        """The smallest day number whose count (vector[0]) is non-zero."""
        pos, acc = 0, 0
        for bit in range(FENWICK_BITS, -1, -1):
            nxt = pos + (1 << bit)
            if nxt <= FENWICK_SIZE:
                count = self.node(f"{nxt:06d}", 1)[0]
                if acc + count < 1:
                    pos, acc = nxt, acc + count
        return pos if pos < FENWICK_SIZE else None


def exposure(
    store: StoreReader, channels: Iterable[str], issuer: str, as_of: str
) -> list[IssuerExposure]:
    """Live and financed face per (channel, issuer, currency), by maturity bucket:
    O(log DAYS) reads per (issuer, currency), see `projections`."""
    out: list[IssuerExposure] = []
    for channel in channels:
        date = as_of_date(store, channel, as_of)
        base = (date - EPOCH).days
        prefix = k("ext", issuer, "") if issuer else k("ext", "")
        for key, totals in store.scan(channel, prefix):
            _, who, ccy = _parts(key)
            live, financed, pending, leaves = (int(x) for x in totals)
            row = IssuerExposure(
                channel, who, ccy, date.isoformat(), live, financed, pending, leaves
            )
            tree = _Fenwick(store, channel, "exf", who, ccy)
            previous = [0, 0, 0, 0]
            cuts = [base - 1, *(base + limit for _, limit in MATURITY_BUCKETS)]
            for label, cut in zip(BUCKET_LABELS, cuts, strict=False):
                upto = tree.prefix(cut, 4)
                row.buckets[label] = Bucket(label, upto[0] - previous[0], upto[1] - previous[1])
                previous = upto
            row.buckets[BEYOND] = Bucket(BEYOND, live - previous[0], financed - previous[1])
            out.append(row)
    return out


# --- overdue ------------------------------------------------------------------------


@dataclass
class IssuerOverdue:
    channel: str
    issuer: str
    currency: str
    as_of: str
    overdue_amount: int = 0
    defaulted_amount: int = 0
    overdue_leaves: int = 0
    defaulted_leaves: int = 0
    max_days_overdue: int = 0


@dataclass(frozen=True)
class Blocked:
    channel: str
    issuer: str
    root_id: str
    since_tx: str


def overdue(
    store: StoreReader, channels: Iterable[str], issuer: str, as_of: str
) -> tuple[list[IssuerOverdue], list[Blocked]]:
    issuers: list[IssuerOverdue] = []
    blocked: list[Blocked] = []
    for channel in channels:
        date = as_of_date(store, channel, as_of)
        prefix = k("odt", issuer, "") if issuer else k("odt", "")
        for key, vector in store.scan(channel, prefix):
            _, who, ccy = _parts(key)
            row = IssuerOverdue(channel, who, ccy, date.isoformat(), *(int(x) for x in vector))
            oldest = _Fenwick(store, channel, "odf", who, ccy).first_nonzero()
            if oldest is not None:
                row.max_days_overdue = (date - (EPOCH + dt.timedelta(days=oldest))).days
            issuers.append(row)
        block_prefix = k("blk", issuer) if issuer else k("blk", "")
        for _, value in store.scan(channel, block_prefix):
            blocked.append(
                Blocked(
                    channel,
                    str(value.get("issuer", "")),
                    str(value.get("root_id", "")),
                    str(value.get("since_tx", "")),
                )
            )
    return issuers, blocked


# --- LTV ------------------------------------------------------------------------------


@dataclass
class LtvBucket:
    label: str
    lo_bps: int
    hi_bps: int
    loans: int = 0
    outstanding: int = 0


@dataclass
class BankLtv:
    channel: str
    bank: str
    currency: str
    loans: int = 0
    outstanding: int = 0
    buckets: list[LtvBucket] = field(default_factory=list)


def _ltv_label(lo: int, hi: int) -> str:
    return f"[{lo // 100}%,{hi // 100}%)" if hi >= 0 else f">={lo // 100}%"


def ltv_distribution(store: StoreReader, channels: Iterable[str], bank: str) -> list[BankLtv]:
    out: list[BankLtv] = []
    for channel in channels:
        rows: dict[tuple[str, str], BankLtv] = {}
        prefix = k("ltv", bank, "") if bank else k("ltv", "")
        for key, vector in store.scan(channel, prefix):
            _, who, ccy, index = _parts(key)
            row = rows.get((who, ccy))
            if row is None:
                row = BankLtv(channel, who, ccy)
                for i in range(len(LTV_BOUNDS_BPS) + 1):
                    lo, hi = ltv_bucket_range(i)
                    row.buckets.append(LtvBucket(_ltv_label(lo, hi), lo, hi))
                rows[(who, ccy)] = row
            bucket = row.buckets[int(index)]
            bucket.loans += int(vector[0])
            bucket.outstanding += int(vector[1])
            row.loans += int(vector[0])
            row.outstanding += int(vector[1])
        out.extend(rows[key] for key in sorted(rows))
    return out


# --- pages ----------------------------------------------------------------------------


def _encode_token(source: int, key: str) -> str:
    raw = json.dumps([source, key]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[int, str]:
    try:
        source, key = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(source), str(key)
    except (ValueError, TypeError):
        raise QueryError("page_token is malformed") from None


def page(
    store: StoreReader,
    sources: Sequence[tuple[str, str]],
    page_size: int,
    token: str,
    *,
    resolve: Callable[[str, Any], Any | None] | None = None,
) -> tuple[list[tuple[str, Any]], str]:
    """One page of rows over `sources` ((channel, key prefix) pairs, in order):
    ([(channel, value)], next token or ""). `resolve(channel, value)` maps an
    index row to the row it points at (None drops it)."""
    size = min(page_size or DEFAULT_PAGE, MAX_PAGE)
    index, start = _decode_token(token) if token else (0, "")
    out: list[tuple[str, Any]] = []
    while index < len(sources):
        channel, prefix = sources[index]
        for key, value in store.scan(channel, prefix, start=start or None):
            if len(out) == size:
                return out, _encode_token(index, key)
            row = resolve(channel, value) if resolve is not None else value
            if row is not None:
                out.append((channel, row))
        index, start = index + 1, ""
    return out, ""


def alert_sources(channels: Iterable[str], rule: str) -> list[tuple[str, str]]:
    prefix = k("ar", rule, "") if rule else k("al", "")
    return [(channel, prefix) for channel in channels]


def resolve_alert(store: StoreReader, rule: str) -> Callable[[str, Any], Any | None] | None:
    if not rule:
        return None
    return lambda channel, seq: store.get(channel, k("al", f"{int(seq):016d}"))


EXCEPTION_PREFIXES = {"LONG_TENOR": k("lt", ""), "SME_TERM": k("sme", "")}


def exception_sources(channels: Iterable[str], kind: str) -> list[tuple[str, str]]:
    if kind and kind not in EXCEPTION_PREFIXES:
        raise QueryError(f"kind must be one of {sorted(EXCEPTION_PREFIXES)} or empty")
    kinds = [kind] if kind else sorted(EXCEPTION_PREFIXES)
    return [(channel, EXCEPTION_PREFIXES[name]) for channel in channels for name in kinds]


# --- lineage --------------------------------------------------------------------------


@dataclass(frozen=True)
class Lineage:
    root_id: str
    face_total: int
    currency: str
    nodes: tuple[dict[str, Any], ...]

    @property
    def leaf_total(self) -> int:
        return sum(int(n["amount"]) for n in self.nodes if n["status"] != "SPLIT")


def lineage(store: StoreReader, channel: str, voucher_id: str) -> Lineage | None:
    """The whole tree of the voucher's root, parents before children; None if unknown."""
    view = store.get(channel, k("v", voucher_id))
    if view is None:
        return None
    root_id = str(view["root_id"])
    root = store.get(channel, k("root", root_id)) or {}
    nodes: list[dict[str, Any]] = []
    stack = [root_id]
    while stack:
        node = store.get(channel, k("v", stack.pop()))
        if node is None:
            continue
        nodes.append(node)
        stack.extend(reversed(node["children"]))
    face = int(root.get("face_total", nodes[0]["amount"] if nodes else 0))
    return Lineage(root_id, face, str(root.get("currency", view["currency"])), tuple(nodes))
