"""Decoding stored transactions for the regulator: creator, chaincode function and
arguments, the read/write set and the chaincode event, as protobuf replies.

Works on any block entry: a config or malformed envelope gives a summary with
what could be read (its tx id and code) rather than an error.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from common import txutil
from common.crypto import load_certificate_pem
from common.msp.identity import enrollment_id_of
from peer.ledger import rwset
from protos.msp import identities_pb2
from protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_pb2, transaction_pb2
from protos.scf import regulator_pb2


def code_name(code: int) -> str:
    try:
        return transaction_pb2.TxValidationCode.Name(code)
    except ValueError:
        return f"UNKNOWN_{code}"


@dataclass(frozen=True)
class Creator:
    mspid: str
    enrollment_id: str


def creator_of(serialized: bytes) -> Creator:
    """MSP id and enrollment id (certificate CN) of a serialised identity; the
    identity is only read here (the validator already judged it)."""
    try:
        identity = identities_pb2.SerializedIdentity.FromString(serialized)
    except Exception:
        return Creator("", "")
    try:
        enrollment = enrollment_id_of(load_certificate_pem(identity.id_bytes))
    except Exception:
        enrollment = ""
    return Creator(identity.mspid, enrollment)


def invocation(tx: txutil.ParsedTransaction) -> tuple[str, list[bytes]]:
    """(function, remaining args) from the chaincode proposal payload."""
    try:
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(tx.chaincode_proposal_payload)
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    except Exception:
        return "", []
    args = list(spec.chaincode_spec.input.args)
    if not args:
        return "", []
    return args[0].decode(errors="replace"), [bytes(a) for a in args[1:]]


def summary(index: int, entry: bytes, code: int) -> regulator_pb2.TxSummary:
    out = regulator_pb2.TxSummary(
        tx_index=index, validation_code=code, validation_code_name=code_name(code)
    )
    try:
        tx = txutil.parse_transaction(entry)
    except txutil.EnvelopeError:
        with contextlib.suppress(txutil.EnvelopeError):
            out.tx_id = txutil.parse_envelope_header(entry).channel_header.tx_id
        return out
    out.tx_id = tx.tx_id
    out.creator_mspid = creator_of(tx.creator).mspid
    out.chaincode = tx.chaincode
    out.function = invocation(tx)[0]
    return out


def _reads(reads: tuple[rwset.Read, ...]) -> list[regulator_pb2.KVRead]:
    out = []
    for read in reads:
        message = regulator_pb2.KVRead(key=read.key, has_version=read.version is not None)
        if read.version is not None:
            message.block_num = read.version.block_num
            message.tx_num = read.version.tx_num
        out.append(message)
    return out


def detail(
    channel: str, block_number: int, index: int, entry: bytes, code: int
) -> regulator_pb2.GetTransactionResponse:
    out = regulator_pb2.GetTransactionResponse(
        channel=channel,
        block_number=block_number,
        tx_index=index,
        validation_code=code,
        validation_code_name=code_name(code),
        envelope=entry,
    )
    try:
        tx = txutil.parse_transaction(entry)
    except txutil.EnvelopeError:
        with contextlib.suppress(txutil.EnvelopeError):
            out.tx_id = txutil.parse_envelope_header(entry).channel_header.tx_id
        return out
    creator = creator_of(tx.creator)
    function, args = invocation(tx)
    out.tx_id = tx.tx_id
    out.creator_mspid = creator.mspid
    out.creator_id = creator.enrollment_id
    out.timestamp = tx.timestamp[0]
    out.chaincode = tx.chaincode
    out.function = function
    out.args.extend(args)
    try:
        decoded = rwset.decode(tx.rwset_bytes)
    except rwset.RWSetError:
        decoded = rwset.TxRWSet()
    for ns in decoded.namespaces:
        message = regulator_pb2.NsReadWrite(namespace=ns.namespace)
        message.reads.extend(_reads(ns.reads))
        for write in ns.writes:
            message.writes.append(
                regulator_pb2.KVWrite(
                    key=write.key, value=write.value or b"", is_delete=write.value is None
                )
            )
        for query in ns.range_queries:
            message.range_reads.append(
                regulator_pb2.RangeRead(
                    start_key=query.start, end_key=query.end, reads=_reads(query.reads)
                )
            )
        out.rwset.append(message)
    if tx.event_bytes:
        event = chaincode_event_pb2.ChaincodeEvent.FromString(tx.event_bytes)
        out.event_name = event.event_name
        out.event_payload = event.payload
    return out
