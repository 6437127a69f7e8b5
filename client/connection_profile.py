"""Writing `DIR/connection.yaml`: Fabric's common connection profile for a network,
in the format `client/profile.py` reads (its module docstring is the format's spec).

Every org of network.yaml appears under `organizations` with its mspid, its own peers
and every user's material (msp dir, enrollment cert and key, TLS client cert and
key). Client-only orgs (no peers) get `gatewayPeers`: the endorsing peers of the
other orgs sharing a channel with them, the core enterprise's first. Paths are
relative to DIR, so the folder can be moved whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from client.launcher import NetworkLayout, NodeRole, node_specs
from client.netconfig import NetworkConfig, OrgConfig, OrgKind

__all__ = ["gateway_peers", "profile_document", "write_connection_profile"]

_KIND_ORDER = {OrgKind.CORE: 0, OrgKind.BANK: 1, OrgKind.WAREHOUSE: 2}


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base)


def gateway_peers(config: NetworkConfig, org: OrgConfig) -> list[str]:
    """Peers a client-only org's users may connect through: endorsing peers of orgs that
    share a channel with `org`, core enterprise first, then bank, warehouse, others."""
    shared = {m for c in config.channels if org.mspid in c.orgs for m in c.orgs}
    candidates = [o for o in config.orgs if o.mspid in shared and o.peers and o is not org]
    candidates.sort(key=lambda o: _KIND_ORDER.get(o.kind, 9))
    return [o.fqdn(p.name) for o in candidates for p in o.peers if p.endorser]


def profile_document(config: NetworkConfig, layout: NetworkLayout, name: str) -> dict[str, Any]:
    """The profile as a dict (see the module docstring)."""
    base = layout.root
    crypto = layout.crypto
    orgs: dict[str, Any] = {}
    for org in config.orgs:
        users: dict[str, Any] = {}
        for user in org.users:
            udir = crypto / "orgs" / org.name / "users" / user.name
            users[user.name] = {
                "msp_dir": _rel(udir / "msp", base),
                "cert": _rel(udir / "msp" / "signcerts" / "cert.pem", base),
                "key": _rel(udir / "msp" / "keystore" / "priv_sk", base),
                "tls": {
                    "cert": _rel(udir / "tls" / "client.crt", base),
                    "key": _rel(udir / "tls" / "client.key", base),
                },
            }
        entry: dict[str, Any] = {
            "mspid": org.mspid,
            "peers": [org.fqdn(p.name) for p in org.peers],
        }
        if org.orderers:
            entry["orderers"] = [org.fqdn(o.name) for o in org.orderers]
        if not org.peers and org.kind is not OrgKind.ORDERER:
            entry["gatewayPeers"] = gateway_peers(config, org)
        entry["users"] = users
        orgs[org.name] = entry
    peers: dict[str, Any] = {}
    orderers: dict[str, Any] = {}
    for node in node_specs(config):
        org = config.org(node.org)
        tlsca = crypto / "orgs" / org.name / "tlsca" / "tlsca-cert.pem"
        endpoint = {
            "url": f"grpcs://{node.address}",
            "tlsCACerts": {"path": _rel(tlsca, base)},
            "grpcOptions": {"ssl-target-name-override": node.id, "hostnameOverride": node.id},
        }
        if node.role is NodeRole.ORDERER:
            orderers[node.id] = endpoint
        else:
            peers[node.id] = endpoint
    channels: dict[str, Any] = {}
    for channel in config.channels:
        members = [config.org_by_mspid(m) for m in channel.orgs]
        channels[channel.name] = {
            "orderers": [
                o.fqdn(n.name)
                for m in channel.orderer_orgs
                for o in [config.org_by_mspid(m)]
                for n in o.orderers
            ],
            "peers": {
                org.fqdn(p.name): {
                    "endorsingPeer": p.endorser,
                    "chaincodeQuery": p.endorser,
                    "ledgerQuery": True,
                    "eventSource": True,
                }
                for org in members
                for p in org.peers
            },
        }
    return {
        "name": name,
        "version": "1.0.0",
        "client": {"organization": _first_client_org(config)},
        "organizations": orgs,
        "orderers": orderers,
        "peers": peers,
        "channels": channels,
    }


def _first_client_org(config: NetworkConfig) -> str:
    for org in config.orgs:
        if org.kind is OrgKind.CORE:
            return org.name
    return next((o.name for o in config.orgs if o.peers), config.orgs[0].name)


def write_connection_profile(
    config: NetworkConfig, layout: NetworkLayout, *, name: str = "scf-network"
) -> Path:
    """Write (replace) `DIR/connection.yaml`; returns its path."""
    doc = profile_document(config, layout, name)
    path = layout.profile
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Fabric common connection profile, written by `scf network up`.\n"
        "# Paths are relative to this file's folder. Format: client/profile.py.\n"
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    os.replace(tmp, path)
    return path
