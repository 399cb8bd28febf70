"""C18 signals on small hand-built cases in recovery-2026 (riverside's staff walk the
real intake and claim actions): cherry-picking and missed acceptance floors, evidence
in a burst before its deadline, and one file offered for two participants.

Times: referrals on Monday 2 March 2026 (NOW), decisions a day later; P-0001 is
activated on Tuesday 3 March, so its M1 window (45 days) ends on Friday 17 April.
"""

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from fundpilot.governance import equity
from fundpilot.governance.actions.equity import run_equity_check
from fundpilot.participants.actions import intake
from fundpilot.participants.models import Participant
from fundpilot.pilots.models import User
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import (  # noqa: F401 (the media fixture)
    draft,
    media,
    pathway_participant_like,
    pdf_bytes,
    upload,
)
from tests.claims.conftest import RELEASED, pathway_participant  # noqa: F401 (fixtures)
from tests.conftest import NOW
from tests.participants.conftest import (  # noqa: F401 (fixtures)
    activate,
    activated_participant,
    admit,
    eligible_participant,
    load_register,
    payer_org,
    register,
    staff,
)

MARCH, APRIL = date(2026, 3, 1), date(2026, 4, 1)
CHECKED = datetime(2026, 5, 4, 17, 0, tzinfo=UTC)
MEMBERS = [f"WV-01{n:02d}" for n in range(1, 11)]
REGISTER = "member_id,payer,coverage_start,coverage_end,status\n" + "".join(
    f"{m},wvch,2026-01-01,2026-12-31,active\n" for m in MEMBERS
)


def reject(participant: Participant, people: dict[Role, User], at: datetime) -> None:
    intake.decide_activation(
        participant=participant,
        outcome="rejected",
        decision_code="R1",
        reason_code="R-DECLINED",
        review_date=participant.pilot.calendar.local_date(at),
        control_status="passed",
        by=people[Role.ACTIVATION_APPROVER],
        at=at,
    )


@pytest.fixture
def picked(pilot, staff):  # noqa: F811
    """Riverside activates its five low-acuity referrals and rejects its five high-acuity
    ones (two of them homeless), all decided on 3 March."""
    load_register(pilot, staff[Role.COMPLIANCE], REGISTER)
    decided = NOW + timedelta(days=1)
    for n, member in enumerate(MEMBERS):
        high = n >= 5
        p = admit(
            pilot,
            staff,
            participant_id=f"P-01{n:02d}",
            member_id=member,
            acuity_band="high" if high else "low",
            flags=("homeless",) if n in (5, 6) else ("smi",),
        )
        if high:
            reject(p, staff, decided)
        else:
            activate(p, staff, at=decided)
    return pilot


def test_accepting_low_acuity_and_rejecting_high_is_cherry_picking(picked):
    figures = equity.compute(picked, MARCH)

    (riverside,) = [c for c in figures["cherry_picking"] if c["provider"] == "riverside"]
    assert [(r["band"], r["count"], r["of"]) for r in riverside["ranks"]] == [
        ("low", 5, 5),
        ("high", 0, 5),
    ]
    # Cochran–Armitage by hand: ranks 0 and 2, p̄ = 1/2, x̄ = 1; T = 2·(0 − 5/2) = −5,
    # S_xx = 5·1 + 5·1 = 10, z = T / √(p̄(1 − p̄)·S_xx) = −5/√2.5.
    z = Decimal(-5) / Decimal("2.5").sqrt()
    assert riverside["statistic"] == str(z.quantize(Decimal("0.0001")))
    assert riverside["slope"] == "-0.5000"
    assert riverside["falling_with_acuity"] is True
    (signal,) = [s for s in figures["signals"] if s["kind"] == equity.CHERRY]
    assert (signal["subject"], signal["providers"]) == ("riverside", ["riverside"])
    records = signal["data"]["records"]
    assert sorted((r["participant"], r["band"], r["outcome"]) for r in records) == [
        (f"P-01{n:02d}", "high" if n >= 5 else "low", "rejected" if n >= 5 else "activated")
        for n in range(10)
    ]


