"""C9 post-payment sample audit: the draw, the audit of a sampled claim, the appraisal,
through the actions (claims/actions/sampling.py).

The standing universe: ten riverside participants each paid M1 (900.00) in March 2026,
the first two also M2 (600.00): strata M1|riverside (N=10) and M2|riverside (N=2). At
recovery-2026's 10% rate n = ceil(1.2) = 2, allocated 2 to M1 and 0 to M2, which then
gets its one claim: 3 sampled claims.
"""

import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from scipy import stats

from fundpilot.audit.models import AuditRecord
from fundpilot.claims.actions import sampling
from fundpilot.claims.actions.disputes import raise_dispute, resolve_dispute
from fundpilot.claims.models import Appraisal, Claim, Recoupment, Sample, SampleAudit
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules import sampling as draws
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.rulebook import SampleDesign
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import assert_refused, claims_snapshot, submitted_claim
from tests.claims.sampling_fixtures import (
    APPRAISED,
    AUDITED,
    DRAWN,
    MONTH,
    differences,
    enrol,
    pay,
    recovery_pilot,
)

SEED = 20260401


@pytest.fixture
def paid(pilot: Pilot, staff: dict[Role, User]) -> list[Claim]:
    """Twelve payable sampled-tier claims in March 2026 (see the module docstring)."""
    participants = enrol(pilot, staff, 10)
    claims = pay(participants, staff)
    return claims + pay(participants[:2], staff, "M2", at=claims[-1].payable_at)


@pytest.fixture
def drawn(pilot: Pilot, paid: list[Claim], verifier: User) -> Sample:
    return sampling.draw_sample(pilot=pilot, period=MONTH, seed=SEED, by=verifier, at=DRAWN)


def audit_all(sample: Sample, verifier: User, supported: dict[int, str] | None = None) -> None:
    """Audit every item: the position's supported amount, or the whole amount paid."""
    for item in sample.items.order_by("position"):
        amount = Decimal((supported or {}).get(item.position, item.claim.payable_amount))
        codes = ["VR-MISSING"] if amount < item.claim.payable_amount else []
        sampling.audit_sampled_claim(
            item=item, supported_amount=amount, finding_codes=codes, by=verifier, at=AUDITED
        )


def moved_into(user: User, organisation: Organisation) -> User:
    """The same person after moving to another organisation (no action moves people yet;
    their roles stay, which is what separation of duties must catch)."""
    User.objects.filter(pk=user.pk).update(organisation=organisation)
    return User.objects.get(pk=user.pk)


def expected_items(claims: list[Claim], seed: int, allocation: dict[str, int]) -> list[str]:
    """The draw worked out here: per stratum (sorted), the n_h references of smallest
    SHA-256("{seed}:{stratum}:{reference}")."""
    chosen = []
    for stratum, n in sorted(allocation.items()):
        members = [c.reference for c in claims if f"{c.milestone}|riverside" == stratum]
        ranked = sorted(
            members,
            key=lambda ref: (hashlib.sha256(f"{seed}:{stratum}:{ref}".encode()).digest(), ref),
        )
        chosen += ranked[:n]
    return chosen


# --- the draw --------------------------------------------------------------------------


def test_draw_records_the_universe_its_strata_and_the_items_in_draw_order(
    drawn: Sample, paid: list[Claim]
):
    # then: the universe is the twelve claims, in two strata
    assert (drawn.universe_size, drawn.universe_amount) == (12, Decimal("10200.00"))
    assert drawn.strata == [
        {"stratum": "M1|riverside", "population": 10, "sample": 2},
        {"stratum": "M2|riverside", "population": 2, "sample": 1},
    ]
    assert (drawn.design, drawn.confidence, drawn.sided) == ("stratified", Decimal("0.9"), "two")
    # and the items are the smallest ranks of each stratum, strata by label
    items = list(drawn.items.order_by("position"))
    expected = expected_items(paid, SEED, {"M1|riverside": 2, "M2|riverside": 1})
    assert [i.claim.reference for i in items] == expected
    assert [i.position for i in items] == [1, 2, 3]
    assert [i.stratum for i in items] == ["M1|riverside", "M1|riverside", "M2|riverside"]
    # and one decision record names them
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject) == ("sample.draw", f"sample:{MONTH}")
    assert record.payload["items"] == expected
    assert record.payload["universe_digest"] == drawn.universe_digest


