"""The peer process's configuration file (YAML), as a frozen value.

```yaml
name: peer0.core
mspid: CoreMSP
msp_dir: crypto/orgs/core/peers/peer0/msp
tls:                                  # omit for plaintext (dev only)
  cert: .../tls/server.crt            # served to clients; also the client cert
  key: .../tls/server.key             #   this peer presents to orderers and peers
  root_cas: [.../orderer/tlsca.pem, .../bank/tlsca.pem]   # verify orderers and peers
  client_root_cas: [.../core/tlsca.pem, .../bank/tlsca.pem]
  client_auth_required: false         # Fabric's clientAuthRequired
listen_address: 127.0.0.1:8051       # Endorser, Deliver, Gateway (port 0: any free port)
operations_address: 127.0.0.1:9446   # optional: /healthz, /metrics
data_dir: data/peer0.core            # <data_dir>/ledgers/<channel>/
genesis_blocks: [channel-artifacts/trade.block]
endorser: true                        # false: commits, never endorses (regulator)
validation_workers: 2                 # signature/policy check threads per channel
deliver:                              # optional: the orderer block stream
  reconnect_backoff_max_s: 5.0
  stall_timeout_s: 60.0               # no block for this long → try another orderer
delivery_time_window_s: 900           # Deliver requests' timestamp skew (Fabric: 15 min)
```

Relative paths are resolved against the directory of the file. With
`client_auth_required`, the TLS handshake demands a client certificate chaining to
`client_root_cas` (and, when that list is empty, to the TLS CAs of the member orgs
of the joined channels, as Fabric does). The orderers' TLS CAs from the channel
config are always trusted for the deliver client, besides `root_cas`.

Regulator peers need no flag: on each channel whose config gives this peer's org the
kind `regulator`, the node keeps the indicator tables (`<data_dir>/regulator.db`) and
serves the `scf.Regulator` service on `listen_address` (see `peer.node`); such a peer
runs with `endorser: false`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import ScfError
from common.node_config import (
    TlsConfig,
    parse_tls,
    path_list,
    path_resolver,
    read_mapping,
    required,
)

__all__ = ["DeliverOptions", "PeerConfig", "PeerConfigError"]


class PeerConfigError(ScfError):
    code = "PEER_CONFIG_INVALID"


@dataclass(frozen=True)
class DeliverOptions:
    """How the deliver client treats the orderers (see `peer.deliver_client`)."""

    reconnect_backoff_min_s: float = 0.1
    reconnect_backoff_max_s: float = 5.0
    stall_timeout_s: float = 60.0


@dataclass(frozen=True)
class PeerConfig:
    name: str
    mspid: str
    msp_dir: Path
    listen_address: str
    data_dir: Path
    genesis_blocks: tuple[Path, ...]
    tls: TlsConfig | None = None
    operations_address: str | None = None
    endorser: bool = True
    validation_workers: int = 2
    deliver: DeliverOptions = field(default_factory=DeliverOptions)
    delivery_time_window_s: float = 900.0

    @classmethod
    def load(cls, path: str | Path) -> PeerConfig:
        """Read and check a config file; raises `PeerConfigError` naming the problem."""
        file = Path(path)
        raw = read_mapping(file, PeerConfigError, "peer config")
        try:
            return cls.from_dict(raw, file.parent)
        except PeerConfigError as exc:
            raise PeerConfigError(f"{file}: {exc.message}") from None

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base: Path) -> PeerConfig:
        """Build from a parsed document; relative paths are taken from `base`."""
        known = {
            "name",
            "mspid",
            "msp_dir",
            "tls",
            "listen_address",
            "operations_address",
            "data_dir",
            "genesis_blocks",
            "endorser",
            "validation_workers",
            "deliver",
            "delivery_time_window_s",
        }
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PeerConfigError(f"peer config: unknown key(s) {', '.join(unknown)}")

        def need(key: str) -> Any:
            return required(raw, key, PeerConfigError, "peer config")

        path = path_resolver(base)
        tls = parse_tls(raw.get("tls"), base, PeerConfigError, "peer config")
        genesis = path_list(
            raw.get("genesis_blocks"), "genesis_blocks", base, PeerConfigError, "peer config"
        )
        listen = str(need("listen_address"))
        _address(listen, "listen_address")
        operations = raw.get("operations_address") or None
        if operations is not None:
            _address(str(operations), "operations_address")
        workers = raw.get("validation_workers", 2)
        if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
            raise PeerConfigError(
                f"peer config: 'validation_workers' must be an integer in 1..64, got {workers!r}"
            )
        return cls(
            name=str(need("name")),
            mspid=str(need("mspid")),
            msp_dir=path(need("msp_dir")),
            listen_address=listen,
            data_dir=path(need("data_dir")),
            genesis_blocks=genesis,
            tls=tls,
            operations_address=str(operations) if operations is not None else None,
            endorser=_bool(raw.get("endorser", True), "endorser"),
            validation_workers=workers,
            deliver=_deliver(raw.get("deliver")),
            delivery_time_window_s=_seconds(
                raw.get("delivery_time_window_s", 900.0), "delivery_time_window_s"
            ),
        )


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise PeerConfigError(f"peer config: {key!r} must be true or false, got {value!r}")
    return value


def _seconds(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PeerConfigError(f"peer config: {key!r} must be a positive number, got {value!r}")
    return float(value)


def _address(value: str, key: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise PeerConfigError(f"peer config: {key!r} must be host:port, got {value!r}")


def _deliver(raw: Any) -> DeliverOptions:
    if raw is None:
        return DeliverOptions()
    if not isinstance(raw, dict):
        raise PeerConfigError("peer config: 'deliver' must be a mapping")
    defaults = DeliverOptions()
    unknown = sorted(
        set(raw) - {"reconnect_backoff_min_s", "reconnect_backoff_max_s", "stall_timeout_s"}
    )
    if unknown:
        raise PeerConfigError(f"peer config: unknown key(s) deliver.{', deliver.'.join(unknown)}")
    options = DeliverOptions(
        reconnect_backoff_min_s=_seconds(
            raw.get("reconnect_backoff_min_s", defaults.reconnect_backoff_min_s),
            "deliver.reconnect_backoff_min_s",
        ),
        reconnect_backoff_max_s=_seconds(
            raw.get("reconnect_backoff_max_s", defaults.reconnect_backoff_max_s),
            "deliver.reconnect_backoff_max_s",
        ),
        stall_timeout_s=_seconds(
            raw.get("stall_timeout_s", defaults.stall_timeout_s), "deliver.stall_timeout_s"
        ),
    )
    if options.reconnect_backoff_min_s > options.reconnect_backoff_max_s:
        raise PeerConfigError(
            "peer config: deliver.reconnect_backoff_min_s exceeds reconnect_backoff_max_s"
        )
    return options
