"""The regulator's indicator database: one plyvel DB (`<data dir>/regulator.db`)
shared by every channel, each channel's rows under its own key prefix.

Key layout (strings, UTF-8): `<channel> \\x00 <table> \\x00 <part> \\x00 ...`. Parts
never contain `\\x00` (ids, MSP ids, dates and hex hashes only), so a prefix that
ends in the separator selects exactly one table row group.

Values are canonical JSON (sorted keys, no floats anywhere: money is integers).

Invariant: a channel's rows and its `meta/height` (the number of blocks whose
effects the rows include) change together, in ONE `WriteBatch(sync=True)` per
block (`BlockBatch.commit`), so after a crash the tables are exactly those of
blocks `[0, height)` and the listener resumes from `height`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import plyvel

from common.errors import ScfError
from common.leveldb import open_db

SEP = "\x00"
HEIGHT = "meta\x00height"
LAST_TS = "meta\x00last_ts"
ALERT_SEQ = "meta\x00alert_seq"


class IndicatorError(ScfError):
    """A system fault of the indicator store (unavailable or corrupt database)."""

    code = "INDICATOR_STORE"


def k(*parts: str) -> str:
    """A row key: the parts joined by the separator (no channel prefix)."""
    return SEP.join(parts)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""`json.dumps` with these options builds a new encoder per call; one is enough."""


