"""`fundpilot report board|payer|equity` (the reports people read), beside the claims'
`fundpilot report verification` in the same command group."""

from pathlib import Path
from typing import Annotated

import typer

from fundpilot.claims.commands.verification import report_app
from fundpilot.cli_kit import (
    ByOpt,
    JsonOpt,
    PilotOpt,
    emit,
    fail,
    out,
    pilot_named,
    refused,
    setup_django,
    user_named,
)
from fundpilot.money.commands.common import MonthOpt
from fundpilot.rules.errors import Refused

PayerOpt = Annotated[str | None, typer.Option("--payer", help="The payer (payer statements only).")]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format", help="pdf (every report), xlsx (payer statement) or csv (equity report)."
    ),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Where to write the file (default: its name, here).")
]


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot report` (the claims module adds the group)."""
    report_app.command("board")(board)
    report_app.command("payer")(payer_statement)
    report_app.command("equity")(equity)


def board(
    pilot: PilotOpt,
    month: MonthOpt,
    by: ByOpt,
    fmt: FormatOpt = "pdf",
    out_file: OutOpt = None,
    payer: PayerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The month's board pack (PDF): settlement position and decision, attainment trend,
    fund balances, variance, equity and open findings, with charts."""
    _report("board", pilot, month, by, fmt, out_file, payer, as_json)


def payer_statement(
    pilot: PilotOpt,
    month: MonthOpt,
    by: ByOpt,
    payer: PayerOpt = None,
    fmt: FormatOpt = "pdf",
    out_file: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A payer's statement of the month (PDF or XLSX): contributions, spend by use,
    utilisation, outcomes, reconciliation, disputes and findings."""
    _report("payer", pilot, month, by, fmt, out_file, payer, as_json)


def equity(
    pilot: PilotOpt,
    month: MonthOpt,
    by: ByOpt,
    fmt: FormatOpt = "pdf",
    out_file: OutOpt = None,
    payer: PayerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The month's equity report (PDF or CSV) from its stored equity check."""
    _report("equity", pilot, month, by, fmt, out_file, payer, as_json)


def _report(
    kind: str,
    pilot: str,
    month: str,
    by: str,
    fmt: str,
    out_file: Path | None,
    payer: str | None,
    as_json: bool,
) -> None:
    """Make the report, each figure traced to the records it came from; write it and
    print its path and size. A report, format or payer that does not exist, or that
    the user may not have, is refused (exit 2) and nothing is written."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance import reports
    from fundpilot.money.ledger import parse_month

    target, user = pilot_named(pilot), user_named(by)
    try:
        made = reports.make(
            kind=kind,
            fmt=fmt.lower(),
            pilot=target,
            month=parse_month(month),
            payer=payer,
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    path = out_file or Path(made.name)
    try:
        path.write_bytes(made.content)
    except OSError as exc:
        fail(f"cannot write {path}: {exc}")
    if as_json:
        emit({"path": str(path), "bytes": len(made.content), "content_type": made.content_type})
        return
    out.print(f"{path} ({len(made.content):,} bytes)", highlight=False, soft_wrap=True)
