"""C14 investigations and C15 case reviews and corrective actions in the work queues,
contributed to `participants.queues` (registered by `MoneyConfig.ready()`). Each source
is one SELECT:

- an owner: the open investigations and case reviews they own, and the open corrective
  actions they own, each due on its `due` date (overdue ones stay visible);
- finance: open investigations and case reviews nobody owns yet (no deadline until
  someone is named: upcoming).
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import CharField, F, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from fundpilot.money.models import CaseReview, CorrectiveAction, Investigation
from fundpilot.participants.queues import (
    NOBODY,
    UPCOMING_BUCKET,
    Clock,
    Row,
    Source,
    register_sources,
)
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot
from fundpilot.rules.vocabulary import Role


def _link(pilot: Pilot, name: str, kwarg: str, column: str = "id") -> Callable[[Row], str]:
    def link(row: Row) -> str:
        return reverse(name, kwargs={"pilot": pilot.slug, kwarg: row[column]})

    return link


def _investigation(row: Row) -> str:
    return f"Investigate {row['payer']}'s variance from plan (investigation {row['id']})"


def _review(row: Row) -> str:
    return f"Case review {row['id']}: {row['trigger']} {row['subject']}"


def sources(user: Any, pilot: Pilot, clock: Clock) -> Iterable[Source]:
    """The C14/C15 work this person owns, and for finance what nobody owns yet."""
    pid = Value("", output_field=CharField())
    investigations = Investigation.objects.filter(pilot=pilot, status=Investigation.OPEN)
    reviews = CaseReview.objects.filter(pilot=pilot, status=CaseReview.OPEN).annotate(
        pid=Coalesce(F("subject"), pid)
    )
    investigation_page = _link(pilot, "money:investigation", "investigation_id")
    review_page = _link(pilot, "money:case-review", "review_id")
    found = [
        Source(
            "C14",
            investigations.filter(owner=user).annotate(
                pid=pid, key=F("due"), bucket=clock.by_date("due"), who=NOBODY
            ),
            _investigation,
            investigation_page,
        ),
        Source(
            "C15",
            reviews.filter(owner=user).annotate(
                key=F("due"), bucket=clock.by_date("due"), who=NOBODY
            ),
            _review,
            review_page,
        ),
        Source(
            "C15",
            CorrectiveAction.objects.filter(
                pilot=pilot, owner=user, status=CorrectiveAction.OPEN
            ).annotate(
                pid=Coalesce(F("review__subject"), pid),
                key=F("due"),
                bucket=clock.by_date("due"),
                who=NOBODY,
            ),
            lambda r: f"Corrective action: {r['description'][:80]}",
            _link(pilot, "money:case-review", "review_id", "review_id"),
        ),
    ]
    if Role.FINANCE in policy.roles_in(user, pilot):
        found += [
            Source(
                "C14",
                investigations.filter(owner__isnull=True).annotate(
                    pid=pid, key=F("pk"), bucket=UPCOMING_BUCKET, who=NOBODY
                ),
                lambda r: f"Name an owner: {_investigation(r)}",
                investigation_page,
                dated=False,
            ),
            Source(
                "C15",
                reviews.filter(owner__isnull=True).annotate(
                    key=F("pk"), bucket=UPCOMING_BUCKET, who=NOBODY
                ),
                lambda r: f"Name an owner: {_review(r)}",
                review_page,
                dated=False,
            ),
        ]
    return found


def register() -> None:
    register_sources(sources)
