"""Benchmark (a script, not a test): CPU per transaction of a committing peer's
in-process path — validate + commit (`Committer.commit_block`) and the regulator's
`IndicatorListener` — on blind-write-like and voucher-flow-like blocks.

    .venv/bin/python -m tests.unit.peer.validator.bench_commit_path [--rounds N]
        [--txs-per-block N] [--only blind|voucher] [--no-signatures]
        [--profile blind|voucher]

`--no-signatures` swaps in an executor that passes every signature job, to show the
rest of validate+commit alone; `--profile` prints a cProfile of one replay.

Blocks are prepared once (endorsed by real endorsers, not timed), then replayed into a
fresh LevelDB ledger and indicator store per round; the figures are the minimum over
rounds of `time.thread_time()` (the committing thread's CPU) per transaction:

* blind-write: `bench` `Put` of a fresh key, 2 endorsements (AND of two orgs), non-JSON
  values; blocks of `--txs-per-block` (default `TXS_PER_BLOCK`).
* voucher: the `voucher-flow` mix — on each of `ROOTS × CHILDREN` accepted leaves,
  alternately `TransferVoucher` of a piece to another supplier and
  `RequestFinancing` of a piece at BankMSP, down each tree to depth 5 (4 rounds);
  blocks of `--txs-per-block`. Set-up blocks (issue, accept, split) are committed but
  not timed. One endorsement per transaction (`tests.unit.regulator.net`'s policy).

The listener is called by hand after each commit (the committer has no listeners),
so the two figures are separate.

Measured on the shared 2-core dev machine, min of 7 rounds, before → after the
listener took the validator's parse (`TxInfo`), µs of CPU per transaction:

    blocks of          100 txs                       10 txs
                       validate+commit  listener     validate+commit  listener
    blind-write        186 → 187        29 → 4       221 → 210        45 → 13
    voucher-flow       221 → 227       169 → 97      254 → 237       202 → 112

validate+commit is ~75 % ECDSA verification; its other Python work (`--no-signatures`)
moved within the noise (blind 46 → 46 / 66 → 61, voucher 130 → 127 / 124 → 121).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import block as blk
from common import txutil
from common.config.bundle import ChannelBundle
from common.msp import SigningIdentity
from peer.committer import Committer
from peer.ledger import open_channel_ledger
from peer.regulator.detectors import DetectorConfig
from peer.regulator.indicators import IndicatorListener
from peer.regulator.store import IndicatorStore
from peer.validator import BlockValidator, SignatureJob
from protos.common import common_pb2
from tests.unit.peer.endorser.world import CHANNEL, make_world, propose
from tests.unit.regulator.net import Net

TXS_PER_BLOCK = 100
ROOTS = 20
CHILDREN = 10
PIECE = 1_000


@dataclass
class Workload:
    """Blocks as lists of entries: `setup` committed untimed, then `load` timed."""

    name: str
    bundle: ChannelBundle
    genesis: common_pb2.Block
    orderer: SigningIdentity
    setup: list[list[bytes]]
    load: list[list[bytes]]


def _chunks(entries: Sequence[bytes], size: int) -> list[list[bytes]]:
    return [list(entries[i : i + size]) for i in range(0, len(entries), size)]


def blind_write(blocks: int, per_block: int) -> Workload:
    world = make_world()
    with tempfile.TemporaryDirectory() as root:
        ledger = open_channel_ledger(root, CHANNEL)
        try:
            endorsers = [
                world.endorser(world.core_peer, ledger),
                world.endorser(world.bank_peer, ledger),
            ]
            entries = []
            for i in range(blocks * per_block):
                signed, parsed = propose(world.alice, "Put", {"key": f"k{i}", "value": f"v{i}"})
                responses = [e.process_proposal(signed) for e in endorsers]
                envelope = txutil.assemble_transaction(parsed, responses, world.alice)
                entries.append(envelope.SerializeToString())
        finally:
            ledger.close()
    return Workload(
        "blind-write",
        world.bundle,
        world.genesis(),
        world.orderer,
        [],
        _chunks(entries, per_block),
    )


def voucher_flow(per_block: int) -> Workload:
    with tempfile.TemporaryDirectory() as root:
        net = Net(Path(root))
        try:
            payees = [("Supplier1MSP", "s1"), ("Supplier2MSP", "s2"), ("Supplier3MSP", "s3")]
            leaves: list[tuple[str, str, str]] = []  # (voucher id, holder, next holder)
            splits = []
            for r in range(ROOTS):
                mspid, who = payees[r % 3]
                root_id = f"BV.r{r}"
                net.issue(root_id, PIECE * 100 * CHILDREN, payee=mspid)
                split = {"voucher_id": root_id, "amounts": [PIECE * 100] * CHILDREN}
                splits.append(net.endorse(who, "receivable", "SplitVoucher", split, 1_750_000_000))
                to = payees[(r + 1) % 3][0]
                leaves += [(f"{root_id}-{c + 1}", who, to) for c in range(CHILDREN)]
            for chunk in _chunks([s[0] for s in splits], TXS_PER_BLOCK):
                net.commit(chunk)
            setup_height = net.ledger.height()
            for step in range(4):
                entries = []
                for voucher_id, who, to in leaves:
                    vid = voucher_id + "-2" * step
                    args: dict[str, Any]
                    if step % 2 == 0:
                        fn = "TransferVoucher"
                        args = {"voucher_id": vid, "to": to, "amount": PIECE}
                    else:
                        fn = "RequestFinancing"
                        args = {"voucher_id": vid, "financier": "BankMSP", "amount": PIECE}
                    entries.append(net.endorse(who, "receivable", fn, args, 1_750_000_000)[0])
                for chunk in _chunks(entries, per_block):
                    block = net.commit(chunk)
                    codes = bytes(block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER])
                    assert set(codes) == {0}, set(codes)
            stored = list(net.ledger.blocks(1))
            genesis = net.ledger.block(0)
            assert genesis is not None
            entries_of = [list(b.data.data) for b in stored]
            return Workload(
                "voucher-flow",
                net.bundle,
                genesis,
                net.orderer,
                entries_of[: setup_height - 1],
                entries_of[setup_height - 1 :],
            )
        finally:
            net.close()


def _blocks(work: Workload) -> list[common_pb2.Block]:
    """Fresh, signed blocks after `work.genesis` (commit writes metadata in place)."""
    out = []
    previous = work.genesis
    for number, entries in enumerate([*work.setup, *work.load], start=1):
        block = blk.new_block(number, blk.header_hash(previous.header), entries)
        blk.sign_block(block, work.orderer, last_config=0, nonce=b"n" * 24)
        out.append(block)
        previous = block
    return out


@dataclass(frozen=True)
class Figures:
    commit_us_per_tx: float
    listener_us_per_tx: float
    listener_us_per_block: float


class _TrustAll:
    """A `SignatureExecutor` that passes every job: only to isolate the rest of
    validate+commit (`--no-signatures`); never a peer's executor."""

    def check_all(self, jobs: Sequence[SignatureJob]) -> list[int]:
        return [0] * len(jobs)

    def close(self) -> None:
        """Nothing to release."""


