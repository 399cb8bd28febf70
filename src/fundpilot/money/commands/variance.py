"""`fundpilot variance` (C15 monthly variance cycle and stop-loss)."""

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
    app.command("variance")(variance)


def variance(
    pilot: PilotOpt,
    month: MonthOpt,
    by: ByOpt,
    show: Annotated[
        bool, typer.Option("--show", help="Show the stored cycle; do not run one.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a month's variance cycle: cost and utilisation by cohort, geography and
    service level against plan; stop-loss triggers and flagged variances open case
    reviews; open corrective actions of earlier cycles are re-tested."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.variance import run_variance_cycle
    from fundpilot.money.ledger import parse_month
    from fundpilot.money.models import VarianceCycle

    target, user = pilot_named(pilot), user_named(by)
    try:
        first = parse_month(month)
        if show:
            require(user, "variance.view", target)
            cycle = VarianceCycle.objects.filter(pilot=target, month=first).first()
            if cycle is None:
                fail(f"no variance cycle for {month}")
        else:
            require(user, "variance.run", target)
            cycle = run_variance_cycle(pilot=target, month=first, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    reviews = [
        {"id": r.pk, "trigger": r.trigger, "subject": r.subject}
        for r in cycle.reviews.order_by("pk")
    ]
    if as_json:
        emit(
            {
                "pilot": pilot,
                "month": f"{first:%Y-%m}",
                "figures": cycle.figures,
                "reviews": reviews,
            }
        )
        return
    _print(cycle.figures, reviews)


def _print(figures: dict[str, Any], reviews: list[dict[str, Any]]) -> None:
    from rich.table import Table

    p = figures["pilot"]
    out.print(
        f"variance {figures['month']}: cost {p['cost']} over {p['member_months']} member-months"
        f" ({p['cost_per_member_month'] or '—'} per member-month), {p['episodes']} episodes",
        highlight=False,
    )
    for dimension, rows in figures["tables"].items():
        table = Table(dimension, "member-months", "episodes", "cost", "planned cost", "cost %")
        table.add_column("episode %")
        table.add_column("flag")
        for r in rows:
            table.add_row(
                r["group"],
                str(r["member_months"]),
                str(r["episodes"]),
                r["cost"],
                r["planned_cost"] or "—",
                r["cost_variance_percent"] or "—",
                r["episode_variance_percent"] or "—",
                ", ".join(r["flags"]),
            )
        out.print(table)
    for h in figures["stop_loss"]:
        out.print(f"stop-loss {h['trigger']}: {h['subject']}", highlight=False)
    for r in reviews:
        out.print(f"case review {r['id']} opened: {r['trigger']} {r['subject']}", highlight=False)
    for t in figures["retests"]:
        out.print(f"corrective action {t['action']} re-tested: {t['result']}", highlight=False)
