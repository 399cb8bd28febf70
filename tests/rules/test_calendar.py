from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fundpilot.rules.calendar import BusinessCalendar, is_known_calendar

US = BusinessCalendar("US", "America/New_York")

calendars = st.sampled_from(
    [
        US,
        BusinessCalendar("US-NY", "America/New_York"),
        BusinessCalendar("US-MA", "America/New_York"),
        BusinessCalendar("US-CA", "America/Los_Angeles"),
        BusinessCalendar("US-HI", "Pacific/Honolulu"),
    ]
)
days_in_range = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
counts = st.integers(min_value=0, max_value=600)
zones = st.sampled_from(
    ["America/New_York", "America/Chicago", "America/Los_Angeles", "Pacific/Honolulu", "UTC"]
)
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)
)


def test_calendar_codes_are_us_or_a_us_state() -> None:
    assert is_known_calendar("US")
    assert is_known_calendar("US-NY")
    assert not is_known_calendar("US-")
    assert not is_known_calendar("US-ZZ")
    assert not is_known_calendar("us-ny")
    assert not is_known_calendar("US-New York")
    assert not is_known_calendar("US-NY-X")
    assert not is_known_calendar("GB")


@pytest.mark.parametrize(
    ("calendar", "zone", "message"),
    [
        ("US-ZZ", "America/New_York", "unknown holiday calendar 'US-ZZ'"),
        ("US-", "America/New_York", "unknown holiday calendar 'US-'"),
        ("FR", "Europe/Paris", "unknown holiday calendar 'FR'"),
        ("US", "America/Gotham", "unknown time zone 'America/Gotham'"),
        ("US", "", "unknown time zone ''"),
        ("US", "../../etc/passwd", "unknown time zone '../../etc/passwd'"),
    ],
)
def test_it_refuses_an_unknown_calendar_or_zone_naming_it(
    calendar: str, zone: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(calendar, zone)


def test_it_is_a_frozen_value() -> None:
    assert BusinessCalendar("US", "UTC") == BusinessCalendar("US", "UTC")
    assert BusinessCalendar("US", "UTC") != BusinessCalendar("US-NY", "UTC")
    with pytest.raises(AttributeError):
        US.timezone = "UTC"


def test_federal_holidays_use_their_observed_dates() -> None:
    # 4 July 2026 is a Saturday: offices close on Friday the 3rd.
    assert US.holiday_name(date(2026, 7, 3)) == "Independence Day (observed)"
    assert not US.is_business_day(date(2026, 7, 3))
    assert US.holiday_name(date(2026, 11, 26)) == "Thanksgiving Day"
    assert not US.is_business_day(date(2026, 11, 26))
    assert US.is_business_day(date(2026, 11, 27))
    # New Year's Day 2028 is a Saturday, observed on Friday 31 December 2027.
    assert US.holiday_name(date(2027, 12, 31)) == "New Year's Day (observed)"
    assert US.holiday_name(date(2026, 7, 7)) is None


def test_weekends_are_not_business_days() -> None:
    assert not US.is_business_day(date(2026, 7, 11))
    assert not US.is_business_day(date(2026, 7, 12))
    assert US.is_business_day(date(2026, 7, 13))


def test_state_holidays_apply_only_in_their_state() -> None:
    patriots_day = date(2026, 4, 20)
    massachusetts = BusinessCalendar("US-MA", "America/New_York")
    assert massachusetts.holiday_name(patriots_day) == "Patriots' Day"
    assert not massachusetts.is_business_day(patriots_day)
    assert US.is_business_day(patriots_day)
    assert massachusetts.add_business_days(date(2026, 4, 17), 1) == date(2026, 4, 21)
    assert US.add_business_days(date(2026, 4, 17), 1) == date(2026, 4, 20)


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (date(2026, 7, 10), 1, date(2026, 7, 13)),  # Friday + 1: Monday
        (date(2026, 1, 16), 1, date(2026, 1, 20)),  # Friday + 1 over MLK Day: Tuesday
        (date(2026, 7, 2), 1, date(2026, 7, 6)),  # over the observed Independence Day
        (date(2026, 11, 25), 1, date(2026, 11, 27)),  # over Thanksgiving
        (date(2026, 7, 8), 3, date(2026, 7, 13)),
        (date(2026, 12, 24), 1, date(2026, 12, 28)),  # over Christmas and the weekend
        (date(2026, 12, 24), 5, date(2027, 1, 4)),  # and over New Year's Day
        (date(2027, 12, 23), 1, date(2027, 12, 27)),  # Christmas observed Friday 24th
        (date(2027, 12, 23), 5, date(2028, 1, 3)),  # New Year observed Friday 31st
        (date(2026, 7, 8), 0, date(2026, 7, 8)),  # 0 days: today when open
        (date(2026, 7, 11), 0, date(2026, 7, 13)),  # 0 days on a Saturday: Monday
        (date(2026, 7, 3), 0, date(2026, 7, 6)),  # 0 days on a holiday: next open day
        (date(2026, 7, 11), 1, date(2026, 7, 13)),  # from a Saturday, Monday is the first
        # 2026 has 250 business days; 2 January is the first.
        (date(2026, 1, 2), 249, date(2026, 12, 31)),
        (date(2026, 1, 2), 250, date(2027, 1, 4)),
    ],
)
def test_it_adds_business_days(start: date, days: int, due: date) -> None:
    assert US.add_business_days(start, days) == due


