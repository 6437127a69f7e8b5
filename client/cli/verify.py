"""`scf verify`: re-check every block of a channel on every peer and compare peers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from client.cli.output import rich_console
from client.profile import DEFAULT_PROFILE, load_profile
from client.verify import VerifyReport, short, verify_channel
from common.errors import ScfError


def report_dict(report: VerifyReport, *, replayed: bool = False) -> dict[str, Any]:
    """A verification report as JSON. `replayed` (`scf regulator verify`): with each
    peer's replayed state and the first divergent block."""
    peers = []
    for c in report.chains:
        row: dict[str, Any] = {
            "peer": c.peer,
            "org": c.org,
            "status": c.status,
            "height": c.height,
            "tip": c.tip.hex(),
        }
        if replayed:
            row |= {"state": c.state, "state_hash": c.state_hash.hex()}
        peers.append(row | {"error": c.error or None, "bad_block": c.bad_block})
    out: dict[str, Any] = {"channel": report.channel, "ok": report.ok, "peers": peers}
    if replayed:
        out["first_divergent_block"] = first_bad_block(report)
    d = report.divergence
    out["divergence"] = (
        None if d is None else {"block": d.block, "what": d.what, "values": dict(d.values)}
    )
    return out


def first_bad_block(report: VerifyReport) -> int | None:
    """The lowest block where a peer failed or the peers diverged."""
    blocks = [c.bad_block for c in report.chains if c.bad_block is not None]
    if report.divergence is not None:
        blocks.append(report.divergence.block)
    return min(blocks) if blocks else None


@click.command(name="verify")
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_PROFILE,
    show_default=True,
    help="Connection profile of the network.",
)
@click.option("--channel", default="trade", show_default=True, help="Channel to verify.")
@click.option("--peer", "peers", multiple=True, help="Only this peer (repeatable).")
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="Seconds per peer fetch."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify_command(
    profile_path: Path, channel: str, peers: tuple[str, ...], timeout: float, as_json: bool
) -> None:
    """Re-verify every block of a channel on every peer and compare the peers.

    Checks each block's header-hash link, data hash and orderer signatures (against
    the channel's consenters and BlockValidation policy), then compares heights,
    header hashes and commit hashes across peers. Exits 1 on any mismatch.
    """
    err = Console(stderr=True)
    try:
        profile = load_profile(profile_path)
        if err.is_terminal and not as_json:
            with err.status(f"fetching channel {channel} from every peer"):
                report = verify_channel(profile, channel, peers=peers, timeout=timeout)
        else:
            report = verify_channel(profile, channel, peers=peers, timeout=timeout)
    except ScfError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or ''}: {exc.strerror or exc}") from None
    if as_json:
        click.echo(json.dumps(report_dict(report), indent=2))
    else:
        console = rich_console()
        width = max(len(c.peer) for c in report.chains)
        for c in report.chains:
            if c.status == "OK":
                line = f"[green]OK[/]    height {c.height}, tip {short(c.tip)}"
            elif c.status == "NOT_JOINED":
                line = f"[dim]SKIP[/]  {c.error}"
            elif c.status == "FAIL":
                line = f"[red]FAIL[/]  block {c.bad_block}: {c.error}"
            else:
                line = f"[red]{c.status}[/]  {c.error}"
            console.print(f"{c.peer.ljust(width)}  {line}", soft_wrap=True)
        d = report.divergence
        if d is not None:
            values = ", ".join(f"{p}: {short(v)}" for p, v in d.values)
            console.print(f"[red]DIVERGENCE[/] at block {d.block}: {d.what} differs ({values})")
        checked = [c for c in report.chains if c.status != "NOT_JOINED"]
        if report.ok:
            console.print(
                f"channel {channel}: {len(checked)} peer(s) verified, "
                f"{checked[0].height} blocks, all agree"
            )
        else:
            console.print(f"channel {channel}: [red]verification failed[/]")
    if not report.ok:
        raise SystemExit(1)
