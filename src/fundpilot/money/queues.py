"""Spend requests in the work queues (C12), contributed to `participants.queues`.

Registered by `MoneyConfig.ready()`; each source is one SELECT:

- deciders: pending requests they may see whose payer, use and amount one of their
  decision rights covers (approve_spend; approve_exception for the senior role), never
  their own request; no deadline in the rulebook, so listed as upcoming;
- whoever asked: their requests waiting on a decision;
- exception reviewers: exceptions awaiting their retrospective review, due on
  `review_due` (overdue ones stay visible with how late), never their own approval.
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import F, Q, QuerySet, Value
from django.urls import reverse

from fundpilot.money.actions.spending import spend_requests_for
from fundpilot.money.models import SpendRequest
from fundpilot.participants.queues import (
    NOBODY,
    UPCOMING_BUCKET,
    WAITING_BUCKET,
    Clock,
    Row,
    Source,
    register_sources,
)
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot
from fundpilot.rules.rulebook import ALL, DecisionAction, DecisionRight
from fundpilot.rules.vocabulary import Role

REQUEST_PAGE = "money:spend-request"


def _link(pilot: Pilot) -> Callable[[Row], str]:
    def link(row: Row) -> str:
        return reverse(REQUEST_PAGE, kwargs={"pilot": pilot.slug, "reference": row["reference"]})

    return link


def _covered(row: DecisionRight) -> Q:
    """The requests one matrix row covers, as a filter."""
    where = Q()
    if row.payers != (ALL,):
        where &= Q(payer__in=row.payers)
    if row.uses != (ALL,):
        where &= Q(use__in=row.uses)
    if row.max_amount is not None:
        where &= Q(amount__lte=row.max_amount)
    return where


def decidable(user: Any, pilot: Pilot) -> Q | None:
    """Requests one of the person's decision rights covers (None: no right at all)."""
    rb = pilot.rulebook
    roles = policy.roles_in(user, pilot)
    actions = {DecisionAction.APPROVE_SPEND}
    if rb.exception_route is not None and rb.exception_route.senior_role in roles:
        actions.add(DecisionAction.APPROVE_EXCEPTION)
    rows = [r for r in rb.decision_rights if r.action in actions and r.role in roles]
    if not rows:
        return None
    where = Q(pk__in=[])
    for row in rows:
        covered = _covered(row)
        if row.role is Role.PAYER_REP:  # a payer's representative: its own payer only
            covered &= Q(payer=policy.payer_scope(user, pilot) or "")
        where |= covered
    return where


def _name(row: Row) -> str:
    return f"spend request {row['reference']}: {row['amount']} from {row['payer']}/{row['use']}"


def spend_sources(user: Any, pilot: Pilot, clock: Clock) -> Iterable[Source]:
    def may(perm: str) -> bool:
        return policy.allowed(user, perm, pilot)

    found: list[Source] = []
    pending = SpendRequest.objects.filter(pilot=pilot, status=SpendRequest.REQUESTED)
    if may("spend.approve") and (covers := decidable(user, pilot)) is not None:
        decide = spend_requests_for(user, pilot).filter(covers, status=SpendRequest.REQUESTED)
        found.append(
            Source(
                "C12",
                _annotate(decide.exclude(requested_by=user), UPCOMING_BUCKET, ""),
                lambda r: f"Decide on {_name(r)}",
                _link(pilot),
                dated=False,
            )
        )
    if may("spend.request"):
        found.append(
            Source(
                "C12",
                _annotate(pending.filter(requested_by=user), WAITING_BUCKET, "approver"),
                lambda r: f"Your {_name(r)} awaits a decision",
                _link(pilot),
                dated=False,
            )
        )
    if may("exception.review"):
        awaiting = spend_requests_for(user, pilot).filter(
            status=SpendRequest.APPROVED, exception=True, reviewed_by__isnull=True
        )
        awaiting = awaiting.exclude(decided_by=user).exclude(requested_by=user)
        found.append(
            Source(
                "C12",
                awaiting.annotate(
                    key=F("review_due"),
                    pid=F("participant_id"),
                    bucket=clock.by_date("review_due"),
                    who=NOBODY,
                ),
                lambda r: f"Retrospective review of the exception approved for {_name(r)}",
                _link(pilot),
            )
        )
    return found


def _annotate(rows: QuerySet[SpendRequest], bucket: Any, who: str) -> QuerySet[SpendRequest]:
    """The columns a queue source carries: `key` orders (requests have no deadline)."""
    return rows.annotate(
        key=F("requested_at"),
        pid=F("participant_id"),
        bucket=bucket,
        who=Value(who) if who else NOBODY,
    )


def register() -> None:
    register_sources(spend_sources)
