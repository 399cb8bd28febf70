"""Relapse and re-engagement are first-class: a participant disengages, is re-engaged
and the work continues, with the history kept."""

from datetime import timedelta
from typing import Any

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import care
from fundpilot.participants.models import EngagementEvent, Participant
from fundpilot.pilots.models import User
from fundpilot.rules.vocabulary import Role
from tests.participants.care_fixtures import ACTIVATED, assert_refused

LOST = ACTIVATED + timedelta(days=5)
FOUND = LOST + timedelta(days=10)


def _disengage(
    participant: Participant, staff: dict[Role, User], **changes: Any
) -> EngagementEvent:
    fields: dict[str, Any] = {
        "participant": participant,
        "reason": "No contact for 14 days after a relapse",
        "by": staff[Role.FRONTLINE],
        "at": LOST,
    }
    return care.record_disengagement(**(fields | changes))


def _reengage(participant: Participant, staff: dict[Role, User], **changes: Any) -> EngagementEvent:
    fields: dict[str, Any] = {
        "participant": participant,
        "reason": "Met at the shelter; agreed to resume",
        "by": staff[Role.SUPERVISOR],
        "at": FOUND,
    }
    return care.record_reengagement(**(fields | changes))


def test_a_participant_disengages_and_is_re_engaged_with_the_history_kept(
    activated_participant, staff
):
    # when
    lost = _disengage(activated_participant, staff)
    after_losing = Participant.objects.get(pk=activated_participant.pk).engaged
    found = _reengage(activated_participant, staff)
    # then
    assert after_losing is False
    assert Participant.objects.get(pk=activated_participant.pk).engaged is True
    assert activated_participant.engaged is True
    history = list(
        EngagementEvent.objects.order_by("decided_at").values_list(
            "kind", "reason", "decided_by__username", "decided_at", "rulebook_version"
        )
    )
    assert history == [
        ("disengaged", "No contact for 14 days after a relapse", "rs-frontline", LOST, 1),
        ("reengaged", "Met at the shelter; agreed to resume", "rs-supervisor", FOUND, 1),
    ]
    assert (lost.kind, found.kind) == ("disengaged", "reengaged")
    actions = list(AuditRecord.objects.order_by("-pk").values_list("action", flat=True)[:2])
    assert actions == ["engagement.reengaged", "engagement.disengaged"]


def test_work_continues_while_disengaged_and_after_re_engagement(activated_participant, staff):
    # given
    _disengage(activated_participant, staff)
    outreach = care.record_activity(
        participant=activated_participant,
        activity_type="outreach",
        occurred_at=LOST + timedelta(days=1),
        by=staff[Role.FRONTLINE],
        at=LOST + timedelta(days=1),
    )
    _reengage(activated_participant, staff)
    # when
    contact = care.record_activity(
        participant=activated_participant,
        activity_type="face_to_face",
        occurred_at=FOUND + timedelta(days=1),
        by=staff[Role.FRONTLINE],
        at=FOUND + timedelta(days=1),
    )
    again = _disengage(activated_participant, staff, at=FOUND + timedelta(days=20))
    # then
    assert (outreach.activity_type, contact.activity_type) == ("outreach", "face_to_face")
    assert again.kind == "disengaged"
    assert EngagementEvent.objects.count() == 3


# --- refusals -----------------------------------------------------------------------


def test_a_clinical_lead_does_not_record_engagement(activated_participant, staff):
    assert_refused(
        "not_permitted",
        _disengage,
        participant=activated_participant,
        staff=staff,
        by=staff[Role.CLINICAL_LEAD],
    )


def test_engagement_is_recorded_only_for_activated_participants(eligible_participant, staff):
    assert_refused("not_activated", _disengage, participant=eligible_participant, staff=staff)


def test_only_an_engaged_participant_disengages(activated_participant, staff):
    _disengage(activated_participant, staff)
    assert_refused(
        "already_disengaged",
        _disengage,
        participant=activated_participant,
        staff=staff,
        at=LOST + timedelta(days=1),
    )


def test_only_a_disengaged_participant_is_re_engaged(activated_participant, staff):
    assert_refused("already_engaged", _reengage, participant=activated_participant, staff=staff)


def test_a_disengagement_needs_a_reason(activated_participant, staff):
    assert_refused(
        "reason_required", _disengage, participant=activated_participant, staff=staff, reason=""
    )


def test_a_re_engagement_needs_a_reason(activated_participant, staff):
    _disengage(activated_participant, staff)
    assert_refused(
        "reason_required", _reengage, participant=activated_participant, staff=staff, reason=" "
    )
