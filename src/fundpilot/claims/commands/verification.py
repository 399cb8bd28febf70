"""`fundpilot verify` (C9 independent verification of one claim) and `fundpilot report
verification` (the monthly verification report)."""

from enum import StrEnum
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
from fundpilot.rules.errors import Refused

report_app = typer.Typer(no_args_is_help=True, help="Monthly reports.")


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.command()(verify)
    app.add_typer(report_app, name="report")


def _item_notes(pairs: list[str]) -> dict[str, str]:
    notes = {}
    for pair in pairs:
        kind, sep, text = pair.partition("=")
        if not sep or not kind:
            fail(f"--item-note {pair!r}: write it as KIND=TEXT")
        notes[kind] = text
    return notes


def verify(
    pilot: PilotOpt,
    claim: Annotated[str, typer.Option("--claim", help="The claim's reference, e.g. P-0001/M3/1.")],
    outcome: Annotated[
        str, typer.Option(help="verified, rejected or partially_verified (tranches).")
    ],
    by: ByOpt,
    met: Annotated[
        list[str] | None, typer.Option("--met", help="An evidence requirement met (repeat).")
    ] = None,
    not_met: Annotated[
        list[str] | None, typer.Option("--not-met", help="An evidence requirement not met.")
    ] = None,
    reason: Annotated[
        list[str] | None, typer.Option("--reason", help="A rejection reason code (repeat).")
    ] = None,
    criterion: Annotated[
        list[str] | None, typer.Option("--criterion", help="A tranche criterion met (repeat).")
    ] = None,
    item_note: Annotated[
        list[str] | None, typer.Option("--item-note", help="KIND=TEXT: a note on one item.")
    ] = None,
    note: Annotated[str, typer.Option(help="A note on the decision.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Decide a submitted high-value claim (C9): answer every evidence requirement with
    --met or --not-met; a rejection needs --reason. Exit 2 when refused."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.verification import verify_claim
    from fundpilot.claims.models import Claim
    from fundpilot.pilots import policy

    target, user = pilot_named(pilot), user_named(by)
    notes = _item_notes(item_note or [])
    checklist = [{"kind": k, "met": True, "note": notes.get(k, "")} for k in met or []]
    checklist += [{"kind": k, "met": False, "note": notes.get(k, "")} for k in not_met or []]
    try:
        policy.require(user, "claim.verify", target)
        rows = Claim.objects.filter(pilot=target, reference=claim)
        found = policy.claims_scope(user, target, rows).first()
        if found is None:
            fail(f"no claim '{claim}' in {pilot}")
        decision = verify_claim(
            claim=found,
            outcome=outcome,
            checklist=checklist,
            reason_codes=reason or [],
            criteria_met=criterion or [],
            note=note,
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    found.refresh_from_db()
    document = {
        "claim": found.reference,
        "status": found.status,
        "outcome": decision.outcome,
        "amount": str(decision.amount),
        "reason_codes": decision.reason_codes,
        "criteria_met": decision.criteria_met,
        "checklist": decision.checklist,
        "due": decision.due,
        "late_days": decision.late_days,
        "cure_until": found.cure_until,
        "basis_key": found.basis_key,
    }
    if as_json:
        emit(document)
        return
    late = f", {decision.late_days} business days late" if decision.late_days else ", on time"
    out.print(f"{found.reference}: {decision.outcome} (due {decision.due}{late})")
    out.print(f"status {found.status}; makes payable {decision.amount}")
    if found.cure_until:
        out.print(f"may be cured until {found.cure_until}")


@report_app.command("verification")
def verification_report(
    pilot: PilotOpt,
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (pilot time).")],
    by: ByOpt,
    format: Annotated[Format, typer.Option("--format", help="table, json or csv.")] = Format.TABLE,
    as_json: JsonOpt = False,
) -> None:
    """Monthly verification report: per provider, rejection reasons, sample audit."""
    setup_django()
    import sys

    from fundpilot.claims import report

    target, user = pilot_named(pilot), user_named(by)
    try:
        found = report.verification_report(target, month=month, user=user)
    except Refused as exc:
        refused(exc)
    if as_json or format is Format.JSON:
        emit(report.as_document(found))
    elif format is Format.CSV:
        sys.stdout.write(report.as_csv(found))
    else:
        _table(found)


def _table(found: Any) -> None:
    from rich.table import Table

    table = Table(
        "provider",
        "submitted",
        "verified",
        "rejected",
        "partial",
        "median days",
        "worst days",
        "late",
        "open overdue",
        title=f"{found.pilot.slug}: verification in {found.month} (business days)",
    )
    for r in found.rows:
        median = "—" if r.median_days_to_decision is None else f"{r.median_days_to_decision:g}"
        worst = "—" if r.worst_days_to_decision is None else str(r.worst_days_to_decision)
        table.add_row(
            r.provider,
            str(r.submitted),
            str(r.verified),
            str(r.rejected),
            str(r.partially_verified),
            median,
            worst,
            str(r.late_decisions),
            str(r.open_overdue),
        )
    out.print(table)
    reasons = Table("provider", "rank", "code", "reason", "count", title="Rejection reasons")
    for reason in found.reasons:
        reasons.add_row(
            reason.provider, str(reason.rank), reason.code, reason.label, str(reason.count)
        )
    out.print(reasons)
    sample = found.sample
    if sample is None:
        out.print(f"Sample audit: no sample drawn for {found.month}")
        return
    audits = Table(
        "provider", "sampled", "audited", "failed", "paid", "supported", "overpayment",
        title=f"Sample {sample.period} (seed {sample.seed}, {sample.design})",
    )  # fmt: skip
    for s in sample.rows:
        audits.add_row(
            s.provider,
            str(s.sampled),
            str(s.audited),
            str(s.failed),
            str(s.paid),
            str(s.supported),
            str(s.overpayment),
        )
    out.print(audits)
    a = sample.appraisal
    if a is not None:
        out.print(
            f"Appraisal: point estimate {a.point_estimate}, {a.confidence} {a.sided}-sided"
            f" interval [{a.lower}, {a.upper if a.upper is not None else '—'}],"
            f" recovery demanded {a.recovery}"
        )
    elif sample.appraisal_hidden:
        out.print("Appraisal: pilot-wide; shown to the pilot office and verifiers.")
    else:
        out.print("Appraisal: not yet appraised.")
