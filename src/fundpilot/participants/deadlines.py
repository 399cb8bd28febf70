"""Deadlines in the pilot's business days, from the rulebook (invariant 9)."""

from datetime import date, datetime, timedelta

from fundpilot.pilots.models import Pilot


def due_after(pilot: Pilot, trigger: datetime, business_days: int | None) -> date | None:
    """The due date `business_days` after the trigger, in the pilot's calendar and zone."""
    if business_days is None:
        return None
    return pilot.calendar.due_date(trigger, business_days)


def late_by(pilot: Pilot, due: date | None, done_at: datetime) -> int:
    """Business days late (0 when on time or when nothing was due)."""
    if due is None:
        return 0
    calendar = pilot.calendar
    return calendar.lateness(due, calendar.local_date(done_at))


def review_due(pilot: Pilot, since: date) -> date | None:
    """The next 14-day (per rulebook) progression review date, in calendar days."""
    days = pilot.rulebook.deadlines.progression_review_calendar_days
    return since + timedelta(days=days) if days else None
