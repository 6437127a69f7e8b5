"""`scf regulator ...`: the regulator's read-only view (issue 7).

Every command signs its requests with a regulator identity from the connection
profile (default: the regulator org's first non-admin user, e.g. Auditor1) and asks
the regulator org's peer, which serves the `scf.Regulator` service. Human tables by
default, `--json` for machines. `verify` reads EVERY peer through Deliver and
replays the chain itself (`client.regulator_verify`); `console` serves a local web
page of exposure, alerts and lineage trees (`client.regulator_console`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from client.cli.invoke import fail
from client.profile import DEFAULT_PROFILE, load_profile
from client.regulator import LineageNode, RegulatorClient, lineage_tree
from client.regulator_verify import regulator_verify
from client.verify import VerifyReport, short
from common import block as blk
from common.errors import ScfError
from protos.scf import regulator_pb2

__all__ = ["regulator_group"]

F = TypeVar("F", bound=Callable[..., Any])


def _console() -> Console:
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=200)


def _options(function: F) -> F:
    options = [
        click.option(
            "--profile",
            type=click.Path(dir_okay=False, path_type=Path),
            default=DEFAULT_PROFILE,
            show_default=True,
            help="Connection profile (written by 'scf network up').",
        ),
        click.option("--org", default=None, help="Regulator org (default: found in the profile)."),
        click.option("--user", default=None, help="Regulator user (default: e.g. Auditor1)."),
        click.option("--peer", default=None, help="Peer serving the Regulator service."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _channel_option(default: str | None = "trade") -> Callable[[F], F]:
    return click.option(
        "--channel", default=default, show_default=bool(default), help="Channel to read."
    )


@contextmanager
def _client(
    profile: Path, org: str | None, user: str | None, peer: str | None, as_json: bool
) -> Iterator[RegulatorClient]:
    try:
        with RegulatorClient.from_profile(profile, org=org, user=user, peer=peer) as client:
            yield client
    except (ScfError, OSError) as exc:
        fail(exc, as_json=as_json)


def _dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _money(amount: int) -> str:
    return f"{amount / 100:,.2f}"


@click.group("regulator")
def regulator_group() -> None:
    """The regulator's read-only view: ledgers, indicators, alerts, verification."""


# ----------------------------------------------------------------------- ledger


@regulator_group.command("channels")
@_options
def channels_command(
    profile: Path, org: str | None, user: str | None, peer: str | None, as_json: bool
) -> None:
    """Channels the regulator's peer joined, with heights and indicator heights."""
    with _client(profile, org, user, peer, as_json) as client:
        rows = client.channels()
    if as_json:
        _echo_json([_dict(r) for r in rows])
        return
    table = Table("channel", "height", "indicators", "last block hash", "last commit hash")
    for r in rows:
        table.add_row(
            r.channel,
            str(r.height),
            str(r.indicator_height),
            short(r.last_block_hash),
            short(r.last_commit_hash),
        )
    _console().print(table)


@regulator_group.command("block")
@_options
@_channel_option()
@click.argument("number", type=int)
def block_command(
    profile: Path,
    org: str | None,
    user: str | None,
    peer: str | None,
    as_json: bool,
    channel: str,
    number: int,
) -> None:
    """One block: hashes and its transactions with validation codes and creators."""
    with _client(profile, org, user, peer, as_json) as client:
        resp = client.block(channel, number)
    header = resp.block.header
    if as_json:
        _echo_json(
            {
                "number": header.number,
                "header_hash": resp.header_hash.hex(),
                "previous_hash": header.previous_hash.hex(),
                "data_hash": header.data_hash.hex(),
                "commit_hash": resp.commit_hash.hex(),
                "txs": [_dict(t) for t in resp.txs],
            }
        )
        return
    console = _console()
    console.print(
        f"block {header.number} on {channel}: hash {short(resp.header_hash)}, "
        f"previous {short(header.previous_hash)}, data {short(header.data_hash)}, "
        f"commit {short(resp.commit_hash)}"
    )
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
    console.print(table)


