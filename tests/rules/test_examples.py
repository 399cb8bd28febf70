"""The example rulebooks in examples/ are valid and say what a reader expects."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from fundpilot.rules.rulebook import (
    DecisionAction,
    PaymentType,
    PilotKind,
    Rulebook,
    Scope,
    Tier,
    load_rulebook,
    rulebook_from_data,
)
from fundpilot.rules.rulebook_diff import diff_rulebooks
from fundpilot.rules.vocabulary import Role

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.toml"))


def load(name: str) -> Rulebook:
    return load_rulebook(EXAMPLES / f"{name}.toml")


def test_there_are_four_examples() -> None:
    assert [p.name for p in EXAMPLE_FILES] == [
        "blended-rate.toml",
        "discharge-pathway.toml",
        "functional-recovery.toml",
        "multi-payer.toml",
    ]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example_is_valid_and_round_trips(path: Path) -> None:
    rb = load_rulebook(path)

    assert rulebook_from_data(rb.as_json()) == rb
    assert diff_rulebooks(rb, rb) == []
    assert rb.pilot.period_start <= date(2026, 11, 23) <= rb.pilot.period_end


def test_examples_have_distinct_ids_and_one_of_each_kind() -> None:
    pilots = {load_rulebook(p).pilot.id: load_rulebook(p).pilot.kind for p in EXAMPLE_FILES}

    assert pilots == {
        "blended-2026": PilotKind.BLENDED_RATE,
        "discharge-2026": PilotKind.STAGED_CONTRACT,
        "recovery-2026": PilotKind.MILESTONE,
        "pooled-2026": PilotKind.MULTI_PAYER,
    }


def test_functional_recovery() -> None:
    rb = load("functional-recovery")

    assert (rb.pilot.holiday_calendar, rb.pilot.timezone) == ("US-OR", "America/Los_Angeles")
    assert [(m.code, m.type.value, m.price, m.tier) for m in rb.milestones] == [
        ("M1", "stabilisation", Decimal("900.00"), Tier.SAMPLED),
        ("M2", "engagement", Decimal("600.00"), Tier.SAMPLED),
        ("M3", "care_plan", Decimal("1200.00"), Tier.INDEPENDENT),
        ("M4", "housing_step", Decimal("1500.00"), Tier.INDEPENDENT),
        ("M5", "sustained_follow_up", Decimal("2000.00"), Tier.INDEPENDENT),
    ]
    # Every independently verified milestone is worth more than every sampled one.
    sampled = [m.price for m in rb.milestones if m.tier is Tier.SAMPLED]
    independent = [m.price for m in rb.milestones if m.tier is Tier.INDEPENDENT]
    assert max(p for p in sampled if p) < min(p for p in independent if p)
    assert rb.eligibility is not None
    assert {t.name: t.versions for t in rb.eligibility.approved_tools}[
        "WHODAS 2.0, 12-item interviewer-administered"
    ] == ("2.0",)
    assert rb.eligibility.require_active_payer_eligibility
    assert rb.sampling is not None
    assert (rb.sampling.confidence, rb.sampling.sided, rb.sampling.rate) == (
        Decimal("0.90"),
        "two",
        Decimal("10"),
    )
    deadlines = rb.deadlines
    assert (
        deadlines.eligibility_file,
        deadlines.activation_decision,
        deadlines.pathway_release,
        deadlines.verification,
        deadlines.progression_review_calendar_days,
    ) == (1, 2, 3, 5, 14)
    assert rb.milestone("M4").terms_for(acuity_band="low", flags=["homeless"]) == (
        Decimal("1750.00"),
        240,
    )


def test_discharge_pathway() -> None:
    rb = load("discharge-pathway")

    assert [(t.code, t.milestone, t.amount) for t in rb.tranches] == [
        ("T1", "C1", Decimal("250000.00")),
        ("T2", "C2", Decimal("350000.00")),
        ("T3", "C3", Decimal("400000.00")),
        ("T4", "C4", Decimal("500000.00")),
    ]
    assert [rb.milestone(t.milestone).type.value for t in rb.tranches] == [
        "infrastructure",
        "pathway_operational",
        "pathway_operational",
        "performance",
    ]
    assert all(m.scope is Scope.CONTRACT for m in rb.milestones)
    assert [t.live_use is not None for t in rb.tranches] == [False, True, True, True]
    t4 = rb.tranches[3]
    assert t4.live_use is not None
    assert [(f.measure, f.floor, f.at_volume) for f in t4.live_use.quality_floors] == [
        ("med-rec-48h", Decimal("90"), 400),
        ("follow-up-7d", Decimal("85"), 400),
    ]
    assert rb.tranches[2].release_amount(2) == Decimal("266666.67")
    assert rb.tranches[2].release_amount(1) == Decimal("0.00")
    assert sum(t.amount for t in rb.tranches) == sum(p.contribution for p in rb.payers)
    assert not rb.enrols_participants


def test_blended_rate() -> None:
    rb = load("blended-rate")

    assert [(s.code, s.pmpm, s.upgrade_to) for s in rb.service_levels] == [
        ("SL1", Decimal("145.00"), "SL2"),
        ("SL2", Decimal("310.00"), "SL3"),
        ("SL3", Decimal("620.00"), None),
    ]
    assert [t.kind.value for t in rb.service_levels[0].upgrade_triggers] == [
        "deterioration",
        "unplanned_contacts",
        "safeguarding",
    ]
    crisis = rb.episodes[0]
    assert (crisis.code, crisis.price, crisis.unit_cap, crisis.authorised_by) == (
        "EP-CRISIS",
        Decimal("850.00"),
        3,
        Role.CLINICAL_LEAD,
    )
    assert rb.baseline_package is not None
    assert [a.code for a in rb.baseline_package.activity_types] == [
        "outreach",
        "care_planning",
        "pcp_coordination",
        "benefits",
        "monitoring",
    ]
    assert rb.stop_loss is not None
    assert rb.stop_loss.episode_cost_above == Decimal("5000.00")
    assert rb.milestones == ()


def test_multi_payer() -> None:
    rb = load("multi-payer")

    assert [(p.id, p.kind.value, p.contribution) for p in rb.payers] == [
        ("medicaid", "medicaid_mco", Decimal("1500000.00")),
        ("county", "public_health", Decimal("600000.00")),
        ("fund", "local_fund", Decimal("400000.00")),
    ]
    split = rb.payment_split.for_type(PaymentType.MILESTONE)
    assert [(s.payer, s.share) for s in split] == [
        ("medicaid", Decimal("50")),
        ("county", Decimal("30")),
        ("fund", Decimal("20")),
    ]
    assert sum(s.share for s in split) == 100
    assert rb.exception_route is not None
    assert rb.exception_route.senior_role is Role.EXECUTIVE_SPONSOR
    spend = DecisionAction.APPROVE_SPEND
    assert rb.roles_that_may(spend, payer="fund", use="transport", amount=Decimal("400.00")) == {
        Role.SUPERVISOR,
        Role.FINANCE,
        Role.EXECUTIVE_SPONSOR,
    }
    assert rb.roles_that_may(
        spend, payer="medicaid", use="care_coordination", amount=Decimal("200000.00")
    ) == {Role.PAYER_REP}
    assert rb.roles_that_may(spend, payer="county", use="outreach", amount=Decimal("300000")) == (
        set()
    )
