"""Reading network.yaml: from a file, from YAML text, or the default consortium
shipped as package data (`client/default-network.yaml`)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import yaml

from client.netconfig.schema import NetworkConfig, NetworkConfigError
from client.netconfig.validate import parse_network_config

DEFAULT_NETWORK_RESOURCE = "default-network.yaml"


def _parse_yaml(text: str, source: str) -> NetworkConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise NetworkConfigError("", f"not valid YAML{where}: {problem}", source=source) from exc
    try:
        return parse_network_config(data)
    except NetworkConfigError as exc:
        raise NetworkConfigError(exc.path, exc.detail, source=source, code=exc.code) from None


def load_network_config(path: str | Path) -> NetworkConfig:
    """Read and validate a network.yaml file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NetworkConfigError(
            "", "no such network config file", source=str(p), code="NETWORK_CONFIG_NOT_FOUND"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise NetworkConfigError("", f"cannot read network config ({exc})", source=str(p)) from exc
    return _parse_yaml(text, str(p))


def default_network_yaml() -> str:
    """The text of the default network.yaml (for `scf` to write out as a template)."""
    resource = importlib.resources.files("client").joinpath(DEFAULT_NETWORK_RESOURCE)
    return resource.read_text("utf-8")


def default_network_config() -> NetworkConfig:
    """The default consortium shipped with scfchain (client/default-network.yaml)."""
    return _parse_yaml(default_network_yaml(), DEFAULT_NETWORK_RESOURCE)
