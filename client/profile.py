"""Reading a connection profile: Fabric's *common connection profile* (YAML).

This module is the single reader of connection profiles; `scf network up` writes them
(to `DIR/connection.yaml`) in the format below, and Fabric's own tools can read them.

Format (keys Fabric defines are spelled as Fabric spells them; keys marked *scf* are
ours and ignored by Fabric tools)::

    name: scf-default                      # optional
    version: 1.0.0                         # optional
    organizations:
      core:                                # the org name `--org` refers to
        mspid: CoreMSP                     # required
        peers: [peer0.core.scf.example]    # the org's own peers (may be empty)
        gatewayPeers: [peer0.core.scf.example]   # scf: for orgs without peers
        users:                             # scf: where each user's material lives
          User1:
            msp_dir: crypto/orgs/core/users/User1/msp    # signcerts/ + keystore/
            cert: crypto/.../signcerts/cert.pem          # optional if msp_dir given
            key: crypto/.../keystore/priv_sk             # optional if msp_dir given
            tls: {cert: .../tls/client.crt, key: .../tls/client.key}  # mutual TLS
    peers:
      peer0.core.scf.example:
        url: grpcs://127.0.0.1:8051        # grpcs:// (TLS) or grpc:// (plaintext)
        tlsCACerts: {path: crypto/orgs/core/tlsca/tlsca-cert.pem}   # or {pem: "..."}
        grpcOptions: {ssl-target-name-override: peer0.core.scf.example}
    orderers:
      orderer0.scf.example: {url: ..., tlsCACerts: ..., grpcOptions: ...}
    channels:                              # optional; when present, names the channels
      trade: {peers: {peer0.core.scf.example: {}}}

Contracts:

* Relative paths are resolved against the directory holding the profile, so a network
  folder can be moved as a whole.
* The gateway peer of an org (`ConnectionProfile.gateway_peer`) is its first own peer
  if it has one; otherwise (client-only orgs such as suppliers) the first peer listed
  under its `gatewayPeers`. An org with neither is `PROFILE_INVALID`.
* `--org` may name an org by its key in `organizations` or by its MSP id.
* Errors are `ProfileError` with code `PROFILE_NOT_FOUND`, `PROFILE_INVALID` (naming
  the offending field), `UNKNOWN_ORG`, `UNKNOWN_USER` or `UNKNOWN_CHANNEL`, each
  listing what would have been accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from client.identity import Identity
from common.errors import ScfError

__all__ = [
    "DEFAULT_PROFILE",
    "ConnectionProfile",
    "Endpoint",
    "OrgProfile",
    "ProfileError",
    "UserProfile",
    "load_profile",
]

DEFAULT_PROFILE = Path(".scf/net/connection.yaml")
"""Where `scf network up` writes the profile with its default `--dir`."""


class ProfileError(ScfError):
    """A connection profile is missing, malformed, or lacks what was asked for."""

    code = "PROFILE_INVALID"


@dataclass(frozen=True)
class Endpoint:
    """A peer or orderer as the profile describes it.

    `address` is `host:port` (what gRPC dials); `tls` is False for `grpc://` urls.
    `tls_ca` is the path of the PEM root to verify the server with, or inline PEM
    bytes, or None. `server_name` is the TLS name to verify instead of the host.
    """

    name: str
    url: str
    address: str
    tls: bool
    tls_ca: Path | bytes | None
    server_name: str | None


@dataclass(frozen=True)
class UserProfile:
    """Where one user's material lives (absolute paths; any may be None)."""

    name: str
    msp_dir: Path | None
    cert: Path | None
    key: Path | None
    tls_cert: Path | None
    tls_key: Path | None


@dataclass(frozen=True)
class OrgProfile:
    name: str
    mspid: str
    peers: tuple[str, ...]
    gateway_peers: tuple[str, ...]
    users: Mapping[str, UserProfile] = field(default_factory=lambda: MappingProxyType({}))

    def user(self, name: str) -> UserProfile:
        """The user `name`; raises `UNKNOWN_USER` listing the org's users."""
        try:
            return self.users[name]
        except KeyError:
            known = ", ".join(sorted(self.users)) or "none"
            raise ProfileError(
                f"org {self.name!r} has no user {name!r} in the profile (users: {known})",
                code="UNKNOWN_USER",
            ) from None


