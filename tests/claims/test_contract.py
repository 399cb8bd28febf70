"""C10 staged contract milestones: discharge-2026's tranches T1–T4 claimed in order,
verified independently, released in full or in proportion, cured after a rejection."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.claims.actions.contract import draft_contract_claim, submit_contract_claim
from fundpilot.claims.live_use import tranche_board
from fundpilot.claims.models import Claim, ClaimEvidence, Verification
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.claims.claim_fixtures import assert_refused, draft, upload
from tests.claims.contract_fixtures import (
    STEP,
    claim_tranche,
    evidence,
    receiving_referrals,
    referrals,
    released,
    verify,
)
from tests.conftest import NOW, make_person, organisation

DAY = timedelta(days=1)
MEASURES_T3 = {"med-rec-48h": {"value": "92", "volume": 150}}
MEASURES_T4 = {
    "med-rec-48h": {"value": "91.5", "volume": 400},
    "follow-up-7d": {"value": "88", "volume": 404},
}


def chicago(day: date, hour: int = 10) -> datetime:
    """`hour` o'clock in Chicago (CST, UTC-6, until 8 March; CDT, UTC-5, after)."""
    offset = 6 if day < date(2026, 3, 8) else 5
    return datetime(day.year, day.month, day.day, hour + offset, tzinfo=UTC)


@pytest.fixture
def live_pilot(contract_pilot, contract_staff, admin):
    return receiving_referrals(contract_pilot, contract_staff, admin)


def test_four_tranches_in_sequence_with_one_cure(live_pilot, contract_staff):
    staff, pilot = contract_staff, live_pilot
    # given: T1 (infrastructure) claimed on 2 March and rejected on 3 March
    t1 = claim_tranche(pilot, "C1", staff, NOW)
    verify(t1, staff, NOW + DAY, Verification.REJECTED)
    t1.refresh_from_db()
    assert (t1.reference, t1.status, t1.cure_until) == ("T1/1", "rejected", date(2026, 4, 2))
    # when: cured within its period — the escalation rules signed on 10 March — and
    # drafted again, which resubmits T1
    cured = chicago(date(2026, 3, 10))
    upload(None, "governance", staff[Role.COMPLIANCE], cured, pilot=pilot)
    t1_again = draft_contract_claim(
        pilot=pilot,
        milestone="C1",
        reached_on=date(2026, 3, 10),
        by=staff[Role.COMPLIANCE],
        at=cured + STEP,
    )
    submit_contract_claim(claim=t1_again, by=staff[Role.EXECUTIVE_SPONSOR], at=cured + 2 * STEP)
    verify(t1_again, staff, cured + DAY)
    # and: T2 once 40 real discharges went through the pathway and 32 were closed
    referrals(pilot, staff, 40, chicago(date(2026, 4, 1)), answered=32)
    t2 = claim_tranche(pilot, "C2", staff, chicago(date(2026, 4, 15)))
    verify(t2, staff, chicago(date(2026, 4, 16)))
    # and: T3 at 150 cases (128 closed), two of its three criteria met: a partial release
    referrals(pilot, staff, 110, chicago(date(2026, 6, 1)), answered=96)
    t3 = claim_tranche(pilot, "C3", staff, chicago(date(2026, 7, 1)), measures=MEASURES_T3)
    verify(
        t3,
        staff,
        chicago(date(2026, 7, 2)),
        Verification.PARTIAL,
        criteria_met=["med-rec-48h", "follow-up-7d"],
    )
    # and: T4 at 400 cases (340 closed), quality holding at volume
    referrals(pilot, staff, 250, chicago(date(2026, 9, 1)), answered=212)
    t4 = claim_tranche(pilot, "C4", staff, chicago(date(2026, 10, 1)), measures=MEASURES_T4)
    verify(t4, staff, chicago(date(2026, 10, 2)))
    # then: every tranche is payable with the amount it released
    claims = Claim.objects.filter(pilot=pilot).order_by("pk")
    assert [(c.reference, c.status, c.payable_amount) for c in claims] == [
        ("T1/1", "rejected", None),
        ("T1/2", "payable", Decimal("250000.00")),
        ("T2/1", "payable", Decimal("350000.00")),
        ("T3/1", "payable", Decimal("266666.67")),
        ("T4/1", "payable", Decimal("500000.00")),
    ]
    assert claims[1].resubmission_of_id == t1.pk
    assert [c.basis_key for c in claims[1:]] == [
        f"tranche:discharge-2026:T{n}" for n in (1, 2, 3, 4)
    ]
    t3 = claims[3]
    assert t3.payer_split == [
        {"payer": "northstar", "use": "tranche_payments", "share": "60", "amount": "160000.00"},
        {"payer": "riverbend", "use": "tranche_payments", "share": "40", "amount": "106666.67"},
    ]
    assert t3.live_use["real_cases"] == 150 and t3.live_use["answered"] == 128
    assert claims[4].live_use["referral_closure_rate"] == "85"
    # and: the board says so
    board = tranche_board(pilot, at=chicago(date(2026, 10, 5)))
    assert [(r.code, r.status, r.released, r.claims) for r in board] == [
        ("T1", "payable", Decimal("250000.00"), 2),
        ("T2", "payable", Decimal("350000.00"), 1),
        ("T3", "payable", Decimal("266666.67"), 1),
        ("T4", "payable", Decimal("500000.00"), 1),
    ]


