"""C7/C8 pages: the tracker with its prompts, evidence upload with a file input and
download through the policy, drafting, the readiness review and submission (each
refusal shown on the form, nothing written), the claims list and the claim page.

The clock is held at AT (Tuesday 10 March 2026, 10:00 in Oregon).
"""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from fundpilot.claims.models import Claim, Evidence
from fundpilot.pilots.models import User
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import (
    claims_snapshot,
    draft,
    evidence_for,
    media,  # noqa: F401 (fixture)
    pathway_participant_like,
    pdf_bytes,
    ready_claim,
    submitted_claim,
    upload,
)
from tests.conftest import make_person

AT = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
SLUG = "/pilots/recovery-2026"
P1 = f"{SLUG}/participants/P-0001/"
pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def second_participant(pilot, staff, register):
    """P-0002 of riverside (member WV-0002), in P-0001's state."""
    return pathway_participant_like(pilot, staff, "P-0002", "WV-0002")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(AT, tick=False):
        yield


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def error_shown(response, code: str) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    found = re.search(rf"([^<>]*\({code}\))", html)
    assert found, html
    return found.group(1)


def test_the_tracker_page_prompts_for_the_missing_evidence(pathway_participant, staff):
    upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT)
    response = browser(staff[Role.FRONTLINE]).get(P1 + "milestones/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "M1 Stabilisation" in html
    assert "med_rec" in html
    assert "3 contact_log" in html
    assert "2026-04-17" in html
    assert f"{P1}claims/new/?milestone=M1" in html
    assert f"{P1}evidence/new/" in html


def test_the_participant_page_loads_the_milestone_summary(pathway_participant, staff):
    client = browser(staff[Role.FRONTLINE])
    page = client.get(P1).content.decode()
    assert f'hx-get="{P1}milestones/summary/"' in page
    summary = client.get(P1 + "milestones/summary/").content.decode()
    assert "0 of 5 reached" in summary
    assert "crisis_plan; med_rec" in summary


def test_evidence_is_uploaded_through_the_form(pathway_participant, staff):
    client = browser(staff[Role.FRONTLINE])
    form = client.get(P1 + "evidence/new/?kind=med_rec").content.decode()
    assert 'type="file"' in form and 'enctype="multipart/form-data"' in form
    response = client.post(
        P1 + "evidence/new/",
        {
            "kind": "med_rec",
            "document_date": "2026-03-10",
            "file": SimpleUploadedFile("med rec.pdf", pdf_bytes("page med rec")),
            "note": "",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == P1 + "milestones/"
    evidence = Evidence.objects.get()
    assert (evidence.kind, evidence.filename, evidence.uploaded_by) == (
        "med_rec",
        "med rec.pdf",
        staff[Role.FRONTLINE],
    )


def test_a_refused_upload_is_shown_on_the_file_field(pathway_participant, staff):
    before = claims_snapshot()
    response = browser(staff[Role.FRONTLINE]).post(
        P1 + "evidence/new/",
        {
            "kind": "crisis_plan",
            "document_date": "2026-03-10",
            "file": SimpleUploadedFile("plan.pdf", b"just words\n"),
        },
    )
    message = error_shown(response, "type_not_allowed")
    assert "crisis_plan evidence must be PDF, PNG, JPEG" in message
    assert 'id="id_file_error"' in response.content.decode()
    assert claims_snapshot() == before


def test_evidence_files_are_served_only_through_the_policy(
    pathway_participant, staff, pilot, admin, other_provider, verifier
):
    piece = upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT)
    url = f"{SLUG}/evidence/{piece.pk}/"
    mine = browser(staff[Role.FRONTLINE]).get(url)
    assert mine.status_code == 200
    assert mine["Content-Disposition"].startswith("attachment;")
    assert browser(verifier).get(url).status_code == 200
    northstar = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    assert browser(northstar).get(url).status_code == 403
    assert Client().get(url).status_code == 302  # to the sign-in page
    with piece.file.open("rb") as stored:
        assert b"".join(mine.streaming_content) == stored.read()
    # no public media URL: the stored name is not served
    assert browser(staff[Role.FRONTLINE]).get("/" + piece.file.name).status_code == 404


def test_a_claim_is_drafted_reviewed_and_submitted_through_the_pages(pathway_participant, staff):
    evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT)
    frontline, supervisor = browser(staff[Role.FRONTLINE]), browser(staff[Role.SUPERVISOR])
    # when: drafted
    drafted = frontline.post(P1 + "claims/new/", {"milestone": "M1", "reached_on": "2026-03-10"})
    claim_page = f"{SLUG}/claims/P-0001/M1/1/"
    assert (drafted.status_code, drafted["Location"]) == (302, claim_page)
    # then: the claim page offers the review to the supervisor, with the evidence hashes
    page = supervisor.get(claim_page).content.decode()
    assert f"{claim_page}readiness/" in page
    assert Evidence.objects.first().sha256[:12] in page
    # when: reviewed, then submitted
    assert supervisor.post(claim_page + "readiness/", {"note": "ok"}).status_code == 302
    assert frontline.post(claim_page + "submit/", {}).status_code == 302
    # then
    page = frontline.get(claim_page).content.decode()
    assert "milestone:recovery-2026:P-0001:M1:1" in page
    assert "wvch (recovery_milestones) 100% = 900.00" in page
    assert Claim.objects.get().status == Claim.PAYABLE


def test_a_refused_draft_is_shown_on_the_form(pathway_participant, staff):
    before = claims_snapshot()
    response = browser(staff[Role.FRONTLINE]).post(
        P1 + "claims/new/", {"milestone": "M2", "reached_on": "2026-03-10"}
    )
    assert "M2 needs M1" in error_shown(response, "prerequisite_not_reached")
    assert claims_snapshot() == before


def test_the_readiness_review_names_the_missing_evidence(pathway_participant, staff):
    draft(pathway_participant, "M1", staff, AT, with_evidence=False)
    before = claims_snapshot()
    response = browser(staff[Role.SUPERVISOR]).post(f"{SLUG}/claims/P-0001/M1/1/readiness/", {})
    assert "still needs: crisis_plan; med_rec" in error_shown(response, "missing_evidence")
    assert claims_snapshot() == before


def test_submitting_without_readiness_is_refused_on_the_page(pathway_participant, staff):
    draft(pathway_participant, "M1", staff, AT)
    before = claims_snapshot()
    response = browser(staff[Role.FRONTLINE]).post(f"{SLUG}/claims/P-0001/M1/1/submit/", {})
    error_shown(response, "not_ready")
    assert claims_snapshot() == before


def test_reused_evidence_is_flagged_on_the_claim_page(
    pathway_participant, staff, second_participant
):
    other = second_participant
    content = pdf_bytes("shared plan")
    upload(other, "crisis_plan", staff[Role.FRONTLINE], AT, content=content)
    upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT, content=content)
    ready_claim(pathway_participant, "M1", staff, AT)
    page = browser(staff[Role.SUPERVISOR]).get(f"{SLUG}/claims/P-0001/M1/1/").content.decode()
    assert "reused: the same file is attached to another participant" in page
    tracker = browser(staff[Role.FRONTLINE]).get(P1 + "milestones/").content.decode()
    assert "reused: also attached to another participant" in tracker


def test_the_claims_list_filters_by_status(pathway_participant, staff):
    submitted_claim(pathway_participant, "M3", staff, AT)
    client = browser(staff[Role.FRONTLINE])
    submitted = client.get(f"{SLUG}/claims/?status=submitted").content.decode()
    assert "P-0001/M3/1" in submitted and "P-0001/M1/1" not in submitted
    assert "2026-03-17" in submitted
    every = client.get(f"{SLUG}/claims/").content.decode()
    assert all(ref in every for ref in ("P-0001/M1/1", "P-0001/M2/1", "P-0001/M3/1"))


def test_another_providers_claim_page_is_forbidden(
    pathway_participant, staff, pilot, admin, other_provider
):
    draft(pathway_participant, "M1", staff, AT)
    northstar = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    assert browser(northstar).get(f"{SLUG}/claims/P-0001/M1/1/").status_code == 403
    assert browser(northstar).get(P1 + "milestones/").status_code == 403
