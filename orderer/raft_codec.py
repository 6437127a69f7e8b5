"""Raft values ↔ their wire form (`scf.RaftMessage` in protos/scf/cluster.proto).

The Raft core speaks frozen dataclasses; protobuf appears only here, at the edge.
Contract: `message_from_proto(message_to_proto(m)) == m` for every valid message
(snapshot absent stays absent, an empty snapshot stays an empty snapshot). Decoding
checks what the types cannot: known message and entry types, and non-zero sender
and receiver ids; anything else raises `RaftCodecError` (the sender is broken or
hostile; the message must be dropped, never stepped into Raft).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from common.errors import ScfError
from orderer.raft import Entry, EntryType, Index, Message, MessageType, NodeId, Snapshot, Term
from protos.scf import cluster_pb2

__all__ = [
    "RaftCodecError",
    "entry_from_proto",
    "entry_to_proto",
    "message_from_proto",
    "message_to_proto",
    "messages_from_proto",
    "snapshot_from_proto",
    "snapshot_to_proto",
    "step_request",
]

_MESSAGE_TYPES = {int(t): t for t in MessageType}
_ENTRY_TYPES = {int(t): t for t in EntryType}


class RaftCodecError(ScfError):
    """A wire message does not decode to a valid Raft message."""

    code = "RAFT_MESSAGE_INVALID"


def entry_to_proto(entry: Entry) -> cluster_pb2.RaftEntry:
    return cluster_pb2.RaftEntry(
        term=entry.term,
        index=entry.index,
        type=int(entry.type),  # type: ignore[arg-type]  # IntEnum values are the wire values
        data=entry.data,
    )


def entry_from_proto(proto: cluster_pb2.RaftEntry) -> Entry:
    entry_type = _ENTRY_TYPES.get(proto.type)
    if entry_type is None:
        raise RaftCodecError(f"unknown entry type {proto.type} at index {proto.index}")
    return Entry(Term(proto.term), Index(proto.index), proto.data, entry_type)


def snapshot_to_proto(snapshot: Snapshot) -> cluster_pb2.RaftSnapshot:
    return cluster_pb2.RaftSnapshot(index=snapshot.index, term=snapshot.term, data=snapshot.data)


def snapshot_from_proto(proto: cluster_pb2.RaftSnapshot) -> Snapshot:
    return Snapshot(Index(proto.index), Term(proto.term), proto.data)


def message_to_proto(message: Message) -> cluster_pb2.RaftMessage:
    proto = cluster_pb2.RaftMessage(
        type=int(message.type),  # type: ignore[arg-type]
        to=message.to,
        from_node=message.from_,
        term=message.term,
        log_term=message.log_term,
        index=message.index,
        commit=message.commit,
        reject=message.reject,
        reject_hint=message.reject_hint,
    )
    if message.entries:
        proto.entries.extend(entry_to_proto(e) for e in message.entries)
    if message.snapshot is not None:
        proto.snapshot.CopyFrom(snapshot_to_proto(message.snapshot))
    return proto


def message_from_proto(proto: cluster_pb2.RaftMessage) -> Message:
    message_type = _MESSAGE_TYPES.get(proto.type)
    if message_type is None:
        raise RaftCodecError(f"unknown Raft message type {proto.type}")
    if proto.to == 0 or proto.from_node == 0:
        raise RaftCodecError(f"{message_type.name} without sender or receiver id")
    return Message(
        type=message_type,
        to=NodeId(proto.to),
        from_=NodeId(proto.from_node),
        term=Term(proto.term),
        log_term=Term(proto.log_term),
        index=Index(proto.index),
        entries=tuple(entry_from_proto(e) for e in proto.entries),
        commit=Index(proto.commit),
        reject=proto.reject,
        reject_hint=Index(proto.reject_hint),
        snapshot=snapshot_from_proto(proto.snapshot) if proto.HasField("snapshot") else None,
    )


def messages_from_proto(protos: Iterable[cluster_pb2.RaftMessage]) -> tuple[Message, ...]:
    """Decode a batch; one bad message rejects the whole batch."""
    return tuple(message_from_proto(p) for p in protos)


def step_request(channel: str, messages: Sequence[Message]) -> cluster_pb2.StepRequest:
    """One `StepRequest` carrying `messages` of `channel`, order kept."""
    return cluster_pb2.StepRequest(
        channel=channel, messages=[message_to_proto(m) for m in messages]
    )
