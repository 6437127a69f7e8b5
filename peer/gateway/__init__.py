"""Fabric's Gateway service (`gateway.Gateway`): Evaluate, Endorse, Submit,
CommitStatus and ChaincodeEvents for thin clients that talk to one peer of their org.

The node provides a `GatewaySupport` and registers `GatewayServicer` on its server:

    servicer = GatewayServicer(support)
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)
"""

from peer.gateway.clients import (
    GrpcBroadcastClient,
    GrpcEndorserClient,
    endorsing_peers_from_config,
)
from peer.gateway.service import GatewayServicer
from peer.gateway.support import (
    BlockSource,
    BroadcastClient,
    CommitWaiter,
    EndorserClient,
    GatewaySupport,
    RemotePeer,
)

__all__ = [
    "BlockSource",
    "BroadcastClient",
    "CommitWaiter",
    "EndorserClient",
    "GatewayServicer",
    "GatewaySupport",
    "GrpcBroadcastClient",
    "GrpcEndorserClient",
    "RemotePeer",
    "endorsing_peers_from_config",
]
