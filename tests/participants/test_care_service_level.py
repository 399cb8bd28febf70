"""C3 service level authorisation (blended-2026): initial levels and upgrade requests,
the authorising role's decision, and the authorisation register."""

from datetime import date, timedelta
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import care, intake
from fundpilot.participants.models import Participant, ServiceLevelRequest
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import Role
from tests.conftest import amend, example, make_person
from tests.participants.care_fixtures import (
    ACTIVATED,
    admit_blended,
    assert_refused,
    blended_pilot,
    blended_staff,
    person,
)

REQUESTED = ACTIVATED + timedelta(hours=1)  # Tuesday 3 March 2026, 13:00 in North Carolina
DECIDED = REQUESTED + timedelta(days=1)


@pytest.fixture
def blended(admin: User, provider: Organisation, other_provider: Organisation) -> Pilot:
    return blended_pilot(admin, provider, other_provider)


@pytest.fixture
def team(blended: Pilot, admin: User, provider: Organisation) -> dict[Role, User]:
    return blended_staff(blended, admin, provider)


@pytest.fixture
def member(blended: Pilot, team: dict[Role, User]) -> Participant:
    return admit_blended(blended, team)


def _request(member: Participant, team: dict[Role, User], **changes: Any) -> ServiceLevelRequest:
    fields: dict[str, Any] = {
        "participant": member,
        "level": "SL1",
        "kind": "initial",
        "evidence": "LOCUS level 3 at intake; DLA-20 3.20",
        "by": team[Role.FRONTLINE],
        "at": REQUESTED,
    }
    return care.request_service_level(**(fields | changes))


def _decide(
    request: ServiceLevelRequest, team: dict[Role, User], **changes: Any
) -> ServiceLevelRequest:
    fields: dict[str, Any] = {
        "request": request,
        "approve": True,
        "rationale": "Needs monthly contact and a current care plan",
        "expected_duration_days": 90,
        "by": team[Role.CLINICAL_LEAD],
        "at": DECIDED,
    }
    return care.decide_service_level(**(fields | changes))


def _at_sl1(member: Participant, team: dict[Role, User]) -> Participant:
    _decide(_request(member, team), team)
    return Participant.objects.get(pk=member.pk)


def _upgrade(member: Participant, team: dict[Role, User], **changes: Any) -> ServiceLevelRequest:
    fields: dict[str, Any] = {
        "level": "SL2",
        "kind": "upgrade",
        "evidence": "Three unplanned ED contacts since 1 March",
        "triggers": ["unplanned_contacts"],
        "at": DECIDED + timedelta(hours=1),
    }
    return _request(member, team, **(fields | changes))


# --- requests -----------------------------------------------------------------------


def test_it_requests_an_initial_level_due_in_two_business_days(member, team):
    # when
    request = _request(member, team)
    # then
    assert ServiceLevelRequest.objects.get() == request
    assert (request.kind, request.level, request.status, request.triggers) == (
        "initial",
        "SL1",
        "requested",
        [],
    )
    assert request.evidence == "LOCUS level 3 at intake; DLA-20 3.20"
    assert (request.decided_by, request.decided_at) == (team[Role.FRONTLINE], REQUESTED)
    assert (request.due, request.late_days, request.rulebook_version) == (date(2026, 3, 5), 0, 1)
    assert Participant.objects.get(pk=member.pk).service_level == ""
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.subject) == (
        "service_level.request",
        "bl-frontline",
        "participant:B-0001",
    )
    assert record.payload["level"] == "SL1"
    assert record.payload["due"] == "2026-03-05"


def test_the_clinical_lead_approves_and_the_level_is_set(member, team):
    # given
    request = _request(member, team)
    # when
    decided = _decide(request, team)
    # then
    assert decided.status == "approved"
    assert (decided.approver, decided.approved_at) == (team[Role.CLINICAL_LEAD], DECIDED)
    assert decided.rationale == "Needs monthly contact and a current care plan"
    assert (decided.expected_duration_days, decided.late_days) == (90, 0)
    assert Participant.objects.get(pk=member.pk).service_level == "SL1"
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.role) == (
        "service_level.decide",
        "bl-clinical_lead",
        "clinical_lead",
    )
    assert (record.payload["outcome"], record.payload["expected_duration_days"]) == (
        "approved",
        90,
    )