def test_acceptance_floors_missed_are_findings_with_their_counts(picked, staff):  # noqa: F811
    check = run_equity_check(pilot=picked, month=MARCH, by=staff[Role.COMPLIANCE], at=CHECKED)

    floors = {f["cohort"]: f for f in check.figures["floors"]}
    assert (floors["high"]["count"], floors["high"]["of"], floors["high"]["status"]) == (
        0,
        5,
        "shortfall",
    )
    assert (floors["homeless"]["count"], floors["homeless"]["of"]) == (0, 2)
    assert floors["unstable-contact"]["status"] == "unchecked"  # nobody decided: not "met"
    found = [(f.kind, f.subject) for f in check.findings.order_by("pk")]
    assert found == [
        (equity.FLOOR, "homeless"),
        (equity.FLOOR, "high"),
        (equity.CHERRY, "riverside"),
    ]
    high = check.findings.get(subject="high")
    assert high.data["minimum_rate"] == "75"
    assert {r["participant"] for r in high.data["records"]} == {
        f"P-01{n:02d}" for n in range(5, 10)
    }
    assert high.data["providers"] == ["riverside"]


@pytest.mark.usefixtures("media")
def test_evidence_uploaded_just_before_the_deadline_is_a_burst(pathway_participant, staff):  # noqa: F811
    pilot = pathway_participant.pilot
    day_before = datetime(2026, 4, 16, 17, 0, tzinfo=UTC)  # 10:00 in Oregon, 16 April
    claim = draft(pathway_participant, "M1", staff, day_before)
    uploaded = sorted(claim.evidence_links.values_list("evidence_id", flat=True))
    assert len(uploaded) == 2

    figures = equity.compute(pilot, APRIL)

    (burst,) = [b for b in figures["bursts"] if b["provider"] == "riverside"]
    # Both uploads fall in the last 2 of the window's 46 days (3 March to 17 April).
    assert (burst["uploads"], burst["in_window"], burst["late"]) == (2, 2, 0)
    assert burst["observed_share"] == "1.0000"
    expected = Fraction(2, 46)
    assert burst["expected_share"] == str(
        (Decimal(expected.numerator) / expected.denominator).quantize(Decimal("0.0001"))
    )
    (signal,) = [s for s in figures["signals"] if s["kind"] == equity.BURST]
    assert signal["subject"] == "riverside"
    assert [r["evidence"] for r in signal["data"]["records"]] == uploaded
    for r in signal["data"]["records"]:
        assert (r["participant"], r["claim"], r["milestone"]) == ("P-0001", claim.reference, "M1")
        assert (r["available_from"], r["deadline"], r["uploaded_on"]) == (
            "2026-03-03",
            "2026-04-17",
            "2026-04-16",
        )
        assert r["in_window"] is True
    # March saw none of it.
    assert not any(s["kind"] == equity.BURST for s in equity.compute(pilot, MARCH)["signals"])


@pytest.mark.usefixtures("media")
def test_one_file_for_two_participants_is_identical_evidence(pathway_participant, staff):  # noqa: F811
    pilot = pathway_participant.pilot
    other = pathway_participant_like(pilot, staff, "P-0002", "WV-0002")
    content = pdf_bytes("one crisis plan for two people")
    frontline = staff[Role.FRONTLINE]
    first = upload(
        pathway_participant,
        "crisis_plan",
        frontline,
        RELEASED + timedelta(hours=1),
        content=content,
    )
    second = upload(other, "crisis_plan", frontline, RELEASED + timedelta(hours=2), content=content)
    upload(other, "med_rec", frontline, RELEASED + timedelta(hours=3))  # its own file

    figures = equity.compute(pilot, MARCH)

    (signal,) = [s for s in figures["signals"] if s["kind"] == equity.REUSE]
    digest = hashlib.sha256(content).hexdigest()
    assert signal["data"]["sha256"] == digest
    assert signal["subject"] == f"sha256:{digest[:16]}"
    assert signal["data"]["participants"] == 2
    assert [(r["evidence"], r["participant"]) for r in signal["data"]["records"]] == [
        (first.pk, "P-0001"),
        (second.pk, "P-0002"),
    ]
    assert signal["providers"] == ["riverside"]
    # Listed in the month of its uploads, not again in a month without them.
    assert equity.compute(pilot, APRIL)["reuse"] == []
    # Too few claims for a percentile: nothing is called fast.
    assert all(f["reason"] for f in figures["fast"])
