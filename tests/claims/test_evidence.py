"""C7 evidence upload: stored under its SHA-256 with kind, date and uploader; the type is
read from the content; size, emptiness, type and kind are refused; reused content is
flagged on both participants."""

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.files.storage import default_storage

from fundpilot.audit.models import AuditRecord
from fundpilot.claims import evidence as files
from fundpilot.claims.actions.evidence import upload_evidence
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import (
    assert_refused,
    csv_bytes,
    jpeg_bytes,
    media,  # noqa: F401 (fixture)
    pathway_participant_like,
    pdf_bytes,
    png_bytes,
    upload,
)
from tests.conftest import make_person

AT = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
TODAY = date(2026, 3, 10)
pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def second_participant(pilot, staff, register):
    """P-0002 of riverside (member WV-0002), in P-0001's state."""
    return pathway_participant_like(pilot, staff, "P-0002", "WV-0002")


def stored_names() -> list[str]:
    root = "evidence/recovery-2026"
    if not default_storage.exists(root):
        return []
    found = []
    for folder in default_storage.listdir(root)[0]:
        found += [f"{root}/{folder}/{n}" for n in default_storage.listdir(f"{root}/{folder}")[1]]
    return sorted(found)


def refuse_upload(code: str, participant, by, **overrides):
    """An upload refused with `code` writes no row, no audit record and no file."""
    files_before = stored_names()
    kwargs = {
        "pilot": participant.pilot if participant else overrides.pop("pilot"),
        "participant": participant,
        "kind": "crisis_plan",
        "filename": "plan.pdf",
        "content": pdf_bytes(),
        "document_date": TODAY,
        "by": by,
        "at": AT,
    } | overrides
    refused = assert_refused(code, upload_evidence, **kwargs)
    assert stored_names() == files_before
    return refused


# --- what a file is ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (pdf_bytes("x"), "application/pdf"),
        (png_bytes("x"), "image/png"),
        (jpeg_bytes("x"), "image/jpeg"),
        (b"date,contact\n2026-03-04,face_to_face\n2026-03-05,home_visit\n", "text/csv"),
        ("\ufeffdate;note\n".encode() + b"plain words, no columns\n", "text/plain"),
        (b"Signed crisis plan reviewed with the participant.\n", "text/plain"),
        ("Café notes, résumé".encode(), "text/csv"),  # one row of two fields
        ("Café".encode("latin-1"), "application/octet-stream"),
        (b"\x00\x01\x02binary", "application/octet-stream"),
        (b"GIF89a\x01\x00", "application/octet-stream"),  # a GIF is none we accept
    ],
)
def test_the_media_type_is_read_from_the_content(content, media_type):
    assert files.media_type_of(content) == media_type


def test_a_filename_is_kept_without_folders():
    assert files.clean_filename("C:\\scans\\..\\plan.pdf") == "plan.pdf"
    assert files.clean_filename("../../etc/passwd") == "passwd"
    assert files.clean_filename("  ") == "evidence"


# --- upload ------------------------------------------------------------------------


def test_evidence_is_stored_under_its_hash_with_kind_date_and_uploader(pathway_participant, staff):
    # given
    content = pdf_bytes("crisis plan of P-0001")
    sha = hashlib.sha256(content).hexdigest()
    audit_before = AuditRecord.objects.count()
    # when
    evidence = upload_evidence(
        pilot=pathway_participant.pilot,
        participant=pathway_participant,
        kind="crisis_plan",
        filename="scans/crisis plan.pdf",
        content=content,
        document_date=date(2026, 3, 9),
        note=" signed ",
        by=staff[Role.FRONTLINE],
        at=AT,
    )
    # then
    evidence.refresh_from_db()
    assert (evidence.kind, evidence.document_date, evidence.filename) == (
        "crisis_plan",
        date(2026, 3, 9),
        "crisis plan.pdf",
    )
    assert (evidence.media_type, evidence.size, evidence.sha256, evidence.reused) == (
        "application/pdf",
        len(content),
        sha,
        False,
    )
    assert (evidence.uploaded_by, evidence.uploaded_at, evidence.note) == (
        staff[Role.FRONTLINE],
        AT,
        "signed",
    )
    assert evidence.organisation == pathway_participant.provider
    assert evidence.file.name == f"evidence/recovery-2026/{sha[:2]}/{sha}"
    with files.open_file(evidence.file.name) as stored:
        assert stored.read() == content
    assert AuditRecord.objects.count() == audit_before + 1
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject, record.actor) == (
        "evidence.upload",
        f"evidence:{evidence.pk}",
        "rs-frontline",
    )
    assert record.payload["sha256"] == sha
    assert record.payload["reused_with"] == []


