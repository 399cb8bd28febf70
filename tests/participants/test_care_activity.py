"""C5 activity log: ordinary work recorded against activated participants; baseline
package work visible and never billable; episode work billable only under its criteria
(required level, unit cap per period, authorisation)."""

from datetime import timedelta
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import care, intake
from fundpilot.participants.models import Activity, Participant
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import Role
from tests.participants.care_fixtures import (
    ACTIVATED,
    admit_blended,
    assert_refused,
    blended_pilot,
    blended_staff,
)

OCCURRED = ACTIVATED + timedelta(hours=2)


def _record(participant: Participant, staff: dict[Role, User], **changes: Any) -> Activity:
    occurred = changes.pop("occurred_at", OCCURRED)
    fields: dict[str, Any] = {
        "participant": participant,
        "activity_type": "face_to_face",
        "occurred_at": occurred,
        "note": "Met at the clinic",
        "by": staff[Role.FRONTLINE],
        "at": occurred + timedelta(hours=1),
    }
    return care.record_activity(**(fields | changes))


@pytest.fixture
def blended(admin: User, provider: Organisation, other_provider: Organisation) -> Pilot:
    return blended_pilot(admin, provider, other_provider)


@pytest.fixture
def team(blended: Pilot, admin: User, provider: Organisation) -> dict[Role, User]:
    return blended_staff(blended, admin, provider)


@pytest.fixture
def member(blended: Pilot, team: dict[Role, User]) -> Participant:
    return admit_blended(blended, team)


def _authorise(
    member: Participant, team: dict[Role, User], level: str, at, days: int = 90, **kw: Any
) -> None:
    """C3 through the real actions: the frontline lead asks, the clinical lead approves."""
    request = care.request_service_level(
        participant=member,
        level=level,
        kind=kw.get("kind", "initial"),
        evidence="LOCUS level 4",
        triggers=kw.get("triggers", ()),
        by=team[Role.FRONTLINE],
        at=at,
    )
    care.decide_service_level(
        request=request,
        approve=True,
        rationale="Meets the level's criteria",
        expected_duration_days=days,
        by=team[Role.CLINICAL_LEAD],
        at=at + timedelta(minutes=30),
    )


def _at_sl2(member: Participant, team: dict[Role, User], days: int = 90) -> Participant:
    _authorise(member, team, "SL1", ACTIVATED + timedelta(minutes=10))
    _authorise(
        member,
        team,
        "SL2",
        ACTIVATED + timedelta(hours=1),
        days,
        kind="upgrade",
        triggers=["safeguarding"],
    )
    return Participant.objects.get(pk=member.pk)


# --- milestone pilot: ordinary work -------------------------------------------------


def test_it_records_ordinary_work_in_a_milestone_pilot(activated_participant, staff):
    # when
    activity = _record(activated_participant, staff)
    # then
    assert Activity.objects.get() == activity
    assert (activity.activity_type, activity.occurred_at, activity.note) == (
        "face_to_face",
        OCCURRED,
        "Met at the clinic",
    )
    assert (activity.baseline, activity.billable, activity.episode) == (False, False, "")
    assert (activity.recorded_by, activity.rulebook_version) == (staff[Role.FRONTLINE], 1)
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.subject) == (
        "activity.record",
        "rs-frontline",
        "participant:P-0001",
    )
    assert record.payload["billable"] is False


def test_work_may_be_recorded_the_moment_it_happens(activated_participant, staff):
    activity = _record(activated_participant, staff, occurred_at=ACTIVATED, at=ACTIVATED)
    assert activity.occurred_at == ACTIVATED


def test_an_unknown_activity_type_is_refused(activated_participant, staff):
    error = assert_refused(
        "unknown_activity_type",
        _record,
        participant=activated_participant,
        staff=staff,
        activity_type="EP-CRISIS",
    )
    assert error.field == "activity_type"


def test_a_milestone_pilot_has_no_episodes(activated_participant, staff):
    assert_refused(
        "unknown_episode",
        _record,
        participant=activated_participant,
        staff=staff,
        episode="EP-CRISIS",
    )


def test_a_clinical_lead_does_not_record_activity(activated_participant, staff):
    assert_refused(
        "not_permitted",
        _record,
        participant=activated_participant,
        staff=staff,
        by=staff[Role.CLINICAL_LEAD],
    )


def test_no_work_is_recorded_before_activation(eligible_participant, staff):
    assert_refused("not_activated", _record, participant=eligible_participant, staff=staff)


def test_no_work_is_recorded_after_removal(activated_participant, staff):
    intake.remove_from_roster(
        participant=activated_participant,
        reason_code="RM-DIED",
        by=staff[Role.ACTIVATION_APPROVER],
        at=OCCURRED,
    )
    assert_refused("not_activated", _record, participant=activated_participant, staff=staff)


