"""client.netconfig: the default consortium and named errors with field paths."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from client.netconfig import (
    NetworkConfigError,
    OrgKind,
    UserRole,
    default_network_config,
    default_network_yaml,
    load_network_config,
    parse_network_config,
)

Doc = dict[str, Any]


def _doc() -> Doc:
    doc = yaml.safe_load(default_network_yaml())
    assert isinstance(doc, dict)
    return doc


def test_default_consortium() -> None:
    net = default_network_config()
    assert [o.name for o in net.orgs] == [
        "orderer", "core", "bank", "warehouse", "regulator",
        "supplier1", "supplier2", "supplier3", "bank2", "govfund",
    ]  # fmt: skip
    assert [o.name for o in net.org("orderer").orderers] == ["orderer0", "orderer1", "orderer2"]
    assert net.org("orderer").mspid == "OrdererMSP"
    assert [o.name for o in net.peer_orgs] == ["core", "bank", "warehouse", "regulator"]
    assert net.org("regulator").peers[0].endorser is False
    assert all(p.endorser for o in ("core", "bank", "warehouse") for p in net.org(o).peers)
    assert [o.tier for o in net.orgs if o.kind is OrgKind.SUPPLIER] == [1, 2, 3]
    assert net.org_by_mspid("Supplier2MSP").name == "supplier2"
    for org in ("bank2", "govfund", "supplier1"):
        assert net.org(org).peers == ()
        assert net.org(org).orderers == ()
    bank_users = {u.name: u for u in net.org("bank").users}
    assert bank_users["Admin"].role is UserRole.ADMIN
    assert bank_users["User1"].role is UserRole.CLIENT
    assert bank_users["Appraiser"].attributes == {"role": "appraiser"}
    core_users = {u.name: u for u in net.org("core").users}
    assert core_users["Treasurer"].attributes == {"role": "treasurer"}
    assert [u.name for u in net.org("regulator").users] == ["Admin", "Auditor1"]


def test_default_channel() -> None:
    trade = default_network_config().channel("trade")
    assert len(trade.orgs) == 9
    assert "RegulatorMSP" in trade.orgs
    assert trade.orderer_orgs == ("OrdererMSP",)
    assert (trade.batch.max_message_count, trade.batch.batch_timeout_ms) == (500, 100)
    assert trade.batch.preferred_max_bytes == 2 * 1024 * 1024
    assert trade.batch.absolute_max_bytes == 10 * 1024 * 1024
    assert (trade.raft.tick_ms, trade.raft.election_ticks, trade.raft.heartbeat_ticks) == (
        100,
        10,
        1,
    )
    assert trade.raft.snapshot_interval_blocks == 100
    policies = {c.name: c.endorsement_policy for c in trade.chaincodes}
    assert policies == {
        "receivable": "AND('CoreMSP.peer','BankMSP.peer')",
        "warehouse": "AND('WarehouseMSP.peer','BankMSP.peer')",
        "policy": "AND('CoreMSP.peer','BankMSP.peer')",
        "subsidy": "AND('CoreMSP.peer','BankMSP.peer')",
        "bench": "AND('CoreMSP.peer','BankMSP.peer')",
    }
    assert trade.governance.approvers == ("CoreMSP", "RegulatorMSP")


def test_default_addresses_do_not_collide() -> None:
    net = default_network_config()
    ports = [
        p for o in net.orgs for n in o.orderers for p in (n.port, n.cluster_port, n.operations_port)
    ]
    ports += [p for o in net.orgs for n in o.peers for p in (n.port, n.operations_port)]
    assert len(ports) == len(set(ports)) == 3 * 3 + 4 * 2
    hosts = {n.host for o in net.orgs for n in o.peers} | {
        n.host for o in net.orgs for n in o.orderers
    }
    assert hosts == {"127.0.0.1"}


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "network.yaml"
    path.write_text(default_network_yaml())
    assert load_network_config(path) == default_network_config()


def _set(path: list[Any], value: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


CASES: list[tuple[str, Callable[[Doc], None], str]] = [
    ("unknown-kind", _set(["orgs", 1, "kind"], "factory"), "orgs[1].kind"),
    ("missing-mspid", _delete(["orgs", 2, "mspid"]), "orgs[2].mspid"),
    ("unknown-field", _set(["orgs", 1, "peerz"], []), "orgs[1].peerz"),
    ("port-not-int", _set(["orgs", 1, "peers", 0, "port"], "8051"), "orgs[1].peers[0].port"),
    ("port-bool", _set(["orgs", 1, "peers", 0, "port"], True), "orgs[1].peers[0].port"),
    ("port-range", _set(["orgs", 1, "peers", 0, "port"], 70000), "orgs[1].peers[0].port"),
    ("port-clash", _set(["orgs", 2, "peers", 0, "port"], 8051), "orgs[2].peers[0].port"),
    ("ops-clash", _set(["orgs", 0, "orderers", 1, "operations_port"], 9443),
     "orgs[0].orderers[1].operations_port"),
    ("endorser-not-bool", _set(["orgs", 1, "peers", 0, "endorser"], "yes"),
     "orgs[1].peers[0].endorser"),
    ("dup-mspid", _set(["orgs", 2, "mspid"], "CoreMSP"), "orgs[2].mspid"),
    ("dup-org-name", _set(["orgs", 2, "name"], "core"), "orgs[2].name"),
    ("bad-user-role", _set(["orgs", 1, "users", 0, "role"], "peer"), "orgs[1].users[0].role"),
    ("reserved-attr", _set(["orgs", 1, "users", 1, "attributes"], {"hf.Type": "x"}),
     "orgs[1].users[1].attributes.hf.Type"),
    ("dup-user", _set(["orgs", 1, "users", 1, "name"], "Admin"), "orgs[1].users[1].name"),
    ("orderer-org-without-orderers", _set(["orgs", 0, "orderers"], []), "orgs[0].orderers"),
    ("peer-org-with-orderers", _set(["orgs", 1, "orderers"], [
        {"name": "o", "host": "h", "port": 1, "cluster_port": 2, "operations_port": 3}]),
     "orgs[1].orderers"),
    ("bad-org-name", _set(["orgs", 1, "name"], "Core Enterprise"), "orgs[1].name"),
    ("unknown-member", _set(["channels", 0, "orgs", 0], "NopeMSP"), "channels[0].orgs[0]"),
    ("orderer-as-member", _set(["channels", 0, "orgs", 0], "OrdererMSP"), "channels[0].orgs[0]"),
    ("member-as-orderer", _set(["channels", 0, "orderer_orgs"], ["CoreMSP"]),
     "channels[0].orderer_orgs[0]"),
    ("bad-channel-name", _set(["channels", 0, "name"], "Trade"), "channels[0].name"),
    ("zero-batch", _set(["channels", 0, "batch", "max_message_count"], 0),
     "channels[0].batch.max_message_count"),
    ("preferred-over-absolute", _set(["channels", 0, "batch", "preferred_max_bytes"], 10**9),
     "channels[0].batch.preferred_max_bytes"),
    ("election-le-heartbeat", _set(["channels", 0, "raft", "election_ticks"], 1),
     "channels[0].raft.election_ticks"),
    ("policy-syntax", _set(["channels", 0, "chaincodes", 0, "endorsement_policy"], "CoreMSP"),
     "channels[0].chaincodes[0].endorsement_policy"),
    ("policy-unknown-org", _set(["channels", 0, "chaincodes", 0, "endorsement_policy"],
                                "AND('CoreMSP.peer','NopeMSP.peer')"),
     "channels[0].chaincodes[0].endorsement_policy"),
    ("policy-regulator-endorses", _set(["channels", 0, "chaincodes", 0, "endorsement_policy"],
                                       "OR('RegulatorMSP.peer','BankMSP.peer')"),
     "channels[0].chaincodes[0].endorsement_policy"),
    ("policy-bad-role", _set(["channels", 0, "chaincodes", 0, "endorsement_policy"],
                             "AND('CoreMSP.boss')"),
     "channels[0].chaincodes[0].endorsement_policy"),
    ("dup-chaincode", _set(["channels", 0, "chaincodes", 1, "name"], "receivable"),
     "channels[0].chaincodes[1].name"),
    ("policy-org-not-member", _set(["channels", 0, "orgs"], ["CoreMSP", "BankMSP"]),
     "channels[0].chaincodes[1].endorsement_policy"),
    ("no-approvers", _set(["channels", 0, "governance", "approvers"], []),
     "channels[0].governance.approvers"),
    ("orgs-not-list", _set(["orgs"], {"core": {}}), "orgs"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_config_names_the_field(mutate: Callable[[Doc], None], path: str) -> None:
    doc = copy.deepcopy(_doc())
    mutate(doc)
    with pytest.raises(NetworkConfigError) as info:
        parse_network_config(doc)
    assert info.value.code == "NETWORK_CONFIG_INVALID"
    assert info.value.path == path, str(info.value)
    assert str(info.value).startswith(f"NETWORK_CONFIG_INVALID: {path}: ")


def test_approver_must_be_member() -> None:
    doc = _doc()
    doc["channels"][0]["governance"]["approvers"] = ["CoreMSP", "Bank2MSP"]
    doc["channels"][0]["orgs"].remove("Bank2MSP")
    with pytest.raises(NetworkConfigError) as info:
        parse_network_config(doc)
    assert info.value.path == "channels[0].governance.approvers[1]"


def test_defaults_for_batch_and_raft() -> None:
    doc = _doc()
    del doc["channels"][0]["batch"]
    doc["channels"][0]["raft"] = {"tick_ms": 50}
    channel = parse_network_config(doc).channels[0]
    assert channel.batch.max_message_count == 500
    assert (channel.raft.tick_ms, channel.raft.election_ticks) == (50, 10)


def test_bad_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "network.yaml"
    path.write_text("orgs:\n  - name: [unclosed\n")
    with pytest.raises(NetworkConfigError) as info:
        load_network_config(path)
    assert info.value.code == "NETWORK_CONFIG_INVALID"
    assert "line" in info.value.message
    assert str(path) in info.value.message


def test_file_errors_carry_source(tmp_path: Path) -> None:
    with pytest.raises(NetworkConfigError) as info:
        load_network_config(tmp_path / "missing.yaml")
    assert info.value.code == "NETWORK_CONFIG_NOT_FOUND"
    path = tmp_path / "network.yaml"
    path.write_text("orgs: []\nchannels: []\n")
    with pytest.raises(NetworkConfigError) as info:
        load_network_config(path)
    assert info.value.path == "orgs"
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
