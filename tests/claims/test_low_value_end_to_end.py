"""End to end: low-value (sampled-tier) milestone claims from evidence to payment on
submission, then the post-payment sample — the draw, the audits (some failing), the
appraisal and extrapolation — and the recoupments. The appraisal's figures are checked
against values worked out here: the estimate with plain arithmetic, the critical values
with scipy.stats.

Three pilots, each recovery-2026 with its sampling rule changed:
- stratified by milestone and provider at 50%, through the API: a northstar stratum of
  one claim (a census), a riverside M2 stratum whose audits all pass (no variance);
- simple random, 8 of 12 claims, extrapolating: Student's t on 7 degrees of freedom;
- the same without extrapolation: only the failed claims are recovered.
"""

import json
import math
import statistics
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from scipy import stats

from fundpilot.claims.actions import sampling
from fundpilot.claims.models import Claim, Recoupment, Sample, SampleAudit
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import Role
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
from tests.conftest import NOW, make_person
from tests.participants.conftest import OFFICE_ROLES, PROVIDER_ROLES

STRATIFIED = {"rate": "50"}
SIMPLE = {"design": '"simple"', "strata": "", "rate": "", "size": "8"}
SIMPLE_NO_EXTRAPOLATION = SIMPLE | {"extrapolate": "false"}
API = "/api/v1/pilots/recovery-2026/samples"


@pytest.fixture
def pilot(admin: User, request: pytest.FixtureRequest) -> Pilot:
    """recovery-2026 with the sampling rule the test asks for (indirect parameter)."""
    return recovery_pilot(admin, **request.param)


def expected_appraisal(
    strata: list[tuple[int, list[Decimal]]], *, stratified: bool, confidence: float = 0.90
) -> dict[str, float]:
    """RAT-STATS variable appraisal worked out independently: (N_h, differences) per
    stratum; z for a stratified design, t on n − 1 degrees of freedom for a simple one."""
    estimate = variance = 0.0
    for population, found in strata:
        values = [float(d) for d in found]
        s2 = statistics.variance(values) if len(values) > 1 else 0.0
        estimate += population * statistics.fmean(values)
        variance += population * (population - len(values)) * s2 / len(values)
    n = sum(len(found) for _, found in strata)
    p = 1 - (1 - confidence) / 2
    critical = stats.norm.ppf(p) if stratified else stats.t.ppf(p, n - 1)
    se = math.sqrt(variance)
    return {
        "estimate": estimate,
        "se": se,
        "critical": critical,
        "lower": estimate - critical * se,
        "upper": estimate + critical * se,
    }


def close(amount: Decimal | str | None, value: float) -> bool:
    """Within half a cent: the appraisal rounds to the cent once, at the end."""
    return amount is not None and abs(float(amount) - value) <= 0.005 + 1e-9


def post(client: Client, url: str, body: dict) -> dict:
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.parametrize("pilot", [STRATIFIED], indirect=True)
def test_stratified_sample_through_the_api(
    pilot: Pilot,
    admin: User,
    staff: dict[Role, User],
    other_provider: Organisation,
    verifier: User,
):
    # given: 16 riverside participants paid M1 in March, 4 of them M2 too, and one
    # northstar participant paid M1 — all sampled tier, so payable on submission
    northstar = {
        role: make_person(f"ns-{role.value}", other_provider, admin, role, pilot)
        for role in PROVIDER_ROLES
    } | {role: staff[role] for role in OFFICE_ROLES}
    riverside = enrol(pilot, staff, 16)
    m1 = pay(riverside, staff)
    m2 = pay(riverside[:4], staff, "M2", at=m1[-1].payable_at)
    theirs = pay(enrol(pilot, northstar, 1, first=201), northstar, at=m2[-1].payable_at)
    paid = m1 + m2 + theirs
    assert {c.status for c in paid} == {Claim.PAYABLE}
    assert all(c.basis_key and c.payer_split[0]["payer"] == "wvch" for c in paid)
    secret = actions.issue_api_token(user=verifier, label="e2e", by=verifier, at=NOW)
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    with time_machine.travel(DRAWN, tick=False) as clock:
        # when: drawn — n = ceil(21 × 50%) = 11, allocated 1 / 8 / 2 by largest remainder
        body = post(api, API, {"period": MONTH, "seed": 987654321})
        assert body["strata"] == [
            {"stratum": "M1|northstar", "population": 1, "sample": 1},
            {"stratum": "M1|riverside", "population": 16, "sample": 8},
            {"stratum": "M2|riverside", "population": 4, "sample": 2},
        ]
        assert (body["universe_size"], body["universe_amount"]) == (21, "17700.00")
        # and audited: three riverside M1 claims fail; every other claim is supported
        supported = iter(["900.00", "900.00", "450.00", "900.00", "0.00", "900.00", "900.00"])
        clock.move_to(AUDITED)
        for item in body["items"]:
            amount = item["paid_amount"]
            if item["stratum"] == "M1|riverside":
                amount = next(supported, "675.00")
            audit = {"supported_amount": amount}
            if Decimal(amount) < Decimal(item["paid_amount"]):
                audit["finding_codes"] = ["VR-DEFINITION"]
            url = f"{API}/{MONTH}/items/{item['reference']}/audit"
            post(api, url, audit)
        # and appraised
        clock.move_to(APPRAISED)
        appraisal = post(api, f"{API}/{MONTH}/appraisal", {})
    # then: the figures match the ones worked out here
    sample = Sample.objects.get()
    found = differences(sample)
    assert found["M1|riverside"] == [
        Decimal(d) for d in ("0", "0", "450", "0", "900", "0", "0", "225")
    ]
    assert found["M2|riverside"] == [Decimal("0.00")] * 2  # a zero-variance stratum
    assert found["M1|northstar"] == [Decimal("0.00")]  # a stratum of one claim: a census
    want = expected_appraisal(
        [(1, found["M1|northstar"]), (16, found["M1|riverside"]), (4, found["M2|riverside"])],
        stratified=True,
    )
    assert appraisal["point_estimate"] == "3150.00"  # 16 × 1575 / 8
    assert close(appraisal["standard_error"], want["se"])
    assert abs(float(appraisal["critical_value"]) - want["critical"]) < 1e-9
    assert close(appraisal["lower"], want["lower"]) and close(appraisal["upper"], want["upper"])
    assert appraisal["distribution"] == "z" and appraisal["warnings"] == []
    assert appraisal["recovery"] == appraisal["lower"] and float(appraisal["lower"]) > 0
    # and the failed claims are each marked for recoupment, apart from the extrapolation
    recouped = Recoupment.objects.order_by("pk")
    assert [r.amount for r in recouped] == [Decimal("450.00"), Decimal("900.00"), Decimal("225.00")]
    assert {r.reason for r in recouped} == {"sample_audit"}
    assert appraisal["sample_overpayment"] == "1575.00"
    # here the sampled claims' own recoupments exceed the lower limit, which covers the
    # whole universe (sampled claims included): nothing more is demanded
    assert Decimal(appraisal["recovery"]) < Decimal("1575.00")
    assert (
        "USD 1,575.00 marked for recoupment on the sampled claims already covers it"
        in (appraisal["explanation"])
    )


