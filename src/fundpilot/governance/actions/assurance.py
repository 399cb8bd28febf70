"""C19 independent assurance: the quarterly review of compliance, outcomes and equity by
the assurance body; its findings go to every payer, each with an action plan, an owner
and a deadline; a finding whose deadline passes is escalated automatically.

- `record_assurance_review`: once per ended quarter; notifies every payer's
  representatives and each finding's owner.
- `close_finding`: the assurance reviewer closes a finding once its plan is done.
- `escalate_overdue_findings`: run by the worker (`governance.tasks`) and by
  `fundpilot escalate-findings`: each open finding past its deadline (the pilot's local
  date) and not yet escalated is escalated to the executive sponsor, the board chair and
  the payer representatives; once only.
"""

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.urls import reverse

from fundpilot.audit import log
from fundpilot.governance.assurance import holders, payer_representatives, quarter_bounds
from fundpilot.governance.models import AssuranceReview, Finding
from fundpilot.money.monthly import owner_may
from fundpilot.participants.models import Notification
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import Role

# The worker escalates on the rules' behalf; no person's name is on it.
ESCALATION = log.Actor("system:escalation", "", "")
TITLE_LENGTH = Finding._meta.get_field("title").max_length


def review_link(pilot: Pilot, quarter: str) -> str:
    return reverse("governance:assurance-review", kwargs={"pilot": pilot.slug, "quarter": quarter})


def _notify(pilot: Pilot, people: Sequence[User], subject: str, link: str, at: datetime) -> None:
    Notification.objects.bulk_create(
        Notification(pilot=pilot, user=u, subject=subject[:200], link=link, created_at=at)
        for u in {u.pk: u for u in people}.values()
    )


def _finding(pilot: Pilot, raw: Mapping[str, Any], today: date, by: User) -> dict[str, Any]:
    """One finding, checked: known area and severity, a title and an action plan, an
    owner of the pilot who may see it (not the reviewer), a deadline after the review."""
    found = {k: str(raw.get(k) or "").strip() for k in ("area", "severity", "title")}
    found["action_plan"] = str(raw.get("action_plan") or "").strip()
    if found["area"] not in Finding.AREAS:
        raise Refused(
            "unknown_area",
            f"{found['area']!r} is not one of {', '.join(Finding.AREAS)}",
            "findings",
        )
    if found["severity"] not in Finding.SEVERITIES:
        raise Refused(
            "unknown_severity",
            f"{found['severity']!r} is not one of {', '.join(Finding.SEVERITIES)}",
            "findings",
        )
    if not found["title"]:
        raise Refused("finding_title_required", "give each finding a title", "findings")
    if len(found["title"]) > TITLE_LENGTH:
        raise Refused(
            "invalid_finding_title", f"a title has at most {TITLE_LENGTH} characters", "findings"
        )
    if not found["action_plan"]:
        raise Refused(
            "action_plan_required", f"finding {found['title']!r} needs an action plan", "findings"
        )
    owner, deadline = raw.get("owner"), raw.get("deadline")
    if not isinstance(owner, User):
        raise Refused("owner_required", f"name who owns {found['title']!r}", "findings")
    if not policy.roles_in(owner, pilot):
        raise Refused(
            "owner_not_in_pilot", f"{owner.username} holds no role in {pilot.slug}", "findings"
        )
    owner_may(pilot, owner, "assurance.view")  # an owner sees the finding they own
    if owner.pk == by.pk:
        raise Refused(
            "owner_is_reviewer", "the assurance body does not own the fixes it asks for", "findings"
        )
    if not isinstance(deadline, date) or deadline <= today:
        raise Refused(
            "deadline_not_after_review",
            f"the deadline of {found['title']!r} must be after the review ({today})",
            "findings",
        )
    return found | {"owner": owner, "deadline": deadline}


