"""Channel genesis blocks from a `network.yaml` and its crypto material
(Fabric's configtxgen, built in).

For each channel: the member orgs with their CA, TLS CA and CRL from
`DIR/orgs/<org>/msp/`, each org's own policies (Readers and Admins always;
Writers for every org except the regulator, which reads and never writes), the
peers it publishes, the orderers as Raft consenters (identity from
`msp/signcerts`, TLS certificate from `tls/server.crt`), batch and Raft options,
chaincode definitions and the governance approvers.
"""

from __future__ import annotations

import json
from pathlib import Path

from client.cryptogen import node_dir, org_dir
from client.netconfig import ChannelConfig, NetworkConfig, OrgConfig, OrgKind
from common.config.genesis import genesis_block
from common.errors import ScfError
from common.msp import serialize_identity
from protos.common import common_pb2
from protos.scf import config_pb2

CHANNEL_POLICIES = {
    "Readers": "ANY Readers",
    "Writers": "ANY Writers",
    "Admins": "MAJORITY Admins",
    "BlockValidation": "ANY Writers",
}
"""Implicit-meta rules: Readers/Writers/Admins over the application orgs,
BlockValidation over the orderer orgs (who sign blocks)."""

ACLS = {
    "peer/Propose": "Writers",
    "peer/ChaincodeToChaincode": "Writers",
    "qscc/GetBlockByNumber": "Readers",
    "event/Block": "Readers",
    "event/FilteredBlock": "Readers",
    "gateway/Evaluate": "Readers",
    "gateway/Endorse": "Writers",
    "gateway/Submit": "Writers",
    "gateway/CommitStatus": "Readers",
    "gateway/ChaincodeEvents": "Readers",
}


class GenesisError(ScfError):
    code = "GENESIS_FAILED"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise GenesisError(
            f"cannot read {path}: {exc.strerror}; run `scf crypto generate` for this network first"
        ) from None


def _org_proto(crypto_dir: Path, org: OrgConfig) -> config_pb2.Organization:
    msp = org_dir(crypto_dir, org) / "msp"
    member = f"OR('{org.mspid}.member')"
    policies = {"Readers": member, "Admins": f"OR('{org.mspid}.admin')"}
    if org.kind is not OrgKind.REGULATOR:
        policies["Writers"] = member
    if org.peers:
        policies["Endorsement"] = f"OR('{org.mspid}.peer')"
    return config_pb2.Organization(
        mspid=org.mspid,
        name=org.name,
        kind=org.kind.value,
        root_certs=[_read(msp / "cacerts" / "ca-cert.pem")],
        tls_root_certs=[_read(msp / "tlscacerts" / "tlsca-cert.pem")],
        crls=[_read(msp / "crls" / "ca-crl.pem")],
        node_ous_enabled=True,
        policies=policies,
        peers=[
            config_pb2.PeerEndpoint(name=p.name, host=p.host, port=p.port, endorser=p.endorser)
            for p in org.peers
        ],
    )


def channel_config(
    network: NetworkConfig, channel: ChannelConfig, crypto_dir: Path
) -> config_pb2.ChannelConfig:
    """The `scf.ChannelConfig` of one channel of `network`."""
    orderer_orgs = [network.org_by_mspid(m) for m in channel.orderer_orgs]
    config = config_pb2.ChannelConfig(
        channel_id=channel.name,
        sequence=0,
        application_orgs=[_org_proto(crypto_dir, network.org_by_mspid(m)) for m in channel.orgs],
        orderer_orgs=[_org_proto(crypto_dir, org) for org in orderer_orgs],
        batch_size=config_pb2.BatchSize(
            max_message_count=channel.batch.max_message_count,
            absolute_max_bytes=channel.batch.absolute_max_bytes,
            preferred_max_bytes=channel.batch.preferred_max_bytes,
        ),
        batch_timeout_ms=channel.batch.batch_timeout_ms,
        raft=config_pb2.RaftOptions(
            tick_interval_ms=channel.raft.tick_ms,
            election_tick=channel.raft.election_ticks,
            heartbeat_tick=channel.raft.heartbeat_ticks,
            max_inflight_blocks=5,
            snapshot_interval_blocks=channel.raft.snapshot_interval_blocks,
        ),
        policies=CHANNEL_POLICIES,
        acls=ACLS,
        chaincodes=[
            config_pb2.ChaincodeDefinition(
                name=cc.name,
                version=cc.version,
                sequence=1,
                endorsement_policy=cc.endorsement_policy,
            )
            for cc in channel.chaincodes
        ],
        governance_approvers=list(channel.governance.approvers),
        policy_parameters=json.dumps({}, sort_keys=True).encode(),
    )
    consenter_id = 0
    for org in orderer_orgs:
        for orderer in org.orderers:
            consenter_id += 1
            folder = node_dir(crypto_dir, org, orderer.name)
            cert = _read(folder / "msp" / "signcerts" / "cert.pem")
            tls_cert = _read(folder / "tls" / "server.crt")
            config.consenters.append(
                config_pb2.Consenter(
                    id=consenter_id,
                    name=orderer.name,
                    mspid=org.mspid,
                    host=orderer.host,
                    port=orderer.port,
                    cluster_port=orderer.cluster_port,
                    identity=serialize_identity(org.mspid, cert),
                    client_tls_cert=tls_cert,
                    server_tls_cert=tls_cert,
                )
            )
    return config


def write_genesis_blocks(
    network: NetworkConfig, crypto_dir: Path, out_dir: Path, *, timestamp_seconds: int = 0
) -> dict[str, Path]:
    """Write `<out_dir>/<channel>.block` for every channel; returns channel → path.

    An existing block is kept: a channel's genesis block must never change once
    nodes have joined it.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for channel in network.channels:
        path = out_dir / f"{channel.name}.block"
        if not path.exists():
            block = genesis_block(
                channel_config(network, channel, crypto_dir), timestamp_seconds=timestamp_seconds
            )
            path.write_bytes(block.SerializeToString(deterministic=True))
        written[channel.name] = path
    return written


def read_block(path: Path) -> common_pb2.Block:
    return common_pb2.Block.FromString(_read(path))
