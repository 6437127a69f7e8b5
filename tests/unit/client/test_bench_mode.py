"""`scf bench`: the Python clients' SDK mode (batching by default, `--no-batching`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from client.bench.errors import BenchError
from client.bench.runner import BenchConfig
from client.bench.workloads import FixedLoad
from client.cli import bench


def test_python_clients_batch_by_default_and_say_so(tmp_path: Path) -> None:
    config = BenchConfig(tmp_path / "connection.yaml", "blind-write", FixedLoad(4))
    assert config.batching is True
    assert config.as_dict()["batching"] is True
    standard = BenchConfig(tmp_path / "c.yaml", "blind-write", FixedLoad(4), batching=False)
    assert standard.as_dict()["batching"] is False
    node = BenchConfig(tmp_path / "c.yaml", "blind-write", FixedLoad(4), client="node")
    assert node.as_dict()["batching"] is None  # not our SDK


@pytest.mark.parametrize(("flag", "batching"), [([], True), (["--no-batching"], False)])
def test_the_command_passes_the_mode_and_the_table_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flag: list[str], batching: bool
) -> None:
    seen: list[BenchConfig] = []

    def fake_run(config: BenchConfig, _progress: Any) -> Any:
        seen.append(config)
        raise BenchError("stop here")

    monkeypatch.setattr(bench, "run_bench", fake_run)
    profile = str(tmp_path / "connection.yaml")
    result = CliRunner().invoke(
        bench.bench_group, ["--profile", profile, "--workload", "blind-write", *flag]
    )
    assert result.exit_code == 1
    assert [c.batching for c in seen] == [batching]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(True, "(SDK batching mode)"), (False, "(SDK standard path)"), (None, "node clients, ")],
)
def test_the_table_names_the_sdk_mode(value: bool | None, shown: str) -> None:
    data: dict[str, Any] = {
        "machine_description": "test",
        "config": {
            "rate_control": {"kind": "fixed-load", "in_flight": 4},
            "duration_s": 1.0,
            "warmup_s": 0.0,
            "workload": "blind-write",
            "value_size": 100,
            "clients": 1,
            "client": "python" if value is not None else "node",
            "batching": value,
        },
        "clients": ["core@peer0"],
        "setup": {},
        "submitted": 0,
        "window_s": 1.0,
        "warmup_sent": 0,
        "succeeded": 0,
        "failed": {},
        "first_failure": None,
        "late_sends": 0,
        "throughput_tx_s": 0.0,
        "latency_ms": {},
        "phases_p50_ms": {},
        "nodes": [],
        "load_clients": [],
        "machine": {"load_avg_1m": 0, "machine_cpu_percent": 0, "cpus": 2, "other_cpu_percent": 0},
    }
    assert shown in bench.render_result(data).splitlines()[1]
