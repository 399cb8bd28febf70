"""C10 live use: real cases and referral closure from the lifecycle data, and the
quality floors checked against attested measures."""

from datetime import timedelta
from decimal import Decimal

import pytest

from fundpilot.claims.live_use import (
    LiveUseFigures,
    floor_problem,
    live_use,
    live_use_problem,
    tranche_board,
)
from fundpilot.participants.actions import intake
from fundpilot.participants.actions.referrals import decline_referral
from fundpilot.participants.models import Referral
from fundpilot.pilots import actions
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import LiveUse, QualityFloor
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.claims.contract_fixtures import receiving_referrals, referrals
from tests.conftest import NOW, make_person, organisation
from tests.participants.conftest import admit

HOUR = timedelta(hours=1)


@pytest.fixture
def live_pilot(contract_pilot, contract_staff, admin):
    return receiving_referrals(contract_pilot, contract_staff, admin)


def _refer(pilot, staff, n, at):
    manager = staff[Role.ENROLLMENT_MANAGER]
    return intake.receive_referral(
        pilot=pilot,
        reference=f"REF-L{n}",
        participant_id=f"P-L{n}",
        payer_id="wvch",
        member_id=f"WV-000{n}",
        source="ED",
        provider=manager.organisation,
        service_category="SMI-OP",
        referred_at=at,
        by=manager,
        at=at,
    )


def test_it_counts_referrals_received_and_answered_up_to_a_moment(pilot, staff, register):
    # given: on recovery-2026, P-0001 referred at NOW and filed at NOW+2h; a second
    # referral at NOW+1h declined at NOW+5h; a third referred at NOW+3h, unanswered
    admit(pilot, staff)
    second = _refer(pilot, staff, 2, NOW + HOUR)
    _refer(pilot, staff, 3, NOW + 3 * HOUR)
    decline_referral(
        referral=second,
        reason_code="R-DECLINED",
        by=staff[Role.ACTIVATION_APPROVER],
        at=NOW + 5 * HOUR,
    )
    # when / then: each moment sees only what had happened by then
    assert live_use(pilot, at=NOW - HOUR) == LiveUseFigures(NOW - HOUR, 0, 0)
    assert live_use(pilot, at=NOW + HOUR) == LiveUseFigures(NOW + HOUR, 2, 0)
    assert live_use(pilot, at=NOW + 2 * HOUR) == LiveUseFigures(NOW + 2 * HOUR, 2, 1)
    later = live_use(pilot, at=NOW + 6 * HOUR)
    assert (later.real_cases, later.answered) == (3, 2)
    assert later.closure_rate == Decimal("66.67")
    assert later.as_json() == {
        "at": (NOW + 6 * HOUR).isoformat(),
        "real_cases": 3,
        "answered": 2,
        "referral_closure_rate": "66.67",
    }


def test_the_discharge_example_as_shipped_cannot_receive_referrals(contract_pilot, admin):
    # given: discharge-2026 has no eligibility section; a partner's enrollment manager
    assert contract_pilot.rulebook.eligibility is None
    home = organisation("riverbend-home", OrgKind.PROVIDER, admin)
    actions.add_party(pilot=contract_pilot, organisation=home, by=admin, at=NOW)
    manager = make_person("rh-manager", home, admin, Role.ENROLLMENT_MANAGER, contract_pilot)
    # when
    with pytest.raises(Refused) as refused:
        intake.receive_referral(
            pilot=contract_pilot,
            reference="REF-1",
            participant_id="DC-1",
            payer_id="northstar",
            member_id="NS-1",
            source="WARD",
            provider=home,
            service_category="DISCHARGE",
            referred_at=NOW,
            by=manager,
            at=NOW,
        )
    # then: refused, so its live use stays at zero until its rulebook is amended
    assert refused.value.code == "no_eligibility_rules"
    assert live_use(contract_pilot, at=NOW + HOUR) == LiveUseFigures(NOW + HOUR, 0, 0)


