from protos.common import common_pb2 as _common_pb2
from protos.peer import proposal_response_pb2 as _proposal_response_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TxValidationCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALID: _ClassVar[TxValidationCode]
    NIL_ENVELOPE: _ClassVar[TxValidationCode]
    BAD_PAYLOAD: _ClassVar[TxValidationCode]
    BAD_COMMON_HEADER: _ClassVar[TxValidationCode]
    BAD_CREATOR_SIGNATURE: _ClassVar[TxValidationCode]
    INVALID_ENDORSER_TRANSACTION: _ClassVar[TxValidationCode]
    INVALID_CONFIG_TRANSACTION: _ClassVar[TxValidationCode]
    UNSUPPORTED_TX_PAYLOAD: _ClassVar[TxValidationCode]
    BAD_PROPOSAL_TXID: _ClassVar[TxValidationCode]
    DUPLICATE_TXID: _ClassVar[TxValidationCode]
    ENDORSEMENT_POLICY_FAILURE: _ClassVar[TxValidationCode]
    MVCC_READ_CONFLICT: _ClassVar[TxValidationCode]
    PHANTOM_READ_CONFLICT: _ClassVar[TxValidationCode]
    UNKNOWN_TX_TYPE: _ClassVar[TxValidationCode]
    TARGET_CHAIN_NOT_FOUND: _ClassVar[TxValidationCode]
    MARSHAL_TX_ERROR: _ClassVar[TxValidationCode]
    NIL_TXACTION: _ClassVar[TxValidationCode]
    EXPIRED_CHAINCODE: _ClassVar[TxValidationCode]
    CHAINCODE_VERSION_CONFLICT: _ClassVar[TxValidationCode]
    BAD_HEADER_EXTENSION: _ClassVar[TxValidationCode]
    BAD_CHANNEL_HEADER: _ClassVar[TxValidationCode]
    BAD_RESPONSE_PAYLOAD: _ClassVar[TxValidationCode]
    BAD_RWSET: _ClassVar[TxValidationCode]
    ILLEGAL_WRITESET: _ClassVar[TxValidationCode]
    INVALID_WRITESET: _ClassVar[TxValidationCode]
    INVALID_CHAINCODE: _ClassVar[TxValidationCode]
    NOT_VALIDATED: _ClassVar[TxValidationCode]
    INVALID_OTHER_REASON: _ClassVar[TxValidationCode]

class MetaDataKeys(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALIDATION_PARAMETER: _ClassVar[MetaDataKeys]
    VALIDATION_PARAMETER_V2: _ClassVar[MetaDataKeys]
VALID: TxValidationCode
NIL_ENVELOPE: TxValidationCode
BAD_PAYLOAD: TxValidationCode
BAD_COMMON_HEADER: TxValidationCode
BAD_CREATOR_SIGNATURE: TxValidationCode
INVALID_ENDORSER_TRANSACTION: TxValidationCode
INVALID_CONFIG_TRANSACTION: TxValidationCode
UNSUPPORTED_TX_PAYLOAD: TxValidationCode
BAD_PROPOSAL_TXID: TxValidationCode
DUPLICATE_TXID: TxValidationCode
ENDORSEMENT_POLICY_FAILURE: TxValidationCode
MVCC_READ_CONFLICT: TxValidationCode
PHANTOM_READ_CONFLICT: TxValidationCode
UNKNOWN_TX_TYPE: TxValidationCode
TARGET_CHAIN_NOT_FOUND: TxValidationCode
MARSHAL_TX_ERROR: TxValidationCode
NIL_TXACTION: TxValidationCode
EXPIRED_CHAINCODE: TxValidationCode
CHAINCODE_VERSION_CONFLICT: TxValidationCode
BAD_HEADER_EXTENSION: TxValidationCode
BAD_CHANNEL_HEADER: TxValidationCode
BAD_RESPONSE_PAYLOAD: TxValidationCode
BAD_RWSET: TxValidationCode
ILLEGAL_WRITESET: TxValidationCode
INVALID_WRITESET: TxValidationCode
INVALID_CHAINCODE: TxValidationCode
NOT_VALIDATED: TxValidationCode
INVALID_OTHER_REASON: TxValidationCode
VALIDATION_PARAMETER: MetaDataKeys
VALIDATION_PARAMETER_V2: MetaDataKeys

class ProcessedTransaction(_message.Message):
    __slots__ = ("transactionEnvelope", "validationCode")
    TRANSACTIONENVELOPE_FIELD_NUMBER: _ClassVar[int]
    VALIDATIONCODE_FIELD_NUMBER: _ClassVar[int]
    transactionEnvelope: _common_pb2.Envelope
    validationCode: int
    def __init__(self, transactionEnvelope: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., validationCode: _Optional[int] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[TransactionAction]
    def __init__(self, actions: _Optional[_Iterable[_Union[TransactionAction, _Mapping]]] = ...) -> None: ...

class TransactionAction(_message.Message):
    __slots__ = ("header", "payload")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    header: bytes
    payload: bytes
    def __init__(self, header: _Optional[bytes] = ..., payload: _Optional[bytes] = ...) -> None: ...

class ChaincodeActionPayload(_message.Message):
    __slots__ = ("chaincode_proposal_payload", "action")
    CHAINCODE_PROPOSAL_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    chaincode_proposal_payload: bytes
    action: ChaincodeEndorsedAction
    def __init__(self, chaincode_proposal_payload: _Optional[bytes] = ..., action: _Optional[_Union[ChaincodeEndorsedAction, _Mapping]] = ...) -> None: ...

class ChaincodeEndorsedAction(_message.Message):
    __slots__ = ("proposal_response_payload", "endorsements")
    PROPOSAL_RESPONSE_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ENDORSEMENTS_FIELD_NUMBER: _ClassVar[int]
    proposal_response_payload: bytes
    endorsements: _containers.RepeatedCompositeFieldContainer[_proposal_response_pb2.Endorsement]
    def __init__(self, proposal_response_payload: _Optional[bytes] = ..., endorsements: _Optional[_Iterable[_Union[_proposal_response_pb2.Endorsement, _Mapping]]] = ...) -> None: ...
