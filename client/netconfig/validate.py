"""Validation of a parsed network.yaml document into the schema (`client.netconfig.schema`):
types, ranges, unique names and addresses, references, endorsement-policy principals.
Every failure is a `NetworkConfigError` naming the field path."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

from client.netconfig.schema import (
    BatchConfig,
    ChaincodeConfig,
    ChannelConfig,
    GovernanceConfig,
    NetworkConfig,
    NetworkConfigError,
    OrdererConfig,
    OrgConfig,
    OrgKind,
    PeerConfig,
    RaftConfig,
    UserConfig,
    UserRole,
)
from common.msp.identity import MspId

_ORG_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z")
_MSPID = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,127}\Z")
_DOMAIN = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\Z"
)
_HOST = re.compile(r"[A-Za-z0-9.:_-]{1,253}\Z")
_CHANNEL = re.compile(r"[a-z][a-z0-9.-]{0,248}\Z")  # Fabric's channel-name rule
_CHAINCODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_VERSION = re.compile(r"[A-Za-z0-9_.+-]{1,64}\Z")
_ATTR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}\Z")
_PRINCIPAL = re.compile(r"""['"]([^'".]+)\.([A-Za-z]+)['"]""")
_POLICY_HEAD = re.compile(r"\s*(AND|and|OR|or|OutOf|outof)\s*\(")
_POLICY_ROLES = frozenset({"member", "admin", "client", "peer", "orderer"})

_T = TypeVar("_T")


def _fail(path: str, message: str) -> NetworkConfigError:
    return NetworkConfigError(path, message)


def _mapping(
    value: object, path: str, required: Sequence[str], optional: Sequence[str] = ()
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path or "<top>", f"must be a mapping, got {type(value).__name__}")
    allowed = set(required) | set(optional)
    for key in value:
        if key not in allowed:
            raise _fail(
                _join(path, str(key)),
                f"unknown field; allowed here: {', '.join(sorted(allowed))}",
            )
    for key in required:
        if key not in value:
            raise _fail(_join(path, key), "required field is missing")
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _str(value: object, path: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, f"must be a non-empty string, got {value!r}")
    if pattern is not None and not pattern.match(value):
        raise _fail(path, f"{value!r} is not valid{': ' + hint if hint else ''}")
    return value


def _int(value: object, path: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise _fail(path, f"must be {bound}, got {value}")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"must be true or false, got {value!r}")
    return value


def _list(value: object, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, f"must be a list, got {type(value).__name__}")
    return value


def _unique(items: Sequence[_T], key: str, path: str, get: Any) -> None:
    seen: set[object] = set()
    for i, item in enumerate(items):
        k = get(item)
        if k in seen:
            raise _fail(f"{path}[{i}].{key}", f"duplicate {key} {k!r}")
        seen.add(k)


def _port(value: object, path: str) -> int:
    return _int(value, path, 1, 65535)


def _parse_peer(raw: object, path: str) -> PeerConfig:
    m = _mapping(raw, path, ("name", "host", "port", "operations_port"), ("endorser",))
    return PeerConfig(
        name=_str(m["name"], f"{path}.name", _NODE_NAME, "letters, digits, '-' or '_'"),
        host=_str(m["host"], f"{path}.host", _HOST, "a host name or IP address"),
        port=_port(m["port"], f"{path}.port"),
        operations_port=_port(m["operations_port"], f"{path}.operations_port"),
        endorser=_bool(m.get("endorser", True), f"{path}.endorser"),
    )


def _parse_orderer(raw: object, path: str) -> OrdererConfig:
    m = _mapping(raw, path, ("name", "host", "port", "cluster_port", "operations_port"))
    return OrdererConfig(
        name=_str(m["name"], f"{path}.name", _NODE_NAME, "letters, digits, '-' or '_'"),
        host=_str(m["host"], f"{path}.host", _HOST, "a host name or IP address"),
        port=_port(m["port"], f"{path}.port"),
        cluster_port=_port(m["cluster_port"], f"{path}.cluster_port"),
        operations_port=_port(m["operations_port"], f"{path}.operations_port"),
    )


def _parse_user(raw: object, path: str) -> UserConfig:
    m = _mapping(raw, path, ("name", "role"), ("attributes",))
    role_text = _str(m["role"], f"{path}.role")
    if role_text not in {r.value for r in UserRole}:
        raise _fail(f"{path}.role", f"must be 'client' or 'admin', got {role_text!r}")
    attrs_raw = m.get("attributes") or {}
    attrs_path = f"{path}.attributes"
    if not isinstance(attrs_raw, Mapping):
        raise _fail(attrs_path, "must be a mapping of name: string")
    attrs: dict[str, str] = {}
    for k, v in attrs_raw.items():
        name = _str(k, attrs_path, _ATTR_NAME, "attribute names are identifiers")
        if name.startswith("hf."):
            raise _fail(f"{attrs_path}.{name}", "'hf.' attributes are reserved (set by cryptogen)")
        attrs[name] = _str(v, f"{attrs_path}.{name}")
    return UserConfig(
        name=_str(m["name"], f"{path}.name", _NODE_NAME, "letters, digits, '-' or '_'"),
        role=UserRole(role_text),
        attributes=MappingProxyType(attrs),
    )


def _parse_org(raw: object, path: str) -> OrgConfig:
    m = _mapping(
        raw, path, ("name", "mspid", "kind", "domain"), ("peers", "orderers", "users", "tier")
    )
    kind_text = _str(m["kind"], f"{path}.kind")
    if kind_text not in {k.value for k in OrgKind}:
        raise _fail(
            f"{path}.kind",
            f"unknown kind {kind_text!r}; one of {', '.join(k.value for k in OrgKind)}",
        )
    kind = OrgKind(kind_text)
    peers = tuple(
        _parse_peer(p, f"{path}.peers[{i}]")
        for i, p in enumerate(_list(m.get("peers"), f"{path}.peers"))
    )
    orderers = tuple(
        _parse_orderer(o, f"{path}.orderers[{i}]")
        for i, o in enumerate(_list(m.get("orderers"), f"{path}.orderers"))
    )
    users = tuple(
        _parse_user(u, f"{path}.users[{i}]")
        for i, u in enumerate(_list(m.get("users"), f"{path}.users"))
    )
    if kind is OrgKind.ORDERER and not orderers:
        raise _fail(f"{path}.orderers", "an orderer org needs at least one orderer")
    if kind is not OrgKind.ORDERER and orderers:
        raise _fail(f"{path}.orderers", f"only kind 'orderer' orgs run orderers (this is {kind})")
    if kind is OrgKind.ORDERER and peers:
        raise _fail(f"{path}.peers", "an orderer org runs no peers")
    _unique(peers, "name", f"{path}.peers", lambda p: p.name)
    _unique(orderers, "name", f"{path}.orderers", lambda o: o.name)
    _unique(users, "name", f"{path}.users", lambda u: u.name)
    node_names = [p.name for p in peers] + [o.name for o in orderers]
    if len(set(node_names)) != len(node_names):
        raise _fail(path, "peer and orderer names must differ within an org")
    tier = m.get("tier")
    return OrgConfig(
        name=_str(m["name"], f"{path}.name", _ORG_NAME, "lowercase letters, digits and '-'"),
        mspid=MspId(_str(m["mspid"], f"{path}.mspid", _MSPID, "e.g. CoreMSP")),
        kind=kind,
        domain=_str(m["domain"], f"{path}.domain", _DOMAIN, "a lowercase DNS domain"),
        peers=peers,
        orderers=orderers,
        users=users,
        tier=None if tier is None else _int(tier, f"{path}.tier", 1, 99),
    )


def _parse_batch(raw: object, path: str) -> BatchConfig:
    d = BatchConfig()
    m = _mapping(raw or {}, path, (), tuple(vars(d)))
    batch = BatchConfig(
        max_message_count=_int(
            m.get("max_message_count", d.max_message_count), f"{path}.max_message_count", 1
        ),
        preferred_max_bytes=_int(
            m.get("preferred_max_bytes", d.preferred_max_bytes), f"{path}.preferred_max_bytes", 1
        ),
        absolute_max_bytes=_int(
            m.get("absolute_max_bytes", d.absolute_max_bytes), f"{path}.absolute_max_bytes", 1
        ),
        batch_timeout_ms=_int(
            m.get("batch_timeout_ms", d.batch_timeout_ms), f"{path}.batch_timeout_ms", 1
        ),
    )
    if batch.preferred_max_bytes > batch.absolute_max_bytes:
        raise _fail(
            f"{path}.preferred_max_bytes",
            f"must not exceed absolute_max_bytes ({batch.absolute_max_bytes})",
        )
    return batch


def _parse_raft(raw: object, path: str) -> RaftConfig:
    d = RaftConfig()
    m = _mapping(raw or {}, path, (), tuple(vars(d)))
    raft = RaftConfig(
        tick_ms=_int(m.get("tick_ms", d.tick_ms), f"{path}.tick_ms", 1),
        election_ticks=_int(m.get("election_ticks", d.election_ticks), f"{path}.election_ticks", 2),
        heartbeat_ticks=_int(
            m.get("heartbeat_ticks", d.heartbeat_ticks), f"{path}.heartbeat_ticks", 1
        ),
        snapshot_interval_blocks=_int(
            m.get("snapshot_interval_blocks", d.snapshot_interval_blocks),
            f"{path}.snapshot_interval_blocks",
            1,
        ),
    )
    if raft.election_ticks <= raft.heartbeat_ticks:
        raise _fail(
            f"{path}.election_ticks",
            f"must be greater than heartbeat_ticks ({raft.heartbeat_ticks})",
        )
    return raft


def _mspid_list(
    raw: object, path: str, orgs: Mapping[str, OrgConfig], *, orderer: bool
) -> tuple[MspId, ...]:
    items = _list(raw, path)
    if not items:
        raise _fail(path, "must list at least one mspid")
    out: list[MspId] = []
    for i, item in enumerate(items):
        mspid = _str(item, f"{path}[{i}]")
        org = orgs.get(mspid)
        if org is None:
            raise _fail(f"{path}[{i}]", f"unknown mspid {mspid!r}; known: {', '.join(orgs)}")
        if orderer != (org.kind is OrgKind.ORDERER):
            want = "an orderer org" if orderer else "an application (non-orderer) org"
            raise _fail(f"{path}[{i}]", f"{mspid} must be {want}")
        if mspid in out:
            raise _fail(f"{path}[{i}]", f"duplicate mspid {mspid!r}")
        out.append(MspId(mspid))
    return tuple(out)


def _check_policy(text: str, path: str, members: Mapping[str, OrgConfig]) -> None:
    """Light check of a Fabric signature policy: shape, principals, endorsing orgs.

    The full grammar is common.policies' job at channel-creation time; this catches
    the typos an operator makes (unknown org, regulator as endorser) with a field path.
    """
    if not _POLICY_HEAD.match(text) or text.count("(") != text.count(")"):
        raise _fail(path, f"{text!r} is not a signature policy like AND('A.peer','B.peer')")
    principals = _PRINCIPAL.findall(text)
    if not principals:
        raise _fail(path, "names no principal like 'CoreMSP.peer'")
    for mspid, role in principals:
        if role not in _POLICY_ROLES:
            raise _fail(
                path, f"role {role!r} in '{mspid}.{role}' is not one of {sorted(_POLICY_ROLES)}"
            )
        org = members.get(mspid)
        if org is None:
            raise _fail(path, f"'{mspid}.{role}': {mspid} is not a member of this channel")
        if role == "peer" and not any(p.endorser for p in org.peers):
            raise _fail(path, f"'{mspid}.peer': {mspid} has no endorsing peer")


def _parse_channel(raw: object, path: str, orgs: Mapping[str, OrgConfig]) -> ChannelConfig:
    m = _mapping(
        raw, path, ("name", "orgs", "orderer_orgs", "chaincodes", "governance"), ("batch", "raft")
    )
    name = _str(m["name"], f"{path}.name", _CHANNEL, "lowercase, starts with a letter")
    members = _mspid_list(m["orgs"], f"{path}.orgs", orgs, orderer=False)
    orderer_orgs = _mspid_list(m["orderer_orgs"], f"{path}.orderer_orgs", orgs, orderer=True)
    member_orgs: dict[str, OrgConfig] = {mspid: orgs[mspid] for mspid in members}
    chaincodes: list[ChaincodeConfig] = []
    for i, cc_raw in enumerate(_list(m["chaincodes"], f"{path}.chaincodes")):
        cp = f"{path}.chaincodes[{i}]"
        cm = _mapping(cc_raw, cp, ("name", "endorsement_policy"), ("version",))
        policy = _str(cm["endorsement_policy"], f"{cp}.endorsement_policy")
        _check_policy(policy, f"{cp}.endorsement_policy", member_orgs)
        chaincodes.append(
            ChaincodeConfig(
                name=_str(cm["name"], f"{cp}.name", _CHAINCODE, "letters, digits, '-' or '_'"),
                version=_str(str(cm.get("version", "1.0")), f"{cp}.version", _VERSION),
                endorsement_policy=policy,
            )
        )
    _unique(chaincodes, "name", f"{path}.chaincodes", lambda c: c.name)
    gp = f"{path}.governance"
    gm = _mapping(m["governance"], gp, ("approvers",))
    approvers = _mspid_list(gm["approvers"], f"{gp}.approvers", orgs, orderer=False)
    for i, mspid in enumerate(approvers):
        if mspid not in members:
            raise _fail(f"{gp}.approvers[{i}]", f"{mspid} is not a member of channel {name}")
    return ChannelConfig(
        name=name,
        orgs=members,
        orderer_orgs=orderer_orgs,
        batch=_parse_batch(m.get("batch"), f"{path}.batch"),
        raft=_parse_raft(m.get("raft"), f"{path}.raft"),
        chaincodes=tuple(chaincodes),
        governance=GovernanceConfig(approvers=approvers),
    )


def _check_addresses(orgs: Sequence[OrgConfig]) -> None:
    used: dict[tuple[str, int], str] = {}

    def claim(host: str, port: int, path: str) -> None:
        # 127.0.0.1 and localhost are the same listener; treat them as one host.
        key = ("127.0.0.1" if host == "localhost" else host, port)
        if key in used:
            raise _fail(path, f"{host}:{port} is already used by {used[key]}")
        used[key] = path

    for i, org in enumerate(orgs):
        for j, o in enumerate(org.orderers):
            p = f"orgs[{i}].orderers[{j}]"
            claim(o.host, o.port, f"{p}.port")
            claim(o.host, o.cluster_port, f"{p}.cluster_port")
            claim(o.host, o.operations_port, f"{p}.operations_port")
        for j, peer in enumerate(org.peers):
            p = f"orgs[{i}].peers[{j}]"
            claim(peer.host, peer.port, f"{p}.port")
            claim(peer.host, peer.operations_port, f"{p}.operations_port")


def parse_network_config(data: object) -> NetworkConfig:
    """Validate an already-parsed YAML document; raises `NetworkConfigError`."""
    m = _mapping(data, "", ("orgs", "channels"))
    org_list = _list(m["orgs"], "orgs")
    if not org_list:
        raise _fail("orgs", "must list at least one org")
    orgs = tuple(_parse_org(o, f"orgs[{i}]") for i, o in enumerate(org_list))
    _unique(orgs, "name", "orgs", lambda o: o.name)
    _unique(orgs, "mspid", "orgs", lambda o: o.mspid)
    if not any(o.kind is OrgKind.ORDERER for o in orgs):
        raise _fail("orgs", "needs an org of kind 'orderer'")
    _check_addresses(orgs)
    by_mspid: dict[str, OrgConfig] = {o.mspid: o for o in orgs}
    channels = tuple(
        _parse_channel(c, f"channels[{i}]", by_mspid)
        for i, c in enumerate(_list(m["channels"], "channels"))
    )
    _unique(channels, "name", "channels", lambda c: c.name)
    return NetworkConfig(orgs=orgs, channels=channels)
