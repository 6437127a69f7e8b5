"""`scf demo`: the paper's Figure 1 end to end on a live local network.

Text output: one line per step (who, what, txid, block) as it happens, then the
voucher's lineage tree and the exposure figures the regulator read. `--json`:
one JSON document on stdout. Exit 0 on success; 1 with the failing step and its
error code; 130 on Ctrl-C / SIGTERM. The network is stopped in every case; a
temporary folder is removed unless `--keep` or the run failed (its logs stay).
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from client.cli.output import rich_console
from client.demo import DemoRun, run_demo
from client.demo_plan import DemoError, Step, fen
from common.errors import ScfError

__all__ = ["demo_command"]


@contextmanager
def _spinner(enabled: bool) -> Iterator[Any]:
    """A transient status line on stderr (only on a terminal)."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda _msg: None
        return
    with console.status("preparing the network folder") as status:
        yield lambda msg: status.update(escape(msg))


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so the network is stopped on either."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _step_line(step: Step) -> str:
    tx = step.tx_id[:8] if step.tx_id else "query"
    block = str(step.block) if step.block is not None else "-"
    return (
        f"{step.number:>2}  {step.who:<19} {step.function:<17} {tx:<8} {block:>5}  {step.summary}"
    )


def _lineage_tree(lineage: dict[str, Any]) -> Tree:
    root = lineage["root"]
    nodes = {n["voucher_id"]: n for n in lineage["nodes"]}

    def label(n: dict[str, Any]) -> str:
        text = f"[bold]{escape(n['voucher_id'])}[/]  {fen(n['amount'], root['currency'])}  "
        if n["status"] == "SPLIT":
            return text + "[dim]SPLIT[/]"
        text += f"[cyan]{n['status']}[/]  held by {escape(n['holder'])}"
        financing = n.get("financing")
        if financing:
            reg = escape(str(financing["registration_ref"]))
            text += (
                f"  ({financing['rate_bps']} bp, {financing['days']} d, "
                f"interest {fen(financing['interest'])}, reg {reg})"
            )
        return text

    def grow(tree: Tree, node_id: str) -> None:
        for child in nodes[node_id]["children"]:
            grow(tree.add(label(nodes[child])), child)

    top = nodes[root["root_id"]]
    tree = Tree(f"{label(top)}   issuer {escape(root['issuer'])}, matures {root['maturity_date']}")
    grow(tree, root["root_id"])
    return tree


def _exposure_table(exposure: dict[str, Any]) -> Table:
    table = Table(title="Exposure (read by regulator/Auditor1)", title_justify="left")
    table.add_column("who")
    table.add_column("what")
    table.add_column("amount", justify="right")
    table.add_column("details")
    issuer = exposure["issuer"]
    table.add_row(
        issuer["mspid"],
        "vouchers outstanding (payable)",
        fen(issuer["outstanding"]),
        f"overdue roots {issuer['overdue_roots']}, defaulted {issuer['defaulted_roots']}, "
        f"blocked {'yes' if issuer['blocked'] else 'no'}",
    )
    for f in exposure["voucher_financing"]:
        table.add_row(
            f["financier"],
            f"voucher financing {f['voucher_id']}",
            fen(f["face"]),
            f"net paid {fen(f['net_proceeds'])}, due at maturity",
        )
    loan = exposure["receipt_pledge"]
    ltv = loan["ltv_bps"]
    table.add_row(
        loan["bank"],
        f"receipt-pledge loan {loan['loan_id']} to {loan['borrower']}",
        fen(loan["outstanding"]),
        f"collateral {fen(loan['collateral_value'])}, LTV {ltv // 100}.{ltv % 100:02d}% "
        f"(cap {loan['ltv_max_bps'] // 100}%), {loan['status']}",
    )
    for bank, total in exposure["bank_total"].items():
        table.add_row(f"[bold]{bank}[/]", "[bold]total[/]", f"[bold]{fen(total)}[/]", "")
    return table


