"""`scf bench`: benchmarks — `run` (the default with `--workload`) and `voucher` against a
running network, `orderer` against an ordering service it starts and stops."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from client.bench.errors import BenchError
from client.bench.orderer import BenchOptions, BenchReport, run_orderer_bench
from client.bench.plot import plot_timeline
from client.bench.runner import BenchConfig, run_bench
from client.bench.voucher import voucher_command
from client.bench.workloads import MAX_IN_FLIGHT, WORKLOADS, FixedLoad, FixedRate, RateControl
from client.cli.bench_options import (
    clients_option,
    echo_progress,
    json_flag,
    profile_option,
    sigterm_interrupts,
)
from common.errors import ScfError


def _run_options(f: Callable[..., None]) -> Callable[..., None]:
    """The `scf bench run` options, shared by the group (so `run` is the default)."""
    options = [
        profile_option(
            "Connection profile of a running network; node PIDs are read from "
            "its folder (nodes/*/pid)."
        ),
        click.option(
            "--workload",
            type=click.Choice(list(WORKLOADS)),
            help="What to send (the group runs it when given).",
        ),
        click.option(
            "--value-size",
            type=click.IntRange(min=1),
            default=100,
            show_default=True,
            help="Bytes per value (blind-write, read-modify-write).",
        ),
        click.option("--rate", type=click.FloatRange(min=0.1), help="Fixed rate, tx/s in all."),
        click.option(
            "--inflight",
            type=click.IntRange(min=1),
            help="Fixed load: outstanding transactions in all (default 32).",
        ),
        click.option(
            "--max",
            "max_rate",
            is_flag=True,
            help=f"Saturate: fixed load of {MAX_IN_FLIGHT} in flight.",
        ),
        click.option("--duration", type=click.FloatRange(min=1), help="Measured seconds."),
        click.option("--tx-count", type=click.IntRange(min=1), help="Or: transactions in all."),
        click.option(
            "--warmup",
            type=click.FloatRange(min=0),
            default=5.0,
            show_default=True,
            help="Seconds of load before the measured window (duration mode).",
        ),
        clients_option("Client processes, each with its own gateway connection."),
        click.option(
            "--client",
            "client_kind",
            type=click.Choice(["python", "node"]),
            default="python",
            show_default=True,
            help="python: this SDK; node: @hyperledger/fabric-gateway "
            "(bench/fabric-gateway-blind-write.mjs; blind-write, fixed load).",
        ),
        click.option(
            "--no-batching",
            is_flag=True,
            help="Python clients on the SDK's standard path (one Endorse, Submit and "
            "CommitStatus call per transaction) instead of its batching mode.",
        ),
        click.option(
            "--json",
            "json_out",
            is_flag=False,
            flag_value="-",
            default=None,
            help="Write the figures as JSON to FILE (`--json` alone: to stdout, "
            "instead of the table).",
            metavar="[FILE]",
        ),
        click.option(
            "--plot",
            type=click.Path(dir_okay=False, path_type=Path),
            help="PNG of throughput and latency over time.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(name="bench", invoke_without_command=True)
@_run_options
@click.pass_context
def bench_group(ctx: click.Context, /, **kwargs: Any) -> None:
    """Benchmarks. With --workload: a Caliper-style round against a running network
    (same as `scf bench run`). `orderer` starts its own nodes; `voucher` and `run`
    use a running network's connection profile."""
    if ctx.invoked_subcommand is not None:
        return
    if kwargs["workload"] is None:
        click.echo(ctx.get_help())
        return
    _run(**kwargs)


@bench_group.command(name="run")
@_run_options
def run_command(**kwargs: Any) -> None:
    """A Caliper-style round against a running network: submitted, succeeded, failed
    by code, throughput, latency and each node's CPU/RSS (docs/performance.md)."""
    if kwargs["workload"] is None:
        raise click.UsageError("give --workload")
    _run(**kwargs)


def _run(
    *,
    profile: Path,
    workload: str,
    value_size: int,
    rate: float | None,
    inflight: int | None,
    max_rate: bool,
    duration: float | None,
    tx_count: int | None,
    warmup: float,
    clients: int,
    client_kind: str,
    no_batching: bool,
    json_out: str | None,
    plot: Path | None,
) -> None:
    if sum(x is not None and x is not False for x in (rate, inflight, max_rate or None)) > 1:
        raise click.UsageError("give one of --rate, --inflight, --max")
    if duration is not None and tx_count is not None:
        raise click.UsageError("give --duration or --tx-count, not both")
    control: RateControl
    if rate is not None:
        control = FixedRate(rate)
    else:
        control = FixedLoad(MAX_IN_FLIGHT if max_rate else inflight or 32)
    if client_kind == "node" and clients == 4 and inflight is None and not max_rate:
        clients = 1
        control = FixedLoad(50)
    try:
        config = BenchConfig(
            profile=profile,
            workload=workload,
            control=control,
            clients=clients,
            duration_s=(duration or 30.0) if tx_count is None else None,
            tx_count=tx_count,
            warmup_s=warmup if tx_count is None else 0.0,
            value_size=value_size,
            client=client_kind,
            batching=not no_batching,
        )
        with sigterm_interrupts():
            result = run_bench(config, echo_progress)
    except KeyboardInterrupt:
        raise click.ClickException("interrupted; the load clients are stopped") from None
    except ScfError as exc:
        raise click.ClickException(str(exc)) from None
    data = {"machine_description": _machine(), **result.as_dict()}
    if plot is not None:
        plot_timeline(data, plot)
    if json_out == "-":
        click.echo(json.dumps(data, indent=2))
        return
    if json_out is not None:
        Path(json_out).write_text(json.dumps(data, indent=2) + "\n")
    click.echo(render_result(data))


