"""`scf regulator console`: the local web page of exposure, alerts and lineage trees
(`client.regulator_console`)."""

from __future__ import annotations

import click

from client.cli.regulator.base import Target, target_options

__all__ = ["console_command"]


@click.command("console")
@target_options
@click.option("--port", type=int, default=8800, show_default=True, help="Local HTTP port.")
@click.option("--channel", default="trade", show_default=True, help="Default channel.")
def console_command(target: Target, port: int, channel: str) -> None:
    """Serve the regulator console on http://127.0.0.1:PORT/ until Ctrl-C.

    The page shows exposure, alerts and voucher lineage trees (?voucher=ID); every
    figure comes from the signed Regulator service. Bound to 127.0.0.1 only.
    """
    from client.regulator_console import ConsoleServer

    with target.client() as client:
        server = ConsoleServer(client, channel=channel, port=port)
        server.start()
        click.echo(f"regulator console on {server.url}/ (Ctrl-C to stop)", err=True)
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
