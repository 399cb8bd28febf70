"""`fundpilot dispute list|raise|escalate|resolve` (C11)."""

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
from fundpilot.rules.errors import Refused

dispute_app = typer.Typer(no_args_is_help=True, help="Disputes of decisions (C11).")
ReferenceArg = Annotated[str, typer.Argument(help="The dispute's reference, e.g. D-0001.")]
Many = list[str] | None


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.add_typer(dispute_app, name="dispute")


def _document(d: Any, late_days: int) -> dict[str, Any]:
    return {
        "reference": d.reference,
        "subject_kind": d.subject_kind,
        "subject_id": d.verification_id or d.activation_id or d.sample_audit_id,
        "provider": d.provider.code,
        "stage": d.stage,
        "due": d.due,
        "status": d.status,
        "late_days": late_days,
        "outcome": d.outcome,
        "new_decision": d.new_decision,
        "grounds": d.grounds,
        "resolution": d.resolution,
        "learning": d.learning,
        "steps": [
            {"stage": s.stage, "action": s.action, "by": s.by.username, "at": s.at, "note": s.note}
            for s in d.steps.select_related("by")
        ],
    }


def _find(target: Any, reference: str) -> Any:
    from fundpilot.claims.models import Dispute

    found = Dispute.objects.filter(pilot=target, reference=reference).first()
    if found is None:
        fail(f"no dispute '{reference}' in {target.slug}")
    return found


def _say(d: Any, late_days: int, as_json: bool) -> None:
    if as_json:
        emit(_document(d, late_days))
        return
    late = f", {late_days} business days late" if late_days else ""
    state = d.status if d.status == "open" else f"{d.status}: {d.outcome}"
    out.print(f"{d.reference}: {state} at {d.stage}, due {d.due}{late}", highlight=False)
    if d.new_decision:
        out.print(f"new decision: {d.new_decision}", highlight=False)


@dispute_app.command("list")
def list_disputes(
    pilot: PilotOpt,
    by: ByOpt,
    only_open: Annotated[bool, typer.Option("--open", help="Open disputes only.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Disputes you may see: open ones first (soonest due), with lateness."""
    setup_django()
    from django.utils import timezone
    from rich.table import Table

    from fundpilot.claims.actions.disputes import disputes_for, open_days_late

    target, user = pilot_named(pilot), user_named(by)
    require(user, "dispute.view", target)
    rows = disputes_for(user, target)
    if only_open:
        rows = rows.filter(status="open")
    today = target.calendar.local_date(timezone.now())
    found = [(d, open_days_late(target, d, today)) for d in rows[:500]]
    if as_json:
        emit({"pilot": pilot, "disputes": [_document(d, late) for d, late in found]})
        return
    table = Table("dispute", "decision", "provider", "stage", "due", "late", "status")
    for d, late in found:
        table.add_row(
            d.reference,
            d.subject_kind,
            d.provider.code,
            d.stage,
            str(d.due),
            f"{late} bd" if late else "",
            d.status if d.status == "open" else d.outcome,
        )
    out.print(f"{pilot}: disputes")
    out.print(table)


@dispute_app.command("raise")
def raise_one(
    pilot: PilotOpt,
    grounds: Annotated[str, typer.Option(help="Why the decision is wrong.")],
    by: ByOpt,
    verification_of: Annotated[
        str | None, typer.Option(help="A claim reference: dispute its current verification.")
    ] = None,
    audit_of: Annotated[
        str | None, typer.Option(help="A claim reference: dispute its current sample audit.")
    ] = None,
    activation_of: Annotated[
        str | None, typer.Option(help="A participant ID: dispute its latest activation decision.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Dispute a verification, sample-audit or activation decision."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.disputes import raise_dispute
    from fundpilot.claims.models import SampleAudit, Verification
    from fundpilot.participants.models import ActivationDecision

    target, user = pilot_named(pilot), user_named(by)
    given = [x for x in (verification_of, audit_of, activation_of) if x]
    if len(given) != 1:
        fail("name one decision: --verification-of, --audit-of or --activation-of")
    if verification_of:
        rows: Any = Verification.objects.filter(claim__pilot=target, claim__reference=given[0])
    elif audit_of:
        rows = SampleAudit.objects.filter(
            item__sample__pilot=target, item__claim__reference=given[0]
        )
    else:
        rows = ActivationDecision.objects.filter(
            participant__pilot=target, participant__participant_id=given[0]
        )
    subject = rows.order_by("-pk").first()
    if subject is None:
        fail(f"no such decision about '{given[0]}' in {pilot}")
    try:
        made = raise_dispute(subject=subject, grounds=grounds, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    _say(made, 0, as_json)


@dispute_app.command("escalate")
def escalate(
    reference: ReferenceArg,
    pilot: PilotOpt,
    note: Annotated[str, typer.Option(help="Why it goes to the next stage.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Take an open dispute to the rulebook's next stage."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.disputes import escalate_dispute, open_days_late

    target, user = pilot_named(pilot), user_named(by)
    found = _find(target, reference)
    now = timezone.now()
    try:
        escalate_dispute(dispute=found, note=note, by=user, at=now)
    except Refused as exc:
        refused(exc)
    found.refresh_from_db()
    _say(found, open_days_late(target, found, target.calendar.local_date(now)), as_json)


@dispute_app.command("resolve")
def resolve(
    reference: ReferenceArg,
    pilot: PilotOpt,
    outcome: Annotated[str, typer.Option(help="upheld, overturned or varied.")],
    resolution: Annotated[str, typer.Option(help="The documented resolution.")],
    learning: Annotated[str, typer.Option(help="What providers and verifiers learn.")],
    by: ByOpt,
    verification_outcome: Annotated[
        str | None, typer.Option(help="The new verification: verified, rejected, …")
    ] = None,
    met: Annotated[Many, typer.Option("--met", help="A checklist item met (repeat).")] = None,
    not_met: Annotated[Many, typer.Option("--not-met", help="An item not met (repeat).")] = None,
    reason: Annotated[Many, typer.Option("--reason", help="A rejection reason code.")] = None,
    criterion: Annotated[Many, typer.Option("--criterion", help="A tranche criterion met.")] = None,
    supported_amount: Annotated[
        str | None, typer.Option(help="The new sample audit: the amount supported.")
    ] = None,
    finding: Annotated[Many, typer.Option("--finding", help="A finding code (repeat).")] = None,
    note: Annotated[str, typer.Option(help="A note on the new decision.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Resolve a dispute: upheld, or overturned/varied by a new decision. Exit 2 when
    refused."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.disputes import resolve_dispute

    target, user = pilot_named(pilot), user_named(by)
    found = _find(target, reference)
    checklist = [{"kind": k, "met": True} for k in met or []]
    checklist += [{"kind": k, "met": False} for k in not_met or []]
    try:
        resolved = resolve_dispute(
            dispute=found,
            outcome=outcome,
            resolution=resolution,
            learning=learning,
            by=user,
            at=timezone.now(),
            verification_outcome=verification_outcome,
            checklist=checklist,
            reason_codes=reason or [],
            criteria_met=criterion or [],
            supported_amount=supported_amount,
            finding_codes=finding or [],
            note=note,
        )
    except Refused as exc:
        refused(exc)
    _say(resolved, resolved.late_days, as_json)
