"""`fundpilot` commands for milestones, evidence and verification (C7–C11). Each area
module adds its own; Django is imported inside commands, after `setup_django`."""

import typer

from fundpilot.claims.commands import contract, disputes, sampling, tracker, verification


def register(app: typer.Typer) -> None:
    for area in (tracker, verification, sampling, contract, disputes):
        area.register(app)
