from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RaftMessageType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RAFT_MESSAGE_TYPE_UNSPECIFIED: _ClassVar[RaftMessageType]
    RAFT_APP: _ClassVar[RaftMessageType]
    RAFT_APP_RESP: _ClassVar[RaftMessageType]
    RAFT_VOTE: _ClassVar[RaftMessageType]
    RAFT_VOTE_RESP: _ClassVar[RaftMessageType]
    RAFT_PRE_VOTE: _ClassVar[RaftMessageType]
    RAFT_PRE_VOTE_RESP: _ClassVar[RaftMessageType]
    RAFT_HEARTBEAT: _ClassVar[RaftMessageType]
    RAFT_HEARTBEAT_RESP: _ClassVar[RaftMessageType]
    RAFT_SNAP: _ClassVar[RaftMessageType]

class RaftEntryType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RAFT_ENTRY_NORMAL: _ClassVar[RaftEntryType]
    RAFT_ENTRY_NOOP: _ClassVar[RaftEntryType]
RAFT_MESSAGE_TYPE_UNSPECIFIED: RaftMessageType
RAFT_APP: RaftMessageType
RAFT_APP_RESP: RaftMessageType
RAFT_VOTE: RaftMessageType
RAFT_VOTE_RESP: RaftMessageType
RAFT_PRE_VOTE: RaftMessageType
RAFT_PRE_VOTE_RESP: RaftMessageType
RAFT_HEARTBEAT: RaftMessageType
RAFT_HEARTBEAT_RESP: RaftMessageType
RAFT_SNAP: RaftMessageType
RAFT_ENTRY_NORMAL: RaftEntryType
RAFT_ENTRY_NOOP: RaftEntryType

class RaftEntry(_message.Message):
    __slots__ = ("term", "index", "type", "data")
    TERM_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    term: int
    index: int
    type: RaftEntryType
    data: bytes
    def __init__(self, term: _Optional[int] = ..., index: _Optional[int] = ..., type: _Optional[_Union[RaftEntryType, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class RaftSnapshot(_message.Message):
    __slots__ = ("index", "term", "data")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    index: int
    term: int
    data: bytes
    def __init__(self, index: _Optional[int] = ..., term: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class RaftMessage(_message.Message):
    __slots__ = ("type", "to", "from_node", "term", "log_term", "index", "entries", "commit", "reject", "reject_hint", "snapshot")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LOG_TERM_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    REJECT_HINT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    type: RaftMessageType
    to: int
    from_node: int
    term: int
    log_term: int
    index: int
    entries: _containers.RepeatedCompositeFieldContainer[RaftEntry]
    commit: int
    reject: bool
    reject_hint: int
    snapshot: RaftSnapshot
    def __init__(self, type: _Optional[_Union[RaftMessageType, str]] = ..., to: _Optional[int] = ..., from_node: _Optional[int] = ..., term: _Optional[int] = ..., log_term: _Optional[int] = ..., index: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[RaftEntry, _Mapping]]] = ..., commit: _Optional[int] = ..., reject: _Optional[bool] = ..., reject_hint: _Optional[int] = ..., snapshot: _Optional[_Union[RaftSnapshot, _Mapping]] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("channel", "messages")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    channel: str
    messages: _containers.RepeatedCompositeFieldContainer[RaftMessage]
    def __init__(self, channel: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[RaftMessage, _Mapping]]] = ...) -> None: ...

class StepResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("channel", "envelope", "sender")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    channel: str
    envelope: bytes
    sender: int
    def __init__(self, channel: _Optional[str] = ..., envelope: _Optional[bytes] = ..., sender: _Optional[int] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("status", "info")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    status: int
    info: str
    def __init__(self, status: _Optional[int] = ..., info: _Optional[str] = ...) -> None: ...

class SubmitBatchRequest(_message.Message):
    __slots__ = ("channel", "envelopes", "sender")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    channel: str
    envelopes: _containers.RepeatedScalarFieldContainer[bytes]
    sender: int
    def __init__(self, channel: _Optional[str] = ..., envelopes: _Optional[_Iterable[bytes]] = ..., sender: _Optional[int] = ...) -> None: ...

class SubmitBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SubmitResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[SubmitResponse, _Mapping]]] = ...) -> None: ...