def encode(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


def _prefix(channel: str) -> bytes:
    return (channel + SEP).encode()


class StoreReader:
    """Reads over a plyvel DB or snapshot (both have `get` and `iterator`)."""

    _source: Any

    def get(self, channel: str, key: str) -> Any | None:
        raw = self._source.get(_prefix(channel) + key.encode())
        return None if raw is None else json.loads(raw)

    def height(self, channel: str) -> int:
        """Blocks `[0, height)` of `channel` are in the tables."""
        value = self.get(channel, HEIGHT)
        return int(value) if value is not None else 0

    def last_ts(self, channel: str) -> int:
        """Timestamp (Unix seconds) of the latest committed transaction seen."""
        value = self.get(channel, LAST_TS)
        return int(value) if value is not None else 0

    def scan(
        self, channel: str, prefix: str, *, start: str | None = None
    ) -> Iterator[tuple[str, Any]]:
        """Rows whose key starts with `prefix`, ascending; `start` (a full key)
        skips the rows before it (inclusive bound)."""
        base = _prefix(channel)
        lo = base + (start if start is not None else prefix).encode()
        with self._source.iterator(prefix=base + prefix.encode()) as iterator:
            iterator.seek(lo)
            for raw_key, raw_value in iterator:
                yield raw_key[len(base) :].decode(), json.loads(raw_value)

    def digest(self, channel: str) -> bytes:
        """SHA-256 over every (key, value) of the channel in key order: equal
        digests mean equal tables (what `rebuild` is tested against)."""
        h = hashlib.sha256()
        with self._source.iterator(prefix=_prefix(channel)) as iterator:
            for raw_key, raw_value in iterator:
                h.update(len(raw_key).to_bytes(4, "big") + raw_key)
                h.update(len(raw_value).to_bytes(4, "big") + raw_value)
        return h.digest()


class StoreSnapshot(StoreReader):
    """A consistent read-only view: every read answers from the same set of
    committed blocks, even while listeners commit (queries use one each, so a
    total and its buckets never mix two heights). Close it to release it."""

    def __init__(self, db: Any) -> None:
        self._source = db.snapshot()

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> StoreSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class IndicatorStore(StoreReader):
    """Indicator tables of every channel. Thread-safe: readers use plyvel
    snapshots (`snapshot()`) or single-key reads; one writer per channel (its
    listener)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._source = db
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> IndicatorStore:
        try:
            db = open_db(path)
        except plyvel.Error as exc:
            raise IndicatorError(f"cannot open indicator store at {path}: {exc}") from None
        return cls(db)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def snapshot(self) -> StoreSnapshot:
        return StoreSnapshot(self._db)

    # --- writes ---------------------------------------------------------------------

    def batch(self, channel: str) -> BlockBatch:
        return BlockBatch(self, channel)

    def clear(self, channel: str) -> None:
        """Drop every row of `channel` (before a rebuild), in one sync batch."""
        with (
            self._db.write_batch(sync=True) as wb,
            self._db.iterator(prefix=_prefix(channel), include_value=False) as iterator,
        ):
            for raw_key in iterator:
                wb.delete(raw_key)

    def _write(self, channel: str, updates: dict[str, bytes | None]) -> None:
        base = _prefix(channel)
        with self._db.write_batch(sync=True) as wb:
            for key, value in updates.items():
                if value is None:
                    wb.delete(base + key.encode())
                else:
                    wb.put(base + key.encode(), value)


_ABSENT = object()


class BlockBatch:
    """The writes of one block: reads see this batch's own writes first; nothing
    reaches the database before `commit`, which writes everything plus the new
    height in one sync batch.

    `add`s to aggregate rows are summed in memory per key group (`_deltas`; a
    voucher's 17 Fenwick nodes take one delta) and folded into the rows once: at
    `commit`, or before any `get`/`put`/`delete` of a key with a pending delta. So a
    block that moves one aggregate many times reads, decodes and encodes it once.
    The rows come out as if each `add` had been applied in turn: integer addition
    commutes, and an all-zero total deletes the row either way.
    """

    def __init__(self, store: IndicatorStore, channel: str) -> None:
        self._store = store
        self.channel = channel
        self._writes: dict[str, Any] = {}
        self._deltas: dict[tuple[str, ...], list[int]] = {}
        self._pending: set[str] = set()  # every key of the groups in `_deltas`

    def get(self, key: str) -> Any | None:
        if key in self._pending:
            self._settle()
        value = self._writes.get(key, _ABSENT)
        if value is _ABSENT:
            return self._store.get(self.channel, key)
        return value

    def put(self, key: str, value: Any) -> None:
        if key in self._pending:
            self._settle()
        self._writes[key] = value

    def delete(self, key: str) -> None:
        if key in self._pending:
            self._settle()
        self._writes[key] = None

    def add(self, key: str, vector: Sequence[int], sign: int) -> None:
        """Add `sign × vector` to the integer vector at `key`; an all-zero
        result deletes the row (so equal tables have equal keys)."""
        self.add_to_all((key,), vector, sign)

    def add_to_all(self, keys: tuple[str, ...], vector: Sequence[int], sign: int) -> None:
        """`add(key, vector, sign)` for every key of `keys`."""
        delta = self._deltas.get(keys)
        if delta is None:
            self._deltas[keys] = [sign * v for v in vector]
            self._pending.update(keys)
            return
        if len(delta) != len(vector):
            raise ValueError(f"aggregate {keys[0]!r}: vector of {len(vector)}, not {len(delta)}")
        for i, v in enumerate(vector):
            delta[i] += sign * v

    def _settle(self) -> None:
        """Fold every pending delta into its row."""
        totals: dict[str, list[int]] = {}
        for keys, delta in self._deltas.items():
            for key in keys:
                total = totals.get(key)
                if total is None:
                    totals[key] = list(delta)
                else:
                    totals[key] = [a + b for a, b in zip(total, delta, strict=True)]
        self._deltas.clear()
        self._pending.clear()
        for key, delta in totals.items():
            value = self._writes.get(key, _ABSENT)
            if value is _ABSENT:
                value = self._store.get(self.channel, key)
            current = value or [0] * len(delta)
            total = [a + b for a, b in zip(current, delta, strict=True)]
            self._writes[key] = total if any(total) else None

    def next_alert_seq(self) -> int:
        seq = int(self.get(ALERT_SEQ) or 0) + 1
        self.put(ALERT_SEQ, seq)
        return seq

    def commit(self, height: int, last_ts: int) -> None:
        self._settle()
        self.put(HEIGHT, height)
        if last_ts > int(self.get(LAST_TS) or 0):
            self.put(LAST_TS, last_ts)
        self._store._write(
            self.channel,
            {key: None if value is None else encode(value) for key, value in self._writes.items()},
        )
        self._writes = {}
