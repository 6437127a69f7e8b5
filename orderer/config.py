"""The orderer process's configuration file (YAML), as a frozen value.

```yaml
name: orderer0
mspid: OrdererMSP
msp_dir: crypto/orgs/orderer/orderers/orderer0/msp
tls:                                  # omit for plaintext (dev only: no cluster then)
  cert: .../tls/server.crt
  key: .../tls/server.key
  root_cas: [.../tls/ca.crt]          # verify the other orderers (cluster, block pull)
  client_root_cas: [.../tls/ca.crt]   # client certs accepted on the cluster port
  client_auth_required: false         # on the public (Broadcast/Deliver) port
  public_client_root_cas: [...]       # client certs accepted on the public port when
                                      # client_auth_required (default: client_root_cas)
listen_address: 127.0.0.1:7050
cluster_listen_address: 127.0.0.1:7051
operations_address: 127.0.0.1:8443    # optional
data_dir: data/orderer0
broadcast_ack: commit                 # default. SUCCESS once the envelope's block is
                                      # appended here (quorum-committed): an acknowledged
                                      # envelope survives any minority crash. `pending`
                                      # answers earlier (Fabric's behaviour: once in the
                                      # leader's batch) and may lose it with the leader.
genesis_blocks: [channel-artifacts/trade.block]
```

Relative paths are resolved against the directory of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from common.errors import ScfError
from common.node_config import TlsConfig, parse_tls, path_resolver, read_mapping, required


class OrdererConfigError(ScfError):
    code = "ORDERER_CONFIG_INVALID"


@dataclass(frozen=True)
class OrdererConfig:
    name: str
    mspid: str
    msp_dir: Path
    listen_address: str
    cluster_listen_address: str
    data_dir: Path
    genesis_blocks: tuple[Path, ...]
    tls: TlsConfig | None = None
    operations_address: str | None = None
    broadcast_ack: str = "commit"
    """`pending`: SUCCESS once the envelope is in the leader's pending batch (Fabric);
    `commit`: SUCCESS once its block is appended here (survives a leader crash)."""

    @classmethod
    def load(cls, path: str | Path) -> OrdererConfig:
        file = Path(path)
        raw = read_mapping(file, OrdererConfigError, "orderer config")
        return cls.from_dict(raw, file.parent)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base: Path) -> OrdererConfig:
        def need(key: str) -> Any:
            return required(raw, key, OrdererConfigError, "orderer config")

        path = path_resolver(base)
        tls = parse_tls(raw.get("tls"), base, OrdererConfigError, "orderer config")
        if tls is not None:  # each root list defaults to the other
            client_roots = tls.client_root_cas or tls.root_cas
            tls = replace(tls, root_cas=tls.root_cas or client_roots, client_root_cas=client_roots)
        genesis = raw.get("genesis_blocks") or []
        if not isinstance(genesis, list):
            raise OrdererConfigError("orderer config: 'genesis_blocks' must be a list")
        return cls(
            name=str(need("name")),
            mspid=str(need("mspid")),
            msp_dir=path(need("msp_dir")),
            listen_address=str(need("listen_address")),
            cluster_listen_address=str(need("cluster_listen_address")),
            data_dir=path(need("data_dir")),
            genesis_blocks=tuple(path(p) for p in genesis),
            tls=tls,
            operations_address=raw.get("operations_address") or None,
            broadcast_ack=_ack(raw.get("broadcast_ack", "commit")),
        )


def _ack(value: Any) -> str:
    if value not in ("pending", "commit"):
        raise OrdererConfigError(
            f"orderer config: broadcast_ack must be pending or commit, got {value!r}"
        )
    return str(value)