def test_a_late_decision_records_how_many_business_days_late(member, team):
    # given: due Thursday 5 March
    request = _request(member, team)
    # when: decided on Monday 9 March
    decided = _decide(request, team, at=REQUESTED + timedelta(days=6))
    # then: Friday 6 and Monday 9
    assert decided.late_days == 2


def test_a_refusal_goes_to_the_register_and_sets_no_level(member, team):
    # given
    request = _request(member, team)
    # when
    decided = _decide(request, team, approve=False, rationale="Assessment is out of date")
    # then
    assert ServiceLevelRequest.objects.get().status == "refused"
    assert (decided.approver, decided.rationale, decided.expected_duration_days) == (
        team[Role.CLINICAL_LEAD],
        "Assessment is out of date",
        None,
    )
    assert Participant.objects.get(pk=member.pk).service_level == ""
    assert AuditRecord.objects.latest("pk").payload["outcome"] == "refused"


def test_after_a_refusal_a_new_request_may_be_made(member, team):
    # given
    _decide(_request(member, team), team, approve=False, rationale="Assessment is out of date")
    # when
    again = _request(member, team, at=DECIDED + timedelta(hours=1))
    # then
    assert list(ServiceLevelRequest.objects.order_by("pk").values_list("status", flat=True)) == [
        "refused",
        "requested",
    ]
    assert again.status == "requested"


def test_an_upgrade_to_the_next_level_cites_its_triggers_and_is_approved(member, team):
    # given
    member = _at_sl1(member, team)
    # when
    request = _upgrade(member, team, triggers=["unplanned_contacts", "safeguarding"])
    decided = _decide(request, team, expected_duration_days=180, at=DECIDED + timedelta(days=1))
    # then
    assert (decided.kind, decided.level, decided.triggers, decided.status) == (
        "upgrade",
        "SL2",
        ["unplanned_contacts", "safeguarding"],
        "approved",
    )
    assert Participant.objects.get(pk=member.pk).service_level == "SL2"
    assert ServiceLevelRequest.objects.count() == 2


# --- request refusals ---------------------------------------------------------------


def test_a_clinical_lead_may_not_request(member, team):
    error = assert_refused(
        "not_permitted",
        _request,
        member=member,
        team=team,
        by=team[Role.CLINICAL_LEAD],
    )
    assert isinstance(error, NotPermitted)


def test_another_providers_staff_may_not_request(blended, member, team, admin, other_provider):
    outsider = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, blended)
    assert_refused("other_organisation", _request, member=member, team=team, by=outsider)


def test_no_request_before_activation(blended, team):
    eligible = admit_blended(blended, team, activate=False)
    assert_refused("not_activated", _request, member=eligible, team=team)


def test_no_request_after_removal_from_the_roster(member, team):
    intake.remove_from_roster(
        participant=member, reason_code="RM-MOVED", by=team[Role.ACTIVATION_APPROVER], at=REQUESTED
    )
    assert_refused("not_activated", _request, member=member, team=team)


def test_a_pilot_without_service_levels_refuses(activated_participant, staff):
    assert_refused(
        "no_service_levels",
        care.request_service_level,
        participant=activated_participant,
        level="SL1",
        kind="initial",
        evidence="LOCUS level 3",
        by=staff[Role.FRONTLINE],
        at=REQUESTED,
    )


def test_an_unknown_level_is_refused(member, team):
    assert_refused("unknown_service_level", _request, member=member, team=team, level="SL9")


def test_an_unknown_kind_is_refused(member, team):
    assert_refused("unknown_request_kind", _request, member=member, team=team, kind="downgrade")


def test_evidence_is_required(member, team):
    assert_refused("evidence_required", _request, member=member, team=team, evidence="  ")


def test_an_initial_request_when_a_level_is_held_is_refused(member, team):
    member = _at_sl1(member, team)
    assert_refused("level_already_set", _request, member=member, team=team, level="SL2", at=DECIDED)


def test_an_initial_request_cites_no_triggers(member, team):
    assert_refused(
        "triggers_not_applicable", _request, member=member, team=team, triggers=["safeguarding"]
    )


