"""The lifecycle pages: each step's form refuses with the coded reason shown on the
form (on the field it is about) and nothing written; filled in right, it records.

The clock is held at Monday 9 March 2026, 09:00 in Oregon, and moved on ten minutes
after each request, so the actions' `at` is known.
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from fundpilot.participants.actions import care, intake
from fundpilot.participants.models import (
    Activity,
    Assessment,
    Barrier,
    ComplianceReview,
    EligibilityEntry,
    EngagementEvent,
    ImportBatch,
    Participant,
    Pathway,
    ProgressionReview,
    Referral,
    RosterRemoval,
    ServiceLevelRequest,
)
from fundpilot.pilots.models import User
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, make_person
from tests.participants.care_fixtures import admit_blended, blended_pilot, blended_staff
from tests.participants.conftest import BASELINE_SCORE, reviewed, snapshot

START = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
SLUG = "/pilots/recovery-2026"
P1 = SLUG + "/participants/P-0001/"


@pytest.fixture(autouse=True)
def clock() -> Iterator[Any]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


class Pages:
    """A signed-in person's browser, moving the clock on after each request."""

    def __init__(self, user: User, clock: Any) -> None:
        self.client = Client()
        self.client.force_login(user)
        self.clock = clock

    def get(self, url: str) -> Any:
        return self.client.get(url)

    def post(self, url: str, data: dict[str, Any]) -> Any:
        response = self.client.post(url, data)
        self.clock.shift(timedelta(minutes=10))
        return response


@pytest.fixture
def pages(clock: Any) -> Any:
    return lambda user: Pages(user, clock)


def refused_on(response: Any, code: str, field: str | None) -> str:
    """The refusal shown: on the field's own error line, or at the top of the form."""
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    if field is None:
        found = re.search(r'<li class="error">([^<]*)</li>', html)
    else:
        found = re.search(rf'<p class="error" id="id_{field}_error">([^<]*)</p>', html)
        assert f'aria-describedby="id_{field}_error' in html
    assert found is not None, html
    assert found.group(1).endswith(f"({code})")
    return found.group(1)


def assert_page_refuses(
    browser: Pages, url: str, data: dict[str, Any], code: str, field: str | None
) -> str:
    before = snapshot()
    message = refused_on(browser.post(url, data), code, field)
    assert snapshot() == before
    return message


# --- each form refuses, shows why, writes nothing --------------------------------------


def test_receiving_a_referral_twice_is_refused_on_the_reference(
    pages, staff, eligible_participant, provider
):
    browser = pages(staff[Role.ENROLLMENT_MANAGER])
    data = {
        "reference": "REF-P-0001",
        "participant_id": "P-0002",
        "payer_id": "wvch",
        "member_id": "WV-0002",
        "source": "ED",
        "provider": provider.pk,
        "service_category": "SMI-OP",
        "referred_at": "2026-03-09T08:00",
        "geography": "",
    }
    message = assert_page_refuses(
        browser, SLUG + "/referrals/new/", data, "duplicate_reference", "reference"
    )
    assert message == "referral &#x27;REF-P-0001&#x27; was already received (duplicate_reference)"


def test_an_assessment_without_a_referral_is_refused(pages, staff, register):
    browser = pages(staff[Role.ENROLLMENT_MANAGER])
    data = {
        "participant_id": "P-9999",
        "kind": "baseline",
        "tool": "whodas-12",
        "tool_version": "2.0",
        "score": "62.50",
        "signed_by": "Dr. Rosa Diaz",
        "signed_at": "2026-03-09T08:00",
    }
    assert_page_refuses(browser, SLUG + "/assessments/new/", data, "no_referral", "participant_id")


def test_an_eligibility_file_whose_score_differs_from_the_signed_assessment_is_refused(
    pages, staff, register, pilot
):
    manager = staff[Role.ENROLLMENT_MANAGER]
    referral, baseline = _referred_and_assessed(pilot, manager)
    data = {
        "assessment": baseline.pk,
        "participant_id": "P-0002",
        "payer_status": "active",
        "baseline_score": "70.00",
        "service_category": "SMI-OP",
        "proposed_start": "2026-03-16",
        "exclusion_code": "",
    }
    message = assert_page_refuses(
        pages(manager),
        SLUG + "/referrals/REF-P-0002/eligibility/",
        data,
        "score_mismatch",
        "baseline_score",
    )
    assert message == "the signed assessment scores 62.50, not 70.00 (score_mismatch)"
    assert not Participant.objects.filter(participant_id="P-0002").exists()
    assert referral.file_due == date(2026, 3, 3)


