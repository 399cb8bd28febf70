"""C9 independent verification (`verify_claim`): participant claims and contract
claims (C10 tranches), each refusal with nothing written.

recovery-2026 counts Oregon business days (no holiday in March 2026). P-0001's M3
(independent, $1,200) is submitted on Tuesday 10 March 2026, so its verification is
due Tuesday 17 March (5 business days). discharge-2026 (Minnesota) verifies contract
claims within 10 business days.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.claims.actions.contract import draft_contract_claim, submit_contract_claim
from fundpilot.claims.actions.verification import checklist_for, verify_claim
from fundpilot.claims.models import Claim, Verification
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import (
    STEP,
    assert_refused,
    claims_snapshot,
    draft,
    submitted_claim,
    upload,
)
from tests.conftest import amend, example, second_admin

SUBMITTED = datetime(2026, 3, 10, 17, tzinfo=UTC)  # Tuesday 10 March, 10:00 in Oregon
ON_TIME = datetime(2026, 3, 12, 18, tzinfo=UTC)  # Thursday 12 March
LATE = datetime(2026, 3, 19, 18, tzinfo=UTC)  # Thursday 19 March: 2 business days late
M3_MET = [
    {"kind": "care_plan", "met": True, "note": "signed by both"},
    {"kind": "pcp_visit", "met": True, "note": "attended 9 March"},
]
C1_MET = [{"kind": "protocol", "met": True}, {"kind": "governance", "met": True}]


@pytest.fixture
def m3(pathway_participant, staff) -> Claim:
    """P-0001's M3 claim, submitted (its M1 and M2 are payable, sampled tier)."""
    return submitted_claim(pathway_participant, "M3", staff, SUBMITTED)


def verify(claim: Claim, by: User, **kwargs) -> Verification:
    kwargs.setdefault("outcome", "verified")
    kwargs.setdefault("checklist", M3_MET)
    kwargs.setdefault("at", ON_TIME)
    return verify_claim(claim=claim, by=by, **kwargs)


def contract_claim(pilot: Pilot, people: dict[Role, User], at: datetime) -> Claim:
    """discharge-2026's C1 claim (tranche T1), with its evidence, drafted and submitted
    by compliance."""
    office = people[Role.COMPLIANCE]
    for kind in ("protocol", "governance"):
        upload(None, kind, office, at, pilot=pilot)
    claim = draft_contract_claim(
        pilot=pilot,
        milestone="C1",
        reached_on=pilot.calendar.local_date(at),
        by=office,
        at=at + STEP,
    )
    return submit_contract_claim(claim=claim, by=office, at=at + 2 * STEP)


def make_t1_proportional(pilot: Pilot, admin: User, at: datetime) -> None:
    """Amend discharge-2026 so T1 releases in proportion to criteria met (two of three
    at least), through the real rulebook amendment."""
    document = example("discharge-pathway").replace(
        'partial_release = "all_or_nothing"',
        'partial_release = "proportional"\nminimum_criteria_met = 2',
        1,
    )
    amend(pilot, document, "partial T1", by=admin, approver=second_admin(admin), at=at)


# --- participant claims ---------------------------------------------------------------


def test_a_verified_claim_becomes_payable(m3, verifier):
    # given P-0001's submitted M3, due Tuesday 17 March
    assert (m3.status, m3.verification_due) == ("submitted", date(2026, 3, 17))
    # when the independent verifier finds every requirement met on Thursday 12 March
    decision = verify(m3, verifier, note="plan and visit check out")
    # then the claim is payable for its price, split to the payer, with its basis key
    claim = Claim.objects.get(pk=m3.pk)
    assert (claim.status, claim.payable_amount, claim.payable_at) == (
        "payable",
        Decimal("1200.00"),
        ON_TIME,
    )
    assert claim.basis_key == "milestone:recovery-2026:P-0001:M3:1"
    assert claim.payer_split == [
        {"payer": "wvch", "use": "recovery_milestones", "share": "100", "amount": "1200.00"}
    ]
    # and the decision records the checklist, its due date and that it was on time
    assert (decision.outcome, decision.amount, decision.due, decision.late_days) == (
        "verified",
        Decimal("1200.00"),
        date(2026, 3, 17),
        0,
    )
    assert decision.checklist == [
        {"kind": "care_plan", "met": True, "note": "signed by both"},
        {"kind": "pcp_visit", "met": True, "note": "attended 9 March"},
    ]
    assert (decision.organisation.code, decision.rulebook_version) == ("clearview-verify", 1)
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject, record.actor, record.role) == (
        "claim.verify",
        "claim:P-0001/M3/1",
        "cv-verifier",
        "verifier",
    )
    assert record.payload["amount"] == "1200.00"
    assert record.payload["due"] == "2026-03-17"


