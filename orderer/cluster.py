"""The seam between an orderer's per-channel Raft drivers and the cluster network.

The driver owns consensus and talks to the other consenters only through a
`ClusterTransport`; the transport calls back into a `ClusterHandler` for what
arrives. Both sides name consenters by their Raft id from the channel config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from orderer.raft import Message, NodeId


@dataclass(frozen=True)
class ForwardResult:
    """The leader's answer to a forwarded envelope: a `common.Status` value and info."""

    status: int
    info: str = ""


class ClusterTransport(Protocol):
    def send(self, channel: str, messages: Sequence[Message]) -> None:
        """Queue Raft messages for their `to` consenters; never blocks on the network.
        Undeliverable messages are dropped (Raft retries) and the driver is told
        through `ClusterHandler.on_unreachable`."""
        ...

    def forward(
        self, channel: str, leader: NodeId, envelope: bytes, timeout_s: float
    ) -> ForwardResult:
        """Hand a client's envelope to the leader (a follower's Broadcast path)."""
        ...


class ClusterHandler(Protocol):
    def on_raft_messages(self, channel: str, sender: NodeId, messages: Sequence[Message]) -> None:
        """Raft messages from an authenticated consenter of `channel`."""
        ...

    def on_forwarded_envelope(self, channel: str, sender: NodeId, envelope: bytes) -> ForwardResult:
        """An envelope a follower forwarded to this (leader) node."""
        ...

    def on_unreachable(self, channel: str, consenter: NodeId) -> None: ...