def render_result(data: dict[str, Any]) -> str:
    """The printed table of a `scf bench run` result (its JSON form)."""
    c = data["config"]
    rc = c["rate_control"]
    control = (
        f"fixed rate {rc['rate']:g}/s"
        if rc["kind"] == "fixed-rate"
        else f"fixed load {rc['in_flight']} in flight"
    )
    bound = (
        f"{c['duration_s']:g} s (+{c['warmup_s']:g} s warm-up)"
        if c["duration_s"]
        else (f"{c['tx_count']} tx")
    )
    mode = ""
    if c.get("batching") is not None:
        mode = " (SDK batching mode)" if c["batching"] else " (SDK standard path)"
    lines = [
        f"machine          {data['machine_description']}",
        f"workload         {c['workload']} ({c['value_size']} B values), {control}, "
        f"{c['clients']} {c['client']} clients{mode}, {bound}",
        f"clients          {', '.join(data['clients'])}",
    ]
    if data["setup"]:
        s = data["setup"]
        lines.append(
            f"set-up           {s['transactions']} tx ({s['roots']} roots: issue, accept, "
            f"split) in {s['seconds']} s = {s['tx_s']} tx/s; {s['leaves']} leaves"
        )
    lines += [
        f"submitted        {data['submitted']} (window {data['window_s']} s; "
        f"{data['warmup_sent']} in warm-up)",
        f"succeeded        {data['succeeded']}",
        "failed           " + (", ".join(f"{k} {v}" for k, v in data["failed"].items()) or "0"),
    ]
    if data["first_failure"]:
        lines.append(f"first failure    {data['first_failure']}")
    if data["late_sends"]:
        lines.append(f"late sends       {data['late_sends']} (the outstanding cap was reached)")
    lines.append(f"throughput       {data['throughput_tx_s']} tx/s succeeded")
    if data["latency_ms"]:
        lines.append(
            "latency          submit→commit "
            + "  ".join(f"{k} {v:.0f} ms" for k, v in data["latency_ms"].items())
        )
    ph = data["phases_p50_ms"]
    if ph.get("endorse") is not None:
        lines.append(
            f"phases p50       endorse {ph['endorse']} ms, submit {ph['submit']} ms, "
            f"commit wait {ph['commit_wait']} ms"
        )
    lines.append(
        "processes        name                          CPU%   ms/tx   RSS start→end (peak) MB"
        "  spread %     anon start→end (peak) MB  spread %"
    )
    for n in data["nodes"] + data["load_clients"]:
        per_tx = "-" if n["cpu_ms_per_tx"] is None else f"{n['cpu_ms_per_tx']:.2f}"
        lines.append(
            f"{'':17}{n['name']:<29} {n['cpu_percent']:5.0f}  {per_tx:>6}   "
            f"{_mb_range(n, 'rss')}  {_pct_range(n['rss_spread_pct'])}   "
            f"{_mb_range(n, 'rss_anon')}  {_pct_range(n['rss_anon_spread_pct'])}"
        )
    m = data["machine"]
    lines.append(
        f"machine load     load avg (1 min) {m['load_avg_1m']}, machine CPU "
        f"{m['machine_cpu_percent']}% of one core ({m['cpus']} cores), other processes "
        f"{m['other_cpu_percent']}% of one core (figures are skewed when this is high)"
    )
    return "\n".join(lines)


def _mb_range(figures: dict[str, Any], prefix: str) -> str:
    start, end, peak = (figures[f"{prefix}_{k}_mb"] for k in ("start", "end", "peak"))
    return f"{start:.0f}→{end:.0f} ({peak:.0f})".ljust(14)


def _pct_range(spread: list[float]) -> str:
    return f"{spread[0]:+.0f}…{spread[1]:+.0f}".ljust(9)


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
@clients_option("Load-generator processes (one Broadcast stream each).")
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
@json_flag()
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
        with sigterm_interrupts():
            report = run_orderer_bench(options, echo_progress)
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
