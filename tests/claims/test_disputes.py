"""C11 disputes: raised by the affected side, moved through the rulebook's stages,
resolved by someone else with an outcome that is a new decision, never an edit.

recovery-2026 (Oregon, 15 business days to resolve): P-0001's M3 ($1,200, independent)
is submitted on Tuesday 10 March 2026 and rejected on Thursday 12 March; a dispute
raised on Friday 13 March is due Friday 3 April. discharge-2026 (Minnesota, 20 days)
disputes its tranche decisions.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.claims.actions.disputes import (
    disputes_for,
    escalate_dispute,
    raise_dispute,
    resolve_dispute,
)
from fundpilot.claims.actions.sampling import audit_sampled_claim, draw_sample
from fundpilot.claims.actions.verification import verify_claim
from fundpilot.claims.models import (
    Claim,
    Dispute,
    Recoupment,
    SampleAudit,
    Verification,
)
from fundpilot.participants.actions import intake
from fundpilot.participants.models import Participant
from fundpilot.pilots import actions
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.claims.claim_fixtures import assert_refused, submitted_claim
from tests.claims.contract_fixtures import checklist, claim_tranche, released, verify
from tests.conftest import NOW, make_person, organisation

SUBMITTED = datetime(2026, 3, 10, 17, tzinfo=UTC)  # Tuesday 10 March, 10:00 in Oregon
DECIDED = datetime(2026, 3, 12, 18, tzinfo=UTC)  # Thursday 12 March
RAISED = datetime(2026, 3, 13, 17, tzinfo=UTC)  # Friday 13 March
ESCALATED = RAISED + timedelta(days=3)  # Monday 16 March
RESOLVED = datetime(2026, 3, 20, 17, tzinfo=UTC)  # Friday 20 March
LATE = datetime(2026, 4, 6, 17, tzinfo=UTC)  # Monday 6 April: one business day late
M3_MET = [{"kind": "care_plan", "met": True}, {"kind": "pcp_visit", "met": True}]
M3_UNMET = [{"kind": "care_plan", "met": True}, {"kind": "pcp_visit", "met": False}]
RESOLUTION = {"resolution": "the visit record was on file", "learning": "check the EHR export"}


@pytest.fixture
def rejection(pathway_participant, staff, verifier) -> Verification:
    """P-0001's M3, rejected by the independent verifier (VR-MISSING)."""
    claim = submitted_claim(pathway_participant, "M3", staff, SUBMITTED)
    return verify_claim(
        claim=claim,
        outcome="rejected",
        checklist=M3_UNMET,
        reason_codes=["VR-MISSING"],
        by=verifier,
        at=DECIDED,
    )


@pytest.fixture
def dispute(rejection, staff) -> Dispute:
    """The frontline lead disputes the rejection on Friday 13 March."""
    return raise_dispute(
        subject=rejection,
        grounds="the PCP visit is in the log",
        by=staff[Role.FRONTLINE],
        at=RAISED,
    )


@pytest.fixture
def second_verifier(contract_pilot, contract_staff, admin):
    """Another verifier of the discharge verification body ("dc-verifier-2")."""
    body = contract_staff[Role.VERIFIER].organisation
    return make_person("dc-verifier-2", body, admin, Role.VERIFIER, contract_pilot)


@pytest.fixture
def payer_rep(contract_pilot, admin):
    org = organisation("northstar-plan", OrgKind.PAYER, admin)
    actions.add_party(
        pilot=contract_pilot, organisation=org, payer_id="northstar", by=admin, at=NOW
    )
    return make_person("ns-payer", org, admin, Role.PAYER_REP, contract_pilot)


def overturn_to_verified(dispute, by, at=RESOLVED, **kwargs):
    return resolve_dispute(
        dispute=dispute,
        outcome="overturned",
        verification_outcome="verified",
        checklist=M3_MET,
        note="visit confirmed",
        by=by,
        at=at,
        **(RESOLUTION | kwargs),
    )


# --- verifications --------------------------------------------------------------------


