"""Three orderers and the endorsing peers of CoreMSP and BankMSP as real processes
with mutual TLS: endorse on both peers, order, commit on both; conflicts, phantom
reads, duplicate txids and a failed endorsement policy get their codes; a peer
SIGKILLed under load restarts, catches up and agrees with the other on every block
and on its state."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import block as blk
from common import txutil
from peer.ledger import LevelLedger, Namespace, Write, rwset
from peer.ledger.codec import block_commit_hash
from protos.common import common_pb2
from protos.gateway import gateway_pb2, gateway_pb2_grpc
from protos.peer import chaincode_pb2, proposal_response_pb2
from protos.peer import transaction_pb2 as codes
from tests.integration.network import (
    BENCH,
    CHANNEL,
    Network,
    broadcast,
    endorse,
    propose,
    statuses,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CORE, BANK = "CoreMSP", "BankMSP"


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    network = Network.create(tmp_path)
    try:
        network.start()
        yield network
    finally:
        network.stop()


def _codes(found: dict[str, list[tuple[int, int]]], tx_id: str) -> list[int]:
    return [code for _, code in found[tx_id]]


def _phantom_tx(net: Network, prefix: str) -> tuple[common_pb2.Envelope, str]:
    """A transaction that read the range [prefix, prefix~) as empty and writes a
    count, endorsed by both peers' keys (bench has no range query of its own, so the
    test signs the endorsements as the peers would)."""
    creator = net.user("core")
    _, parsed = propose(creator, "Put", {"key": f"{prefix}count", "value": "0"})
    ns = Namespace(BENCH)
    results = rwset.encode(
        rwset.TxRWSet(
            (
                rwset.NsRWSet(
                    ns,
                    range_queries=(rwset.RangeQuery(prefix, prefix + "~", True, ()),),
                    writes=(Write(ns, f"{prefix}count", b"0"),),
                ),
            )
        )
    )
    responses = [
        txutil.build_proposal_response(
            parsed.hash,
            results=results,
            events=b"",
            response=proposal_response_pb2.Response(status=200, payload=b"{}"),
            chaincode_id=chaincode_pb2.ChaincodeID(name=BENCH, version="1.0"),
            signer=net.peer_identity(org),
        )
        for org in ("core", "bank")
    ]
    return txutil.assemble_transaction(parsed, responses, creator), parsed.tx_id


def _compare_ledgers(a: LevelLedger, b: LevelLedger) -> int:
    """Every block's header hash, codes and COMMIT_HASH, and the state, are equal."""
    assert a.height() == b.height()
    for left, right in zip(a.blocks(0), b.blocks(0), strict=True):
        number = left.header.number
        assert blk.header_hash(left.header) == blk.header_hash(right.header), number
        assert (
            left.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
            == right.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
        ), number
        assert block_commit_hash(left) == block_commit_hash(right), number
        assert a.commit_hash(number) == b.commit_hash(number), number
    assert a.state_hash() == b.state_hash()
    return a.height()


def test_endorse_order_validate_commit_on_two_peers(net: Network) -> None:
    alice, bob = net.user("core"), net.user("bank")

    # A transaction endorsed by both orgs commits VALID on both peers.
    put, put_id = endorse(net, alice, "Put", {"key": "a", "value": "1"})
    broadcast(net, [put])
    for mspid in (CORE, BANK):
        assert _codes(statuses(net, mspid, [put_id]), put_id) == [codes.VALID]

    # Read-modify-write conflicts: all endorsed on the same state → one VALID.
    rmws = [
        endorse(net, alice if i % 2 else bob, "ReadModifyWrite", {"key": "hot", "value": str(i)})
        for i in range(5)
    ]
    broadcast(net, [env for env, _ in rmws])
    found = statuses(net, CORE, [tx_id for _, tx_id in rmws])
    results = Counter(_codes(found, tx_id)[0] for _, tx_id in rmws)
    assert results == {codes.VALID: 1, codes.MVCC_READ_CONFLICT: 4}

    # A phantom: a range read as empty, then a key appears in it before commit.
    phantom, phantom_id = _phantom_tx(net, "ph/")
    insert, insert_id = endorse(net, bob, "Put", {"key": "ph/1", "value": "x"})
    broadcast(net, [insert])
    assert _codes(statuses(net, CORE, [insert_id]), insert_id) == [codes.VALID]
    broadcast(net, [phantom])
    assert _codes(statuses(net, CORE, [phantom_id]), phantom_id) == [codes.PHANTOM_READ_CONFLICT]

    # A duplicate txid: the committed transaction ordered again, twice.
    broadcast(net, [put, put])
    found = statuses(net, CORE, [put_id], times=3)
    assert _codes(found, put_id) == [codes.VALID, codes.DUPLICATE_TXID, codes.DUPLICATE_TXID]

    # Endorsed by CoreMSP only: AND(Core, Bank) is not satisfied.
    lonely, lonely_id = endorse(net, alice, "Put", {"key": "z", "value": "1"}, orgs=[CORE])
    broadcast(net, [lonely])
    for mspid in (CORE, BANK):
        found = statuses(net, mspid, [lonely_id])
        assert _codes(found, lonely_id) == [codes.ENDORSEMENT_POLICY_FAILURE]

    # Both peers hold the same chain and state.
    height = net.wait_heights_equal()
    assert height >= 6
    assert net.peer_metric(
        CORE, "peer_transactions_validated_total", 'channel="trade",code="VALID"'
    )
    for mspid in (CORE, BANK):
        net.kill_peer(mspid, signal.SIGTERM)
    core, bank = net.open_ledger(CORE), net.open_ledger(BANK)
    try:
        assert _compare_ledgers(core, bank) == height
        value = core.get_state(BENCH, "a")
        assert value is not None
        assert value.value == b"1"
    finally:
        core.close()
        bank.close()


