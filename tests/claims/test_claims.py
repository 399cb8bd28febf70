"""Participant milestone claims: draft, C8 readiness review, submission — and every
refusal, each leaving nothing written.

P-0001 (`pathway_participant`) is activated on Tuesday 3 March 2026 (Oregon), so
attempt 1 of M1 runs from 3 March to 17 April (45 days). AT is Tuesday 10 March.
"""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connections

from fundpilot.audit.models import AuditRecord
from fundpilot.claims.actions.claims import draft_claim, review_readiness, submit_claim
from fundpilot.claims.models import Claim, ClaimEvidence
from fundpilot.participants.actions import care
from fundpilot.participants.models import Participant
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import (
    assert_refused,
    draft,
    evidence_for,
    media,  # noqa: F401 (fixture)
    ready_claim,
    submitted_claim,
    upload,
)
from tests.conftest import make_person

AT = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # Tuesday 10 March, 10:00 in Oregon
TODAY = date(2026, 3, 10)
pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def northstar_supervisor(pilot: Pilot, admin: User, other_provider: Organisation) -> User:
    return make_person("ns-supervisor", other_provider, admin, Role.SUPERVISOR, pilot)


# --- draft -------------------------------------------------------------------------


def test_a_draft_links_the_qualifying_evidence_and_is_priced_by_the_milestone(
    pathway_participant, staff
):
    # given: the crisis plan and the medication reconciliation
    pieces = evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT)
    audit_before = AuditRecord.objects.count()
    # when
    claim = draft_claim(
        participant=pathway_participant,
        milestone="M1",
        reached_on=TODAY,
        by=staff[Role.FRONTLINE],
        at=AT,
    )
    # then
    assert (claim.reference, claim.status, claim.tier, claim.attempt) == (
        "P-0001/M1/1",
        Claim.DRAFT,
        "sampled",
        1,
    )
    assert (claim.amount, claim.variant, claim.reached_on) == (Decimal("900.00"), "", TODAY)
    assert claim.provider == pathway_participant.provider
    assert sorted(ClaimEvidence.objects.filter(claim=claim).values_list("evidence_id", "kind")) == [
        (e.pk, e.kind) for e in pieces
    ]
    record = AuditRecord.objects.order_by("-pk").first()
    assert AuditRecord.objects.count() == audit_before + 1
    assert (record.action, record.subject, record.actor) == (
        "claim.draft",
        "claim:P-0001/M1/1",
        "rs-frontline",
    )
    assert record.payload["evidence"] == [e.pk for e in pieces]
    assert record.payload["missing"] == ""


def test_a_draft_may_be_made_before_the_evidence_is_complete(pathway_participant, staff):
    # given: only the crisis plan
    upload(pathway_participant, "crisis_plan", staff[Role.FRONTLINE], AT)
    # when
    claim = draft(pathway_participant, "M1", staff, AT, with_evidence=False)
    # then: drafted; the audit record says what is missing
    assert claim.status == Claim.DRAFT
    assert AuditRecord.objects.order_by("-pk").first().payload["missing"] == "med_rec"


# --- draft refusals ----------------------------------------------------------------


def refuse_draft(
    code: str,
    participant: Participant,
    by: User,
    *,
    milestone: str = "M1",
    reached_on: date = TODAY,
    at: datetime = AT,
):
    """Drafting refused with `code`, and nothing written."""
    return assert_refused(
        code,
        draft_claim,
        participant=participant,
        milestone=milestone,
        reached_on=reached_on,
        by=by,
        at=at,
    )


def test_draft_refuses_another_organisations_participant(
    pathway_participant, pilot, admin, other_provider
):
    northstar = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    refuse_draft("other_organisation", pathway_participant, northstar)


def test_draft_refuses_someone_without_the_permission(pathway_participant, staff):
    refuse_draft("not_permitted", pathway_participant, staff[Role.ENROLLMENT_MANAGER])


def test_draft_refuses_an_unknown_milestone(pathway_participant, staff):
    refused = refuse_draft(
        "unknown_milestone", pathway_participant, staff[Role.FRONTLINE], milestone="M9"
    )
    assert "M1, M2, M3, M4, M5" in refused.message


def test_draft_refuses_a_participant_not_on_the_roster(eligible_participant, staff):
    # given: P-0001 is eligible but not activated
    refuse_draft("not_on_roster", eligible_participant, staff[Role.FRONTLINE])


def test_draft_refuses_a_disengaged_participant(pathway_participant, staff):
    # given
    care.record_disengagement(
        participant=pathway_participant, reason="no contact", by=staff[Role.FRONTLINE], at=AT
    )
    evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT)
    # then
    refuse_draft(
        "not_engaged", pathway_participant, staff[Role.FRONTLINE], at=AT + timedelta(minutes=1)
    )


def test_draft_refuses_before_the_pathway_is_released(activated_participant, staff):
    refuse_draft("pathway_not_released", activated_participant, staff[Role.FRONTLINE])


