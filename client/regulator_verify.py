"""`scf regulator verify`: the regulator's independent check of a channel on every peer.

`client.verify.verify_channel` does the work (`replay=True`): every peer's chain is
fetched through Deliver with the regulator's own identity, each block's header
hash, data hash and orderer signatures are checked, the VALID write sets are
replayed into a fresh state recomputing every commit hash, and the replayed state
is compared with the state each peer reports. This module only finds where the
peers report their state: their operations endpoints (`GET /ledger/state`), taken
from the launcher's `network.yaml` beside the profile (a folder made by `scf
network up`) or given explicitly (`peer=url`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping

from client.launcher import NetworkLayout, NodeRole, node_specs
from client.launcher_ops import load_folder_config
from client.profile import ConnectionProfile
from client.regulator import regulator_org
from client.verify import StateReport, VerifyReport, verify_channel
from common.errors import ScfError

__all__ = ["operations_urls", "regulator_verify", "state_reporter"]


def operations_urls(profile: ConnectionProfile) -> dict[str, str]:
    """Peer name → operations base URL, when the profile sits in a launcher folder."""
    layout = NetworkLayout(profile.path.parent)
    try:
        config = load_folder_config(layout)
    except (ScfError, OSError):
        return {}
    return {n.id: n.operations_url for n in node_specs(config) if n.role is NodeRole.PEER}


def state_reporter(
    channel: str, urls: Mapping[str, str], timeout: float = 10.0
) -> Callable[[str], StateReport | None]:
    """A `state_report` for `verify_channel`: None for a peer with no known URL or
    one that does not answer (its state is then reported UNCHECKED)."""

    def report(peer: str) -> StateReport | None:
        base = urls.get(peer)
        if base is None:
            return None
        query = urllib.parse.urlencode({"channel": channel})
        try:
            with urllib.request.urlopen(f"{base}/ledger/state?{query}", timeout=timeout) as r:
                body = json.loads(r.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None
        return StateReport(
            height=int(body["height"]),
            state_hash=bytes.fromhex(body["state_hash"]),
            commit_hash=bytes.fromhex(body.get("commit_hash", "")),
        )

    return report


def regulator_verify(
    profile: ConnectionProfile,
    channel: str,
    *,
    org: str | None = None,
    user: str | None = None,
    peers: tuple[str, ...] = (),
    ops: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> VerifyReport:
    """Verify `channel` on every peer as the regulator (module docstring). `ops`
    adds or overrides operations URLs per peer."""
    regulator = regulator_org(profile, org)
    if user is None:
        users = [u for u in regulator.users if u.lower() != "admin"] or list(regulator.users)
        user = users[0] if users else "Auditor1"
    urls = {**operations_urls(profile), **(ops or {})}
    return verify_channel(
        profile,
        channel,
        peers=peers,
        timeout=timeout,
        replay=True,
        state_report=state_reporter(channel, urls),
        reader=(regulator.name, user),
    )
