"""A channel's configuration as domain values.

Built from the `scf.ChannelConfig` carried by the channel's config block (block 0
for now). Everything a node needs to decide who may do what on a channel comes
from here: member orgs and their MSPs, the consenters, batch and Raft options,
channel policies (Readers, Writers, Admins, BlockValidation), ACLs, chaincode
definitions with their endorsement policies, and the contracts' policy
parameters. Policy strings are parsed once, when the config is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NewType

from common.errors import ScfError
from common.policies import Policy, SignaturePolicy, parse_policy, parse_signature_policy
from protos.scf import config_pb2

MspId = NewType("MspId", str)

READERS = "Readers"
WRITERS = "Writers"
ADMINS = "Admins"
BLOCK_VALIDATION = "BlockValidation"


class ChannelConfigError(ScfError):
    code = "CHANNEL_CONFIG_INVALID"


@dataclass(frozen=True)
class PeerEndpoint:
    name: str
    host: str
    port: int
    endorser: bool

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Organization:
    """A member org: its MSP material, its own policies and its published peers."""

    mspid: MspId
    name: str
    kind: str
    root_certs: tuple[bytes, ...]
    intermediate_certs: tuple[bytes, ...]
    tls_root_certs: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    node_ous_enabled: bool
    policies: Mapping[str, SignaturePolicy]
    peers: tuple[PeerEndpoint, ...]


@dataclass(frozen=True)
class Consenter:
    id: int
    name: str
    mspid: MspId
    host: str
    port: int
    cluster_port: int
    identity: bytes
    client_tls_cert: bytes
    server_tls_cert: bytes

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def cluster_address(self) -> str:
        return f"{self.host}:{self.cluster_port}"


@dataclass(frozen=True)
class BatchOptions:
    max_message_count: int
    absolute_max_bytes: int
    preferred_max_bytes: int
    timeout_ms: int


@dataclass(frozen=True)
class RaftOptions:
    tick_interval_ms: int
    election_tick: int
    heartbeat_tick: int
    max_inflight_blocks: int
    snapshot_interval_blocks: int


@dataclass(frozen=True)
class ChaincodeDefinition:
    name: str
    version: str
    sequence: int
    endorsement_policy: Policy


@dataclass(frozen=True)
class ChannelConfig:
    """One channel's configuration (immutable; a config change makes a new one)."""

    channel_id: str
    sequence: int
    application_orgs: tuple[Organization, ...]
    orderer_orgs: tuple[Organization, ...]
    consenters: tuple[Consenter, ...]
    batch: BatchOptions
    raft: RaftOptions
    policies: Mapping[str, Policy]
    acls: Mapping[str, str]
    chaincodes: Mapping[str, ChaincodeDefinition]
    governance_approvers: tuple[MspId, ...]
    policy_parameters: bytes
    proto: config_pb2.ChannelConfig = field(repr=False, compare=False)

    @property
    def orgs(self) -> tuple[Organization, ...]:
        return self.application_orgs + self.orderer_orgs

    def org(self, mspid: str) -> Organization | None:
        for org in self.orgs:
            if org.mspid == mspid:
                return org
        return None

    def org_kinds(self) -> dict[str, str]:
        return {org.mspid: org.kind for org in self.application_orgs}

    def chaincode(self, name: str) -> ChaincodeDefinition | None:
        return self.chaincodes.get(name)

    def consenter(self, consenter_id: int) -> Consenter | None:
        for consenter in self.consenters:
            if consenter.id == consenter_id:
                return consenter
        return None

    def policy(self, name: str) -> Policy:
        try:
            return self.policies[name]
        except KeyError:
            raise ChannelConfigError(
                f"channel {self.channel_id} has no policy {name!r}", code="POLICY_NOT_FOUND"
            ) from None

    def org_sub_policies(self, name: str, *, orderer: bool = False) -> dict[str, SignaturePolicy]:
        """Each org's policy called `name` (orgs lacking it are simply absent):
        the sub-policies an implicit-meta rule such as `ANY Writers` ranges over."""
        orgs = self.orderer_orgs if orderer else self.application_orgs
        return {org.mspid: org.policies[name] for org in orgs if name in org.policies}

    def contract_config_values(self) -> dict[str, str]:
        """The values contracts read through `Stub.get_channel_config_value`."""
        return {
            "org_kinds": json.dumps(self.org_kinds(), sort_keys=True),
            "governance_approvers": json.dumps(list(self.governance_approvers)),
            "policy_parameters": self.policy_parameters.decode() or "{}",
        }

    def to_proto(self) -> config_pb2.ChannelConfig:
        return self.proto

    @classmethod
    def from_proto(cls, message: config_pb2.ChannelConfig) -> ChannelConfig:
        """Build the domain config; raises `ChannelConfigError` naming the bad part."""
        if not message.channel_id:
            raise ChannelConfigError("channel config has no channel_id")
        application = tuple(_org(o, message.channel_id) for o in message.application_orgs)
        orderer = tuple(_org(o, message.channel_id) for o in message.orderer_orgs)
        known = {org.mspid for org in application + orderer}
        if len(known) != len(application) + len(orderer):
            raise ChannelConfigError(f"channel {message.channel_id}: duplicate MSP ids")
        if not message.consenters:
            raise ChannelConfigError(f"channel {message.channel_id}: no consenters")
        consenters = tuple(_consenter(c) for c in message.consenters)
        if len({c.id for c in consenters}) != len(consenters):
            raise ChannelConfigError(f"channel {message.channel_id}: duplicate consenter ids")
        chaincodes = {
            cc.name: ChaincodeDefinition(
                cc.name,
                cc.version,
                cc.sequence,
                _parse(cc.endorsement_policy, known, f"chaincode {cc.name}"),
            )
            for cc in message.chaincodes
        }
        if message.policy_parameters:
            try:
                json.loads(message.policy_parameters)
            except ValueError:
                raise ChannelConfigError(
                    f"channel {message.channel_id}: policy_parameters is not JSON"
                ) from None
        for approver in message.governance_approvers:
            if approver not in known:
                raise ChannelConfigError(
                    f"channel {message.channel_id}: governance approver {approver} is not a member"
                )
        batch = message.batch_size
        raft = message.raft
        return cls(
            channel_id=message.channel_id,
            sequence=message.sequence,
            application_orgs=application,
            orderer_orgs=orderer,
            consenters=consenters,
            batch=BatchOptions(
                batch.max_message_count,
                batch.absolute_max_bytes,
                batch.preferred_max_bytes,
                message.batch_timeout_ms,
            ),
            raft=RaftOptions(
                raft.tick_interval_ms,
                raft.election_tick,
                raft.heartbeat_tick,
                raft.max_inflight_blocks,
                raft.snapshot_interval_blocks,
            ),
            policies={
                name: _parse(rule, known, f"channel policy {name}")
                for name, rule in message.policies.items()
            },
            acls=dict(message.acls),
            chaincodes=chaincodes,
            governance_approvers=tuple(MspId(m) for m in message.governance_approvers),
            policy_parameters=bytes(message.policy_parameters),
            proto=message,
        )


