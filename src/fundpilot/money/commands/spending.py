"""`fundpilot` commands of spending."""

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
