"""`network.yaml`: the consortium an operator runs — orgs, nodes, users, channels.

The schema is the frozen dataclasses below; `load_network_config(path)` parses YAML and
validates everything it can check without the network (types, ranges, unique names
and addresses, references between orgs and channels, endorsement-policy principals).
Every failure is a `NetworkConfigError` (code `NETWORK_CONFIG_INVALID`) naming the
field path, e.g. `channels[0].batch.max_message_count: must be >= 1, got 0`.

The default consortium ships as package data, `client/default-network.yaml`
(`default_network_config()`); its format is documented in docs/network-config.md.
Every address is configuration: nothing here assumes one host.
"""

from __future__ import annotations

from client.netconfig.load import (
    DEFAULT_NETWORK_RESOURCE,
    default_network_config,
    default_network_yaml,
    load_network_config,
)
from client.netconfig.schema import (
    BatchConfig,
    ChaincodeConfig,
    ChannelConfig,
    GovernanceConfig,
    NetworkConfig,
    NetworkConfigError,
    OrdererConfig,
    OrgConfig,
    OrgKind,
    PeerConfig,
    RaftConfig,
    UserConfig,
    UserRole,
)
from client.netconfig.validate import parse_network_config

__all__ = [
    "DEFAULT_NETWORK_RESOURCE",
    "BatchConfig",
    "ChaincodeConfig",
    "ChannelConfig",
    "GovernanceConfig",
    "NetworkConfig",
    "NetworkConfigError",
    "OrdererConfig",
    "OrgConfig",
    "OrgKind",
    "PeerConfig",
    "RaftConfig",
    "UserConfig",
    "UserRole",
    "default_network_config",
    "default_network_yaml",
    "load_network_config",
    "parse_network_config",
]
