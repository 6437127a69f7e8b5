"""What every `scf regulator` command shares: the connection options, gathered into one
`Target`, which connects to the regulator's peer and prints a result as a human view
or, with `--json`, as JSON."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import RenderableType

from client.cli.invoke import fail
from client.cli.output import rich_console
from client.profile import DEFAULT_PROFILE
from client.regulator import RegulatorClient
from common.errors import ScfError

__all__ = ["Target", "channel_option", "echo_json", "message_dict", "money", "target_options"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """Who asks which peer (`--profile --org --user --peer`), and how to print (`--json`)."""

    profile: Path
    org: str | None
    user: str | None
    peer: str | None
    as_json: bool

    @contextmanager
    def client(self) -> Iterator[RegulatorClient]:
        """A connected client; any `ScfError`/`OSError` within fails the command."""
        try:
            with RegulatorClient.from_profile(
                self.profile, org=self.org, user=self.user, peer=self.peer
            ) as client:
                yield client
        except (ScfError, OSError) as exc:
            fail(exc, as_json=self.as_json)

    def ask(self, query: Callable[[RegulatorClient], T]) -> T:
        """`query(client)` over a fresh connection."""
        with self.client() as client:
            return query(client)

    def show(self, data: Any, *human: RenderableType) -> None:
        """Print `data` as JSON with `--json`, else each of `human` in turn."""
        if self.as_json:
            echo_json(data)
            return
        console = rich_console()
        for item in human:
            console.print(item)


def target_options(function: Callable[..., None]) -> Callable[..., None]:
    """`--profile --org --user --peer --json`, handed to the command as `target`."""

    @functools.wraps(function)
    def command(
        *,
        profile: Path,
        org: str | None,
        user: str | None,
        peer: str | None,
        as_json: bool,
        **kwargs: Any,
    ) -> None:
        function(Target(profile, org, user, peer, as_json), **kwargs)

    options = [
        click.option(
            "--profile",
            type=click.Path(dir_okay=False, path_type=Path),
            default=DEFAULT_PROFILE,
            show_default=True,
            help="Connection profile (written by 'scf network up').",
        ),
        click.option("--org", default=None, help="Regulator org (default: found in the profile)."),
        click.option("--user", default=None, help="Regulator user (default: e.g. Auditor1)."),
        click.option("--peer", default=None, help="Peer serving the Regulator service."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]
    decorated: Callable[..., None] = command
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def channel_option(default: str | None = "trade") -> Callable[[F], F]:
    return click.option(
        "--channel", default=default, show_default=bool(default), help="Channel to read."
    )


def message_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def money(amount: int) -> str:
    return f"{amount / 100:,.2f}"
