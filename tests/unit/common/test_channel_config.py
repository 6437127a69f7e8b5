"""Channel config, genesis block and the channel bundle (MSPs + channel policies)."""

from __future__ import annotations

import json

import pytest

from common.config.bundle import ChannelBundle
from common.config.channel import ChannelConfig, ChannelConfigError
from common.config.genesis import config_from_block, genesis_block
from common.errors import ScfError
from common.policies import PolicyNotSatisfiedError, SignedData, evaluate
from protos.common import common_pb2
from tests.support.consortium import channel_config, make_org


@pytest.fixture(scope="module")
def world() -> dict[str, object]:
    core = make_org("CoreMSP", "core")
    bank = make_org("BankMSP", "bank")
    regulator = make_org("RegulatorMSP", "regulator")
    orderer = make_org("OrdererMSP", "orderer")
    consenters = [orderer.member(f"orderer{i}", "orderer") for i in range(3)]
    config = channel_config(
        "trade",
        [core, bank, regulator],
        orderer,
        consenters,
        chaincodes={"receivable": "AND('CoreMSP.peer','BankMSP.peer')"},
        read_only=["RegulatorMSP"],
    )
    return {
        "config": config,
        "core_user": core.member("User1", "client"),
        "core_peer": core.member("peer0", "peer"),
        "bank_peer": bank.member("peer0", "peer"),
        "auditor": regulator.member("Auditor1", "client"),
        "consenter": consenters[0],
    }


def _signed(identity: object, data: bytes) -> SignedData:
    return SignedData(identity.serialize(), data, identity.sign(data))  # type: ignore[attr-defined]


def test_genesis_block_round_trips_the_config(world: dict[str, object]) -> None:
    block = genesis_block(world["config"], timestamp_seconds=1_700_000_000)  # type: ignore[arg-type]
    assert block.header.number == 0
    config = config_from_block(common_pb2.Block.FromString(block.SerializeToString()))
    assert config.channel_id == "trade"
    assert [o.mspid for o in config.application_orgs] == ["CoreMSP", "BankMSP", "RegulatorMSP"]
    assert len(config.consenters) == 3
    assert config.batch.max_message_count == 500
    receivable = config.chaincodes["receivable"].endorsement_policy
    assert str(receivable) == "AND('CoreMSP.peer', 'BankMSP.peer')"
    values = config.contract_config_values()
    assert json.loads(values["org_kinds"])["RegulatorMSP"] == "regulator"
    assert json.loads(values["policy_parameters"]) == {"max_depth": 5}


def test_tampered_genesis_data_is_refused(world: dict[str, object]) -> None:
    block = genesis_block(world["config"])  # type: ignore[arg-type]
    block.data.data[0] = block.data.data[0] + b"\x00"
    with pytest.raises(ScfError) as caught:
        config_from_block(block)
    assert getattr(caught.value, "code", "") in {"DATA_HASH_MISMATCH", "CHANNEL_CONFIG_INVALID"}


def test_unknown_org_in_endorsement_policy_is_a_named_error(world: dict[str, object]) -> None:
    config = type(world["config"])()
    config.CopyFrom(world["config"])  # type: ignore[arg-type]
    config.chaincodes[0].endorsement_policy = "AND('CoreMSP.peer','NoSuchMSP.peer')"
    with pytest.raises(ChannelConfigError) as caught:
        ChannelConfig.from_proto(config)
    assert caught.value.code == "POLICY_UNKNOWN_ORG"


def test_syntax_error_in_policy_is_a_named_error(world: dict[str, object]) -> None:
    config = type(world["config"])()
    config.CopyFrom(world["config"])  # type: ignore[arg-type]
    config.chaincodes[0].endorsement_policy = "AND('CoreMSP.peer',"
    with pytest.raises(ChannelConfigError) as caught:
        ChannelConfig.from_proto(config)
    assert caught.value.code == "POLICY_SYNTAX"


def test_writers_admit_members_but_not_the_read_only_regulator(world: dict[str, object]) -> None:
    bundle = ChannelBundle(ChannelConfig.from_proto(world["config"]))  # type: ignore[arg-type]
    request = b"broadcast this"
    assert bundle.evaluate("Writers", [_signed(world["core_user"], request)]).satisfied
    assert bundle.evaluate("Readers", [_signed(world["auditor"], request)]).satisfied
    assert not bundle.evaluate("Writers", [_signed(world["auditor"], request)]).satisfied
    with pytest.raises(PolicyNotSatisfiedError):
        bundle.evaluate_or_raise("Writers", [_signed(world["auditor"], request)])


def test_forged_signature_does_not_satisfy_writers(world: dict[str, object]) -> None:
    bundle = ChannelBundle(ChannelConfig.from_proto(world["config"]))  # type: ignore[arg-type]
    user = world["core_user"]
    forged = SignedData(user.serialize(), b"one thing", user.sign(b"another"))  # type: ignore[attr-defined]
    assert not bundle.evaluate("Writers", [forged]).satisfied


def test_endorsement_policy_and_consenters(world: dict[str, object]) -> None:
    bundle = ChannelBundle(ChannelConfig.from_proto(world["config"]))  # type: ignore[arg-type]
    policy = bundle.endorsement_policy("receivable")
    both = [_signed(world["core_peer"], b"r"), _signed(world["bank_peer"], b"r")]
    assert evaluate(policy, both, bundle.msp_manager).satisfied
    assert not evaluate(policy, both[:1], bundle.msp_manager).satisfied
    with pytest.raises(ChannelConfigError) as caught:
        bundle.endorsement_policy("nope")
    assert caught.value.code == "CHAINCODE_NOT_FOUND"
    assert bundle.is_consenter(world["consenter"].serialize())  # type: ignore[attr-defined]
    assert not bundle.is_consenter(world["core_peer"].serialize())  # type: ignore[attr-defined]