def test_draft_refuses_a_day_in_the_future(pathway_participant, staff):
    refuse_draft(
        "future_date",
        pathway_participant,
        staff[Role.FRONTLINE],
        reached_on=TODAY + timedelta(days=1),
    )


def test_draft_refuses_a_day_after_the_window(pathway_participant, staff):
    # given: 18 April is day 46 after activation on 3 March; M1's window is 45 days
    at = datetime(2026, 4, 20, 17, 0, tzinfo=UTC)
    evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], at)
    refused = refuse_draft(
        "outside_window",
        pathway_participant,
        staff[Role.FRONTLINE],
        reached_on=date(2026, 4, 18),
        at=at,
    )
    assert "from 2026-03-03 to 2026-04-17" in refused.message


def test_draft_refuses_a_day_before_activation(pathway_participant, staff):
    refuse_draft(
        "outside_window", pathway_participant, staff[Role.FRONTLINE], reached_on=date(2026, 3, 2)
    )


def test_draft_refuses_a_milestone_whose_prerequisite_is_not_reached(pathway_participant, staff):
    evidence_for(pathway_participant, "M2", staff[Role.FRONTLINE], AT)
    refused = refuse_draft(
        "prerequisite_not_reached", pathway_participant, staff[Role.FRONTLINE], milestone="M2"
    )
    assert "M1" in refused.message


def test_draft_refuses_a_milestone_reached_before_its_prerequisite(pathway_participant, staff):
    # given: M1 reached (payable) on 10 March
    submitted_claim(pathway_participant, "M1", staff, AT)
    # then: M2 claimed as reached on 9 March, before M1, is refused (late prerequisite)
    refuse_draft(
        "prerequisite_not_reached",
        pathway_participant,
        staff[Role.FRONTLINE],
        milestone="M2",
        reached_on=date(2026, 3, 9),
        at=AT + timedelta(hours=1),
    )


def test_draft_refuses_a_prerequisite_still_awaiting_verification(pathway_participant, staff):
    # given: M3 (independent tier) submitted, not yet verified
    submitted_claim(pathway_participant, "M3", staff, AT)
    # then: M5 needs M3 payable
    refuse_draft(
        "prerequisite_not_reached",
        pathway_participant,
        staff[Role.FRONTLINE],
        milestone="M5",
        at=AT + timedelta(hours=1),
    )


def test_draft_refuses_a_milestone_already_reached(pathway_participant, staff):
    submitted_claim(pathway_participant, "M1", staff, AT)
    evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT + timedelta(hours=1))
    refused = refuse_draft(
        "already_reached", pathway_participant, staff[Role.FRONTLINE], at=AT + timedelta(hours=1)
    )
    assert "P-0001/M1/1" in refused.message


def test_draft_refuses_a_second_open_claim_for_the_same_attempt(pathway_participant, staff):
    draft(pathway_participant, "M1", staff, AT)
    refuse_draft(
        "already_claimed", pathway_participant, staff[Role.FRONTLINE], at=AT + timedelta(hours=1)
    )


# --- C8 readiness review ---------------------------------------------------------------


def test_a_supervisor_confirms_readiness(pathway_participant, staff):
    # given
    claim = draft(pathway_participant, "M1", staff, AT)
    # when
    review = review_readiness(
        claim=claim,
        note="crisis plan signed",
        by=staff[Role.SUPERVISOR],
        at=AT + timedelta(hours=1),
    )
    # then
    claim.refresh_from_db()
    assert claim.status == Claim.READY
    assert (review.claim, review.note, review.decided_by) == (
        claim,
        "crisis plan signed",
        staff[Role.SUPERVISOR],
    )
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.actor, record.role) == (
        "claim.readiness",
        "rs-supervisor",
        "supervisor",
    )


def test_evidence_uploaded_after_the_draft_is_linked_at_readiness(pathway_participant, staff):
    # given: drafted with the crisis plan only, then the medication reconciliation
    frontline = staff[Role.FRONTLINE]
    upload(pathway_participant, "crisis_plan", frontline, AT)
    claim = draft(pathway_participant, "M1", staff, AT, with_evidence=False)
    med_rec = upload(pathway_participant, "med_rec", frontline, AT + timedelta(hours=1))
    # when
    review_readiness(claim=claim, by=staff[Role.SUPERVISOR], at=AT + timedelta(hours=2))
    # then
    assert ClaimEvidence.objects.filter(claim=claim, evidence=med_rec, kind="med_rec").exists()
    assert ClaimEvidence.objects.filter(claim=claim).count() == 2


def test_readiness_refuses_missing_evidence_naming_what_is_missing(pathway_participant, staff):
    # given: one of three contact logs for M2 and no crisis plan for M1
    frontline = staff[Role.FRONTLINE]
    submitted_claim(pathway_participant, "M1", staff, AT)
    upload(pathway_participant, "contact_log", frontline, AT)
    claim = draft(pathway_participant, "M2", staff, AT + timedelta(hours=1), with_evidence=False)
    # then
    refused = assert_refused(
        "missing_evidence",
        review_readiness,
        claim=claim,
        by=staff[Role.SUPERVISOR],
        at=AT + timedelta(hours=2),
    )
    assert refused.message == "P-0001/M2/1 still needs: 2 more contact_log"
    assert refused.field == "evidence"