def test_a_late_decision_records_how_many_business_days_late(m3, verifier):
    # given M3 due Tuesday 17 March
    # when it is verified on Thursday 19 March
    decision = verify(m3, verifier, at=LATE)
    # then it was two business days late
    assert (decision.due, decision.late_days) == (date(2026, 3, 17), 2)


def test_a_rejection_carries_its_reasons_and_pays_nothing(m3, verifier):
    # given the submitted M3
    # when the verifier finds the visit was only booked and rejects it, listing the
    # reasons in the order given (a repeated code once)
    decision = verify(
        m3,
        verifier,
        outcome="rejected",
        checklist=[
            {"kind": "pcp_visit", "met": False, "note": "booked, not attended"},
            {"kind": "care_plan", "met": True},
        ],
        reason_codes=["VR-DEFINITION", "VR-MISSING", "VR-DEFINITION"],
    )
    # then the claim is rejected, nothing is payable, the checklist is in rulebook order
    claim = Claim.objects.get(pk=m3.pk)
    assert (claim.status, claim.payable_amount, claim.basis_key, claim.cure_until) == (
        "rejected",
        None,
        None,
        None,
    )
    assert decision.reason_codes == ["VR-DEFINITION", "VR-MISSING"]
    assert decision.amount == Decimal("0.00")
    assert decision.checklist == [
        {"kind": "care_plan", "met": True, "note": ""},
        {"kind": "pcp_visit", "met": False, "note": "booked, not attended"},
    ]


def test_the_checklist_is_one_item_per_evidence_requirement(m3, pilot):
    # when the checklist of M3 is asked for
    items = checklist_for(m3, pilot.rulebook)
    # then it lists each evidence requirement with its label and minimum
    assert [(i.kind, i.label, i.minimum) for i in items] == [
        ("care_plan", "Person-centred care plan signed by the participant and the lead", 1),
        ("pcp_visit", "Verified attended primary-care appointment", 1),
    ]


# --- refusals ---------------------------------------------------------------------------


def test_a_verifier_from_the_delivering_organisation_is_refused(m3, verifier, provider):
    # given the verifier has since joined riverside, the provider that delivered M3
    # (a person keeps their roles when they move; only the organisation changes)
    User.objects.filter(pk=verifier.pk).update(organisation=provider)
    moved = User.objects.get(pk=verifier.pk)
    # when they verify M3, then they are refused and nothing is written
    assert_refused("not_independent", verify, claim=m3, by=moved)


def test_only_a_verifier_may_verify(m3, staff):
    # given the submitted M3
    before = claims_snapshot()
    # when riverside's supervisor tries to verify it
    with pytest.raises(NotPermitted):
        verify(m3, staff[Role.SUPERVISOR])
    # then nothing is written
    assert claims_snapshot() == before


def test_a_claim_not_yet_submitted_is_refused(pathway_participant, staff, verifier):
    # given an M1 draft (not submitted)
    claim = draft(pathway_participant, "M1", staff, SUBMITTED)
    # when the verifier tries to decide it, then it is refused
    assert_refused(
        "not_submitted",
        verify,
        claim=claim,
        by=verifier,
        checklist=[{"kind": "crisis_plan", "met": True}, {"kind": "med_rec", "met": True}],
    )


