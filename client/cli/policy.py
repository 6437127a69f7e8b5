"""`scf policy`: approve a policy-parameter change offline, submit it, show the rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from client.cli.invoke import (
    OneLineCommand,
    connect,
    connection_options,
    guarded,
    progress,
    render_value,
)
from client.identity import Identity
from client.policy import approve, update_request
from client.profile import DEFAULT_PROFILE, load_profile
from common.errors import ScfError


class PolicyInputError(ScfError):
    code = "BAD_POLICY_INPUT"


def _json_object(text: str, what: str) -> dict[str, Any]:
    """A JSON object given inline or as the path of a file holding it."""
    source = Path(text)
    raw = source.read_text() if not text.lstrip().startswith("{") and source.is_file() else text
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise PolicyInputError(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PolicyInputError(f"{what} must be a JSON object")
    return value


@click.group(name="policy")
def policy_group() -> None:
    """Policy parameters: approve a change offline, submit it, show the rules in force."""


@policy_group.command("approve", cls=OneLineCommand)
@click.option(
    "--version", "version", type=int, required=True, help="The NEW version (current + 1)."
)
@click.option("--params", required=True, help="The changes: a JSON object or a file holding one.")
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_PROFILE,
    show_default=True,
    help="Connection profile naming the approver's files.",
)
@click.option("--org", help="Approver's org (with --user; from the profile).")
@click.option("--user", help="Approver, an admin of a governance org, e.g. Admin.")
@click.option(
    "--msp-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Approver's MSP folder instead of the profile (needs --mspid).",
)
@click.option("--mspid", help="MSP id of --msp-dir.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the approval here instead of stdout.",
)
def approve_command(
    version: int,
    params: str,
    profile: Path,
    org: str | None,
    user: str | None,
    msp_dir: Path | None,
    mspid: str | None,
    out: Path | None,
) -> None:
    """Sign a policy change as an admin, offline: prints (or writes) the approval.

    \b
    Example:
      scf policy approve --version 1 --params '{"max_children": 50}' \\
          --org core --user Admin --out core.approval.json
    """
    with guarded(False):
        changes = _json_object(params, "--params")
        if msp_dir is not None:
            if not mspid:
                raise PolicyInputError("--msp-dir needs --mspid")
            identity = Identity.from_msp_dir(msp_dir, mspid)
        elif org and user:
            identity = load_profile(profile).identity(org, user)
        else:
            raise PolicyInputError("name the approver: --org and --user, or --msp-dir and --mspid")
        text = json.dumps(approve(identity, version, changes), indent=2)
        if out is None:
            click.echo(text)
        else:
            out.write_text(text + "\n")
            click.echo(f"approval by {identity.mspid} written to {out}", err=True)


@policy_group.command("update", cls=OneLineCommand)
@connection_options
@click.option("--params", required=True, help="The changes: a JSON object or a file holding one.")
@click.option(
    "--approval",
    "approvals",
    multiple=True,
    required=True,
    help="An approval file from 'scf policy approve' (repeat per approver).",
)
def update_command(
    profile: Path,
    org: str,
    user: str,
    channel: str,
    as_json: bool,
    params: str,
    approvals: tuple[str, ...],
) -> None:
    """Submit a policy change with the approvals of the governance orgs' admins."""
    with guarded(as_json):
        changes = _json_object(params, "--params")
        signed = [_json_object(a, f"approval {a}") for a in approvals]
        request = update_request(changes, [{k: str(v) for k, v in s.items()} for s in signed])
        with connect(profile, org, user, channel) as gateway:
            contract = gateway.network(channel).contract("policy")
            with progress("Submitting the policy change…"):
                result = contract.submit("UpdatePolicy", json.dumps(request))
        click.echo(json.dumps(render_value(result), indent=None if as_json else 2))


@policy_group.command("show", cls=OneLineCommand)
@connection_options
def show_command(profile: Path, org: str, user: str, channel: str, as_json: bool) -> None:
    """The policy parameters in force and their version."""
    with guarded(as_json):
        with connect(profile, org, user, channel) as gateway:
            result = gateway.network(channel).contract("policy").evaluate("GetPolicy", "{}")
        click.echo(json.dumps(render_value(result), indent=None if as_json else 2))