def test_overturning_a_rejection_makes_the_claim_payable(dispute, rejection, staff):
    # given: raised at D1, due 3 April; the supervisor takes it to D2
    assert (dispute.reference, dispute.stage, dispute.due) == ("D-0001", "D1", date(2026, 4, 3))
    escalate_dispute(
        dispute=dispute, note="no answer from the verifier", by=staff[Role.SUPERVISOR], at=ESCALATED
    )
    audit = AuditRecord.objects.count()
    # when: compliance overturns the rejection at D2
    resolved = overturn_to_verified(dispute, staff[Role.COMPLIANCE])
    # then: a new verification supersedes the rejection and the claim is payable
    new = Verification.objects.get(supersedes=rejection)
    claim = Claim.objects.get(pk=rejection.claim_id)
    assert (new.outcome, new.amount, new.checklist[1]["met"]) == (
        "verified",
        Decimal("1200.00"),
        True,
    )
    assert (new.due, new.late_days) == (date(2026, 4, 3), 0)
    assert (claim.status, claim.payable_amount) == ("payable", Decimal("1200.00"))
    assert claim.basis_key == "milestone:recovery-2026:P-0001:M3:1"
    rejection.refresh_from_db()
    assert rejection.outcome == "rejected"  # the old decision is kept, not edited
    assert (resolved.status, resolved.outcome, resolved.stage) == ("resolved", "overturned", "D2")
    assert resolved.new_decision == f"verification:{new.pk}"
    assert (resolved.late_days, resolved.learning) == (0, "check the EHR export")
    steps = resolved.steps.values_list("action", "stage", "by__username")
    assert list(steps) == [
        ("raised", "D1", "rs-frontline"),
        ("escalated", "D2", "rs-supervisor"),
        ("resolved", "D2", "po-compliance"),
    ]
    assert AuditRecord.objects.count() == audit + 1


def test_a_late_resolution_records_how_late_it_was(dispute, staff):
    # when: upheld on Monday 6 April, due Friday 3 April
    resolved = resolve_dispute(
        dispute=dispute, outcome="upheld", by=staff[Role.COMPLIANCE], at=LATE, **RESOLUTION
    )
    # then: the rejection stands
    assert (resolved.outcome, resolved.new_decision, resolved.late_days) == ("upheld", "", 1)
    assert Claim.objects.get(pk=dispute.verification.claim_id).status == "rejected"
    assert not Verification.objects.filter(supersedes=dispute.verification).exists()


def test_overturning_a_rejected_tranche_releases_it(
    contract_pilot, contract_staff, second_verifier
):
    # given: T1 rejected; compliance (the claimant's office) disputes it
    claim = claim_tranche(contract_pilot, "C1", contract_staff, NOW)
    rejected = verify(claim, contract_staff, NOW + timedelta(days=1), "rejected")
    raised = raise_dispute(
        subject=rejected,
        grounds="the escalation rules were attached",
        by=contract_staff[Role.COMPLIANCE],
        at=NOW + timedelta(days=2),
    )
    # when: another verifier overturns it
    resolve_dispute(
        dispute=raised,
        outcome="overturned",
        verification_outcome="verified",
        checklist=checklist(claim),
        by=second_verifier,
        at=NOW + timedelta(days=3),
        **RESOLUTION,
    )
    # then: the tranche is released
    claim.refresh_from_db()
    assert (claim.status, claim.payable_amount) == ("payable", Decimal("250000.00"))
    assert raised.due == date(2026, 4, 1)  # 20 Minnesota business days after 4 March


def test_overturning_a_payment_recoups_it(
    contract_pilot, contract_staff, second_verifier, payer_rep
):
    # given: T1 released; the payer disputes the verification
    claim = released(contract_pilot, "C1", contract_staff, NOW)
    verified = claim.verifications.get()
    raised = raise_dispute(
        subject=verified,
        grounds="governance leads were not named",
        by=payer_rep,
        at=NOW + timedelta(days=2),
    )
    # when: another verifier overturns it into a rejection
    resolve_dispute(
        dispute=raised,
        outcome="overturned",
        verification_outcome="rejected",
        reason_codes=["VR-PAPER"],
        checklist=checklist(claim, unmet=("governance",)),
        by=second_verifier,
        at=NOW + timedelta(days=3),
        **RESOLUTION,
    )
    # then: the claim is rejected and the whole payment is to be recouped
    claim.refresh_from_db()
    recoupment = Recoupment.objects.get(claim=claim)
    assert claim.status == "rejected"
    assert (recoupment.amount, recoupment.reason) == (Decimal("250000.00"), "dispute")
    assert recoupment.basis_key == f"recoup:dispute:{raised.pk}"
    assert recoupment.provider_id == claim.provider_id