def test_a_pending_activation_without_an_owner_is_refused(pages, staff, eligible_participant):
    data = {
        "outcome": "pending",
        "decision_code": "P1",
        "reason_code": "P-REGISTER",
        "review_date": "2026-03-09",
        "control_status": "open",
        "clarification_due": "2026-03-13",
    }
    assert_page_refuses(
        pages(staff[Role.ACTIVATION_APPROVER]),
        P1 + "activation/",
        data,
        "clarification_owner_required",
        "clarification_owner",
    )


def test_a_compliance_review_before_activation_is_refused(pages, staff, eligible_participant):
    assert_page_refuses(
        pages(staff[Role.COMPLIANCE]), P1 + "compliance/", {"note": ""}, "not_activated", None
    )


def test_removing_someone_not_on_the_roster_is_refused(pages, staff, eligible_participant):
    data = {"reason_code": "RM-MOVED", "note": ""}
    assert_page_refuses(
        pages(staff[Role.ACTIVATION_APPROVER]), P1 + "removal/", data, "not_on_roster", None
    )


def test_an_upgrade_without_a_current_level_is_refused(pages, admin, provider, other_provider):
    people, _ = _blended(admin, provider, other_provider)
    data = {"level": "SL2", "kind": "upgrade", "evidence": "Two unplanned contacts"}
    assert_page_refuses(
        pages(people[Role.FRONTLINE]),
        "/pilots/blended-2026/participants/B-0001/service-level/",
        data,
        "no_current_level",
        "kind",
    )


def test_an_approval_without_an_expected_duration_is_refused(
    pages, admin, provider, other_provider
):
    people, request = _blended(admin, provider, other_provider, requested=True)
    data = {"request": request.pk, "approve": "yes", "rationale": "Meets SL1"}
    assert_page_refuses(
        pages(people[Role.CLINICAL_LEAD]),
        "/pilots/blended-2026/participants/B-0001/service-level/decision/",
        data,
        "duration_required",
        "expected_duration_days",
    )


def test_a_pathway_at_the_wrong_stage_is_refused(pages, staff, activated_participant):
    reviewed(activated_participant, staff)
    data = {
        "stage": "S1",
        "barrier_category": "housing",
        "lead": staff[Role.FRONTLINE].pk,
        "target_review_date": "2026-03-20",
        "escalation_code": "ESC-CRISIS",
    }
    message = assert_page_refuses(
        pages(staff[Role.RECOVERY_LEAD]), P1 + "pathway/", data, "stage_mismatch", "stage"
    )
    assert message == "baseline score 62.50 places P-0001 in S2, not S1 (stage_mismatch)"


def test_an_activity_before_activation_is_refused(pages, staff, activated_participant):
    data = {"activity_type": "outreach", "occurred_at": "2026-03-02T06:00", "episode": ""}
    assert_page_refuses(
        pages(staff[Role.FRONTLINE]),
        P1 + "activities/new/",
        data,
        "before_activation",
        "occurred_at",
    )


def test_a_barrier_before_activation_is_refused(pages, staff, eligible_participant):
    data = {
        "category": "housing",
        "description": "Eviction notice",
        "owner": staff[Role.FRONTLINE].pk,
    }
    assert_page_refuses(pages(staff[Role.FRONTLINE]), P1 + "barriers/", data, "not_activated", None)


def test_resolving_a_barrier_off_the_roster_is_refused(pages, staff, activated_participant):
    barrier = care.open_barrier(
        participant=activated_participant,
        category="housing",
        description="Eviction notice",
        owner=staff[Role.FRONTLINE],
        by=staff[Role.FRONTLINE],
        at=NOW + timedelta(days=2),
    )
    intake.remove_from_roster(
        participant=activated_participant,
        reason_code="RM-MOVED",
        by=staff[Role.ACTIVATION_APPROVER],
        at=NOW + timedelta(days=3),
    )
    assert_page_refuses(
        pages(staff[Role.FRONTLINE]),
        P1 + "barriers/resolve/",
        {"barrier": barrier.pk},
        "not_activated",
        None,
    )


