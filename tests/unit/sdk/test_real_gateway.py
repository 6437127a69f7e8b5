"""The SDK end to end against the real `peer.gateway.GatewayServicer` (real endorsers,
committer and validation; fake orderers), as `tests/unit/peer/gateway` runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from client import CommitError, EndorseError, EvaluateError, Gateway, Identity
from protos.peer import transaction_pb2
from tests.unit.peer.endorser.world import World, make_world
from tests.unit.peer.gateway.harness import Node, gateway_node


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture
def node(world: World) -> Iterator[Node]:
    with gateway_node(world) as node:
        yield node


def sdk(node: Node, who: str = "alice") -> Gateway:
    """A Gateway whose calls go to the harness's server (it owns its own channel)."""
    identity = Identity.from_signing_identity(getattr(node.world, who))
    gateway = Gateway.connect("127.0.0.1:1", identity=identity)
    gateway._connection = replace(gateway._connection, gateway=node.stub)
    return gateway


def _commit_last(node: Node) -> int:
    return node.commit([node.orderers["orderer0:7050"].received[-1].SerializeToString()])


def test_submit_then_evaluate(node: Node) -> None:
    with sdk(node) as gw:
        contract = gw.network("trade").contract("bench")
        _, commit = contract.submit_async("Put", json.dumps({"key": "k", "value": "v"}))
        number = _commit_last(node)
        status = commit.status()
        assert (status.successful, status.block_number) == (True, number)
    with sdk(node, "bob") as gw:
        out = gw.network("trade").contract("bench").evaluate("Get", json.dumps({"key": "k"}))
    assert json.loads(out) == {"key": "k", "value": "v"}


def test_contract_errors_carry_their_code(node: Node) -> None:
    args = json.dumps({"code": "NO_FUNDS", "message": "too poor"})
    with sdk(node) as gw:
        contract = gw.network("trade").contract("bench")
        with pytest.raises(EvaluateError) as evaluated:
            contract.evaluate("Fail", args)
        with pytest.raises(EndorseError) as endorsed:
            contract.submit("Fail", args)
    assert evaluated.value.code == "NO_FUNDS"
    assert evaluated.value.details[0].msp_id == "CoreMSP"
    assert endorsed.value.code == "NO_FUNDS"
    assert endorsed.value.transaction_id


def test_an_mvcc_conflict_is_a_commit_error(node: Node) -> None:
    with sdk(node) as gw:
        contract = gw.network("trade").contract("bench")
        _, first = contract.submit_async("Put", json.dumps({"key": "m", "value": "1"}))
        _commit_last(node)
        first.status()
        # Two updates read the same version; the second in the block loses.
        rmw = "ReadModifyWrite"
        _, one = contract.submit_async(rmw, json.dumps({"key": "m", "value": "2"}))
        _, two = contract.submit_async(rmw, json.dumps({"key": "m", "value": "3"}))
        received = node.orderers["orderer0:7050"].received
        node.commit([received[-2].SerializeToString(), received[-1].SerializeToString()])
        assert one.status().successful
        status = two.status()
    assert status.code == transaction_pb2.MVCC_READ_CONFLICT
    error = CommitError(status.transaction_id, status.code, status.block_number)
    assert error.code == "MVCC_READ_CONFLICT"
