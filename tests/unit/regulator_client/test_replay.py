"""The regulator's independent replay (`client.verify`, `replay=True`): fed a real
peer ledger's blocks, it recomputes every commit hash and ends with the peer's
state hash; an altered validation code or commit hash, and a state that differs
from the replay, are each caught and named."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from client.verify import ChainResult, StateReport, _Chain, _check_state
from common import commithash
from common.block import BlockError
from peer.ledger import codec
from peer.ledger.types import Version, VersionedValue
from protos.common import common_pb2
from tests.regulator_console.story import story
from tests.unit.regulator.net import Net


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    net = Net(tmp_path_factory.mktemp("replay"))
    story(net)
    yield net
    net.close()


def blocks(net: Net) -> list[common_pb2.Block]:
    return list(net.ledger.blocks(0))


def replayed(chain_blocks: list[common_pb2.Block]) -> _Chain:
    chain = _Chain(replay=True)
    for block in chain_blocks:
        chain.add(block)
    return chain


def test_replay_recomputes_every_commit_hash_and_the_state_hash(net: Net) -> None:
    chain = replayed(blocks(net))
    assert chain.height == net.ledger.height() > 10
    assert chain.replay is not None
    assert chain.replay.last_commit == net.ledger.commit_hash(chain.height - 1)
    assert chain.replay.state_hash() == net.ledger.state_hash()


def test_one_recipe_two_users() -> None:
    updates = {("ns", "b"): VersionedValue(b"2", Version(3, 0)), ("ns", "a\x00k"): None}
    expected = commithash.commit_hash(
        b"\x01" * 32, 3, b"\x00\x0b", {("ns", "b"): b"2", ("ns", "a\x00k"): None}
    )
    assert codec.commit_hash(b"\x01" * 32, 3, b"\x00\x0b", updates) == expected
    entries = [("a", "k", VersionedValue(b"v", Version(1, 2)))]
    assert codec.state_hash(entries) == commithash.state_hash([("a", "k", b"v", 1, 2)])


def _tampered(net: Net, change: Any) -> tuple[list[common_pb2.Block], int]:
    chain_blocks = blocks(net)
    target = len(chain_blocks) // 2
    copy = common_pb2.Block()
    copy.CopyFrom(chain_blocks[target])
    change(copy)
    chain_blocks[target] = copy
    return chain_blocks, target


def test_a_flipped_validation_code_breaks_the_commit_hash(net: Net) -> None:
    def flip(block: common_pb2.Block) -> None:
        codes = bytearray(block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER])
        codes[0] = 11  # VALID → MVCC_READ_CONFLICT: its writes drop out of the replay
        block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes(codes)

    chain_blocks, target = _tampered(net, flip)
    with pytest.raises(BlockError) as caught:
        replayed(chain_blocks)
    assert caught.value.code == "COMMIT_HASH_MISMATCH"
    assert f"block {target}:" in caught.value.message


def test_a_rewritten_commit_hash_is_caught(net: Net) -> None:
    def rewrite(block: common_pb2.Block) -> None:
        block.metadata.metadata[common_pb2.COMMIT_HASH] = common_pb2.Metadata(
            value=b"\x07" * 32
        ).SerializeToString()

    chain_blocks, target = _tampered(net, rewrite)
    with pytest.raises(BlockError) as caught:
        replayed(chain_blocks)
    assert caught.value.code == "COMMIT_HASH_MISMATCH"
    assert f"block {target}:" in caught.value.message


def _ok(chain: _Chain) -> ChainResult:
    return ChainResult("peer0", "org", "OK", chain.height, tuple(chain.header_hashes), ())


def _client() -> Any:
    return SimpleNamespace(peer=SimpleNamespace(name="peer0"))


def test_state_reports_are_compared_with_the_replay(net: Net) -> None:
    chain = replayed(blocks(net))
    assert chain.replay is not None
    honest = StateReport(chain.height, net.ledger.state_hash(), chain.replay.last_commit)
    result = _check_state(_client(), "trade", chain, _ok(chain), lambda _p: honest, 5.0)
    assert (result.status, result.state) == ("OK", "OK")

    altered = StateReport(chain.height, b"\x00" * 32, chain.replay.last_commit)
    result = _check_state(_client(), "trade", chain, _ok(chain), lambda _p: altered, 5.0)
    assert (result.status, result.state) == ("FAIL", "MISMATCH")
    assert "the peer's state was altered" in result.error

    record = StateReport(chain.height, net.ledger.state_hash(), b"\x09" * 32)
    result = _check_state(_client(), "trade", chain, _ok(chain), lambda _p: record, 5.0)
    assert result.state == "MISMATCH"
    assert "commit-hash record" in result.error

    result = _check_state(_client(), "trade", chain, _ok(chain), lambda _p: None, 5.0)
    assert (result.status, result.state) == ("OK", "UNCHECKED")


def test_the_state_route_of_a_ledger_matches_the_replay(net: Net) -> None:
    """What `GET /ledger/state` reads (one snapshot) is what the replay computes."""
    chain = replayed(blocks(net))
    assert chain.replay is not None
    with net.ledger.snapshot() as snapshot:
        assert snapshot.height() == chain.height
        assert snapshot.state_hash() == chain.replay.state_hash()
