from protos.common import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignedRegulatorRequest(_message.Message):
    __slots__ = ("request", "identity", "signature")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    request: bytes
    identity: bytes
    signature: bytes
    def __init__(self, request: _Optional[bytes] = ..., identity: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class RegulatorRequest(_message.Message):
    __slots__ = ("timestamp", "nonce", "list_channels", "get_block", "get_transaction", "key_history", "voucher_lineage", "receipt_history", "exposure", "overdue", "ltv_distribution", "exceptions", "alerts", "watch")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    LIST_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    GET_BLOCK_FIELD_NUMBER: _ClassVar[int]
    GET_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    KEY_HISTORY_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_LINEAGE_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_HISTORY_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    LTV_DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    timestamp: int
    nonce: bytes
    list_channels: ListChannelsRequest
    get_block: GetBlockRequest
    get_transaction: GetTransactionRequest
    key_history: KeyHistoryRequest
    voucher_lineage: VoucherLineageRequest
    receipt_history: ReceiptHistoryRequest
    exposure: ExposureRequest
    overdue: OverdueRequest
    ltv_distribution: LtvDistributionRequest
    exceptions: ExceptionsRequest
    alerts: AlertsRequest
    watch: WatchRequest
    def __init__(self, timestamp: _Optional[int] = ..., nonce: _Optional[bytes] = ..., list_channels: _Optional[_Union[ListChannelsRequest, _Mapping]] = ..., get_block: _Optional[_Union[GetBlockRequest, _Mapping]] = ..., get_transaction: _Optional[_Union[GetTransactionRequest, _Mapping]] = ..., key_history: _Optional[_Union[KeyHistoryRequest, _Mapping]] = ..., voucher_lineage: _Optional[_Union[VoucherLineageRequest, _Mapping]] = ..., receipt_history: _Optional[_Union[ReceiptHistoryRequest, _Mapping]] = ..., exposure: _Optional[_Union[ExposureRequest, _Mapping]] = ..., overdue: _Optional[_Union[OverdueRequest, _Mapping]] = ..., ltv_distribution: _Optional[_Union[LtvDistributionRequest, _Mapping]] = ..., exceptions: _Optional[_Union[ExceptionsRequest, _Mapping]] = ..., alerts: _Optional[_Union[AlertsRequest, _Mapping]] = ..., watch: _Optional[_Union[WatchRequest, _Mapping]] = ...) -> None: ...

class ListChannelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ChannelInfo(_message.Message):
    __slots__ = ("channel", "height", "indicator_height", "last_block_hash", "last_commit_hash")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    INDICATOR_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LAST_BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    LAST_COMMIT_HASH_FIELD_NUMBER: _ClassVar[int]
    channel: str
    height: int
    indicator_height: int
    last_block_hash: bytes
    last_commit_hash: bytes
    def __init__(self, channel: _Optional[str] = ..., height: _Optional[int] = ..., indicator_height: _Optional[int] = ..., last_block_hash: _Optional[bytes] = ..., last_commit_hash: _Optional[bytes] = ...) -> None: ...

class ListChannelsResponse(_message.Message):
    __slots__ = ("channels",)
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[ChannelInfo]
    def __init__(self, channels: _Optional[_Iterable[_Union[ChannelInfo, _Mapping]]] = ...) -> None: ...

class GetBlockRequest(_message.Message):
    __slots__ = ("channel", "number", "header_hash")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    HEADER_HASH_FIELD_NUMBER: _ClassVar[int]
    channel: str
    number: int
    header_hash: bytes
    def __init__(self, channel: _Optional[str] = ..., number: _Optional[int] = ..., header_hash: _Optional[bytes] = ...) -> None: ...

class TxSummary(_message.Message):
    __slots__ = ("tx_index", "tx_id", "validation_code", "validation_code_name", "creator_mspid", "chaincode", "function")
    TX_INDEX_FIELD_NUMBER: _ClassVar[int]
    TX_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_CODE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_CODE_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_MSPID_FIELD_NUMBER: _ClassVar[int]
    CHAINCODE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    tx_index: int
    tx_id: str
    validation_code: int
    validation_code_name: str
    creator_mspid: str
    chaincode: str
    function: str
    def __init__(self, tx_index: _Optional[int] = ..., tx_id: _Optional[str] = ..., validation_code: _Optional[int] = ..., validation_code_name: _Optional[str] = ..., creator_mspid: _Optional[str] = ..., chaincode: _Optional[str] = ..., function: _Optional[str] = ...) -> None: ...

class GetBlockResponse(_message.Message):
    __slots__ = ("block", "header_hash", "commit_hash", "txs")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    HEADER_HASH_FIELD_NUMBER: _ClassVar[int]
    COMMIT_HASH_FIELD_NUMBER: _ClassVar[int]
    TXS_FIELD_NUMBER: _ClassVar[int]
    block: _common_pb2.Block
    header_hash: bytes
    commit_hash: bytes
    txs: _containers.RepeatedCompositeFieldContainer[TxSummary]
    def __init__(self, block: _Optional[_Union[_common_pb2.Block, _Mapping]] = ..., header_hash: _Optional[bytes] = ..., commit_hash: _Optional[bytes] = ..., txs: _Optional[_Iterable[_Union[TxSummary, _Mapping]]] = ...) -> None: ...

class GetTransactionRequest(_message.Message):
    __slots__ = ("channel", "tx_id")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TX_ID_FIELD_NUMBER: _ClassVar[int]
    channel: str
    tx_id: str
    def __init__(self, channel: _Optional[str] = ..., tx_id: _Optional[str] = ...) -> None: ...

class KVRead(_message.Message):
    __slots__ = ("key", "has_version", "block_num", "tx_num")
    KEY_FIELD_NUMBER: _ClassVar[int]
    HAS_VERSION_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUM_FIELD_NUMBER: _ClassVar[int]
    TX_NUM_FIELD_NUMBER: _ClassVar[int]
    key: str
    has_version: bool
    block_num: int
    tx_num: int
    def __init__(self, key: _Optional[str] = ..., has_version: _Optional[bool] = ..., block_num: _Optional[int] = ..., tx_num: _Optional[int] = ...) -> None: ...

class KVWrite(_message.Message):
    __slots__ = ("key", "value", "is_delete")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    IS_DELETE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    is_delete: bool
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ..., is_delete: _Optional[bool] = ...) -> None: ...

