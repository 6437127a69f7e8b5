"""`scf regulator channels | block | tx | history`: the ledgers as the regulator's peer
holds them."""

from __future__ import annotations

import base64
import json
from typing import Any

import click
from rich.table import Table

from client.cli.regulator.base import Target, channel_option, message_dict, target_options
from client.verify import short
from common import block as blk
from protos.scf import regulator_pb2

__all__ = ["block_command", "channels_command", "history_command", "tx_command"]


@click.command("channels")
@target_options
def channels_command(target: Target) -> None:
    """Channels the regulator's peer joined, with heights and indicator heights."""
    rows = target.ask(lambda client: client.channels())
    table = Table("channel", "height", "indicators", "last block hash", "last commit hash")
    for r in rows:
        table.add_row(
            r.channel,
            str(r.height),
            str(r.indicator_height),
            short(r.last_block_hash),
            short(r.last_commit_hash),
        )
    target.show([message_dict(r) for r in rows], table)


@click.command("block")
@target_options
@channel_option()
@click.argument("number", type=int)
def block_command(target: Target, channel: str, number: int) -> None:
    """One block: hashes and its transactions with validation codes and creators."""
    resp = target.ask(lambda client: client.block(channel, number))
    header = resp.block.header
    table = Table("#", "tx id", "code", "creator", "chaincode", "function")
    for t in resp.txs:
        table.add_row(
            str(t.tx_index),
            t.tx_id[:16],
            t.validation_code_name,
            t.creator_mspid,
            t.chaincode,
            t.function,
        )
    target.show(
        {
            "number": header.number,
            "header_hash": resp.header_hash.hex(),
            "previous_hash": header.previous_hash.hex(),
            "data_hash": header.data_hash.hex(),
            "commit_hash": resp.commit_hash.hex(),
            "txs": [message_dict(t) for t in resp.txs],
        },
        f"block {header.number} on {channel}: hash {short(resp.header_hash)}, "
        f"previous {short(header.previous_hash)}, data {short(header.data_hash)}, "
        f"commit {short(resp.commit_hash)}",
        table,
    )


@click.command("tx")
@target_options
@channel_option(None)
@click.option("--proof", is_flag=True, help="Also print the Merkle inclusion proof.")
@click.argument("tx_id")
def tx_command(target: Target, channel: str | None, proof: bool, tx_id: str) -> None:
    """A transaction: block, validation code, creator and decoded read/write set.

    With --proof, the Merkle path of the transaction over its block's entries (leaf
    H(0x00‖entry), nodes H(0x01‖l‖r)) up to the root, checked here, beside the block's
    data hash and header hash.
    """
    with target.client() as client:
        tx = client.transaction(tx_id, channel or "")
        block = client.block(tx.channel, tx.block_number) if proof else None
    out = message_dict(tx)
    out.pop("envelope", None)
    for ns in out.get("rwset", []):
        for w in ns.get("writes", []):
            w["value"] = _render(bytes.fromhex(_b64hex(w.get("value", ""))))
    if tx.event_payload:
        out["event_payload"] = _render(tx.event_payload)
    if block is not None:
        out["proof"] = _proof(block, tx)
    table = Table("namespace", "key", "write")
    table.columns[2].no_wrap = True
    table.columns[2].overflow = "ellipsis"
    for ns in tx.rwset:
        for w in ns.writes:
            shown = "(delete)" if w.is_delete else json.dumps(_render(w.value), ensure_ascii=False)
            table.add_row(ns.namespace, w.key.replace("\x00", "·"), shown[:120])
    human: list[Any] = [
        f"tx {tx.tx_id}\n  channel {tx.channel}, block {tx.block_number}, index {tx.tx_index}, "
        f"{tx.validation_code_name}\n  creator {tx.creator_mspid} / {tx.creator_id}, "
        f"{tx.chaincode}.{tx.function}",
        table,
    ]
    if block is not None:
        p = out["proof"]
        verdict = "[green]verified[/]" if p["verified"] else "[red]FAILS[/]"
        human.append(
            f"proof: leaf {p['leaf']} of {p['entries']}, {len(p['path'])} step(s) → merkle root "
            f"{short(p['merkle_root'])} ({verdict}); data hash {short(p['data_hash'])}, "
            f"header hash {short(p['header_hash'])}"
        )
    target.show(out, *human)


def _b64hex(value: str) -> str:
    return base64.b64decode(value).hex() if value else ""


def _render(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return {"hex": raw.hex()}


def _proof(
    block: regulator_pb2.GetBlockResponse, tx: regulator_pb2.GetTransactionResponse
) -> dict[str, Any]:
    entries = list(block.block.data.data)
    entry = entries[tx.tx_index]
    path = blk.merkle_path(entries, tx.tx_index)
    root = blk.merkle_root(entries)
    return {
        "leaf": tx.tx_index,
        "entries": len(entries),
        "path": [{"left": left, "hash": h.hex()} for left, h in path],
        "merkle_root": root.hex(),
        "verified": blk.verify_merkle_path(entry, path, root)
        and blk.data_hash(entries) == block.block.header.data_hash,
        "data_hash": block.block.header.data_hash.hex(),
        "header_hash": block.header_hash.hex(),
    }


@click.command("history")
@target_options
@channel_option()
@click.argument("namespace")
@click.argument("key")
def history_command(target: Target, channel: str, namespace: str, key: str) -> None:
    """Every committed change of one ledger key, oldest first.

    Composite keys: write the separator as '·' (or \\0), e.g. ·voucher·V-1·
    """
    raw_key = key.replace("·", "\x00").replace("\\0", "\x00")
    mods = target.ask(lambda client: client.key_history(channel, namespace, raw_key))
    table = Table("tx id", "timestamp", "value")
    for m in mods:
        value = "(delete)" if m.is_delete else json.dumps(_render(m.value), ensure_ascii=False)
        table.add_row(m.tx_id[:16], str(m.timestamp), value[:140])
    target.show(
        [
            {
                "tx_id": m.tx_id,
                "timestamp": m.timestamp,
                "is_delete": m.is_delete,
                "value": _render(m.value),
            }
            for m in mods
        ],
        table,
    )
