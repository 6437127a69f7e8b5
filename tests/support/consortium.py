"""A small consortium made in memory for tests: real CAs, real certificates,
real keys, and a channel config over them. Not for production use: the real
material comes from `scf crypto generate`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from common import crypto
from common.msp import CertificateAuthority, SigningIdentity
from protos.scf import config_pb2

NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=3650)


@dataclass
class TestOrg:
    mspid: str
    kind: str
    ca: CertificateAuthority
    members: dict[str, SigningIdentity] = field(default_factory=dict)

    def member(
        self, name: str, role: str, attributes: Mapping[str, str] | None = None
    ) -> SigningIdentity:
        """A signing identity with NodeOU `role` (client, peer, orderer, admin)."""
        key = crypto.generate_private_key()
        cert = self.ca.issue(
            key.public_key(),
            common_name=f"{name}.{self.mspid}",
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
            organizational_units=[role],
            attributes=attributes,
        )
        identity = SigningIdentity.from_certificate(self.mspid, cert, key)
        self.members[name] = identity
        return identity

    def ca_pem(self) -> bytes:
        return crypto.certificate_to_pem(self.ca.certificate)


def make_org(mspid: str, kind: str) -> TestOrg:
    ca = CertificateAuthority.create_root(
        common_name=f"ca.{mspid}", not_before=NOT_BEFORE, not_after=NOT_AFTER
    )
    return TestOrg(mspid, kind, ca)


def org_proto(org: TestOrg, *, writer: bool = True) -> config_pb2.Organization:
    policies = {
        "Readers": f"OR('{org.mspid}.member')",
        "Admins": f"OR('{org.mspid}.admin')",
    }
    if writer:
        policies["Writers"] = f"OR('{org.mspid}.member')"
    return config_pb2.Organization(
        mspid=org.mspid,
        name=org.mspid.removesuffix("MSP").lower(),
        kind=org.kind,
        root_certs=[org.ca_pem()],
        node_ous_enabled=True,
        policies=policies,
    )


def channel_config(
    channel_id: str,
    application: Iterable[TestOrg],
    orderer_org: TestOrg,
    consenters: Iterable[SigningIdentity],
    *,
    chaincodes: Mapping[str, str] | None = None,
    read_only: Iterable[str] = (),
) -> config_pb2.ChannelConfig:
    """A channel config; orgs named in `read_only` get no Writers policy."""
    read_only_set = set(read_only)
    config = config_pb2.ChannelConfig(
        channel_id=channel_id,
        sequence=0,
        application_orgs=[org_proto(o, writer=o.mspid not in read_only_set) for o in application],
        orderer_orgs=[org_proto(orderer_org)],
        batch_size=config_pb2.BatchSize(
            max_message_count=500, absolute_max_bytes=10 << 20, preferred_max_bytes=2 << 20
        ),
        batch_timeout_ms=100,
        raft=config_pb2.RaftOptions(
            tick_interval_ms=100,
            election_tick=10,
            heartbeat_tick=1,
            max_inflight_blocks=5,
            snapshot_interval_blocks=100,
        ),
        policies={
            "Readers": "ANY Readers",
            "Writers": "ANY Writers",
            "Admins": "MAJORITY Admins",
            "BlockValidation": "ANY Writers",
        },
        acls={"peer/Propose": "Writers", "event/Block": "Readers"},
        policy_parameters=json.dumps({"max_depth": 5}).encode(),
    )
    for number, identity in enumerate(consenters, start=1):
        config.consenters.append(
            config_pb2.Consenter(
                id=number,
                name=f"orderer{number - 1}",
                mspid=orderer_org.mspid,
                host="127.0.0.1",
                port=7050 + 10 * number,
                cluster_port=7051 + 10 * number,
                identity=identity.serialize(),
            )
        )
    for name, policy in (chaincodes or {}).items():
        config.chaincodes.append(
            config_pb2.ChaincodeDefinition(
                name=name, version="1.0", sequence=1, endorsement_policy=policy
            )
        )
    return config