class RangeRead(_message.Message):
    __slots__ = ("start_key", "end_key", "reads")
    START_KEY_FIELD_NUMBER: _ClassVar[int]
    END_KEY_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    start_key: str
    end_key: str
    reads: _containers.RepeatedCompositeFieldContainer[KVRead]
    def __init__(self, start_key: _Optional[str] = ..., end_key: _Optional[str] = ..., reads: _Optional[_Iterable[_Union[KVRead, _Mapping]]] = ...) -> None: ...

class NsReadWrite(_message.Message):
    __slots__ = ("namespace", "reads", "writes", "range_reads")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    RANGE_READS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    reads: _containers.RepeatedCompositeFieldContainer[KVRead]
    writes: _containers.RepeatedCompositeFieldContainer[KVWrite]
    range_reads: _containers.RepeatedCompositeFieldContainer[RangeRead]
    def __init__(self, namespace: _Optional[str] = ..., reads: _Optional[_Iterable[_Union[KVRead, _Mapping]]] = ..., writes: _Optional[_Iterable[_Union[KVWrite, _Mapping]]] = ..., range_reads: _Optional[_Iterable[_Union[RangeRead, _Mapping]]] = ...) -> None: ...

class GetTransactionResponse(_message.Message):
    __slots__ = ("channel", "tx_id", "block_number", "tx_index", "validation_code", "validation_code_name", "creator_mspid", "creator_id", "timestamp", "chaincode", "function", "args", "rwset", "event_name", "event_payload", "envelope")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TX_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TX_INDEX_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_CODE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_CODE_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_MSPID_FIELD_NUMBER: _ClassVar[int]
    CREATOR_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CHAINCODE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    RWSET_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    channel: str
    tx_id: str
    block_number: int
    tx_index: int
    validation_code: int
    validation_code_name: str
    creator_mspid: str
    creator_id: str
    timestamp: int
    chaincode: str
    function: str
    args: _containers.RepeatedScalarFieldContainer[bytes]
    rwset: _containers.RepeatedCompositeFieldContainer[NsReadWrite]
    event_name: str
    event_payload: bytes
    envelope: bytes
    def __init__(self, channel: _Optional[str] = ..., tx_id: _Optional[str] = ..., block_number: _Optional[int] = ..., tx_index: _Optional[int] = ..., validation_code: _Optional[int] = ..., validation_code_name: _Optional[str] = ..., creator_mspid: _Optional[str] = ..., creator_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., chaincode: _Optional[str] = ..., function: _Optional[str] = ..., args: _Optional[_Iterable[bytes]] = ..., rwset: _Optional[_Iterable[_Union[NsReadWrite, _Mapping]]] = ..., event_name: _Optional[str] = ..., event_payload: _Optional[bytes] = ..., envelope: _Optional[bytes] = ...) -> None: ...

