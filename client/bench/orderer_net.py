"""The network `scf bench orderer` builds: three orderers on free local ports and one
client org on channel `bench`, written out as a launcher folder (crypto material,
genesis block, node configs)."""

from __future__ import annotations

from pathlib import Path

from client.bench.errors import BenchError
from client.cryptogen import generate
from client.free_ports import free_ports
from client.genesis import write_genesis_blocks
from client.launcher import NetworkLayout, NodeRole, NodeSpec, node_specs
from client.netconfig import NetworkConfig, parse_network_config
from client.nodeconfig import write_node_configs

__all__ = ["CHANNEL", "bench_network", "prepare"]

CHANNEL = "bench"
CLIENT_ORG = "benchclient"
CLIENT_MSPID = "BenchClientMSP"
CLIENT_USER = "User1"


def bench_network(ports: list[int], batch_timeout_ms: int, max_message_count: int) -> NetworkConfig:
    """Three orderers (ports[0:9]: port, cluster port, operations port each) and one
    client org on channel `bench` with the given batch parameters."""
    if len(ports) < 9:
        raise BenchError("bench_network needs 9 ports")
    orderers = [
        {
            "name": f"orderer{i}",
            "host": "127.0.0.1",
            "port": ports[3 * i],
            "cluster_port": ports[3 * i + 1],
            "operations_port": ports[3 * i + 2],
        }
        for i in range(3)
    ]
    raw = {
        "orgs": [
            {
                "name": "orderer",
                "mspid": "OrdererMSP",
                "kind": "orderer",
                "domain": "orderer.bench.example",
                "orderers": orderers,
            },
            {
                "name": CLIENT_ORG,
                "mspid": CLIENT_MSPID,
                "kind": "core",
                "domain": "client.bench.example",
                "users": [{"name": CLIENT_USER, "role": "client"}],
            },
        ],
        "channels": [
            {
                "name": CHANNEL,
                "orgs": [CLIENT_MSPID],
                "orderer_orgs": ["OrdererMSP"],
                "batch": {
                    "max_message_count": max_message_count,
                    "batch_timeout_ms": batch_timeout_ms,
                },
                "raft": {"snapshot_interval_blocks": 100},
                "chaincodes": [],
                "governance": {"approvers": [CLIENT_MSPID]},
            }
        ],
    }
    return parse_network_config(raw)


def prepare(
    root: Path, batch_timeout_ms: int, max_message_count: int
) -> tuple[NetworkLayout, list[NodeSpec]]:
    """Write the network folder under `root`; its layout and the orderers' specs."""
    config = bench_network(free_ports(9), batch_timeout_ms, max_message_count)
    layout = NetworkLayout(root)
    generate(config, layout.crypto)
    write_genesis_blocks(config, layout.crypto, layout.genesis)
    specs = [s for s in node_specs(config) if s.role is NodeRole.ORDERER]
    write_node_configs(config, layout, tuple(specs))
    return layout, specs