@regulator_group.command("tx")
@_options
@_channel_option(None)
@click.option("--proof", is_flag=True, help="Also print the Merkle inclusion proof.")
@click.argument("tx_id")
def tx_command(
    profile: Path,
    org: str | None,
    user: str | None,
    peer: str | None,
    as_json: bool,
    channel: str | None,
    proof: bool,
    tx_id: str,
) -> None:
    """A transaction: block, validation code, creator and decoded read/write set.

    With --proof, the Merkle path of the transaction over its block's entries (leaf
    H(0x00‖entry), nodes H(0x01‖l‖r)) up to the root, checked here, beside the block's
    data hash and header hash.
    """
    with _client(profile, org, user, peer, as_json) as client:
        tx = client.transaction(tx_id, channel or "")
        block = client.block(tx.channel, tx.block_number) if proof else None
    out = _dict(tx)
    out.pop("envelope", None)
    for ns in out.get("rwset", []):
        for w in ns.get("writes", []):
            w["value"] = _render(bytes.fromhex(_b64hex(w.get("value", ""))))
    if tx.event_payload:
        out["event_payload"] = _render(tx.event_payload)
    if block is not None:
        out["proof"] = _proof(block, tx)
    if as_json:
        _echo_json(out)
        return
    console = _console()
    console.print(
        f"tx {tx.tx_id}\n  channel {tx.channel}, block {tx.block_number}, index {tx.tx_index}, "
        f"{tx.validation_code_name}\n  creator {tx.creator_mspid} / {tx.creator_id}, "
        f"{tx.chaincode}.{tx.function}"
    )
    table = Table("namespace", "key", "write")
    table.columns[2].no_wrap = True
    table.columns[2].overflow = "ellipsis"
    for ns in tx.rwset:
        for w in ns.writes:
            shown = "(delete)" if w.is_delete else json.dumps(_render(w.value), ensure_ascii=False)
            table.add_row(ns.namespace, w.key.replace("\x00", "·"), shown[:120])
    console.print(table)
    if block is not None:
        p = out["proof"]
        verdict = "[green]verified[/]" if p["verified"] else "[red]FAILS[/]"
        console.print(
            f"proof: leaf {p['leaf']} of {p['entries']}, {len(p['path'])} step(s) → merkle root "
            f"{short(p['merkle_root'])} ({verdict}); data hash {short(p['data_hash'])}, "
            f"header hash {short(p['header_hash'])}"
        )


def _b64hex(value: str) -> str:
    import base64

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


@regulator_group.command("history")
@_options
@_channel_option()
@click.argument("namespace")
@click.argument("key")
def history_command(
    profile: Path,
    org: str | None,
    user: str | None,
    peer: str | None,
    as_json: bool,
    channel: str,
    namespace: str,
    key: str,
) -> None:
    """Every committed change of one ledger key, oldest first.

    Composite keys: write the separator as '·' (or \\0), e.g. ·voucher·V-1·
    """
    raw_key = key.replace("·", "\x00").replace("\\0", "\x00")
    with _client(profile, org, user, peer, as_json) as client:
        mods = client.key_history(channel, namespace, raw_key)
    if as_json:
        _echo_json(
            [
                {
                    "tx_id": m.tx_id,
                    "timestamp": m.timestamp,
                    "is_delete": m.is_delete,
                    "value": _render(m.value),
                }
                for m in mods
            ]
        )
        return
    table = Table("tx id", "timestamp", "value")
    for m in mods:
        value = "(delete)" if m.is_delete else json.dumps(_render(m.value), ensure_ascii=False)
        table.add_row(m.tx_id[:16], str(m.timestamp), value[:140])
    _console().print(table)


# ------------------------------------------------------------------------ assets


@regulator_group.command("lineage")
@_options
@_channel_option()
@click.argument("voucher_id")
def lineage_command(
    profile: Path,
    org: str | None,
    user: str | None,
    peer: str | None,
    as_json: bool,
    channel: str,
    voucher_id: str,
) -> None:
    """A voucher's whole tree from its root: holders, amounts, status, txids."""
    with _client(profile, org, user, peer, as_json) as client:
        resp = client.lineage(channel, voucher_id)
    if as_json:
        _echo_json(_dict(resp))
        return
    root = lineage_tree(resp)
    balanced = resp.leaf_total == resp.face_total
    title = (
        f"lineage of {resp.root_id}: face {_money(resp.face_total)} {resp.currency}, "
        f"leaves sum {_money(resp.leaf_total)} "
        + ("[green](balanced)[/]" if balanced else "[red](UNBALANCED)[/]")
    )
    tree = Tree(title)
    if root is not None:
        _grow(tree, root)
    _console().print(tree)


def _label(n: regulator_pb2.VoucherNode) -> str:
    holders = " → ".join(h.holder for h in n.holders) or n.holder
    extra = f", financed by {n.financier}" if n.financier else ""
    return (
        f"[bold]{n.voucher_id}[/] {_money(n.amount)} {n.currency} {n.status}, "
        f"holder {n.holder}{extra}  [dim]path {holders}; tx {n.created_tx[:12]}[/]"
    )


