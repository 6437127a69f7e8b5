"""Fabric's SeekPosition, resolved against a ledger height (Deliver on orderer and peer)."""

from __future__ import annotations

from protos.orderer import ab_pb2


def resolve_position(pos: ab_pb2.SeekPosition, height: int, *, default: int) -> int:
    """The block number `pos` names on a ledger of `height` blocks (`[0, height)`):
    oldest → 0, newest → the last block, specified → its number, next_commit → the
    next block to come; `default` when no position is set."""
    kind = pos.WhichOneof("Type")
    if kind == "oldest":
        return 0
    if kind == "newest":
        return max(height - 1, 0)
    if kind == "specified":
        return int(pos.specified.number)
    if kind == "next_commit":
        return height
    return default