def test_the_draw_is_reproduced_from_the_stored_data(drawn: Sample, paid: list[Claim]):
    # given: the universe rebuilt from the claims table, in any order
    rows = list(Claim.objects.filter(pilot=drawn.pilot, status=Claim.PAYABLE))
    random.Random(7).shuffle(rows)
    units = [
        draws.Unit(c.reference, f"{c.milestone}|{c.provider.code}", c.payable_amount) for c in rows
    ]
    # when: drawn again with the stored seed
    again = draws.draw(
        units, design=SampleDesign.STRATIFIED, size=None, rate=Decimal(10), seed=drawn.seed
    )
    # then: the same items in the same order, and the same universe digest
    stored = [i.claim.reference for i in drawn.items.order_by("position")]
    assert [u.key for u in again.chosen] == stored
    assert again.universe_digest == drawn.universe_digest
    redrawn = sampling.redraw(drawn)
    assert ([u.key for u in redrawn.chosen], redrawn.universe_digest) == (
        stored,
        drawn.universe_digest,
    )


def test_the_period_is_the_pilots_local_month(
    pilot: Pilot, staff: dict[Role, User], verifier: User
):
    # given: P-0101 paid at 23:23 on 31 March in Oregon (06:23 UTC on 1 April), P-0102
    # paid at 00:03 on 1 April in Oregon
    first, second = enrol(pilot, staff, 2)
    late_march = submitted_claim(first, "M1", staff, datetime(2026, 4, 1, 6, 20, tzinfo=UTC))
    april = submitted_claim(second, "M1", staff, datetime(2026, 4, 1, 7, 0, tzinfo=UTC))
    assert pilot.calendar.local_date(late_march.payable_at) == date(2026, 3, 31)
    # when
    sample = sampling.draw_sample(pilot=pilot, period=MONTH, seed=1, by=verifier, at=DRAWN)
    # then: only the March claim is in March's universe
    assert sample.universe_size == 1
    assert [i.claim_id for i in sample.items.all()] == [late_march.pk]
    assert april.status == Claim.PAYABLE


def test_draw_refuses_a_rulebook_without_sampling(contract_pilot: Pilot, contract_staff):
    assert_refused(
        "no_sampling_rule",
        sampling.draw_sample,
        pilot=contract_pilot,
        period=MONTH,
        seed=1,
        by=contract_staff[Role.VERIFIER],
        at=DRAWN,
    )


@pytest.mark.parametrize("period", ["2026-3", "2026-13", "March", "2026-03-01", ""])
def test_draw_refuses_a_malformed_period(pilot: Pilot, paid, verifier: User, period: str):
    assert_refused(
        "bad_period",
        sampling.draw_sample,
        pilot=pilot,
        period=period,
        seed=1,
        by=verifier,
        at=DRAWN,
    )


def test_draw_refuses_a_month_that_has_not_ended(pilot: Pilot, paid, verifier: User):
    # 06:59 UTC on 1 April is still 31 March in Oregon; April is in the future
    for period, at in ((MONTH, datetime(2026, 4, 1, 6, 59, tzinfo=UTC)), ("2026-04", DRAWN)):
        refused = assert_refused(
            "bad_period",
            sampling.draw_sample,
            pilot=pilot,
            period=period,
            seed=1,
            by=verifier,
            at=at,
        )
        assert "has not ended" in refused.message


