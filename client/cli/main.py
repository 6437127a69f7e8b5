"""Entry point of the `scf` command: the root group and its subcommand groups."""

from __future__ import annotations

import click

from client.cli.bench import bench_group
from client.cli.crypto import crypto_group
from client.cli.invoke import invoke_command, query_command
from client.cli.ledger import block_group, tx_group
from client.cli.network import network_group
from client.cli.policy import policy_group
from client.cli.regulator import regulator_group
from client.cli.verify import verify_command
from client.demo_cli import demo_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scfchain", prog_name="scf")
def cli() -> None:
    """scfchain: a permissioned blockchain for supply-chain finance."""


cli.add_command(demo_command)
cli.add_command(bench_group)
cli.add_command(crypto_group)
cli.add_command(network_group)
cli.add_command(policy_group)
cli.add_command(verify_command)
cli.add_command(invoke_command)
cli.add_command(query_command)
cli.add_command(block_group)
cli.add_command(tx_group)
cli.add_command(regulator_group)


def main() -> None:
    cli()
