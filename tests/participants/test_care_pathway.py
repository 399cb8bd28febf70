"""C4 pathway release (recovery-2026): a lead with the role and caseload capacity, the
stage of the baseline score, the barrier of the screening record, a review date within
the protocol, and the same-day routing to lead, supervisors and quality reviewers."""

from datetime import date, timedelta
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import care, intake
from fundpilot.participants.models import Notification, Participant, Pathway
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, amend, example, make_person
from tests.participants.care_fixtures import (
    ACTIVATED,
    admit_without_screening,
    assert_refused,
)
from tests.participants.conftest import activate, admit, reviewed

RELEASED = ACTIVATED + timedelta(hours=1)  # Tuesday 3 March 2026, 10:00 in Oregon


@pytest.fixture
def activated_participant(
    activated_participant: Participant, staff: dict[Role, User]
) -> Participant:
    """Activated and reviewed by compliance, as milestone planning requires."""
    return reviewed(activated_participant, staff)


def _release(participant: Participant, staff: dict[Role, User], **changes: Any) -> Pathway:
    fields: dict[str, Any] = {
        "participant": participant,
        "stage": "S2",
        "barrier_category": "housing",
        "lead": staff[Role.FRONTLINE],
        "target_review_date": date(2026, 3, 13),
        "escalation_code": "ESC-CRISIS",
        "by": staff[Role.RECOVERY_LEAD],
        "at": RELEASED,
    }
    return care.release_pathway(**(fields | changes))


def _lead_with_capacity(
    username: str, capacity: int | None, pilot: Pilot, admin: User, org: Organisation
) -> User:
    user = actions.create_user(
        username=username, organisation=org, password="a-long-passphrase", by=admin, at=NOW
    )
    actions.grant_role(
        user=user,
        role=Role.FRONTLINE,
        pilot=pilot,
        by=admin,
        at=NOW,
        caseload_capacity=capacity,
    )
    return User.objects.get(pk=user.pk)


def _second(pilot: Pilot, staff: dict[Role, User]) -> Participant:
    return reviewed(
        activate(admit(pilot, staff, participant_id="P-0002", member_id="WV-0002"), staff), staff
    )


@pytest.fixture
def reviewers(pilot, admin, other_provider) -> dict[str, User]:
    """A pilot-office quality reviewer (notified) and northstar's supervisor and quality
    reviewer (not: another provider's participant)."""
    office = admin.organisation
    return {
        "office": make_person("po-quality", office, admin, Role.QUALITY_REVIEWER, pilot),
        "ns-supervisor": make_person("ns-sup", other_provider, admin, Role.SUPERVISOR, pilot),
        "ns-quality": make_person("ns-qr", other_provider, admin, Role.QUALITY_REVIEWER, pilot),
    }


def test_it_releases_the_pathway_and_routes_it_the_same_day(
    activated_participant, staff, reviewers
):
    # when
    pathway = _release(activated_participant, staff)
    # then
    assert Pathway.objects.get() == pathway
    assert (pathway.stage, pathway.barrier_category, pathway.escalation_code) == (
        "S2",
        "housing",
        "ESC-CRISIS",
    )
    assert (pathway.lead, pathway.target_review_date) == (staff[Role.FRONTLINE], date(2026, 3, 13))
    assert (pathway.decided_by, pathway.decided_at, pathway.rulebook_version) == (
        staff[Role.RECOVERY_LEAD],
        RELEASED,
        1,
    )
    # due three business days after activation on Tuesday 3 March
    assert (pathway.due, pathway.late_days) == (date(2026, 3, 6), 0)
    assert Participant.objects.get(pk=activated_participant.pk).lead == staff[Role.FRONTLINE]
    assert activated_participant.lead == staff[Role.FRONTLINE]
    notified = Notification.objects.order_by("user__username")
    assert [n.user.username for n in notified] == [
        "po-quality",
        "rs-frontline",
        "rs-quality_reviewer",
        "rs-supervisor",
    ]
    assert {(n.created_at, n.link) for n in notified} == {
        (RELEASED, "/pilots/recovery-2026/participants/P-0001/")
    }
    assert notified[0].subject == (
        "Pathway released for P-0001: stage S2, barrier housing, lead rs-frontline,"
        " review by 2026-03-13"
    )
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.role, record.subject) == (
        "pathway.release",
        "rs-recovery_lead",
        "recovery_lead",
        "participant:P-0001",
    )
    assert record.payload["notified"] == [
        "rs-frontline",
        "rs-supervisor",
        "rs-quality_reviewer",
        "po-quality",
    ]
    assert (record.payload["due"], record.payload["target_review_date"]) == (
        "2026-03-06",
        "2026-03-13",
    )


def test_a_late_release_records_how_many_business_days_late(activated_participant, staff):
    # when: released on Tuesday 10 March, due Friday 6 March
    pathway = _release(
        activated_participant,
        staff,
        at=RELEASED + timedelta(days=7),
        target_review_date=date(2026, 3, 20),
    )
    # then: Monday 9 and Tuesday 10
    assert pathway.late_days == 2


def test_a_recovery_lead_may_lead_the_pathway(activated_participant, staff):
    pathway = _release(activated_participant, staff, lead=staff[Role.RECOVERY_LEAD])
    assert pathway.lead == staff[Role.RECOVERY_LEAD]


def test_the_review_date_may_be_the_last_day_of_the_cadence(activated_participant, staff):
    pathway = _release(activated_participant, staff, target_review_date=date(2026, 3, 17))
    assert pathway.target_review_date == date(2026, 3, 17)


