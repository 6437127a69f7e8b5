"""`scf block get|list` and `scf tx get`: the ledger decoded to readable JSON.

Blocks come from the gateway peer's Deliver service (`Network.blocks`), as any
Readers-policy member may read them. Decoding never fails on odd content: what cannot
be parsed is shown as hex with an `error` field.

`scf tx get TXID` asks the gateway peer for the tx's commit status (which names its
block) with a short deadline, then reads that block; if the peer cannot answer that
way, it scans the channel's blocks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.table import Table

from client.cli.invoke import OneLineCommand, connect, connection_options, guarded, progress
from client.errors import CommitStatusError, EventsError, validation_code_name
from client.network import Network
from common import txutil
from common.errors import ScfError
from protos.common import common_pb2
from protos.ledger.rwset import rwset_pb2
from protos.ledger.rwset.kvrwset import kv_rwset_pb2
from protos.msp import identities_pb2
from protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_pb2

__all__ = ["block_group", "decode_block", "decode_transaction", "tx_group"]

TX_LOOKUP_TIMEOUT = 3.0
"""Seconds to wait for the commit status of a txid before saying it is not found."""


class TxNotFoundError(ScfError):
    code = "TX_NOT_FOUND"


# --------------------------------------------------------------------------- decoding


def _value(data: bytes) -> Any:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return {"hex": data.hex()}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _creator(serialized: bytes) -> dict[str, Any]:
    try:
        ident = identities_pb2.SerializedIdentity.FromString(serialized)
    except Exception:  # protobuf DecodeError
        return {"hex": serialized.hex()}
    out: dict[str, Any] = {"mspid": ident.mspid}
    try:
        cert = x509.load_pem_x509_certificate(ident.id_bytes)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if names:
            out["id"] = str(names[0].value)
    except ValueError:
        pass
    return out


def _timestamp(seconds: int, nanos: int) -> str:
    moment = datetime.fromtimestamp(seconds + nanos / 1e9, tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _rwset(data: bytes) -> list[dict[str, Any]]:
    if not data:
        return []
    out = []
    for ns in rwset_pb2.TxReadWriteSet.FromString(data).ns_rwset:
        kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
        out.append(
            {
                "namespace": ns.namespace,
                "reads": [
                    {
                        "key": r.key,
                        "version": (
                            {"block": r.version.block_num, "tx": r.version.tx_num}
                            if r.HasField("version")
                            else None
                        ),
                    }
                    for r in kv.reads
                ],
                "range_queries": [
                    {"start": q.start_key, "end": q.end_key, "exhausted": q.itr_exhausted}
                    for q in kv.range_queries_info
                ],
                "writes": [
                    {"key": w.key, "delete": True}
                    if w.is_delete
                    else {"key": w.key, "value": _value(w.value)}
                    for w in kv.writes
                ],
            }
        )
    return out


def decode_transaction(envelope: bytes, code: int | None = None) -> dict[str, Any]:
    """One block entry as readable JSON: header, creator, and for an endorser
    transaction its call, response, endorsers, read/write set and event."""
    try:
        env = txutil.parse_envelope_header(envelope)
    except txutil.EnvelopeError as exc:
        return {"error": str(exc), "hex": envelope.hex()}
    ch = env.channel_header
    try:
        type_name = common_pb2.HeaderType.Name(ch.type)
    except ValueError:
        type_name = str(ch.type)
    out: dict[str, Any] = {
        "txid": ch.tx_id,
        "type": type_name,
        "channel": ch.channel_id,
        "timestamp": _timestamp(ch.timestamp.seconds, ch.timestamp.nanos),
        "creator": _creator(env.signature_header.creator),
    }
    if code is not None:
        out["validation_code"] = validation_code_name(code)
    if ch.type != common_pb2.ENDORSER_TRANSACTION:
        return out
    try:
        tx = txutil.parse_transaction(envelope)
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(tx.chaincode_proposal_payload)
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
        args = list(spec.chaincode_spec.input.args)
        out["chaincode"] = tx.chaincode
        out["function"] = _value(args[0]) if args else None
        out["args"] = [_value(a) for a in args[1:]]
        out["response"] = {"status": tx.response_status, "message": tx.response_message}
        out["endorsers"] = [_creator(e.endorser) for e in tx.endorsements]
        out["rwset"] = _rwset(tx.rwset_bytes)
        if tx.event_bytes:
            event = chaincode_event_pb2.ChaincodeEvent.FromString(tx.event_bytes)
            out["events"] = [
                {
                    "chaincode": event.chaincode_id,
                    "name": event.event_name,
                    "payload": _value(bytes(event.payload)),
                }
            ]
        else:
            out["events"] = []
    except Exception as exc:  # a malformed tx is data to show, not a crash
        out["error"] = f"cannot decode the transaction: {exc}"
    return out


def decode_block(block: common_pb2.Block) -> dict[str, Any]:
    """A block as readable JSON (header hashes in hex, every transaction decoded)."""
    metadata = block.metadata.metadata
    codes = (
        bytes(metadata[common_pb2.TRANSACTIONS_FILTER])
        if len(metadata) > common_pb2.TRANSACTIONS_FILTER
        else b""
    )
    txs = [
        decode_transaction(bytes(data), codes[i] if i < len(codes) else None)
        for i, data in enumerate(block.data.data)
    ]
    out: dict[str, Any] = {
        "number": block.header.number,
        "previous_hash": block.header.previous_hash.hex(),
        "data_hash": block.header.data_hash.hex(),
        "transactions": txs,
    }
    if len(metadata) > common_pb2.COMMIT_HASH and metadata[common_pb2.COMMIT_HASH]:
        try:
            out["commit_hash"] = common_pb2.Metadata.FromString(
                metadata[common_pb2.COMMIT_HASH]
            ).value.hex()
        except Exception:
            out["commit_hash"] = bytes(metadata[common_pb2.COMMIT_HASH]).hex()
    return out


def _show(value: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(value, ensure_ascii=False))
    else:
        click.echo(json.dumps(value, indent=2, ensure_ascii=False))


# --------------------------------------------------------------------------- commands


@click.group("block")
def block_group() -> None:
    """Read blocks of a channel from your org's gateway peer."""