def test_submission_links_evidence_stores_live_use_and_sets_the_verification_due(
    live_pilot, contract_staff
):
    # given: a drafted T1 claim with its evidence, 3 referrals received, 1 closed
    referrals(live_pilot, contract_staff, 3, NOW - DAY, answered=1)
    claim = claim_tranche(live_pilot, "C1", contract_staff, NOW, submit=False)
    audit = AuditRecord.objects.count()
    # when
    submitted = submit_contract_claim(
        claim=claim, by=contract_staff[Role.EXECUTIVE_SPONSOR], at=NOW + 2 * STEP
    )
    # then: due 10 Minnesota business days after Monday 2 March
    assert (submitted.status, submitted.verification_due) == ("submitted", date(2026, 3, 16))
    assert submitted.live_use == {
        "at": (NOW + 2 * STEP).isoformat(),
        "real_cases": 3,
        "answered": 1,
        "referral_closure_rate": "33.33",
    }
    kinds = ClaimEvidence.objects.filter(claim=claim).values_list("kind", flat=True)
    assert sorted(kinds) == ["governance", "protocol"]
    assert AuditRecord.objects.count() == audit + 1
    assert AuditRecord.objects.order_by("-pk").first().action == "contract_claim.submit"


# --- refusals (each: nothing written) ------------------------------------------------


def _draft(pilot, staff, milestone, **kwargs):
    kwargs.setdefault("reached_on", date(2026, 3, 2))
    kwargs.setdefault("by", staff[Role.COMPLIANCE])
    kwargs.setdefault("at", NOW + STEP)
    return {"pilot": pilot, "milestone": milestone, **kwargs}


def test_a_participant_milestone_is_not_a_contract_claim(pilot, staff):
    # given: recovery-2026's M1 is a participant milestone; compliance may claim contracts
    assert_refused("not_contract_milestone", draft_contract_claim, **_draft(pilot, staff, "M1"))


def test_an_unknown_milestone_is_refused(contract_pilot, contract_staff):
    assert_refused(
        "unknown_milestone", draft_contract_claim, **_draft(contract_pilot, contract_staff, "C9")
    )


def test_a_tranche_before_its_predecessor_is_refused(contract_pilot, contract_staff):
    # given: T1 claimed but not yet verified
    claim_tranche(contract_pilot, "C1", contract_staff, NOW)
    # then: C2 follows C1
    assert_refused(
        "tranche_before_predecessor",
        draft_contract_claim,
        **_draft(contract_pilot, contract_staff, "C2", at=NOW + DAY),
    )


def test_a_released_tranche_is_not_claimed_again(contract_pilot, contract_staff):
    released(contract_pilot, "C1", contract_staff, NOW)
    assert_refused(
        "already_released",
        draft_contract_claim,
        **_draft(contract_pilot, contract_staff, "C1", at=NOW + DAY),
    )


def test_a_tranche_with_an_open_claim_is_not_claimed_twice(contract_pilot, contract_staff):
    claim_tranche(contract_pilot, "C1", contract_staff, NOW, submit=False)
    assert_refused(
        "already_claimed",
        draft_contract_claim,
        **_draft(contract_pilot, contract_staff, "C1", at=NOW + DAY),
    )