@dataclass(frozen=True)
class ConnectionProfile:
    """A parsed connection profile; `path` is the file it was read from."""

    path: Path
    name: str
    organizations: Mapping[str, OrgProfile]
    peers: Mapping[str, Endpoint]
    orderers: Mapping[str, Endpoint]
    channels: tuple[str, ...]

    def org(self, name: str) -> OrgProfile:
        """The org named `name` (its key, or its MSP id); raises `UNKNOWN_ORG`."""
        if name in self.organizations:
            return self.organizations[name]
        for org in self.organizations.values():
            if org.mspid == name:
                return org
        known = ", ".join(sorted(self.organizations)) or "none"
        raise ProfileError(
            f"no org {name!r} in the connection profile {self.path} (orgs: {known})",
            code="UNKNOWN_ORG",
        )

    def user(self, org: str, user: str) -> UserProfile:
        return self.org(org).user(user)

    def identity(self, org: str, user: str) -> Identity:
        """`user`'s signing identity (from cert + key, else the MSP folder); raises
        `MspError` naming what is missing or mismatched."""
        org_profile = self.org(org)
        entry = org_profile.user(user)
        if entry.cert is not None and entry.key is not None:
            return Identity.from_files(org_profile.mspid, entry.cert, entry.key)
        assert entry.msp_dir is not None  # the reader guarantees one or the other
        return Identity.from_msp_dir(entry.msp_dir, org_profile.mspid)

    def gateway_peer(self, org: str) -> Endpoint:
        """The peer an org's clients connect to (see the module contract)."""
        profile = self.org(org)
        names = profile.peers or profile.gateway_peers
        if not names:
            raise ProfileError(
                f"org {profile.name!r} has neither peers nor gatewayPeers in {self.path}",
                code="PROFILE_INVALID",
            )
        return self.peers[names[0]]

    def check_channel(self, channel: str) -> None:
        """Raise `UNKNOWN_CHANNEL` if the profile lists channels and not this one."""
        if self.channels and channel not in self.channels:
            raise ProfileError(
                f"no channel {channel!r} in the connection profile "
                f"(channels: {', '.join(self.channels)})",
                code="UNKNOWN_CHANNEL",
            )


