"""Offline approvals of a policy-parameter change (the `policy` contract's
`UpdatePolicy`), and the request that carries them.

An approver signs, with their admin enrollment key, the canonical JSON of
`{"params": params, "version": new_version}` (keys sorted at every level, no
whitespace, UTF-8, non-ASCII written literally) — the bytes the contract's
`approval_payload` documents. An approval is `{"identity": base64(serialized
identity), "signature": base64(DER ECDSA-SHA256 signature)}`. Signing needs no
network: approvers may sign on machines that never join it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from client.gateway import NoSignerError
from client.identity import Identity

Approval = dict[str, str]


def approval_payload(version: int, params: Mapping[str, Any]) -> bytes:
    """The exact bytes an approver signs (must equal the contract's recipe)."""
    return json.dumps(
        {"version": version, "params": dict(params)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def approve(identity: Identity, version: int, params: Mapping[str, Any]) -> Approval:
    """Sign the change as `identity` (an admin of a governance org)."""
    if identity.signer is None:
        raise NoSignerError("the approving identity has no private key to sign with")
    digest = hashlib.sha256(approval_payload(version, params)).digest()
    return {
        "identity": base64.b64encode(identity.serialize()).decode(),
        "signature": base64.b64encode(identity.signer(digest)).decode(),
    }


def update_request(params: Mapping[str, Any], approvals: Sequence[Approval]) -> dict[str, Any]:
    """The `UpdatePolicy` argument; its `request_id` is derived from the content, so
    re-sending the same change is idempotent."""
    body = {"params": dict(params), "approvals": list(approvals)}
    digest = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return {"request_id": f"policy-{digest[:32]}", **body}
