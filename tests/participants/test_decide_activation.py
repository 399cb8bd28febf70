"""C2 activation decision: activated, pending clarification or rejected."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import intake
from fundpilot.participants.models import ActivationDecision, Participant
from fundpilot.pilots import actions
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, make_person
from tests.participants.conftest import load_register, snapshot

# Tuesday 3 March 2026, 09:00 in Oregon: the day after the file (due Wednesday 4 March).
AT = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)
TODAY = date(2026, 3, 3)


def _decide(participant, staff, **changes: Any) -> ActivationDecision:
    fields: dict[str, Any] = {
        "participant": participant,
        "outcome": "activated",
        "decision_code": "A1",
        "review_date": TODAY,
        "control_status": "passed",
        "by": staff[Role.ACTIVATION_APPROVER],
        "at": AT,
    }
    return intake.decide_activation(**(fields | changes))


def _pend(participant, staff, **changes: Any) -> ActivationDecision:
    fields: dict[str, Any] = {
        "outcome": "pending",
        "decision_code": "P1",
        "reason_code": "P-REGISTER",
        "control_status": "open",
        "clarification_owner": staff[Role.ENROLLMENT_MANAGER],
        "clarification_due": date(2026, 3, 5),
        "next_checkpoint": date(2026, 3, 5),
    }
    return _decide(participant, staff, **(fields | changes))


def _refused(participant, staff, **changes: Any) -> Refused:
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _decide(participant, staff, **changes)
    assert snapshot() == before
    return refused.value


def test_it_activates_an_eligible_participant_onto_the_roster(eligible_participant, staff):
    # when
    decision = _decide(eligible_participant, staff, next_checkpoint=date(2026, 3, 6))
    # then
    stored = ActivationDecision.objects.get()
    assert stored == decision
    assert (stored.outcome, stored.decision_code, stored.reason_code) == ("activated", "A1", "")
    assert (stored.review_date, stored.control_status, stored.next_checkpoint) == (
        TODAY,
        "passed",
        date(2026, 3, 6),
    )
    assert (stored.decided_by, stored.decided_at) == (staff[Role.ACTIVATION_APPROVER], AT)
    assert (stored.due, stored.late_days, stored.rulebook_version) == (date(2026, 3, 4), 0, 1)
    participant = Participant.objects.get()
    assert (participant.status, participant.activated_at, participant.next_review_due) == (
        "activated",
        AT,
        date(2026, 3, 17),
    )
    assert eligible_participant.status == "activated"
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.subject, record.role, record.organisation) == (
        "activation.decide",
        "participant:P-0001",
        "activation_approver",
        "riverside",
    )
    assert record.payload["outcome"] == "activated"
    assert record.payload["due"] == "2026-03-04"


def test_a_late_decision_records_how_many_business_days_late(eligible_participant, staff):
    friday = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    decision = _decide(eligible_participant, staff, at=friday, review_date=date(2026, 3, 6))
    assert (decision.due, decision.late_days) == (date(2026, 3, 4), 2)


def test_a_pilot_office_approver_decides_for_any_provider(
    eligible_participant, staff, admin, pilot
):
    office = staff[Role.COMPLIANCE].organisation
    coo = make_person("po-approver", office, admin, Role.ACTIVATION_APPROVER, pilot)
    decision = _decide(eligible_participant, staff, by=coo)
    assert decision.decided_by == coo


def test_a_pending_clarification_has_an_owner_and_deadline_then_is_activated(
    eligible_participant, staff
):
    # when
    pending = _pend(eligible_participant, staff)
    # then
    assert (pending.outcome, pending.reason_code) == ("pending", "P-REGISTER")
    assert (pending.clarification_owner, pending.clarification_due) == (
        staff[Role.ENROLLMENT_MANAGER],
        date(2026, 3, 5),
    )
    assert Participant.objects.get().status == "pending"
    assert Participant.objects.get().activated_at is None
    # and when the clarification is cleared
    later = AT + timedelta(days=1)
    activated = _decide(eligible_participant, staff, at=later, review_date=date(2026, 3, 4))
    # then
    assert (activated.outcome, activated.due, activated.late_days) == (
        "activated",
        date(2026, 3, 4),
        0,
    )
    assert Participant.objects.get().status == "activated"
    assert ActivationDecision.objects.count() == 2


def test_a_rejection_carries_a_coded_rationale(eligible_participant, staff):
    decision = _decide(
        eligible_participant,
        staff,
        outcome="rejected",
        decision_code="R1",
        reason_code="R-DECLINED",
        control_status="closed",
    )
    assert (decision.outcome, decision.reason_code) == ("rejected", "R-DECLINED")
    participant = Participant.objects.get()
    assert (participant.status, participant.next_review_due) == ("rejected", None)


def test_it_refuses_an_unknown_outcome(eligible_participant, staff):
    refused = _refused(eligible_participant, staff, outcome="deferred")
    assert (refused.code, refused.field) == ("unknown_outcome", "outcome")


def test_it_refuses_an_unknown_decision_code(eligible_participant, staff):
    refused = _refused(eligible_participant, staff, decision_code="A9")
    assert (refused.code, refused.field) == ("unknown_decision_code", "decision_code")


def test_it_refuses_a_decision_code_of_another_outcome(eligible_participant, staff):
    refused = _refused(eligible_participant, staff, decision_code="R1")
    assert (refused.code, refused.field) == ("decision_code_mismatch", "decision_code")


def test_it_refuses_a_pending_clarification_without_an_owner(eligible_participant, staff):
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _pend(eligible_participant, staff, clarification_owner=None)
    assert (refused.value.code, refused.value.field) == (
        "clarification_owner_required",
        "clarification_owner",
    )
    assert snapshot() == before


def test_it_refuses_an_owner_with_no_role_in_the_pilot(eligible_participant, staff, outsider):
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _pend(eligible_participant, staff, clarification_owner=outsider)
    assert (refused.value.code, refused.value.field) == (
        "owner_not_in_pilot",
        "clarification_owner",
    )
    assert snapshot() == before


def test_it_refuses_a_pending_clarification_without_a_deadline(eligible_participant, staff):
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _pend(eligible_participant, staff, clarification_due=None)
    assert (refused.value.code, refused.value.field) == (
        "clarification_due_required",
        "clarification_due",
    )
    assert snapshot() == before


def test_it_refuses_a_clarification_deadline_already_past(eligible_participant, staff):
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _pend(eligible_participant, staff, clarification_due=date(2026, 3, 2))
    assert (refused.value.code, refused.value.field) == (
        "clarification_due_past",
        "clarification_due",
    )
    assert snapshot() == before


def test_it_refuses_a_pending_clarification_without_a_reason(eligible_participant, staff):
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _pend(eligible_participant, staff, reason_code="")
    assert (refused.value.code, refused.value.field) == ("reason_required", "reason_code")
    assert snapshot() == before


def test_it_refuses_a_rejection_without_a_coded_rationale(eligible_participant, staff):
    refused = _refused(eligible_participant, staff, outcome="rejected", decision_code="R1")
    assert (refused.code, refused.field) == ("reason_required", "reason_code")


@pytest.mark.parametrize(
    ("outcome", "decision_code", "reason_code"),
    [
        ("rejected", "R1", "P-REGISTER"),  # a pending reason is not a rejection reason
        ("rejected", "R1", "R-WHIM"),
        ("activated", "A1", "R-DECLINED"),  # an activation takes no reason
    ],
)
def test_it_refuses_a_reason_code_that_does_not_fit(
    eligible_participant, staff, outcome, decision_code, reason_code
):
    refused = _refused(
        eligible_participant,
        staff,
        outcome=outcome,
        decision_code=decision_code,
        reason_code=reason_code,
    )
    assert (refused.code, refused.field) == ("unknown_reason", "reason_code")


def test_it_refuses_a_blank_control_status(eligible_participant, staff):
    refused = _refused(eligible_participant, staff, control_status=" ")
    assert (refused.code, refused.field) == ("required", "control_status")


def test_it_refuses_a_review_date_after_today(eligible_participant, staff):
    refused = _refused(eligible_participant, staff, review_date=date(2026, 3, 4))
    assert (refused.code, refused.field) == ("review_date_in_future", "review_date")


def test_it_refuses_a_next_checkpoint_before_the_review(eligible_participant, staff):
    refused = _refused(eligible_participant, staff, next_checkpoint=date(2026, 3, 2))
    assert (refused.code, refused.field) == ("checkpoint_before_review", "next_checkpoint")


@pytest.mark.parametrize(("first", "reason"), [("activated", ""), ("rejected", "R-DECLINED")])
def test_it_refuses_a_second_decision_once_decided(eligible_participant, staff, first, reason):
    code = {"activated": "A1", "rejected": "R1"}[first]
    _decide(eligible_participant, staff, outcome=first, decision_code=code, reason_code=reason)
    refused = _refused(eligible_participant, staff)
    assert (refused.code, refused.field) == ("already_decided", "participant")


def test_it_refuses_to_activate_without_a_valid_eligibility_basis(
    pilot, eligible_participant, staff
):
    # given the payer's newer register terminates the member before the start
    load_register(
        pilot,
        staff[Role.COMPLIANCE],
        "member_id,payer,coverage_start,coverage_end,status\n"
        "WV-0001,wvch,2026-01-01,2026-12-31,terminated\n",
        at=NOW + timedelta(hours=5),
    )
    # when / then
    refused = _refused(eligible_participant, staff)
    assert (refused.code, refused.field) == ("no_eligibility_basis", "participant")


def test_it_refuses_an_approver_who_filed_the_eligibility_file(
    pilot, eligible_participant, staff, admin
):
    # given the enrollment manager who filed is also an activation approver
    manager = staff[Role.ENROLLMENT_MANAGER]
    actions.grant_role(user=manager, role=Role.ACTIVATION_APPROVER, pilot=pilot, by=admin, at=NOW)
    # when / then
    refused = _refused(eligible_participant, staff, by=manager)
    assert (refused.code, refused.field) == ("same_person", "participant")


def test_an_enrollment_manager_may_not_decide_activation(eligible_participant, staff):
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _decide(eligible_participant, staff, by=staff[Role.ENROLLMENT_MANAGER])
    assert refused.value.code == "not_permitted"
    assert snapshot() == before


def test_another_providers_approver_may_not_decide(
    pilot, eligible_participant, staff, admin, other_provider
):
    stranger = make_person("ns-approver", other_provider, admin, Role.ACTIVATION_APPROVER, pilot)
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _decide(eligible_participant, staff, by=stranger)
    assert refused.value.code == "other_organisation"
    assert snapshot() == before
