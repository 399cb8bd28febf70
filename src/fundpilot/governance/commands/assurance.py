"""`fundpilot assurance-review`, `findings`, `finding-close` and `escalate-findings`
(C19 independent assurance)."""

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


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.command("assurance-review")(assurance_review)
    app.command("findings")(findings)
    app.command("finding-close")(finding_close)
    app.command("escalate-findings")(escalate_findings)


def _row(f: Any) -> dict[str, Any]:
    return {
        "id": f.pk,
        "quarter": f.review.quarter,
        "area": f.area,
        "severity": f.severity,
        "title": f.title,
        "action_plan": f.action_plan,
        "owner": f.owner.username,
        "deadline": f.deadline,
        "status": f.status,
        "escalated_at": f.escalated_at,
    }


def _print(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("#", "quarter", "area", "severity", "finding", "owner", "deadline", "status")
    for r in rows:
        status = r["status"] + (" (escalated)" if r["escalated_at"] else "")
        table.add_row(
            str(r["id"]),
            r["quarter"],
            r["area"],
            r["severity"],
            r["title"],
            r["owner"],
            str(r["deadline"]),
            status,
        )
    out.print(table)


def assurance_review(
    pilot: PilotOpt,
    quarter: Annotated[str, typer.Option(help="The ended quarter, YYYY-Qn.")],
    compliance: Annotated[str, typer.Option(help="What the review found on compliance.")],
    outcomes: Annotated[str, typer.Option(help="What it found on outcomes.")],
    equity: Annotated[str, typer.Option(help="What it found on equity.")],
    by: ByOpt,
    summary: Annotated[str, typer.Option(help="An overall conclusion.")] = "",
    finding: Annotated[
        list[str] | None,
        typer.Option(
            help='"area|severity|title|action plan|owner|YYYY-MM-DD"; repeat for each finding.'
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a quarter's independent review (assurance reviewer); its findings go to
    every payer's representatives and to their owners."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance.actions.assurance import record_assurance_review
    from fundpilot.governance.assurance import parse_finding

    target, user = pilot_named(pilot), user_named(by)
    try:
        review = record_assurance_review(
            pilot=target,
            quarter=quarter,
            compliance=compliance,
            outcomes=outcomes,
            equity=equity,
            summary=summary,
            findings=[parse_finding(target, f) for f in finding or []],
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    rows = [_row(f) for f in review.findings.select_related("review", "owner").order_by("pk")]
    if as_json:
        emit({"pilot": pilot, "quarter": review.quarter, "findings": rows})
        return
    out.print(f"{pilot}: assurance review of {review.quarter} recorded", highlight=False)
    _print(rows)


def findings(
    pilot: PilotOpt,
    by: ByOpt,
    open_only: Annotated[bool, typer.Option("--open", help="Only open findings.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Assurance findings with their owners, deadlines and escalation."""
    setup_django()
    from fundpilot.governance import assurance

    target, user = pilot_named(pilot), user_named(by)
    require(user, "assurance.view", target)
    rows = assurance.open_findings(target) if open_only else assurance.findings(target)
    listed = [_row(f) for f in rows]
    emit({"pilot": pilot, "findings": listed}) if as_json else _print(listed)


def finding_close(
    pilot: PilotOpt,
    finding: Annotated[int, typer.Option("--finding", help="The finding's number.")],
    note: Annotated[str, typer.Option(help="How the action plan was carried out.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Close a finding (assurance reviewer)."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance import assurance
    from fundpilot.governance.actions.assurance import close_finding

    target, user = pilot_named(pilot), user_named(by)
    found = assurance.findings(target).filter(pk=finding).first()
    if found is None:
        fail(f"no finding {finding} in {pilot}")
    try:
        done = close_finding(finding=found, note=note, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    emit(_row(done)) if as_json else out.print(f"finding {done.pk} closed", highlight=False)


def escalate_findings(
    pilot: Annotated[str | None, typer.Option(help="One pilot (default: every pilot).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Escalate, once, every open finding past its deadline (what `fundpilot worker`
    does on its schedule): the executive sponsor, the board chair and the payer
    representatives are notified."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance.actions.assurance import escalate_overdue_findings

    target = pilot_named(pilot) if pilot else None
    escalated = escalate_overdue_findings(at=timezone.now(), pilot=target)
    rows = [_row(f) for f in escalated]
    if as_json:
        emit({"escalated": rows})
        return
    out.print(f"{len(rows)} findings escalated", highlight=False)
    if rows:
        _print(rows)