@pytest.mark.parametrize("seed", [-1, 2**63, True, 1.5, "7"])
def test_draw_refuses_a_bad_seed(pilot: Pilot, paid, verifier: User, seed: object):
    assert_refused(
        "bad_seed",
        sampling.draw_sample,
        pilot=pilot,
        period=MONTH,
        seed=seed,
        by=verifier,
        at=DRAWN,
    )


def test_draw_refuses_a_period_already_drawn(pilot: Pilot, drawn: Sample, verifier: User):
    # even with the same seed: one sample per period
    assert_refused(
        "already_drawn",
        sampling.draw_sample,
        pilot=pilot,
        period=MONTH,
        seed=SEED,
        by=verifier,
        at=DRAWN + timedelta(hours=1),
    )


def test_draw_refuses_a_month_with_nothing_paid(pilot: Pilot, paid, verifier: User):
    assert_refused(
        "empty_universe",
        sampling.draw_sample,
        pilot=pilot,
        period="2026-02",
        seed=1,
        by=verifier,
        at=DRAWN,
    )


def test_draw_refuses_a_verifier_of_a_provider_in_the_universe(
    pilot: Pilot, paid, verifier: User, provider: Organisation
):
    assert_refused(
        "not_independent",
        sampling.draw_sample,
        pilot=pilot,
        period=MONTH,
        seed=1,
        by=moved_into(verifier, provider),
        at=DRAWN,
    )


def test_draw_is_for_verifiers_only(pilot: Pilot, paid, staff: dict[Role, User]):
    before = claims_snapshot()
    with pytest.raises(NotPermitted):
        sampling.draw_sample(pilot=pilot, period=MONTH, seed=1, by=staff[Role.COMPLIANCE], at=DRAWN)
    assert claims_snapshot() == before


# --- the audit of a sampled claim ----------------------------------------------------------


def test_a_supported_claim_passes_and_nothing_is_recouped(drawn: Sample, verifier: User):
    # given
    item = drawn.items.get(position=1)
    # when: audited on the last business day of its time box
    audit = sampling.audit_sampled_claim(
        item=item,
        supported_amount=Decimal("900.00"),
        note="plan and reconciliation both on file",
        by=verifier,
        at=datetime(2026, 4, 8, 20, 0, tzinfo=UTC),
    )
    # then: due 5 business days after the draw (Wednesday 8 April), on time
    assert (audit.paid_amount, audit.supported_amount, audit.finding_codes) == (
        Decimal("900.00"),
        Decimal("900.00"),
        [],
    )
    assert (audit.due, audit.late_days, audit.organisation) == (
        date(2026, 4, 8),
        0,
        verifier.organisation,
    )
    assert Recoupment.objects.count() == 0
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject) == ("sample.audit", f"claim:{item.claim.reference}")
    assert record.payload["recoupment"] is None


def test_a_failed_claim_is_marked_for_recoupment(drawn: Sample, verifier: User):
    # given
    item = drawn.items.get(position=2)
    # when: half the payment is supported, audited three business days late
    audit = sampling.audit_sampled_claim(
        item=item,
        supported_amount=Decimal("450.00"),
        finding_codes=["VR-MISSING", "VR-MISSING", "VR-UNSIGNED"],
        by=verifier,
        at=datetime(2026, 4, 13, 17, 0, tzinfo=UTC),
    )
    # then
    assert audit.finding_codes == ["VR-MISSING", "VR-UNSIGNED"]
    assert audit.late_days == 3
    recoupment = Recoupment.objects.get()
    assert (recoupment.claim, recoupment.provider_id, recoupment.amount, recoupment.reason) == (
        item.claim,
        item.claim.provider_id,
        Decimal("450.00"),
        "sample_audit",
    )
    assert (recoupment.audit, recoupment.basis_key) == (audit, f"recoup:audit:{audit.pk}")
    assert AuditRecord.objects.order_by("-pk").first().payload["recoupment"] == (
        f"recoup:audit:{audit.pk}"
    )


