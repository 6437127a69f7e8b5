"""The local network's processes: where each node lives on disk, starting and stopping
them as OS processes, and telling our live node from a stale PID file.

Layout of a network folder (DIR, `--dir`, default `.scf/net`)::

    DIR/network.yaml                 the network config the folder was made from
    DIR/connection.yaml              connection profile (client/connection_profile.py)
    DIR/crypto/orgs/<org>/...        crypto material (client/cryptogen.py)
    DIR/genesis/<channel>.block      genesis blocks (client/genesis.py)
    DIR/nodes/<node>/config.yaml     the node's own config (client/nodeconfig.py)
    DIR/nodes/<node>/data/           its ledger / WAL
    DIR/nodes/<node>/pid             PID of the running process (absent when stopped)
    DIR/logs/<node>.log              its stdout and stderr, appended across restarts

`<node>` is the node's FQDN (`peer0.core.scf.example`), unique across orgs.

Process contract: each node runs as `sys.executable -m orderer|peer --config
DIR/nodes/<node>/config.yaml` in a session (and process group) of its own, so it
outlives `scf` and can be signalled as a group. A PID file is trusted only when
`/proc/<pid>/cmdline` still shows that exact command; a PID reused by some other
process is never signalled (`running_pid` returns None and the node counts as stopped).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from client.netconfig import NetworkConfig
from common.errors import ScfError

__all__ = [
    "DEFAULT_NETWORK_DIR",
    "LauncherError",
    "NetworkLayout",
    "NodeRole",
    "NodeSpec",
    "node_specs",
    "port_in_use",
    "process_alive",
    "read_pid",
    "running_pid",
    "start_node",
    "stop_nodes",
]

DEFAULT_NETWORK_DIR = Path(".scf/net")
STOP_TIMEOUT_S = 10.0


class LauncherError(ScfError):
    """A node could not be started or stopped (`LAUNCH_FAILED`), or the network folder
    is unusable (`NETWORK_DIR_INVALID`), or the network is not running
    (`NETWORK_NOT_RUNNING`)."""

    code = "LAUNCH_FAILED"


class NodeRole(StrEnum):
    ORDERER = "orderer"
    PEER = "peer"


@dataclass(frozen=True)
class NodeSpec:
    """One node of the network as the launcher needs it (from network.yaml).

    `channels`: the channels it serves — for an orderer those whose `orderer_orgs`
    hold its org, for a peer those whose `orgs` hold its org.
    """

    id: str
    name: str
    org: str
    mspid: str
    role: NodeRole
    host: str
    port: int
    operations_port: int
    channels: tuple[str, ...]
    cluster_port: int | None = None
    endorser: bool = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def operations_url(self) -> str:
        return f"http://{self.host}:{self.operations_port}"


def node_specs(config: NetworkConfig) -> tuple[NodeSpec, ...]:
    """Every node of `config`: orderers first, then peers, each in file order."""
    orderers: list[NodeSpec] = []
    peers: list[NodeSpec] = []
    for org in config.orgs:
        for o in org.orderers:
            orderers.append(
                NodeSpec(
                    id=org.fqdn(o.name),
                    name=o.name,
                    org=org.name,
                    mspid=org.mspid,
                    role=NodeRole.ORDERER,
                    host=o.host,
                    port=o.port,
                    operations_port=o.operations_port,
                    channels=tuple(c.name for c in config.channels if org.mspid in c.orderer_orgs),
                    cluster_port=o.cluster_port,
                )
            )
        for p in org.peers:
            peers.append(
                NodeSpec(
                    id=org.fqdn(p.name),
                    name=p.name,
                    org=org.name,
                    mspid=org.mspid,
                    role=NodeRole.PEER,
                    host=p.host,
                    port=p.port,
                    operations_port=p.operations_port,
                    channels=tuple(c.name for c in config.channels if org.mspid in c.orgs),
                    endorser=p.endorser,
                )
            )
    return tuple(orderers + peers)


@dataclass(frozen=True)
class NetworkLayout:
    """Paths inside a network folder (see the module docstring). Pure: creates nothing."""

    root: Path

    @property
    def network_yaml(self) -> Path:
        return self.root / "network.yaml"

    @property
    def profile(self) -> Path:
        return self.root / "connection.yaml"

    @property
    def crypto(self) -> Path:
        return self.root / "crypto"

    @property
    def genesis(self) -> Path:
        return self.root / "genesis"

    @property
    def nodes(self) -> Path:
        return self.root / "nodes"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def genesis_block(self, channel: str) -> Path:
        return self.genesis / f"{channel}.block"

    def node_dir(self, node: NodeSpec) -> Path:
        return self.nodes / node.id

    def config_path(self, node: NodeSpec) -> Path:
        return self.node_dir(node) / "config.yaml"

    def data_dir(self, node: NodeSpec) -> Path:
        return self.node_dir(node) / "data"

    def pid_path(self, node: NodeSpec) -> Path:
        return self.node_dir(node) / "pid"

    def log_path(self, node: NodeSpec) -> Path:
        return self.logs / f"{node.id}.log"


# ------------------------------------------------------------------------ processes


def node_command(layout: NetworkLayout, node: NodeSpec) -> list[str]:
    """The exact argv a node runs with (also what a PID's cmdline must match)."""
    return [sys.executable, "-m", node.role.value, "--config", str(layout.config_path(node))]


def read_pid(layout: NetworkLayout, node: NodeSpec) -> int | None:
    """The PID recorded for `node`, or None (no file, or not a number)."""
    try:
        text = layout.pid_path(node).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def process_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a killed child not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself hold spaces.
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    return state not in ("Z", "X")


def is_node_process(pid: int, layout: NetworkLayout, node: NodeSpec) -> bool:
    """Does live process `pid` run `node`'s command (`-m <role> --config <its config>`)?

    The interpreter path is not compared (a venv may be reached through a symlink);
    the module and the absolute config path identify the node.
    """
    argv = _cmdline(pid)
    if not argv or not process_alive(pid):
        return False
    want = node_command(layout, node)[1:]
    return argv[-len(want) :] == want


def running_pid(layout: NetworkLayout, node: NodeSpec) -> int | None:
    """The PID of `node` if it is running now; None if stopped or the PID file is stale."""
    pid = read_pid(layout, node)
    if pid is None or not is_node_process(pid, layout, node):
        return None
    return pid


def port_in_use(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_node(layout: NetworkLayout, node: NodeSpec) -> int:
    """Start `node` in its own session, log appended to its log file; returns the PID.

    The caller ensures it is not already running. Raises `LauncherError` if one of its
    ports is already taken by another process (it would fail to bind) or the process
    cannot be spawned.
    """
    ports = [node.port, node.operations_port] + (
        [node.cluster_port] if node.cluster_port is not None else []
    )
    for port in ports:
        if port_in_use(node.host, port):
            raise LauncherError(
                f"{node.id}: {node.host}:{port} is already in use by another process; "
                "stop it or change the port in network.yaml"
            )
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.data_dir(node).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with layout.log_path(node).open("ab") as log:
        log.write(f"\n==== scf: starting {node.id} at {time.ctime()} ====\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                node_command(layout, node),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=layout.node_dir(node),
                env=env,
                start_new_session=True,  # own process group: survives scf, killed as a group
                close_fds=True,
            )
        except OSError as exc:
            raise LauncherError(f"{node.id}: cannot start: {exc}") from None
    tmp = layout.pid_path(node).with_suffix(".tmp")
    tmp.write_text(f"{proc.pid}\n")
    os.replace(tmp, layout.pid_path(node))
    # The Popen object is dropped on purpose: the node outlives this process. Python
    # would warn about a still-running child at exit, so mark it as handled.
    proc.returncode = 0
    return proc.pid


@dataclass(frozen=True)
class StopResult:
    """How one node was stopped: `signal` is "SIGTERM", "SIGKILL" or "" (was not running)."""

    node: str
    pid: int | None
    signal: str


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # pgid == pid: the node leads its own session
    except ProcessLookupError:
        pass
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_nodes(
    layout: NetworkLayout,
    nodes: Sequence[NodeSpec],
    *,
    timeout: float = STOP_TIMEOUT_S,
    on_wait: Callable[[int], None] | None = None,
) -> list[StopResult]:
    """SIGTERM every running node in `nodes`, SIGKILL those still alive after `timeout`
    seconds, and remove their PID files (stale ones too). Only processes that pass
    `is_node_process` are ever signalled. `on_wait(n)` reports how many are still up.
    """
    pids: dict[str, int] = {}
    for node in nodes:
        pid = running_pid(layout, node)
        if pid is not None:
            pids[node.id] = pid
            _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    alive = dict(pids)
    while alive and time.monotonic() < deadline:
        alive = {n: p for n, p in alive.items() if process_alive(p)}
        if on_wait is not None:
            on_wait(len(alive))
        if alive:
            time.sleep(0.1)
    killed = set()
    for node_id, pid in alive.items():
        _signal_group(pid, signal.SIGKILL)
        killed.add(node_id)
    kill_deadline = time.monotonic() + 5.0
    while any(process_alive(p) for p in alive.values()) and time.monotonic() < kill_deadline:
        time.sleep(0.05)
    results = []
    for node in nodes:
        layout.pid_path(node).unlink(missing_ok=True)
        pid = pids.get(node.id)
        sig = "" if pid is None else ("SIGKILL" if node.id in killed else "SIGTERM")
        results.append(StopResult(node.id, pid, sig))
    return results


def log_tail(path: Path, lines: int = 5) -> str:
    """The last `lines` lines of a log file ('' if unreadable), for error messages."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