def test_it_refuses_negative_days() -> None:
    with pytest.raises(ValueError, match="days must be 0 or more, got -1"):
        US.add_business_days(date(2026, 7, 8), -1)


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        (date(2026, 7, 10), date(2026, 7, 13), 1),
        (date(2026, 7, 13), date(2026, 7, 10), -1),
        (date(2026, 7, 10), date(2026, 7, 10), 0),
        (date(2026, 7, 10), date(2026, 7, 12), 0),  # only the weekend
        (date(2026, 7, 2), date(2026, 7, 6), 1),  # the observed holiday does not count
        (date(2026, 12, 24), date(2027, 1, 4), 5),
        (date(2025, 12, 31), date(2026, 12, 31), 250),
    ],
)
def test_it_counts_business_days_in_the_half_open_interval(
    start: date, end: date, count: int
) -> None:
    assert US.business_days_between(start, end) == count


@pytest.mark.parametrize(
    ("due", "done", "late"),
    [
        (date(2026, 7, 10), date(2026, 7, 9), 0),
        (date(2026, 7, 10), date(2026, 7, 10), 0),
        (date(2026, 7, 10), date(2026, 7, 11), 1),  # Saturday after a Friday deadline
        (date(2026, 7, 10), date(2026, 7, 13), 1),
        (date(2026, 7, 10), date(2026, 7, 14), 2),
        (date(2026, 7, 2), date(2026, 7, 6), 1),  # the holiday between is not counted
    ],
)
def test_lateness_is_business_days_after_the_due_date(due: date, done: date, late: int) -> None:
    assert US.lateness(due, done) == late


def test_local_date_is_the_date_in_the_pilots_zone() -> None:
    new_york = BusinessCalendar("US", "America/New_York")
    # 22:00 on Wednesday 1 July in New York is already Thursday in UTC.
    assert new_york.local_date(datetime(2026, 7, 2, 2, 0, tzinfo=UTC)) == date(2026, 7, 1)
    assert new_york.local_date(datetime(2026, 7, 2, 4, 0, tzinfo=UTC)) == date(2026, 7, 2)
    # Either side of the spring-forward gap (07:00 UTC on 8 March 2026) and of the
    # autumn fall-back (06:00 UTC on 1 November 2026).
    assert new_york.local_date(datetime(2026, 3, 8, 4, 59, 59, tzinfo=UTC)) == date(2026, 3, 7)
    assert new_york.local_date(datetime(2026, 3, 8, 5, 0, tzinfo=UTC)) == date(2026, 3, 8)
    assert new_york.local_date(datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC)) == date(2026, 11, 1)
    assert new_york.local_date(datetime(2026, 11, 2, 5, 0, tzinfo=UTC)) == date(2026, 11, 2)
    honolulu = BusinessCalendar("US-HI", "Pacific/Honolulu")
    assert honolulu.local_date(datetime(2027, 1, 1, 9, 59, tzinfo=UTC)) == date(2026, 12, 31)


def test_local_date_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        US.local_date(datetime(2026, 7, 2, 2, 0))


