from protos.common import common_pb2 as _common_pb2
from protos.gateway import gateway_pb2 as _gateway_pb2
from protos.orderer import ab_pb2 as _ab_pb2
from protos.peer import proposal_pb2 as _proposal_pb2
from protos.peer import proposal_response_pb2 as _proposal_response_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProposalBatch(_message.Message):
    __slots__ = ("proposals", "min_ledger_height")
    PROPOSALS_FIELD_NUMBER: _ClassVar[int]
    MIN_LEDGER_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    proposals: _containers.RepeatedCompositeFieldContainer[_proposal_pb2.SignedProposal]
    min_ledger_height: int
    def __init__(self, proposals: _Optional[_Iterable[_Union[_proposal_pb2.SignedProposal, _Mapping]]] = ..., min_ledger_height: _Optional[int] = ...) -> None: ...

class ProposalResponseBatch(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[_proposal_response_pb2.ProposalResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[_proposal_response_pb2.ProposalResponse, _Mapping]]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    details: _containers.RepeatedCompositeFieldContainer[_gateway_pb2.ErrorDetail]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., details: _Optional[_Iterable[_Union[_gateway_pb2.ErrorDetail, _Mapping]]] = ...) -> None: ...

class EndorseRequests(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[_gateway_pb2.EndorseRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[_gateway_pb2.EndorseRequest, _Mapping]]] = ...) -> None: ...

class EndorseOutcome(_message.Message):
    __slots__ = ("response", "error")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    response: _gateway_pb2.EndorseResponse
    error: ItemError
    def __init__(self, response: _Optional[_Union[_gateway_pb2.EndorseResponse, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class EndorseOutcomes(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[EndorseOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[EndorseOutcome, _Mapping]]] = ...) -> None: ...

class SubmitRequests(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[_gateway_pb2.SubmitRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[_gateway_pb2.SubmitRequest, _Mapping]]] = ...) -> None: ...

class SubmitOutcome(_message.Message):
    __slots__ = ("response", "error")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    response: _gateway_pb2.SubmitResponse
    error: ItemError
    def __init__(self, response: _Optional[_Union[_gateway_pb2.SubmitResponse, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class SubmitOutcomes(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[SubmitOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[SubmitOutcome, _Mapping]]] = ...) -> None: ...

class EnvelopeBatch(_message.Message):
    __slots__ = ("envelopes",)
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedCompositeFieldContainer[_common_pb2.Envelope]
    def __init__(self, envelopes: _Optional[_Iterable[_Union[_common_pb2.Envelope, _Mapping]]] = ...) -> None: ...

class BroadcastResponseBatch(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[_ab_pb2.BroadcastResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[_ab_pb2.BroadcastResponse, _Mapping]]] = ...) -> None: ...
