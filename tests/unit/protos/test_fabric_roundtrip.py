"""Our encodings against Fabric's JavaScript bindings, value for value, both ways.

Each case is one message tree (``M``) whose bytes fields may hold further serialised
messages (``P``), as on the wire: an Envelope's payload holds a Payload, whose data
holds a Transaction, and so on down to the KVRWSet.

* Python -> Fabric: we serialise every level deterministically; Fabric's JS decodes each
  level and must see exactly the values we meant (compared as ``toObject()`` JSON), and
  re-serialising it must give back our bytes unchanged.
* Fabric -> Python: Fabric's JS builds the same tree from field values alone (nested
  bytes serialised by Fabric itself); we decode every level and must see the same values,
  and our deterministic serialisation must equal Fabric's bytes.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.unit.protos.fabric_js import (
    JsonObject,
    M,
    P,
    js_object,
    levels,
    message_class,
    msg,
    nested_bytes,
    node_spec,
    run_node,
    serialize,
    to_py,
)

CHANNEL = "scf-invoices"
TX_ID = hashlib.sha256(b"nonce-1" + b"creator-org1").hexdigest()
NONCE = bytes(range(24))
TIMESTAMP = msg("google.protobuf.Timestamp", seconds=1_700_000_000, nanos=123_456_789)
CERT_ORG1 = b"-----BEGIN CERTIFICATE-----\nMIIB...org1\n-----END CERTIFICATE-----\n"
CERT_ORG2 = b"-----BEGIN CERTIFICATE-----\nMIIB...org2\n-----END CERTIFICATE-----\n"
SIG = bytes.fromhex("3044022001020304") + bytes(range(32)) + bytes.fromhex("0220") + bytes(32)


def identity(mspid: str, cert: bytes) -> P:
    return P(msg("msp.SerializedIdentity", mspid=mspid, id_bytes=cert))


def signature_header() -> P:
    return P(msg("common.SignatureHeader", creator=identity("Org1MSP", CERT_ORG1), nonce=NONCE))


def chaincode_id() -> M:
    return msg("protos.ChaincodeID", name="receivable", version="1.0")


def channel_header(header_type: int, tx_id: str = TX_ID) -> P:
    return P(
        msg(
            "common.ChannelHeader",
            type=header_type,
            version=1,
            timestamp=TIMESTAMP,
            channel_id=CHANNEL,
            tx_id=tx_id,
            epoch=7,
            extension=P(msg("protos.ChaincodeHeaderExtension", chaincode_id=chaincode_id())),
            tls_cert_hash=hashlib.sha256(b"tls").digest(),
        )
    )


def invocation_spec() -> P:
    return P(
        msg(
            "protos.ChaincodeInvocationSpec",
            chaincode_spec=msg(
                "protos.ChaincodeSpec",
                type=2,  # NODE
                chaincode_id=chaincode_id(),
                input=msg(
                    "protos.ChaincodeInput",
                    args=[b"createInvoice", b'{"id":"INV-1","amount":"1250.00"}', b""],
                    decorations={"b-decoration": b"\x00\x01", "a-decoration": b"x"},
                    is_init=True,
                ),
                timeout=30,
            ),
        )
    )


def kv_rwset() -> M:
    version = msg("kvrwset.Version", block_num=2**40 + 5, tx_num=3)
    return msg(
        "kvrwset.KVRWSet",
        reads=[
            msg("kvrwset.KVRead", key="invoice~INV-1", version=version),
            msg("kvrwset.KVRead", key="invoice~INV-0"),  # read of an absent key
        ],
        range_queries_info=[
            msg(
                "kvrwset.RangeQueryInfo",
                start_key="invoice~",
                end_key="invoice~\U0010ffff",
                itr_exhausted=True,
                raw_reads=msg(
                    "kvrwset.QueryReads",
                    kv_reads=[msg("kvrwset.KVRead", key="invoice~INV-1", version=version)],
                ),
            ),
            msg(
                "kvrwset.RangeQueryInfo",
                start_key="a",
                end_key="b",
                reads_merkle_hashes=msg(
                    "kvrwset.QueryReadsMerkleSummary",
                    max_degree=50,
                    max_level=2,
                    max_level_hashes=[hashlib.sha256(b"1").digest(), b""],
                ),
            ),
        ],
        writes=[
            msg("kvrwset.KVWrite", key="invoice~INV-2", value=b'{"state":"ISSUED"}'),
            msg("kvrwset.KVWrite", key="invoice~INV-0", is_delete=True),
        ],
        metadata_writes=[
            msg(
                "kvrwset.KVMetadataWrite",
                key="invoice~INV-2",
                entries=[msg("kvrwset.KVMetadataEntry", name="VALIDATION_PARAMETER", value=b"p")],
            )
        ],
    )


def chaincode_event(payload: bytes = b'{"id":"INV-2"}') -> M:
    return msg(
        "protos.ChaincodeEvent",
        chaincode_id="receivable",
        tx_id=TX_ID,
        event_name="InvoiceIssued",
        payload=payload,
    )


def endorser_transaction_envelope() -> M:
    rwset = msg(
        "rwset.TxReadWriteSet",
        data_model=0,
        ns_rwset=[
            msg("rwset.NsReadWriteSet", namespace="receivable", rwset=P(kv_rwset())),
            msg(
                "rwset.NsReadWriteSet",
                namespace="_lifecycle",
                rwset=P(msg("kvrwset.KVRWSet", reads=[msg("kvrwset.KVRead", key="ns/receivable")])),
                collection_hashed_rwset=[
                    msg(
                        "rwset.CollectionHashedReadWriteSet",
                        collection_name="prices",
                        hashed_rwset=P(
                            msg(
                                "kvrwset.HashedRWSet",
                                hashed_writes=[
                                    msg(
                                        "kvrwset.KVWriteHash",
                                        key_hash=b"k" * 32,
                                        value_hash=b"v" * 32,
                                        is_purge=True,
                                    )
                                ],
                            )
                        ),
                        pvt_rwset_hash=b"h" * 32,
                    )
                ],
            ),
        ],
    )
    action = msg(
        "protos.ChaincodeAction",
        results=P(rwset),
        events=P(chaincode_event()),
        response=msg("protos.Response", status=200, message="OK", payload=b'{"ok":true}'),
        chaincode_id=chaincode_id(),
    )
    response_payload = msg(
        "protos.ProposalResponsePayload",
        proposal_hash=hashlib.sha256(b"proposal").digest(),
        extension=P(action),
    )
    endorsements = [
        msg("protos.Endorsement", endorser=identity("Org1MSP", CERT_ORG1), signature=SIG),
        msg("protos.Endorsement", endorser=identity("Org2MSP", CERT_ORG2), signature=SIG[::-1]),
    ]
    action_payload = msg(
        "protos.ChaincodeActionPayload",
        # As committed: the proposal payload without its TransientMap.
        chaincode_proposal_payload=P(
            msg("protos.ChaincodeProposalPayload", input=invocation_spec())
        ),
        action=msg(
            "protos.ChaincodeEndorsedAction",
            proposal_response_payload=P(response_payload),
            endorsements=endorsements,
        ),
    )
    transaction = msg(
        "protos.Transaction",
        actions=[
            msg("protos.TransactionAction", header=signature_header(), payload=P(action_payload))
        ],
    )
    payload = msg(
        "common.Payload",
        header=msg(
            "common.Header",
            channel_header=channel_header(3),  # ENDORSER_TRANSACTION
            signature_header=signature_header(),
        ),
        data=P(transaction),
    )
    return msg("common.Envelope", payload=P(payload), signature=SIG)


def proposal() -> M:
    return msg(
        "protos.Proposal",
        header=P(
            msg(
                "common.Header",
                channel_header=channel_header(3),
                signature_header=signature_header(),
            )
        ),
        payload=P(
            msg(
                "protos.ChaincodeProposalPayload",
                input=invocation_spec(),
                TransientMap={"price": b"1250.00", "buyer": b"\xffOrgB"},
            )
        ),
    )


def signed_proposal() -> M:
    return msg("protos.SignedProposal", proposal_bytes=P(proposal()), signature=SIG)


def block() -> M:
    small_envelope = msg(
        "common.Envelope",
        payload=P(
            msg(
                "common.Payload",
                header=msg("common.Header", channel_header=channel_header(0, tx_id="")),
                data=b"opaque",
            )
        ),
    )
    signatures_metadata = msg(
        "common.Metadata",
        value=P(
            msg(
                "common.OrdererBlockMetadata",
                last_config=msg("common.LastConfig", index=3),
                consenter_metadata=b"raft-index-42",
            )
        ),
        signatures=[
            msg("common.MetadataSignature", signature_header=signature_header(), signature=SIG),
            msg(
                "common.MetadataSignature",
                signature=SIG[::-1],
                identifier_header=P(msg("common.IdentifierHeader", identifier=2, nonce=NONCE)),
            ),
        ],
    )
    return msg(
        "common.Block",
        header=msg(
            "common.BlockHeader",
            number=12,
            previous_hash=hashlib.sha256(b"block-11").digest(),
            data_hash=hashlib.sha256(b"data-12").digest(),
        ),
        data=msg("common.BlockData", data=[P(endorser_transaction_envelope()), P(small_envelope)]),
        metadata=msg(
            "common.BlockMetadata",
            metadata=[
                P(signatures_metadata),  # SIGNATURES
                P(msg("common.Metadata", value=P(msg("common.LastConfig", index=3)))),
                bytes([0, 11]),  # TRANSACTIONS_FILTER: VALID, MVCC_READ_CONFLICT
                b"",  # ORDERER (deprecated)
                hashlib.sha256(b"commit").digest(),  # COMMIT_HASH
            ],
        ),
    )


def seek_info_envelope() -> M:
    seek_info = msg(
        "orderer.SeekInfo",
        start=msg("orderer.SeekPosition", oldest=msg("orderer.SeekOldest")),
        stop=msg(
            "orderer.SeekPosition",
            specified=msg("orderer.SeekSpecified", number=2**53 - 1),
        ),
        behavior=1,  # FAIL_IF_NOT_READY
        error_response=1,  # BEST_EFFORT
        content_type=1,  # HEADER_WITH_SIG
    )
    payload = msg(
        "common.Payload",
        header=msg(
            "common.Header",
            channel_header=P(
                msg("common.ChannelHeader", type=5, timestamp=TIMESTAMP, channel_id=CHANNEL)
            ),
            signature_header=signature_header(),
        ),
        data=P(seek_info),
    )
    return msg("common.Envelope", payload=P(payload), signature=SIG)


def filtered_block() -> M:
    return msg(
        "protos.FilteredBlock",
        channel_id=CHANNEL,
        number=12,
        filtered_transactions=[
            msg(
                "protos.FilteredTransaction",
                txid=TX_ID,
                type=3,
                tx_validation_code=0,
                transaction_actions=msg(
                    "protos.FilteredTransactionActions",
                    chaincode_actions=[
                        msg("protos.FilteredChaincodeAction", chaincode_event=chaincode_event(b""))
                    ],
                ),
            ),
            msg("protos.FilteredTransaction", txid="ff" * 32, type=3, tx_validation_code=11),
            msg("protos.FilteredTransaction", txid="", type=1, tx_validation_code=255),
        ],
    )


def commit_status_request() -> M:
    return msg(
        "gateway.SignedCommitStatusRequest",
        request=P(
            msg(
                "gateway.CommitStatusRequest",
                transaction_id=TX_ID,
                channel_id=CHANNEL,
                identity=identity("Org1MSP", CERT_ORG1),
            )
        ),
        signature=SIG,
    )


def chaincode_events_request(start: M) -> M:
    return msg(
        "gateway.SignedChaincodeEventsRequest",
        request=P(
            msg(
                "gateway.ChaincodeEventsRequest",
                channel_id=CHANNEL,
                chaincode_id="receivable",
                identity=identity("Org1MSP", CERT_ORG1),
                start_position=start,
                after_transaction_id=TX_ID,
            )
        ),
        signature=SIG,
    )


CASES: dict[str, M] = {
    "endorser-transaction-envelope": endorser_transaction_envelope(),
    "signed-proposal": signed_proposal(),
    "block": block(),
    "seek-info-envelope": seek_info_envelope(),
    "filtered-block": filtered_block(),
    "peer-deliver-response-filtered": msg(
        "protos.DeliverResponse", filtered_block=filtered_block()
    ),
    "peer-deliver-response-status": msg("protos.DeliverResponse", status=404),
    "orderer-deliver-response-block": msg("orderer.DeliverResponse", block=block()),
    "orderer-deliver-response-status": msg("orderer.DeliverResponse", status=200),
    "broadcast-response": msg("orderer.BroadcastResponse", status=400, info="bad envelope"),
    "processed-transaction": msg(
        "protos.ProcessedTransaction",
        transactionEnvelope=endorser_transaction_envelope(),
        validationCode=11,
    ),
    "proposal-response": msg(
        "protos.ProposalResponse",
        version=1,
        timestamp=TIMESTAMP,
        response=msg("protos.Response", status=500, message="chaincode error"),
        payload=b"\x0a\x00",
        endorsement=msg(
            "protos.Endorsement", endorser=identity("Org2MSP", CERT_ORG2), signature=SIG
        ),
        interest=msg(
            "protos.ChaincodeInterest",
            chaincodes=[
                msg(
                    "protos.ChaincodeCall",
                    name="receivable",
                    collection_names=["prices", "terms"],
                    no_private_reads=True,
                    no_public_writes=True,
                    disregard_namespace_policy=True,
                    key_policies=[
                        msg(
                            "common.SignaturePolicyEnvelope",
                            rule=msg(
                                "common.SignaturePolicy",
                                n_out_of=msg(
                                    "common.SignaturePolicy.NOutOf",
                                    n=1,
                                    rules=[msg("common.SignaturePolicy", signed_by=0)],
                                ),
                            ),
                            identities=[
                                msg(
                                    "common.MSPPrincipal",
                                    principal_classification=0,
                                    principal=P(
                                        msg("common.MSPRole", msp_identifier="Org1MSP", role=3)
                                    ),
                                )
                            ],
                        )
                    ],
                )
            ],
        ),
    ),
    "gateway-endorse-request": msg(
        "gateway.EndorseRequest",
        transaction_id=TX_ID,
        channel_id=CHANNEL,
        proposed_transaction=signed_proposal(),
        endorsing_organizations=["Org1MSP", "Org2MSP"],
    ),
    "gateway-endorse-response": msg(
        "gateway.EndorseResponse", prepared_transaction=endorser_transaction_envelope()
    ),
    "gateway-submit-request": msg(
        "gateway.SubmitRequest",
        transaction_id=TX_ID,
        channel_id=CHANNEL,
        prepared_transaction=endorser_transaction_envelope(),
    ),
    "gateway-submit-response": msg("gateway.SubmitResponse"),
    "gateway-signed-commit-status-request": commit_status_request(),
    "gateway-commit-status-response": msg(
        "gateway.CommitStatusResponse", result=11, block_number=2**40
    ),
    "gateway-evaluate-request": msg(
        "gateway.EvaluateRequest",
        transaction_id=TX_ID,
        channel_id=CHANNEL,
        proposed_transaction=signed_proposal(),
        target_organizations=["Org3MSP"],
    ),
    "gateway-evaluate-response": msg(
        "gateway.EvaluateResponse",
        result=msg("protos.Response", status=200, payload=b'{"state":"ISSUED"}'),
    ),
    "gateway-chaincode-events-request-specified": chaincode_events_request(
        msg("orderer.SeekPosition", specified=msg("orderer.SeekSpecified", number=9))
    ),
    "gateway-chaincode-events-request-next-commit": chaincode_events_request(
        msg("orderer.SeekPosition", next_commit=msg("orderer.SeekNextCommit"))
    ),
    "gateway-chaincode-events-request-newest": chaincode_events_request(
        msg("orderer.SeekPosition", newest=msg("orderer.SeekNewest"))
    ),
    "gateway-chaincode-events-response": msg(
        "gateway.ChaincodeEventsResponse",
        events=[chaincode_event(), chaincode_event(b"")],
        block_number=12,
    ),
    "gateway-error-detail": msg(
        "gateway.ErrorDetail", address="peer0.org1:7051", msp_id="Org1MSP", message="timeout"
    ),
    "gateway-proposed-transaction": msg(
        "gateway.ProposedTransaction",
        transaction_id=TX_ID,
        proposal=signed_proposal(),
        endorsing_organizations=["Org1MSP"],
    ),
    "gateway-prepared-transaction": msg(
        "gateway.PreparedTransaction",
        transaction_id=TX_ID,
        envelope=endorser_transaction_envelope(),
    ),
}


def b64decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@pytest.fixture(scope="module")
def python_to_fabric(fabric_schema: JsonObject) -> dict[str, list[JsonObject]]:
    """Fabric's decoding of every level of every case, as serialised by us (one Node run)."""
    items = [(case, t, data) for case, tree in CASES.items() for t, data, _ in levels(tree)]
    request = {"decode": [{"type": t, "b64": base64.b64encode(d).decode()} for _, t, d in items]}
    decoded = run_node(request)["decode"]
    out: dict[str, list[JsonObject]] = {case: [] for case in CASES}
    for (case, _, _), result in zip(items, decoded, strict=True):
        out[case].append(result)
    return out