def _render(console: Console, run: DemoRun, kept: Path | None) -> None:
    story = run.story
    lineage = dict(story.lineage)
    console.print()
    console.print(f"Lineage of {story.plan.voucher_id} (read by regulator/Auditor1)")
    console.print(_lineage_tree(lineage))
    face, total = lineage["root"]["face_total"], lineage["leaves_total"]
    mark = "[green]✓[/]" if face == total else "[red]✗[/]"
    console.print(f"leaves total {fen(total)} = face {fen(face)} {mark}")
    console.print()
    console.print(_exposure_table(dict(story.exposure)))
    blocks = [s.block for s in story.steps if s.block is not None]
    console.print()
    console.print(
        f"{len(blocks)} transactions committed in blocks {min(blocks)}–{max(blocks)}; "
        f"network stopped. {run.seconds:.1f} s (network up {run.up_seconds:.1f} s, "
        f"story {run.story_seconds:.1f} s, down {run.down_seconds:.1f} s)"
    )
    if kept is not None:
        console.print(
            f"network folder kept: {kept} (restart it: scf network up --dir {kept})",
            soft_wrap=True,
        )


@click.command(name="demo")
@click.option(
    "--dir",
    "net_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Network folder (default: a temporary folder, removed afterwards unless --keep).",
)
@click.option("--keep", is_flag=True, help="Keep the temporary network folder (logs, ledgers).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="network.yaml to run instead of the default consortium (same org names).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def demo_command(net_dir: Path | None, keep: bool, config_path: Path | None, as_json: bool) -> None:
    """Start a network, run the paper's Figure 1 story end to end, stop the network.

    The core enterprise issues a receivable voucher to tier 1, which accepts, splits
    it and passes part to tier 2; tier 2 passes part to tier 3, which has it
    financed by the bank. The warehouse issues a receipt that its owner pledges to
    the bank. The regulator reads the lineage and the exposure.
    """
    temporary = net_dir is None
    root = Path(tempfile.mkdtemp(prefix="scf-demo-")) if net_dir is None else net_dir
    root = root.expanduser().resolve()
    out = rich_console()
    steps: list[Step] = []

    def on_step(step: Step) -> None:
        if not as_json:
            if not steps:
                out.print(
                    f"\n{'#':>2}  {'who':<19} {'what':<17} {'tx':<8} {'block':>5}  details",
                    style="bold",
                )
            out.print(escape(_step_line(step)), soft_wrap=True)
        steps.append(step)

    def on_retry(label: str, exc: ScfError, attempt: int) -> None:
        if not as_json:
            rich_console(stderr=True).print(
                f"[dim]   {escape(label)}: {exc.code}, retrying ({attempt})[/]", soft_wrap=True
            )

    if not as_json:
        out.print("[bold]scf demo[/]: the paper's Figure 1 on a live network")
        out.print(f"network folder: {root}", soft_wrap=True)
    code = 0
    run: DemoRun | None = None
    failure: dict[str, Any] | None = None
    try:
        with _sigterm_as_interrupt(), _spinner(not as_json) as say:

            def progress(msg: str) -> None:
                say(msg)

            run = run_demo(
                root,
                config_path=config_path,
                on_step=on_step,
                progress=progress,
                on_retry=on_retry,
            )
    except KeyboardInterrupt:
        code = 130
        failure = {"code": "INTERRUPTED", "step": None, "message": "interrupted"}
    except DemoError as exc:
        code = 1
        failure = {"code": exc.code, "step": exc.step, "message": exc.message}
    except ScfError as exc:
        code = 1
        failure = {"code": exc.code, "step": "network up", "message": exc.message}
    except OSError as exc:
        code = 1
        failure = {"code": "OS_ERROR", "step": "network up", "message": str(exc)}
    # A failed run keeps its temporary folder: the node logs say what went wrong.
    failed_with_logs = code == 1 and any((root / "logs").glob("*.log"))
    kept = root if (keep or not temporary or failed_with_logs) else None
    if kept is None:
        shutil.rmtree(root, ignore_errors=True)
    if as_json:
        doc: dict[str, Any] = run.to_json() if run is not None else {"ok": False, "dir": str(root)}
        if failure is not None:
            doc.update(failure=failure, steps=[s.to_json() for s in steps])
        doc["kept"] = kept is not None
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    elif run is not None:
        _render(out, run, kept)
    if failure is not None and not as_json:
        err = rich_console(stderr=True)
        if failure["step"] is None:
            err.print("[red]✗[/] interrupted", soft_wrap=True)
        else:
            err.print(
                f"[red]✗[/] {escape(failure['step'])} failed: "
                f"{escape(failure['code'])}: {escape(failure['message'])}",
                soft_wrap=True,
            )
        err.print(
            "the network was stopped" + (f"; logs: {kept / 'logs'}" if kept else ""),
            soft_wrap=True,
        )
    if code:
        sys.exit(code)
