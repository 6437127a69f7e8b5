"""Which endorser and orderer clients the gateway batches through: the per-class
answer equals the runtime protocol check it replaces."""

from __future__ import annotations

from typing import Any

from peer.gateway.clients import CoalescingEndorserClient, GrpcBroadcastClient
from peer.gateway.support import (
    BatchBroadcastClient,
    BatchEndorserClient,
    batches_broadcasts,
    batches_endorsements,
)


class _OneByOne:
    def process_proposal(self, signed: Any, /, min_height: int = 0) -> Any:
        raise NotImplementedError

    def broadcast(self, envelope: Any, /) -> Any:
        raise NotImplementedError


def test_the_grpc_clients_batch_and_a_plain_client_does_not() -> None:
    endorser = object.__new__(CoalescingEndorserClient)
    broadcaster = object.__new__(GrpcBroadcastClient)
    plain = _OneByOne()
    assert batches_endorsements(endorser) is isinstance(endorser, BatchEndorserClient) is True
    assert batches_broadcasts(broadcaster) is isinstance(broadcaster, BatchBroadcastClient) is True
    assert batches_endorsements(plain) is isinstance(plain, BatchEndorserClient) is False
    assert batches_broadcasts(plain) is isinstance(plain, BatchBroadcastClient) is False