@block_group.command("get", cls=OneLineCommand)
@connection_options
@click.argument("number", type=click.IntRange(min=0))
def block_get(profile: Path, org: str, user: str, channel: str, as_json: bool, number: int) -> None:
    """Print block NUMBER decoded to JSON."""
    with guarded(as_json):
        with connect(profile, org, user, channel) as gateway:
            network = gateway.network(channel)
            with (
                progress(f"Reading block {number} of {channel}…"),
                network.blocks(number, number) as blocks,
            ):
                block = _first(blocks, f"block {number} is not in channel {channel}")
        _show(decode_block(block), as_json)


@block_group.command("list", cls=OneLineCommand)
@connection_options
@click.option("--from", "first", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--to", "last", type=click.IntRange(min=0), help="Last block [default: newest].")
def block_list(
    profile: Path,
    org: str,
    user: str,
    channel: str,
    as_json: bool,
    first: int,
    last: int | None,
) -> None:
    """List blocks FROM..TO (inclusive): number, transactions, validity and hashes."""
    rows: list[dict[str, Any]] = []
    with guarded(as_json):
        if last is not None and last < first:
            raise ScfError(f"--to {last} is before --from {first}", code="BAD_RANGE")
        with connect(profile, org, user, channel) as gateway:
            network = gateway.network(channel)
            with progress(f"Reading blocks of {channel}…"), network.blocks(first, last) as blocks:
                for block in blocks:
                    decoded = decode_block(block)
                    txs = decoded["transactions"]
                    rows.append(
                        {
                            "number": decoded["number"],
                            "transactions": len(txs),
                            "valid": sum(t.get("validation_code") == "VALID" for t in txs),
                            "txids": [t.get("txid", "") for t in txs],
                            "data_hash": decoded["data_hash"],
                            "previous_hash": decoded["previous_hash"],
                        }
                    )
    if as_json:
        click.echo(json.dumps(rows))
        return
    table = Table(title=f"channel {channel}")
    for name in ("block", "txs", "valid", "data hash", "previous hash"):
        table.add_column(name, justify="right" if name in ("block", "txs", "valid") else "left")
    for row in rows:
        table.add_row(
            str(row["number"]),
            str(row["transactions"]),
            str(row["valid"]),
            row["data_hash"][:16] + "…",
            (row["previous_hash"][:16] + "…") if row["previous_hash"] else "-",
        )
    Console().print(table)


@click.group("tx")
def tx_group() -> None:
    """Read transactions of a channel."""


@tx_group.command("get", cls=OneLineCommand)
@connection_options
@click.argument("txid")
def tx_get(profile: Path, org: str, user: str, channel: str, as_json: bool, txid: str) -> None:
    """Print transaction TXID decoded to JSON, with its block and validation code."""
    with guarded(as_json):
        with connect(profile, org, user, channel) as gateway:
            network = gateway.network(channel)
            with progress(f"Looking up {txid} in {channel}…"):
                found = _find_transaction(network, txid)
        _show(found, as_json)


def _first(blocks: Any, missing: str) -> common_pb2.Block:
    try:
        return next(iter(blocks))  # type: ignore[no-any-return]
    except StopIteration:
        raise TxNotFoundError(missing, code="BLOCK_NOT_FOUND") from None
    except EventsError as exc:
        if exc.code == "BLOCK_NOT_FOUND":
            raise TxNotFoundError(missing, code="BLOCK_NOT_FOUND") from None
        raise


def _in_block(block: common_pb2.Block, txid: str) -> dict[str, Any] | None:
    decoded = decode_block(block)
    for index, tx in enumerate(decoded["transactions"]):
        if tx.get("txid") == txid:
            return {"block": decoded["number"], "index": index, **tx}
    return None


def _find_transaction(network: Network, txid: str) -> dict[str, Any]:
    try:
        status = network.new_commit(txid).status(timeout=TX_LOOKUP_TIMEOUT)
    except CommitStatusError as exc:
        if exc.grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise TxNotFoundError(f"no transaction {txid} in channel {network.name}") from None
        if exc.grpc_code == grpc.StatusCode.UNAVAILABLE:
            raise
        status = None  # the peer cannot look it up this way: scan the chain
    if status is not None:
        with network.blocks(status.block_number, status.block_number) as blocks:
            block = _first(blocks, f"block {status.block_number} is not in {network.name}")
        found = _in_block(block, txid)
        if found is not None:
            return found
    with network.blocks(0) as blocks:
        for block in blocks:
            found = _in_block(block, txid)
            if found is not None:
                return found
    raise TxNotFoundError(f"no transaction {txid} in channel {network.name}")
