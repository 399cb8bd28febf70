"""C19 independent assurance, read: quarters, the findings of a pilot (every payer sees
them all: findings go to every payer), who receives them, the work queue items of their
owners, and how findings are written on the command line and in forms ("area | severity
| title | action plan | owner | YYYY-MM-DD")."""

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db.models import CharField, F, QuerySet, Value
from django.urls import reverse

from fundpilot.governance.models import AssuranceReview, Finding
from fundpilot.money.api.common import person_in
from fundpilot.money.monthly import last_day
from fundpilot.participants.queues import NOBODY, Clock, Source
from fundpilot.pilots.models import Membership, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import Role

QUARTER = re.compile(r"(\d{4})-Q([1-4])")


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """ "2026-Q2" → (2026-04-01, 2026-06-30)."""
    found = QUARTER.fullmatch(quarter.strip())
    if found is None:
        raise Refused("invalid_quarter", f"{quarter!r} is not a quarter like 2026-Q2", "quarter")
    year, q = int(found[1]), int(found[2])
    first = date(year, 3 * q - 2, 1)
    return first, last_day(date(year, 3 * q, 1))


def reviews(pilot: Pilot) -> QuerySet[AssuranceReview]:
    return (
        AssuranceReview.objects.filter(pilot=pilot)
        .select_related("reviewed_by")
        .order_by("-quarter")
    )


def findings(pilot: Pilot) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(review__pilot=pilot)
        .select_related("review", "owner", "closed_by")
        .order_by("deadline", "pk")
    )


def open_findings(pilot: Pilot, payer: str | None = None) -> QuerySet[Finding]:
    """Open findings, soonest deadline first. Every finding goes to every payer, so a
    payer of the pilot sees them all (and a payer the rulebook does not name, none)."""
    rows = findings(pilot).filter(status=Finding.OPEN)
    if payer is not None and payer not in {p.id for p in pilot.rulebook.payers}:
        return rows.none()
    return rows


def holders(pilot: Pilot, *roles: Role) -> list[User]:
    """Active people holding one of `roles` in the pilot itself."""
    ids = Membership.objects.filter(
        pilot=pilot, role__in=[r.value for r in roles], user__is_active=True
    ).values_list("user_id", flat=True)
    return list(User.objects.filter(pk__in=ids).order_by("username"))


def payer_representatives(pilot: Pilot) -> dict[str, list[User]]:
    """Every payer of the rulebook and its representatives in the pilot (maybe none)."""
    payer_of = dict(pilot.parties.values_list("organisation_id", "payer_id"))
    found: dict[str, list[User]] = {p.id: [] for p in pilot.rulebook.payers}
    for rep in holders(pilot, Role.PAYER_REP):
        payer = payer_of.get(rep.organisation_id)
        if payer in found:
            found[payer].append(rep)
    return found


def parse_finding(pilot: Pilot, text: str) -> dict[str, Any]:
    """ "area | severity | title | action plan | owner | YYYY-MM-DD" → a finding as
    `record_assurance_review` takes it."""
    parts = [p.strip() for p in text.split("|")]
    if len(parts) != 6:
        raise Refused(
            "invalid_finding",
            f"{text!r}: write a finding as 'area | severity | title | action plan | owner |"
            " YYYY-MM-DD'",
            "findings",
        )
    area, severity, title, plan, username, deadline = parts
    try:
        day = date.fromisoformat(deadline)
    except ValueError:
        raise Refused(
            "invalid_finding", f"{text!r}: {deadline!r} is not a date YYYY-MM-DD", "findings"
        ) from None
    return {
        "area": area,
        "severity": severity,
        "title": title,
        "action_plan": plan,
        "owner": person_in(pilot, username),
        "deadline": day,
    }


def queue_sources(user: Any, pilot: Pilot, clock: Clock) -> Iterable[Source]:
    """C19 in the work queues: the open findings a person owns, due on their deadline
    (overdue ones stay visible, escalated or not)."""
    mine = (
        findings(pilot)
        .filter(owner=user, status=Finding.OPEN)
        .annotate(
            pid=Value("", output_field=CharField()),
            quarter=F("review__quarter"),
            key=F("deadline"),
            bucket=clock.by_date("deadline"),
            who=NOBODY,
        )
    )
    return [
        Source(
            "C19",
            mine,
            lambda r: f"Assurance finding of {r['quarter']} ({r['severity']}): {r['title']}",
            lambda r: reverse(
                "governance:assurance-review", kwargs={"pilot": pilot.slug, "quarter": r["quarter"]}
            ),
        )
    ]
