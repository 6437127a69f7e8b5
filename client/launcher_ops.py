"""`scf network up|down|status` as library calls (the CLI only renders their results).

* `network_up`: prepare the folder (crypto material and genesis blocks when missing,
  node configs and the connection profile always), start every node not already
  running, wait until the network is ready (`launcher_probe.wait_ready`).
* `network_down`: stop every running node (SIGTERM, then SIGKILL after a timeout);
  `purge` then deletes what `up` created in the folder.
* `network_status`: probe every node.

A folder remembers the network it was made from (`DIR/network.yaml`): `down` and
`status` read it, and `up` refuses a different config for an existing folder (its
genesis blocks pin the orderers' addresses and certificates).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from client.connection_profile import write_connection_profile
from client.cryptogen import generate
from client.genesis import write_genesis_blocks
from client.launcher import (
    LauncherError,
    NetworkLayout,
    NodeSpec,
    StopResult,
    node_specs,
    running_pid,
    start_node,
    stop_nodes,
)
from client.launcher_probe import NodeStatus, probe_all, wait_ready
from client.netconfig import (
    NetworkConfig,
    NetworkConfigError,
    default_network_yaml,
    load_network_config,
    parse_network_config,
)
from client.nodeconfig import write_node_configs

__all__ = [
    "UpResult",
    "load_folder_config",
    "network_down",
    "network_status",
    "network_up",
    "prepare",
]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class UpResult:
    """What `network_up` did: nodes started now vs. found running, and their status."""

    layout: NetworkLayout
    config: NetworkConfig
    started: tuple[str, ...]
    already_running: tuple[str, ...]
    statuses: tuple[NodeStatus, ...]


def _read_config_text(config_path: Path | None) -> tuple[str, NetworkConfig]:
    if config_path is None:
        text = default_network_yaml()
        return text, parse_network_config(yaml.safe_load(text))
    config = load_network_config(config_path)
    return config_path.read_text(encoding="utf-8"), config


def load_folder_config(layout: NetworkLayout) -> NetworkConfig:
    """The network a folder was made from; `NETWORK_NOT_FOUND` if there is none."""
    if not layout.network_yaml.exists():
        raise LauncherError(
            f"no network in {layout.root} (no {layout.network_yaml.name}); "
            "start one with 'scf network up' or pass --dir",
            code="NETWORK_NOT_FOUND",
        )
    return load_network_config(layout.network_yaml)


def prepare(
    layout: NetworkLayout, config_path: Path | None, progress: Progress | None = None
) -> NetworkConfig:
    """Make the folder ready to run: network.yaml, crypto, genesis, node configs, profile.

    Existing crypto material and genesis blocks are kept. Raises `LauncherError`
    (`NETWORK_CONFIG_MISMATCH`) if the folder was made from a different network config.
    """
    say = progress or (lambda _msg: None)
    text, config = _read_config_text(config_path)
    if layout.network_yaml.exists():
        try:
            stored = load_network_config(layout.network_yaml)
        except NetworkConfigError as exc:
            raise LauncherError(
                f"{layout.network_yaml} is damaged ({exc}); 'scf network down --purge' "
                "to start over",
                code="NETWORK_DIR_INVALID",
            ) from None
        if config_path is None:
            config = stored  # `up` with no --config reuses the folder's network
        elif stored != config:
            raise LauncherError(
                f"{layout.root} holds a network made from a different config; stop it "
                "with 'scf network down --purge' first, or use another --dir",
                code="NETWORK_CONFIG_MISMATCH",
            )
    else:
        layout.root.mkdir(parents=True, exist_ok=True)
        layout.network_yaml.write_text(text, encoding="utf-8")
    say("crypto material")
    generate(config, layout.crypto)
    say("genesis blocks")
    write_genesis_blocks(config, layout.crypto, layout.genesis)
    specs = node_specs(config)
    write_node_configs(config, layout, specs)
    write_connection_profile(config, layout)
    return config


def network_up(
    layout: NetworkLayout,
    config_path: Path | None = None,
    *,
    timeout: float = 90.0,
    progress: Progress | None = None,
) -> UpResult:
    """Prepare the folder, start the nodes that are not running, wait until ready.

    On a start-up failure the nodes started by this call are stopped again (nodes that
    were already running are left alone) and the `LauncherError` is re-raised.
    """
    say = progress or (lambda _msg: None)
    config = prepare(layout, config_path, say)
    specs = node_specs(config)
    started: list[NodeSpec] = []
    running: list[str] = []
    try:
        for node in specs:
            if running_pid(layout, node) is not None:
                running.append(node.id)
                continue
            say(f"starting {node.id}")
            start_node(layout, node)
            started.append(node)
        statuses = wait_ready(
            layout,
            specs,
            timeout=timeout,
            on_progress=lambda ready, total, what: say(
                f"waiting for nodes: {ready}/{total} ready ({what})"
            ),
        )
    except BaseException:
        stop_nodes(layout, started, timeout=5.0)
        raise
    return UpResult(
        layout,
        config,
        tuple(n.id for n in started),
        tuple(running),
        tuple(statuses),
    )


def network_down(
    layout: NetworkLayout,
    *,
    purge: bool = False,
    timeout: float = 10.0,
    progress: Progress | None = None,
) -> list[StopResult]:
    """Stop every node of the folder's network; with `purge`, delete the folder's
    contents that `up` created (other files are left, and the folder if not empty)."""
    say = progress or (lambda _msg: None)
    config = load_folder_config(layout)
    results = stop_nodes(
        layout,
        node_specs(config),
        timeout=timeout,
        on_wait=lambda n: say(f"stopping: {n} node(s) still running"),
    )
    if purge:
        for folder in (layout.nodes, layout.logs, layout.genesis, layout.crypto):
            shutil.rmtree(folder, ignore_errors=True)
        for file in (layout.profile, layout.network_yaml):
            file.unlink(missing_ok=True)
        # Left in place when not empty: someone else's files live there too.
        with contextlib.suppress(OSError):
            layout.root.rmdir()
    return results


def network_status(layout: NetworkLayout) -> tuple[NetworkConfig, list[NodeStatus]]:
    """Probe every node of the folder's network."""
    config = load_folder_config(layout)
    return config, probe_all(layout, node_specs(config))
