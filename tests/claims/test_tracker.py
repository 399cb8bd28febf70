"""C7 milestone tracker: every milestone of the library with its status, window,
prerequisites, and for the next ones exactly which evidence is still missing."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from fundpilot.claims.actions.claims import draft_claim, review_readiness
from fundpilot.claims.models import Claim
from fundpilot.claims.tracker import milestone_tracker, tracker_summary
from fundpilot.participants.actions import care
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import (
    assert_refused,
    csv_bytes,
    draft,
    evidence_for,
    media,  # noqa: F401 (fixture)
    pathway_participant_like,
    submitted_claim,
    upload,
)

AT = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
TODAY = date(2026, 3, 10)
pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def second_participant(pilot, staff, register):
    """P-0002 of riverside (member WV-0002), in P-0001's state."""
    return pathway_participant_like(pilot, staff, "P-0002", "WV-0002")


@pytest.fixture
def homeless_participant(pilot, staff, register):
    """P-0002 of riverside, homeless: the risk-adjusted variants apply (M1 window 75
    days, M4 price 1750.00)."""
    return pathway_participant_like(pilot, staff, "P-0002", "WV-0002", flags=("homeless",))


def rows_by_code(participant, today=TODAY):
    return {row.code: row for row in milestone_tracker(participant, today=today)}


def test_a_new_pathway_shows_every_milestone_not_started(pathway_participant):
    # when
    rows = milestone_tracker(pathway_participant, today=TODAY)
    # then
    assert [(r.code, r.status, r.is_next) for r in rows] == [
        ("M1", "not_started", True),
        ("M2", "not_started", False),
        ("M3", "not_started", False),
        ("M4", "not_started", False),
        ("M5", "not_started", False),
    ]
    m1, m2 = rows[0], rows[1]
    assert (m1.attempt, m1.attempt_start, m1.window_end) == (1, date(2026, 3, 3), date(2026, 4, 17))
    assert m1.missing_text == "crisis_plan; med_rec"
    assert [(p.code, p.reached) for p in m2.prerequisites] == [("M1", False)]
    assert m2.missing == ["3 contact_log"]


def test_the_prompt_counts_what_is_still_missing(pathway_participant, staff):
    # given: one contact log and a crisis plan
    frontline = staff[Role.FRONTLINE]
    upload(pathway_participant, "contact_log", frontline, AT, content=csv_bytes())
    upload(pathway_participant, "crisis_plan", frontline, AT)
    # when
    rows = rows_by_code(pathway_participant)
    # then
    assert (rows["M1"].status, rows["M1"].missing_text) == ("in_progress", "med_rec")
    assert (rows["M2"].status, rows["M2"].missing_text) == ("in_progress", "2 more contact_log")
    assert rows["M5"].missing_text == "reassessment; 2 more contact_log"


def test_evidence_dated_before_the_attempt_does_not_count(pathway_participant, staff):
    # given: a crisis plan dated before activation (3 March)
    upload(
        pathway_participant,
        "crisis_plan",
        staff[Role.FRONTLINE],
        AT,
        document_date=date(2026, 3, 1),
    )
    # then
    assert rows_by_code(pathway_participant)["M1"].missing_text == "crisis_plan; med_rec"


def test_a_reached_milestone_names_its_claim_and_opens_the_next(pathway_participant, staff):
    # given: M1 payable
    claim = submitted_claim(pathway_participant, "M1", staff, AT)
    # when
    rows = rows_by_code(pathway_participant)
    # then
    assert (rows["M1"].status, rows["M1"].claim.reference, rows["M1"].missing) == (
        "reached",
        claim.reference,
        [],
    )
    assert (rows["M1"].is_next, rows["M1"].window_end) == (False, None)
    assert (rows["M2"].is_next, rows["M2"].prerequisites_met) == (True, True)


def test_an_open_claim_puts_the_milestone_in_progress(pathway_participant, staff):
    draft(pathway_participant, "M1", staff, AT)
    row = rows_by_code(pathway_participant)["M1"]
    assert (row.status, row.claim.status, row.claim.reference) == (
        "in_progress",
        "draft",
        "P-0001/M1/1",
    )


def test_a_relapse_loses_a_reearnable_milestone_until_re_engagement(pathway_participant, staff):
    # given: M1 and M2 reached, then a relapse on 12 March
    frontline = staff[Role.FRONTLINE]
    submitted_claim(pathway_participant, "M2", staff, AT)
    care.record_disengagement(
        participant=pathway_participant, reason="relapse", by=frontline, at=AT + timedelta(days=2)
    )
    # then: M1 (re-earnable) is lost, M2 stays reached
    rows = rows_by_code(pathway_participant, date(2026, 3, 13))
    assert (rows["M1"].status, rows["M1"].is_next, rows["M1"].lost_before) == ("lost", False, 1)
    assert rows["M2"].status == "reached"
    # when: re-engaged on 20 March
    care.record_reengagement(
        participant=pathway_participant, reason="back", by=frontline, at=AT + timedelta(days=10)
    )
    # then: attempt 2 of M1, its window from the re-engagement
    m1 = rows_by_code(pathway_participant, date(2026, 3, 21))["M1"]
    assert (m1.status, m1.attempt, m1.attempt_start, m1.window_end) == (
        "not_started",
        2,
        date(2026, 3, 20),
        date(2026, 5, 4),
    )
    assert (m1.is_next, m1.missing_text) == (True, "crisis_plan; med_rec")


