"""`fundpilot reconcile` (C14 monthly multi-payer reconciliation) and `fundpilot
reallocate propose|approve|decline` (moving a payer's funds between its uses)."""

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

realloc_app = typer.Typer(
    no_args_is_help=True, help="Reallocate a payer's funds between its allowable uses (C14)."
)
IdArg = Annotated[int, typer.Argument(help="The reallocation's number.")]


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.command("reconcile")(reconcile)
    app.add_typer(realloc_app, name="reallocate")


def reconcile(
    pilot: PilotOpt,
    month: MonthOpt,
    by: ByOpt,
    show: Annotated[
        bool, typer.Option("--show", help="Show the stored reconciliation; do not run one.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Reconcile a month: spend, utilisation and outcomes by payer against contribution
    and the straight-line plan; variances over threshold open investigations."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.reconciliation import reconcile_month
    from fundpilot.money.ledger import parse_month
    from fundpilot.money.models import Reconciliation
    from fundpilot.money.reconciliation import scoped, scoped_rows
    from fundpilot.pilots import policy

    target, user = pilot_named(pilot), user_named(by)
    try:
        first = parse_month(month)
        if show:
            require(user, "reconciliation.view", target)
            recon = Reconciliation.objects.filter(pilot=target, month=first).first()
            if recon is None:
                fail(f"{month} is not reconciled")
        else:
            require(user, "reconciliation.run", target)
            recon = reconcile_month(pilot=target, month=first, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    scope = policy.payer_scope(user, target)
    figures = scoped(recon.figures, scope)
    opened = scoped_rows(recon.investigations.order_by("pk"), scope)
    if as_json:
        emit(
            {
                "pilot": pilot,
                "month": figures["month"],
                "figures": figures,
                "investigations": [
                    {"id": i.pk, "payer": i.payer, "variance": i.variance} for i in opened
                ],
            }
        )
        return
    _print(figures, opened)


def _print(figures: dict[str, Any], opened: Any) -> None:
    from rich.table import Table

    out.print(
        f"reconciliation {figures['month']}: month {figures['months_elapsed']} of"
        f" {figures['months_in_period']}, roster {figures['roster']},"
        f" threshold {figures['threshold_percent'] or 'none'}%",
        highlight=False,
    )
    table = Table("payer", "committed", "received", "spent (month)", "spent to date", "plan")
    table.add_column("variance %")
    table.add_column("member-months / episodes / milestones")
    table.add_column("open disputes")
    for p in figures["payers"]:
        u = p["utilisation"]
        table.add_row(
            p["payer"],
            p["contribution"]["committed"],
            p["contribution"]["received_to_date"],
            p["spend"]["month"],
            p["spend"]["to_date"],
            p["plan"]["to_date"],
            (p["plan"]["percent"] or "—") + (" !" if p["plan"]["over_threshold"] else ""),
            f"{u['member_months']} / {u['episodes']} / {u['milestones']}",
            str(p["disputes_open"]),
        )
    out.print(table)
    for i in opened:
        out.print(f"investigation {i.pk}: {i.payer} {i.variance['percent']}%", highlight=False)


def _document(r: Any) -> dict[str, Any]:
    return {
        "id": r.pk,
        "payer": r.payer,
        "from_use": r.from_use,
        "to_use": r.to_use,
        "amount": str(r.amount),
        "status": r.status,
        "decision_right": r.decision_right,
        "transaction": r.transaction.number if r.transaction else None,
    }


def _say(r: Any, as_json: bool) -> None:
    if as_json:
        emit(_document(r))
        return
    posted = f", posted as T{r.transaction.number}" if r.transaction else ""
    out.print(
        f"reallocation {r.pk}: {r.payer} {r.amount} {r.from_use} → {r.to_use}: {r.status}{posted}",
        highlight=False,
    )


def _find(target: Any, number: int) -> Any:
    from fundpilot.money.models import Reallocation

    found = Reallocation.objects.filter(pilot=target, pk=number).first()
    if found is None:
        fail(f"no reallocation {number} in {target.slug}")
    return found


@realloc_app.command("propose")
def propose(
    pilot: PilotOpt,
    payer: Annotated[str, typer.Option(help="The payer whose funds move.")],
    from_use: Annotated[str, typer.Option("--from-use", help="The use funds leave.")],
    to_use: Annotated[str, typer.Option("--to-use", help="The use funds go to.")],
    amount: Annotated[str, typer.Option(help="The amount, e.g. 1500.00.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    by: ByOpt,
    investigation: Annotated[
        int | None, typer.Option(help="The investigation this settles.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose a reallocation; somebody else approves it."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.reconciliation import propose_reallocation
    from fundpilot.money.models import Investigation

    target, user = pilot_named(pilot), user_named(by)
    require(user, "reallocation.propose", target)
    found = None
    if investigation is not None:
        found = Investigation.objects.filter(pilot=target, pk=investigation).first()
        if found is None:
            fail(f"no investigation {investigation} in {pilot}")
    try:
        made = propose_reallocation(
            pilot=target,
            payer=payer,
            from_use=from_use,
            to_use=to_use,
            amount=amount,
            reason=reason,
            investigation=found,
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    _say(made, as_json)


@realloc_app.command("approve")
def approve(pilot: PilotOpt, number: IdArg, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Approve a proposed reallocation under your decision right, and post it."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.reconciliation import approve_reallocation

    target, user = pilot_named(pilot), user_named(by)
    require(user, "reallocation.approve", target)
    try:
        done = approve_reallocation(reallocation=_find(target, number), by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    _say(done, as_json)


@realloc_app.command("decline")
def decline(
    pilot: PilotOpt,
    number: IdArg,
    reason: Annotated[str, typer.Option(help="Why.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Decline a proposed reallocation."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.reconciliation import decline_reallocation

    target, user = pilot_named(pilot), user_named(by)
    require(user, "reallocation.approve", target)
    try:
        done = decline_reallocation(
            reallocation=_find(target, number), reason=reason, by=user, at=timezone.now()
        )
    except Refused as exc:
        refused(exc)
    _say(done, as_json)
