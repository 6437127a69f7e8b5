"""The py-spy raw-profile summary used for docs/performance.md."""

from __future__ import annotations

import pytest

from client.bench.pyspy import parse_collapsed, phase_of, short, summarize_profile

RAW = [
    "Thread 1 (idle);_serve (grpc/_server.py:1);Endorse (/w/peer/gateway/service.py:302);"
    "verify (/w/common/crypto.py:10) 30\n",
    "Thread 2;run (/w/peer/committer.py:5);validate (/w/peer/validator/validator.py:9);"
    "verify (/w/common/crypto.py:10) 50\n",
    "Thread 3;_serve (/v/grpc/_server.py:1) 20\n",
    "garbage line\n",
]


def test_parse_and_short_frames() -> None:
    profile = parse_collapsed(RAW)
    assert profile.total == 100
    assert short("verify (/w/common/crypto.py:10)") == "verify (common/crypto.py)"


def test_summary_self_inclusive_and_phases() -> None:
    summary = summarize_profile(parse_collapsed(RAW), top=3)
    assert summary["self"][0] == ["verify (common/crypto.py)", 80.0]
    assert ["verify (common/crypto.py)", 80.0] in summary["inclusive"]
    assert summary["phases"] == {
        "validation": 50.0,
        "gateway Endorse (incl. local endorsement)": 30.0,
        "grpc runtime (threads, queues)": 20.0,
    }
    assert sum(summary["phases"].values()) == pytest.approx(100.0)


def test_phase_of_unknown_is_other_and_waits_are_waiting() -> None:
    assert phase_of(["main (x.py:1)"]) == "other"
    assert phase_of(["Endorse (/w/peer/gateway/service.py:1)", "Condition.wait (t.py:3)"]) == (
        "waiting"
    )
