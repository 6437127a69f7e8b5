"""PID files, telling our node from a stale PID, and stopping (SIGTERM, then SIGKILL).

Fake nodes are `python -c <script> -m orderer --config <path>`: their cmdline ends as
a real node's does, so the launcher takes them for the node; they run in a session
of their own, as the launcher starts nodes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.launcher import (
    NetworkLayout,
    NodeRole,
    NodeSpec,
    is_node_process,
    log_tail,
    port_in_use,
    process_alive,
    read_pid,
    running_pid,
    start_node,
    stop_nodes,
)
from client.launcher_probe import _not_ready, leaders, parse_metrics, probe

SLEEP = "import time\nwhile True: time.sleep(0.05)"
STUBBORN = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SLEEP


def _spec(name: str = "orderer0") -> NodeSpec:
    return NodeSpec(
        id=f"{name}.scf.example",
        name=name,
        org="orderer",
        mspid="OrdererMSP",
        role=NodeRole.ORDERER,
        host="127.0.0.1",
        port=1,
        operations_port=2,
        channels=("trade",),
        cluster_port=3,
    )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _fake_node(
    layout: NetworkLayout,
    node: NodeSpec,
    procs: list[subprocess.Popen[bytes]],
    script: str = SLEEP,
) -> int:
    layout.node_dir(node).mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", script, "-m", node.role.value]
    argv += ["--config", str(layout.config_path(node))]
    proc = subprocess.Popen(argv, start_new_session=True)
    procs.append(proc)
    layout.pid_path(node).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 5
    while not is_node_process(proc.pid, layout, node) and time.monotonic() < deadline:
        time.sleep(0.02)  # until the exec has happened
    return proc.pid


def test_read_pid_tolerates_missing_and_garbage(tmp_path: Path) -> None:
    layout, node = NetworkLayout(tmp_path), _spec()
    assert read_pid(layout, node) is None
    layout.node_dir(node).mkdir(parents=True)
    for text in ("", "abc", "-5", "0"):
        layout.pid_path(node).write_text(text)
        assert read_pid(layout, node) is None
    layout.pid_path(node).write_text("1234\n")
    assert read_pid(layout, node) == 1234


def test_running_pid_recognises_the_node(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    layout, node = NetworkLayout(tmp_path), _spec()
    pid = _fake_node(layout, node, procs)
    assert running_pid(layout, node) == pid
    # Same process, but the PID file of another node: not that node.
    other = _spec("orderer1")
    layout.node_dir(other).mkdir(parents=True)
    layout.pid_path(other).write_text(str(pid))
    assert running_pid(layout, other) is None


def test_stale_pid_of_an_unrelated_process_is_never_signalled(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    layout, node = NetworkLayout(tmp_path), _spec()
    layout.node_dir(node).mkdir(parents=True)
    unrelated = subprocess.Popen(
        [sys.executable, "-c", SLEEP], start_new_session=True
    )  # e.g. a PID reused after a reboot
    procs.append(unrelated)
    layout.pid_path(node).write_text(str(unrelated.pid))
    assert running_pid(layout, node) is None
    results = stop_nodes(layout, [node], timeout=1)
    assert results[0].pid is None
    assert results[0].signal == ""
    assert unrelated.poll() is None  # still alive
    assert not layout.pid_path(node).exists()  # the stale file is cleaned up


def test_stop_terms_then_kills(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    layout = NetworkLayout(tmp_path)
    polite, stubborn = _spec("orderer0"), _spec("orderer1")
    _fake_node(layout, polite, procs)
    _fake_node(layout, stubborn, procs, STUBBORN)
    time.sleep(0.3)  # let the stubborn one install its SIGTERM handler
    began = time.monotonic()
    results = stop_nodes(layout, [polite, stubborn], timeout=1.0)
    assert time.monotonic() - began < 8
    assert [r.signal for r in results] == ["SIGTERM", "SIGKILL"]
    for proc in procs:
        assert proc.wait(5) is not None
    assert running_pid(layout, polite) is None
    assert running_pid(layout, stubborn) is None


def test_zombie_counts_as_dead(procs: list[subprocess.Popen[bytes]]) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SLEEP], start_new_session=True)
    procs.append(proc)
    assert process_alive(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # not reaped yet: a zombie
    assert not process_alive(proc.pid)


def test_start_node_refuses_a_taken_port(tmp_path: Path) -> None:
    import socket

    from client.launcher import LauncherError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        node = NodeSpec(
            id="peer0.x",
            name="peer0",
            org="x",
            mspid="XMSP",
            role=NodeRole.PEER,
            host="127.0.0.1",
            port=port,
            operations_port=port,
            channels=(),
        )
        with pytest.raises(LauncherError, match="already in use"):
            start_node(NetworkLayout(tmp_path), node)
    assert not NetworkLayout(tmp_path).pid_path(node).exists()


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(log, 2) == "line 98\nline 99"
    assert log_tail(tmp_path / "missing.log") == ""


def test_parse_metrics_and_readiness(tmp_path: Path) -> None:
    text = (
        "# HELP orderer_block_height Blocks\n"
        'orderer_block_height{channel="trade"} 7.0\n'
        'orderer_is_leader{channel="trade"} 1.0\n'
        'orderer_raft_leader{channel="trade"} 2.0\n'
        'orderer_broadcast_rejections_total{channel="trade",reason="x"} 1.0\n'
    )
    metrics = parse_metrics(text)
    assert metrics["orderer_block_height"] == {"trade": 7.0}
    assert "orderer_broadcast_rejections_total" not in metrics
    stopped = probe(NetworkLayout(tmp_path), _spec())
    assert stopped.health == "STOPPED"
    assert stopped.pid is None
    assert _not_ready(stopped, {}) == "not running"
    assert leaders([stopped]) == {}