def test_a_csv_contact_log_is_accepted_where_the_kind_allows_csv(pathway_participant, staff):
    evidence = upload(
        pathway_participant, "contact_log", staff[Role.FRONTLINE], AT, content=csv_bytes()
    )
    assert evidence.media_type == "text/csv"


def test_the_same_content_on_another_participant_is_flagged_on_both(
    pathway_participant, second_participant, staff
):
    # given: a crisis plan of P-0001
    content = pdf_bytes("one crisis plan")
    first = upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT, content=content)
    # when: the same file is uploaded for P-0002
    second = upload(
        second_participant,
        "crisis_plan",
        staff[Role.FRONTLINE],
        AT + timedelta(hours=1),
        content=content,
    )
    # then: both are flagged, the file is stored once
    first.refresh_from_db()
    assert (first.reused, second.reused) == (True, True)
    assert first.file.name == second.file.name
    assert len(stored_names()) == 1
    record = AuditRecord.objects.order_by("-pk").first()
    assert record.payload["reused_with"] == ["P-0001"]


def test_the_same_content_as_another_kind_of_the_same_participant_is_not_reuse(
    pathway_participant, staff
):
    content = pdf_bytes("plan and reconciliation in one")
    upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT, content=content)
    both = upload(pathway_participant, "med_rec", staff[Role.FRONTLINE], AT, content=content)
    assert both.reused is False


def test_contract_evidence_is_uploaded_by_the_pilot_office(contract_pilot, contract_staff):
    evidence = upload(None, "protocol", contract_staff[Role.COMPLIANCE], AT, pilot=contract_pilot)
    assert (evidence.participant, evidence.organisation) == (
        None,
        contract_staff[Role.COMPLIANCE].organisation,
    )
    assert evidence.file.name.startswith("evidence/discharge-2026/")


# --- refusals ----------------------------------------------------------------------


def test_upload_refuses_a_file_over_the_size_limit(pathway_participant, staff, settings):
    settings.FUNDPILOT_EVIDENCE_MAX_BYTES = 100
    refused = refuse_upload(
        "too_large",
        pathway_participant,
        staff[Role.FRONTLINE],
        content=pdf_bytes("x" * 200),
    )
    assert "at most 100 bytes" in refused.message


def test_upload_accepts_a_file_at_the_size_limit(pathway_participant, staff, settings):
    content = pdf_bytes("exactly")
    settings.FUNDPILOT_EVIDENCE_MAX_BYTES = len(content)
    assert upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT, content=content)


def test_upload_refuses_an_empty_file(pathway_participant, staff):
    refuse_upload("empty", pathway_participant, staff[Role.FRONTLINE], content=b"")


def test_upload_refuses_a_type_the_kind_does_not_allow(pathway_participant, staff):
    # given: contact logs may be CSV or PDF, not a PNG scan
    refused = refuse_upload(
        "type_not_allowed",
        pathway_participant,
        staff[Role.FRONTLINE],
        kind="contact_log",
        filename="log.png",
        content=png_bytes(),
    )
    assert refused.message == "contact_log evidence must be CSV, PDF; this file's content is PNG"


def test_upload_refuses_text_named_as_a_pdf(pathway_participant, staff):
    refuse_upload(
        "type_not_allowed",
        pathway_participant,
        staff[Role.FRONTLINE],
        filename="plan.pdf",
        content=b"not really a pdf\n",
    )


def test_upload_refuses_an_unknown_kind(pathway_participant, staff):
    refuse_upload("unknown_kind", pathway_participant, staff[Role.FRONTLINE], kind="selfie")


def test_upload_refuses_a_document_dated_in_the_future(pathway_participant, staff):
    refuse_upload(
        "future_date",
        pathway_participant,
        staff[Role.FRONTLINE],
        document_date=TODAY + timedelta(days=1),
    )


def test_upload_refuses_the_same_file_twice_as_the_same_kind(pathway_participant, staff):
    content = pdf_bytes("once")
    upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT, content=content)
    refuse_upload("already_uploaded", pathway_participant, staff[Role.FRONTLINE], content=content)


def test_upload_refuses_a_participant_not_on_the_roster(eligible_participant, staff):
    refuse_upload("not_on_roster", eligible_participant, staff[Role.FRONTLINE])


def test_upload_refuses_another_organisations_participant(
    pathway_participant, pilot, admin, other_provider
):
    northstar = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    refuse_upload("other_organisation", pathway_participant, northstar)


def test_upload_refuses_a_role_without_the_permission(pathway_participant, verifier):
    refuse_upload("not_permitted", pathway_participant, verifier)


def test_contract_evidence_refuses_provider_staff(contract_pilot, contract_staff, staff):
    refuse_upload(
        "not_permitted", None, staff[Role.FRONTLINE], pilot=contract_pilot, kind="protocol"
    )
