"""C18 equity safeguards: run the monthly check, review what it found.

- `run_equity_check` (compliance) stores a month's figures (`governance.equity.compute`)
  once the month has ended, once per month, with an EquityFinding for every signal
  listed for review (acceptance floor missed, O/E outside its interval, cherry-picking,
  deadline bursts, reused evidence, implausibly fast milestones), each with its data.
- `review_equity_finding` (compliance or an assurance reviewer) records the review of
  one finding with a note; nobody reviews a finding about their own organisation.
"""

from datetime import date, datetime

from django.db import transaction

from fundpilot.audit import log
from fundpilot.governance.equity import compute
from fundpilot.governance.models import EquityCheck, EquityFinding
from fundpilot.money.monthly import check_month, month_end_instant
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused


def run_equity_check(*, pilot: Pilot, month: date, by: User, at: datetime) -> EquityCheck:
    """C18: the month's equity figures, stored, and a finding for each signal."""
    role = policy.require(by, "equity.run", pilot)
    month = month.replace(day=1)
    check_month(pilot, month, at)
    if at < month_end_instant(pilot, month):
        raise Refused(
            "month_not_ended",
            f"{month:%Y-%m} has not ended yet: its equity check runs once it has",
            "month",
        )
    with transaction.atomic(durable=True):
        Pilot.objects.select_for_update().get(pk=pilot.pk)
        if EquityCheck.objects.filter(pilot=pilot, month=month).exists():
            raise Refused("already_run", f"the {month:%Y-%m} equity check has run", "month")
        figures = compute(pilot, month)
        check = EquityCheck.objects.create(
            pilot=pilot,
            month=month,
            figures=figures,
            run_by=by,
            run_at=at,
            rulebook_version=pilot.current.number,
        )
        found = EquityFinding.objects.bulk_create(
            EquityFinding(
                pilot=pilot,
                equity_check=check,
                month=month,
                kind=s["kind"],
                subject=s["subject"][:200],
                data=s["data"] | {"providers": s["providers"]},
            )
            for s in figures["signals"]
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="equity_check.run",
            subject=f"equity_check:{month:%Y-%m}",
            payload={
                "month": f"{month:%Y-%m}",
                "findings": [f"{f.kind}:{f.subject}" for f in found],
                "floors": {f["cohort"]: f["status"] for f in figures["floors"]},
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return check


def _open(finding: EquityFinding) -> None:
    if finding.status != EquityFinding.OPEN:
        raise Refused("already_reviewed", f"finding {finding.pk} was reviewed already", "finding")


def review_equity_finding(
    *, finding: EquityFinding, note: str, by: User, at: datetime
) -> EquityFinding:
    """C18: record what the review of a finding concluded."""
    pilot = finding.pilot
    role = policy.require(by, "equity.review", pilot)
    _open(finding)
    note = note.strip()
    if not note:
        raise Refused("note_required", "say what the review found", "note")
    own = by.organisation.code if by.organisation else None
    if own is not None and own in finding.data.get("providers", []):
        raise Refused(
            "own_organisation",
            f"this finding concerns {own}, your own organisation: someone else reviews it",
            "finding",
        )
    with transaction.atomic(durable=True):
        locked = EquityFinding.objects.select_for_update().get(pk=finding.pk)
        _open(locked)
        locked.status, locked.review_note = EquityFinding.REVIEWED, note
        locked.reviewed_by, locked.reviewed_at = by, at
        locked.save(update_fields=["status", "review_note", "reviewed_by", "reviewed_at"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="equity_finding.review",
            subject=f"equity_finding:{locked.pk}",
            payload={
                "month": f"{locked.month:%Y-%m}",
                "kind": locked.kind,
                "subject": locked.subject,
                "note": note,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked
