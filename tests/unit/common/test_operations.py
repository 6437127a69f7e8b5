"""common.operations: /healthz and /metrics over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import select
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from common.grpclimits import HttpLimits
from common.operations import OperationsServer


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers["Content-Type"], err.read()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def server(registry: CollectorRegistry) -> Iterator[OperationsServer]:
    with OperationsServer(registry, host="127.0.0.1", port=0) as ops:
        yield ops


def test_healthz_ok_without_checks_and_with_passing_ones(server: OperationsServer) -> None:
    status, content_type, body = get(f"{server.url}/healthz")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["status"] == "OK"
    server.register_check("raft", lambda: None)
    assert get(f"{server.url}/healthz")[0] == 200


def test_healthz_lists_failing_checks(server: OperationsServer) -> None:
    def broken() -> str | None:
        raise RuntimeError("disk on fire")

    server.register_check("raft", lambda: None)
    server.register_check("ledger", lambda: "no leader for 30s")
    server.register_check("disk", broken)
    status, _, body = get(f"{server.url}/healthz")
    assert status == 503
    doc = json.loads(body)
    assert doc["status"] == "Service Unavailable"
    assert doc["failed_checks"] == [
        {"component": "ledger", "reason": "no leader for 30s"},
        {"component": "disk", "reason": "check raised RuntimeError: disk on fire"},
    ]
    server.unregister_check("ledger")
    server.unregister_check("disk")
    assert get(f"{server.url}/healthz")[0] == 200


def test_metrics_come_from_the_nodes_own_registry(
    server: OperationsServer, registry: CollectorRegistry
) -> None:
    blocks = Counter("orderer_blocks_cut", "Blocks cut", ["channel"], registry=registry)
    blocks.labels(channel="trade").inc(3)
    Gauge("raft_term", "Current term", registry=registry).set(7)
    status, content_type, body = get(f"{server.url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    text = body.decode()
    assert 'orderer_blocks_cut_total{channel="trade"} 3.0' in text
    assert "raft_term 7.0" in text
    # Not the process-global registry: its default collectors are absent.
    assert "python_info" not in text


def test_two_nodes_in_one_process_keep_their_metrics_apart() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Gauge("raft_leader", "Leader id", registry=first).set(1)
    Gauge("raft_leader", "Leader id", registry=second).set(2)
    with OperationsServer(first) as a, OperationsServer(second) as b:
        assert "raft_leader 1.0" in get(f"{a.url}/metrics")[2].decode()
        assert "raft_leader 2.0" in get(f"{b.url}/metrics")[2].decode()


def test_unknown_path_is_404(server: OperationsServer) -> None:
    assert get(f"{server.url}/nope")[0] == 404


def test_stop_releases_the_port(registry: CollectorRegistry) -> None:
    ops = OperationsServer(registry)
    ops.start()
    port = ops.port
    ops.stop()
    ops.stop()  # idempotent
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free again


def test_connections_beyond_the_limit_are_answered_503() -> None:
    limits = HttpLimits(max_connections=4, timeout_s=5.0)
    with OperationsServer(CollectorRegistry(), limits=limits) as server:
        socks = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(8)]
        try:
            refused = 0
            pending = list(socks)
            deadline = time.monotonic() + 10
            while pending and refused < 4 and time.monotonic() < deadline:
                ready, _, _ = select.select(pending, [], [], 0.5)
                for s in ready:
                    pending.remove(s)
                    if s.recv(64).startswith(b"HTTP/1.1 503"):
                        refused += 1
            assert refused == 4
        finally:
            for s in socks:
                s.close()
