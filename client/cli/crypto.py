"""`scf crypto`: crypto material for a network (Fabric's cryptogen, built in)."""

from __future__ import annotations

from pathlib import Path

import click

from client.cryptogen import generate
from client.netconfig import NetworkConfig, default_network_config, load_network_config
from common.errors import ScfError


@click.group(name="crypto")
def crypto_group() -> None:
    """Generate and inspect crypto material (CAs, MSP folders, TLS certificates)."""


@crypto_group.command(name="generate")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="network.yaml to generate for (default: the built-in default consortium).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write into; DIR/orgs/<org>/... is created.",
)
@click.option("--force", is_flag=True, help="Regenerate everything, replacing existing material.")
def generate_command(config_path: Path | None, out: Path, force: bool) -> None:
    """Create CAs, MSP folders, enrollment and TLS certificates for every org.

    Existing material is kept (idempotent) unless --force is given.
    """
    try:
        config: NetworkConfig = (
            load_network_config(config_path) if config_path else default_network_config()
        )
        report = generate(config, out, force=force)
    except ScfError as exc:
        # One clear line, non-zero exit, no traceback.
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"crypto material for {len(config.orgs)} orgs in {out}: "
        f"{len(report.created)} files written, {len(report.kept)} kept"
    )
