"""`BlockBatch` sums aggregate `add`s per key group and folds them once; every read
and the committed rows must be those of applying each `add` in turn (the
implementation before the change, kept here as the model)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from peer.regulator.store import BlockBatch, IndicatorStore

CH = "trade"
_ABSENT = object()


class SequentialBatch:
    """The model: each `add` reads, sums and writes the row at once."""

    def __init__(self, store: IndicatorStore) -> None:
        self._store = store
        self.writes: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        value = self.writes.get(key, _ABSENT)
        return self._store.get(CH, key) if value is _ABSENT else value

    def put(self, key: str, value: Any) -> None:
        self.writes[key] = value

    def delete(self, key: str) -> None:
        self.writes[key] = None

    def add(self, key: str, vector: Sequence[int], sign: int) -> None:
        current = self.get(key) or [0] * len(vector)
        total = [a + sign * b for a, b in zip(current, vector, strict=True)]
        self.writes[key] = total if any(total) else None

    def add_to_all(self, keys: tuple[str, ...], vector: Sequence[int], sign: int) -> None:
        for key in keys:
            self.add(key, vector, sign)

    def commit(self, height: int) -> None:
        batch = self._store.batch(CH)
        for key, value in self.writes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.commit(height, 0)


KEYS = [f"agg\x00{i}" for i in range(6)]
GROUPS = [(KEYS[0],), (KEYS[1], KEYS[2], KEYS[3]), (KEYS[2], KEYS[4]), tuple(KEYS[3:])]


def _stores(tmp_path: Path, seed: int) -> tuple[IndicatorStore, IndicatorStore]:
    """Two stores with the same committed rows (some aggregate keys present)."""
    rng = random.Random(seed)
    stores = (IndicatorStore.open(tmp_path / "a.db"), IndicatorStore.open(tmp_path / "b.db"))
    rows = {key: [rng.randint(-2, 2), rng.randint(-2, 2)] for key in KEYS if rng.random() < 0.5}
    for store in stores:
        batch = store.batch(CH)
        for key, row in rows.items():
            batch.put(key, row)
        batch.commit(1, 0)
    return stores


@pytest.mark.parametrize("seed", range(40))
def test_grouped_adds_read_and_commit_as_sequential_adds(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store, model_store = _stores(tmp_path, seed)
    try:
        batch: BlockBatch = store.batch(CH)
        model = SequentialBatch(model_store)
        for _ in range(rng.randrange(1, 60)):
            op = rng.random()
            key = rng.choice(KEYS)
            vector = (rng.randint(-1, 1), rng.randint(-1, 1))
            sign = rng.choice((-1, 1))
            if op < 0.35:
                group = rng.choice(GROUPS)
                batch.add_to_all(group, vector, sign)
                model.add_to_all(group, vector, sign)
            elif op < 0.6:
                batch.add(key, vector, sign)
                model.add(key, vector, sign)
            elif op < 0.8:
                assert batch.get(key) == model.get(key)
            elif op < 0.9:
                row = [rng.randint(0, 3), rng.randint(0, 3)]
                batch.put(key, row)
                model.put(key, list(row))
            else:
                batch.delete(key)
                model.delete(key)
        batch.commit(2, 0)
        model.commit(2)
        assert store.digest(CH) == model_store.digest(CH)
        assert [store.get(CH, key) for key in KEYS] == [model_store.get(CH, key) for key in KEYS]
    finally:
        store.close()
        model_store.close()


def test_adds_that_cancel_out_delete_the_row(tmp_path: Path) -> None:
    store = IndicatorStore.open(tmp_path / "r.db")
    try:
        batch = store.batch(CH)
        batch.add_to_all(("a", "b"), (5, 1), +1)
        batch.commit(1, 0)
        assert (store.get(CH, "a"), store.get(CH, "b")) == ([5, 1], [5, 1])
        batch = store.batch(CH)
        batch.add_to_all(("a", "b"), (2, 1), -1)
        batch.add("a", (3, 0), -1)
        batch.add("b", (-2, -1), -1)
        batch.commit(2, 0)
        assert (store.get(CH, "a"), store.get(CH, "b")) == (None, [5, 1])
    finally:
        store.close()


def test_vectors_of_different_lengths_on_one_key_are_refused(tmp_path: Path) -> None:
    store = IndicatorStore.open(tmp_path / "r.db")
    try:
        batch = store.batch(CH)
        batch.add("a", (1, 1), +1)
        with pytest.raises(ValueError, match="vector of 1, not 2"):
            batch.add("a", (1,), +1)
        batch = store.batch(CH)
        batch.add_to_all(("a", "b"), (1, 1), +1)
        batch.add("a", (1,), +1)
        with pytest.raises(ValueError, match="zip"):
            batch.commit(1, 0)
        assert store.height(CH) == 0  # nothing written
    finally:
        store.close()