def load_profile(path: str | Path) -> ConnectionProfile:
    """Read and validate a connection profile (see the module docstring)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(
            f"connection profile {source} not found; start a network with "
            "'scf network up' or pass --profile",
            code="PROFILE_NOT_FOUND",
        ) from None
    except OSError as exc:
        raise ProfileError(
            f"connection profile {source}: cannot read: {exc.strerror or exc}",
            code="PROFILE_NOT_FOUND",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"connection profile {source} is not valid YAML: {exc}") from None
    return _parse(data, source.resolve())


# ---------------------------------------------------------------------------- parsing


class _Reader:
    """Field access with errors that name the path of the offending field."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.base = source.parent

    def fail(self, where: str, what: str) -> ProfileError:
        return ProfileError(f"connection profile {self.source}: {where}: {what}")

    def mapping(self, value: Any, where: str, *, required: bool = True) -> Mapping[str, Any]:
        if value is None and not required:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, "must be a mapping")
        return value

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, "must be a non-empty string")
        return value

    def names(self, value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        # Fabric allows `peers` to be a list or a mapping of name -> options.
        if isinstance(value, Mapping):
            value = list(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "must be a list of names")
        return tuple(value)

    def path(self, value: Any, where: str) -> Path | None:
        if value is None:
            return None
        path = Path(self.string(value, where)).expanduser()
        return path if path.is_absolute() else self.base / path


def _parse(data: Any, source: Path) -> ConnectionProfile:
    r = _Reader(source)
    top = r.mapping(data, "top level")
    peers = {
        name: _endpoint(r, name, value, f"peers.{name}")
        for name, value in r.mapping(top.get("peers"), "peers", required=False).items()
    }
    orderers = {
        name: _endpoint(r, name, value, f"orderers.{name}")
        for name, value in r.mapping(top.get("orderers"), "orderers", required=False).items()
    }
    orgs: dict[str, OrgProfile] = {}
    raw_orgs = r.mapping(top.get("organizations"), "organizations")
    if not raw_orgs:
        raise r.fail("organizations", "lists no organization")
    for name, value in raw_orgs.items():
        org = _org(r, str(name), value)
        for peer in org.peers + org.gateway_peers:
            if peer not in peers:
                raise r.fail(f"organizations.{name}", f"peer {peer!r} is not under 'peers'")
        orgs[str(name)] = org
    channels = tuple(str(c) for c in r.mapping(top.get("channels"), "channels", required=False))
    return ConnectionProfile(
        path=source,
        name=str(top.get("name") or source.stem),
        organizations=MappingProxyType(orgs),
        peers=MappingProxyType(peers),
        orderers=MappingProxyType(orderers),
        channels=channels,
    )


def _endpoint(r: _Reader, name: str, value: Any, where: str) -> Endpoint:
    entry = r.mapping(value, where)
    url = r.string(entry.get("url"), f"{where}.url")
    parts = urlsplit(url if "://" in url else f"grpcs://{url}")
    if parts.scheme not in ("grpc", "grpcs") or not parts.hostname or parts.port is None:
        raise r.fail(f"{where}.url", f"{url!r} is not grpcs://host:port or grpc://host:port")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    ca_entry = r.mapping(entry.get("tlsCACerts"), f"{where}.tlsCACerts", required=False)
    tls_ca: Path | bytes | None = None
    if ca_entry.get("pem") is not None:
        tls_ca = r.string(ca_entry["pem"], f"{where}.tlsCACerts.pem").encode()
    elif ca_entry.get("path") is not None:
        tls_ca = r.path(ca_entry["path"], f"{where}.tlsCACerts.path")
    tls = parts.scheme == "grpcs"
    if tls and tls_ca is None:
        raise r.fail(f"{where}.tlsCACerts", "a grpcs:// endpoint needs a path or pem")
    options = r.mapping(entry.get("grpcOptions"), f"{where}.grpcOptions", required=False)
    override = options.get("ssl-target-name-override")
    return Endpoint(
        name=name,
        url=url,
        address=f"{host}:{parts.port}",
        tls=tls,
        tls_ca=tls_ca,
        server_name=str(override) if override else None,
    )


def _org(r: _Reader, name: str, value: Any) -> OrgProfile:
    where = f"organizations.{name}"
    entry = r.mapping(value, where)
    users: dict[str, UserProfile] = {}
    for user, raw in r.mapping(entry.get("users"), f"{where}.users", required=False).items():
        uwhere = f"{where}.users.{user}"
        u = r.mapping(raw, uwhere)
        tls = r.mapping(u.get("tls"), f"{uwhere}.tls", required=False)
        profile = UserProfile(
            name=str(user),
            msp_dir=r.path(u.get("msp_dir"), f"{uwhere}.msp_dir"),
            cert=r.path(u.get("cert"), f"{uwhere}.cert"),
            key=r.path(u.get("key"), f"{uwhere}.key"),
            tls_cert=r.path(tls.get("cert"), f"{uwhere}.tls.cert"),
            tls_key=r.path(tls.get("key"), f"{uwhere}.tls.key"),
        )
        if profile.msp_dir is None and (profile.cert is None or profile.key is None):
            raise r.fail(uwhere, "needs msp_dir, or both cert and key")
        if (profile.tls_cert is None) != (profile.tls_key is None):
            raise r.fail(f"{uwhere}.tls", "needs both cert and key")
        users[str(user)] = profile
    return OrgProfile(
        name=name,
        mspid=r.string(entry.get("mspid"), f"{where}.mspid"),
        peers=r.names(entry.get("peers"), f"{where}.peers"),
        gateway_peers=r.names(entry.get("gatewayPeers"), f"{where}.gatewayPeers"),
        users=MappingProxyType(users),
    )
