from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Organization(_message.Message):
    __slots__ = ("mspid", "name", "kind", "root_certs", "intermediate_certs", "tls_root_certs", "crls", "node_ous_enabled", "policies", "peers")
    class PoliciesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MSPID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROOT_CERTS_FIELD_NUMBER: _ClassVar[int]
    INTERMEDIATE_CERTS_FIELD_NUMBER: _ClassVar[int]
    TLS_ROOT_CERTS_FIELD_NUMBER: _ClassVar[int]
    CRLS_FIELD_NUMBER: _ClassVar[int]
    NODE_OUS_ENABLED_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    mspid: str
    name: str
    kind: str
    root_certs: _containers.RepeatedScalarFieldContainer[bytes]
    intermediate_certs: _containers.RepeatedScalarFieldContainer[bytes]
    tls_root_certs: _containers.RepeatedScalarFieldContainer[bytes]
    crls: _containers.RepeatedScalarFieldContainer[bytes]
    node_ous_enabled: bool
    policies: _containers.ScalarMap[str, str]
    peers: _containers.RepeatedCompositeFieldContainer[PeerEndpoint]
    def __init__(self, mspid: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., root_certs: _Optional[_Iterable[bytes]] = ..., intermediate_certs: _Optional[_Iterable[bytes]] = ..., tls_root_certs: _Optional[_Iterable[bytes]] = ..., crls: _Optional[_Iterable[bytes]] = ..., node_ous_enabled: _Optional[bool] = ..., policies: _Optional[_Mapping[str, str]] = ..., peers: _Optional[_Iterable[_Union[PeerEndpoint, _Mapping]]] = ...) -> None: ...

class PeerEndpoint(_message.Message):
    __slots__ = ("name", "host", "port", "endorser")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ENDORSER_FIELD_NUMBER: _ClassVar[int]
    name: str
    host: str
    port: int
    endorser: bool
    def __init__(self, name: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., endorser: _Optional[bool] = ...) -> None: ...

class Consenter(_message.Message):
    __slots__ = ("id", "name", "mspid", "host", "port", "cluster_port", "identity", "client_tls_cert", "server_tls_cert")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MSPID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_PORT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TLS_CERT_FIELD_NUMBER: _ClassVar[int]
    SERVER_TLS_CERT_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    mspid: str
    host: str
    port: int
    cluster_port: int
    identity: bytes
    client_tls_cert: bytes
    server_tls_cert: bytes
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., mspid: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., cluster_port: _Optional[int] = ..., identity: _Optional[bytes] = ..., client_tls_cert: _Optional[bytes] = ..., server_tls_cert: _Optional[bytes] = ...) -> None: ...

class BatchSize(_message.Message):
    __slots__ = ("max_message_count", "absolute_max_bytes", "preferred_max_bytes")
    MAX_MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    max_message_count: int
    absolute_max_bytes: int
    preferred_max_bytes: int
    def __init__(self, max_message_count: _Optional[int] = ..., absolute_max_bytes: _Optional[int] = ..., preferred_max_bytes: _Optional[int] = ...) -> None: ...

class RaftOptions(_message.Message):
    __slots__ = ("tick_interval_ms", "election_tick", "heartbeat_tick", "max_inflight_blocks", "snapshot_interval_blocks")
    TICK_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    ELECTION_TICK_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TICK_FIELD_NUMBER: _ClassVar[int]
    MAX_INFLIGHT_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INTERVAL_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    tick_interval_ms: int
    election_tick: int
    heartbeat_tick: int
    max_inflight_blocks: int
    snapshot_interval_blocks: int
    def __init__(self, tick_interval_ms: _Optional[int] = ..., election_tick: _Optional[int] = ..., heartbeat_tick: _Optional[int] = ..., max_inflight_blocks: _Optional[int] = ..., snapshot_interval_blocks: _Optional[int] = ...) -> None: ...

class ChaincodeDefinition(_message.Message):
    __slots__ = ("name", "version", "sequence", "endorsement_policy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ENDORSEMENT_POLICY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    sequence: int
    endorsement_policy: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., sequence: _Optional[int] = ..., endorsement_policy: _Optional[str] = ...) -> None: ...

class ChannelConfig(_message.Message):
    __slots__ = ("channel_id", "sequence", "application_orgs", "orderer_orgs", "consenters", "batch_size", "batch_timeout_ms", "raft", "policies", "acls", "chaincodes", "governance_approvers", "policy_parameters")
    class PoliciesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AclsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ORGS_FIELD_NUMBER: _ClassVar[int]
    ORDERER_ORGS_FIELD_NUMBER: _ClassVar[int]
    CONSENTERS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCH_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    RAFT_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    ACLS_FIELD_NUMBER: _ClassVar[int]
    CHAINCODES_FIELD_NUMBER: _ClassVar[int]
    GOVERNANCE_APPROVERS_FIELD_NUMBER: _ClassVar[int]
    POLICY_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    sequence: int
    application_orgs: _containers.RepeatedCompositeFieldContainer[Organization]
    orderer_orgs: _containers.RepeatedCompositeFieldContainer[Organization]
    consenters: _containers.RepeatedCompositeFieldContainer[Consenter]
    batch_size: BatchSize
    batch_timeout_ms: int
    raft: RaftOptions
    policies: _containers.ScalarMap[str, str]
    acls: _containers.ScalarMap[str, str]
    chaincodes: _containers.RepeatedCompositeFieldContainer[ChaincodeDefinition]
    governance_approvers: _containers.RepeatedScalarFieldContainer[str]
    policy_parameters: bytes
    def __init__(self, channel_id: _Optional[str] = ..., sequence: _Optional[int] = ..., application_orgs: _Optional[_Iterable[_Union[Organization, _Mapping]]] = ..., orderer_orgs: _Optional[_Iterable[_Union[Organization, _Mapping]]] = ..., consenters: _Optional[_Iterable[_Union[Consenter, _Mapping]]] = ..., batch_size: _Optional[_Union[BatchSize, _Mapping]] = ..., batch_timeout_ms: _Optional[int] = ..., raft: _Optional[_Union[RaftOptions, _Mapping]] = ..., policies: _Optional[_Mapping[str, str]] = ..., acls: _Optional[_Mapping[str, str]] = ..., chaincodes: _Optional[_Iterable[_Union[ChaincodeDefinition, _Mapping]]] = ..., governance_approvers: _Optional[_Iterable[str]] = ..., policy_parameters: _Optional[bytes] = ...) -> None: ...

class ConfigEnvelope(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: ChannelConfig
    def __init__(self, config: _Optional[_Union[ChannelConfig, _Mapping]] = ...) -> None: ...