def test_a_stalled_review_without_a_reason_is_refused(pages, staff, activated_participant):
    data = {"outcome": "stalled", "review_date": "2026-03-09", "stall_code": ""}
    assert_page_refuses(
        pages(staff[Role.SUPERVISOR]), P1 + "review/", data, "stall_code_required", "stall_code"
    )


def test_re_engaging_an_engaged_participant_is_refused(pages, staff, activated_participant):
    data = {"kind": "reengaged", "reason": "Back in touch"}
    assert_page_refuses(
        pages(staff[Role.FRONTLINE]), P1 + "engagement/", data, "already_engaged", None
    )


def test_a_register_with_bad_rows_is_refused_row_by_row(pages, staff):
    # given a register whose line 3 has an impossible date and line 4 an unknown status
    content = (
        b"member_id,payer,coverage_start,coverage_end,status\n"
        b"WV-0001,wvch,2026-01-01,2026-12-31,active\n"
        b"WV-0002,wvch,2026-02-30,2026-12-31,active\n"
        b"WV-0003,wvch,2026-01-01,,dormant\n"
    )
    browser = pages(staff[Role.COMPLIANCE])
    before = (ImportBatch.objects.count(), EligibilityEntry.objects.count())
    # when it is uploaded
    upload = _file("register.csv", content)
    response = browser.client.post(
        SLUG + "/imports/eligibility/", {"payer_id": "wvch", "file": upload}
    )
    # then every bad row is listed by line, column and reason, and nothing is stored
    html = response.content.decode()
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>', html)
    assert [(line, column) for line, column, _ in rows] == [
        ("3", "coverage_start"),
        ("4", "status"),
    ]
    assert "(import_invalid)" in html
    assert (ImportBatch.objects.count(), EligibilityEntry.objects.count()) == before


def test_a_register_upload_is_stored_once(pages, staff):
    content = (
        b"member_id,payer,coverage_start,coverage_end,status\nWV-0001,wvch,2026-01-01,,active\n"
    )
    browser = pages(staff[Role.COMPLIANCE])
    first = browser.client.post(
        SLUG + "/imports/eligibility/", {"payer_id": "wvch", "file": _file("r.csv", content)}
    )
    again = browser.client.post(
        SLUG + "/imports/eligibility/", {"payer_id": "wvch", "file": _file("r.csv", content)}
    )
    assert "Imported 1 row." in first.content.decode()
    assert "already imported: nothing changed" in again.content.decode()
    assert EligibilityEntry.objects.count() == 1


def test_a_referral_file_upload_records_its_referrals(pages, staff):
    content = (
        b"reference,participant_id,payer,member_id,source,provider,service_category,referred_at\n"
        b"REF-9,P-0009,wvch,WV-0009,CBO,riverside,SMI-OP,2026-03-05\n"
    )
    browser = pages(staff[Role.ENROLLMENT_MANAGER])
    response = browser.client.post(SLUG + "/imports/referrals/", {"file": _file("r.csv", content)})
    assert "Imported 1 row." in response.content.decode()
    assert Referral.objects.get(reference="REF-9").file_due == date(2026, 3, 6)


def test_a_role_without_the_permission_is_forbidden_and_nothing_is_written(
    pages, staff, eligible_participant
):
    before = snapshot()
    data = {
        "outcome": "activated",
        "decision_code": "A1",
        "review_date": "2026-03-09",
        "control_status": "passed",
    }
    response = pages(staff[Role.FRONTLINE]).post(P1 + "activation/", data)
    assert response.status_code == 403
    assert "you may not activation.decide" in response.content.decode()
    assert snapshot() == before


def test_another_providers_staff_cannot_open_a_participant(
    pages, staff, eligible_participant, admin, other_provider, pilot
):
    approver = make_person("ns-approver", other_provider, admin, Role.ACTIVATION_APPROVER, pilot)
    browser = pages(approver)
    assert browser.get(P1).status_code == 403
    before = snapshot()
    data = {
        "outcome": "activated",
        "decision_code": "A1",
        "review_date": "2026-03-09",
        "control_status": "passed",
    }
    response = browser.post(P1 + "activation/", data)
    assert response.status_code == 403
    assert snapshot() == before