def test_submission_without_the_required_evidence_is_refused(contract_pilot, contract_staff):
    # given: only the protocol is uploaded; the governance document is dated after
    # the day the milestone was reached, so it does not count
    compliance = contract_staff[Role.COMPLIANCE]
    evidence(contract_pilot, "C1", compliance, NOW, skip=("governance",))
    upload(
        None,
        "governance",
        compliance,
        NOW + DAY,
        pilot=contract_pilot,
        document_date=date(2026, 3, 3),
    )
    claim = draft_contract_claim(**_draft(contract_pilot, contract_staff, "C1", at=NOW + DAY))
    # then
    refusal = assert_refused(
        "missing_evidence",
        submit_contract_claim,
        claim=claim,
        by=contract_staff[Role.EXECUTIVE_SPONSOR],
        at=NOW + DAY + DAY,
    )
    assert "governance: 0 of 1" in refusal.message


def test_submission_short_of_live_use_is_refused(live_pilot, contract_staff):
    # given: T1 released; 39 real cases, all closed — one short of T2's 40
    released(live_pilot, "C1", contract_staff, NOW)
    referrals(live_pilot, contract_staff, 39, NOW + DAY, answered=39)
    claim = claim_tranche(live_pilot, "C2", contract_staff, NOW + 2 * DAY, submit=False)
    # then
    refusal = assert_refused(
        "live_use_short",
        submit_contract_claim,
        claim=claim,
        by=contract_staff[Role.EXECUTIVE_SPONSOR],
        at=NOW + 3 * DAY,
    )
    assert refusal.message == "live use falls short: 39 real cases, 40 required"


def test_referral_closure_below_the_minimum_is_short_of_live_use(live_pilot, contract_staff):
    # given: 40 real cases, only 31 closed (77.5%, T2 needs 80%)
    released(live_pilot, "C1", contract_staff, NOW)
    referrals(live_pilot, contract_staff, 40, NOW + DAY, answered=31)
    claim = claim_tranche(live_pilot, "C2", contract_staff, NOW + 2 * DAY, submit=False)
    refusal = assert_refused(
        "live_use_short",
        submit_contract_claim,
        claim=claim,
        by=contract_staff[Role.EXECUTIVE_SPONSOR],
        at=NOW + 3 * DAY,
    )
    assert refusal.message == "live use falls short: 77.5% of referrals closed, 80% required"


def _t3_ready(pilot, staff):
    """T1 and T2 released: C3 may be claimed."""
    released(pilot, "C1", staff, NOW)
    referrals(pilot, staff, 40, NOW + DAY, answered=40)
    released(pilot, "C2", staff, NOW + 2 * DAY)


def test_a_measure_below_its_quality_floor_is_refused(live_pilot, contract_staff):
    _t3_ready(live_pilot, contract_staff)
    low = {"med-rec-48h": {"value": "89.9", "volume": 150}}
    refusal = assert_refused(
        "quality_below_floor",
        draft_contract_claim,
        **_draft(live_pilot, contract_staff, "C3", measures=low, at=NOW + 3 * DAY),
    )
    assert refusal.message == (
        "med-rec-48h is 89.9% at 150 cases; the floor is 90% at 150 cases or more"
    )


def test_a_quality_floor_without_its_measure_is_refused(live_pilot, contract_staff):
    _t3_ready(live_pilot, contract_staff)
    assert_refused(
        "measure_missing",
        draft_contract_claim,
        **_draft(live_pilot, contract_staff, "C3", at=NOW + 3 * DAY),
    )


def test_resubmission_after_the_cure_period_is_refused(contract_pilot, contract_staff):
    # given: T1 rejected on 3 March: curable until 2 April
    claim = claim_tranche(contract_pilot, "C1", contract_staff, NOW)
    verify(claim, contract_staff, NOW + DAY, Verification.REJECTED)
    # then: 3 April is too late
    assert_refused(
        "cure_period_over",
        draft_contract_claim,
        **_draft(
            contract_pilot,
            contract_staff,
            "C1",
            reached_on=date(2026, 4, 3),
            at=chicago(date(2026, 4, 3)),
        ),
    )


def test_a_resubmission_must_resubmit_a_rejected_claim(contract_pilot, contract_staff):
    # given: T1 is payable; someone drafts C2 as a "resubmission" of it
    t1 = released(contract_pilot, "C1", contract_staff, NOW)
    assert_refused(
        "not_rejected",
        draft_contract_claim,
        **_draft(contract_pilot, contract_staff, "C2", resubmission_of=t1, at=NOW + DAY),
    )