@pytest.fixture(scope="module")
def fabric_to_python(fabric_schema: JsonObject) -> dict[str, JsonObject]:
    """Every case built by Fabric's JS from field values alone (one Node run)."""
    request = {"encode": [node_spec(tree, fabric_schema) for tree in CASES.values()]}
    encoded = run_node(request)["encode"]
    return dict(zip(CASES, encoded, strict=True))


@pytest.mark.parametrize("case", CASES)
def test_fabric_decodes_our_bytes(
    case: str, fabric_schema: JsonObject, python_to_fabric: dict[str, list[JsonObject]]
) -> None:
    ours = levels(CASES[case])
    theirs = python_to_fabric[case]
    assert len(ours) == len(theirs)
    for (type_name, data, tree), fabric in zip(ours, theirs, strict=True):
        expected = js_object(to_py(tree), schema=fabric_schema)
        assert fabric["object"] == expected, type_name
        # Fabric re-encodes what it decoded to the very same bytes.
        assert b64decode(fabric["b64"]) == data, type_name


@pytest.mark.parametrize("case", CASES)
def test_we_decode_fabric_bytes(
    case: str, fabric_schema: JsonObject, fabric_to_python: dict[str, JsonObject]
) -> None:
    tree = CASES[case]
    built = fabric_to_python[case]
    assert built["object"] == js_object(to_py(tree), schema=fabric_schema)
    found = nested_bytes(tree, b64decode(built["b64"]))
    assert len(found) == len(levels(tree))
    for level, data in found:
        decoded = message_class(level.type_name).FromString(data)
        assert decoded == to_py(level), level.type_name
        assert js_object(decoded, fabric_schema) == js_object(to_py(level), fabric_schema)
        # Our deterministic encoding is byte-identical to Fabric's.
        assert serialize(decoded) == data, level.type_name


def test_levels_reach_the_innermost_messages() -> None:
    # Guards the walk itself: the envelope case must check down to the KVRWSet,
    # the event and the endorsers' identities, not just the outer Envelope.
    types = [t for t, _, _ in levels(CASES["endorser-transaction-envelope"])]
    for inner in (
        "common.Payload",
        "common.ChannelHeader",
        "protos.ChaincodeHeaderExtension",
        "common.SignatureHeader",
        "msp.SerializedIdentity",
        "protos.Transaction",
        "protos.ChaincodeActionPayload",
        "protos.ChaincodeProposalPayload",
        "protos.ChaincodeInvocationSpec",
        "protos.ProposalResponsePayload",
        "protos.ChaincodeAction",
        "rwset.TxReadWriteSet",
        "kvrwset.KVRWSet",
        "kvrwset.HashedRWSet",
        "protos.ChaincodeEvent",
    ):
        assert inner in types
    assert types.count("kvrwset.KVRWSet") == 2