# --- sample audits --------------------------------------------------------------------


DRAWN = datetime(2026, 4, 1, 17, tzinfo=UTC)


@pytest.fixture
def failed_audit(pathway_participant, staff, verifier) -> SampleAudit:
    """P-0001's M1 ($900, sampled tier) paid in March, drawn on 1 April and found to
    support nothing (VR-UNSIGNED): $900 to recoup."""
    submitted_claim(pathway_participant, "M1", staff, SUBMITTED)
    sample = draw_sample(
        pilot=pathway_participant.pilot, period="2026-03", seed=7, by=verifier, at=DRAWN
    )
    item = sample.items.get()
    return audit_sampled_claim(
        item=item,
        supported_amount=Decimal("0.00"),
        finding_codes=["VR-UNSIGNED"],
        by=verifier,
        at=DRAWN + timedelta(days=1),
    )


def test_a_varied_sample_audit_adjusts_the_recoupment(failed_audit, staff):
    # given: $900 recouped by the audit; the supervisor disputes the finding
    claim = failed_audit.item.claim
    assert Recoupment.objects.get(claim=claim).amount == Decimal("900.00")
    raised = raise_dispute(
        subject=failed_audit,
        grounds="the plan was signed on paper",
        by=staff[Role.SUPERVISOR],
        at=DRAWN + timedelta(days=2),
    )
    # when: compliance finds $600 of it supported
    resolved = resolve_dispute(
        dispute=raised,
        outcome="varied",
        supported_amount=Decimal("600.00"),
        finding_codes=["VR-UNSIGNED"],
        note="signature on the paper copy",
        by=staff[Role.COMPLIANCE],
        at=DRAWN + timedelta(days=3),
        **RESOLUTION,
    )
    # then: a new audit supersedes the first; $600 comes back to the provider
    new = SampleAudit.objects.get(supersedes=failed_audit)
    assert (new.paid_amount, new.supported_amount) == (Decimal("900.00"), Decimal("600.00"))
    assert resolved.new_decision == f"sample_audit:{new.pk}"
    amounts = list(
        Recoupment.objects.filter(claim=claim).order_by("pk").values_list("amount", "reason")
    )
    assert amounts == [(Decimal("900.00"), "sample_audit"), (Decimal("-600.00"), "dispute")]


def test_a_new_audit_is_checked_like_an_audit(failed_audit, staff):
    raised = raise_dispute(
        subject=failed_audit,
        grounds="signed",
        by=staff[Role.SUPERVISOR],
        at=DRAWN + timedelta(days=2),
    )
    at = DRAWN + timedelta(days=3)
    common = {"dispute": raised, "outcome": "varied", "by": staff[Role.COMPLIANCE], "at": at}
    assert_refused("bad_amount", resolve_dispute, supported_amount="901.00", **common, **RESOLUTION)
    assert_refused(
        "finding_required", resolve_dispute, supported_amount="600", **common, **RESOLUTION
    )


# --- activations ----------------------------------------------------------------------


def test_an_overturned_activation_goes_back_to_the_approver(eligible_participant, staff):
    # given: the activation approver rejected P-0001
    approver = staff[Role.ACTIVATION_APPROVER]
    day = NOW + timedelta(days=1)
    rejected = intake.decide_activation(
        participant=eligible_participant,
        outcome="rejected",
        decision_code="R1",
        reason_code="R-SCORE",
        review_date=day.date(),
        control_status="passed",
        by=approver,
        at=day,
    )
    raised = raise_dispute(
        subject=rejected, grounds="62.50 is in range", by=staff[Role.ENROLLMENT_MANAGER], at=day
    )
    # when: compliance overturns it
    resolved = resolve_dispute(
        dispute=raised, outcome="overturned", by=staff[Role.COMPLIANCE], at=day, **RESOLUTION
    )
    # then: P-0001 awaits a new decision, which the approver then takes
    participant = Participant.objects.get(pk=eligible_participant.pk)
    assert participant.status == "eligible"
    assert resolved.new_decision == "activation:P-0001:awaiting-decision"
    intake.decide_activation(
        participant=participant,
        outcome="activated",
        decision_code="A1",
        review_date=day.date(),
        control_status="passed",
        by=approver,
        at=day + timedelta(hours=1),
    )
    assert Participant.objects.get(pk=participant.pk).status == "activated"