def test_a_sampled_claim_paid_on_submission_is_not_awaiting_verification(
    pathway_participant, staff, verifier
):
    # given M1, sampled tier: payable on submission
    claim = submitted_claim(pathway_participant, "M1", staff, SUBMITTED)
    assert claim.status == "payable"
    # when the verifier tries to decide it, then it is refused
    assert_refused(
        "not_submitted",
        verify,
        claim=claim,
        by=verifier,
        checklist=[{"kind": "crisis_plan", "met": True}, {"kind": "med_rec", "met": True}],
    )


def test_a_decided_claim_is_not_decided_again(m3, verifier):
    # given M3 already verified
    verify(m3, verifier)
    # when the verifier decides it again, then it is refused (a dispute changes it)
    assert_refused("already_decided", verify, claim=m3, by=verifier, at=LATE)


def test_an_unknown_outcome_is_refused(m3, verifier):
    assert_refused("unknown_outcome", verify, claim=m3, by=verifier, outcome="approved")


def test_a_requirement_without_an_answer_is_refused(m3, verifier):
    # when the verifier answers the care plan only
    refused = assert_refused(
        "checklist_incomplete", verify, claim=m3, by=verifier, checklist=M3_MET[:1]
    )
    # then the message names what is missing
    assert "pcp_visit" in refused.message


def test_an_answer_for_an_unknown_kind_is_refused(m3, verifier):
    checklist = [*M3_MET, {"kind": "housing_doc", "met": True}]
    refused = assert_refused(
        "checklist_incomplete", verify, claim=m3, by=verifier, checklist=checklist
    )
    assert "housing_doc" in refused.message


def test_an_answer_that_is_not_yes_or_no_is_refused(m3, verifier):
    checklist = [M3_MET[0], {"kind": "pcp_visit", "met": "yes"}]
    assert_refused("checklist_incomplete", verify, claim=m3, by=verifier, checklist=checklist)


def test_verified_with_an_item_not_met_is_refused(m3, verifier):
    checklist = [M3_MET[0], {"kind": "pcp_visit", "met": False, "note": "booked only"}]
    refused = assert_refused("unmet_items", verify, claim=m3, by=verifier, checklist=checklist)
    assert "pcp_visit" in refused.message


def test_a_rejection_without_a_reason_is_refused(m3, verifier):
    assert_refused("reason_required", verify, claim=m3, by=verifier, outcome="rejected")


def test_a_rejection_with_an_unknown_reason_is_refused(m3, verifier):
    assert_refused(
        "unknown_reason",
        verify,
        claim=m3,
        by=verifier,
        outcome="rejected",
        reason_codes=["VR-MISSING", "VR-TYPO"],
    )


def test_a_participant_milestone_cannot_be_partially_verified(m3, verifier):
    assert_refused(
        "partial_not_allowed", verify, claim=m3, by=verifier, outcome="partially_verified"
    )


def test_criteria_belong_to_tranche_claims_only(m3, verifier):
    assert_refused(
        "partial_not_allowed", verify, claim=m3, by=verifier, criteria_met=["protocol-signed"]
    )


# --- contract claims (C10) --------------------------------------------------------------

C1_AT = datetime(2026, 3, 9, 16, tzinfo=UTC)  # Monday 9 March, 11:00 in Minnesota
C1_DECIDED = datetime(2026, 3, 13, 16, tzinfo=UTC)  # Friday 13 March


def test_a_verified_tranche_releases_its_amount(contract_pilot, contract_staff):
    # given discharge-2026's C1 claim (tranche T1, $250,000), submitted Monday 9 March
    claim = contract_claim(contract_pilot, contract_staff, C1_AT)
    assert claim.verification_due == date(2026, 3, 23)
    # when the independent verifier finds it met, every criterion with it
    decision = verify(claim, contract_staff[Role.VERIFIER], checklist=C1_MET, at=C1_DECIDED)
    # then the tranche is payable in full, split 60/40 between the payers
    claim.refresh_from_db()
    assert (claim.status, claim.payable_amount, claim.basis_key) == (
        "payable",
        Decimal("250000.00"),
        "tranche:discharge-2026:T1",
    )
    assert [(p["payer"], p["amount"]) for p in claim.payer_split] == [
        ("northstar", "150000.00"),
        ("riverbend", "100000.00"),
    ]
    assert decision.criteria_met == ["protocol-signed", "leads-named", "escalation-agreed"]
    assert (decision.amount, decision.late_days) == (Decimal("250000.00"), 0)


