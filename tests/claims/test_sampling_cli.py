"""`fundpilot sample`, in-process against the test database: the draw exactly as the
issue writes it, then show, audit, appraise and list.

The universe is test_sampling_api.py's: six riverside participants paid M1 in March
2026, the first two also M2 (8 claims, 2 sampled). Commands take `at` from the clock,
so the tests travel to DRAWN (1 April 2026) first.
"""

import json

import pytest
import time_machine

from fundpilot.claims.models import Appraisal, Recoupment, Sample, SampleAudit
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules import sampling as draws
from fundpilot.rules.rulebook import SampleDesign
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import claims_snapshot
from tests.claims.sampling_fixtures import DRAWN, MONTH, enrol, pay
from tests.test_cli import run

PILOT = "recovery-2026"


@pytest.fixture
def paid(pilot: Pilot, staff: dict[Role, User]):
    participants = enrol(pilot, staff, 6)
    claims = pay(participants, staff)
    return claims + pay(participants[:2], staff, "M2", at=claims[-1].payable_at)


@pytest.fixture
def clock():
    with time_machine.travel(DRAWN, tick=False) as traveller:
        yield traveller


def draw(*extra: str):
    return run(
        "sample", "--pilot", PILOT, "--period", MONTH, "--seed", "42", "--by", "cv-verifier", *extra
    )


def test_sample_draws_and_prints_the_items(paid, verifier: User, clock):
    # when: exactly as the issue writes it
    result = draw()
    # then
    assert result.exit_code == 0, result.stderr
    sample = Sample.objects.get()
    assert f"{PILOT}: sample of {MONTH} (stratified, seed 42)" in result.stdout
    assert "2 of 8 claims paid (6600.00)" in result.stdout
    assert sample.universe_digest in result.stdout
    for item in sample.items.all():
        assert item.claim.reference in result.stdout


def test_sample_json_is_one_document_that_redraws_to_the_same_items(paid, verifier: User, clock):
    # when
    result = draw("--json")
    # then: the items, reproducible from the universe the document describes
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["period"], document["seed"], document["size"]) == (MONTH, 42, 2)
    units = [draws.Unit(c.reference, f"{c.milestone}|riverside", c.payable_amount) for c in paid]
    again = draws.draw(
        units, design=SampleDesign.STRATIFIED, size=None, rate=10, seed=document["seed"]
    )
    assert [i["reference"] for i in document["items"]] == [u.key for u in again.chosen]
    assert document["universe_digest"] == again.universe_digest


def test_sample_refuses_with_exit_2_and_writes_nothing(paid, verifier: User, clock):
    assert draw().exit_code == 0
    before = claims_snapshot()
    again = draw()
    assert again.exit_code == 2
    assert "already_drawn" in again.stderr
    early = run(
        "sample", "--pilot", PILOT, "--period", "2026-04", "--seed", "1", "--by", "cv-verifier"
    )
    assert early.exit_code == 2 and "bad_period" in early.stderr
    nobody = run(
        "sample", "--pilot", PILOT, "--period", "2026-02", "--seed", "1", "--by", "rs-frontline"
    )
    assert nobody.exit_code == 2 and "not_permitted" in nobody.stderr
    assert claims_snapshot() == before
    half = run("sample", "--pilot", PILOT, "--seed", "1", "--by", "cv-verifier")
    assert half.exit_code == 2 and "give --pilot, --period, --seed and --by" in half.stderr


def test_audit_appraise_show_and_list(paid, verifier: User, clock):
    # given
    assert draw().exit_code == 0
    first, second = (i.claim.reference for i in Sample.objects.get().items.order_by("position"))
    common = ("--pilot", PILOT, "--period", MONTH, "--by", "cv-verifier")
    # when: the M1 claim fails, refused first for want of a finding
    refused = run("sample", "audit", *common, "--claim", first, "--supported", "0.00")
    assert refused.exit_code == 2 and "finding_required" in refused.stderr
    failed = run(
        "sample",
        "audit",
        *common,
        "--claim",
        first,
        "--supported",
        "0.00",
        "--finding",
        "VR-REUSED",
    )
    assert failed.exit_code == 0, failed.stderr
    assert f"{first}: failed, 0.00 of 900.00 supported; 900.00 marked for recoupment" in (
        failed.stdout
    )
    passed = run("sample", "audit", *common, "--claim", second, "--supported", "600.00", "--json")
    assert json.loads(passed.stdout)["failed"] is False
    # and appraised
    appraised = run("sample", "appraise", *common)
    assert appraised.exit_code == 0, appraised.stderr
    assert "Extrapolated to all 8 claims, the overpayment is estimated at USD 5,400.00" in (
        " ".join(appraised.stdout.split())
    )
    # then
    assert (SampleAudit.objects.count(), Recoupment.objects.count()) == (2, 1)
    assert Appraisal.objects.get().recovery == 5400  # 6 × 900, no spread with one per stratum
    shown = json.loads(run("sample", "show", *common, "--json").stdout)
    assert shown["appraisal"]["recovery"] == "5400.00" and shown["audited"] == 2
    listed = run("sample", "list", "--pilot", PILOT, "--by", "cv-verifier", "--json")
    assert [s["period"] for s in json.loads(listed.stdout)["samples"]] == [MONTH]
    table = run("sample", "list", "--pilot", PILOT, "--by", "cv-verifier")
    assert MONTH in table.stdout and "5400.00" in table.stdout
