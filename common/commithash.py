"""The commit-hash and state-hash recipes: one definition, two users.

The peer's ledger (`peer.ledger.codec`) computes them when it commits a block; the
regulator's independent verifier (`client.regulator_verify`) recomputes them by
replaying the VALID write sets of the blocks into a fresh state. Both call the
functions below, so they can never drift apart.

Commit hash of block n (Fabric-like; all lengths 4 bytes, big-endian):

    SHA-256( commit_hash(n-1) (32 zero bytes for n = 0) ‖ n (8)
             ‖ tx count ‖ validation code of each tx (1 byte each)
             ‖ for each state update of the block, sorted by (ns, key) UTF-8 bytes:
                 len ns ‖ ns ‖ len key ‖ key ‖ is_delete (1) ‖ len value ‖ value )

where the block's updates are the writes of its VALID transactions, the last writer
of a key winning (`value is None` is a delete).

State hash: SHA-256 over every live (namespace, key) in (UTF-8 namespace length,
namespace, key) byte order — the peer's `st/` key order — each encoded as
`len ns ‖ ns ‖ len key ‖ key ‖ block (8) ‖ tx (4) ‖ len value ‖ value`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping

__all__ = [
    "NO_COMMIT_HASH",
    "StateEntry",
    "commit_hash",
    "state_hash",
    "state_order",
]

NO_COMMIT_HASH = bytes(32)
"""The commit hash "before" block 0."""

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_VERSION = struct.Struct(">QI")

StateEntry = tuple[str, str, bytes, int, int]
"""(namespace, key, value, block_num, tx_num) of one live state entry."""


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def commit_hash(
    previous: bytes,
    block_num: int,
    codes: bytes,
    updates: Mapping[tuple[str, str], bytes | None],
) -> bytes:
    """Block `block_num`'s commit hash (module docstring). `updates` maps
    (namespace, key) to the new value, or None for a delete. Raises
    `UnicodeEncodeError` for a namespace or key that is not valid UTF-8."""
    digest = hashlib.sha256()
    digest.update(previous + _U64.pack(block_num) + _U32.pack(len(codes)) + codes)
    encoded = sorted((_utf8(ns), _utf8(key), value) for (ns, key), value in updates.items())
    for ns, key, value in encoded:
        raw = b"" if value is None else value
        digest.update(_U32.pack(len(ns)) + ns + _U32.pack(len(key)) + key)
        digest.update(bytes([value is None]) + _U32.pack(len(raw)) + raw)
    return digest.digest()


def state_order(namespace: str, key: str) -> tuple[int, bytes, bytes]:
    """The sort key giving the peer's `st/` iteration order."""
    ns = _utf8(namespace)
    return (len(ns), ns, _utf8(key))


def state_hash(entries: Iterable[StateEntry]) -> bytes:
    """The state hash over `entries`, which must come in `state_order`."""
    digest = hashlib.sha256()
    for namespace, key, value, block_num, tx_num in entries:
        ns = _utf8(namespace)
        raw_key = _utf8(key)
        digest.update(_U32.pack(len(ns)) + ns + _U32.pack(len(raw_key)) + raw_key)
        digest.update(_VERSION.pack(block_num, tx_num))
        digest.update(_U32.pack(len(value)) + value)
    return digest.digest()