def test_the_breach_page_refuses_a_malformed_month(pages, staff):
    response = pages(staff[Role.COMPLIANCE]).get(SLUG + "/breaches/?month=2026-3")
    assert response.status_code == 400
    assert "write it as YYYY-MM (invalid_month)" in response.content.decode()


# --- filled in right, each step records -------------------------------------------------


def test_one_participant_through_every_recovery_step_by_the_pages(pages, staff, register, provider):
    manager = pages(staff[Role.ENROLLMENT_MANAGER])
    frontline = staff[Role.FRONTLINE]
    # a referral, then the baseline and the screening
    response = manager.post(
        SLUG + "/referrals/new/",
        {
            "reference": "REF-P-0002",
            "participant_id": "P-0002",
            "payer_id": "wvch",
            "member_id": "WV-0002",
            "source": "CBO",
            "provider": provider.pk,
            "service_category": "SMI-OP",
            "referred_at": "2026-03-09T08:00",
            "geography": "marion",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == SLUG + "/referrals/REF-P-0002/eligibility/"
    assert Referral.objects.get(reference="REF-P-0002").file_due == date(2026, 3, 10)
    assessment = {
        "participant_id": "P-0002",
        "score": "62.50",
        "acuity_band": "moderate",
        "signed_by": "Dr. Rosa Diaz",
        "signed_at": "2026-03-09T08:30",
    }
    manager.post(
        SLUG + "/assessments/new/",
        assessment | {"kind": "baseline", "tool": "whodas-12", "tool_version": "2.0"},
    )
    manager.post(
        SLUG + "/assessments/new/",
        assessment
        | {"kind": "screening", "tool": "locus", "tool_version": "2020", "barriers": ["housing"]},
    )
    # C1
    baseline = Assessment.objects.get(participant_id="P-0002", kind="baseline")
    response = manager.post(
        SLUG + "/referrals/REF-P-0002/eligibility/",
        {
            "assessment": baseline.pk,
            "participant_id": "P-0002",
            "payer_status": "active",
            "baseline_score": "62.50",
            "service_category": "SMI-OP",
            "proposed_start": "2026-03-16",
        },
    )
    page = SLUG + "/participants/P-0002/"
    assert response["Location"] == page
    # C2 and the compliance review
    pages(staff[Role.ACTIVATION_APPROVER]).post(
        page + "activation/",
        {
            "outcome": "activated",
            "decision_code": "A1",
            "review_date": "2026-03-09",
            "control_status": "passed",
            "next_checkpoint": "2026-03-23",
        },
    )
    pages(staff[Role.COMPLIANCE]).post(page + "compliance/", {"note": "Matches the register"})
    # C4
    pages(staff[Role.RECOVERY_LEAD]).post(
        page + "pathway/",
        {
            "stage": "S2",
            "barrier_category": "housing",
            "lead": frontline.pk,
            "target_review_date": "2026-03-20",
            "escalation_code": "ESC-NOCONTACT",
        },
    )
    # C5: an activity, a barrier opened and resolved
    worker = pages(frontline)
    worker.post(
        page + "activities/new/", {"activity_type": "outreach", "occurred_at": "2026-03-09T10:00"}
    )
    response = worker.post(
        page + "barriers/",
        {"category": "housing", "description": "Needs a voucher", "owner": frontline.pk},
    )
    assert response["Location"] == page + "barriers/"
    barrier = Barrier.objects.get()
    worker.post(page + "barriers/resolve/", {"barrier": barrier.pk})
    # C6, then a relapse and re-engagement, then removal from the roster
    pages(staff[Role.SUPERVISOR]).post(
        page + "review/", {"outcome": "progressed", "review_date": "2026-03-09"}
    )
    worker.post(page + "engagement/", {"kind": "disengaged", "reason": "No contact"})
    worker.post(page + "engagement/", {"kind": "reengaged", "reason": "Called back"})
    pages(staff[Role.ACTIVATION_APPROVER]).post(
        page + "removal/", {"reason_code": "RM-MOVED", "note": "Moved to Portland"}
    )
    # then every step is recorded
    participant = Participant.objects.get(participant_id="P-0002")
    assert participant.status == Participant.REMOVED
    assert participant.lead == frontline
    assert participant.engaged is True
    assert ComplianceReview.objects.filter(participant=participant).count() == 1
    assert Pathway.objects.get(participant=participant).escalation_code == "ESC-NOCONTACT"
    assert Activity.objects.get(participant=participant).occurred_at == datetime(
        2026, 3, 9, 17, 0, tzinfo=UTC
    )
    assert Barrier.objects.get(participant=participant).resolved_by == frontline
    assert ProgressionReview.objects.get(participant=participant).outcome == "progressed"
    assert list(
        EngagementEvent.objects.filter(participant=participant).values_list("kind", flat=True)
    ) == ["disengaged", "reengaged"]
    assert RosterRemoval.objects.get(participant=participant).reason_code == "RM-MOVED"
    # and the participant page shows it all on one timeline
    html = pages(staff[Role.SUPERVISOR]).get(page).content.decode()
    for text in (
        "Referral REF-P-0002 from CBO",
        "Eligibility file: payer status active",
        "Activation decision A1: activated",
        "Compliance review: Matches the register",
        "Pathway released: stage S2",
        "Activity outreach",
        "Barrier resolved: housing",
        "Progression review of 2026-03-09: progressed",
        "Disengaged: No contact",
        "Re-engaged: Called back",
        "Removed from the activation roster: RM-MOVED",
    ):
        assert text in html, text


def test_a_service_level_is_requested_and_approved_by_the_pages(
    pages, admin, provider, other_provider
):
    people, _ = _blended(admin, provider, other_provider)
    page = "/pilots/blended-2026/participants/B-0001/"
    pages(people[Role.FRONTLINE]).post(
        page + "service-level/",
        {"level": "SL1", "kind": "initial", "evidence": "DLA-20 3.20, LOCUS moderate"},
    )
    request = ServiceLevelRequest.objects.get()
    response = pages(people[Role.CLINICAL_LEAD]).post(
        page + "service-level/decision/",
        {
            "request": request.pk,
            "approve": "yes",
            "rationale": "Core care management fits",
            "expected_duration_days": "120",
        },
    )
    assert response["Location"] == page
    request.refresh_from_db()
    assert (request.status, request.expected_duration_days) == ("approved", 120)
    assert Participant.objects.get(participant_id="B-0001").service_level == "SL1"


def test_the_work_queue_and_participant_pages_answer(pages, staff, activated_participant):
    supervisor = pages(staff[Role.SUPERVISOR])
    queue = supervisor.get(SLUG + "/queue/").content.decode()
    assert "Progression review" in queue
    listing = supervisor.get(SLUG + "/participants/?status=activated").content.decode()
    assert 'href="/pilots/recovery-2026/participants/P-0001/"' in listing
    partial = supervisor.client.get(
        SLUG + "/participants/?status=pending", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<h1>" not in partial and "No participants with status pending." in partial
    home = supervisor.get("/").content.decode()
    assert "Your work queue" in home and "Progression review" in home


# --- helpers ------------------------------------------------------------------------


def _file(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def _referred_and_assessed(pilot: Any, manager: User) -> tuple[Referral, Assessment]:
    referral = intake.receive_referral(
        pilot=pilot,
        reference="REF-P-0002",
        participant_id="P-0002",
        payer_id="wvch",
        member_id="WV-0002",
        source="ED",
        provider=manager.organisation,
        service_category="SMI-OP",
        referred_at=NOW,
        by=manager,
        at=NOW,
    )
    baseline = intake.record_assessment(
        pilot=referral.pilot,
        participant_id="P-0002",
        kind="baseline",
        tool="whodas-12",
        tool_version="2.0",
        score=BASELINE_SCORE,
        signed_by="Dr. Rosa Diaz",
        signed_at=NOW,
        by=manager,
        at=NOW,
    )
    return referral, baseline


def _blended(admin: User, provider: Any, other_provider: Any, requested: bool = False) -> Any:
    pilot = blended_pilot(admin, provider, other_provider)
    people = blended_staff(pilot, admin, provider)
    participant = admit_blended(pilot, people)
    request = None
    if requested:
        request = care.request_service_level(
            participant=participant,
            level="SL1",
            kind="initial",
            evidence="DLA-20 3.20",
            by=people[Role.FRONTLINE],
            at=NOW + timedelta(days=2),
        )
    return people, request
