"""What the peer's and the orderer's YAML configuration files share: reading the
file as a mapping, resolving relative paths, and the `tls:` section.

```yaml
tls:                                  # omit for plaintext
  cert: .../tls/server.crt
  key: .../tls/server.key
  root_cas: [.../tls/ca.crt]          # verify the nodes this one connects to
  client_root_cas: [.../tls/ca.crt]   # client certs accepted
  client_auth_required: false
  public_client_root_cas: [...]       # orderer only: see `orderer.config`
```

Every check raises the caller's error type (`error`), its message prefixed with the
caller's name for the file (`what`, e.g. "peer config"), naming the key as
`tls.<key>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.errors import ScfError

__all__ = [
    "TlsConfig",
    "parse_tls",
    "path_list",
    "path_resolver",
    "read_mapping",
    "required",
]


@dataclass(frozen=True)
class TlsConfig:
    cert: Path
    key: Path
    root_cas: tuple[Path, ...] = ()
    client_root_cas: tuple[Path, ...] = ()
    client_auth_required: bool = False
    public_client_root_cas: tuple[Path, ...] = ()
    """Roots a client certificate must chain to on the orderer's public
    (Broadcast/Deliver) port when `client_auth_required`; empty means
    `client_root_cas`. Kept apart from the cluster port's roots so that member orgs'
    TLS CAs never widen who may reach it."""

    @property
    def public_roots(self) -> tuple[Path, ...]:
        return self.public_client_root_cas or self.client_root_cas


def read_mapping(file: Path, error: type[ScfError], what: str) -> dict[str, Any]:
    """The YAML document in `file`; `error` if it cannot be read or is not a mapping."""
    try:
        raw = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{file}: cannot read {what}: {exc}") from None
    if not isinstance(raw, dict):
        raise error(f"{file}: expected a mapping at the top level")
    return raw


def required(
    raw: dict[str, Any], key: str, error: type[ScfError], what: str, section: str = ""
) -> Any:
    """`raw[key]`; `error` naming `section + key` when it is missing, null or empty."""
    if key not in raw or raw[key] in (None, ""):
        raise error(f"{what}: {section + key!r} is required")
    return raw[key]


def path_resolver(base: Path) -> Callable[[Any], Path]:
    """A function turning a configured path into a `Path`, relative ones under `base`."""

    def path(value: Any) -> Path:
        p = Path(str(value))
        return p if p.is_absolute() else base / p

    return path


def path_list(
    value: Any, key: str, base: Path, error: type[ScfError], what: str
) -> tuple[Path, ...]:
    """A list of paths (none when `value` is None); `error` naming `key` otherwise."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise error(f"{what}: {key!r} must be a list of paths")
    path = path_resolver(base)
    return tuple(path(p) for p in value)


def parse_tls(raw: Any, base: Path, error: type[ScfError], what: str) -> TlsConfig | None:
    """The `tls:` section as given (no defaults between the root lists: each node
    type applies its own); None when absent or empty (plaintext)."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise error(f"{what}: 'tls' must be a mapping")
    path = path_resolver(base)

    def need(key: str) -> Path:
        return path(required(raw, key, error, what, "tls."))

    def paths(key: str) -> tuple[Path, ...]:
        return path_list(raw.get(key), f"tls.{key}", base, error, what)

    auth_required = raw.get("client_auth_required", False)
    if not isinstance(auth_required, bool):
        raise error(
            f"{what}: 'tls.client_auth_required' must be true or false, got {auth_required!r}"
        )
    return TlsConfig(
        cert=need("cert"),
        key=need("key"),
        root_cas=paths("root_cas"),
        client_root_cas=paths("client_root_cas"),
        client_auth_required=auth_required,
        public_client_root_cas=paths("public_client_root_cas"),
    )