def replay(
    work: Workload,
    wrap: Callable[[Callable[[], None]], None] | None = None,
    *,
    signatures: bool = True,
) -> Figures:
    blocks = _blocks(work)
    genesis = common_pb2.Block()
    genesis.CopyFrom(work.genesis)
    with tempfile.TemporaryDirectory() as root:
        ledger = open_channel_ledger(Path(root) / "ledgers", CHANNEL)
        store = IndicatorStore.open(Path(root) / "regulator.db")
        executor = None if signatures else _TrustAll()
        committer = Committer(ledger, work.bundle, validator=BlockValidator(work.bundle, executor))
        listener = IndicatorListener(CHANNEL, ledger, store, config=DetectorConfig())
        try:
            listener.block_committed(committer.commit_block(genesis))
            timed = blocks[len(work.setup) :]
            for block in blocks[: len(work.setup)]:
                listener.block_committed(committer.commit_block(block))
            commit_cpu = listen_cpu = 0.0

            def run() -> None:
                nonlocal commit_cpu, listen_cpu
                for block in timed:
                    t0 = time.thread_time()
                    event = committer.commit_block(block)
                    t1 = time.thread_time()
                    listener.block_committed(event)
                    t2 = time.thread_time()
                    commit_cpu += t1 - t0
                    listen_cpu += t2 - t1
                    assert set(event.codes) == {0}, set(event.codes)

            if wrap is None:
                run()
            else:
                wrap(run)
            assert store.height(CHANNEL) == ledger.height()
            txs = sum(len(b.data.data) for b in timed)
            return Figures(
                commit_cpu / txs * 1e6, listen_cpu / txs * 1e6, listen_cpu / len(timed) * 1e6
            )
        finally:
            committer.close()
            store.close()
            ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=8, help="blind-write blocks")
    parser.add_argument("--profile", choices=["blind", "voucher"])
    parser.add_argument("--only", choices=["blind", "voucher"])
    parser.add_argument("--txs-per-block", type=int, default=TXS_PER_BLOCK)
    parser.add_argument(
        "--no-signatures",
        action="store_true",
        help="skip the signature/policy phase: the rest of validate+commit alone",
    )
    args = parser.parse_args()
    size = args.txs_per_block
    sig = not args.no_signatures
    works: dict[str, Callable[[], Workload]] = {
        "blind": lambda: blind_write(args.blocks * TXS_PER_BLOCK // size, size),
        "voucher": lambda: voucher_flow(size),
    }
    if args.profile:
        work = works[args.profile]()
        replay(work, signatures=sig)  # warm-up
        profiler = cProfile.Profile()
        replay(work, lambda run: profiler.runcall(run), signatures=sig)
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)
        return
    for name, make in works.items():
        if args.only and name != args.only:
            continue
        work = make()
        replay(work, signatures=sig)  # warm-up: identity caches
        best = [replay(work, signatures=sig) for _ in range(args.rounds)]
        commit = min(f.commit_us_per_tx for f in best)
        listen = min(f.listener_us_per_tx for f in best)
        per_block = min(f.listener_us_per_block for f in best)
        txs = sum(len(b) for b in work.load)
        print(
            f"{work.name}: {txs} txs in {len(work.load)} blocks; validate+commit "
            f"{commit:,.0f} µs/tx; regulator listener {listen:,.0f} µs/tx "
            f"({per_block / 1000:,.1f} ms/block) [min of {args.rounds}]"
            + ("" if sig else " WITHOUT the signature/policy phase")
        )


if __name__ == "__main__":
    main()