def test_an_upgrade_needs_a_current_level(member, team):
    assert_refused("no_current_level", _upgrade, member=member, team=team)


def test_an_upgrade_must_go_to_the_next_level(member, team):
    member = _at_sl1(member, team)
    error = assert_refused("not_next_level", _upgrade, member=member, team=team, level="SL3")
    assert error.message == "level SL1 upgrades to SL2, not to SL3"


def test_an_upgrade_must_cite_a_trigger(member, team):
    member = _at_sl1(member, team)
    assert_refused("triggers_required", _upgrade, member=member, team=team, triggers=[])


def test_an_upgrade_cites_only_triggers_the_current_level_lists(member, team):
    member = _at_sl1(member, team)
    error = assert_refused(
        "unknown_trigger",
        _upgrade,
        member=member,
        team=team,
        triggers=["safeguarding", "missed_appointment"],
    )
    assert error.field == "triggers"


def test_one_open_request_at_a_time(member, team):
    _request(member, team)
    assert_refused("request_open", _request, member=member, team=team, at=DECIDED)


# --- decision refusals --------------------------------------------------------------


def test_only_a_clinical_lead_decides(member, team):
    request = _request(member, team)
    assert_refused("not_permitted", _decide, request=request, team=team, by=team[Role.SUPERVISOR])


def test_no_decision_once_the_participant_left_the_roster(member, team):
    request = _request(member, team)
    intake.remove_from_roster(
        participant=member,
        reason_code="RM-WITHDREW",
        by=team[Role.ACTIVATION_APPROVER],
        at=REQUESTED + timedelta(hours=1),
    )
    assert_refused("not_activated", _decide, request=request, team=team)


def test_a_request_is_decided_once(member, team):
    request = _request(member, team)
    _decide(request, team)
    assert_refused("already_decided", _decide, request=request, team=team, approve=False)


def test_a_level_gone_from_the_rulebook_cannot_be_approved(blended, member, team, admin, admin2):
    request = _request(member, team)
    amend(
        blended,
        example("blended-rate").replace('code = "SL1"', 'code = "SL0"'),
        "Renumber the core level",
        by=admin,
        approver=admin2,
        at=REQUESTED + timedelta(hours=1),
    )
    assert_refused("unknown_service_level", _decide, request=request, team=team)


def test_only_the_levels_authorising_role_decides(blended, member, team, admin, admin2):
    request = _request(member, team)
    document = example("blended-rate").replace(
        'authorised_by = "clinical_lead"', 'authorised_by = "supervisor"', 1
    )
    amend(
        blended,
        document,
        "Supervisors authorise core care management",
        by=admin,
        approver=admin2,
        at=REQUESTED + timedelta(hours=1),
    )
    error = assert_refused("not_authorising_role", _decide, request=request, team=team)
    assert error.message == "level SL1 is authorised by the Supervisor"


def test_nobody_decides_their_own_request(blended, member, team, admin, provider):
    both = person("bl-both", provider, admin, blended, Role.SUPERVISOR, Role.CLINICAL_LEAD)
    request = _request(member, team, by=both)
    assert_refused("own_request", _decide, request=request, team=team, by=both)


def test_a_decision_needs_a_rationale(member, team):
    request = _request(member, team)
    assert_refused("rationale_required", _decide, request=request, team=team, rationale="")


def test_a_refusal_needs_a_rationale_too(member, team):
    request = _request(member, team)
    assert_refused(
        "rationale_required", _decide, request=request, team=team, approve=False, rationale=" "
    )


def test_an_approval_states_the_expected_duration(member, team):
    request = _request(member, team)
    assert_refused(
        "duration_required", _decide, request=request, team=team, expected_duration_days=None
    )


def test_an_approval_within_the_levels_maximum_duration(member, team):
    member = _at_sl1(member, team)
    request = _upgrade(member, team)
    error = assert_refused(
        "duration_too_long",
        _decide,
        request=request,
        team=team,
        expected_duration_days=181,
        at=DECIDED + timedelta(days=1),
    )
    assert error.message == "level SL2 may be authorised for at most 180 days"
