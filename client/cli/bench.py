"""`scf bench`: benchmarks against a local network this command starts and stops."""

from __future__ import annotations

import json
import os
import platform
import signal
from pathlib import Path
from types import FrameType

import click

from client.bench.orderer import BenchError, BenchOptions, BenchReport, run_orderer_bench
from client.bench.voucher import voucher_command
from common.errors import ScfError


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the nodes and load clients are stopped."""
    raise KeyboardInterrupt


@click.group(name="bench")
def bench_group() -> None:
    """Benchmarks (each starts its own nodes as processes and stops them)."""


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {model or platform.processor() or '?'}"


def _render(report: BenchReport) -> str:
    o = report.options
    bound = f"{o.envelopes} envelopes" if o.envelopes is not None else f"{o.duration_s:g} s"
    rate = f"{o.rate:g}/s offered" if o.rate else "as fast as possible"
    lines = [
        f"machine          {_machine()}",
        f"load             {bound}, {rate}, {o.clients} clients → {o.target}, "
        f"{report.envelope_bytes}-byte signed envelopes",
        f"batch            BatchTimeout {o.batch_timeout_ms} ms, MaxMessageCount "
        f"{o.max_message_count}; leader {report.leader}, Deliver from {report.deliver_from}",
        f"sent             {report.sent}",
        f"committed        {report.committed}",
        "failed           "
        + (", ".join(f"{k} {v}" for k, v in sorted(report.failed.items())) or "0"),
    ]
    if report.first_failure:
        lines.append(f"first failure    {report.first_failure}")
    lines += [
        f"throughput       {report.throughput:.0f} envelopes/s committed "
        f"(window {report.window_s:.2f} s)",
    ]
    if report.latency is not None:
        ms = report.latency.as_ms()
        lines.append(
            "latency          broadcast→delivered "
            + "  ".join(f"{k} {v:.0f} ms" for k, v in ms.items())
        )
    if report.ack_latency is not None:
        ms = report.ack_latency.as_ms()
        lines.append(
            "                 broadcast→SUCCESS   "
            + "  ".join(f"{k} {v:.0f} ms" for k, v in ms.items())
        )
    lines.append("processes        name        CPU%   peak RSS")
    for p in report.processes:
        lines.append(
            f"{'':17}{p.name:<10} {p.cpu_percent:5.0f}   {p.rss_peak_bytes / 2**20:6.0f} MB"
        )
    if report.other_cpu_percent is not None:
        lines.append(
            f"other load       {report.other_cpu_percent:.0f}% of a core used by other "
            "processes during the run (figures are skewed if this is high)"
        )
    if report.directory:
        lines.append(f"kept             {report.directory}")
    return "\n".join(lines)


@bench_group.command(name="orderer")
@click.option("--envelopes", type=click.IntRange(min=1), help="How many envelopes to send.")
@click.option("--duration", type=click.FloatRange(min=0.1), help="Or: send for this many seconds.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Offered envelopes/s over all clients (0: as fast as possible).",
)
@click.option(
    "--clients",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Load-generator processes (one Broadcast stream each).",
)
@click.option(
    "--size",
    type=click.IntRange(min=256),
    default=1024,
    show_default=True,
    help="Envelope size in bytes.",
)
@click.option("--batch-timeout-ms", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--max-message-count", type=click.IntRange(min=1), default=500, show_default=True)
@click.option(
    "--target",
    type=click.Choice(["leader", "all"]),
    default="leader",
    show_default=True,
    help="Broadcast to the leader, or spread over all orderers.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--keep-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the network here (must be empty) and keep it afterwards.",
)
def orderer_command(
    envelopes: int | None,
    duration: float | None,
    rate: float,
    clients: int,
    size: int,
    batch_timeout_ms: int,
    max_message_count: int,
    target: str,
    as_json: bool,
    keep_dir: Path | None,
) -> None:
    """Signed envelopes through Broadcast into a 3-orderer TLS cluster on this machine;
    prints envelopes/s committed and broadcast→delivered latency."""
    if envelopes is not None and duration is not None:
        raise click.UsageError("give --envelopes or --duration, not both")
    if envelopes is None and duration is None:
        envelopes = 20_000
    try:
        options = BenchOptions(
            envelopes=envelopes,
            duration_s=duration,
            rate=rate,
            clients=clients,
            size=size,
            batch_timeout_ms=batch_timeout_ms,
            max_message_count=max_message_count,
            target=target,
            keep_dir=keep_dir,
        )

        def progress(message: str) -> None:
            click.echo(f"· {message}", err=True)

        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            report = run_orderer_bench(options, progress)
        finally:
            signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt:
        raise click.ClickException(
            "interrupted; everything the benchmark started is stopped"
        ) from None
    except BenchError as exc:
        raise click.ClickException(str(exc)) from None
    except ScfError as exc:
        raise click.ClickException(f"{exc.code}: {exc}") from None
    if as_json:
        click.echo(json.dumps({"machine": _machine(), **report.as_dict()}, indent=2))
    else:
        click.echo(_render(report))


bench_group.add_command(voucher_command)
