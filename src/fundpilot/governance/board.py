"""C17 board decisions, read: the decisions of a pilot, the settlements awaiting one,
the open restrictions (and the work queue items they make), and how restrictions are
written on the command line and in forms ("description | owner | YYYY-MM-DD")."""

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db.models import CharField, Exists, F, OuterRef, QuerySet, Value
from django.urls import reverse

from fundpilot.governance.models import BoardDecision, Restriction, Settlement, SettlementReview
from fundpilot.money.api.common import person_in
from fundpilot.participants.queues import NOBODY, UPCOMING_BUCKET, Clock, Source
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot, User
from fundpilot.pilots.policy import SETTLEMENT_REVIEWERS
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import Role

RESIDUAL_RISKS = ("low", "medium", "high")
# Who may own a decision for the executive: the sponsor or the board itself.
EXECUTIVE_ROLES = frozenset({Role.EXECUTIVE_SPONSOR, Role.BOARD_CHAIR})
# A position's rank: a statement may not rank above the decision it reports.
PERMISSIVENESS = {p: rank for rank, p in enumerate(reversed(BoardDecision.POSITIONS))}


def decisions(pilot: Pilot) -> QuerySet[BoardDecision]:
    return (
        BoardDecision.objects.filter(pilot=pilot)
        .select_related("settlement", "executive_owner", "decided_by")
        .order_by("-settlement__month")
    )


def decision_for(pilot: Pilot, month: date) -> BoardDecision | None:
    return decisions(pilot).filter(settlement__month=month).first()


def awaiting_decision(pilot: Pilot) -> QuerySet[Settlement]:
    """Finalised settlements the board has not decided on yet."""
    return Settlement.objects.filter(
        pilot=pilot, status=Settlement.FINALISED, board_decision__isnull=True
    ).order_by("month")


def open_restrictions(pilot: Pilot) -> QuerySet[Restriction]:
    """Restrictions still in force, soonest due first."""
    return (
        Restriction.objects.filter(decision__pilot=pilot, closed_at__isnull=True)
        .select_related("decision__settlement", "owner")
        .order_by("due", "pk")
    )


def parse_restriction(pilot: Pilot, text: str) -> tuple[str, User, date]:
    """ "description | owner | YYYY-MM-DD" → (description, owner, due)."""
    parts = [p.strip() for p in text.split("|")]
    if len(parts) != 3:
        raise Refused(
            "invalid_restriction",
            f"{text!r}: write a restriction as 'description | owner | YYYY-MM-DD'",
            "restrictions",
        )
    description, username, due = parts
    try:
        day = date.fromisoformat(due)
    except ValueError:
        raise Refused(
            "invalid_restriction", f"{text!r}: {due!r} is not a date YYYY-MM-DD", "restrictions"
        ) from None
    return description, person_in(pilot, username), day


def queue_sources(user: Any, pilot: Pilot, clock: Clock) -> Iterable[Source]:
    """C17 in the work queues: the open restrictions a person follows up (due on their
    date); for the board chair, reviewed settlements awaiting a decision (no deadline)."""
    pid = Value("", output_field=CharField())
    found = [
        Source(
            "C17",
            open_restrictions(pilot)
            .filter(owner=user)
            .annotate(
                pid=pid,
                month=F("decision__settlement__month"),
                key=F("due"),
                bucket=clock.by_date("due"),
                who=NOBODY,
            ),
            lambda r: f"Board restriction of {r['month']:%Y-%m}: {r['description'][:80]}",
            lambda r: _page(pilot, "governance:board-decision", r["month"]),
        )
    ]
    if policy.allowed(user, "board.decide", pilot):
        reviewed = [
            Exists(SettlementReview.objects.filter(settlement=OuterRef("pk"), role=r.value))
            for r in SETTLEMENT_REVIEWERS
        ]
        found.append(
            Source(
                "C17",
                awaiting_decision(pilot)
                .filter(*reviewed)
                .annotate(pid=pid, key=F("month"), bucket=UPCOMING_BUCKET, who=NOBODY),
                lambda r: f"Decide the board's position on the {r['month']:%Y-%m} settlement",
                lambda r: _page(pilot, "governance:board-decide", r["month"]),
                dated=False,
            )
        )
    return found


def _page(pilot: Pilot, name: str, month: date) -> str:
    return reverse(name, kwargs={"pilot": pilot.slug, "month": f"{month:%Y-%m}"})
