"""`fundpilot board-decide`, `statement` and `restriction-close` (C17 board decisions)."""

from datetime import date
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
    setup_django,
    user_named,
)
from fundpilot.money.commands.common import MonthOpt
from fundpilot.rules.errors import Refused


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.command("board-decide")(board_decide)
    app.command("statement")(statement)
    app.command("restriction-close")(restriction_close)


def day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not a date YYYY-MM-DD")


def _settlement(pilot: Any, month: str) -> Any:
    from fundpilot.governance.models import Settlement
    from fundpilot.money.ledger import parse_month

    found = Settlement.objects.filter(pilot=pilot, month=parse_month(month)).first()
    if found is None:
        fail(f"no settlement file for {month}")
    return found


def _show(decision: Any, as_json: bool) -> None:
    restrictions = [
        {"id": r.pk, "description": r.description, "owner": r.owner.username, "due": r.due}
        for r in decision.restrictions.select_related("owner").order_by("pk")
    ]
    document = {
        "month": f"{decision.settlement.month:%Y-%m}",
        "position": decision.position,
        "decision_code": decision.decision_code,
        "approved_amount": str(decision.approved_amount),
        "residual_risk": decision.residual_risk,
        "executive_owner": decision.executive_owner.username,
        "review_date": decision.review_date,
        "next_checkpoint": decision.next_checkpoint,
        "unresolved_questions": decision.unresolved_questions,
        "restrictions": restrictions,
    }
    if as_json:
        emit(document)
        return
    out.print(
        f"board decision on {document['month']}: {decision.position} ({decision.decision_code}),"
        f" {decision.approved_amount} approved, residual risk {decision.residual_risk},"
        f" next checkpoint {decision.next_checkpoint}",
        highlight=False,
        soft_wrap=True,
    )
    for r in restrictions:
        out.print(
            f"  restriction {r['id']}: {r['description']} — {r['owner']} by {r['due']}",
            highlight=False,
            soft_wrap=True,
        )


def board_decide(
    pilot: PilotOpt,
    month: MonthOpt,
    position: Annotated[str, typer.Option(help="supportable, provisional or restricted")],
    code: Annotated[str, typer.Option("--code", help="The decision code.")],
    approved_amount: Annotated[str, typer.Option(help="At most the milestone amount.")],
    executive_owner: Annotated[str, typer.Option(help="Executive sponsor or board chair.")],
    residual_risk: Annotated[str, typer.Option(help="low, medium or high")],
    review_date: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    next_checkpoint: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    integrity_risks: Annotated[str, typer.Option(help="Reassessment integrity risks noted.")],
    denominator_disputes: Annotated[str, typer.Option(help="Denominator disputes noted.")],
    definition_issues: Annotated[str, typer.Option(help="Unresolved definition issues noted.")],
    by: ByOpt,
    restriction: Annotated[
        list[str] | None,
        typer.Option(help='"description|owner|YYYY-MM-DD"; repeat for each restriction.'),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the board's position on a month's finalised, reviewed settlement (board
    chair). Write 'none identified' for a note with nothing to say; blank is refused."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance.actions.board import decide
    from fundpilot.governance.board import parse_restriction
    from fundpilot.money.api.common import person_in

    target, user = pilot_named(pilot), user_named(by)
    dates = day(review_date, "--review-date"), day(next_checkpoint, "--next-checkpoint")
    try:
        decision = decide(
            settlement=_settlement(target, month),
            position=position,
            decision_code=code,
            approved_amount=approved_amount,
            executive_owner=person_in(target, executive_owner),
            residual_risk=residual_risk,
            review_date=dates[0],
            next_checkpoint=dates[1],
            integrity_risks=integrity_risks,
            denominator_disputes=denominator_disputes,
            definition_issues=definition_issues,
            restrictions=[parse_restriction(target, r) for r in restriction or []],
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    _show(decision, as_json)


def statement(
    pilot: PilotOpt,
    month: MonthOpt,
    audience: Annotated[str, typer.Option(help="Who the statement was made to.")],
    position: Annotated[str, typer.Option(help="supportable, provisional or restricted")],
    amount: Annotated[str, typer.Option(help="The amount stated, e.g. 1250.00")],
    text: Annotated[str, typer.Option(help="What was said.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Record an external payment statement on a month's board decision; refused when
    it says more than the board approved."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance.actions.board import record_external_statement
    from fundpilot.governance.board import decision_for
    from fundpilot.money.ledger import parse_month

    target, user = pilot_named(pilot), user_named(by)
    try:
        decision = decision_for(target, parse_month(month))
        if decision is None:
            fail(f"the board has not decided on {month}")
        made = record_external_statement(
            decision=decision,
            audience=audience,
            position=position,
            amount=amount,
            text=text,
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    document = {"id": made.pk, "month": month, "audience": made.audience}
    document |= {"position": made.position, "amount": str(made.amount)}
    if as_json:
        emit(document)
        return
    out.print(
        f"statement {made.pk} to {made.audience}: {made.position}, {made.amount}", highlight=False
    )


def restriction_close(
    pilot: PilotOpt,
    restriction: Annotated[int, typer.Option("--restriction", help="The restriction's number.")],
    note: Annotated[str, typer.Option(help="Why it can be lifted.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Lift a restriction of a board decision (board chair)."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance.actions.board import close_restriction
    from fundpilot.governance.models import Restriction

    target, user = pilot_named(pilot), user_named(by)
    found = Restriction.objects.filter(decision__pilot=target, pk=restriction).first()
    if found is None:
        fail(f"no restriction {restriction} in {pilot}")
    try:
        done = close_restriction(restriction=found, note=note, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    if as_json:
        emit({"id": done.pk, "status": "lifted", "closed_at": done.closed_at, "note": note})
        return
    out.print(f"restriction {done.pk} lifted", highlight=False)