def test_a_claim_already_resubmitted_is_not_resubmitted_again(contract_pilot, contract_staff):
    # given: T1/1 rejected, resubmitted as T1/2, which was rejected too
    first = claim_tranche(contract_pilot, "C1", contract_staff, NOW)
    verify(first, contract_staff, NOW + DAY, Verification.REJECTED)
    second = claim_tranche(contract_pilot, "C1", contract_staff, NOW + 2 * DAY)
    verify(second, contract_staff, NOW + 3 * DAY, Verification.REJECTED)
    assert second.resubmission_of_id == first.pk
    # then: T1/1 was already resubmitted; T1/2 is the one to cure
    assert_refused(
        "already_resubmitted",
        draft_contract_claim,
        **_draft(contract_pilot, contract_staff, "C1", resubmission_of=first, at=NOW + 4 * DAY),
    )


def test_a_milestone_reached_in_the_future_is_refused(contract_pilot, contract_staff):
    assert_refused(
        "reached_in_future",
        draft_contract_claim,
        **_draft(contract_pilot, contract_staff, "C1", reached_on=date(2026, 3, 3)),
    )


def test_a_milestone_reached_before_the_pilot_began_is_refused(contract_pilot, contract_staff):
    assert_refused(
        "outside_pilot_period",
        draft_contract_claim,
        **_draft(contract_pilot, contract_staff, "C1", reached_on=date(2025, 12, 31)),
    )


def test_a_participant_claim_is_not_submitted_as_a_contract_claim(pathway_participant, staff):
    # given: P-0001's M1 drafted by frontline; compliance may submit contract claims
    claim = draft(pathway_participant, "M1", staff, NOW + DAY)
    assert_refused(
        "not_contract_claim",
        submit_contract_claim,
        claim=claim,
        by=staff[Role.COMPLIANCE],
        at=NOW + 2 * DAY,
    )


def test_another_office_does_not_submit_the_claim(contract_pilot, contract_staff, admin):
    # given: T1 drafted by the pilot office; a compliance officer of another office
    claim = claim_tranche(contract_pilot, "C1", contract_staff, NOW, submit=False)
    other = organisation("other-office", OrgKind.PILOT_OFFICE, admin)
    stranger = make_person("oo-compliance", other, admin, Role.COMPLIANCE, contract_pilot)
    refusal = assert_refused(
        "other_organisation", submit_contract_claim, claim=claim, by=stranger, at=NOW + DAY
    )
    assert isinstance(refusal, NotPermitted)


def test_a_measure_the_tranche_does_not_have_is_refused(contract_pilot, contract_staff):
    assert_refused(
        "unknown_measure",
        draft_contract_claim,
        **_draft(contract_pilot, contract_staff, "C1", measures={"x": {"value": 1, "volume": 1}}),
    )


@pytest.mark.parametrize(
    "figures",
    [
        {"value": "95"},
        {"value": "101", "volume": 5},
        {"value": "9.999", "volume": 5},
        {"value": "95", "volume": -1},
        {"value": "abc", "volume": 5},
        {"value": "95", "volume": True},
    ],
)
def test_a_malformed_measure_is_refused(live_pilot, contract_staff, figures):
    _t3_ready(live_pilot, contract_staff)
    assert_refused(
        "invalid_measure",
        draft_contract_claim,
        **_draft(
            live_pilot, contract_staff, "C3", measures={"med-rec-48h": figures}, at=NOW + 3 * DAY
        ),
    )


def test_a_submitted_claim_is_not_submitted_again(contract_pilot, contract_staff):
    claim = claim_tranche(contract_pilot, "C1", contract_staff, NOW)
    assert_refused(
        "not_draft",
        submit_contract_claim,
        claim=claim,
        by=contract_staff[Role.EXECUTIVE_SPONSOR],
        at=NOW + DAY,
    )


def test_only_contract_claimants_draft_contract_claims(contract_pilot, contract_staff):
    refusal = assert_refused(
        "not_permitted",
        draft_contract_claim,
        **_draft(contract_pilot, contract_staff, "C1", by=contract_staff[Role.FINANCE]),
    )
    assert isinstance(refusal, NotPermitted)
