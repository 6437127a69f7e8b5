"""Fabric's Gateway service (`gateway.Gateway`): Evaluate, Endorse, Submit,
CommitStatus and ChaincodeEvents for thin clients that talk to one peer of their org.

The node provides a `GatewaySupport` and registers `GatewayServicer` on its server:

    servicer = GatewayServicer(support)
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)

and, for our SDK, the batching extension `scf.GatewayBatch` over it:

    batch = GatewayBatchServicer(servicer)
    batch_pb2_grpc.add_GatewayBatchServicer_to_server(batch, server)
"""

from peer.gateway.batch import GatewayBatchServicer
from peer.gateway.clients import (
    CoalescingEndorserClient,
    GrpcBroadcastClient,
    GrpcEndorserClient,
    endorsing_peers_from_config,
)
from peer.gateway.service import GatewayServicer
from peer.gateway.support import (
    BatchBroadcastClient,
    BatchEndorserClient,
    BlockSource,
    BroadcastClient,
    CommitWaiter,
    EndorserClient,
    GatewaySupport,
    RemotePeer,
)

__all__ = [
    "BatchBroadcastClient",
    "BatchEndorserClient",
    "BlockSource",
    "BroadcastClient",
    "CoalescingEndorserClient",
    "CommitWaiter",
    "EndorserClient",
    "GatewayBatchServicer",
    "GatewayServicer",
    "GatewaySupport",
    "GrpcBroadcastClient",
    "GrpcEndorserClient",
    "RemotePeer",
    "endorsing_peers_from_config",
]
