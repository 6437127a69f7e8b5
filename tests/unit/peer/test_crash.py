"""A ledger killed with SIGKILL mid-commit reopens consistent: the savepoint names
the last stored block, no acknowledged block is lost, and state, history, codes and
commit hashes equal a fresh replay of the stored blocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from peer.ledger import MemoryLedger, open_channel_ledger
from protos.common import common_pb2
from protos.peer import transaction_pb2
from tests.unit.peer.blocks import CC, replay

_WRITER = textwrap.dedent(
    """
    import sys
    from peer.ledger import Write, open_channel_ledger, rwset
    from tests.unit.peer.blocks import CC, Tx, commit, writes

    ledger = open_channel_ledger(sys.argv[1], "trade")
    n = ledger.height()
    while True:
        counter = ledger.get_state(CC, "counter")
        value = int(counter.value) if counter else 0
        increment = rwset.TxRWSet((rwset.NsRWSet(
            CC,
            reads=(rwset.Read("counter", counter.version if counter else None),),
            writes=(Write(CC, "counter", str(value + 1).encode()),),
        ),))
        txs = [Tx(f"b{n}inc{i}", increment) for i in range(2)]
        txs += [
            Tx(f"b{n}t{i}", writes(
                (f"k{(n * 7 + i) % 40}", f"{n}.{i}".encode() * 20),
                (f"\\x00d\\x00{(n + i) % 10}\\x00", None if (n + i) % 3 == 0 else b"v"),
            ))
            for i in range(40)
        ]
        commit(ledger, txs)
        print(n, flush=True)
        n += 1
    """
)


def test_sigkill_mid_commit_leaves_a_consistent_ledger(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[3]
    acknowledged = -1
    for round_ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path)],
            stdout=subprocess.PIPE,
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(repo)},
        )
        assert proc.stdout is not None
        for _ in range(5 + 7 * round_):
            line = proc.stdout.readline()
            if not line:
                break
            acknowledged = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()

        ledger = open_channel_ledger(tmp_path, "trade")
        height = ledger.height()
        savepoint = ledger.savepoint()
        assert savepoint is not None
        assert savepoint.block_num + 1 == height
        assert height >= acknowledged + 1
        last = ledger.block(height - 1)
        assert last is not None
        assert savepoint.tx_count == len(last.data.data)

        fresh = MemoryLedger()
        replay(ledger, fresh)
        assert fresh.height() == height
        assert fresh.state_hash() == ledger.state_hash()
        for n in range(height):
            assert fresh.commit_hash(n) == ledger.commit_hash(n)
            stored, replayed = ledger.block(n), fresh.block(n)
            assert stored is not None
            assert replayed is not None
            slot = common_pb2.TRANSACTIONS_FILTER
            assert stored.metadata.metadata[slot] == replayed.metadata.metadata[slot]
            assert stored.metadata.metadata[slot][:2] == bytes(
                [transaction_pb2.VALID, transaction_pb2.MVCC_READ_CONFLICT]
            )
        assert ledger.get_state(CC, "counter").value == str(height).encode()  # type: ignore[union-attr]
        assert len(ledger.history(CC, "counter")) == height
        ledger.close()
