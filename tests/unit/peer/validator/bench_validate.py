"""Benchmark (a script, not a test): endorse rate and validate+commit rate of one
peer on prepared blocks of 500 transactions with 2 endorsements each.

    .venv/bin/python -m tests.unit.peer.validator.bench_validate [blocks]
"""

from __future__ import annotations

import sys
import tempfile
import time

from common import txutil
from peer.committer import Committer
from peer.ledger import open_channel_ledger
from peer.validator import BlockValidator, InlineExecutor, ProcessExecutor, ThreadExecutor
from peer.validator.signatures import SignatureExecutor
from protos.common import common_pb2
from tests.unit.peer.endorser.world import CHANNEL, World, make_world, order, propose

TXS_PER_BLOCK = 500


def bench_endorse(world: World, count: int) -> float:
    with tempfile.TemporaryDirectory() as root:
        ledger = open_channel_ledger(root, CHANNEL)
        try:
            endorser = world.endorser(world.core_peer, ledger)
            proposals = [
                propose(world.alice, "Put", {"key": f"k{i}", "value": "v"})[0] for i in range(count)
            ]
            start = time.perf_counter()
            for signed in proposals:
                assert endorser.process_proposal(signed).response.status == 200
            return count / (time.perf_counter() - start)
        finally:
            ledger.close()


def prepare_entries(world: World, blocks: int) -> list[list[bytes]]:
    with tempfile.TemporaryDirectory() as root:
        ledger = open_channel_ledger(root, CHANNEL)
        try:
            endorsers = [
                world.endorser(world.core_peer, ledger),
                world.endorser(world.bank_peer, ledger),
            ]
            out = []
            for b in range(blocks):
                entries = []
                for i in range(TXS_PER_BLOCK):
                    signed, parsed = propose(world.alice, "Put", {"key": f"b{b}k{i}", "value": "v"})
                    responses = [e.process_proposal(signed) for e in endorsers]
                    envelope = txutil.assemble_transaction(parsed, responses, world.alice)
                    entries.append(envelope.SerializeToString())
                out.append(entries)
            return out
        finally:
            ledger.close()


def bench_commit(world: World, entries: list[list[bytes]], executor: SignatureExecutor) -> float:
    with tempfile.TemporaryDirectory() as root:
        ledger = open_channel_ledger(root, CHANNEL)
        committer = Committer(
            ledger, world.bundle, validator=BlockValidator(world.bundle, executor)
        )
        try:
            genesis = world.genesis()
            committer.commit_block(genesis)
            blocks: list[common_pb2.Block] = []
            previous = genesis
            for number, block_entries in enumerate(entries, start=1):
                previous = order(world, number, previous, block_entries)
                blocks.append(previous)
            # Warm-up: identity caches, worker processes.
            warm = order(world, 1, genesis, entries[0][:10])
            BlockValidator(world.bundle, executor).validate(warm, ledger)
            start = time.perf_counter()
            for block in blocks:
                result = committer.commit_block(block)
                assert set(result.codes) == {0}, set(result.codes)
            return len(blocks) * TXS_PER_BLOCK / (time.perf_counter() - start)
        finally:
            committer.close()
            ledger.close()


def main() -> None:
    blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    world = make_world()
    print(f"endorse: {bench_endorse(world, 2000):,.0f} proposals/s (in-process, 1 thread)")
    entries = prepare_entries(world, blocks)
    for name, make in (
        ("inline", lambda: InlineExecutor(world.bundle)),
        ("threads x2", lambda: ThreadExecutor(world.bundle, 2)),
        ("processes x2", lambda: ProcessExecutor(world.config, 2)),
    ):
        rate = bench_commit(world, entries, make())
        print(f"validate+commit ({name}): {rate:,.0f} tx/s over {blocks} blocks of 500")


if __name__ == "__main__":
    main()