def test_a_passed_window_is_shown_and_not_offered_as_next(pathway_participant):
    row = rows_by_code(pathway_participant, date(2026, 4, 18))["M1"]
    assert (row.window_closed, row.is_next) == (True, False)


def test_the_window_follows_the_risk_adjusted_variant(pathway_participant):
    # given: P-0001 becomes homeless (a flag the M1 "complex" variant names)
    pathway_participant.flags = ["homeless"]
    # then: 75 days instead of 45
    row = rows_by_code(pathway_participant)["M1"]
    assert (row.variant, row.window_days, row.window_end) == ("complex", 75, date(2026, 5, 17))


def test_reused_evidence_is_shown_on_the_row(pathway_participant, staff, second_participant):
    content = b"%PDF-1.4 the same crisis plan"
    upload(second_participant, "crisis_plan", staff[Role.FRONTLINE], AT, content=content)
    mine = upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT, content=content)
    assert rows_by_code(pathway_participant)["M1"].reused_evidence == (mine.pk,)


def test_the_summary_names_the_next_milestone_and_its_missing_evidence(pathway_participant, staff):
    upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT)
    summary = tracker_summary(pathway_participant, today=TODAY)
    assert (summary.reached, summary.total) == (0, 5)
    assert [(r.code, r.missing_text) for r in summary.next] == [("M1", "med_rec")]


def test_the_tracker_reads_a_fixed_number_of_queries(
    pathway_participant, staff, django_assert_max_num_queries
):
    # given: a history with claims, evidence and engagement events
    submitted_claim(pathway_participant, "M3", staff, AT)
    # then: the rulebook version, engagement events, claims, evidence
    with django_assert_max_num_queries(4):
        milestone_tracker(pathway_participant, today=TODAY)


# --- the same rules, as drafting applies them --------------------------------------------


def test_a_risk_adjusted_variant_sets_the_window_and_price(homeless_participant, staff):
    # given: day 60 after activation, outside M1's 45 days but inside the complex 75
    at = datetime(2026, 5, 2, 17, 0, tzinfo=UTC)
    # when
    claim = draft(homeless_participant, "M1", staff, at)
    # then
    assert (claim.reference, claim.variant, claim.amount) == (
        "P-0002/M1/1",
        "complex",
        Decimal("900.00"),
    )


def test_the_housing_step_is_priced_by_the_homeless_variant(homeless_participant, staff):
    # given: M1 and M2 reached
    submitted_claim(homeless_participant, "M2", staff, AT)
    # when
    claim = draft(homeless_participant, "M4", staff, AT + timedelta(hours=1))
    # then
    assert (claim.variant, claim.amount) == ("homeless", Decimal("1750.00"))


# --- re-earning after relapse --------------------------------------------------------


def test_a_reearnable_milestone_lost_after_relapse_is_earned_again_as_attempt_two(
    pathway_participant, staff
):
    # given: M1 payable (reached 10 March), relapse on 12 March, re-engaged 20 March
    frontline = staff[Role.FRONTLINE]
    first = submitted_claim(pathway_participant, "M1", staff, AT)
    care.record_disengagement(
        participant=pathway_participant, reason="relapse", by=frontline, at=AT + timedelta(days=2)
    )
    care.record_reengagement(
        participant=pathway_participant, reason="back", by=frontline, at=AT + timedelta(days=10)
    )
    # when: new evidence in the new attempt, reached 25 March
    again = submitted_claim(pathway_participant, "M1", staff, AT + timedelta(days=15))
    # then: a new attempt with its own basis key
    assert (again.reference, again.attempt, again.status) == ("P-0001/M1/2", 2, Claim.PAYABLE)
    assert again.basis_key == "milestone:recovery-2026:P-0001:M1:2"
    assert first.basis_key == "milestone:recovery-2026:P-0001:M1:1"


def test_evidence_from_the_lost_attempt_does_not_count_again(pathway_participant, staff):
    # given: M1 reached and lost; after re-engagement, no new evidence
    frontline = staff[Role.FRONTLINE]
    submitted_claim(pathway_participant, "M1", staff, AT)
    care.record_disengagement(
        participant=pathway_participant, reason="relapse", by=frontline, at=AT + timedelta(days=2)
    )
    care.record_reengagement(
        participant=pathway_participant, reason="back", by=frontline, at=AT + timedelta(days=10)
    )
    claim = draft(pathway_participant, "M1", staff, AT + timedelta(days=15), with_evidence=False)
    # then
    refused = assert_refused(
        "missing_evidence",
        review_readiness,
        claim=claim,
        by=staff[Role.SUPERVISOR],
        at=AT + timedelta(days=15, hours=1),
    )
    assert refused.message.endswith("crisis_plan; med_rec")


def test_a_milestone_that_is_not_reearnable_stays_reached_after_relapse(pathway_participant, staff):
    # given: M2 (not re-earnable) payable, then relapse and re-engagement
    frontline = staff[Role.FRONTLINE]
    submitted_claim(pathway_participant, "M2", staff, AT)
    care.record_disengagement(
        participant=pathway_participant, reason="relapse", by=frontline, at=AT + timedelta(days=2)
    )
    care.record_reengagement(
        participant=pathway_participant, reason="back", by=frontline, at=AT + timedelta(days=10)
    )
    # then: M1 is lost, but M2 stays reached
    evidence_for(pathway_participant, "M2", frontline, AT + timedelta(days=11))
    assert_refused(
        "already_reached",
        draft_claim,
        participant=pathway_participant,
        milestone="M2",
        reached_on=date(2026, 3, 21),
        by=frontline,
        at=AT + timedelta(days=11),
    )
