"""`scf network up|status|down` and `scf verify` against real node processes.

The default consortium on free ports: up, status, SDK traffic as two orgs, verify
clean; SIGKILL one orderer (the Raft leader) and one peer, traffic continues; `up`
restarts exactly those two, verify clean again; down. The `scf` CLI runs as its own
process, as a user runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from client.free_ports import free_ports
from client.netconfig import default_network_yaml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SCF = str(Path(sys.executable).with_name("scf"))


def write_network_yaml(path: Path) -> None:
    """The default consortium with every port replaced by a free one."""
    doc = yaml.safe_load(default_network_yaml())
    ports = iter(free_ports(40))
    for org in doc["orgs"]:
        for o in org.get("orderers") or []:
            o["port"], o["cluster_port"], o["operations_port"] = (
                next(ports),
                next(ports),
                next(ports),
            )
        for p in org.get("peers") or []:
            p["port"], p["operations_port"] = next(ports), next(ports)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def scf(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([SCF, *args], capture_output=True, text=True, timeout=180, check=False)
    if check:
        assert result.returncode == 0, (
            f"scf {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def scf_json(*args: str, check: bool = True) -> Any:
    return json.loads(scf(*args, "--json", check=check).stdout)


def _kill_leftovers(net: Path) -> None:
    for pid_file in (net / "nodes").glob("*/pid"):
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if str(pid_file.parent / "config.yaml").encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    config = tmp_path / "network.yaml"
    write_network_yaml(config)
    folder = tmp_path / "net"
    try:
        yield config, folder
    finally:
        if (folder / "network.yaml").exists():
            scf("network", "down", "--dir", str(folder), "--timeout", "5", check=False)
            _kill_leftovers(folder)


def _submit(profile: Path, org: str, key: str) -> None:
    from client.gateway import Gateway

    with Gateway.from_profile(profile, org=org, user="User1") as gateway:
        contract = gateway.network("trade").contract("bench")
        contract.submit("Put", json.dumps({"key": key, "value": org}))
        out = json.loads(contract.evaluate("Get", json.dumps({"key": key})))
        assert out["value"] == org


def _pid(folder: Path, node: str) -> int:
    return int((folder / "nodes" / node / "pid").read_text())


def test_network_lifecycle(net: tuple[Path, Path]) -> None:
    config, folder = net
    d = str(folder)
    began = time.monotonic()
    up = scf_json("network", "up", "--config", str(config), "--dir", d)
    print(f"scf network up (first, with crypto): {time.monotonic() - began:.1f} s")
    assert len(up["started"]) == 7
    assert up["already_running"] == []
    assert up["leaders"]["trade"].startswith("orderer")
    profile = Path(up["profile"])
    assert profile == folder.resolve() / "connection.yaml"
    for node in up["nodes"]:
        assert node["health"] == "OK"
        assert node["pid"] > 0
        assert Path(node["log"]).is_file()

    status = scf_json("network", "status", "--dir", d)
    assert status["healthy"]
    assert status["leaders"]["trade"]
    assert all(n["heights"].get("trade", 0) >= 1 for n in status["nodes"] if n["role"] == "peer")

    _submit(profile, "core", "k1")
    _submit(profile, "supplier1", "k2")  # a client-only org, through its gateway peer
    report = scf_json("verify", "--profile", str(profile))
    assert report["ok"], report
    assert {p["height"] for p in report["peers"]} == {3}

    # SIGKILL the Raft leader and a peer that no bench endorsement needs.
    leader = status["leaders"]["trade"]
    victims = [leader, "peer0.warehouse.scf.example"]
    for node in victims:
        os.kill(_pid(folder, node), signal.SIGKILL)
    time.sleep(0.5)
    down_status = scf_json("network", "status", "--dir", d, check=False)
    stopped = {n["node"] for n in down_status["nodes"] if not n["running"]}
    assert stopped == set(victims)
    assert scf("network", "status", "--dir", d, check=False).returncode == 1

    deadline = time.monotonic() + 30  # traffic continues once a new leader is elected
    while True:
        try:
            _submit(profile, "core", "k3")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)

    began = time.monotonic()
    again = scf_json("network", "up", "--dir", d)
    print(f"scf network up (restart of 2 nodes): {time.monotonic() - began:.1f} s")
    assert sorted(again["started"]) == sorted(victims)
    assert len(again["already_running"]) == 5

    deadline = time.monotonic() + 30
    while True:  # the restarted peer catches up from the orderers
        report = scf_json("verify", "--profile", str(profile), check=False)
        if report["ok"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert report["ok"], report
    assert {p["height"] for p in report["peers"]} == {4}

    human = scf("verify", "--profile", str(profile)).stdout
    assert "all agree" in human
    assert human.count(" OK ") == 4

    pids = [n["pid"] for n in scf_json("network", "status", "--dir", d)["nodes"]]
    result = scf_json("network", "down", "--dir", d)
    assert {n["signal"] for n in result["nodes"]} == {"SIGTERM"}
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}/cmdline").exists()
            or not Path(f"/proc/{pid}/cmdline").read_bytes()
        )
    assert (folder / "nodes" / victims[1] / "data").is_dir()  # data kept

    # Nothing running now: verify fails cleanly, without a traceback.
    failed = scf("verify", "--profile", str(profile), check=False)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr + failed.stdout
    assert "not reachable" in failed.stdout


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    missing = scf("network", "status", "--dir", str(tmp_path / "nope"), check=False)
    assert missing.returncode != 0
    assert "NETWORK_NOT_FOUND" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("orgs: 3\n")
    result = scf("network", "up", "--config", str(bad), "--dir", str(tmp_path / "n"), check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "NETWORK_CONFIG_INVALID" in result.stderr
    nofile = scf("verify", "--profile", str(tmp_path / "none.yaml"), check=False)
    assert nofile.returncode != 0
    assert "PROFILE_NOT_FOUND" in nofile.stderr
