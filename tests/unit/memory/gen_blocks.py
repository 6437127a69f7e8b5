"""Prepare blocks for `drive_commit` (a script, not a test): real proposals endorsed
by the `World`'s two peers, assembled, signed, cut into signed blocks and written to
one file, so the commit driver's process holds none of the endorsing state.

    .venv/bin/python -m tests.unit.memory.gen_blocks OUT [txs] [per_block]

File: length-prefixed (4 bytes, big-endian) records: the channel config, the
genesis block, then the blocks. Every 20th transaction is a `ReadModifyWrite` of
one of 10 hot keys, endorsed against an empty ledger, so some fail MVCC.
"""

from __future__ import annotations

import struct
import sys
import tempfile

from common import block as blk
from common import txutil
from peer.ledger import open_channel_ledger
from tests.unit.peer.endorser.world import CHANNEL, make_world, propose

_LEN = struct.Struct(">I")


def main() -> None:
    out = sys.argv[1]
    txs = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    per_block = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    world = make_world()
    with tempfile.TemporaryDirectory() as root, open(out, "wb") as f:
        ledger = open_channel_ledger(root, CHANNEL)
        endorsers = [
            world.endorser(world.core_peer, ledger),
            world.endorser(world.bank_peer, ledger),
        ]

        def write(data: bytes) -> None:
            f.write(_LEN.pack(len(data)) + data)

        write(world.config.SerializeToString())
        previous = world.genesis()
        write(previous.SerializeToString())
        entries: list[bytes] = []
        for i in range(txs):
            if i % 20 == 19:
                fn, args = "ReadModifyWrite", {"key": f"hot{i % 10}", "value": str(i)}
            else:
                fn, args = "Put", {"key": f"k{i:08d}", "value": f"value-{i}-" + "v" * 40}
            signed, parsed = propose(world.alice, fn, args)
            responses = [e.process_proposal(signed) for e in endorsers]
            envelope = txutil.assemble_transaction(parsed, responses, world.alice)
            entries.append(envelope.SerializeToString())
            if len(entries) == per_block:
                number = previous.header.number + 1
                block = blk.new_block(number, blk.header_hash(previous.header), entries)
                blk.sign_block(block, world.orderer, last_config=0, nonce=b"n" * 24)
                write(block.SerializeToString())
                previous, entries = block, []
            if i % 20_000 == 0:
                print(f"{i} txs", flush=True)
        ledger.close()


if __name__ == "__main__":
    main()
