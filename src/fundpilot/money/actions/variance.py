"""C15 monthly variance cycle and stop-loss: run the cycle, review the cases it opens,
and re-test their corrective actions in the next cycle.

- `run_variance_cycle` stores the month's figures (`money.variance.compute`) once per
  month; opens a case review for each stop-loss hit and each flagged variance (unless
  a review of the same trigger and subject is still open: the cycle notes it there
  instead of opening a second one); and re-tests every open corrective action of an
  earlier cycle: passed when its review's trigger no longer fires for that subject
  this month, failed otherwise.
- `assign_case_review`, `add_corrective_action`, `close_case_review`.
"""

from datetime import date, datetime

from django.db import transaction

from fundpilot.audit import log
from fundpilot.money.models import CaseReview, CorrectiveAction, VarianceCycle
from fundpilot.money.monthly import check_month, due_ahead, owner_may
from fundpilot.money.variance import compute, firing
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused


def _retest_text(action: CorrectiveAction, fires: bool, month: date) -> str:
    review = action.review
    if fires:
        return f"failed: {review.trigger} still fires for {review.subject} in {month:%Y-%m}"
    return f"passed: {review.trigger} no longer fires for {review.subject} in {month:%Y-%m}"


def run_variance_cycle(*, pilot: Pilot, month: date, by: User, at: datetime) -> VarianceCycle:
    """C15: the month's cost and utilisation variance by cohort, geography and service
    level; stop-loss triggers and flagged variances open case reviews; open corrective
    actions of earlier cycles are re-tested."""
    role = policy.require(by, "variance.run", pilot)
    month = month.replace(day=1)
    check_month(pilot, month, at)
    with transaction.atomic(durable=True):
        Pilot.objects.select_for_update().get(pk=pilot.pk)
        if VarianceCycle.objects.filter(pilot=pilot, month=month).exists():
            raise Refused("already_run", f"the {month:%Y-%m} variance cycle has run", "month")
        figures = compute(pilot, month)
        hits = figures["stop_loss"] + figures["flagged"]
        still_open = {
            (r.trigger, r.subject): r.pk
            for r in CaseReview.objects.filter(pilot=pilot, status=CaseReview.OPEN)
        }
        fresh = [h for h in hits if (h["trigger"], h["subject"]) not in still_open]
        figures["reviews_still_open"] = [
            {"trigger": h["trigger"], "subject": h["subject"], "review": still_open[key]}
            for h in hits
            if (key := (h["trigger"], h["subject"])) in still_open
        ]
        now_firing = firing(figures)
        retests = list(
            CorrectiveAction.objects.select_for_update()
            .filter(pilot=pilot, status=CorrectiveAction.OPEN, review__cycle__month__lt=month)
            .select_related("review")
            .order_by("pk")
        )
        figures["retests"] = [
            {
                "action": a.pk,
                "review": a.review_id,
                "result": CorrectiveAction.FAILED
                if (a.review.trigger, a.review.subject) in now_firing
                else CorrectiveAction.PASSED,
            }
            for a in retests
        ]
        cycle = VarianceCycle.objects.create(
            pilot=pilot,
            month=month,
            figures=figures,
            run_by=by,
            run_at=at,
            rulebook_version=pilot.current.number,
        )
        opened = CaseReview.objects.bulk_create(
            CaseReview(
                pilot=pilot,
                cycle=cycle,
                trigger=h["trigger"],
                subject=h["subject"],
                figures=h["figures"],
            )
            for h in fresh
        )
        for a in retests:
            fires = (a.review.trigger, a.review.subject) in now_firing
            a.status = CorrectiveAction.FAILED if fires else CorrectiveAction.PASSED
            a.retest_cycle = cycle
            a.retest_result = _retest_text(a, fires, month)
        CorrectiveAction.objects.bulk_update(retests, ["status", "retest_cycle", "retest_result"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="variance_cycle.run",
            subject=f"variance_cycle:{month:%Y-%m}",
            payload={
                "month": f"{month:%Y-%m}",
                "cost": figures["pilot"]["cost"],
                "member_months": figures["pilot"]["member_months"],
                "reviews_opened": [f"{r.trigger}:{r.subject}" for r in opened],
                "retests": figures["retests"],
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return cycle


def _open(review: CaseReview) -> None:
    if review.status != CaseReview.OPEN:
        raise Refused("review_closed", f"case review {review.pk} is closed", "review")


def assign_case_review(
    *, review: CaseReview, owner: User, due: date, by: User, at: datetime
) -> CaseReview:
    """C15: name who reviews the case, and by when."""
    pilot = review.pilot
    role = policy.require(by, "case_review.manage", pilot)
    _open(review)
    owner_may(pilot, owner, "case_review.manage")
    due_ahead(pilot, due, at)
    with transaction.atomic(durable=True):
        locked = CaseReview.objects.select_for_update().get(pk=review.pk)
        _open(locked)
        locked.owner, locked.due = owner, due
        locked.save(update_fields=["owner", "due"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="case_review.assign",
            subject=f"case_review:{locked.pk}",
            payload={"trigger": locked.trigger, "subject": locked.subject}
            | {"owner": owner.username, "due": due},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


def add_corrective_action(
    *, review: CaseReview, description: str, owner: User, due: date, by: User, at: datetime
) -> CorrectiveAction:
    """C15: a corrective action with an owner and a due date, re-tested next cycle."""
    pilot = review.pilot
    role = policy.require(by, "case_review.manage", pilot)
    _open(review)
    description = description.strip()
    if not description:
        raise Refused("description_required", "say what is to change", "description")
    if not policy.roles_in(owner, pilot):
        raise Refused(
            "owner_not_in_pilot", f"{owner.username} holds no role in {pilot.slug}", "owner"
        )
    due_ahead(pilot, due, at)
    with transaction.atomic(durable=True):
        locked = CaseReview.objects.select_for_update().get(pk=review.pk)
        _open(locked)
        made = CorrectiveAction.objects.create(
            pilot=pilot,
            review=locked,
            description=description,
            owner=owner,
            due=due,
            created_by=by,
            created_at=at,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="corrective_action.add",
            subject=f"corrective_action:{made.pk}",
            payload={"review": locked.pk, "description": description}
            | {"owner": owner.username, "due": due},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return made


def close_case_review(*, review: CaseReview, findings: str, by: User, at: datetime) -> CaseReview:
    """C15: close a case review with its structured findings."""
    pilot = review.pilot
    role = policy.require(by, "case_review.manage", pilot)
    _open(review)
    findings = findings.strip()
    if not findings:
        raise Refused("findings_required", "record what the review found", "findings")
    with transaction.atomic(durable=True):
        locked = CaseReview.objects.select_for_update().get(pk=review.pk)
        _open(locked)
        locked.status, locked.findings = CaseReview.CLOSED, findings
        locked.closed_by, locked.closed_at = by, at
        locked.save(update_fields=["status", "findings", "closed_by", "closed_at"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="case_review.close",
            subject=f"case_review:{locked.pk}",
            payload={"trigger": locked.trigger, "subject": locked.subject, "findings": findings},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked
