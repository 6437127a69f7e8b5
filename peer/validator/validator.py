"""Per-transaction validation of a block, as Fabric's `txvalidator` + `validator`
do it. An invalid transaction is data: every transaction gets a TxValidationCode.

Phases (the block itself has been accepted by `blockcheck.verify_block`):

1. Structure, in block order (cheap): the envelope parses as one endorser
   transaction (NIL_ENVELOPE, BAD_PAYLOAD, BAD_COMMON_HEADER, BAD_CHANNEL_HEADER,
   BAD_HEADER_EXTENSION, BAD_RESPONSE_PAYLOAD, UNKNOWN_TX_TYPE; a CONFIG tx after
   the genesis block is INVALID_CONFIG_TRANSACTION), for this channel
   (TARGET_CHAIN_NOT_FOUND), tx_id = hex(SHA-256(nonce ‖ creator))
   (BAD_PROPOSAL_TXID), the txid is not already in the ledger (DUPLICATE_TXID),
   the chaincode is defined (INVALID_CHAINCODE) at the endorsed version
   (EXPIRED_CHAINCODE), the proposal hash binds the response to this proposal and
   the chaincode's response succeeded (INVALID_ENDORSER_TRANSACTION), the rwset
   parses (BAD_RWSET) and touches only the chaincode's namespace (ILLEGAL_WRITESET).
2. Signatures and policies (`signatures`), order-free, through a
   `SignatureExecutor` (inline, threads or processes).
3. Duplicate txids within the block, in order: a txid already seen on an earlier
   transaction that is still VALID makes this one DUPLICATE_TXID (Fabric's
   `markTXIdDuplicates`).
4. MVCC and phantom reads in block order (`mvcc.validate_block`).

Committed state must not change during `validate` (the committer is the only writer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from chaincode.stub import Timestamp
from common import txutil
from common.blockstore import TxLocation
from common.config.bundle import ChannelBundle
from common.crypto import compute_txid
from peer.ledger import rwset
from peer.ledger.types import TxId, TxWrites, VersionedValue
from peer.validator.mvcc import BlockTx, validate_block
from peer.validator.signatures import InlineExecutor, SignatureExecutor, SignatureJob
from protos.common import common_pb2
from protos.peer import transaction_pb2 as codes_pb

__all__ = ["BlockValidator", "TxInfo", "ValidatedBlock", "ValidatorLedger"]

VALID = codes_pb.VALID
_NO_TIME = Timestamp(0)


class ValidatorLedger(Protocol):
    """What validation reads of the ledger: committed state and the tx index."""

    def get_state(self, namespace: str, key: str) -> VersionedValue | None: ...

    def range(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        """Keys in `[start, end)` ascending; empty `end` = to the namespace's end."""
        ...

    def tx_location(self, txid: str) -> TxLocation | None: ...


@dataclass(frozen=True)
class TxInfo:
    """What listeners need of one transaction of a validated block, from the
    validator's own parse of it (so listeners never parse the envelope again).

    Fields other than `code` are empty (`rwset` None) when the envelope failed the
    structure checks (phase 1); otherwise they are filled whatever the final code,
    and `rwset` is the decoded read/write set the code was judged on.
    """

    tx_num: int
    tx_id: str
    code: int
    chaincode: str = ""
    event_bytes: bytes = b""
    timestamp: Timestamp = _NO_TIME
    rwset: rwset.TxRWSet | None = None


@dataclass(frozen=True)
class ValidatedBlock:
    """A block's verdict: one code per transaction (block order) and the writes of
    the VALID ones, ready for `Ledger.commit`."""

    block_num: int
    codes: tuple[int, ...]
    writes: tuple[TxWrites, ...]
    txs: tuple[TxInfo, ...]


@dataclass(frozen=True)
class _Parsed:
    tx: txutil.ParsedTransaction
    rwset: rwset.TxRWSet
    timestamp: Timestamp