def _parse(rule: str, known: set[MspId], where: str) -> Policy:
    try:
        return parse_policy(rule, known_msps=frozenset(known))
    except ScfError as exc:
        raise ChannelConfigError(f"{where}: {exc}", code=exc.code) from None


def _parse_signature(rule: str, known: frozenset[MspId], where: str) -> SignaturePolicy:
    try:
        return parse_signature_policy(rule, known_msps=known)
    except ScfError as exc:
        raise ChannelConfigError(f"{where}: {exc}", code=exc.code) from None


def _org(message: config_pb2.Organization, channel_id: str) -> Organization:
    if not message.mspid:
        raise ChannelConfigError(f"channel {channel_id}: an organization has no mspid")
    if not message.root_certs:
        raise ChannelConfigError(f"channel {channel_id}: {message.mspid} has no root CA cert")
    own = frozenset({MspId(message.mspid)})
    return Organization(
        mspid=MspId(message.mspid),
        name=message.name,
        kind=message.kind,
        root_certs=tuple(message.root_certs),
        intermediate_certs=tuple(message.intermediate_certs),
        tls_root_certs=tuple(message.tls_root_certs),
        crls=tuple(message.crls),
        node_ous_enabled=message.node_ous_enabled,
        policies={
            name: _parse_signature(rule, own, f"{message.mspid} policy {name}")
            for name, rule in message.policies.items()
        },
        peers=tuple(PeerEndpoint(p.name, p.host, p.port, p.endorser) for p in message.peers),
    )


def _consenter(message: config_pb2.Consenter) -> Consenter:
    return Consenter(
        id=message.id,
        name=message.name,
        mspid=MspId(message.mspid),
        host=message.host,
        port=message.port,
        cluster_port=message.cluster_port,
        identity=message.identity,
        client_tls_cert=message.client_tls_cert,
        server_tls_cert=message.server_tls_cert,
    )
