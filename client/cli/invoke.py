"""`scf invoke` and `scf query`: call a contract as a user of an org.

Shared by the ledger commands: the connection options (`--profile --org --user
--channel`), one-line usage errors, and `run_guarded`, which turns every named error
into one line on stderr and exit code 1 (never a traceback).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from client.errors import CommitError, GatewayError
from client.gateway import Gateway
from client.profile import DEFAULT_PROFILE, load_profile
from common.errors import ScfError

__all__ = [
    "OneLineCommand",
    "connect",
    "connection_options",
    "fail",
    "invoke_command",
    "progress",
    "query_command",
    "render_value",
]

F = TypeVar("F", bound=Callable[..., Any])

stderr = Console(stderr=True)


class _OneLineUsageError(click.ClickException):
    exit_code = 2

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()} (see '{self.command} --help')", err=True)


class OneLineCommand(click.Command):
    """A click command whose usage errors (missing or extra arguments, bad options)
    are one line on stderr instead of the usage block."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            path = (exc.ctx.command_path if exc.ctx else None) or info_name or "scf"
            raise _OneLineUsageError(exc.format_message(), path) from None


def connection_options(function: F) -> F:
    """`--profile --org --user --channel --json` (in that order on the help page)."""
    options = [
        click.option(
            "--profile",
            type=click.Path(dir_okay=False, path_type=Path),
            default=DEFAULT_PROFILE,
            show_default=True,
            help="Connection profile (written by 'scf network up').",
        ),
        click.option("--org", required=True, help="Org of the user (name or MSP id)."),
        click.option("--user", required=True, help="User of that org, e.g. User1."),
        click.option("--channel", default="trade", show_default=True, help="Channel to use."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def fail(error: BaseException, *, as_json: bool) -> NoReturn:
    """Print `error` as one line on stderr (a JSON object with --json); exit 1."""
    if as_json:
        body: dict[str, Any] = {"code": getattr(error, "code", type(error).__name__)}
        body["message"] = getattr(error, "message", str(error))
        if isinstance(error, GatewayError):
            body["transaction_id"] = error.transaction_id or None
            body["grpc_code"] = error.grpc_code.name if error.grpc_code else None
            body["details"] = [str(d) for d in error.details]
        if isinstance(error, CommitError):
            body["validation_code"] = error.validation_code_name
            body["block"] = error.block_number
        click.echo(json.dumps({"error": body}, ensure_ascii=False), err=True)
    else:
        text = " ".join(str(error).split())  # one line whatever the peer sent
        click.echo(f"Error: {text}", err=True)
    sys.exit(1)


@contextmanager
def guarded(as_json: bool) -> Iterator[None]:
    """Named errors (and unreadable files) become one line and exit code 1."""
    try:
        yield
    except (ScfError, OSError) as exc:
        fail(exc, as_json=as_json)


@contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner on stderr while a slow step runs (shown only on a terminal)."""
    if stderr.is_terminal:
        with stderr.status(message):
            yield
    else:
        yield


def connect(profile: Path, org: str, user: str, channel: str) -> Gateway:
    """Connect as in the profile; raises `ProfileError` for unknown names."""
    load_profile(profile).check_channel(channel)
    return Gateway.from_profile(profile, org=org, user=user)


def render_value(data: bytes) -> Any:
    """A result as a person reads it: JSON if it is JSON, else text, else hex."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return {"hex": data.hex()}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _print_result(value: Any) -> None:
    if isinstance(value, str):
        click.echo(value)
    else:
        click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@click.command("invoke", cls=OneLineCommand)
@connection_options
@click.option("--chaincode", required=True, help="Chaincode (contract) name.")
@click.argument("function")
@click.argument("args", nargs=-1)
def invoke_command(
    profile: Path,
    org: str,
    user: str,
    channel: str,
    as_json: bool,
    chaincode: str,
    function: str,
    args: tuple[str, ...],
) -> None:
    """Submit a transaction: endorse, order, and wait for it to commit.

    Prints the contract's result (JSON pretty-printed); the txid and block go to
    stderr. A contract error is printed with its code and exits 1.

    \b
    Example:
      scf invoke --org core --user User1 --chaincode receivable \\
          IssueVoucher '{"id": "V-1", ...}'
    """
    with guarded(as_json):
        with connect(profile, org, user, channel) as gateway:
            contract = gateway.network(channel).contract(chaincode)
            with progress(f"Submitting {chaincode}.{function} on {channel}…"):
                transaction = contract.new_proposal(function, *args).endorse()
                status = transaction.submit().status()
            if not status.successful:
                raise CommitError(status.transaction_id, status.code, status.block_number)
        value = render_value(transaction.result)
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "transaction_id": status.transaction_id,
                        "validation_code": status.code_name,
                        "block": status.block_number,
                        "result": value,
                    },
                    ensure_ascii=False,
                )
            )
            return
        if transaction.result:
            _print_result(value)
        click.echo(
            f"txid {status.transaction_id} committed {status.code_name} in block "
            f"{status.block_number}",
            err=True,
        )


@click.command("query", cls=OneLineCommand)
@connection_options
@click.option("--chaincode", required=True, help="Chaincode (contract) name.")
@click.argument("function")
@click.argument("args", nargs=-1)
def query_command(
    profile: Path,
    org: str,
    user: str,
    channel: str,
    as_json: bool,
    chaincode: str,
    function: str,
    args: tuple[str, ...],
) -> None:
    """Evaluate a contract function on the gateway peer; nothing is ordered.

    \b
    Example:
      scf query --org core --user User1 --chaincode receivable GetVoucher '{"id": "V-1"}'
    """
    with guarded(as_json):
        with connect(profile, org, user, channel) as gateway:
            contract = gateway.network(channel).contract(chaincode)
            with progress(f"Evaluating {chaincode}.{function} on {channel}…"):
                result = contract.evaluate(function, *args)
        value = render_value(result)
        if as_json:
            click.echo(json.dumps({"result": value}, ensure_ascii=False))
        elif result:
            _print_result(value)