# --- reading --------------------------------------------------------------------------


def test_open_disputes_come_first_and_each_side_sees_its_own(dispute, staff, admin, other_provider):
    # given: a resolved dispute on the M3 rejection, and an open one on an activation
    resolve_dispute(
        dispute=dispute, outcome="upheld", by=staff[Role.COMPLIANCE], at=RESOLVED, **RESOLUTION
    )
    activation = Participant.objects.get(participant_id="P-0001").activations.get()
    open_one = raise_dispute(
        subject=activation, grounds="why", by=staff[Role.ENROLLMENT_MANAGER], at=RESOLVED
    )
    # then
    assert list(disputes_for(staff[Role.COMPLIANCE], dispute.pilot)) == [open_one, dispute]
    assert list(disputes_for(staff[Role.FRONTLINE], dispute.pilot)) == [open_one, dispute]
    stranger = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, dispute.pilot)
    assert list(disputes_for(stranger, dispute.pilot)) == []


# --- refusals (each: nothing written) ------------------------------------------------


def test_another_organisation_may_not_raise(rejection, staff, admin, other_provider):
    stranger = make_person(
        "ns-frontline", other_provider, admin, Role.FRONTLINE, rejection.claim.pilot
    )
    refusal = assert_refused(
        "other_organisation", raise_dispute, subject=rejection, grounds="x", by=stranger, at=RAISED
    )
    assert isinstance(refusal, NotPermitted)


def test_finance_may_not_raise(rejection, staff):
    assert_refused(
        "not_permitted",
        raise_dispute,
        subject=rejection,
        grounds="x",
        by=staff[Role.FINANCE],
        at=RAISED,
    )


def test_grounds_are_required(rejection, staff):
    assert_refused(
        "grounds_required",
        raise_dispute,
        subject=rejection,
        grounds="  ",
        by=staff[Role.FRONTLINE],
        at=RAISED,
    )


def test_a_decision_is_disputed_once(dispute, rejection, staff):
    assert_refused(
        "already_disputed",
        raise_dispute,
        subject=rejection,
        grounds="again",
        by=staff[Role.SUPERVISOR],
        at=RAISED,
    )


def test_a_replaced_decision_is_not_disputed(dispute, rejection, staff):
    overturn_to_verified(dispute, staff[Role.COMPLIANCE])
    assert_refused(
        "superseded",
        raise_dispute,
        subject=rejection,
        grounds="again",
        by=staff[Role.SUPERVISOR],
        at=RESOLVED,
    )


def test_escalation_needs_a_reason(dispute, staff):
    assert_refused(
        "note_required",
        escalate_dispute,
        dispute=dispute,
        note="",
        by=staff[Role.FRONTLINE],
        at=ESCALATED,
    )


def test_there_is_no_stage_after_the_last(dispute, staff):
    for n in (1, 2):
        escalate_dispute(
            dispute=dispute, note="up", by=staff[Role.FRONTLINE], at=ESCALATED + timedelta(hours=n)
        )
    assert_refused(
        "last_stage",
        escalate_dispute,
        dispute=dispute,
        note="up",
        by=staff[Role.FRONTLINE],
        at=RESOLVED,
    )


def test_a_resolved_dispute_is_not_escalated_or_resolved_again(dispute, staff):
    resolve_dispute(
        dispute=dispute, outcome="upheld", by=staff[Role.COMPLIANCE], at=RESOLVED, **RESOLUTION
    )
    assert_refused(
        "already_resolved",
        escalate_dispute,
        dispute=dispute,
        note="up",
        by=staff[Role.FRONTLINE],
        at=LATE,
    )
    assert_refused(
        "already_resolved",
        resolve_dispute,
        dispute=dispute,
        outcome="upheld",
        by=staff[Role.COMPLIANCE],
        at=LATE,
        **RESOLUTION,
    )