def test_audit_refuses_a_verifier_of_the_claims_provider(
    drawn: Sample, verifier: User, provider: Organisation
):
    assert_refused(
        "not_independent",
        sampling.audit_sampled_claim,
        item=drawn.items.get(position=1),
        supported_amount=Decimal("900.00"),
        by=moved_into(verifier, provider),
        at=AUDITED,
    )


@pytest.mark.parametrize("amount", ["900.01", "-0.01", "450.005", "NaN", "lots"])
def test_audit_refuses_an_amount_not_between_zero_and_the_amount_paid(
    drawn: Sample, verifier: User, amount: str
):
    assert_refused(
        "bad_amount",
        sampling.audit_sampled_claim,
        item=drawn.items.get(position=1),
        supported_amount=amount,
        finding_codes=["VR-MISSING"],
        by=verifier,
        at=AUDITED,
    )


def test_audit_refuses_an_unknown_finding_code(drawn: Sample, verifier: User):
    assert_refused(
        "unknown_finding",
        sampling.audit_sampled_claim,
        item=drawn.items.get(position=1),
        supported_amount=Decimal("0.00"),
        finding_codes=["VR-NOPE"],
        by=verifier,
        at=AUDITED,
    )


def test_audit_refuses_an_unsupported_amount_without_a_finding(drawn: Sample, verifier: User):
    assert_refused(
        "finding_required",
        sampling.audit_sampled_claim,
        item=drawn.items.get(position=1),
        supported_amount=Decimal("899.99"),
        by=verifier,
        at=AUDITED,
    )


def test_audit_refuses_a_second_audit_of_the_same_claim(drawn: Sample, verifier: User):
    item = drawn.items.get(position=1)
    sampling.audit_sampled_claim(item=item, supported_amount="900.00", by=verifier, at=AUDITED)
    assert_refused(
        "already_audited",
        sampling.audit_sampled_claim,
        item=item,
        supported_amount=Decimal("0.00"),
        finding_codes=["VR-DEFINITION"],
        by=verifier,
        at=AUDITED + timedelta(hours=1),
    )


def test_audit_is_for_verifiers_only(drawn: Sample, staff: dict[Role, User]):
    before = claims_snapshot()
    with pytest.raises(NotPermitted):
        sampling.audit_sampled_claim(
            item=drawn.items.get(position=1),
            supported_amount=Decimal("900.00"),
            by=staff[Role.SUPERVISOR],
            at=AUDITED,
        )
    assert claims_snapshot() == before


# --- the appraisal -----------------------------------------------------------------------


def test_appraisal_refuses_a_sample_not_fully_audited(drawn: Sample, verifier: User):
    item = drawn.items.get(position=1)
    sampling.audit_sampled_claim(item=item, supported_amount="900.00", by=verifier, at=AUDITED)
    refused = assert_refused(
        "not_fully_audited", sampling.appraise_sample, sample=drawn, by=verifier, at=APPRAISED
    )
    assert refused.message.startswith("2 of 3 sampled claims await their audit")


def test_appraisal_extrapolates_the_stratified_differences(drawn: Sample, verifier: User):
    # given: the two M1 claims supported 900.00 and 0.00 (900.00 overpaid), M2 in full
    audit_all(drawn, verifier, {2: "0.00"})
    # when
    made = sampling.appraise_sample(sample=drawn, by=verifier, at=APPRAISED)
    # then: worked out here — M1: N=10, n=2, d = 0 and 900, mean 450, s² = 405000;
    # M2: N=2, n=1, d = 0 (no variance, and a warning)
    estimate = 10 * 450 + 2 * 0
    se = (10 * (10 - 2) * 405000 / 2) ** 0.5
    z = stats.norm.ppf(0.95)
    assert made.point_estimate == Decimal(estimate)
    assert abs(float(made.standard_error) - se) < 0.006
    assert abs(float(made.lower) - (estimate - z * se)) < 0.006
    assert abs(float(made.upper) - (estimate + z * se)) < 0.006
    assert made.lower < 0 and made.recovery == Decimal("0.00")
    assert (made.distribution, made.degrees_of_freedom) == ("z", None)
    assert abs(float(made.detail["critical_value"]) - z) < 1e-9
    assert made.sample_overpayment == Decimal("900.00")
    assert made.detail["failed"] == 1
    assert [s["stratum"] for s in made.detail["strata"]] == ["M1|riverside", "M2|riverside"]
    assert made.detail["warnings"] == [
        "stratum 'M2|riverside': 1 claim sampled out of 2: one value cannot show how claims"
        " vary, so its variance counts as 0 and the standard error is understated"
    ]
    explanation = made.detail["explanation"]
    assert "3 of the 12 sampled-tier claims paid in 2026-03 (USD 10,200.00)" in explanation
    assert "nothing is demanded for the universe beyond the sampled claims" in explanation
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject) == ("sample.appraise", f"sample:{MONTH}")


