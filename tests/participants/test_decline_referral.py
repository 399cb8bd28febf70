"""No wrong door (C2): a referral that cannot become pilot-eligible is answered with a
coded decline, and leaves the enrollment queue."""

from datetime import timedelta

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants import queries
from fundpilot.participants.actions import intake
from fundpilot.participants.actions.referrals import decline_referral
from fundpilot.participants.models import Referral, ReferralDecline
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, make_person
from tests.participants.conftest import PAYER, snapshot


@pytest.fixture
def terminated_referral(pilot, staff, register) -> Referral:
    """Member WV-0009's coverage is terminated: C1 cannot pass for this referral."""
    manager = staff[Role.ENROLLMENT_MANAGER]
    return intake.receive_referral(
        pilot=pilot,
        reference="REF-T",
        participant_id="P-T",
        payer_id=PAYER,
        member_id="WV-0009",
        source="CRISIS",
        provider=manager.organisation,
        service_category="SMI-OP",
        referred_at=NOW,
        by=manager,
        at=NOW,
    )


def test_a_referral_that_cannot_be_filed_gets_a_coded_answer(pilot, staff, terminated_referral):
    # given: the referral waits in the enrollment manager's queue
    manager = staff[Role.ENROLLMENT_MANAGER]
    today = pilot.calendar.local_date(NOW)
    assert [
        i.participant_id
        for i in queries.work_queue(manager, pilot, today=today).due_today
        + queries.work_queue(manager, pilot, today=today).upcoming
    ] == ["P-T"]
    # when: the approver declines it three business days after the referral
    at = NOW + timedelta(days=3)
    decline = decline_referral(
        referral=terminated_referral,
        reason_code="R-PAYER",
        note="Coverage terminated",
        by=staff[Role.ACTIVATION_APPROVER],
        at=at,
    )
    # then: it is recorded, audited, counted late against the C1 clock, and answered
    assert (decline.reason_code, decline.due, decline.late_days) == (
        "R-PAYER",
        terminated_referral.file_due,
        2,
    )
    record = AuditRecord.objects.filter(chain="pilot:recovery-2026").latest("seq")
    assert (record.action, record.subject, record.payload["reason_code"]) == (
        "referral.decline",
        "referral:REF-T",
        "R-PAYER",
    )
    queue = queries.work_queue(manager, pilot, today=pilot.calendar.local_date(at))
    assert all(i.participant_id != "P-T" for i in queue.overdue + queue.due_today + queue.upcoming)


@pytest.mark.parametrize(
    ("reason", "code"), [("", "reason_required"), ("R-NOPE", "unknown_reason")]
)
def test_a_decline_needs_a_known_reason_code(staff, terminated_referral, reason, code):
    before = snapshot()
    with pytest.raises(Refused) as refused:
        decline_referral(
            referral=terminated_referral,
            reason_code=reason,
            by=staff[Role.ACTIVATION_APPROVER],
            at=NOW,
        )
    assert (refused.value.code, refused.value.field) == (code, "reason_code")
    assert snapshot() == before


def test_a_referral_is_answered_once(staff, terminated_referral):
    decline_referral(
        referral=terminated_referral,
        reason_code="R-PAYER",
        by=staff[Role.ACTIVATION_APPROVER],
        at=NOW,
    )
    before = snapshot()
    with pytest.raises(Refused) as refused:
        decline_referral(
            referral=terminated_referral,
            reason_code="R-DECLINED",
            by=staff[Role.ACTIVATION_APPROVER],
            at=NOW,
        )
    assert refused.value.code == "already_answered"
    assert snapshot() == before


def test_a_filed_referral_is_decided_by_activation_not_declined(staff, eligible_participant):
    before = snapshot()
    with pytest.raises(Refused) as refused:
        decline_referral(
            referral=eligible_participant.referral,
            reason_code="R-DECLINED",
            by=staff[Role.ACTIVATION_APPROVER],
            at=NOW,
        )
    assert refused.value.code == "already_filed"
    assert snapshot() == before


def test_only_the_approver_of_the_same_provider_declines(
    pilot, staff, admin, other_provider, terminated_referral
):
    theirs = make_person("ns-approver", other_provider, admin, Role.ACTIVATION_APPROVER, pilot)
    before = snapshot()
    for person in (staff[Role.FRONTLINE], theirs):
        with pytest.raises(NotPermitted):
            decline_referral(referral=terminated_referral, reason_code="R-PAYER", by=person, at=NOW)
    assert snapshot() == before
    assert ReferralDecline.objects.count() == 0


def test_the_api_and_the_page_decline_with_a_coded_reason(pilot, staff, terminated_referral):
    from django.test import Client

    from fundpilot.pilots.actions import issue_api_token

    approver = staff[Role.ACTIVATION_APPROVER]
    # the page refuses an unknown reason with the form shown again, nothing written
    page = Client()
    page.force_login(approver)
    url = "/pilots/recovery-2026/referrals/REF-T/decline/"
    assert page.get(url).status_code == 200
    assert page.post(url, {"reason_code": "R-NOPE"}).status_code == 200
    assert ReferralDecline.objects.count() == 0
    # the API records the coded answer
    secret = issue_api_token(user=approver, label="t", by=approver, at=NOW)
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    response = api.post(
        "/api/v1/pilots/recovery-2026/referrals/REF-T/decline",
        {"reason_code": "R-PAYER", "note": "terminated"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert (response.json()["reference"], response.json()["reason_code"]) == ("REF-T", "R-PAYER")
    again = api.post(
        "/api/v1/pilots/recovery-2026/referrals/REF-T/decline",
        {"reason_code": "R-PAYER"},
        content_type="application/json",
    )
    assert (again.status_code, again.json()["code"]) == (422, "already_answered")
