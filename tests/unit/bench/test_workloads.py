"""`scf bench` pure logic: calls, rate control, aggregation and the JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.bench.errors import BenchError
from client.bench.report import ProcTick, Sample, node_figures, summarize, timeline
from client.bench.runner import BenchConfig, BenchResult, network_pids
from client.bench.stats import ProcSample
from client.bench.workloads import (
    RMW_ROTATION,
    FixedLoad,
    FixedRate,
    client_orgs,
    kv_call,
    per_client,
    split_evenly,
    value_of,
)
from client.cli.bench import render_result

# ------------------------------------------------------------------ workloads


def test_blind_write_keys_are_fresh_and_values_sized() -> None:
    calls = [
        kv_call("blind-write", run="r", client=c, slot=s, seq=q, value_size=100)
        for c in range(2)
        for s in range(3)
        for q in range(5)
    ]
    keys = [c.args["key"] for c in calls]
    assert len(set(keys)) == len(keys)
    assert {c.function for c in calls} == {"Put"}
    assert {len(c.args["value"]) for c in calls} == {100}


def test_read_modify_write_slots_rotate_over_disjoint_keys() -> None:
    def keys(client: int, slot: int) -> list[str]:
        return [
            kv_call(
                "read-modify-write", run="r", client=client, slot=slot, seq=q, value_size=1024
            ).args["key"]
            for q in range(3 * RMW_ROTATION)
        ]

    mine = keys(0, 0)
    assert len(set(mine)) == RMW_ROTATION
    assert mine[:RMW_ROTATION] == mine[RMW_ROTATION : 2 * RMW_ROTATION]  # a cycle
    assert not set(mine) & set(keys(0, 1))
    assert not set(mine) & set(keys(1, 0))


def test_query_is_an_evaluate_and_voucher_flow_is_not_a_kv_call() -> None:
    call = kv_call("query", run="r", client=1, slot=0, seq=9, value_size=1)
    assert (call.function, call.kind) == ("Get", "evaluate")
    with pytest.raises(ValueError, match="not a key-value workload"):
        kv_call("voucher-flow", run="r", client=0, slot=0, seq=0, value_size=1)


def test_value_of_has_the_exact_size() -> None:
    assert len(value_of(1024, 123456)) == 1024
    assert len(value_of(1, 0)) == 1
    with pytest.raises(ValueError, match="value size"):
        value_of(0, 0)


def test_split_evenly_and_client_orgs() -> None:
    assert split_evenly(10, 4) == [3, 3, 2, 2]
    assert sum(split_evenly(7, 7)) == 7
    assert client_orgs(["core", "bank", "warehouse"], 4) == ["core", "bank", "warehouse", "core"]


# ------------------------------------------------------------------ rate control


def test_fixed_rate_schedule() -> None:
    control = FixedRate(4.0)
    assert [control.due(i, 10.0) for i in range(5)] == [10.0, 10.25, 10.5, 10.75, 11.0]
    assert control.sends_by(9.9, 10.0) == 0
    assert control.sends_by(10.0, 10.0) == 1
    assert control.sends_by(10.75, 10.0) == 4  # an exact boundary counts
    assert control.sends_by(12.0, 10.0) == 9


def test_rate_and_load_split_over_clients() -> None:
    rates = per_client(FixedRate(300.0), 4)
    assert all(isinstance(r, FixedRate) and r.rate == 75.0 for r in rates)
    loads = per_client(FixedLoad(50), 4)
    assert [r.in_flight for r in loads if isinstance(r, FixedLoad)] == [13, 13, 12, 12]
    with pytest.raises(ValueError, match="cannot keep 4 clients busy"):
        per_client(FixedLoad(3), 4)
    with pytest.raises(ValueError, match="rate must be > 0"):
        FixedRate(0)


def test_config_rejects_what_cannot_run(tmp_path: Path) -> None:
    profile = tmp_path / "connection.yaml"
    with pytest.raises(BenchError):
        BenchConfig(profile, "nope", FixedLoad(4))
    with pytest.raises(BenchError):
        BenchConfig(profile, "blind-write", FixedLoad(4), duration_s=None, tx_count=None)
    with pytest.raises(BenchError):
        BenchConfig(profile, "query", FixedLoad(4), client="node")
    with pytest.raises(BenchError):
        BenchConfig(profile, "blind-write", FixedLoad(2), clients=4)


# ------------------------------------------------------------------ aggregation


def _samples() -> list[Sample]:
    return [
        Sample(0.5, 0.2, "VALID", "Put"),  # warm-up: excluded
        Sample(1.0, 0.1, "VALID", "Put", 0.02, 0.05),
        Sample(1.5, 0.3, "VALID", "Put", 0.02, 0.05),
        Sample(2.0, 0.4, "MVCC_READ_CONFLICT", "Put"),
        Sample(2.5, 0.2, "ENDORSEMENT_MISMATCH", "Put"),
        Sample(2.9, 0.5, "VALID", "Put", 0.02, 0.05),  # sent in, completed after: latency only
        Sample(3.1, 0.1, "VALID", "Put"),  # after the window
    ]


def test_summarize_applies_the_window_rule() -> None:
    summary = summarize(_samples(), 1.0, 3.0, start=0.0)
    assert summary.submitted == 5
    assert summary.succeeded == 3
    assert summary.failed == {"MVCC_READ_CONFLICT": 1, "ENDORSEMENT_MISMATCH": 1}
    # Successes completed in [1, 3): at 1.1 and 1.8 (not 0.7, 3.2 or 3.4): 2 over 2 s.
    assert summary.throughput == pytest.approx(1.0)
    assert summary.latency is not None
    assert (summary.latency.min, summary.latency.max) == (0.1, 0.5)
    assert summary.warmup_sent == 1
    assert summary.outside_window == 1
    assert summary.phases_ms["endorse"] == 20.0
    assert summary.by_function == {
        "Put": {"ENDORSEMENT_MISMATCH": 1, "MVCC_READ_CONFLICT": 1, "VALID": 3}
    }


def test_timeline_buckets_by_completion() -> None:
    rows = timeline(_samples(), 0.0, 4.0)
    assert [r["tx_s"] for r in rows] == [1, 2, 0, 2]
    assert [r["failed"] for r in rows] == [0, 0, 2, 0]
    assert rows[2]["p50_ms"] is None


def _tick(t: float, cpu: dict[str, float], busy: float, rss: int = 100 * 2**20) -> ProcTick:
    return ProcTick(t, {n: ProcSample(c, rss) for n, c in cpu.items()}, busy, 1.5)


def test_node_figures_cpu_per_tx_and_other_load() -> None:
    ticks = [
        _tick(0.0, {"peer0": 10.0, "client0": 1.0}, 100.0),
        _tick(5.0, {"peer0": 12.0, "client0": 1.5}, 104.0),
        _tick(10.0, {"peer0": 14.0}, 108.0),  # the client exited
    ]
    figures, machine = node_figures(ticks, 0.0, 10.0, 400, {"peer0": "peer", "client0": "client"})
    by_name = {f.name: f for f in figures}
    assert by_name["peer0"].cpu_percent == pytest.approx(40.0)
    assert by_name["peer0"].cpu_ms_per_tx == pytest.approx(10.0)  # 4 s CPU / 400 tx
    assert by_name["client0"].cpu_percent == pytest.approx(10.0)  # over the ticks it was seen
    assert machine["machine_cpu_percent"] == pytest.approx(80.0)
    assert machine["other_cpu_percent"] == pytest.approx(30.0)  # 80 − 40 − 10
    assert machine["load_avg_1m"] == [1.5, 1.5]
    assert by_name["peer0"].rss_series_mb == (100.0, 100.0, 100.0)
    assert by_name["peer0"].rss_spread_pct == (0.0, 0.0)


def test_node_figures_rss_spread_around_the_mean() -> None:
    mb = 2**20
    ticks = [
        ProcTick(t, {"peer0": ProcSample(float(t), rss * mb, anon * mb)}, None, None)
        for t, rss, anon in [(0, 90, 60), (1, 100, 60), (2, 110, 63), (3, 100, 57)]
    ]
    (peer,), _ = node_figures(ticks, 0.0, 3.0, 10, {"peer0": "peer"})
    assert peer.rss_spread_pct == pytest.approx((-10.0, 10.0))
    assert peer.rss_anon_spread_pct == pytest.approx((-5.0, 5.0))
    assert (peer.rss_anon_start_mb, peer.rss_anon_end_mb, peer.rss_anon_peak_mb) == (60, 57, 63)
    assert peer.as_dict()["rss_anon_spread_pct"] == [-5.0, 5.0]


def test_network_pids_reads_the_nodes_folder(tmp_path: Path) -> None:
    import os

    (tmp_path / "nodes" / "peer0.x").mkdir(parents=True)
    (tmp_path / "nodes" / "peer0.x" / "pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "nodes" / "gone").mkdir()
    (tmp_path / "nodes" / "gone" / "pid").write_text("999999999\n")
    assert network_pids(tmp_path / "connection.yaml") == {"peer0.x": os.getpid()}


def test_json_shape_and_table(tmp_path: Path) -> None:
    config = BenchConfig(tmp_path / "connection.yaml", "blind-write", FixedRate(100.0))
    summary = summarize(_samples(), 1.0, 3.0, start=0.0)
    ticks = [_tick(0.0, {"peer0.a": 1.0}, 5.0), _tick(4.0, {"peer0.a": 2.0}, 7.0)]
    nodes, machine = node_figures(ticks, 1.0, 3.0, summary.succeeded, {"peer0.a": "peer"})
    machine["cpus"] = 2
    result = BenchResult(config, summary, nodes, machine, {}, ["core@peer0.a"])
    data = json.loads(json.dumps(result.as_dict()))
    assert data["schema"] == "scf-bench/1"
    assert data["config"]["rate_control"] == {"kind": "fixed-rate", "rate": 100.0}
    assert set(data) >= {
        "submitted",
        "succeeded",
        "failed",
        "throughput_tx_s",
        "latency_ms",
        "nodes",
        "machine",
        "timeline",
    }
    assert set(data["latency_ms"]) == {"min", "p50", "p90", "p99", "max"}
    assert data["nodes"][0]["name"] == "peer0.a"
    table = render_result({"machine_description": "test", **data})
    assert "throughput       1.0 tx/s" in table
    assert "MVCC_READ_CONFLICT 1" in table


# ------------------------------------------------------------------ the command


def test_cli_runs_from_the_group_and_checks_its_options(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from client.cli.bench import bench_group

    runner = CliRunner()
    missing = str(tmp_path / "connection.yaml")
    clash = runner.invoke(bench_group, ["--workload", "query", "--rate", "5", "--inflight", "3"])
    assert clash.exit_code == 2
    assert "one of --rate, --inflight, --max" in clash.output
    # `--json` without a value, then another option: parsed, then the profile is missing.
    for args in (
        ["--profile", missing, "--workload", "query", "--json", "--plot", "x.png"],
        ["run", "--profile", missing, "--workload", "blind-write", "--tx-count", "5"],
    ):
        result = runner.invoke(bench_group, args)
        assert result.exit_code == 1, result.output
        assert "PROFILE_NOT_FOUND" in result.output
    assert "Usage" in runner.invoke(bench_group, []).output


def test_rss_series_is_spread_evenly_over_the_window() -> None:
    ticks = [_tick(float(t), {"peer0": float(t)}, float(t), rss=t * 2**20) for t in range(101)]
    figures, _ = node_figures(ticks, 0.0, 100.0, 10, {"peer0": "peer"})
    series = figures[0].rss_series_mb
    assert len(series) == 21
    assert series[0] == 0.0
    assert series[-1] == 100.0
    assert series[1] == 5.0


def test_key_pool_reuses_a_key_only_when_idle_long_enough() -> None:
    from client.bench.workloads import KeyPool

    pool = KeyPool("rmw.r.0", min_idle_s=1.0)
    a, b = pool.take(0.0), pool.take(0.0)
    assert (a, b) == ("rmw.r.0.0", "rmw.r.0.1")
    pool.give(a, 0.5)
    assert pool.take(1.0) == "rmw.r.0.2"  # a finished only 0.5 s ago: a new key
    assert pool.take(1.5) == a  # now a is idle long enough
    assert pool.size == 3
