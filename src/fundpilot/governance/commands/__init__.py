"""`fundpilot` commands for governance (C16–C19, reports). Each area module adds its
own; Django is imported inside commands, after `setup_django`."""

import typer

from fundpilot.governance.commands import assurance, board, equity, reports, settlement


def register(app: typer.Typer) -> None:
    for area in (settlement, board, assurance, equity, reports):
        area.register(app)
