"""`fundpilot pay` (C13 payment runs).

    fundpilot pay --pilot P --period YYYY-MM [--dry-run] [--json] [--out DIR]

Computes what is due for the month, checks decision rights and funds, and posts it (or,
with --dry-run, only shows it). With --out, a posted run writes one CSV and one JSON
remittance file per provider into DIR. --json prints the run, with its `total` (zero
when there was nothing new to pay). A refusal exits 2.
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fundpilot.cli_kit import (
    ByOpt,
    JsonOpt,
    PilotOpt,
    emit,
    err,
    out,
    pilot_named,
    refused,
    setup_django,
    user_named,
)
from fundpilot.rules.errors import Refused


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.command("pay")(pay)


def _print(document: dict[str, Any]) -> None:
    verb = "would pay" if document["dry_run"] else "paid"
    if document["nothing_due"]:
        out.print(f"{document['pilot']} {document['month']}: nothing new is due; total 0.00")
    else:
        run = f"run {document['number']}" if document["number"] else "run"
        out.print(
            f"{document['pilot']} {document['month']} {run}: {verb} {document['gross']} gross,"
            f" {document['netted']} recoupment netted, total {document['total']}",
            highlight=False,
        )
    kinds = Table("kind", "count", "amount")
    for kind, row in document["by_kind"].items():
        kinds.add_row(kind, str(row["count"]), row["amount"])
    if document["by_kind"]:
        out.print(kinds)
    providers = Table("provider", "gross", "netted", "net", "still owed")
    for p in document["providers"]:
        providers.add_row(
            p["provider"], p["gross"], p["recoupment_netted"], p["net"], p["recoupment_outstanding"]
        )
    if document["providers"]:
        out.print(providers)
    for held in document["held"]:
        out.print(f"held {held['basis_key']} ({held['amount']}): {held['reason']}", highlight=False)


def _write(run: Any, folder: Path) -> list[Path]:
    from fundpilot.money import remittance

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for provider in remittance.providers_of(run):
        document = remittance.remittance(run, provider)
        csv_path = folder / remittance.filename(document, "csv")
        csv_path.write_text(remittance.as_csv(document), encoding="utf-8")
        json_path = folder / remittance.filename(document, "json")
        json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        written += [csv_path, json_path]
    return written


def pay(
    pilot: PilotOpt,
    period: Annotated[str, typer.Option("--period", help="The month paid for, YYYY-MM.")],
    by: ByOpt,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be paid; write nothing.")
    ] = False,
    folder: Annotated[
        Path | None,
        typer.Option("--out", help="Write each provider's remittance (CSV and JSON) here."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """C13: run the month's payments — every basis due and not yet paid, once."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.payments import run_payments
    from fundpilot.money.ledger import parse_month

    target, user = pilot_named(pilot), user_named(by)
    try:
        result = run_payments(
            pilot=target, month=parse_month(period), by=user, at=timezone.now(), dry_run=dry_run
        )
    except Refused as exc:
        refused(exc)
    document = result.as_dict()
    written = _write(result.run, folder) if folder is not None and result.run is not None else []
    document["remittance_files"] = [str(p) for p in written]
    if as_json:
        emit(document)
        return
    _print(document)
    for path in written:
        err.print(f"wrote {path}", highlight=False)
