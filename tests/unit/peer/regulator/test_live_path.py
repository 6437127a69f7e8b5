"""The regulator listener's live path: tables kept from the validator's parse of
each block (`TxInfo`), equal to the tables parsed from the committed blocks
(catch-up, rebuild), without parsing any envelope again."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from peer.committer import BlockCommitted
from peer.regulator import indicators
from peer.regulator.detectors import DetectorConfig
from peer.regulator.indicators import (
    IndicatorListener,
    committed_transactions,
    rebuild,
    valid_transactions,
)
from peer.regulator.projections import _tree_keys, day_number, fenwick_nodes
from peer.regulator.store import IndicatorStore, k
from peer.validator import TxInfo
from protos.common import common_pb2
from protos.peer import transaction_pb2 as tx_codes
from tests.unit.regulator.net import CHANNEL, T0, Net, day, underlying


class Recorder:
    def __init__(self) -> None:
        self.events: list[BlockCommitted] = []

    def block_committed(self, event: BlockCommitted) -> None:
        self.events.append(event)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    net = Net(tmp_path, DetectorConfig(split_storm_splits=3))
    yield net
    net.close()


class _NoParsing:
    """Stands in for `txutil`/`rwset` inside the listener: any use fails."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the live path parsed again: {name}")


def test_live_commits_never_parse_an_envelope_again(
    net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indicators, "txutil", _NoParsing())
    monkeypatch.setattr(indicators, "rwset", _NoParsing())
    net.issue("V1", 100_000_000)
    net.run("s1", "receivable", "SplitVoucher", {"voucher_id": "V1", "amounts": [10, 99_999_990]})
    net.run("s1", "receivable", "TransferVoucher", {"voucher_id": "V1-2", "to": "Supplier2MSP"})
    # A failing listener is only logged by the committer: the height shows it ran.
    assert net.store.height(CHANNEL) == net.ledger.height()
    view = net.store.get(CHANNEL, k("v", "V1-2"))
    assert view is not None
    assert view["holder"] == "Supplier2MSP"
    live = net.store.digest(CHANNEL)
    monkeypatch.undo()
    fresh = IndicatorStore.open(tmp_path / "fresh.db")
    try:
        rebuild(net.ledger, fresh, CHANNEL, net.config)
        assert fresh.digest(CHANNEL) == live
    finally:
        fresh.close()


def test_committed_transactions_equal_those_parsed_from_the_block(net: Net) -> None:
    recorder = Recorder()
    net.committer.add_listener(recorder)
    issue = net.endorse(
        "core",
        "receivable",
        "IssueVoucher",
        {
            "voucher_id": "V9",
            "payee": "Supplier1MSP",
            "amount": 5_000,
            "currency": "CNY",
            "maturity_date": day(30),
            "underlying": underlying("V9"),
        },
        T0,
    )[0]
    # The same transaction twice (the second a duplicate txid) and a malformed entry.
    block = net.commit([issue, issue, b"\xff\xff"])
    codes = bytes(block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER])
    assert list(codes) == [tx_codes.VALID, tx_codes.DUPLICATE_TXID, tx_codes.BAD_PAYLOAD]
    (event,) = recorder.events
    live = list(committed_transactions(event))
    assert live == list(valid_transactions(event.block))
    assert [r.tx_index for r in live] == [0]
    assert live[0].writes
    assert all(ns == "receivable" for ns, _, _ in live[0].writes)
    # An event without per-transaction data falls back to parsing the block.
    assert list(committed_transactions(BlockCommitted(event.block, b"", ()))) == live


def test_the_genesis_event_has_no_transactions_to_table(tmp_path: Path) -> None:
    net = Net(tmp_path)
    try:
        genesis = net.ledger.block(0)
        assert genesis is not None
        store = IndicatorStore.open(tmp_path / "g.db")
        try:
            listener = IndicatorListener(CHANNEL, net.ledger, store)
            genesis_tx = TxInfo(0, "", tx_codes.VALID)  # what the committer reports
            listener.block_committed(BlockCommitted(genesis, b"", (genesis_tx,)))
            assert store.height(CHANNEL) == 1
            assert list(valid_transactions(genesis)) == []
        finally:
            store.close()
    finally:
        net.close()


def _reference_json(raw: bytes) -> dict[str, Any] | None:
    """What `_json` must return: `json.loads` when that gives a dict."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_SAMPLES = [
    b"",
    b"v",
    b"value-1",
    b"123",
    b"null",
    b"[1, 2]",
    b'"text"',
    b"{}",
    b'{"a":1}',
    b' {"a":1}',
    b'\n\t\r {"a":1}',
    b"{bad",
    b"\x00",
    b"\x80abc",
    b"\xff\xfe",
    b"\xef\xbb\xbf" + b'{"a":1}',
    '{"a":1}'.encode("utf-16"),
    '{"a":1}'.encode("utf-16-le"),
    '{"a":1}'.encode("utf-16-be"),
    '{"a":1}'.encode("utf-32"),
    '{"a":1}'.encode("utf-32-le"),
    '{"a":1}'.encode("utf-32-be"),
    ' {"ä":"€"}'.encode(),
    b"x\x00{}",
]


@pytest.mark.parametrize("raw", _SAMPLES)
def test_json_values_decode_as_json_loads_would(raw: bytes) -> None:
    assert indicators._json(raw) == _reference_json(raw)


def test_json_fuzz_agrees_with_json_loads() -> None:
    rng = random.Random(7)
    alphabet = b'{}[]":, \t\n\r\x00\xef\xbb\xbf\xfe\xffa1'
    for _ in range(5000):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 8)))
        assert indicators._json(raw) == _reference_json(raw), raw


def test_plain_values_are_not_handed_to_the_json_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def loads(raw: bytes) -> Any:
        raise AssertionError(f"json.loads({raw!r})")

    monkeypatch.setattr(json, "loads", loads)  # the module `indicators` decodes with
    for raw in (b"v", b"value-123", b"42", b"[1]", b"\x80\x81", b""):
        assert indicators._json(raw) is None


def test_fenwick_key_groups_are_the_nodes_of_the_maturity_day() -> None:
    for maturity in ("1970-01-01", "2025-06-15", "2099-12-31", "2400-01-01"):
        expected = tuple(
            k("exf", "CoreMSP", "CNY", node) for node in fenwick_nodes(day_number(maturity))
        )
        assert _tree_keys("exf", "CoreMSP", "CNY", maturity) == expected
