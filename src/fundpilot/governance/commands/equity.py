"""`fundpilot equity` (C18 equity safeguards)."""

import csv
from pathlib import Path
from typing import Annotated, Any

import typer

from fundpilot.cli_kit import (
    ByOpt,
    JsonOpt,
    PilotOpt,
    emit,
    fail,
    out,
    pilot_named,
    refused,
    require,
    setup_django,
    user_named,
)
from fundpilot.money.commands.common import MonthOpt
from fundpilot.rules.errors import Refused


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.command("equity")(equity)


def equity(
    pilot: PilotOpt,
    month: MonthOpt,
    by: ByOpt,
    show: Annotated[
        bool,
        typer.Option(
            "--show",
            help="Show the month's figures (the stored check's, else computed now);"
            " do not run the check.",
        ),
    ] = False,
    as_json: JsonOpt = False,
    to_csv: Annotated[
        Path | None, typer.Option("--csv", help="Also write the figures as CSV to this file.")
    ] = None,
) -> None:
    """Run a month's equity check: enrolment, acceptance, activation and attainment by
    acuity band and subpopulation flag; acceptance floors; observed vs expected
    attainment by provider; cherry-picking and documentation-inflation signals, each a
    finding for review; equity between providers."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance import equity as figures_of
    from fundpilot.governance.actions.equity import run_equity_check
    from fundpilot.governance.models import EquityCheck
    from fundpilot.money.ledger import parse_month
    from fundpilot.pilots import policy

    target, user = pilot_named(pilot), user_named(by)
    try:
        first = parse_month(month)
        if show:
            require(user, "equity.view", target)
            check = EquityCheck.objects.filter(pilot=target, month=first).first()
            figures = check.figures if check else figures_of.compute(target, first)
        else:
            require(user, "equity.run", target)
            check = run_equity_check(pilot=target, month=first, by=user, at=timezone.now())
            figures = check.figures
    except Refused as exc:
        refused(exc)
    if not policy.allowed(user, "participant.view", target):
        figures = figures_of.redacted(figures)
    findings = [
        {"id": f.pk, "kind": f.kind, "subject": f.subject, "status": f.status}
        for f in (check.findings.order_by("pk") if check else [])
    ]
    if to_csv is not None:
        try:
            with to_csv.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerows(figures_of.csv_rows(figures))
        except OSError as exc:
            fail(f"cannot write {to_csv}: {exc}")
    if as_json:
        emit(
            {
                "pilot": pilot,
                "month": f"{first:%Y-%m}",
                "stored": check is not None,
                "figures": figures,
                "findings": findings,
            }
        )
        return
    _print(figures, check is not None, findings)


def _print(figures: dict[str, Any], stored: bool, findings: list[dict[str, Any]]) -> None:
    from rich.table import Table

    state = "as stored" if stored else "not run: computed now"
    out.print(f"equity {figures['month']} ({state})", highlight=False)
    floors = Table("cohort", "minimum %", "accepted", "decided", "rate", "status")
    for f in figures["floors"]:
        floors.add_row(
            f["cohort"],
            f["minimum_rate"],
            str(f["count"]),
            str(f["of"]),
            f["rate"] or "—",
            f["status"],
        )
    out.print(floors)
    oe = Table("provider", "units", "observed", "expected", "O/E", "90% interval", "outside 1")
    for g in figures["oe"]["providers"]:
        interval = f"{g['low']}–{g['high']}" if g["low"] is not None else g["reason"] or ""
        oe.add_row(
            g["provider"],
            str(g["units"]),
            str(g["observed"]),
            g["expected"] or "—",
            g["ratio"] or "—",
            interval,
            "yes" if g["excludes_one"] else "no",
        )
    out.print(oe)
    providers = Table("provider", "roster", "staff", "rejected", "median days to pay", "held")
    providers.add_column("recouped")
    providers.add_column("payable unpaid")
    for p in figures["providers"]:
        r, pay, held = p["rejections"], p["time_to_payment"], p["withheld"]
        providers.add_row(
            p["provider"],
            str(p["size"]["roster"]),
            str(p["size"]["staff"]),
            f"{r['count']}/{r['of']}",
            pay["median_days"] or "—",
            held["held"],
            held["recouped"],
            held["payable_unpaid"],
        )
    out.print(providers)
    for s in figures["signals"]:
        out.print(f"signal {s['kind']}: {s['subject']}", highlight=False)
    for f in findings:
        out.print(f"finding {f['id']} ({f['status']}): {f['kind']} {f['subject']}", highlight=False)
