"""C15 monthly variance cycle and stop-loss on blended-2026 (review_fixtures.blended_world):
cost and utilisation by cohort, geography and service level against plan, stop-loss
triggers opening case reviews, corrective actions re-tested in the next cycle.

April 2026, by hand: costs B-0001 145 + 175 = 320.00, B-0002 310 + 850 + 5,200 =
6,360.00, B-0003 145.00; 6,825.00 over 3 member-months = 2,275.00 per member-month;
3 episodes = 1 per member-month.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.money.actions.variance import (
    add_corrective_action,
    assign_case_review,
    close_case_review,
    run_variance_cycle,
)
from fundpilot.money.models import CaseReview, CorrectiveAction, VarianceCycle
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused
from tests.money.conftest import money_snapshot
from tests.money.review_fixtures import JUNE_2, MAY_4, blended_team, blended_world, episode, pmpm
from tests.participants.care_fixtures import blended_pilot

APRIL, MAY = date(2026, 4, 1), date(2026, 5, 1)
CENT = Decimal("0.01")


@pytest.fixture
def blended(admin: User, provider: Organisation, other_provider: Organisation) -> Pilot:
    return blended_pilot(admin, provider, other_provider)


@pytest.fixture
def team(blended: Pilot, admin: User, provider: Organisation) -> dict[str, User]:
    return blended_team(blended, admin, provider)


@pytest.fixture
def world(blended: Pilot, team, provider: Organisation) -> Pilot:
    blended_world(blended, team, provider)
    return blended


def _pct(actual: str, plan: str) -> str:
    a, p = Decimal(actual), Decimal(plan)
    return str(((a - p) / p * 100).quantize(CENT))


def _refused(code: str, action, **kwargs) -> Refused:
    before = money_snapshot()
    with pytest.raises(Refused) as refused:
        action(**kwargs)
    assert refused.value.code == code, refused.value
    assert money_snapshot() == before
    return refused.value


def _rows(cycle: VarianceCycle, dimension: str) -> dict[str, dict]:
    return {r["group"]: r for r in cycle.figures["tables"][dimension]}


def test_the_cycle_computes_cost_and_utilisation_against_plan(world: Pilot, team):
    # when
    cycle = run_variance_cycle(pilot=world, month=APRIL, by=team["bf-finance"], at=MAY_4)
    # then: pilot-wide
    assert cycle.figures["pilot"] == {
        "cost": "6825.00",
        "member_months": 3,
        "episodes": 3,
        "cost_per_member_month": "2275.00",
        "episodes_per_member_month": "1.0000",
    }
    cohorts = _rows(cycle, "cohort")
    assert set(cohorts) == {"moderate", "high"}
    moderate = cohorts["moderate"]
    assert (moderate["cost"], moderate["member_months"], moderate["episodes"]) == ("465.00", 2, 1)
    assert moderate["planned_cost"] == "4550.00"  # 2,275 × 2
    assert moderate["cost_variance_percent"] == _pct("465.00", "4550.00")
    assert moderate["planned_episodes"] == "2.00"
    assert moderate["episode_variance_percent"] == "-50.00"
    assert moderate["flags"] == ["cost", "episodes"]
    high = cohorts["high"]
    assert (high["cost"], high["planned_cost"]) == ("6360.00", "2275.00")
    assert high["cost_variance_percent"] == _pct("6360.00", "2275.00")
    assert high["episode_variance_percent"] == "100.00"
    places = _rows(cycle, "geography")
    assert {g: (r["cost"], r["planned_cost"]) for g, r in places.items()} == {
        "forsyth": ("145.00", "2275.00"),
        "guilford": ("6680.00", "4550.00"),
    }
    assert places["guilford"]["cost_variance_percent"] == _pct("6680.00", "4550.00")
    levels = _rows(cycle, "service_level")
    # the plan of a level is its PMPM rate per member-month
    assert {
        lv: (r["cost"], r["planned_cost_per_member_month"], r["planned_cost"])
        for lv, r in levels.items()
    } == {
        "SL1": ("465.00", "145.00", "290.00"),
        "SL2": ("6360.00", "310.00", "310.00"),
    }
    assert levels["SL1"]["cost_variance_percent"] == _pct("465.00", "290.00")
    assert levels["SL1"]["threshold_percent"] == "10"


def test_each_stop_loss_trigger_and_flagged_variance_opens_a_case_review(world: Pilot, team):
    # given
    before = AuditRecord.objects.count()
    # when
    cycle = run_variance_cycle(pilot=world, month=APRIL, by=team["bf-finance"], at=MAY_4)
    # then
    opened = sorted(CaseReview.objects.filter(cycle=cycle).values_list("trigger", "subject"))
    assert opened == [
        ("cohort_variance", "high"),
        ("cohort_variance", "moderate"),
        ("episode_cost_above", "B-0002"),  # the 5,200.00 episode
        ("escalations_above", "B-0003"),  # four escalations in April, more than 3
        ("geography_variance", "forsyth"),
        ("geography_variance", "guilford"),
        ("participant_cumulative_spend_above", "B-0002"),  # 20,000 + 6,360 > 25,000
        ("service_level_variance", "SL1"),
        ("service_level_variance", "SL2"),
    ]
    episode_review = CaseReview.objects.get(cycle=cycle, trigger="episode_cost_above")
    assert episode_review.figures == {
        "limit": "5000.00",
        "episodes": [{"basis": "episode:blended-2026:2", "amount": "5200.00"}],
    }
    spend = CaseReview.objects.get(cycle=cycle, trigger="participant_cumulative_spend_above")
    assert spend.figures == {"limit": "25000.00", "spend_to_date": "26360.00"}
    escalations = CaseReview.objects.get(cycle=cycle, trigger="escalations_above")
    assert escalations.figures["escalations"] == 4
    assert AuditRecord.objects.count() == before + 1


def test_corrective_actions_are_retested_in_the_next_cycle(world: Pilot, team, provider):
    # given: April's cycle and corrective actions on two of its reviews
    april = run_variance_cycle(pilot=world, month=APRIL, by=team["bf-finance"], at=MAY_4)
    big_episode = CaseReview.objects.get(cycle=april, trigger="episode_cost_above")
    escalated = CaseReview.objects.get(cycle=april, trigger="escalations_above")
    manage = {"by": team["bf-finance"], "at": MAY_4}
    fixed = add_corrective_action(
        review=big_episode,
        description="Respite instead of extended crisis episodes",
        owner=team["bl-clinical_lead"],
        due=date(2026, 5, 29),
        **manage,
    )
    not_fixed = add_corrective_action(
        review=escalated,
        description="Weekly contact plan",
        owner=team["bl-supervisor"],
        due=date(2026, 5, 29),
        **manage,
    )
    close_case_review(review=big_episode, findings="One long crisis; plan agreed", **manage)
    # and May: ordinary PMPM, no large episode; the April escalations are still in the
    # 90-day window
    pmpm(world, provider, "2026-05", {"B-0001": "145.00", "B-0002": "310.00", "B-0003": "145.00"})
    episode(world, provider, "4", "B-0002", "850.00", date(2026, 5, 12))
    # when
    may = run_variance_cycle(pilot=world, month=MAY, by=team["bf-finance"], at=JUNE_2)
    # then
    fixed.refresh_from_db()
    not_fixed.refresh_from_db()
    assert (fixed.status, fixed.retest_cycle) == ("passed", may)
    assert fixed.retest_result == "passed: episode_cost_above no longer fires for B-0002 in 2026-05"
    assert (not_fixed.status, not_fixed.retest_cycle) == ("failed", may)
    assert not_fixed.retest_result == "failed: escalations_above still fires for B-0003 in 2026-05"
    assert may.figures["retests"] == [
        {"action": fixed.pk, "review": big_episode.pk, "result": "passed"},
        {"action": not_fixed.pk, "review": escalated.pk, "result": "failed"},
    ]
    # and the still-open escalation review is not opened twice
    assert not CaseReview.objects.filter(cycle=may, trigger="escalations_above").exists()
    assert {"trigger": "escalations_above", "subject": "B-0003", "review": escalated.pk} in (
        may.figures["reviews_still_open"]
    )


def test_a_cycle_runs_once_a_month(world: Pilot, team):
    run_variance_cycle(pilot=world, month=APRIL, by=team["bf-finance"], at=MAY_4)
    _refused(
        "already_run",
        run_variance_cycle,
        pilot=world,
        month=APRIL,
        by=team["bf-finance-2"],
        at=MAY_4,
    )


def test_a_cycle_of_a_month_not_begun_is_refused(world: Pilot, team):
    _refused(
        "month_in_future",
        run_variance_cycle,
        pilot=world,
        month=date(2026, 6, 1),
        by=team["bf-finance"],
        at=MAY_4,
    )


@pytest.mark.parametrize("who", ["bf-compliance", "bf-payer", "bl-clinical_lead"])
def test_only_finance_runs_the_cycle(world: Pilot, team, who):
    before = money_snapshot()
    with pytest.raises(NotPermitted):
        run_variance_cycle(pilot=world, month=APRIL, by=team[who], at=MAY_4)
    assert money_snapshot() == before


@pytest.fixture
def review(world: Pilot, team) -> CaseReview:
    cycle = run_variance_cycle(pilot=world, month=APRIL, by=team["bf-finance"], at=MAY_4)
    return CaseReview.objects.get(cycle=cycle, trigger="episode_cost_above")


def test_a_case_review_is_assigned_then_closed(review, team):
    assign_case_review(
        review=review,
        owner=team["bl-clinical_lead"],
        due=date(2026, 5, 15),
        by=team["bf-finance"],
        at=MAY_4,
    )
    close_case_review(
        review=review,
        findings="Episode priced above tariff",
        by=team["bl-clinical_lead"],
        at=MAY_4 + timedelta(days=1),
    )
    review.refresh_from_db()
    assert (review.owner.username, review.due, review.status) == (
        "bl-clinical_lead",
        date(2026, 5, 15),
        "closed",
    )
    assert review.closed_by.username == "bl-clinical_lead"


def test_case_review_refusals_write_nothing(review, team):
    manage = {"review": review, "by": team["bf-finance"], "at": MAY_4}
    _refused(
        "owner_not_permitted",
        assign_case_review,
        owner=team["bl-frontline"],
        due=date(2026, 5, 15),
        **manage,
    )
    _refused(
        "due_in_past",
        assign_case_review,
        owner=team["bf-compliance"],
        due=date(2026, 5, 1),
        **manage,
    )
    _refused(
        "description_required",
        add_corrective_action,
        description=" ",
        owner=team["bl-supervisor"],
        due=date(2026, 5, 29),
        **manage,
    )
    _refused("findings_required", close_case_review, findings="", **manage)
    close_case_review(findings="done", **manage)
    review.refresh_from_db()
    _refused("review_closed", close_case_review, findings="again", **manage)
    _refused(
        "review_closed",
        add_corrective_action,
        description="late",
        owner=team["bl-supervisor"],
        due=date(2026, 5, 29),
        **manage,
    )
    assert CorrectiveAction.objects.count() == 0
