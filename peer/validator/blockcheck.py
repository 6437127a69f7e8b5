"""Block-level checks before any transaction is looked at (Fabric's block verification
in the deliver client and the committer).

A block is accepted only if it is the next block of the ledger (number, previous
hash, data hash) and carries orderer signatures satisfying the channel's
`BlockValidation` policy (implicit-meta over the orderer orgs, so every signer must
be an orderer-org member). A block that fails is refused with a `BlockRefused`
naming why; nothing of it is committed and the peer carries on.
"""

from __future__ import annotations

from common import block as blk
from common.config.bundle import ChannelBundle
from common.config.channel import BLOCK_VALIDATION
from common.errors import ScfError
from common.policies import SignedData
from protos.common import common_pb2

__all__ = ["BlockRefused", "verify_block"]


class BlockRefused(ScfError):
    """A block that must not be committed.

    Codes: `BLOCK_OUT_OF_ORDER`, `PREVIOUS_HASH_MISMATCH`, `DATA_HASH_MISMATCH`,
    `BAD_BLOCK_SIGNATURE`.
    """

    code = "BLOCK_REFUSED"

    def __init__(self, block_num: int, message: str, *, code: str) -> None:
        super().__init__(f"block {block_num}: {message}", code=code)
        self.block_num = block_num


def verify_block(
    block: common_pb2.Block,
    bundle: ChannelBundle,
    *,
    expected_number: int,
    previous_hash: bytes,
) -> None:
    """Raise `BlockRefused` unless `block` is number `expected_number`, chains to
    `previous_hash` (the header hash of the ledger's last block), has the right data
    hash and is signed according to the channel's BlockValidation policy."""
    number = block.header.number
    if number != expected_number:
        raise BlockRefused(
            number,
            f"expected block {expected_number} (the ledger's height)",
            code="BLOCK_OUT_OF_ORDER",
        )
    if block.header.previous_hash != previous_hash:
        raise BlockRefused(
            number,
            f"previous_hash {block.header.previous_hash.hex()[:16]}… does not match block "
            f"{number - 1}'s header hash {previous_hash.hex()[:16]}…",
            code="PREVIOUS_HASH_MISMATCH",
        )
    if block.header.data_hash != blk.data_hash(block.data.data):
        raise BlockRefused(number, "data_hash does not match its data", code="DATA_HASH_MISMATCH")
    try:
        signatures = blk.block_signatures(block)
    except blk.BlockError as exc:
        raise BlockRefused(number, exc.message, code="BAD_BLOCK_SIGNATURE") from None
    if not signatures:
        raise BlockRefused(number, "carries no orderer signature", code="BAD_BLOCK_SIGNATURE")
    result = bundle.evaluate(
        BLOCK_VALIDATION,
        [SignedData(s.creator, s.signed_bytes, s.signature) for s in signatures],
    )
    if not result.satisfied:
        raise BlockRefused(
            number,
            f"orderer signatures do not satisfy {BLOCK_VALIDATION}: {result.reason}",
            code="BAD_BLOCK_SIGNATURE",
        )