class BlockValidator:
    """Validates the blocks of one channel against its config bundle.

    `executor` runs the signature/policy phase (default: inline). The validator owns
    it and `close()` releases it.
    """

    def __init__(self, bundle: ChannelBundle, executor: SignatureExecutor | None = None) -> None:
        self._bundle = bundle
        self._executor = executor or InlineExecutor(bundle)

    def close(self) -> None:
        self._executor.close()

    def validate(self, block: common_pb2.Block, ledger: ValidatorLedger) -> ValidatedBlock:
        """Codes and valid writes for `block`; see the module docstring."""
        number = block.header.number
        entries = block.data.data
        codes: list[int] = [VALID] * len(entries)
        parsed: list[_Parsed | None] = [None] * len(entries)
        for i, entry in enumerate(entries):
            result = self._structure(entry, ledger)
            if isinstance(result, int):
                codes[i] = result
            else:
                parsed[i] = result
        pending = [i for i, p in enumerate(parsed) if p is not None]
        jobs = [_job(p.tx) for p in parsed if p is not None]
        for i, code in zip(pending, self._executor.check_all(jobs), strict=True):
            codes[i] = code
        seen: set[str] = set()
        for i, p in enumerate(parsed):
            if p is None or codes[i] != VALID:
                continue
            if p.tx.tx_id in seen:
                codes[i] = codes_pb.DUPLICATE_TXID
            seen.add(p.tx.tx_id)
        empty = rwset.TxRWSet()
        block_txs = [
            BlockTx(TxId(""), _NO_TIME, empty, code)
            if p is None
            else BlockTx(TxId(p.tx.tx_id), p.timestamp, p.rwset, code)
            for p, code in zip(parsed, codes, strict=True)
        ]
        mvcc = validate_block(number, block_txs, ledger)
        infos = tuple(
            TxInfo(i, "", code)
            if p is None
            else TxInfo(i, p.tx.tx_id, code, p.tx.chaincode, p.tx.event_bytes, p.timestamp, p.rwset)
            for i, (p, code) in enumerate(zip(parsed, mvcc.codes, strict=True))
        )
        return ValidatedBlock(number, mvcc.codes, mvcc.writes, infos)

    def _structure(self, entry: bytes, ledger: ValidatorLedger) -> _Parsed | int:
        try:
            tx = txutil.parse_transaction(entry)
        except txutil.EnvelopeError as exc:
            if exc.validation_code == codes_pb.UNKNOWN_TX_TYPE and _is_config(entry):
                return codes_pb.INVALID_CONFIG_TRANSACTION
            return exc.validation_code
        if tx.channel_id != self._bundle.channel_id:
            return codes_pb.TARGET_CHAIN_NOT_FOUND
        if compute_txid(tx.nonce, tx.creator) != tx.tx_id:
            return codes_pb.BAD_PROPOSAL_TXID
        if ledger.tx_location(tx.tx_id) is not None:
            return codes_pb.DUPLICATE_TXID
        definition = self._bundle.config.chaincode(tx.chaincode)
        if definition is None:
            return codes_pb.INVALID_CHAINCODE
        if tx.action_chaincode != tx.chaincode:
            return codes_pb.INVALID_ENDORSER_TRANSACTION
        if tx.action_chaincode_version != definition.version:
            return codes_pb.EXPIRED_CHAINCODE
        if tx.computed_proposal_hash() != tx.proposal_hash:
            return codes_pb.INVALID_ENDORSER_TRANSACTION
        if not txutil.SUCCESS <= tx.response_status < txutil.ERROR_THRESHOLD:
            return codes_pb.INVALID_ENDORSER_TRANSACTION
        if not tx.endorsements:
            return codes_pb.ENDORSEMENT_POLICY_FAILURE
        try:
            tx_rwset = rwset.decode(tx.rwset_bytes)
        except rwset.RWSetError:
            return codes_pb.BAD_RWSET
        if any(ns.namespace != tx.chaincode for ns in tx_rwset.namespaces):
            return codes_pb.ILLEGAL_WRITESET
        return _Parsed(tx, tx_rwset, Timestamp(*tx.timestamp))


def _job(tx: txutil.ParsedTransaction) -> SignatureJob:
    return SignatureJob(
        creator=tx.creator,
        payload=tx.payload_bytes,
        signature=tx.signature,
        chaincode=tx.chaincode,
        response_payload=tx.response_payload_bytes,
        endorsements=tuple([(e.endorser, e.signature) for e in tx.endorsements]),
    )


def _is_config(entry: bytes) -> bool:
    try:
        header = txutil.parse_envelope_header(entry)
    except txutil.EnvelopeError:
        return False
    return header.channel_header.type in (common_pb2.CONFIG, common_pb2.CONFIG_UPDATE)
