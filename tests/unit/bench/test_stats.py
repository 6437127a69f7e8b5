"""The benchmark's own accounting: percentiles, latency matching, /proc parsing."""

from __future__ import annotations

import os

import pytest

from client.bench.stats import (
    LatencySummary,
    match_latencies,
    parse_machine_busy,
    parse_proc_stat,
    parse_proc_status_rss,
    percentile,
    read_proc_sample,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0.5) == 1.0


def test_percentile_of_few_samples_is_always_a_sample() -> None:
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0], 90) == 3.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="must be in"):
        percentile([1.0], 0)
    with pytest.raises(ValueError, match="must be in"):
        percentile([1.0], 101)


def test_summary_sorts_and_reports_milliseconds() -> None:
    summary = LatencySummary.of([0.3, 0.1, 0.2, 0.4])
    assert summary is not None
    assert (summary.count, summary.min, summary.max) == (4, 0.1, 0.4)
    assert summary.p50 == 0.2
    assert summary.p99 == 0.4
    assert summary.as_ms() == {"min": 100.0, "p50": 200.0, "p90": 400.0, "p99": 400.0, "max": 400.0}


def test_summary_of_nothing_is_none() -> None:
    assert LatencySummary.of([]) is None


def test_match_latencies_ignores_foreign_and_undelivered() -> None:
    sent = {b"a": 1.0, b"b": 2.0, b"c": 3.0}
    delivered = {b"a": 1.5, b"b": 2.25, b"z": 9.0}
    latencies, foreign = match_latencies(sent, delivered)
    assert sorted(latencies) == [0.25, 0.5]
    assert foreign == 1


def test_parse_proc_stat_handles_spaces_in_the_command_name() -> None:
    fields = ["S"] + ["0"] * 10 + ["250", "150"] + ["0"] * 30
    text = "1234 (python3 -m orderer) " + " ".join(fields)
    assert parse_proc_stat(text, 100) == 4.0


def test_parse_proc_status_rss() -> None:
    text = "Name:\tpython3\nVmPeak:\t  9000 kB\nVmRSS:\t  2048 kB\nRssAnon:\t  1500 kB\n"
    assert parse_proc_status_rss(text) == 2048 * 1024
    assert parse_proc_status_rss(text, "RssAnon") == 1500 * 1024
    assert parse_proc_status_rss("Name:\tkthread\n") == 0


def test_read_proc_sample_of_this_process() -> None:
    sample = read_proc_sample(os.getpid())
    assert sample is not None
    assert sample.cpu_s > 0
    assert sample.rss_bytes > sample.rss_anon_bytes > 0
    assert read_proc_sample(2**22 + 12345) is None


def test_parse_machine_busy_excludes_idle_and_iowait() -> None:
    text = "cpu  100 0 50 1000 30 0 10 0 0 0\ncpu0 50 0 25 500 15 0 5 0 0 0\n"
    assert parse_machine_busy(text, 100) == 1.6
