"""Compliance / payer relations review each activation before milestone planning (C2)."""

from datetime import timedelta
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import intake
from fundpilot.participants.models import ComplianceReview
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW
from tests.participants.conftest import snapshot

AT = NOW + timedelta(days=2)


def _review(participant, staff, **changes: Any) -> ComplianceReview:
    fields: dict[str, Any] = {
        "participant": participant,
        "note": "Basis checked against the register.",
        "by": staff[Role.COMPLIANCE],
        "at": AT,
    }
    return intake.review_compliance(**(fields | changes))


def _refused(participant, staff, **changes: Any) -> Refused:
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _review(participant, staff, **changes)
    assert snapshot() == before
    return refused.value


def test_compliance_reviews_an_activation(activated_participant, staff):
    # when
    review = _review(activated_participant, staff)
    # then
    stored = ComplianceReview.objects.get()
    assert stored == review
    assert (stored.participant, stored.note, stored.decided_by, stored.decided_at) == (
        activated_participant,
        "Basis checked against the register.",
        staff[Role.COMPLIANCE],
        AT,
    )
    assert (stored.due, stored.late_days, stored.rulebook_version) == (None, 0, 1)
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.subject, record.role, record.organisation) == (
        "compliance.review",
        "participant:P-0001",
        "compliance",
        "office",
    )


def test_it_refuses_a_participant_not_yet_activated(eligible_participant, staff):
    refused = _refused(eligible_participant, staff)
    assert (refused.code, refused.field) == ("not_activated", "participant")


def test_it_refuses_a_second_review(activated_participant, staff):
    _review(activated_participant, staff)
    refused = _refused(activated_participant, staff, note="again")
    assert (refused.code, refused.field) == ("already_reviewed", "participant")


@pytest.mark.parametrize("role", [Role.ACTIVATION_APPROVER, Role.FINANCE])
def test_only_compliance_reviews(activated_participant, staff, role):
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _review(activated_participant, staff, by=staff[role])
    assert refused.value.code == "not_permitted"
    assert snapshot() == before