class KeyHistoryRequest(_message.Message):
    __slots__ = ("channel", "namespace", "key", "page_size", "page_token")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    channel: str
    namespace: str
    key: str
    page_size: int
    page_token: str
    def __init__(self, channel: _Optional[str] = ..., namespace: _Optional[str] = ..., key: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class KeyModification(_message.Message):
    __slots__ = ("tx_id", "value", "timestamp", "is_delete")
    TX_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    IS_DELETE_FIELD_NUMBER: _ClassVar[int]
    tx_id: str
    value: bytes
    timestamp: int
    is_delete: bool
    def __init__(self, tx_id: _Optional[str] = ..., value: _Optional[bytes] = ..., timestamp: _Optional[int] = ..., is_delete: _Optional[bool] = ...) -> None: ...

class KeyHistoryResponse(_message.Message):
    __slots__ = ("modifications", "next_page_token")
    MODIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    modifications: _containers.RepeatedCompositeFieldContainer[KeyModification]
    next_page_token: str
    def __init__(self, modifications: _Optional[_Iterable[_Union[KeyModification, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VoucherLineageRequest(_message.Message):
    __slots__ = ("channel", "voucher_id")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    channel: str
    voucher_id: str
    def __init__(self, channel: _Optional[str] = ..., voucher_id: _Optional[str] = ...) -> None: ...

class HolderChange(_message.Message):
    __slots__ = ("holder", "tx_id", "timestamp")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TX_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    holder: str
    tx_id: str
    timestamp: int
    def __init__(self, holder: _Optional[str] = ..., tx_id: _Optional[str] = ..., timestamp: _Optional[int] = ...) -> None: ...

class VoucherNode(_message.Message):
    __slots__ = ("voucher_id", "parent_id", "depth", "holder", "amount", "currency", "status", "issuer", "maturity_date", "created_tx", "updated_tx", "created_at", "updated_at", "children", "holders", "financier")
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    MATURITY_DATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_TX_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TX_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    FINANCIER_FIELD_NUMBER: _ClassVar[int]
    voucher_id: str
    parent_id: str
    depth: int
    holder: str
    amount: int
    currency: str
    status: str
    issuer: str
    maturity_date: str
    created_tx: str
    updated_tx: str
    created_at: int
    updated_at: int
    children: _containers.RepeatedScalarFieldContainer[str]
    holders: _containers.RepeatedCompositeFieldContainer[HolderChange]
    financier: str
    def __init__(self, voucher_id: _Optional[str] = ..., parent_id: _Optional[str] = ..., depth: _Optional[int] = ..., holder: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., status: _Optional[str] = ..., issuer: _Optional[str] = ..., maturity_date: _Optional[str] = ..., created_tx: _Optional[str] = ..., updated_tx: _Optional[str] = ..., created_at: _Optional[int] = ..., updated_at: _Optional[int] = ..., children: _Optional[_Iterable[str]] = ..., holders: _Optional[_Iterable[_Union[HolderChange, _Mapping]]] = ..., financier: _Optional[str] = ...) -> None: ...

class VoucherLineageResponse(_message.Message):
    __slots__ = ("root_id", "face_total", "currency", "leaf_total", "nodes")
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LEAF_TOTAL_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    root_id: str
    face_total: int
    currency: str
    leaf_total: int
    nodes: _containers.RepeatedCompositeFieldContainer[VoucherNode]
    def __init__(self, root_id: _Optional[str] = ..., face_total: _Optional[int] = ..., currency: _Optional[str] = ..., leaf_total: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[VoucherNode, _Mapping]]] = ...) -> None: ...

class ReceiptHistoryRequest(_message.Message):
    __slots__ = ("channel", "receipt_id", "page_size", "page_token")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    channel: str
    receipt_id: str
    page_size: int
    page_token: str
    def __init__(self, channel: _Optional[str] = ..., receipt_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ReceiptHistoryResponse(_message.Message):
    __slots__ = ("modifications", "current", "pledge_attempt_tx_ids", "next_page_token")
    MODIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PLEDGE_ATTEMPT_TX_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    modifications: _containers.RepeatedCompositeFieldContainer[KeyModification]
    current: bytes
    pledge_attempt_tx_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, modifications: _Optional[_Iterable[_Union[KeyModification, _Mapping]]] = ..., current: _Optional[bytes] = ..., pledge_attempt_tx_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExposureRequest(_message.Message):
    __slots__ = ("channel", "issuer", "as_of")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    channel: str
    issuer: str
    as_of: str
    def __init__(self, channel: _Optional[str] = ..., issuer: _Optional[str] = ..., as_of: _Optional[str] = ...) -> None: ...

class MaturityBucket(_message.Message):
    __slots__ = ("label", "max_days", "live_face", "financed_face")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MAX_DAYS_FIELD_NUMBER: _ClassVar[int]
    LIVE_FACE_FIELD_NUMBER: _ClassVar[int]
    FINANCED_FACE_FIELD_NUMBER: _ClassVar[int]
    label: str
    max_days: int
    live_face: int
    financed_face: int
    def __init__(self, label: _Optional[str] = ..., max_days: _Optional[int] = ..., live_face: _Optional[int] = ..., financed_face: _Optional[int] = ...) -> None: ...

class IssuerExposure(_message.Message):
    __slots__ = ("channel", "issuer", "currency", "live_face", "financed_face", "pending_face", "leaves", "buckets", "as_of")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LIVE_FACE_FIELD_NUMBER: _ClassVar[int]
    FINANCED_FACE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FACE_FIELD_NUMBER: _ClassVar[int]
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    channel: str
    issuer: str
    currency: str
    live_face: int
    financed_face: int
    pending_face: int
    leaves: int
    buckets: _containers.RepeatedCompositeFieldContainer[MaturityBucket]
    as_of: str
    def __init__(self, channel: _Optional[str] = ..., issuer: _Optional[str] = ..., currency: _Optional[str] = ..., live_face: _Optional[int] = ..., financed_face: _Optional[int] = ..., pending_face: _Optional[int] = ..., leaves: _Optional[int] = ..., buckets: _Optional[_Iterable[_Union[MaturityBucket, _Mapping]]] = ..., as_of: _Optional[str] = ...) -> None: ...

class ExposureResponse(_message.Message):
    __slots__ = ("exposures",)
    EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    exposures: _containers.RepeatedCompositeFieldContainer[IssuerExposure]
    def __init__(self, exposures: _Optional[_Iterable[_Union[IssuerExposure, _Mapping]]] = ...) -> None: ...

class OverdueRequest(_message.Message):
    __slots__ = ("channel", "issuer", "as_of")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    channel: str
    issuer: str
    as_of: str
    def __init__(self, channel: _Optional[str] = ..., issuer: _Optional[str] = ..., as_of: _Optional[str] = ...) -> None: ...

class IssuerOverdue(_message.Message):
    __slots__ = ("channel", "issuer", "currency", "overdue_amount", "defaulted_amount", "overdue_leaves", "defaulted_leaves", "max_days_overdue", "as_of")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DEFAULTED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_LEAVES_FIELD_NUMBER: _ClassVar[int]
    DEFAULTED_LEAVES_FIELD_NUMBER: _ClassVar[int]
    MAX_DAYS_OVERDUE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    channel: str
    issuer: str
    currency: str
    overdue_amount: int
    defaulted_amount: int
    overdue_leaves: int
    defaulted_leaves: int
    max_days_overdue: int
    as_of: str
    def __init__(self, channel: _Optional[str] = ..., issuer: _Optional[str] = ..., currency: _Optional[str] = ..., overdue_amount: _Optional[int] = ..., defaulted_amount: _Optional[int] = ..., overdue_leaves: _Optional[int] = ..., defaulted_leaves: _Optional[int] = ..., max_days_overdue: _Optional[int] = ..., as_of: _Optional[str] = ...) -> None: ...

class BlockedIssuer(_message.Message):
    __slots__ = ("channel", "issuer", "root_id", "since_tx")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_TX_FIELD_NUMBER: _ClassVar[int]
    channel: str
    issuer: str
    root_id: str
    since_tx: str
    def __init__(self, channel: _Optional[str] = ..., issuer: _Optional[str] = ..., root_id: _Optional[str] = ..., since_tx: _Optional[str] = ...) -> None: ...

class OverdueResponse(_message.Message):
    __slots__ = ("issuers", "blocked")
    ISSUERS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    issuers: _containers.RepeatedCompositeFieldContainer[IssuerOverdue]
    blocked: _containers.RepeatedCompositeFieldContainer[BlockedIssuer]
    def __init__(self, issuers: _Optional[_Iterable[_Union[IssuerOverdue, _Mapping]]] = ..., blocked: _Optional[_Iterable[_Union[BlockedIssuer, _Mapping]]] = ...) -> None: ...

class LtvDistributionRequest(_message.Message):
    __slots__ = ("channel", "bank", "page_size", "page_token")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    channel: str
    bank: str
    page_size: int
    page_token: str
    def __init__(self, channel: _Optional[str] = ..., bank: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class LtvBucket(_message.Message):
    __slots__ = ("label", "lo_bps", "hi_bps", "loans", "outstanding")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LO_BPS_FIELD_NUMBER: _ClassVar[int]
    HI_BPS_FIELD_NUMBER: _ClassVar[int]
    LOANS_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    label: str
    lo_bps: int
    hi_bps: int
    loans: int
    outstanding: int
    def __init__(self, label: _Optional[str] = ..., lo_bps: _Optional[int] = ..., hi_bps: _Optional[int] = ..., loans: _Optional[int] = ..., outstanding: _Optional[int] = ...) -> None: ...

class BankLtv(_message.Message):
    __slots__ = ("channel", "bank", "currency", "loans", "outstanding", "buckets")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LOANS_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    bank: str
    currency: str
    loans: int
    outstanding: int
    buckets: _containers.RepeatedCompositeFieldContainer[LtvBucket]
    def __init__(self, channel: _Optional[str] = ..., bank: _Optional[str] = ..., currency: _Optional[str] = ..., loans: _Optional[int] = ..., outstanding: _Optional[int] = ..., buckets: _Optional[_Iterable[_Union[LtvBucket, _Mapping]]] = ...) -> None: ...

class MarginCall(_message.Message):
    __slots__ = ("channel", "bank", "loan_id", "borrower", "ltv_bps", "outstanding", "currency", "due_date", "since_tx")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    LOAN_ID_FIELD_NUMBER: _ClassVar[int]
    BORROWER_FIELD_NUMBER: _ClassVar[int]
    LTV_BPS_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    SINCE_TX_FIELD_NUMBER: _ClassVar[int]
    channel: str
    bank: str
    loan_id: str
    borrower: str
    ltv_bps: int
    outstanding: int
    currency: str
    due_date: str
    since_tx: str
    def __init__(self, channel: _Optional[str] = ..., bank: _Optional[str] = ..., loan_id: _Optional[str] = ..., borrower: _Optional[str] = ..., ltv_bps: _Optional[int] = ..., outstanding: _Optional[int] = ..., currency: _Optional[str] = ..., due_date: _Optional[str] = ..., since_tx: _Optional[str] = ...) -> None: ...

class LtvDistributionResponse(_message.Message):
    __slots__ = ("banks", "margin_calls", "next_page_token")
    BANKS_FIELD_NUMBER: _ClassVar[int]
    MARGIN_CALLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    banks: _containers.RepeatedCompositeFieldContainer[BankLtv]
    margin_calls: _containers.RepeatedCompositeFieldContainer[MarginCall]
    next_page_token: str
    def __init__(self, banks: _Optional[_Iterable[_Union[BankLtv, _Mapping]]] = ..., margin_calls: _Optional[_Iterable[_Union[MarginCall, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExceptionsRequest(_message.Message):
    __slots__ = ("channel", "kind", "page_size", "page_token")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    channel: str
    kind: str
    page_size: int
    page_token: str
    def __init__(self, channel: _Optional[str] = ..., kind: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ComplianceException(_message.Message):
    __slots__ = ("channel", "kind", "voucher_id", "root_id", "issuer", "amount", "currency", "tenor_days", "maturity_date", "reason", "tx_ids")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TENOR_DAYS_FIELD_NUMBER: _ClassVar[int]
    MATURITY_DATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TX_IDS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    kind: str
    voucher_id: str
    root_id: str
    issuer: str
    amount: int
    currency: str
    tenor_days: int
    maturity_date: str
    reason: str
    tx_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, channel: _Optional[str] = ..., kind: _Optional[str] = ..., voucher_id: _Optional[str] = ..., root_id: _Optional[str] = ..., issuer: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., tenor_days: _Optional[int] = ..., maturity_date: _Optional[str] = ..., reason: _Optional[str] = ..., tx_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ExceptionsResponse(_message.Message):
    __slots__ = ("exceptions", "next_page_token")
    EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    exceptions: _containers.RepeatedCompositeFieldContainer[ComplianceException]
    next_page_token: str
    def __init__(self, exceptions: _Optional[_Iterable[_Union[ComplianceException, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AlertsRequest(_message.Message):
    __slots__ = ("channel", "rule", "page_size", "page_token")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    channel: str
    rule: str
    page_size: int
    page_token: str
    def __init__(self, channel: _Optional[str] = ..., rule: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("channel", "seq", "rule", "subject", "evidence_tx_ids", "block_number", "tx_id", "timestamp", "details_json")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_TX_IDS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TX_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    channel: str
    seq: int
    rule: str
    subject: str
    evidence_tx_ids: _containers.RepeatedScalarFieldContainer[str]
    block_number: int
    tx_id: str
    timestamp: int
    details_json: str
    def __init__(self, channel: _Optional[str] = ..., seq: _Optional[int] = ..., rule: _Optional[str] = ..., subject: _Optional[str] = ..., evidence_tx_ids: _Optional[_Iterable[str]] = ..., block_number: _Optional[int] = ..., tx_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., details_json: _Optional[str] = ...) -> None: ...

class AlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("channels", "blocks_only", "alerts_only")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_ONLY_FIELD_NUMBER: _ClassVar[int]
    ALERTS_ONLY_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[str]
    blocks_only: bool
    alerts_only: bool
    def __init__(self, channels: _Optional[_Iterable[str]] = ..., blocks_only: _Optional[bool] = ..., alerts_only: _Optional[bool] = ...) -> None: ...

class BlockNotice(_message.Message):
    __slots__ = ("channel", "number", "header_hash", "tx_count", "valid_tx_count", "commit_hash")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    HEADER_HASH_FIELD_NUMBER: _ClassVar[int]
    TX_COUNT_FIELD_NUMBER: _ClassVar[int]
    VALID_TX_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_HASH_FIELD_NUMBER: _ClassVar[int]
    channel: str
    number: int
    header_hash: bytes
    tx_count: int
    valid_tx_count: int
    commit_hash: bytes
    def __init__(self, channel: _Optional[str] = ..., number: _Optional[int] = ..., header_hash: _Optional[bytes] = ..., tx_count: _Optional[int] = ..., valid_tx_count: _Optional[int] = ..., commit_hash: _Optional[bytes] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("block", "alert")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    block: BlockNotice
    alert: Alert
    def __init__(self, block: _Optional[_Union[BlockNotice, _Mapping]] = ..., alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...