def test_the_raiser_does_not_resolve(contract_pilot, contract_staff):
    claim = claim_tranche(contract_pilot, "C1", contract_staff, NOW)
    rejected = verify(claim, contract_staff, NOW + timedelta(days=1), "rejected")
    compliance = contract_staff[Role.COMPLIANCE]
    raised = raise_dispute(
        subject=rejected, grounds="attached", by=compliance, at=NOW + timedelta(days=2)
    )
    assert_refused(
        "own_dispute",
        resolve_dispute,
        dispute=raised,
        outcome="upheld",
        by=compliance,
        at=NOW + timedelta(days=3),
        **RESOLUTION,
    )


def test_whoever_decided_does_not_resolve(dispute, verifier):
    assert_refused(
        "own_decision",
        resolve_dispute,
        dispute=dispute,
        outcome="upheld",
        by=verifier,
        at=RESOLVED,
        **RESOLUTION,
    )


def test_the_claimants_own_office_does_not_resolve(contract_pilot, contract_staff):
    # given: the executive sponsor disputes a rejected tranche claimed by the office
    claim = claim_tranche(contract_pilot, "C1", contract_staff, NOW)
    rejected = verify(claim, contract_staff, NOW + timedelta(days=1), "rejected")
    raised = raise_dispute(
        subject=rejected,
        grounds="attached",
        by=contract_staff[Role.EXECUTIVE_SPONSOR],
        at=NOW + timedelta(days=2),
    )
    # then: compliance, of the same office, is not independent of it
    assert_refused(
        "not_independent",
        resolve_dispute,
        dispute=raised,
        outcome="upheld",
        by=contract_staff[Role.COMPLIANCE],
        at=NOW + timedelta(days=3),
        **RESOLUTION,
    )


@pytest.mark.parametrize(
    ("code", "fields"),
    [
        ("unknown_outcome", {"outcome": "reversed"}),
        ("resolution_required", {"resolution": " "}),
        ("learning_required", {"learning": ""}),
        ("unexpected_fields", {"outcome": "upheld", "verification_outcome": "verified"}),
        ("unexpected_fields", {"supported_amount": "1.00"}),
        ("unknown_outcome", {"verification_outcome": "approved"}),
        ("checklist_incomplete", {"checklist": M3_MET[:1]}),
        ("unmet_items", {"checklist": M3_UNMET}),
        ("reason_required", {"verification_outcome": "rejected", "checklist": M3_UNMET}),
        ("unknown_reason", {"verification_outcome": "rejected", "reason_codes": ["VR-NOPE"]}),
        ("partial_not_allowed", {"verification_outcome": "partially_verified"}),
    ],
)
def test_a_resolution_is_checked_before_anything_is_written(dispute, staff, code, fields):
    kwargs = {"outcome": "overturned", "verification_outcome": "verified", "checklist": M3_MET}
    kwargs |= RESOLUTION | fields
    assert_refused(
        code, resolve_dispute, dispute=dispute, by=staff[Role.COMPLIANCE], at=RESOLVED, **kwargs
    )


def test_a_rejection_already_resubmitted_is_not_overturned(
    contract_pilot, contract_staff, second_verifier
):
    # given: T1/1 rejected and disputed, while T1/2 cures it
    claim = claim_tranche(contract_pilot, "C1", contract_staff, NOW)
    rejected = verify(claim, contract_staff, NOW + timedelta(days=1), "rejected")
    raised = raise_dispute(
        subject=rejected,
        grounds="attached",
        by=contract_staff[Role.COMPLIANCE],
        at=NOW + timedelta(days=2),
    )
    claim_tranche(contract_pilot, "C1", contract_staff, NOW + timedelta(days=2), submit=False)
    # then
    assert_refused(
        "resubmitted",
        resolve_dispute,
        dispute=raised,
        outcome="overturned",
        verification_outcome="verified",
        checklist=checklist(claim),
        by=second_verifier,
        at=NOW + timedelta(days=3),
        **RESOLUTION,
    )