def test_appraisal_refuses_to_repeat_itself_on_the_same_audits(drawn: Sample, verifier: User):
    audit_all(drawn, verifier)
    sampling.appraise_sample(sample=drawn, by=verifier, at=APPRAISED)
    assert_refused(
        "already_appraised",
        sampling.appraise_sample,
        sample=drawn,
        by=verifier,
        at=APPRAISED + timedelta(hours=1),
    )


def test_appraisal_refuses_a_verifier_of_a_sampled_provider(
    drawn: Sample, verifier: User, provider: Organisation
):
    audit_all(drawn, verifier)
    assert_refused(
        "not_independent",
        sampling.appraise_sample,
        sample=drawn,
        by=moved_into(verifier, provider),
        at=APPRAISED,
    )


def test_a_disputed_finding_leads_to_a_newer_appraisal(
    drawn: Sample, verifier: User, staff: dict[Role, User]
):
    # given: an appraisal with the second M1 claim supported 0.00
    audit_all(drawn, verifier, {2: "0.00"})
    first = sampling.appraise_sample(sample=drawn, by=verifier, at=APPRAISED)
    # when: riverside disputes that finding and compliance varies it to 450.00 supported
    disputed = SampleAudit.objects.get(item__sample=drawn, item__position=2)
    dispute = raise_dispute(
        subject=disputed,
        grounds="the med rec was filed late",
        by=staff[Role.SUPERVISOR],
        at=APPRAISED + timedelta(hours=1),
    )
    resolve_dispute(
        dispute=dispute,
        outcome="varied",
        resolution="reconciliation found, plan unsigned",
        learning="file reconciliations with the claim",
        supported_amount="450.00",
        finding_codes=["VR-UNSIGNED"],
        by=staff[Role.COMPLIANCE],
        at=APPRAISED + timedelta(days=1),
    )
    second = sampling.appraise_sample(sample=drawn, by=verifier, at=APPRAISED + timedelta(days=2))
    # then: the newer appraisal rests on the new finding and is the one in force
    assert differences(drawn) == {
        "M1|riverside": [Decimal("0.00"), Decimal("450.00")],
        "M2|riverside": [Decimal("0.00")],
    }
    assert (first.point_estimate, second.point_estimate) == (Decimal("4500.00"), Decimal("2250.00"))
    assert second.detail["supersedes"] == first.pk
    assert sampling.latest_appraisal(drawn) == second
    assert Appraisal.objects.filter(sample=drawn).count() == 2


def test_recovery_pilot_fixture_changes_the_sampling_rule(admin: User):
    # the helper the end-to-end tests rely on: a simple design of size 8, no extrapolation
    pilot = recovery_pilot(
        admin, design='"simple"', strata="", rate="", size="8", extrapolate="false"
    )
    rule = pilot.rulebook.sampling
    assert (rule.design, rule.size, rule.rate, rule.strata, rule.extrapolate) == (
        SampleDesign.SIMPLE,
        8,
        None,
        (),
        False,
    )