def test_an_activity_cannot_be_recorded_before_it_happens(activated_participant, staff):
    assert_refused(
        "occurred_in_future",
        _record,
        participant=activated_participant,
        staff=staff,
        at=OCCURRED - timedelta(minutes=1),
    )


def test_an_activity_before_activation_is_refused(activated_participant, staff):
    error = assert_refused(
        "before_activation",
        _record,
        participant=activated_participant,
        staff=staff,
        occurred_at=ACTIVATED - timedelta(minutes=1),
    )
    assert error.message == (
        "P-0001 was activated at 2026-03-03 17:00 UTC; no pilot-coded work before that"
    )


# --- blended pilot: baseline package and episodes -----------------------------------


def test_baseline_package_work_is_visible_and_never_billable(member, team):
    activity = _record(member, team, activity_type="outreach")
    assert (activity.baseline, activity.billable, activity.episode) == (True, False, "")


def test_a_blended_pilot_accepts_only_its_own_activity_types(member, team):
    assert_refused(
        "unknown_activity_type", _record, participant=member, staff=team, activity_type="walk"
    )


def test_baseline_work_cannot_be_billed_as_an_episode(member, team):
    assert_refused(
        "baseline_not_billable",
        _record,
        participant=member,
        staff=team,
        activity_type="outreach",
        episode="EP-TRANSITION",
    )


def test_an_episode_activity_is_billed_under_its_own_episode(member, team):
    assert_refused(
        "episode_mismatch",
        _record,
        participant=member,
        staff=team,
        activity_type="EP-CRISIS",
        episode="EP-TRANSITION",
    )


def test_an_episode_without_level_or_authorisation_is_billable_up_to_its_cap(member, team):
    # given: EP-TRANSITION, at most 4 in 30 days; four on 4–7 March
    first = ACTIVATED + timedelta(days=1)
    billed = [
        _record(member, team, activity_type="EP-TRANSITION", occurred_at=first + timedelta(days=d))
        for d in range(4)
    ]
    # when: a fifth on 8 March, and one on 6 April once 7 March is 30 days back
    fifth = _record(
        member, team, activity_type="EP-TRANSITION", occurred_at=first + timedelta(days=4)
    )
    fifth_audit = AuditRecord.objects.latest("pk")
    later = _record(
        member,
        team,
        activity_type="EP-TRANSITION",
        episode="EP-TRANSITION",
        occurred_at=first + timedelta(days=33),
    )
    # then
    assert [a.billable for a in billed] == [True, True, True, True]
    assert {a.episode for a in billed} == {"EP-TRANSITION"}
    assert (fifth.billable, fifth.baseline) == (False, False)
    assert fifth_audit.payload["not_billable_because"] == "unit cap of 4 in 30 days reached"
    assert later.billable is True


def test_an_episode_needs_its_service_level(member, team):
    # given: no level yet, then SL1
    without = _record(member, team, activity_type="EP-CRISIS")
    without_audit = AuditRecord.objects.latest("pk")
    _authorise(member, team, "SL1", OCCURRED + timedelta(hours=2))
    at_sl1 = _record(
        member, team, activity_type="EP-CRISIS", occurred_at=OCCURRED + timedelta(hours=3)
    )
    # then
    assert (without.billable, at_sl1.billable) == (False, False)
    assert without_audit.payload["not_billable_because"] == (
        "needs service level SL2 or SL3; B-0001 has no level"
    )
    assert AuditRecord.objects.latest("pk").payload["not_billable_because"] == (
        "needs service level SL2 or SL3; B-0001 has SL1"
    )


def test_an_authorised_episode_at_its_level_is_billable(member, team):
    # given: SL2 approved at 18:30 on 3 March for 30 days
    member = _at_sl2(member, team, days=30)
    # when
    activity = _record(
        member, team, activity_type="EP-CRISIS", occurred_at=OCCURRED + timedelta(days=1)
    )
    # then
    assert (activity.billable, activity.episode, activity.baseline) == (True, "EP-CRISIS", False)


def test_an_episode_before_its_authorisation_is_not_billable(member, team):
    # given: SL2 approved at 18:30; the crisis response was at 18:00
    member = _at_sl2(member, team)
    # when
    activity = _record(
        member, team, activity_type="EP-CRISIS", occurred_at=ACTIVATED + timedelta(hours=1)
    )
    # then
    assert activity.billable is False
    assert AuditRecord.objects.latest("pk").payload["not_billable_because"] == (
        "needs an authorisation in force at the time of the activity"
    )


def test_an_episode_after_the_authorisation_expired_is_not_billable(member, team):
    member = _at_sl2(member, team, days=30)
    activity = _record(
        member, team, activity_type="EP-CRISIS", occurred_at=OCCURRED + timedelta(days=31)
    )
    assert activity.billable is False