def test_readiness_refuses_the_drafters_own_claim(pathway_participant, staff):
    # given: the supervisor drafted it
    evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT)
    claim = draft_claim(
        participant=pathway_participant,
        milestone="M1",
        reached_on=TODAY,
        by=staff[Role.SUPERVISOR],
        at=AT,
    )
    assert_refused("own_draft", review_readiness, claim=claim, by=staff[Role.SUPERVISOR], at=AT)


def test_readiness_refuses_a_supervisor_of_another_organisation(
    pathway_participant, staff, northstar_supervisor
):
    claim = draft(pathway_participant, "M1", staff, AT)
    assert_refused(
        "other_organisation", review_readiness, claim=claim, by=northstar_supervisor, at=AT
    )


def test_readiness_refuses_someone_who_is_not_a_supervisor(pathway_participant, staff):
    claim = draft(pathway_participant, "M1", staff, AT)
    assert_refused(
        "not_permitted", review_readiness, claim=claim, by=staff[Role.RECOVERY_LEAD], at=AT
    )


def test_readiness_refuses_a_claim_already_reviewed(pathway_participant, staff):
    claim = ready_claim(pathway_participant, "M1", staff, AT)
    assert_refused(
        "not_draft",
        review_readiness,
        claim=claim,
        by=staff[Role.SUPERVISOR],
        at=AT + timedelta(hours=1),
    )


# --- submission ----------------------------------------------------------------------


def test_a_sampled_tier_claim_is_payable_on_submission(pathway_participant, staff):
    # given
    claim = ready_claim(pathway_participant, "M1", staff, AT)
    # when
    submitted = submit_claim(claim=claim, by=staff[Role.FRONTLINE], at=AT + timedelta(hours=1))
    # then
    submitted.refresh_from_db()
    assert (submitted.status, submitted.payable_amount, submitted.verification_due) == (
        Claim.PAYABLE,
        Decimal("900.00"),
        None,
    )
    assert submitted.basis_key == "milestone:recovery-2026:P-0001:M1:1"
    assert submitted.payer_split == [
        {"payer": "wvch", "use": "recovery_milestones", "share": "100", "amount": "900.00"}
    ]
    assert submitted.payable_at == AT + timedelta(hours=1)
    assert submitted.submitted_by == staff[Role.FRONTLINE]
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.payload["status"], record.payload["basis_key"]) == (
        "claim.submit",
        "payable",
        "milestone:recovery-2026:P-0001:M1:1",
    )


def test_an_independent_tier_claim_awaits_verification_due_in_five_business_days(
    pathway_participant, staff
):
    # when: M3 submitted on Tuesday 10 March
    claim = submitted_claim(pathway_participant, "M3", staff, AT)
    # then: due Tuesday 17 March; nothing payable yet
    assert (claim.status, claim.verification_due) == (Claim.SUBMITTED, date(2026, 3, 17))
    assert (claim.payable_amount, claim.basis_key, claim.payer_split) == (None, None, [])
    assert claim.amount == Decimal("1200.00")


def test_submission_refuses_a_claim_without_readiness_review(pathway_participant, staff):
    claim = draft(pathway_participant, "M1", staff, AT)
    assert_refused(
        "not_ready", submit_claim, claim=claim, by=staff[Role.FRONTLINE], at=AT + timedelta(hours=1)
    )


def test_submission_refuses_a_claim_already_submitted(pathway_participant, staff):
    claim = submitted_claim(pathway_participant, "M1", staff, AT)
    assert_refused(
        "already_submitted",
        submit_claim,
        claim=claim,
        by=staff[Role.FRONTLINE],
        at=AT + timedelta(hours=1),
    )


def test_submission_refuses_another_organisation(
    pathway_participant, staff, admin, pilot, other_provider
):
    claim = ready_claim(pathway_participant, "M1", staff, AT)
    northstar = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    assert_refused("other_organisation", submit_claim, claim=claim, by=northstar, at=AT)


@pytest.mark.postgres
def test_concurrent_submissions_make_a_claim_payable_once(committed_db, pathway_participant, staff):
    # given: a ready M1 claim, submitted by two requests at once
    claim = ready_claim(pathway_participant, "M1", staff, AT)
    outcomes: list[str] = []

    def worker() -> None:
        try:
            submit_claim(claim=Claim.objects.get(pk=claim.pk), by=staff[Role.FRONTLINE], at=AT)
            outcomes.append("payable")
        except Refused as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    # when
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then: one payable claim, one refusal, one audit record of the submission
    assert sorted(outcomes) == ["already_submitted", "payable"]
    assert Claim.objects.filter(basis_key__isnull=False).count() == 1
    assert AuditRecord.objects.filter(action="claim.submit").count() == 1
