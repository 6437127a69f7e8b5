"""A generated default network folder (crypto, genesis, configs, profile), built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.launcher import NetworkLayout
from client.launcher_ops import prepare
from client.netconfig import NetworkConfig


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[NetworkLayout, NetworkConfig]:
    layout = NetworkLayout(tmp_path_factory.mktemp("net") / "net")
    config = prepare(layout, None)
    return layout, config


@pytest.fixture
def layout_dir(tmp_path: Path) -> NetworkLayout:
    return NetworkLayout(tmp_path / "net")