def record_assurance_review(
    *,
    pilot: Pilot,
    quarter: str,
    compliance: str,
    outcomes: str,
    equity: str,
    findings: Sequence[Mapping[str, Any]] = (),
    summary: str = "",
    by: User,
    at: datetime,
) -> AssuranceReview:
    """C19: a quarter's review of compliance, outcomes and equity, with its findings
    sent to every payer."""
    role = policy.require(by, "assurance.review", pilot)
    quarter = quarter.strip()
    first, last = quarter_bounds(quarter)
    today = pilot.calendar.local_date(at)
    if last >= today:
        raise Refused("quarter_not_ended", f"{quarter} ends on {last}; review it after", "quarter")
    period = pilot.rulebook.pilot
    if last < period.period_start or first > period.period_end:
        raise Refused(
            "outside_pilot_period",
            f"{quarter} is outside the pilot period {period.period_start} – {period.period_end}",
            "quarter",
        )
    areas = {"compliance": compliance, "outcomes": outcomes, "equity": equity}
    areas = {area: text.strip() for area, text in areas.items()}
    for area, text in areas.items():
        if not text:
            raise Refused(f"{area}_required", f"summarise what the review found on {area}", area)
    if AssuranceReview.objects.filter(pilot=pilot, quarter=quarter).exists():
        raise Refused("already_reviewed", f"{quarter} has been reviewed", "quarter")
    checked = [_finding(pilot, f, today, by) for f in findings]
    reps = payer_representatives(pilot)
    link = review_link(pilot, quarter)
    with transaction.atomic(durable=True):
        Pilot.objects.select_for_update().get(pk=pilot.pk)
        if AssuranceReview.objects.filter(pilot=pilot, quarter=quarter).exists():
            raise Refused("already_reviewed", f"{quarter} has been reviewed", "quarter")
        review = AssuranceReview.objects.create(
            pilot=pilot,
            quarter=quarter,
            summary=summary.strip(),
            reviewed_by=by,
            reviewed_at=at,
            rulebook_version=pilot.current.number,
            **areas,
        )
        made = Finding.objects.bulk_create(Finding(review=review, **f) for f in checked)
        if made:
            payers = [u for people in reps.values() for u in people]
            _notify(pilot, payers, f"Assurance {quarter}: {len(made)} findings", link, at)
        for f in made:
            subject = f"Assurance finding to act on by {f.deadline}: {f.title}"
            _notify(pilot, [f.owner], subject, link, at)
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="assurance_review.record",
            subject=f"assurance_review:{quarter}",
            payload={
                "quarter": quarter,
                **areas,
                "summary": review.summary,
                "findings": [
                    {"id": f.pk, "area": f.area, "severity": f.severity, "title": f.title}
                    | {"action_plan": f.action_plan, "owner": f.owner.username}
                    | {"deadline": f.deadline}
                    for f in made
                ],
                "sent_to": {
                    payer: [u.username for u in people] if made else []
                    for payer, people in reps.items()
                },
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return review


def close_finding(*, finding: Finding, note: str, by: User, at: datetime) -> Finding:
    """C19: the assurance reviewer closes a finding whose action plan is done."""
    pilot = finding.review.pilot
    role = policy.require(by, "finding.close", pilot)
    note = note.strip()
    if not note:
        raise Refused("note_required", "say how the action plan was carried out", "note")
    if finding.owner_id == by.pk:
        raise Refused("own_finding", "the owner of a finding does not close it")
    with transaction.atomic(durable=True):
        locked = Finding.objects.select_for_update().get(pk=finding.pk)
        if locked.status != Finding.OPEN:
            raise Refused("finding_closed", f"finding {locked.pk} is already closed")
        locked.status, locked.closed_by, locked.closed_at = Finding.CLOSED, by, at
        locked.closing_note = note
        locked.save(update_fields=["status", "closed_by", "closed_at", "closing_note"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="finding.close",
            subject=f"finding:{locked.pk}",
            payload={"quarter": finding.review.quarter, "title": locked.title, "note": note},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


def _escalate(finding: Finding, today: date, at: datetime) -> Finding | None:
    pilot = finding.review.pilot
    with transaction.atomic(durable=True):
        locked = Finding.objects.select_for_update().get(pk=finding.pk)
        if locked.status != Finding.OPEN or locked.escalated_at is not None:
            return None  # closed or escalated meanwhile
        locked.escalated_at = at
        locked.save(update_fields=["escalated_at"])
        reps = payer_representatives(pilot)
        told = holders(pilot, Role.EXECUTIVE_SPONSOR, Role.BOARD_CHAIR)
        told += [u for people in reps.values() for u in people] + [locked.owner]
        subject = (
            f"Escalated: assurance finding {locked.title!r} ({finding.review.quarter}) missed"
            f" its deadline {locked.deadline}"
        )
        _notify(pilot, told, subject, review_link(pilot, finding.review.quarter), at)
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=ESCALATION,
            action="finding.escalate",
            subject=f"finding:{locked.pk}",
            payload={
                "quarter": finding.review.quarter,
                "title": locked.title,
                "owner": locked.owner.username,
                "deadline": locked.deadline,
                "days_late": (today - locked.deadline).days,
                "notified": sorted({u.username for u in told}),
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


def escalate_overdue_findings(*, at: datetime, pilot: Pilot | None = None) -> list[Finding]:
    """Escalate every open finding whose deadline has passed in its pilot's calendar
    and that is not escalated yet (of one pilot, or of all); return those escalated."""
    waiting = Finding.objects.filter(status=Finding.OPEN, escalated_at__isnull=True)
    pilots = Pilot.objects.filter(pk__in=waiting.values("review__pilot")).order_by("slug")
    if pilot is not None:
        pilots = pilots.filter(pk=pilot.pk)
    escalated = []
    for p in pilots:
        today = p.calendar.local_date(at)
        due = waiting.filter(review__pilot=p, deadline__lt=today).select_related("review__pilot")
        for finding in due.order_by("deadline", "pk"):
            if (done := _escalate(finding, today, at)) is not None:
                escalated.append(done)
    return escalated
