"""`scf regulator lineage | exposure | alerts | watch`: the regulator's indicators."""

from __future__ import annotations

import json

import click
from rich.table import Table
from rich.tree import Tree

from client.cli.regulator.base import (
    Target,
    channel_option,
    message_dict,
    money,
    target_options,
)
from client.regulator import LineageNode, lineage_tree
from client.verify import short
from protos.scf import regulator_pb2

__all__ = ["alerts_command", "exposure_command", "lineage_command", "watch_command"]


@click.command("lineage")
@target_options
@channel_option()
@click.argument("voucher_id")
def lineage_command(target: Target, channel: str, voucher_id: str) -> None:
    """A voucher's whole tree from its root: holders, amounts, status, txids."""
    resp = target.ask(lambda client: client.lineage(channel, voucher_id))
    root = lineage_tree(resp)
    balanced = resp.leaf_total == resp.face_total
    title = (
        f"lineage of {resp.root_id}: face {money(resp.face_total)} {resp.currency}, "
        f"leaves sum {money(resp.leaf_total)} "
        + ("[green](balanced)[/]" if balanced else "[red](UNBALANCED)[/]")
    )
    tree = Tree(title)
    if root is not None:
        _grow(tree, root)
    target.show(message_dict(resp), tree)


def _label(n: regulator_pb2.VoucherNode) -> str:
    holders = " → ".join(h.holder for h in n.holders) or n.holder
    extra = f", financed by {n.financier}" if n.financier else ""
    return (
        f"[bold]{n.voucher_id}[/] {money(n.amount)} {n.currency} {n.status}, "
        f"holder {n.holder}{extra}  [dim]path {holders}; tx {n.created_tx[:12]}[/]"
    )


def _grow(tree: Tree, node: LineageNode) -> None:
    branch = tree.add(_label(node.node))
    for child in node.children:
        _grow(branch, child)


@click.command("exposure")
@target_options
@click.option("--channel", default="", help="Channel (default: every channel).")
@click.option("--issuer", default="", help="Core enterprise (default: all).")
@click.option("--as-of", "as_of", default="", help="YYYY-MM-DD (default: latest tx date).")
def exposure_command(target: Target, channel: str, issuer: str, as_of: str) -> None:
    """Exposure per core enterprise: live and financed face, by maturity bucket."""
    rows = target.ask(lambda client: client.exposure(channel, issuer, as_of))
    labels = [b.label for b in rows[0].buckets] if rows else []
    table = Table("channel", "issuer", "ccy", "live face", "financed", "pending", "leaves", *labels)
    for r in rows:
        table.add_row(
            r.channel,
            r.issuer,
            r.currency,
            money(r.live_face),
            money(r.financed_face),
            money(r.pending_face),
            str(r.leaves),
            *[money(b.live_face) for b in r.buckets],
        )
    footer = [f"[dim]as of {rows[0].as_of}; amounts in major units[/]"] if rows else []
    target.show([message_dict(r) for r in rows], table, *footer)


@click.command("alerts")
@target_options
@click.option("--channel", default="", help="Channel (default: every channel).")
@click.option("--rule", default="", help="Only this rule, e.g. CIRCULAR_TRANSFER.")
def alerts_command(target: Target, channel: str, rule: str) -> None:
    """Suspicious-pattern alerts (DOMAIN §6.2) with their evidence txids."""
    rows = target.ask(lambda client: client.alerts(channel, rule))
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
    target.show(
        [{**message_dict(a), "details": json.loads(a.details_json or "{}")} for a in rows],
        table,
    )


@click.command("watch")
@target_options
@click.option("--channel", "channels", multiple=True, help="Channel (repeatable; default all).")
@click.option("--alerts-only", is_flag=True, help="Only alerts.")
@click.option("--blocks-only", is_flag=True, help="Only block notices.")
@click.option("--count", type=int, default=0, help="Stop after N events (default: Ctrl-C).")
def watch_command(
    target: Target,
    channels: tuple[str, ...],
    alerts_only: bool,
    blocks_only: bool,
    count: int,
) -> None:
    """Stream new blocks and alerts across channels until Ctrl-C (or --count N)."""
    seen = 0
    with target.client() as client:
        try:
            events = client.watch(channels, blocks_only=blocks_only, alerts_only=alerts_only)
            for event in events:
                _print_event(event, target.as_json)
                seen += 1
                if count and seen >= count:
                    break
        except KeyboardInterrupt:
            pass


def _print_event(event: regulator_pb2.WatchEvent, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(message_dict(event), ensure_ascii=False), nl=True)
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
