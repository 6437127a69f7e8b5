"""`scf network up|down|status`: run a network's nodes as local OS processes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from client.cli.output import rich_console
from client.launcher import DEFAULT_NETWORK_DIR, NetworkLayout, NodeRole
from client.launcher_ops import network_down, network_status, network_up
from client.launcher_probe import NodeStatus, leaders
from common.errors import ScfError

_dir_option = click.option(
    "--dir",
    "net_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_NETWORK_DIR,
    show_default=True,
    help="Network folder (crypto, genesis blocks, node configs, data, logs).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _layout(net_dir: Path) -> NetworkLayout:
    return NetworkLayout(net_dir.expanduser().resolve())


@contextmanager
def _spinner(enabled: bool, first: str) -> Iterator[Any]:
    """A status line on stderr (so --json output on stdout stays clean)."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda _msg: None
        return
    with console.status(first) as status:
        yield lambda msg: status.update(msg)


def _fail(exc: ScfError) -> click.ClickException:
    return click.ClickException(str(exc))


def _status_dict(s: NodeStatus, layout: NetworkLayout) -> dict[str, Any]:
    return {
        "node": s.node.id,
        "org": s.node.org,
        "mspid": s.node.mspid,
        "role": s.node.role.value,
        "address": s.node.address,
        "operations_port": s.node.operations_port,
        "pid": s.pid,
        "running": s.pid is not None,
        "health": s.health,
        "heights": dict(s.heights),
        "leader_of": sorted(c for c, lead in s.is_leader.items() if lead),
        "log": str(layout.log_path(s.node)),
    }


def _role(s: NodeStatus) -> str:
    if s.node.role is NodeRole.ORDERER:
        return "orderer"
    return "peer" if s.node.endorser else "peer (committer)"


@click.group(name="network")
def network_group() -> None:
    """Start, stop and inspect a local network (every node its own OS process)."""


@network_group.command(name="up")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="network.yaml (default: the folder's own, else the built-in default consortium).",
)
@_dir_option
@click.option(
    "--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for ready."
)
@_json_option
def up_command(config_path: Path | None, net_dir: Path, timeout: float, as_json: bool) -> None:
    """Generate what is missing, start every node not running, wait until ready.

    Crypto material and genesis blocks are generated on the first run and reused
    afterwards; node data is kept across restarts.
    """
    layout = _layout(net_dir)
    began = time.monotonic()
    try:
        with _spinner(True, "preparing the network folder") as say:
            result = network_up(layout, config_path, timeout=timeout, progress=say)
    except ScfError as exc:
        raise _fail(exc) from None
    except OSError as exc:  # e.g. an unwritable --dir
        raise click.ClickException(f"{exc.filename or ''}: {exc.strerror or exc}") from None
    elapsed = time.monotonic() - began
    channel_leaders = leaders(result.statuses)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "dir": str(layout.root),
                    "profile": str(layout.profile),
                    "started": list(result.started),
                    "already_running": list(result.already_running),
                    "leaders": channel_leaders,
                    "seconds": round(elapsed, 2),
                    "nodes": [_status_dict(s, layout) for s in result.statuses],
                },
                indent=2,
            )
        )
        return
    table = Table(title=f"scf network ({layout.root})")
    for col in ("node", "org", "role", "address", "ops port", "PID", "log"):
        table.add_column(col, no_wrap=col in ("node", "address", "log"))
    for s in result.statuses:
        table.add_row(
            s.node.id,
            s.node.org,
            _role(s),
            s.node.address,
            str(s.node.operations_port),
            str(s.pid or "-"),
            str(layout.log_path(s.node).relative_to(layout.root)),
        )
    console = rich_console()
    console.print(table)
    for channel, leader in sorted(channel_leaders.items()):
        console.print(f"channel [bold]{channel}[/]: Raft leader {leader}")
    console.print(
        f"started {len(result.started)}, already running {len(result.already_running)}; "
        f"ready in {elapsed:.1f} s"
    )
    console.print(f"connection profile: {layout.profile}", soft_wrap=True)
    console.print(f"logs: {layout.logs}", soft_wrap=True)


@network_group.command(name="down")
@_dir_option
@click.option("--purge", is_flag=True, help="Also delete crypto, genesis, data and logs.")
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL.",
)
@_json_option
def down_command(net_dir: Path, purge: bool, timeout: float, as_json: bool) -> None:
    """Stop every node (SIGTERM, then SIGKILL after --timeout). Data is kept unless --purge."""
    layout = _layout(net_dir)
    try:
        with _spinner(True, "stopping nodes") as say:
            results = network_down(layout, purge=purge, timeout=timeout, progress=say)
    except ScfError as exc:
        raise _fail(exc) from None
    except OSError as exc:  # e.g. an unwritable --dir
        raise click.ClickException(f"{exc.filename or ''}: {exc.strerror or exc}") from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "dir": str(layout.root),
                    "purged": purge,
                    "nodes": [{"node": r.node, "pid": r.pid, "signal": r.signal} for r in results],
                },
                indent=2,
            )
        )
        return
    stopped = [r for r in results if r.pid is not None]
    for r in stopped:
        how = "killed (SIGKILL)" if r.signal == "SIGKILL" else "stopped"
        click.echo(f"{r.node}: {how} (pid {r.pid})")
    click.echo(
        f"{len(stopped)} node(s) stopped, {len(results) - len(stopped)} were not running; "
        + (f"{layout.root} purged" if purge else f"data kept in {layout.root}")
    )


@network_group.command(name="status")
@_dir_option
@_json_option
def status_command(net_dir: Path, as_json: bool) -> None:
    """Health, block height per channel and the Raft leader of every node.

    Exits 1 if any node is stopped or unhealthy.
    """
    layout = _layout(net_dir)
    try:
        config, statuses = network_status(layout)
    except ScfError as exc:
        raise _fail(exc) from None
    except OSError as exc:  # e.g. an unwritable --dir
        raise click.ClickException(f"{exc.filename or ''}: {exc.strerror or exc}") from None
    channel_leaders = leaders(statuses)
    all_ok = all(s.healthy for s in statuses)
    channels = [c.name for c in config.channels]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "dir": str(layout.root),
                    "healthy": all_ok,
                    "leaders": {c: channel_leaders.get(c) for c in channels},
                    "nodes": [_status_dict(s, layout) for s in statuses],
                },
                indent=2,
            )
        )
    else:
        table = Table(title=f"scf network status ({layout.root})")
        for col in ("node", "role", "address", "PID", "health", *channels):
            table.add_column(col, no_wrap=col in ("node", "address"))
        for s in statuses:
            health = {"OK": "[green]OK[/]", "STOPPED": "[dim]stopped[/]"}.get(
                s.health, f"[red]{s.health}[/]"
            )
            cells = []
            for c in channels:
                if c not in s.node.channels:
                    cells.append("")
                    continue
                height = str(s.heights[c]) if c in s.heights else "-"
                cells.append(height + (" (leader)" if s.is_leader.get(c) else ""))
            table.add_row(s.node.id, _role(s), s.node.address, str(s.pid or "-"), health, *cells)
        console = rich_console()
        console.print(table)
        for c in channels:
            console.print(f"channel [bold]{c}[/]: Raft leader {channel_leaders.get(c, 'none')}")
    if not all_ok:
        raise SystemExit(1)
