from protos.common import common_pb2 as _common_pb2
from protos.orderer import ab_pb2 as _ab_pb2
from protos.peer import chaincode_event_pb2 as _chaincode_event_pb2
from protos.peer import proposal_pb2 as _proposal_pb2
from protos.peer import proposal_response_pb2 as _proposal_response_pb2
from protos.peer import transaction_pb2 as _transaction_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EndorseRequest(_message.Message):
    __slots__ = ("transaction_id", "channel_id", "proposed_transaction", "endorsing_organizations")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    ENDORSING_ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    channel_id: str
    proposed_transaction: _proposal_pb2.SignedProposal
    endorsing_organizations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, transaction_id: _Optional[str] = ..., channel_id: _Optional[str] = ..., proposed_transaction: _Optional[_Union[_proposal_pb2.SignedProposal, _Mapping]] = ..., endorsing_organizations: _Optional[_Iterable[str]] = ...) -> None: ...

class EndorseResponse(_message.Message):
    __slots__ = ("prepared_transaction",)
    PREPARED_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    prepared_transaction: _common_pb2.Envelope
    def __init__(self, prepared_transaction: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("transaction_id", "channel_id", "prepared_transaction")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    PREPARED_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    channel_id: str
    prepared_transaction: _common_pb2.Envelope
    def __init__(self, transaction_id: _Optional[str] = ..., channel_id: _Optional[str] = ..., prepared_transaction: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignedCommitStatusRequest(_message.Message):
    __slots__ = ("request", "signature")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    request: bytes
    signature: bytes
    def __init__(self, request: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class CommitStatusRequest(_message.Message):
    __slots__ = ("transaction_id", "channel_id", "identity")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    channel_id: str
    identity: bytes
    def __init__(self, transaction_id: _Optional[str] = ..., channel_id: _Optional[str] = ..., identity: _Optional[bytes] = ...) -> None: ...

class CommitStatusResponse(_message.Message):
    __slots__ = ("result", "block_number")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    result: _transaction_pb2.TxValidationCode
    block_number: int
    def __init__(self, result: _Optional[_Union[_transaction_pb2.TxValidationCode, str]] = ..., block_number: _Optional[int] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("transaction_id", "channel_id", "proposed_transaction", "target_organizations")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    channel_id: str
    proposed_transaction: _proposal_pb2.SignedProposal
    target_organizations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, transaction_id: _Optional[str] = ..., channel_id: _Optional[str] = ..., proposed_transaction: _Optional[_Union[_proposal_pb2.SignedProposal, _Mapping]] = ..., target_organizations: _Optional[_Iterable[str]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _proposal_response_pb2.Response
    def __init__(self, result: _Optional[_Union[_proposal_response_pb2.Response, _Mapping]] = ...) -> None: ...

class SignedChaincodeEventsRequest(_message.Message):
    __slots__ = ("request", "signature")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    request: bytes
    signature: bytes
    def __init__(self, request: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ChaincodeEventsRequest(_message.Message):
    __slots__ = ("channel_id", "chaincode_id", "identity", "start_position", "after_transaction_id")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    CHAINCODE_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    START_POSITION_FIELD_NUMBER: _ClassVar[int]
    AFTER_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    chaincode_id: str
    identity: bytes
    start_position: _ab_pb2.SeekPosition
    after_transaction_id: str
    def __init__(self, channel_id: _Optional[str] = ..., chaincode_id: _Optional[str] = ..., identity: _Optional[bytes] = ..., start_position: _Optional[_Union[_ab_pb2.SeekPosition, _Mapping]] = ..., after_transaction_id: _Optional[str] = ...) -> None: ...

class ChaincodeEventsResponse(_message.Message):
    __slots__ = ("events", "block_number")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_chaincode_event_pb2.ChaincodeEvent]
    block_number: int
    def __init__(self, events: _Optional[_Iterable[_Union[_chaincode_event_pb2.ChaincodeEvent, _Mapping]]] = ..., block_number: _Optional[int] = ...) -> None: ...

class ErrorDetail(_message.Message):
    __slots__ = ("address", "msp_id", "message")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MSP_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    address: str
    msp_id: str
    message: str
    def __init__(self, address: _Optional[str] = ..., msp_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ProposedTransaction(_message.Message):
    __slots__ = ("transaction_id", "proposal", "endorsing_organizations")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    ENDORSING_ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    proposal: _proposal_pb2.SignedProposal
    endorsing_organizations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, transaction_id: _Optional[str] = ..., proposal: _Optional[_Union[_proposal_pb2.SignedProposal, _Mapping]] = ..., endorsing_organizations: _Optional[_Iterable[str]] = ...) -> None: ...

class PreparedTransaction(_message.Message):
    __slots__ = ("transaction_id", "envelope")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    envelope: _common_pb2.Envelope
    def __init__(self, transaction_id: _Optional[str] = ..., envelope: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ...) -> None: ...
