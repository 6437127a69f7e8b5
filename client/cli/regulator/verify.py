"""`scf regulator verify`: re-verify a channel on every peer as the regulator,
replaying the chain (`client.regulator_verify`)."""

from __future__ import annotations

from pathlib import Path

import click

from client.cli.invoke import fail
from client.cli.output import rich_console
from client.cli.regulator.base import echo_json
from client.cli.verify import first_bad_block, report_dict
from client.profile import DEFAULT_PROFILE, load_profile
from client.regulator_verify import regulator_verify
from client.verify import VerifyReport, short
from common.errors import ScfError

__all__ = ["verify_command"]


@click.command("verify")
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
        echo_json(report_dict(report, replayed=True))
    else:
        _print_report(report)
    if not report.ok:
        raise SystemExit(1)


def _print_report(report: VerifyReport) -> None:
    console = rich_console()
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
    first = first_bad_block(report)
    if report.ok:
        checked = [c for c in report.chains if c.status != "NOT_JOINED"]
        console.print(
            f"channel {report.channel}: {len(checked)} peer(s) verified and replayed, "
            f"{checked[0].height} blocks, all agree"
        )
    else:
        where = f" (first divergent block {first})" if first is not None else ""
        console.print(f"channel {report.channel}: [red]verification failed[/]{where}")