def test_a_rejected_tranche_may_be_cured_within_its_period(contract_pilot, contract_staff):
    # given the C1 claim submitted Monday 9 March
    claim = contract_claim(contract_pilot, contract_staff, C1_AT)
    # when the verifier rejects it on Friday 13 March
    verify(
        claim,
        contract_staff[Role.VERIFIER],
        outcome="rejected",
        checklist=[{"kind": "protocol", "met": False}, {"kind": "governance", "met": True}],
        reason_codes=["VR-PAPER"],
        at=C1_DECIDED,
    )
    # then it is rejected, curable for T1's 30 calendar days
    claim.refresh_from_db()
    assert (claim.status, claim.cure_until, claim.basis_key) == (
        "rejected",
        date(2026, 4, 12),
        None,
    )


def test_an_all_or_nothing_tranche_cannot_be_partially_verified(contract_pilot, contract_staff):
    claim = contract_claim(contract_pilot, contract_staff, C1_AT)
    assert_refused(
        "partial_not_allowed",
        verify,
        claim=claim,
        by=contract_staff[Role.VERIFIER],
        outcome="partially_verified",
        checklist=C1_MET,
        criteria_met=["protocol-signed", "leads-named"],
        at=C1_DECIDED,
    )


def test_a_proportional_tranche_releases_its_share(contract_pilot, contract_staff):
    # given T1 amended to release in proportion to criteria met (two of three at least)
    make_t1_proportional(contract_pilot, contract_staff[Role.ADMINISTRATOR], C1_AT)
    claim = contract_claim(contract_pilot, contract_staff, C1_AT)
    # when the verifier finds two of the three criteria met
    decision = verify(
        claim,
        contract_staff[Role.VERIFIER],
        outcome="partially_verified",
        checklist=C1_MET,
        criteria_met=["leads-named", "protocol-signed"],
        reason_codes=["VR-PAPER"],
        at=C1_DECIDED,
    )
    # then two thirds of $250,000 is payable, under the amended rulebook
    claim.refresh_from_db()
    assert (claim.status, claim.payable_amount) == ("payable", Decimal("166666.67"))
    assert sum(Decimal(p["amount"]) for p in claim.payer_split) == Decimal("166666.67")
    assert (decision.criteria_met, decision.amount, decision.rulebook_version) == (
        ["protocol-signed", "leads-named"],
        Decimal("166666.67"),
        2,
    )


@pytest.mark.parametrize(
    ("code", "outcome", "criteria"),
    [
        ("unknown_criterion", "partially_verified", ["protocol-signed", "budget-agreed"]),
        ("criteria_required", "partially_verified", []),
        (
            "not_partial",
            "partially_verified",
            ["protocol-signed", "leads-named", "escalation-agreed"],
        ),
        ("below_minimum_criteria", "partially_verified", ["protocol-signed"]),
        ("unmet_items", "verified", ["protocol-signed"]),
    ],
)
def test_criteria_that_do_not_fit_the_outcome_are_refused(
    contract_pilot, contract_staff, code, outcome, criteria
):
    # given a proportional T1 (two of three criteria at least) claimed
    make_t1_proportional(contract_pilot, contract_staff[Role.ADMINISTRATOR], C1_AT)
    claim = contract_claim(contract_pilot, contract_staff, C1_AT)
    # when the criteria named do not fit the outcome, then it is refused
    assert_refused(
        code,
        verify,
        claim=claim,
        by=contract_staff[Role.VERIFIER],
        outcome=outcome,
        checklist=C1_MET,
        criteria_met=criteria,
        at=C1_DECIDED,
    )