def test_on_the_amended_discharge_pilot_imports_and_declines_count(live_pilot, contract_staff):
    # given: 10 referrals received at NOW, 8 of them declined a minute later
    referrals(live_pilot, contract_staff, 10, NOW, answered=8)
    # when
    figures = live_use(live_pilot, at=NOW + HOUR)
    # then
    assert (figures.real_cases, figures.answered, figures.closure_rate) == (10, 8, Decimal("80"))
    assert Referral.objects.filter(pilot=live_pilot).count() == 10


T2 = LiveUse(minimum_real_cases=40, minimum_referral_closure_rate=Decimal("80"))


def test_live_use_meets_the_requirement_exactly_at_the_minimum():
    assert live_use_problem(LiveUseFigures(NOW, 40, 32), T2) == ""
    assert live_use_problem(LiveUseFigures(NOW, 0, 0), None) == ""


def test_live_use_names_every_shortfall():
    assert live_use_problem(LiveUseFigures(NOW, 39, 31), T2) == (
        "39 real cases, 40 required; 79.49% of referrals closed, 80% required"
    )
    assert live_use_problem(LiveUseFigures(NOW, 0, 0), T2) == (
        "0 real cases, 40 required; no referrals, 80% required"
    )


def test_closure_is_compared_exactly_not_after_rounding():
    # given: 79.996% closed shows as 80.00 but is short of 80
    figures = LiveUseFigures(NOW, 25001, 19999)
    requirement = LiveUse(minimum_real_cases=1, minimum_referral_closure_rate=Decimal("80"))
    # then
    assert figures.closure_rate == Decimal("79.99")
    assert not figures.closure_at_least(Decimal("80"))
    assert live_use_problem(figures, requirement) != ""


FLOORS = LiveUse(
    minimum_real_cases=400,
    quality_floors=(
        QualityFloor(measure="med-rec-48h", label="Med rec", floor=Decimal("90"), at_volume=400),
        QualityFloor(measure="follow-up-7d", label="Follow-up", floor=Decimal("85"), at_volume=400),
    ),
)


def test_quality_floors_hold_at_volume():
    measures = {
        "med-rec-48h": {"value": "90", "volume": 400},
        "follow-up-7d": {"value": "85.5", "volume": 410},
    }
    assert floor_problem(FLOORS, measures) == ("", "")


def test_a_missing_measure_is_named():
    code, message = floor_problem(FLOORS, {"med-rec-48h": {"value": "95", "volume": 400}})
    assert (code, message) == ("measure_missing", "attest follow-up-7d (Follow-up)")


def test_quality_below_its_floor_or_below_the_volume_is_refused():
    good = {"value": "86", "volume": 400}
    low = {"med-rec-48h": {"value": "89.99", "volume": 400}, "follow-up-7d": good}
    small = {"med-rec-48h": {"value": "99", "volume": 399}, "follow-up-7d": good}
    assert floor_problem(FLOORS, low)[0] == "quality_below_floor"
    assert floor_problem(FLOORS, small) == (
        "quality_below_floor",
        "med-rec-48h is 99% at 399 cases; the floor is 90% at 400 cases or more",
    )


def test_the_board_shows_every_tranche_with_todays_live_use(live_pilot, contract_staff):
    # given: 40 real cases, 30 answered
    referrals(live_pilot, contract_staff, 40, NOW, answered=30)
    # when
    board = tranche_board(live_pilot, at=NOW + HOUR)
    # then
    assert [(r.code, r.status, r.predecessors) for r in board] == [
        ("T1", "not_claimed", ()),
        ("T2", "not_claimed", ("T1",)),
        ("T3", "not_claimed", ("T2",)),
        ("T4", "not_claimed", ("T3",)),
    ]
    t2 = board[1]
    assert t2.live_use["real_cases"] == 40
    assert t2.live_use_short == "75% of referrals closed, 80% required"
    assert board[0].live_use_short == ""
