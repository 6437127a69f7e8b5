"""The network.yaml schema: frozen dataclasses, and the error every check raises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from common.errors import ScfError
from common.msp.identity import MspId


class NetworkConfigError(ScfError):
    """network.yaml is unusable. `path` is the offending field ('' for the whole file).

    Codes: `NETWORK_CONFIG_INVALID` (bad content), `NETWORK_CONFIG_NOT_FOUND`.
    """

    code = "NETWORK_CONFIG_INVALID"

    def __init__(
        self, path: str, detail: str, *, source: str = "", code: str | None = None
    ) -> None:
        where = ": ".join(part for part in (source, path) if part)
        super().__init__(f"{where}: {detail}" if where else detail, code=code)
        self.path = path
        self.detail = detail
        self.source = source


class OrgKind(StrEnum):
    """What part an organisation plays in the consortium (DESIGN §1)."""

    ORDERER = "orderer"
    CORE = "core"
    SUPPLIER = "supplier"
    BANK = "bank"
    WAREHOUSE = "warehouse"
    REGULATOR = "regulator"
    GOVFUND = "govfund"
    PLATFORM = "platform"
    ORACLE = "oracle"


class UserRole(StrEnum):
    """NodeOU role of a user certificate."""

    CLIENT = "client"
    ADMIN = "admin"


@dataclass(frozen=True)
class PeerConfig:
    """A peer: `port` serves gRPC (endorser, deliver, gateway); `operations_port` HTTP."""

    name: str
    host: str
    port: int
    operations_port: int
    endorser: bool = True


@dataclass(frozen=True)
class OrdererConfig:
    """An orderer: `port` for Broadcast/Deliver, `cluster_port` for Raft traffic."""

    name: str
    host: str
    port: int
    cluster_port: int
    operations_port: int


@dataclass(frozen=True)
class UserConfig:
    """A user enrolled at generation time; `attributes` go into its certificate."""

    name: str
    role: UserRole
    attributes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class OrgConfig:
    """An organisation. `name` is a folder-safe short name; `domain` qualifies node names
    (node FQDN = `<node>.<domain>`, used in TLS SANs). `tier` is a supplier's tier."""

    name: str
    mspid: MspId
    kind: OrgKind
    domain: str
    peers: tuple[PeerConfig, ...] = ()
    orderers: tuple[OrdererConfig, ...] = ()
    users: tuple[UserConfig, ...] = ()
    tier: int | None = None

    def fqdn(self, node: str) -> str:
        return f"{node}.{self.domain}"


@dataclass(frozen=True)
class BatchConfig:
    """Block cutting (Fabric's BatchSize/BatchTimeout). preferred <= absolute."""

    max_message_count: int = 500
    preferred_max_bytes: int = 2 * 1024 * 1024
    absolute_max_bytes: int = 10 * 1024 * 1024
    batch_timeout_ms: int = 100


@dataclass(frozen=True)
class RaftConfig:
    """Raft options (Fabric's etcdraft Options). election_ticks > heartbeat_ticks."""

    tick_ms: int = 100
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    snapshot_interval_blocks: int = 100


@dataclass(frozen=True)
class ChaincodeConfig:
    """A chaincode definition: name, version, endorsement policy in Fabric syntax."""

    name: str
    version: str
    endorsement_policy: str


@dataclass(frozen=True)
class GovernanceConfig:
    """Who must approve channel-parameter changes (policy-contract governance)."""

    approvers: tuple[MspId, ...]


@dataclass(frozen=True)
class ChannelConfig:
    """A channel: member (application) orgs and orderer orgs by mspid, and its options."""

    name: str
    orgs: tuple[MspId, ...]
    orderer_orgs: tuple[MspId, ...]
    batch: BatchConfig
    raft: RaftConfig
    chaincodes: tuple[ChaincodeConfig, ...]
    governance: GovernanceConfig


@dataclass(frozen=True)
class NetworkConfig:
    """The whole consortium. Orgs and channels keep the file's order."""

    orgs: tuple[OrgConfig, ...]
    channels: tuple[ChannelConfig, ...]

    def org(self, name: str) -> OrgConfig:
        """The org called `name`; KeyError if absent."""
        for org in self.orgs:
            if org.name == name:
                return org
        raise KeyError(name)

    def org_by_mspid(self, mspid: str) -> OrgConfig:
        """The org whose mspid is `mspid`; KeyError if absent."""
        for org in self.orgs:
            if org.mspid == mspid:
                return org
        raise KeyError(mspid)

    def channel(self, name: str) -> ChannelConfig:
        """The channel called `name`; KeyError if absent."""
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)

    @property
    def orderer_orgs(self) -> tuple[OrgConfig, ...]:
        return tuple(o for o in self.orgs if o.kind is OrgKind.ORDERER)

    @property
    def peer_orgs(self) -> tuple[OrgConfig, ...]:
        return tuple(o for o in self.orgs if o.peers)