def test_a_removed_participant_no_longer_uses_the_leads_capacity(
    pilot, activated_participant, staff, admin, provider
):
    # given: a lead of one, whose one participant left the roster
    lead = _lead_with_capacity("rs-small", 1, pilot, admin, provider)
    second = _second(pilot, staff)
    _release(second, staff, lead=lead)
    intake.remove_from_roster(
        participant=second, reason_code="RM-MOVED", by=staff[Role.ACTIVATION_APPROVER], at=RELEASED
    )
    # when
    pathway = _release(activated_participant, staff, lead=lead)
    # then
    assert pathway.lead == lead


# --- refusals -----------------------------------------------------------------------


def test_only_a_recovery_lead_releases(activated_participant, staff):
    assert_refused(
        "not_permitted",
        _release,
        participant=activated_participant,
        staff=staff,
        by=staff[Role.FRONTLINE],
    )


def test_another_providers_recovery_lead_may_not_release(
    pilot, activated_participant, staff, admin, other_provider
):
    theirs = make_person("ns-recovery", other_provider, admin, Role.RECOVERY_LEAD, pilot)
    assert_refused(
        "other_organisation", _release, participant=activated_participant, staff=staff, by=theirs
    )


def test_no_pathway_before_compliance_has_reviewed_the_activation(pilot, staff, register):
    # given: activated, but compliance has not reviewed the register yet
    unreviewed = activate(admit(pilot, staff, participant_id="P-0003", member_id="WV-0003"), staff)
    # when / then
    assert_refused("compliance_review_missing", _release, participant=unreviewed, staff=staff)


def test_no_pathway_before_activation(eligible_participant, staff):
    assert_refused("not_activated", _release, participant=eligible_participant, staff=staff)


def test_a_pathway_is_released_once(activated_participant, staff):
    _release(activated_participant, staff)
    assert_refused(
        "pathway_released",
        _release,
        participant=activated_participant,
        staff=staff,
        at=RELEASED + timedelta(hours=1),
    )


def test_the_lead_must_hold_a_lead_role(activated_participant, staff):
    error = assert_refused(
        "lead_lacks_role",
        _release,
        participant=activated_participant,
        staff=staff,
        lead=staff[Role.SUPERVISOR],
    )
    assert error.field == "lead"


def test_the_lead_must_work_for_the_participants_provider(
    pilot, activated_participant, staff, admin, other_provider
):
    theirs = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    assert_refused(
        "lead_other_organisation",
        _release,
        participant=activated_participant,
        staff=staff,
        lead=theirs,
    )


def test_the_lead_must_have_capacity_set_on_their_role(
    pilot, activated_participant, staff, admin, provider
):
    lead = _lead_with_capacity("rs-small", 1, pilot, admin, provider)
    _release(_second(pilot, staff), staff, lead=lead)
    error = assert_refused(
        "no_capacity", _release, participant=activated_participant, staff=staff, lead=lead
    )
    assert error.message == "rs-small already leads 1 active participants (limit 1)"


def test_without_a_personal_capacity_the_rulebooks_limit_for_the_role_applies(
    pilot, activated_participant, staff, admin, admin2
):
    amend(
        pilot,
        example("functional-recovery").replace("frontline = 25", "frontline = 1"),
        "One participant per frontline lead while the pilot starts",
        by=admin,
        approver=admin2,
        at=RELEASED,
    )
    _release(_second(pilot, staff), staff)
    assert_refused("no_capacity", _release, participant=activated_participant, staff=staff)


def test_an_unknown_stage_is_refused(activated_participant, staff):
    assert_refused(
        "unknown_stage", _release, participant=activated_participant, staff=staff, stage="S9"
    )


def test_the_stage_must_match_the_baseline_score(activated_participant, staff):
    error = assert_refused(
        "stage_mismatch", _release, participant=activated_participant, staff=staff, stage="S1"
    )
    assert error.message == "baseline score 62.50 places P-0001 in S2, not S1"


def test_an_unknown_barrier_category_is_refused(activated_participant, staff):
    assert_refused(
        "unknown_barrier_category",
        _release,
        participant=activated_participant,
        staff=staff,
        barrier_category="weather",
    )


def test_there_must_be_a_screening_record(pilot, staff, register):
    unscreened = reviewed(
        admit_without_screening(pilot, staff, participant_id="P-0003", member_id="WV-0003"), staff
    )
    assert_refused("no_screening", _release, participant=unscreened, staff=staff, stage="S1")


def test_the_barrier_category_must_match_the_screening_record(activated_participant, staff):
    error = assert_refused(
        "barrier_not_screened",
        _release,
        participant=activated_participant,
        staff=staff,
        barrier_category="transport",
    )
    assert error.message == "the screening record found housing, not transport"


@pytest.mark.parametrize("review", [date(2026, 3, 3), date(2026, 3, 2), date(2026, 3, 18)])
def test_the_target_review_date_must_fit_the_protocol(activated_participant, staff, review):
    error = assert_refused(
        "review_date_outside_protocol",
        _release,
        participant=activated_participant,
        staff=staff,
        target_review_date=review,
    )
    assert error.message == "the target review date must fall between 2026-03-04 and 2026-03-17"


def test_an_unknown_escalation_threshold_is_refused(activated_participant, staff):
    assert_refused(
        "unknown_escalation_code",
        _release,
        participant=activated_participant,
        staff=staff,
        escalation_code="ESC-NEVER",
    )