def test_submit_through_the_gateway(net: Network) -> None:
    """The Core peer's Gateway endorses on both orgs' peers (the Bank's over the
    node's mutual-TLS pool), submits to an orderer and reports the commit status."""
    alice = net.user("core")
    signed, parsed = propose(alice, "Put", {"key": "gw", "value": "1"})
    with net.channel(net.peers[CORE].address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
        endorsed = stub.Endorse(
            gateway_pb2.EndorseRequest(
                transaction_id=parsed.tx_id, channel_id=CHANNEL, proposed_transaction=signed
            ),
            timeout=20,
        )
        prepared = endorsed.prepared_transaction
        prepared.signature = alice.sign(prepared.payload)
        stub.Submit(
            gateway_pb2.SubmitRequest(
                transaction_id=parsed.tx_id, channel_id=CHANNEL, prepared_transaction=prepared
            ),
            timeout=20,
        )
        request = gateway_pb2.CommitStatusRequest(
            transaction_id=parsed.tx_id, channel_id=CHANNEL, identity=alice.serialize()
        ).SerializeToString()
        status = stub.CommitStatus(
            gateway_pb2.SignedCommitStatusRequest(request=request, signature=alice.sign(request)),
            timeout=20,
        )
    assert status.result == codes.VALID
    assert _codes(statuses(net, BANK, [parsed.tx_id]), parsed.tx_id) == [codes.VALID]


def test_peer_sigkilled_under_load_catches_up(net: Network) -> None:
    alice = net.user("core")
    # Endorse everything first: with AND(Core, Bank) nothing can be endorsed while
    # the bank's peer is down, but what was endorsed can still be ordered.
    channels = {m: net.channel(p.address) for m, p in net.peers.items()}
    try:
        prepared = [
            endorse(net, alice, "Put", {"key": f"k{i:05d}", "value": str(i)}, channels=channels)
            for i in range(600)
        ]
    finally:
        for channel in channels.values():
            channel.close()
    acked: list[str] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            for start in range(0, len(prepared), 30):
                chunk = prepared[start : start + 30]
                broadcast(net, [env for env, _ in chunk])
                acked.extend(tx_id for _, tx_id in chunk)
                time.sleep(0.05)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    loader = threading.Thread(target=load)
    loader.start()
    deadline = time.monotonic() + 30
    while net.height(BANK) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    before = net.height(BANK)
    net.kill_peer(BANK)  # SIGKILL, blocks arriving: very likely mid-commit
    time.sleep(1.5)  # the others move on: the restarted peer has blocks to catch up
    net.start_peer(BANK)
    loader.join(60)
    assert not loader.is_alive()
    assert not errors, errors
    assert len(acked) == len(prepared)

    found = statuses(net, BANK, acked, timeout=40)
    assert all(_codes(found, tx_id) == [codes.VALID] for tx_id in acked)
    height = net.wait_heights_equal()
    assert height > before
    for mspid in (CORE, BANK):
        net.kill_peer(mspid, signal.SIGTERM)
    core, bank = net.open_ledger(CORE), net.open_ledger(BANK)
    try:
        assert _compare_ledgers(core, bank) == height
        for i, (_, tx_id) in enumerate(prepared):
            location = bank.tx_location(tx_id)
            assert location is not None
            assert location.validation_code == codes.VALID
            value = bank.get_state(BENCH, f"k{i:05d}")
            assert value is not None
            assert value.value == str(i).encode()
        # Applied once: every key has exactly one history entry.
        assert all(len(bank.history(BENCH, f"k{i:05d}")) == 1 for i in range(len(prepared)))
    finally:
        core.close()
        bank.close()
