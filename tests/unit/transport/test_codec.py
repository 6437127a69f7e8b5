"""Raft dataclasses survive the trip through their protobuf wire form."""

from __future__ import annotations

import pytest

from orderer.raft import (
    EMPTY_SNAPSHOT,
    Entry,
    EntryType,
    Index,
    Message,
    MessageType,
    NodeId,
    Snapshot,
    Term,
)
from orderer.raft_codec import (
    RaftCodecError,
    message_from_proto,
    message_to_proto,
    messages_from_proto,
    step_request,
)
from protos.scf import cluster_pb2


def over_the_wire(message: Message) -> Message:
    data = message_to_proto(message).SerializeToString()
    return message_from_proto(cluster_pb2.RaftMessage.FromString(data))


@pytest.mark.parametrize("message_type", list(MessageType))
def test_every_message_type_round_trips(message_type: MessageType) -> None:
    message = Message(
        type=message_type,
        to=NodeId(2),
        from_=NodeId(1),
        term=Term(7),
        log_term=Term(6),
        index=Index(41),
        commit=Index(40),
        reject=True,
        reject_hint=Index(39),
    )
    assert over_the_wire(message) == message


def test_append_with_big_and_noop_entries_round_trips() -> None:
    big = bytes(range(256)) * (5 * 4096)  # 5 MiB
    entries = (
        Entry(Term(3), Index(10), b"", EntryType.NOOP),
        Entry(Term(3), Index(11), big),
        Entry(Term(3), Index(12), b"\x00block"),
    )
    message = Message(MessageType.APP, NodeId(3), NodeId(1), Term(3), Term(2), Index(9), entries)
    decoded = over_the_wire(message)
    assert decoded == message
    assert decoded.entries[1].data == big


def test_snapshot_presence_is_kept() -> None:
    with_snapshot = Message(
        MessageType.SNAP,
        NodeId(2),
        NodeId(1),
        Term(5),
        snapshot=Snapshot(Index(100), Term(4), b"height=100" * 1000),
    )
    empty_snapshot = Message(
        MessageType.SNAP, NodeId(2), NodeId(1), Term(5), snapshot=EMPTY_SNAPSHOT
    )
    none = Message(MessageType.HEARTBEAT, NodeId(2), NodeId(1), Term(5))
    assert over_the_wire(with_snapshot) == with_snapshot
    assert over_the_wire(empty_snapshot).snapshot == EMPTY_SNAPSHOT
    assert over_the_wire(none).snapshot is None


def test_step_request_keeps_batch_order() -> None:
    messages = [
        Message(MessageType.HEARTBEAT, NodeId(2), NodeId(1), Term(1), commit=Index(i))
        for i in range(50)
    ]
    request = cluster_pb2.StepRequest.FromString(
        step_request("trade", messages).SerializeToString()
    )
    assert request.channel == "trade"
    assert list(messages_from_proto(request.messages)) == messages


@pytest.mark.parametrize(
    ("proto", "why"),
    [
        (cluster_pb2.RaftMessage(type=42, to=1, from_node=2), "unknown Raft message type"),  # type: ignore[arg-type]
        (cluster_pb2.RaftMessage(type=0, to=1, from_node=2), "unknown Raft message type"),  # type: ignore[arg-type]
        (cluster_pb2.RaftMessage(type=1, to=1, from_node=0), "without sender"),  # type: ignore[arg-type]
        (cluster_pb2.RaftMessage(type=1, to=0, from_node=2), "without sender"),  # type: ignore[arg-type]
        (
            cluster_pb2.RaftMessage(
                type=1,  # type: ignore[arg-type]
                to=1,
                from_node=2,
                entries=[cluster_pb2.RaftEntry(type=9, index=3)],  # type: ignore[arg-type]
            ),
            "unknown entry type",
        ),
    ],
)
def test_invalid_wire_messages_are_rejected(proto: cluster_pb2.RaftMessage, why: str) -> None:
    with pytest.raises(RaftCodecError, match=why):
        message_from_proto(proto)


def test_one_bad_message_rejects_the_batch() -> None:
    good = message_to_proto(Message(MessageType.VOTE, NodeId(2), NodeId(1), Term(1)))
    bad = cluster_pb2.RaftMessage(type=3, to=2, from_node=0)  # type: ignore[arg-type]
    with pytest.raises(RaftCodecError):
        messages_from_proto([good, bad])