def _grow(tree: Tree, node: LineageNode) -> None:
    branch = tree.add(_label(node.node))
    for child in node.children:
        _grow(branch, child)


@regulator_group.command("exposure")
@_options
@click.option("--channel", default="", help="Channel (default: every channel).")
@click.option("--issuer", default="", help="Core enterprise (default: all).")
@click.option("--as-of", "as_of", default="", help="YYYY-MM-DD (default: latest tx date).")
def exposure_command(
    profile: Path,
    org: str | None,
    user: str | None,
    peer: str | None,
    as_json: bool,
    channel: str,
    issuer: str,
    as_of: str,
) -> None:
    """Exposure per core enterprise: live and financed face, by maturity bucket."""
    with _client(profile, org, user, peer, as_json) as client:
        rows = client.exposure(channel, issuer, as_of)
    if as_json:
        _echo_json([_dict(r) for r in rows])
        return
    labels = [b.label for b in rows[0].buckets] if rows else []
    table = Table("channel", "issuer", "ccy", "live face", "financed", "pending", "leaves", *labels)
    for r in rows:
        table.add_row(
            r.channel,
            r.issuer,
            r.currency,
            _money(r.live_face),
            _money(r.financed_face),
            _money(r.pending_face),
            str(r.leaves),
            *[_money(b.live_face) for b in r.buckets],
        )
    _console().print(table)
    if rows:
        _console().print(f"[dim]as of {rows[0].as_of}; amounts in major units[/]")


@regulator_group.command("alerts")
@_options
@click.option("--channel", default="", help="Channel (default: every channel).")
@click.option("--rule", default="", help="Only this rule, e.g. CIRCULAR_TRANSFER.")
def alerts_command(
    profile: Path,
    org: str | None,
    user: str | None,
    peer: str | None,
    as_json: bool,
    channel: str,
    rule: str,
) -> None:
    """Suspicious-pattern alerts (DOMAIN §6.2) with their evidence txids."""
    with _client(profile, org, user, peer, as_json) as client:
        rows = client.alerts(channel, rule)
    if as_json:
        _echo_json([{**_dict(a), "details": json.loads(a.details_json or "{}")} for a in rows])
        return
    table = Table("channel", "#", "rule", "subject", "block", "evidence txids")
    for a in rows:
        table.add_row(
            a.channel,
            str(a.seq),
            a.rule,
            a.subject,
            str(a.block_number),
            ", ".join(t[:12] for t in a.evidence_tx_ids),
        )
    _console().print(table)


@regulator_group.command("watch")
@_options
@click.option("--channel", "channels", multiple=True, help="Channel (repeatable; default all).")
@click.option("--alerts-only", is_flag=True, help="Only alerts.")
@click.option("--blocks-only", is_flag=True, help="Only block notices.")
@click.option("--count", type=int, default=0, help="Stop after N events (default: Ctrl-C).")
def watch_command(
    profile: Path,
    org: str | None,
    user: str | None,
    peer: str | None,
    as_json: bool,
    channels: tuple[str, ...],
    alerts_only: bool,
    blocks_only: bool,
    count: int,
) -> None:
    """Stream new blocks and alerts across channels until Ctrl-C (or --count N)."""
    seen = 0
    with _client(profile, org, user, peer, as_json) as client:
        try:
            events = client.watch(channels, blocks_only=blocks_only, alerts_only=alerts_only)
            for event in events:
                _print_event(event, as_json)
                seen += 1
                if count and seen >= count:
                    break
        except KeyboardInterrupt:
            pass


def _print_event(event: regulator_pb2.WatchEvent, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_dict(event), ensure_ascii=False), nl=True)
        return
    if event.WhichOneof("event") == "block":
        b = event.block
        click.echo(
            f"block  {b.channel} #{b.number} {short(b.header_hash)}: "
            f"{b.valid_tx_count}/{b.tx_count} valid, commit {short(b.commit_hash)}"
        )
    else:
        a = event.alert
        click.echo(
            f"ALERT  {a.channel} {a.rule} {a.subject} (block {a.block_number}; "
            f"evidence {', '.join(t[:12] for t in a.evidence_tx_ids)})"
        )


# ------------------------------------------------------------------- verification


