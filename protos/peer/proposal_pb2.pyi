from protos.peer import chaincode_pb2 as _chaincode_pb2
from protos.peer import proposal_response_pb2 as _proposal_response_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignedProposal(_message.Message):
    __slots__ = ("proposal_bytes", "signature")
    PROPOSAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    proposal_bytes: bytes
    signature: bytes
    def __init__(self, proposal_bytes: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Proposal(_message.Message):
    __slots__ = ("header", "payload", "extension")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    EXTENSION_FIELD_NUMBER: _ClassVar[int]
    header: bytes
    payload: bytes
    extension: bytes
    def __init__(self, header: _Optional[bytes] = ..., payload: _Optional[bytes] = ..., extension: _Optional[bytes] = ...) -> None: ...

class ChaincodeHeaderExtension(_message.Message):
    __slots__ = ("chaincode_id",)
    CHAINCODE_ID_FIELD_NUMBER: _ClassVar[int]
    chaincode_id: _chaincode_pb2.ChaincodeID
    def __init__(self, chaincode_id: _Optional[_Union[_chaincode_pb2.ChaincodeID, _Mapping]] = ...) -> None: ...

class ChaincodeProposalPayload(_message.Message):
    __slots__ = ("input", "TransientMap")
    class TransientMapEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    INPUT_FIELD_NUMBER: _ClassVar[int]
    TRANSIENTMAP_FIELD_NUMBER: _ClassVar[int]
    input: bytes
    TransientMap: _containers.ScalarMap[str, bytes]
    def __init__(self, input: _Optional[bytes] = ..., TransientMap: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class ChaincodeAction(_message.Message):
    __slots__ = ("results", "events", "response", "chaincode_id")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CHAINCODE_ID_FIELD_NUMBER: _ClassVar[int]
    results: bytes
    events: bytes
    response: _proposal_response_pb2.Response
    chaincode_id: _chaincode_pb2.ChaincodeID
    def __init__(self, results: _Optional[bytes] = ..., events: _Optional[bytes] = ..., response: _Optional[_Union[_proposal_response_pb2.Response, _Mapping]] = ..., chaincode_id: _Optional[_Union[_chaincode_pb2.ChaincodeID, _Mapping]] = ...) -> None: ...