def audit_simple(sample: Sample, verifier: User, supported: list[str]) -> None:
    for item, amount in zip(sample.items.order_by("position"), supported, strict=True):
        failed = Decimal(amount) < item.claim.payable_amount
        sampling.audit_sampled_claim(
            item=item,
            supported_amount=Decimal(amount),
            finding_codes=["VR-MISSING"] if failed else [],
            by=verifier,
            at=AUDITED,
        )


SIMPLE_SUPPORTED = ["900.00", "0.00", "900.00", "600.00", "900.00", "900.00", "0.00", "900.00"]


@pytest.mark.parametrize("pilot", [SIMPLE], indirect=True)
def test_simple_random_sample_extrapolates_with_students_t(
    pilot: Pilot, staff: dict[Role, User], verifier: User
):
    # given: 12 claims of M1 paid in March
    paid = pay(enrol(pilot, staff, 12), staff)
    # when: 8 drawn, audited (three failing: 900, 300 and 900 overpaid), appraised
    sample = sampling.draw_sample(pilot=pilot, period=MONTH, seed=5, by=verifier, at=DRAWN)
    assert (sample.strata, sample.design) == (
        [{"stratum": "", "population": 12, "sample": 8}],
        "simple",
    )
    audit_simple(sample, verifier, SIMPLE_SUPPORTED)
    made = sampling.appraise_sample(sample=sample, by=verifier, at=APPRAISED)
    # then
    found = differences(sample)[""]
    assert sorted(found) == [Decimal(d) for d in ("0", "0", "0", "0", "0", "300", "900", "900")]
    want = expected_appraisal([(12, found)], stratified=False)
    assert made.point_estimate == Decimal("3150.00")  # 12 × 2100 / 8
    assert close(made.standard_error, want["se"])
    assert (made.distribution, made.degrees_of_freedom) == ("t", 7)
    assert abs(float(made.detail["critical_value"]) - want["critical"]) < 1e-9
    assert close(made.lower, want["lower"]) and close(made.upper, want["upper"])
    assert made.recovery == made.lower > 0
    assert sum(r.amount for r in Recoupment.objects.all()) == made.sample_overpayment == 2100
    assert {r.claim_id for r in Recoupment.objects.all()} <= {c.pk for c in paid}
    assert "Student's t on 7 degrees of freedom" in made.detail["explanation"]


@pytest.mark.parametrize("pilot", [SIMPLE_NO_EXTRAPOLATION], indirect=True)
def test_without_extrapolation_only_the_failed_claims_are_recovered(
    pilot: Pilot, staff: dict[Role, User], verifier: User
):
    # given: the same claims and findings, under a rulebook that does not extrapolate
    pay(enrol(pilot, staff, 12), staff)
    sample = sampling.draw_sample(pilot=pilot, period=MONTH, seed=5, by=verifier, at=DRAWN)
    audit_simple(sample, verifier, SIMPLE_SUPPORTED)
    # when
    made = sampling.appraise_sample(sample=sample, by=verifier, at=APPRAISED)
    # then: the limits are still worked out and shown, but nothing is demanded for them
    assert made.point_estimate == Decimal("3150.00") and made.lower > 0
    assert made.recovery == Decimal("0.00") and made.detail["extrapolate"] is False
    assert "The rulebook does not extrapolate" in made.detail["explanation"]
    failed = [a for a in SampleAudit.objects.all() if a.supported_amount < a.paid_amount]
    assert sorted(r.audit_id for r in Recoupment.objects.all()) == sorted(a.pk for a in failed)
    assert sum(r.amount for r in Recoupment.objects.all()) == Decimal("2100.00")
