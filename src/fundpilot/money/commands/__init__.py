"""`fundpilot` commands for money (C12–C15, C20). Each area module adds its own; Django
is imported inside commands, after `setup_django`."""

import typer

from fundpilot.money.commands import funds, payments, reconciliation, spending, unwind, variance


def register(app: typer.Typer) -> None:
    for area in (funds, spending, payments, reconciliation, variance, unwind):
        area.register(app)