def test_due_date_counts_from_the_local_day_of_the_trigger() -> None:
    # A referral at 22:00 on Wednesday in New York is due Thursday; counted from the
    # UTC date (Thursday) it would wrongly be due Monday, past the observed holiday.
    trigger = datetime(2026, 7, 2, 2, 0, tzinfo=UTC)
    assert US.due_date(trigger, 1) == date(2026, 7, 2)
    assert BusinessCalendar("US", "UTC").due_date(trigger, 1) == date(2026, 7, 6)


@given(calendars, days_in_range, st.integers(min_value=1, max_value=600))
def test_the_result_is_always_a_business_day_after_the_start(
    calendar: BusinessCalendar, start: date, days: int
) -> None:
    due = calendar.add_business_days(start, days)
    assert due > start
    assert calendar.is_business_day(due)


@given(calendars, days_in_range)
def test_zero_days_is_the_first_business_day_on_or_after_the_start(
    calendar: BusinessCalendar, start: date
) -> None:
    due = calendar.add_business_days(start, 0)
    assert calendar.is_business_day(due)
    day = start
    while day < due:
        assert not calendar.is_business_day(day)
        day += timedelta(days=1)


@given(calendars, days_in_range, counts, counts)
@example(US, date(2000, 1, 1), 0, 1)  # a Saturday: 0 and 1 days are both Monday 3 January
def test_it_is_monotone_in_days(calendar: BusinessCalendar, start: date, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert calendar.add_business_days(start, low) <= calendar.add_business_days(start, high)
    # Strictly, except that from a closed day both 0 and 1 days fall on the next open day.
    if low < high and (low > 0 or calendar.is_business_day(start)):
        assert calendar.add_business_days(start, low) < calendar.add_business_days(start, high)


@given(calendars, days_in_range, counts)
def test_between_inverts_add_from_a_business_day(
    calendar: BusinessCalendar, start: date, days: int
) -> None:
    start = calendar.add_business_days(start, 0)
    due = calendar.add_business_days(start, days)
    assert calendar.business_days_between(start, due) == days
    assert calendar.business_days_between(due, start) == -days


@given(calendars, days_in_range, counts, counts)
def test_adding_in_two_steps_is_adding_once(
    calendar: BusinessCalendar, start: date, a: int, b: int
) -> None:
    start = calendar.add_business_days(start, 0)
    once = calendar.add_business_days(start, a + b)
    assert calendar.add_business_days(calendar.add_business_days(start, a), b) == once


@given(calendars, days_in_range, st.integers(min_value=0, max_value=60))
def test_between_agrees_with_counting_day_by_day(
    calendar: BusinessCalendar, start: date, span: int
) -> None:
    end = start + timedelta(days=span)
    by_hand = sum(calendar.is_business_day(start + timedelta(days=i)) for i in range(1, span + 1))
    assert calendar.business_days_between(start, end) == by_hand


@given(calendars, days_in_range, days_in_range)
def test_lateness_is_zero_exactly_when_done_by_the_due_date(
    calendar: BusinessCalendar, due: date, done: date
) -> None:
    late = calendar.lateness(due, done)
    assert (late == 0) == (done <= due)
    assert late >= 0


@given(zones, instants, st.integers(min_value=-12 * 60, max_value=14 * 60))
def test_local_date_depends_on_the_instant_not_on_how_it_is_written(
    zone: str, instant: datetime, offset_minutes: int
) -> None:
    calendar = BusinessCalendar("US", zone)
    elsewhere = instant.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert calendar.local_date(elsewhere) == calendar.local_date(instant)
    assert abs(calendar.local_date(instant) - instant.date()) <= timedelta(days=1)


@given(zones, instants, st.integers(min_value=1, max_value=48 * 3600))
def test_local_date_never_goes_back_in_time(zone: str, instant: datetime, seconds: int) -> None:
    calendar = BusinessCalendar("US", zone)
    later = instant + timedelta(seconds=seconds)
    assert calendar.local_date(instant) <= calendar.local_date(later)


@given(zones, st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_local_midnight_is_that_day_and_a_moment_before_is_the_day_before(
    zone: str, day: date
) -> None:
    calendar = BusinessCalendar("US", zone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))
    assert calendar.local_date(midnight) == day
    just_before = (midnight.astimezone(UTC) - timedelta(microseconds=1)).astimezone(UTC)
    assert calendar.local_date(just_before) == day - timedelta(days=1)
