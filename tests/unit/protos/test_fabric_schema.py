"""Our .proto definitions against the field tables in Fabric's published JS bindings.

For every message and enum we define in one of Fabric's proto packages, Fabric's
generated deserializer (read from @hyperledger/fabric-protos) must know the same field
numbers, with the same names, wire types, repetition, map-ness, nested type names and
oneof groups; enums must have the same names and numbers. A field we forgot, a number
off by one or an int32 that should be a uint64 fails here.
"""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from tests.unit.protos.fabric_js import JsonObject, fabric_descriptors

MESSAGES, ENUMS = fabric_descriptors()

READERS = {
    FieldDescriptor.TYPE_STRING: "readString",
    FieldDescriptor.TYPE_BYTES: "readBytes",
    FieldDescriptor.TYPE_BOOL: "readBool",
    FieldDescriptor.TYPE_INT32: "readInt32",
    FieldDescriptor.TYPE_UINT32: "readUint32",
    FieldDescriptor.TYPE_SINT32: "readSint32",
    FieldDescriptor.TYPE_INT64: "readInt64",
    FieldDescriptor.TYPE_UINT64: "readUint64",
    FieldDescriptor.TYPE_SINT64: "readSint64",
    FieldDescriptor.TYPE_FIXED32: "readFixed32",
    FieldDescriptor.TYPE_FIXED64: "readFixed64",
    FieldDescriptor.TYPE_SFIXED32: "readSfixed32",
    FieldDescriptor.TYPE_SFIXED64: "readSfixed64",
    FieldDescriptor.TYPE_DOUBLE: "readDouble",
    FieldDescriptor.TYPE_FLOAT: "readFloat",
    FieldDescriptor.TYPE_ENUM: "readEnum",
    FieldDescriptor.TYPE_MESSAGE: "readMessage",
}

# What the brief for this package promises other code; a rename or deletion fails here.
REQUIRED = {
    "common": [
        "LastConfig", "Metadata", "MetadataSignature", "IdentifierHeader", "Header",
        "ChannelHeader", "SignatureHeader", "Payload", "Envelope", "Block", "BlockHeader",
        "BlockData", "BlockMetadata", "OrdererBlockMetadata", "HeaderType", "Status",
        "BlockMetadataIndex",
    ],
    "msp": ["SerializedIdentity"],
    "protos": [
        "SignedProposal", "Proposal", "ChaincodeHeaderExtension", "ChaincodeProposalPayload",
        "ChaincodeAction", "ProposalResponse", "Response", "ProposalResponsePayload",
        "Endorsement", "ChaincodeID", "ChaincodeInput", "ChaincodeSpec",
        "ChaincodeSpec.Type", "ChaincodeInvocationSpec", "Transaction", "TransactionAction",
        "ChaincodeActionPayload", "ChaincodeEndorsedAction", "TxValidationCode",
        "ProcessedTransaction", "ChaincodeEvent", "FilteredBlock", "FilteredTransaction",
        "FilteredTransactionActions", "FilteredChaincodeAction", "BlockAndPrivateData",
        "DeliverResponse",
    ],
    "rwset": ["TxReadWriteSet", "TxReadWriteSet.DataModel", "NsReadWriteSet"],
    "kvrwset": [
        "KVRWSet", "KVRead", "KVWrite", "KVMetadataWrite", "Version", "RangeQueryInfo",
        "QueryReads", "QueryReadsMerkleSummary", "KVReadHash", "KVWriteHash",
    ],
    "orderer": [
        "BroadcastResponse", "SeekNewest", "SeekOldest", "SeekSpecified", "SeekNextCommit",
        "SeekPosition", "SeekInfo", "SeekInfo.SeekBehavior", "SeekInfo.SeekErrorResponse",
        "SeekInfo.SeekContentType", "DeliverResponse",
    ],
    "gateway": [
        "EndorseRequest", "EndorseResponse", "SubmitRequest", "SubmitResponse",
        "SignedCommitStatusRequest", "CommitStatusRequest", "CommitStatusResponse",
        "EvaluateRequest", "EvaluateResponse", "SignedChaincodeEventsRequest",
        "ChaincodeEventsRequest", "ChaincodeEventsResponse", "ErrorDetail",
        "ProposedTransaction", "PreparedTransaction",
    ],
}  # fmt: skip


def test_required_types_are_defined() -> None:
    defined = {d.full_name for d in MESSAGES} | {e.full_name for e in ENUMS}
    missing = [
        f"{package}.{name}"
        for package, names in REQUIRED.items()
        for name in names
        if f"{package}.{name}" not in defined
    ]
    assert missing == []


def _expected_fields(desc: Descriptor) -> list[JsonObject]:
    """Our fields in the shape protos_roundtrip.js reports Fabric's."""
    out: list[JsonObject] = []
    for fd in sorted(desc.fields, key=lambda f: f.number):
        entry: JsonObject = {"number": fd.number, "repeated": fd.is_repeated}
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            key_fd = fd.message_type.fields_by_name["key"]
            value_fd = fd.message_type.fields_by_name["value"]
            entry |= {
                "map": True,
                "keyReader": READERS[key_fd.type],
                "valueReader": READERS[value_fd.type],
                "type": value_fd.message_type.full_name if value_fd.message_type else None,
            }
        else:
            nested = fd.message_type or fd.enum_type
            entry |= {
                "map": False,
                "reader": READERS[fd.type],
                "type": nested.full_name if nested is not None else None,
            }
        out.append(entry)
    return out


@pytest.mark.parametrize("desc", MESSAGES, ids=lambda d: d.full_name)
def test_message_fields_match_fabric(desc: Descriptor, fabric_schema: JsonObject) -> None:
    fabric = fabric_schema[desc.full_name]
    assert fabric["kind"] == "message"
    theirs = sorted(fabric["fields"], key=lambda f: f["number"])
    # Names: jspb drops underscores and case, and appends "$" to reserved words.
    our_names = [
        fd.name.replace("_", "").lower() for fd in sorted(desc.fields, key=lambda f: f.number)
    ]
    their_names = [f["name"].rstrip("$").lower() for f in theirs]
    assert our_names == their_names
    stripped = [{k: v for k, v in f.items() if k != "name"} for f in theirs]
    assert _expected_fields(desc) == stripped


@pytest.mark.parametrize("desc", MESSAGES, ids=lambda d: d.full_name)
def test_oneofs_match_fabric(desc: Descriptor, fabric_schema: JsonObject) -> None:
    ours = sorted(
        sorted(fd.number for fd in oneof.fields)
        for oneof in desc.oneofs
        if not getattr(oneof, "is_synthetic", False)
    )
    theirs = sorted(sorted(group) for group in fabric_schema[desc.full_name]["oneofs"])
    assert ours == theirs


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.full_name)
def test_enum_values_match_fabric(enum: EnumDescriptor, fabric_schema: JsonObject) -> None:
    fabric = fabric_schema[enum.full_name]
    assert fabric["kind"] == "enum"
    ours = {v.name: v.number for v in enum.values}
    assert ours == fabric["values"]
