from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ChaincodeEvent(_message.Message):
    __slots__ = ("chaincode_id", "tx_id", "event_name", "payload")
    CHAINCODE_ID_FIELD_NUMBER: _ClassVar[int]
    TX_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    chaincode_id: str
    tx_id: str
    event_name: str
    payload: bytes
    def __init__(self, chaincode_id: _Optional[str] = ..., tx_id: _Optional[str] = ..., event_name: _Optional[str] = ..., payload: _Optional[bytes] = ...) -> None: ...
