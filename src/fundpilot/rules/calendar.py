"""Business-day arithmetic in a pilot's time zone and holiday calendar.

Every control deadline ("within 1 business day of referral") is counted here, so
the same rulebook gives the same due date in a page, a report and a batch run.
Holidays come from the `holidays` package, observed dates included: when the
Fourth of July falls on a Saturday, offices close on Friday the 3rd, and that is
the day a deadline must skip.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from holidays.countries.united_states import UnitedStates


def is_known_calendar(code: str) -> bool:
    """True for "US" or "US-<code>" with a subdivision code the `holidays` package
    knows ("US-NY"); its name aliases ("US-New York") are refused so a rulebook
    spells each calendar one way."""
    country, dash, subdiv = code.partition("-")
    return country == "US" and (not dash or subdiv in UnitedStates.subdivisions)


@dataclass(frozen=True, slots=True)
class _Year:
    holiday_names: dict[date, str]
    # Ordinals of the year's business days, ascending: deadline arithmetic becomes a
    # bisect and an index instead of a walk day by day.
    business_days: tuple[int, ...]


@cache
def _year(calendar: str, year: int) -> _Year:
    """One year of one calendar, shared by every BusinessCalendar built for it.

    Calendars are rebuilt from the rulebook for each decision, so the cache lives at
    module level rather than on the instance; it is bounded by the handful of
    calendars and years a deployment ever touches.
    """
    _, _, subdiv = calendar.partition("-")
    names = dict(holidays.country_holidays("US", subdiv=subdiv or None, years=year).items())
    first = date(year, 1, 1)
    days = (first + timedelta(days=i) for i in range((date(year, 12, 31) - first).days + 1))
    business = tuple(d.toordinal() for d in days if d.weekday() < 5 and d not in names)
    return _Year(holiday_names=names, business_days=business)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """A pilot's working days: its holiday calendar ("US", "US-NY") and time zone."""

    holiday_calendar: str
    timezone: str
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not is_known_calendar(self.holiday_calendar):
            raise ValueError(
                f"unknown holiday calendar {self.holiday_calendar!r}: "
                "expected 'US' or 'US-<state code>', such as 'US-NY'"
            )
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {self.timezone!r}: expected an IANA name "
                "such as 'America/New_York'"
            ) from None
        object.__setattr__(self, "_zone", zone)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in _year(self.holiday_calendar, day.year).holiday_names

    def holiday_name(self, day: date) -> str | None:
        return _year(self.holiday_calendar, day.year).holiday_names.get(day)

    def add_business_days(self, start: date, days: int) -> date:
        """The `days`-th business day after `start`.

        Zero days means "today if we are open, else the next day we are": a
        deadline of 0 set on a Sunday falls on Monday, not on the Sunday.
        """
        if days < 0:
            raise ValueError(f"days must be 0 or more, got {days}")
        if days == 0 and self.is_business_day(start):
            return start
        year = start.year
        business = _year(self.holiday_calendar, year).business_days
        index = bisect_right(business, start.toordinal()) + max(days, 1) - 1
        while index >= len(business):
            index -= len(business)
            year += 1
            business = _year(self.holiday_calendar, year).business_days
        return date.fromordinal(business[index])

    def business_days_between(self, start: date, end: date) -> int:
        """Business days in (start, end]; negative when end is before start.

        The half-open interval makes this the inverse of add_business_days for a
        business-day start: between(s, add(s, n)) == n.
        """
        if end < start:
            return -self.business_days_between(end, start)
        count = self._rank_in_year(end) - self._rank_in_year(start)
        for year in range(start.year, end.year):
            count += len(_year(self.holiday_calendar, year).business_days)
        return count

    def local_date(self, instant: datetime) -> date:
        """The calendar date in the pilot's zone; instants are stored in UTC, so a
        referral at 10pm in New York is still that day there, not tomorrow."""
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(
                f"instant {instant.isoformat()} has no time zone; use an aware datetime"
            )
        return instant.astimezone(self._zone).date()

    def due_date(self, trigger: datetime, days: int) -> date:
        return self.add_business_days(self.local_date(trigger), days)

    def lateness(self, due: date, done: date) -> int:
        """Business days late: 0 exactly when done is on or before due.

        Work finished on the Saturday after a Friday deadline is late although no
        business day has passed, so it counts as 1; otherwise a report that
        treats 0 as "on time" would hide the breach.
        """
        if done <= due:
            return 0
        return max(1, self.business_days_between(due, done))

    def _rank_in_year(self, day: date) -> int:
        """Business days from 1 January up to and including `day`."""
        return bisect_right(_year(self.holiday_calendar, day.year).business_days, day.toordinal())