@regulator_group.command("verify")
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_PROFILE,
    show_default=True,
    help="Connection profile.",
)
@click.option("--org", default=None, help="Regulator org (default: found in the profile).")
@click.option("--user", default=None, help="Regulator user reading every peer.")
@click.option("--channel", default="trade", show_default=True, help="Channel to verify.")
@click.option("--peer", "peers", multiple=True, help="Only this peer (repeatable).")
@click.option(
    "--ops",
    multiple=True,
    metavar="PEER=URL",
    help="Operations URL of a peer (default: from the launcher folder of the profile).",
)
@click.option("--timeout", type=float, default=60.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify_command(
    profile: Path,
    org: str | None,
    user: str | None,
    channel: str,
    peers: tuple[str, ...],
    ops: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """Independently re-verify a channel on EVERY peer; exit 1 on any divergence.

    Fetches each peer's chain through Deliver as the regulator, checks header hashes,
    data hashes and orderer signatures, replays the VALID write sets into a fresh
    state recomputing each commit hash, and compares the replayed state with the
    state hash each peer reports. One verdict line per peer.
    """
    try:
        urls = dict(o.split("=", 1) for o in ops)
        report = regulator_verify(
            load_profile(profile),
            channel,
            org=org,
            user=user,
            peers=peers,
            ops=urls,
            timeout=timeout,
        )
    except (ScfError, OSError, ValueError) as exc:
        fail(exc, as_json=as_json)
    if as_json:
        _echo_json(_report_dict(report))
    else:
        _print_report(report)
    if not report.ok:
        raise SystemExit(1)


def _report_dict(report: VerifyReport) -> dict[str, Any]:
    d = report.divergence
    return {
        "channel": report.channel,
        "ok": report.ok,
        "peers": [
            {
                "peer": c.peer,
                "org": c.org,
                "status": c.status,
                "height": c.height,
                "tip": c.tip.hex(),
                "state": c.state,
                "state_hash": c.state_hash.hex(),
                "error": c.error or None,
                "bad_block": c.bad_block,
            }
            for c in report.chains
        ],
        "first_divergent_block": _first_bad(report),
        "divergence": None
        if d is None
        else {"block": d.block, "what": d.what, "values": dict(d.values)},
    }


def _first_bad(report: VerifyReport) -> int | None:
    blocks = [c.bad_block for c in report.chains if c.bad_block is not None]
    if report.divergence is not None:
        blocks.append(report.divergence.block)
    return min(blocks) if blocks else None


def _print_report(report: VerifyReport) -> None:
    console = _console()
    width = max((len(c.peer) for c in report.chains), default=4)
    for c in report.chains:
        if c.status == "OK":
            state = {"OK": "state replayed and equal", "UNCHECKED": "state not reported"}.get(
                c.state, c.state
            )
            line = f"[green]OK[/]    height {c.height}, tip {short(c.tip)}, {state}"
        elif c.status == "NOT_JOINED":
            line = f"[dim]SKIP[/]  {c.error}"
        elif c.status == "FAIL" and c.bad_block is not None:
            line = f"[red]FAIL[/]  block {c.bad_block}: {c.error}"
        else:
            line = f"[red]{c.status}[/]  {c.error}"
        console.print(f"{c.peer.ljust(width)}  {line}", soft_wrap=True)
    d = report.divergence
    if d is not None:
        values = ", ".join(f"{p}: {short(v)}" for p, v in d.values)
        console.print(f"[red]DIVERGENCE[/] at block {d.block}: {d.what} differs ({values})")
    first = _first_bad(report)
    if report.ok:
        checked = [c for c in report.chains if c.status != "NOT_JOINED"]
        console.print(
            f"channel {report.channel}: {len(checked)} peer(s) verified and replayed, "
            f"{checked[0].height} blocks, all agree"
        )
    else:
        where = f" (first divergent block {first})" if first is not None else ""
        console.print(f"channel {report.channel}: [red]verification failed[/]{where}")


# ------------------------------------------------------------------------ console


@regulator_group.command("console")
@_options
@click.option("--port", type=int, default=8800, show_default=True, help="Local HTTP port.")
@click.option("--channel", default="trade", show_default=True, help="Default channel.")
def console_command(
    profile: Path,
    org: str | None,
    user: str | None,
    peer: str | None,
    as_json: bool,
    port: int,
    channel: str,
) -> None:
    """Serve the regulator console on http://127.0.0.1:PORT/ until Ctrl-C.

    The page shows exposure, alerts and voucher lineage trees (?voucher=ID); every
    figure comes from the signed Regulator service. Bound to 127.0.0.1 only.
    """
    from client.regulator_console import ConsoleServer

    with _client(profile, org, user, peer, as_json) as client:
        server = ConsoleServer(client, channel=channel, port=port)
        server.start()
        click.echo(f"regulator console on {server.url}/ (Ctrl-C to stop)", err=True)
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
