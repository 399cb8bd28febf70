"""Removal from the locked activation roster: explicit, coded, audited."""

from datetime import timedelta
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import intake
from fundpilot.participants.models import Participant, RosterRemoval
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, make_person
from tests.participants.conftest import snapshot

AT = NOW + timedelta(days=10)


def _remove(participant, staff, **changes: Any) -> RosterRemoval:
    fields: dict[str, Any] = {
        "participant": participant,
        "reason_code": "RM-MOVED",
        "note": " Moved to Portland. ",
        "by": staff[Role.ACTIVATION_APPROVER],
        "at": AT,
    }
    return intake.remove_from_roster(**(fields | changes))


def _refused(participant, staff, **changes: Any) -> Refused:
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _remove(participant, staff, **changes)
    assert snapshot() == before
    return refused.value


def test_it_removes_an_activated_participant_with_a_coded_reason(activated_participant, staff):
    # when
    removal = _remove(activated_participant, staff)
    # then
    stored = RosterRemoval.objects.get()
    assert stored == removal
    assert (stored.reason_code, stored.note, stored.decided_by, stored.decided_at) == (
        "RM-MOVED",
        "Moved to Portland.",
        staff[Role.ACTIVATION_APPROVER],
        AT,
    )
    assert (stored.due, stored.late_days, stored.rulebook_version) == (None, 0, 1)
    assert Participant.objects.get().status == "removed"
    assert activated_participant.status == "removed"
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.subject, record.payload) == (
        "roster.remove",
        "participant:P-0001",
        {"reason_code": "RM-MOVED", "note": "Moved to Portland."},
    )


def test_it_refuses_a_removal_without_a_reason(activated_participant, staff):
    refused = _refused(activated_participant, staff, reason_code="")
    assert (refused.code, refused.field) == ("reason_required", "reason_code")


def test_it_refuses_an_unknown_removal_reason(activated_participant, staff):
    refused = _refused(activated_participant, staff, reason_code="R-DECLINED")
    assert (refused.code, refused.field) == ("unknown_reason", "reason_code")


def test_it_refuses_a_participant_not_on_the_roster(eligible_participant, staff):
    refused = _refused(eligible_participant, staff)
    assert (refused.code, refused.field) == ("not_on_roster", "participant")


def test_it_refuses_to_remove_twice(activated_participant, staff):
    _remove(activated_participant, staff)
    refused = _refused(activated_participant, staff, reason_code="RM-ERROR")
    assert (refused.code, refused.field) == ("not_on_roster", "participant")


def test_a_supervisor_may_not_remove_from_the_roster(activated_participant, staff):
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _remove(activated_participant, staff, by=staff[Role.SUPERVISOR])
    assert refused.value.code == "not_permitted"
    assert snapshot() == before


def test_another_providers_approver_may_not_remove(
    pilot, activated_participant, staff, admin, other_provider
):
    stranger = make_person("ns-approver", other_provider, admin, Role.ACTIVATION_APPROVER, pilot)
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _remove(activated_participant, staff, by=stranger)
    assert refused.value.code == "other_organisation"
    assert snapshot() == before
