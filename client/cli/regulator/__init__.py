"""`scf regulator ...`: the regulator's read-only view (issue 7).

Every command signs its requests with a regulator identity from the connection
profile (default: the regulator org's first non-admin user, e.g. Auditor1) and asks
the regulator org's peer, which serves the `scf.Regulator` service. Human tables by
default, `--json` for machines. `verify` reads EVERY peer through Deliver and
replays the chain itself (`client.regulator_verify`); `console` serves a local web
page of exposure, alerts and lineage trees (`client.regulator_console`).

The commands live by subject: `ledger` (channels, block, tx, history), `assets`
(lineage, exposure, alerts, watch), `verify`, `console`; `base` holds what they share.
"""

from __future__ import annotations

import click

from client.cli.regulator.assets import (
    alerts_command,
    exposure_command,
    lineage_command,
    watch_command,
)
from client.cli.regulator.console import console_command
from client.cli.regulator.ledger import (
    block_command,
    channels_command,
    history_command,
    tx_command,
)
from client.cli.regulator.verify import verify_command

__all__ = ["regulator_group"]


@click.group("regulator")
def regulator_group() -> None:
    """The regulator's read-only view: ledgers, indicators, alerts, verification."""


for _command in (
    channels_command,
    block_command,
    tx_command,
    history_command,
    lineage_command,
    exposure_command,
    alerts_command,
    watch_command,
    verify_command,
    console_command,
):
    regulator_group.add_command(_command)
