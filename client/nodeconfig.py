"""Each node's own config file, written from network.yaml in the node's YAML format.

The formats are the ones `orderer/config.py` and `peer/config.py` document (read as
documents, not imported: the client never imports node code). Every path in a
written file is relative to the file's folder (`DIR/nodes/<node>/`), so a network
folder can be moved as a whole; the nodes resolve relative paths the same way.

TLS choices (DESIGN §9, mutual TLS):

* Orderers: server cert/key from `tls/server.*`; the cluster port verifies the other
  orderers against the orderer orgs' TLS CAs; the public Broadcast/Deliver port
  demands a client certificate from the TLS CA of an orderer org or of a member org
  of one of the orderer's channels (`public_client_root_cas`; Fabric's
  `ClientAuthRequired: true`), so a TLS client with no or a foreign certificate is
  refused at the handshake, as at the peers.
* Peers: server cert/key from `tls/server.*` (also presented to orderers as client
  cert); they trust the TLS CAs of the orderer orgs and of every member org of their
  channels; clients must present a certificate from one of those member orgs' TLS CAs
  (Fabric's `clientAuthRequired: true`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from client.launcher import NetworkLayout, NodeRole, NodeSpec
from client.netconfig import NetworkConfig, OrgConfig

__all__ = [
    "BROADCAST_ACK",
    "ORDERER_CLIENT_AUTH_REQUIRED",
    "PEER_CLIENT_AUTH_REQUIRED",
    "node_config",
    "tlsca_cert",
    "write_node_configs",
]

BROADCAST_ACK = "commit"
"""Orderers ack a Broadcast once its block is appended, so an envelope acknowledged
just before the leader is killed is never silently lost (a client waiting for its
commit would otherwise time out). Costs one batch of latency per submit."""

PEER_CLIENT_AUTH_REQUIRED = True
ORDERER_CLIENT_AUTH_REQUIRED = True


def tlsca_cert(layout: NetworkLayout, org: OrgConfig) -> Path:
    """The org's TLS CA certificate (what clients verify its nodes with)."""
    return layout.crypto / "orgs" / org.name / "tlsca" / "tlsca-cert.pem"


def _crypto_node_dir(layout: NetworkLayout, node: NodeSpec) -> Path:
    kind = "orderers" if node.role is NodeRole.ORDERER else "peers"
    return layout.crypto / "orgs" / node.org / kind / node.name


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base)


def _unique(paths: list[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


def node_config(config: NetworkConfig, layout: NetworkLayout, node: NodeSpec) -> dict[str, Any]:
    """The YAML document (as a dict) for `node`, paths relative to its config folder."""
    base = layout.node_dir(node)
    own = _crypto_node_dir(layout, node)
    channels = [config.channel(name) for name in node.channels]
    orderer_cas = _unique(
        [tlsca_cert(layout, config.org_by_mspid(m)) for c in channels for m in c.orderer_orgs]
    )
    member_cas = _unique(
        [tlsca_cert(layout, config.org_by_mspid(m)) for c in channels for m in c.orgs]
    )
    genesis = [_rel(layout.genesis_block(c.name), base) for c in channels]
    doc: dict[str, Any] = {
        "name": node.id,
        "mspid": node.mspid,
        "msp_dir": _rel(own / "msp", base),
    }
    if node.role is NodeRole.ORDERER:
        doc["tls"] = {
            "cert": _rel(own / "tls" / "server.crt", base),
            "key": _rel(own / "tls" / "server.key", base),
            "root_cas": [_rel(p, base) for p in orderer_cas],
            "client_root_cas": [_rel(p, base) for p in orderer_cas],
            "client_auth_required": ORDERER_CLIENT_AUTH_REQUIRED,
            "public_client_root_cas": [_rel(p, base) for p in _unique(orderer_cas + member_cas)],
        }
        doc["listen_address"] = node.address
        doc["cluster_listen_address"] = f"{node.host}:{node.cluster_port}"
        doc["operations_address"] = f"{node.host}:{node.operations_port}"
        doc["data_dir"] = "data"
        doc["broadcast_ack"] = BROADCAST_ACK
        doc["genesis_blocks"] = genesis
        return doc
    doc["tls"] = {
        "cert": _rel(own / "tls" / "server.crt", base),
        "key": _rel(own / "tls" / "server.key", base),
        "root_cas": [_rel(p, base) for p in _unique(orderer_cas + member_cas)],
        "client_root_cas": [_rel(p, base) for p in member_cas],
        "client_auth_required": PEER_CLIENT_AUTH_REQUIRED,
    }
    doc["listen_address"] = node.address
    doc["operations_address"] = f"{node.host}:{node.operations_port}"
    doc["data_dir"] = "data"
    doc["genesis_blocks"] = genesis
    doc["endorser"] = node.endorser
    return doc


def write_node_configs(
    config: NetworkConfig, layout: NetworkLayout, nodes: tuple[NodeSpec, ...]
) -> list[Path]:
    """Write `DIR/nodes/<node>/config.yaml` for every node (always rewritten: the file
    is derived from network.yaml, the node's data is not touched). Returns the paths."""
    written = []
    for node in nodes:
        path = layout.config_path(node)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"# {node.role.value} {node.id}: written by `scf network up` from network.yaml\n"
        text = header + yaml.safe_dump(node_config(config, layout, node), sort_keys=False)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        written.append(path)
    return written
