"""What the money commands share beyond `fundpilot.cli_kit`."""

from typing import Annotated

import typer

MonthOpt = Annotated[str, typer.Option("--month", help="The month, YYYY-MM.")]
