"""The rulebook schema and its cross-reference checks.

`FULL` is a small rulebook that uses every section, so each rule can be broken on
its own: a case sets (or deletes) one or two values by dotted path and names the
exact problems expected, path and message.
"""

import copy
import re
import tomllib
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fundpilot.rules.rulebook import (
    DecisionAction,
    PilotKind,
    Rulebook,
    RulebookInvalid,
    RulebookProblem,
    Scope,
    Tier,
    load_rulebook,
    parse_rulebook,
    rulebook_from_data,
)
from fundpilot.rules.vocabulary import Role

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

FULL = """
[pilot]
id = "test-pilot"
name = "Test pilot"
kind = "multi_payer"
summary = "A pilot that uses every section of the rulebook."
period_start = 2026-01-01
period_end = 2026-12-31
timezone = "America/Chicago"
holiday_calendar = "US-MN"
currency = "USD"

[[payers]]
id = "mco"
name = "Medicaid plan"
kind = "medicaid_mco"
contribution = "1000000.00"
reporting_cadence = "monthly"
allowable_uses = [
  { code = "milestones", label = "Milestone payments" },
  { code = "care", label = "Care management" },
]

[[payers]]
id = "county"
name = "County public health"
kind = "public_health"
contribution = "500000.00"
reporting_cadence = "quarterly"
allowable_uses = [
  { code = "milestones", label = "Milestone payments" },
  { code = "outreach", label = "Outreach" },
]

[payment_split]
milestone = [
  { payer = "mco", use = "milestones", share = 60 },
  { payer = "county", use = "milestones", share = 40 },
]
tranche = [
  { payer = "mco", use = "milestones", share = 50 },
  { payer = "county", use = "milestones", share = 50 },
]
pmpm = [{ payer = "mco", use = "care", share = 100 }]
episode = [{ payer = "mco", use = "care", share = 100 }]

[eligibility]
require_active_payer_eligibility = true
score_scale = "Function score 0–100"
baseline_score = { min = 20, max = 80 }
qualifying_service_categories = [{ code = "SMI", label = "Serious mental illness" }]
approved_tools = [
  { code = "whodas", name = "WHODAS 2.0", versions = ["2.0"] },
  { code = "locus", name = "LOCUS", versions = ["2020"] },
]
exclusion_reasons = [{ code = "EX-AREA", label = "Out of area" }]

[acuity]
tool = "locus"
bands = [{ code = "low", label = "Low" }, { code = "high", label = "High" }]
subpopulation_flags = [{ code = "homeless", label = "Homeless" }]

[equity]
review_cadence = "quarterly"
minimum_acceptance_rates = [{ cohort = "homeless", minimum_rate = 80 }]

[codes]
referral_sources = [{ code = "ED", label = "Emergency department" }]
activation_decisions = [
  { code = "A1", label = "Activated", outcome = "activated" },
  { code = "P1", label = "Pending", outcome = "pending" },
  { code = "R1", label = "Rejected", outcome = "rejected" },
]
rejection_reasons = [{ code = "R-SCORE", label = "Score out of range" }]
pending_reasons = [{ code = "P-ID", label = "ID mismatch" }]
removal_reasons = [{ code = "RM-MOVED", label = "Moved away" }]
barrier_categories = [{ code = "housing", label = "Housing" }]
escalation_thresholds = [{ code = "ESC-1", label = "No contact for 14 days" }]
stall_reasons = [{ code = "ST-1", label = "Lost contact" }]
verification_rejection_reasons = [{ code = "VR-1", label = "Evidence missing" }]
dispute_stages = [{ code = "D1", label = "Reconsideration" }, { code = "D2", label = "Panel" }]

[[milestone_stages]]
code = "S1"
label = "Stabilising"
baseline_score = { min = 50, max = 80 }

[[milestone_stages]]
code = "S2"
label = "Building"
baseline_score = { min = 20, max = 49 }

[[evidence_kinds]]
code = "contact"
label = "Face-to-face contact"

[[evidence_kinds]]
code = "plan"
label = "Signed care plan"

[[evidence_kinds]]
code = "protocol"
label = "Signed protocol"

[[evidence_kinds]]
code = "cases"
label = "Case log extract"

[[milestones]]
code = "M1"
name = "Engaged"
scope = "participant"
type = "engagement"
price = "500.00"
tier = "sampled"
window_days = 30
definition = "Three face-to-face contacts."
evidence = [{ kind = "contact", minimum = 3 }]

[[milestones.variants]]
code = "complex"
label = "Complex"
acuity_bands = ["high"]
flags = ["homeless"]
window_days = 60
price = "600.00"

[[milestones]]
code = "M2"
name = "Care plan"
scope = "participant"
type = "care_plan"
price = "1200.00"
tier = "independent"
window_days = 90
prerequisites = ["M1"]
definition = "A signed care plan."
evidence = [{ kind = "plan" }]

[[milestones]]
code = "C1"
name = "Protocol agreed"
scope = "contract"
type = "infrastructure"
tier = "independent"
due_date = 2026-03-31
definition = "All partners signed the protocol."
evidence = [{ kind = "protocol" }]

[[milestones]]
code = "C2"
name = "Pathway live"
scope = "contract"
type = "pathway_operational"
tier = "independent"
due_date = 2026-06-30
prerequisites = ["C1"]
definition = "Real cases go through the pathway."
evidence = [{ kind = "cases" }]

[[tranches]]
code = "T1"
name = "Infrastructure"
milestone = "C1"
amount = "100000.00"
criteria = [
  { code = "signed", label = "Protocol signed" },
  { code = "leads", label = "Leads named" },
]

[[tranches]]
code = "T2"
name = "Live"
milestone = "C2"
amount = "200000.00"
payer_split = [{ payer = "mco", use = "milestones", share = 100 }]
partial_release = "proportional"
minimum_criteria_met = 1
cure_period_days = 30
criteria = [
  { code = "cases", label = "20 real cases" },
  { code = "closure", label = "Referrals closed" },
]

[tranches.live_use]
minimum_real_cases = 20
minimum_referral_closure_rate = 80
quality_floors = [
  { measure = "follow-up", label = "Follow-up in 7 days", floor = 85, at_volume = 20 },
]

[[service_levels]]
code = "SL1"
name = "Core"
pmpm = "150.00"
authorised_by = "clinical_lead"
upgrade_to = "SL2"
upgrade_triggers = [
  { kind = "deterioration", indicator = "Acuity rises a band" },
  { kind = "unplanned_contacts", count = 3, within_days = 30 },
  { kind = "safeguarding" },
]

[[service_levels]]
code = "SL2"
name = "Intensive"
pmpm = "300.00"
authorised_by = "clinical_lead"
max_duration_days = 90

[baseline_package]
expected_contacts_per_month = 2
activity_types = [
  { code = "outreach", label = "Outreach" },
  { code = "monitoring", label = "Monitoring" },
]

[[episodes]]
code = "EP1"
name = "Crisis episode"
price = "800.00"
criteria = "Face-to-face within 24 hours of a crisis."
required_service_levels = ["SL2"]
unit_cap = 2
cap_period_days = 30
authorisation_required = true
authorised_by = "clinical_lead"

[deadlines]
eligibility_file = 1
activation_decision = 2
pathway_release = 3
service_level_decision = 2
progression_review_calendar_days = 14
verification = 5
dispute_resolution = 15
settlement_day_of_month = 10
assurance = "quarterly"

[sampling]
design = "simple"
size = 30
extrapolate = true

[[decision_rights]]
action = "approve_spend"
role = "finance"
payers = "*"
uses = "*"
max_amount = "25000.00"

[[decision_rights]]
action = "approve_spend"
role = "supervisor"
payers = ["county"]
uses = ["outreach"]
max_amount = "500.00"

[[decision_rights]]
action = "approve_exception"
role = "executive_sponsor"
payers = "*"
uses = "*"

[exception_route]
senior_role = "executive_sponsor"
retrospective_review_days = 10

[stop_loss]
episode_cost_above = "5000.00"
escalations_above = 3
escalation_period_days = 90

[variance]
cohort_percent = 10

[settlement]
numerator = "Roster participants who reached the milestone in its window"
denominator = "Roster participants whose window closed"
reassessment_window_days = 30
minimum_attainment_rate = 60
payment_trigger = "Supportable at 60% attainment or more."

[exit]
unwind = "pro_rata_contribution"
notice_days = 90
committed_obligations = "Work done before the stop date is paid."

[caseload]
default_max_active = 25
per_role = { frontline = 20 }
"""


def full() -> dict[str, Any]:
    return tomllib.loads(FULL)


def example(name: str) -> dict[str, Any]:
    return tomllib.loads((EXAMPLES / f"{name}.toml").read_text())


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _walk(data: Any, path: str) -> tuple[Any, str | int]:
    steps: list[str | int] = [int(index) if index else key for key, index in _STEP.findall(path)]
    for step in steps[:-1]:
        data = data[step]
    return data, steps[-1]


def put(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        parent, last = _walk(data, path)
        parent[last] = copy.deepcopy(value)

    return change


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        parent, last = _walk(data, path)
        del parent[last]

    return change


def append(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        parent, last = _walk(data, path)
        parent[last].append(copy.deepcopy(value))

    return change


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RulebookInvalid) as caught:
        rulebook_from_data(data)
    return [str(problem) for problem in caught.value.errors]


# --- a valid rulebook -----------------------------------------------------------------


def test_the_full_rulebook_is_valid() -> None:
    rb = parse_rulebook(FULL)

    assert rb.pilot.id == "test-pilot"
    assert rb.pilot.kind is PilotKind.MULTI_PAYER
    assert rb.pilot.period_start == date(2026, 1, 1)
    assert [p.id for p in rb.payers] == ["mco", "county"]
    assert rb.payers[0].contribution == Decimal("1000000.00")
    assert [m.code for m in rb.milestones] == ["M1", "M2", "C1", "C2"]
    assert rb.milestones[2].scope is Scope.CONTRACT
    assert rb.milestones[0].tier is Tier.SAMPLED
    assert rb.milestones[1].evidence[0].minimum == 1
    assert rb.sampling is not None
    assert rb.sampling.confidence == Decimal("0.90")
    assert rb.sampling.sided == "two"
    assert rb.decision_rights[0].payers == ("*",)
    assert rb.enrols_participants


def test_as_json_is_canonical_and_loads_back_to_an_equal_rulebook() -> None:
    rb = parse_rulebook(FULL)

    data = rb.as_json()

    assert data["payers"][0]["contribution"] == "1000000.00"
    assert data["milestones"][0]["price"] == "500.00"
    assert data["payment_split"]["milestone"][0]["share"] == "60"
    assert data["sampling"]["confidence"] == "0.90"
    assert data["pilot"]["period_end"] == "2026-12-31"
    assert data["decision_rights"][0]["payers"] == "*"
    assert data["decision_rights"][1]["payers"] == ["county"]
    assert data["caseload"]["per_role"] == {"frontline": 20}
    assert rulebook_from_data(data) == rb


def test_as_json_holds_no_floats() -> None:
    def floats(value: object) -> list[float]:
        if isinstance(value, float):
            return [value]
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return []

    assert floats(parse_rulebook(FULL).as_json()) == []


def test_an_exact_toml_float_amount_is_read_as_money() -> None:
    data = full()
    data["milestones"][0]["price"] = 512.5

    assert rulebook_from_data(data).milestones[0].price == Decimal("512.50")


def test_a_rulebook_is_immutable() -> None:
    rb = parse_rulebook(FULL)

    with pytest.raises(ValidationError):
        rb.pilot.name = "Renamed"  # type: ignore[misc]


def test_risk_adjusted_terms_take_the_most_generous_variant() -> None:
    data = full()
    data["milestones"][0]["variants"].append(
        {"code": "homeless", "label": "Homeless", "flags": ["homeless"], "window_days": 90}
    )
    m1 = rulebook_from_data(data).milestone("M1")

    assert m1.terms_for(acuity_band="low", flags=[]) == (Decimal("500.00"), 30)
    assert m1.terms_for(acuity_band="high", flags=[]) == (Decimal("600.00"), 60)
    assert m1.terms_for(acuity_band="low", flags=["homeless"]) == (Decimal("600.00"), 90)
    assert m1.terms_for(acuity_band=None, flags=["veteran"]) == (Decimal("500.00"), 30)


def test_tranche_release_follows_its_partial_release_rule() -> None:
    rb = parse_rulebook(FULL)
    all_or_nothing, proportional = rb.tranches

    assert all_or_nothing.release_amount(1) == Decimal("0.00")
    assert all_or_nothing.release_amount(2) == Decimal("100000.00")
    assert proportional.release_amount(0) == Decimal("0.00")
    assert proportional.release_amount(1) == Decimal("100000.00")
    assert proportional.release_amount(2) == Decimal("200000.00")


def test_proportional_release_rounds_to_the_cent() -> None:
    data = full()
    data["tranches"][1]["criteria"].append({"code": "third", "label": "A third criterion"})
    data["tranches"][1]["amount"] = "100000.00"
    tranche = rulebook_from_data(data).tranches[1]

    assert tranche.release_amount(1) == Decimal("33333.33")
    assert tranche.release_amount(2) == Decimal("66666.67")


def test_decision_rights_name_the_roles_that_may_decide() -> None:
    rb = parse_rulebook(FULL)
    spend = DecisionAction.APPROVE_SPEND

    assert rb.roles_that_may(spend, payer="county", use="outreach", amount=Decimal("400")) == {
        Role.FINANCE,
        Role.SUPERVISOR,
    }
    assert rb.roles_that_may(spend, payer="county", use="outreach", amount=Decimal("600")) == {
        Role.FINANCE
    }
    assert rb.roles_that_may(spend, payer="mco", use="care", amount=Decimal("30000")) == set()
    assert rb.roles_that_may(
        DecisionAction.APPROVE_EXCEPTION, payer="mco", use="care", amount=Decimal("30000")
    ) == {Role.EXECUTIVE_SPONSOR}


def test_lookups() -> None:
    rb = parse_rulebook(FULL)

    assert rb.payer("county").allows("outreach")
    assert not rb.payer("county").allows("care")
    assert rb.eligibility is not None
    assert rb.eligibility.approved_tools[0].approves("2.0")
    assert not rb.eligibility.approved_tools[0].approves("1.0")
    assert rb.caseload is not None
    assert rb.caseload.max_active(Role.FRONTLINE) == 20
    assert rb.caseload.max_active(Role.RECOVERY_LEAD) == 25
    with pytest.raises(KeyError):
        rb.milestone("M9")
    with pytest.raises(KeyError):
        rb.payer("state")


# --- loading --------------------------------------------------------------------------


def test_a_toml_syntax_error_names_line_and_column() -> None:
    with pytest.raises(RulebookInvalid) as caught:
        parse_rulebook('[pilot]\nid = "x"\nname = \n')

    assert caught.value.errors == [
        RulebookProblem("line 3, column 8", "invalid TOML: Invalid value")
    ]


def test_toml_errors_say_where_they_were_found() -> None:
    with pytest.raises(RulebookInvalid) as caught:
        parse_rulebook('[pilot]\nname = "unterminated\n')

    assert caught.value.errors == [
        RulebookProblem("line 2, column 21", "invalid TOML: Illegal character '\\n'")
    ]
    with pytest.raises(RulebookInvalid) as caught:
        parse_rulebook('[pilot]\nname = "a"\nname = "b"')

    assert caught.value.errors == [
        RulebookProblem("end of document", "invalid TOML: Cannot overwrite a value")
    ]


def test_load_rulebook_reports_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(RulebookInvalid) as caught:
        load_rulebook(missing)

    assert [str(p) for p in caught.value.errors] == [
        f"{missing}: cannot read file: No such file or directory"
    ]


def test_load_rulebook_reports_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "Caf\xe9"'.encode("latin-1"))

    with pytest.raises(RulebookInvalid) as caught:
        load_rulebook(path)

    [problem] = caught.value.errors
    assert problem.path == str(path)
    assert problem.message.startswith("cannot read file: 'utf-8' codec can't decode byte 0xe9")


def test_load_rulebook_reads_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "rulebook.toml"
    path.write_text(FULL, encoding="utf-8")

    assert load_rulebook(path) == parse_rulebook(FULL)


def test_the_error_lists_every_problem() -> None:
    error = RulebookInvalid(
        [RulebookProblem("pilot.id", "required"), RulebookProblem("exit", "required")]
    )

    assert str(RulebookProblem("pilot.id", "required")) == "pilot.id: required"
    assert str(error) == "rulebook is invalid (2 problems):\n  pilot.id: required\n  exit: required"


def test_schema_errors_are_all_collected_before_cross_references() -> None:
    data = full()
    data["milestones"][0]["pirce"] = data["milestones"][0].pop("price")
    data["deadlines"]["verification"] = 0
    data["milestones"][1]["prerequisites"] = ["M9"]  # a cross-reference problem

    assert problems_of(data) == [
        "milestones[0].pirce: unknown key; did you mean 'price'?",
        "deadlines.verification: must be greater than 0",
    ]


def test_an_empty_document_names_every_required_section() -> None:
    with pytest.raises(RulebookInvalid) as caught:
        parse_rulebook("")

    assert [str(p) for p in caught.value.errors] == [
        "pilot: required",
        "payers: required",
        "deadlines: required",
        "exit: required",
    ]


# --- each rule, broken on its own ------------------------------------------------------

Change = Callable[[dict[str, Any]], None]

SCHEMA_CASES: list[tuple[str, list[Change], list[str]]] = [
    (
        "unknown key with a suggestion",
        [put("milestones[0].pirce", "1.00")],
        ["milestones[0].pirce: unknown key; did you mean 'price'?"],
    ),
    (
        "unknown section",
        [put("surprise", {"a": 1})],
        ["surprise: unknown key"],
    ),
    ("missing field", [drop("milestones[0].tier")], ["milestones[0].tier: required"]),
    (
        "unknown enumeration value",
        [put("milestones[0].tier", "sample")],
        ["milestones[0].tier: 'sample' is not allowed; must be 'independent' or 'sampled'"],
    ),
    (
        "unknown action",
        [put("decision_rights[0].action", "approve_everything")],
        [
            "decision_rights[0].action: 'approve_everything' is not allowed; must be"
            " 'approve_spend', 'release_payment', 'approve_exception', 'activate',"
            " 'authorise_service_level', 'authorise_upgrade', 'approve_reallocation',"
            " 'approve_exit' or 'amend_rulebook'"
        ],
    ),
    (
        "unknown currency",
        [put("pilot.currency", "EUR")],
        ["pilot.currency: 'EUR' is not allowed; must be 'USD'"],
    ),
    (
        "money with more than two places",
        [put("milestones[0].price", "500.005")],
        ["milestones[0].price: 500.005 has more than 2 decimal places"],
    ),
    (
        "negative money",
        [put("payers[0].contribution", "-1.00")],
        ["payers[0].contribution: must not be negative"],
    ),
    (
        "a number written as text",
        [put("deadlines.verification", "5")],
        ["deadlines.verification: must be a valid integer"],
    ),
    (
        "a zero deadline",
        [put("deadlines.verification", 0)],
        ["deadlines.verification: must be greater than 0"],
    ),
    (
        "settlement day beyond the 28th",
        [put("deadlines.settlement_day_of_month", 29)],
        ["deadlines.settlement_day_of_month: must be less than or equal to 28"],
    ),
    (
        "a flag written as text",
        [put("milestones[0].reearnable", "yes")],
        ["milestones[0].reearnable: must be a valid boolean"],
    ),
    (
        "a code with a space",
        [put("milestones[0].code", "M 1")],
        ["milestones[0].code: 'M 1' is not a code: use up to 40 letters, digits, '-', '_' or '.'"],
    ),
    (
        "a pilot id that is not a slug",
        [put("pilot.id", "Test_Pilot")],
        [
            "pilot.id: 'Test_Pilot' is not a pilot id: 2–40 lowercase letters, digits or '-',"
            " starting with a letter"
        ],
    ),
    (
        "payers as a word other than *",
        [put("decision_rights[0].payers", "all")],
        ['decision_rights[0].payers: \'all\': write "*" for all, or a list such as ["a", "b"]'],
    ),
    (
        "a list written as a table",
        [put("milestones[1].prerequisites", {"M1": True})],
        ["milestones[1].prerequisites: must be a list"],
    ),
    (
        "an unknown role as a caseload key",
        [put("caseload.per_role", {"cfo": 3})],
        [
            "caseload.per_role.cfo: 'cfo' is not allowed; must be 'enrollment_manager',"
            " 'activation_approver', 'compliance', 'recovery_lead', 'frontline', 'supervisor',"
            " 'quality_reviewer', 'clinical_lead', 'verifier', 'finance', 'executive_sponsor',"
            " 'board_chair', 'payer_rep', 'assurance_reviewer', 'auditor' or 'administrator'"
        ],
    ),
    (
        "an empty evidence list",
        [put("milestones[0].evidence", [])],
        ["milestones[0].evidence: must list at least 1 item"],
    ),
    ("a blank name", [put("milestones[0].name", "  ")], ["milestones[0].name: must not be empty"]),
    (
        "an impossible date",
        [put("pilot.period_end", "2026-13-01")],
        [
            "pilot.period_end: must be a valid date or datetime, month value is outside"
            " expected range of 1-12"
        ],
    ),
    (
        "a percentage above 100",
        [put("payment_split.milestone[0].share", 160)],
        ["payment_split.milestone[0].share: 160 is not a percentage between 0 and 100"],
    ),
    (
        "a confidence written as a percentage",
        [put("sampling.confidence", 90)],
        ["sampling.confidence: 90 must be between 0 and 1, e.g. 0.90"],
    ),
]

CROSS_CASES: list[tuple[str, list[Change], list[str]]] = [
    # pilot
    (
        "period ends before it starts",
        [put("pilot.period_end", date(2025, 12, 31))],
        [
            "pilot.period_end: must be after period_start (2026-01-01)",
            "milestones[2].due_date: 2026-03-31 is outside the pilot period",
            "milestones[3].due_date: 2026-06-30 is outside the pilot period",
        ],
    ),
    (
        "unknown time zone",
        [put("pilot.timezone", "Mars/Olympus_Mons")],
        ["pilot.timezone: unknown time zone 'Mars/Olympus_Mons'; e.g. 'America/Chicago'"],
    ),
    (
        "unknown holiday calendar",
        [put("pilot.holiday_calendar", "US-XX")],
        ["pilot.holiday_calendar: unknown holiday calendar 'US-XX'; use 'US' or 'US-' and a state"],
    ),
    # payers and splits
    (
        "shares that do not sum to 100",
        [put("payment_split.milestone[0].share", 55)],
        ["payment_split.milestone: shares sum to 95, not 100"],
    ),
    (
        "shares with decimals that do not sum to 100",
        [put("payment_split.milestone[0].share", "59.99")],
        ["payment_split.milestone: shares sum to 99.99, not 100"],
    ),
    (
        "a share for an unknown payer",
        [put("payment_split.milestone[1].payer", "state")],
        ["payment_split.milestone[1].payer: unknown payer 'state'"],
    ),
    (
        "a share charged to a use the payer does not allow",
        [put("payment_split.pmpm[0].use", "outreach")],
        ["payment_split.pmpm[0].use: 'outreach' is not an allowable use of payer 'mco'"],
    ),
    (
        "a payer listed twice in a split",
        [put("payment_split.milestone[1].payer", "mco")],
        [
            "payment_split.milestone[1].payer: duplicate payer 'mco'"
            " (also payment_split.milestone[0])"
        ],
    ),
    (
        "a split missing for a payment type in use",
        [drop("payment_split.episode")],
        ["payment_split.episode: required: the rulebook pays for episodes; say which payers pay"],
    ),
    (
        "a tranche split that does not sum to 100",
        [put("tranches[1].payer_split[0].share", 90)],
        ["tranches[1].payer_split: shares sum to 90, not 100"],
    ),
    (
        "a duplicate payer",
        [append("payers", tomllib.loads(FULL)["payers"][1])],
        ["payers[2].id: duplicate payer id 'county' (also payers[1])"],
    ),
    (
        "a duplicate allowable use",
        [put("payers[0].allowable_uses[1].code", "milestones")],
        [
            "payers[0].allowable_uses[1].code: duplicate code 'milestones'"
            " (also payers[0].allowable_uses[0])",
            "payment_split.pmpm[0].use: 'care' is not an allowable use of payer 'mco'",
            "payment_split.episode[0].use: 'care' is not an allowable use of payer 'mco'",
        ],
    ),
    (
        "tranches that commit a payer beyond its contribution",
        [put("tranches[1].amount", "1000000.00")],
        [
            "tranches: tranches charge payer 'mco' $1,050,000.00, more than its contribution"
            " of $1,000,000.00"
        ],
    ),
    # eligibility, acuity, equity, codes, stages
    (
        "no eligibility in a pilot that enrols participants",
        [drop("eligibility")],
        [
            "eligibility: required: this pilot enrols participants",
            "acuity.tool: 'locus' is not in eligibility.approved_tools",
            "milestone_stages: stages map baseline scores, which needs [eligibility]",
        ],
    ),
    (
        "a duplicate tool version",
        [put("eligibility.approved_tools[0].versions", ["2.0", "2.0"])],
        [
            "eligibility.approved_tools[0].versions[1]: duplicate version '2.0'"
            " (also eligibility.approved_tools[0].versions[0])"
        ],
    ),
    (
        "an eligible score range upside down",
        [put("eligibility.baseline_score", {"min": 80, "max": 20})],
        [
            "eligibility.baseline_score.max: must not be below min (80)",
            "milestone_stages[0].baseline_score: 50–80 is outside the eligible range 80–20",
            "milestone_stages[1].baseline_score: 20–49 is outside the eligible range 80–20",
        ],
    ),
    (
        "an acuity tool that is not approved",
        [put("acuity.tool", "cans")],
        ["acuity.tool: 'cans' is not in eligibility.approved_tools"],
    ),
    (
        "an equity floor for an unknown cohort",
        [put("equity.minimum_acceptance_rates[0].cohort", "veteran")],
        [
            "equity.minimum_acceptance_rates[0].cohort: unknown cohort 'veteran':"
            " not an acuity band or subpopulation flag"
        ],
    ),
    (
        "a duplicate code in a code list",
        [append("codes.referral_sources", {"code": "ED", "label": "Emergency again"})],
        ["codes.referral_sources[1].code: duplicate code 'ED' (also codes.referral_sources[0])"],
    ),
    (
        "a missing code list the controls need",
        [put("codes.stall_reasons", [])],
        ["codes.stall_reasons: required: C6 codes every stalled case"],
    ),
    (
        "activation decisions without every outcome",
        [
            put(
                "codes.activation_decisions",
                [{"code": "A1", "label": "Yes", "outcome": "activated"}],
            )
        ],
        ["codes.activation_decisions: no code for outcome pending, rejected"],
    ),
    (
        "no verification rejection reasons",
        [drop("codes.verification_rejection_reasons")],
        ["codes.verification_rejection_reasons: required: C9 codes every rejection"],
    ),
    (
        "no dispute stages",
        [drop("codes.dispute_stages")],
        ["codes.dispute_stages: required: C11 moves every dispute through stages"],
    ),
    (
        "a stage range upside down",
        [put("milestone_stages[1].baseline_score", {"min": 49, "max": 20})],
        ["milestone_stages[1].baseline_score.max: must not be below min (49)"],
    ),
    (
        "a stage outside the eligible range",
        [put("milestone_stages[0].baseline_score.max", 90)],
        ["milestone_stages[0].baseline_score: 50–90 is outside the eligible range 20–80"],
    ),
    (
        "overlapping stages",
        [put("milestone_stages[1].baseline_score.max", 55)],
        ["milestone_stages[1].baseline_score: overlaps milestone_stages[0] (S1)"],
    ),
    (
        "no stages for participant milestones",
        [put("milestone_stages", [])],
        ["milestone_stages: required: C4 places each pathway at a stage"],
    ),
    # milestones
    (
        "an unknown prerequisite",
        [put("milestones[1].prerequisites", ["M9"])],
        ["milestones[1].prerequisites[0]: unknown milestone 'M9'"],
    ),
    (
        "prerequisites in a cycle",
        [put("milestones[0].prerequisites", ["M2"])],
        ["milestones[0].prerequisites: prerequisites form a cycle: M1 → M2 → M1"],
    ),
    (
        "a milestone that is its own prerequisite",
        [put("milestones[3].prerequisites", ["C2"])],
        ["milestones[3].prerequisites: prerequisites form a cycle: C2 → C2"],
    ),
    (
        "a prerequisite of the other scope",
        [put("milestones[1].prerequisites", ["C1"])],
        [
            "milestones[1].prerequisites[0]: 'C1' is a contract milestone; a participant"
            " milestone can only follow participant milestones"
        ],
    ),
    (
        "a repeated prerequisite",
        [put("milestones[1].prerequisites", ["M1", "M1"])],
        [
            "milestones[1].prerequisites[1]: duplicate prerequisite 'M1'"
            " (also milestones[1].prerequisites[0])"
        ],
    ),
    (
        "a duplicate milestone code",
        [put("milestones[1].code", "M1"), put("milestones[1].prerequisites", [])],
        ["milestones[1].code: duplicate code 'M1' (also milestones[0])"],
    ),
    (
        "an undefined evidence kind",
        [put("milestones[0].evidence[0].kind", "selfie")],
        ["milestones[0].evidence[0].kind: unknown evidence kind 'selfie'"],
    ),
    (
        "the same evidence kind twice",
        [append("milestones[0].evidence", {"kind": "contact", "minimum": 1})],
        [
            "milestones[0].evidence[1].kind: duplicate kind 'contact'"
            " (also milestones[0].evidence[0])"
        ],
    ),
    (
        "a duplicate evidence kind definition",
        [append("evidence_kinds", {"code": "plan", "label": "Plan again"})],
        ["evidence_kinds[4].code: duplicate code 'plan' (also evidence_kinds[1])"],
    ),
    (
        "a participant milestone of a contract type",
        [put("milestones[0].type", "infrastructure")],
        ["milestones[0].type: 'infrastructure' is a contract milestone type"],
    ),
    (
        "a contract milestone of a participant type",
        [put("milestones[2].type", "engagement")],
        ["milestones[2].type: 'engagement' is a participant milestone type"],
    ),
    (
        "a participant milestone without a price",
        [drop("milestones[1].price")],
        ["milestones[1].price: required for a participant milestone"],
    ),
    (
        "a participant milestone with a due date",
        [put("milestones[1].due_date", date(2026, 5, 1))],
        ["milestones[1].due_date: participant milestones use window_days from activation"],
    ),
    (
        "a contract milestone with a price",
        [put("milestones[2].price", "10.00")],
        ["milestones[2].price: contract milestones are paid through their tranche"],
    ),
    (
        "a sampled contract milestone",
        [put("milestones[2].tier", "sampled")],
        ["milestones[2].tier: contract milestones are verified independently"],
    ),
    (
        "a contract milestone with a window",
        [put("milestones[2].window_days", 30)],
        ["milestones[2].window_days: contract milestones use a due_date, not a window"],
    ),
    (
        "a re-earnable contract milestone",
        [put("milestones[2].reearnable", True)],
        ["milestones[2].reearnable: only participant milestones can be re-earned"],
    ),
    (
        "a contract milestone due after the pilot",
        [put("milestones[3].due_date", date(2027, 1, 15))],
        ["milestones[3].due_date: 2027-01-15 is outside the pilot period"],
    ),
    (
        "a risk variant on a contract milestone",
        [put("milestones[2].variants", [{"code": "x", "label": "X", "flags": ["homeless"]}])],
        [
            "milestones[2].variants: risk adjustment applies to participant milestones only",
            "milestones[2].variants[0]: must adjust window_days or price",
        ],
    ),
    (
        "a variant for nobody",
        [drop("milestones[0].variants[0].acuity_bands"), drop("milestones[0].variants[0].flags")],
        ["milestones[0].variants[0]: name the acuity_bands or flags it applies to"],
    ),
    (
        "a variant that adjusts nothing",
        [drop("milestones[0].variants[0].window_days"), drop("milestones[0].variants[0].price")],
        ["milestones[0].variants[0]: must adjust window_days or price"],
    ),
    (
        "a variant window on a milestone without one",
        [drop("milestones[0].window_days")],
        ["milestones[0].variants[0].window_days: the milestone has no window to adjust"],
    ),
    (
        "a variant for an unknown band and flag",
        [
            put("milestones[0].variants[0].acuity_bands", ["extreme"]),
            put("milestones[0].variants[0].flags", ["veteran"]),
        ],
        [
            "milestones[0].variants[0].acuity_bands[0]: unknown acuity band 'extreme'",
            "milestones[0].variants[0].flags[0]: unknown subpopulation flag 'veteran'",
        ],
    ),
    (
        "two variants with one code",
        [append("milestones[0].variants", {"code": "complex", "label": "Again", "price": "700"})],
        [
            "milestones[0].variants[1].code: duplicate code 'complex'"
            " (also milestones[0].variants[0])",
            "milestones[0].variants[1]: name the acuity_bands or flags it applies to",
        ],
    ),
    # tranches
    (
        "a tranche for an unknown milestone",
        [put("tranches[0].milestone", "C9")],
        ["tranches[0].milestone: unknown milestone 'C9'"],
    ),
    (
        "a tranche for a participant milestone",
        [put("tranches[0].milestone", "M1")],
        ["tranches[0].milestone: 'M1' is a participant milestone"],
    ),
    (
        "two tranches for one milestone",
        [put("tranches[1].milestone", "C1")],
        ["tranches[1].milestone: 'C1' already has tranche 'T1'"],
    ),
    (
        "a duplicate tranche code",
        [put("tranches[1].code", "T1")],
        ["tranches[1].code: duplicate code 'T1' (also tranches[0])"],
    ),
    (
        "a live pathway tranche without live-use evidence",
        [drop("tranches[1].live_use")],
        ["tranches[1].live_use: required: a pathway_operational milestone is proven on real cases"],
    ),
    (
        "proportional release without criteria",
        [put("tranches[1].criteria", []), drop("tranches[1].minimum_criteria_met")],
        ["tranches[1].criteria: proportional release needs criteria to count"],
    ),
    (
        "a minimum of criteria for all-or-nothing release",
        [put("tranches[0].minimum_criteria_met", 1)],
        ["tranches[0].minimum_criteria_met: only for proportional release"],
    ),
    (
        "a minimum above the number of criteria",
        [put("tranches[1].minimum_criteria_met", 3)],
        ["tranches[1].minimum_criteria_met: 3 is more than the 2 criteria"],
    ),
    (
        "a duplicate criterion",
        [put("tranches[0].criteria[1].code", "signed")],
        ["tranches[0].criteria[1].code: duplicate code 'signed' (also tranches[0].criteria[0])"],
    ),
    (
        "a quality floor measured twice",
        [
            append(
                "tranches[1].live_use.quality_floors",
                tomllib.loads(FULL)["tranches"][1]["live_use"]["quality_floors"][0],
            )
        ],
        [
            "tranches[1].live_use.quality_floors[1].measure: duplicate measure 'follow-up'"
            " (also tranches[1].live_use.quality_floors[0])"
        ],
    ),
    # service levels, episodes, baseline package
    (
        "an upgrade to an unknown level",
        [put("service_levels[0].upgrade_to", "SL9")],
        ["service_levels[0].upgrade_to: unknown service level 'SL9'"],
    ),
    (
        "an upgrade to itself",
        [put("service_levels[0].upgrade_to", "SL1")],
        ["service_levels[0].upgrade_to: a level cannot upgrade to itself"],
    ),
    (
        "an upgrade without triggers",
        [drop("service_levels[0].upgrade_triggers")],
        ["service_levels[0].upgrade_triggers: required: C3 upgrades cite objective triggers"],
    ),
    (
        "triggers without an upgrade",
        [drop("service_levels[0].upgrade_to")],
        ["service_levels[0].upgrade_triggers: triggers need an upgrade_to level"],
    ),
    (
        "trigger details missing or out of place",
        [
            drop("service_levels[0].upgrade_triggers[0].indicator"),
            drop("service_levels[0].upgrade_triggers[1].within_days"),
            put("service_levels[0].upgrade_triggers[2].count", 1),
        ],
        [
            "service_levels[0].upgrade_triggers[0].indicator: required when kind is"
            " 'deterioration'",
            "service_levels[0].upgrade_triggers[1].within_days: required when kind is"
            " 'unplanned_contacts'",
            "service_levels[0].upgrade_triggers[2].count: not used when kind is 'safeguarding'",
        ],
    ),
    (
        "two triggers of one kind",
        [append("service_levels[0].upgrade_triggers", {"kind": "safeguarding"})],
        [
            "service_levels[0].upgrade_triggers[3].kind: duplicate trigger kind 'safeguarding'"
            " (also service_levels[0].upgrade_triggers[2])"
        ],
    ),
    (
        "upgrades in a cycle",
        [
            put("service_levels[1].upgrade_to", "SL1"),
            put("service_levels[1].upgrade_triggers", [{"kind": "safeguarding"}]),
        ],
        ["service_levels[0].upgrade_to: upgrades go round in a cycle: SL1 → SL2 → SL1"],
    ),
    (
        "a duplicate service level",
        [append("service_levels", tomllib.loads(FULL)["service_levels"][1])],
        ["service_levels[2].code: duplicate code 'SL2' (also service_levels[1])"],
    ),
    (
        "an episode for an unknown level",
        [put("episodes[0].required_service_levels", ["SL3"])],
        ["episodes[0].required_service_levels[0]: unknown service level 'SL3'"],
    ),
    (
        "an authorised episode without its authoriser",
        [drop("episodes[0].authorised_by")],
        ["episodes[0].authorised_by: required when authorisation_required is true"],
    ),
    (
        "an authoriser for an episode that needs none",
        [put("episodes[0].authorisation_required", False)],
        ["episodes[0].authorised_by: only when authorisation_required is true"],
    ),
    (
        "a cap period without a cap",
        [drop("episodes[0].unit_cap")],
        ["episodes[0].cap_period_days: a cap period needs a unit_cap"],
    ),
    (
        "baseline work that is also an episode",
        [put("baseline_package.activity_types[0].code", "EP1")],
        [
            "baseline_package.activity_types[0].code: 'EP1' is also an episode;"
            " baseline work is never billable"
        ],
    ),
    # deadlines
    (
        "participant deadlines missing",
        [drop("deadlines.pathway_release"), drop("deadlines.progression_review_calendar_days")],
        [
            "deadlines.pathway_release: required: this pilot enrols participants",
            "deadlines.progression_review_calendar_days: required: this pilot enrols participants",
        ],
    ),
    (
        "no decision time for service levels",
        [drop("deadlines.service_level_decision")],
        ["deadlines.service_level_decision: required: this pilot has service levels"],
    ),
    (
        "no verification deadline",
        [drop("deadlines.verification")],
        ["deadlines.verification: required: this pilot verifies milestones"],
    ),
    # sampling
    (
        "sampled milestones without sampling",
        [drop("sampling")],
        ["milestones[0].tier: sampled milestones need a [sampling] section"],
    ),
    (
        "sampling that leaves out the sampled tier",
        [put("sampling.tiers", ["independent"])],
        ["sampling.tiers: must include 'sampled': only the sample checks those claims"],
    ),
    (
        "both size and rate",
        [put("sampling.rate", 10)],
        ["sampling: give either size or rate"],
    ),
    ("neither size nor rate", [drop("sampling.size")], ["sampling: give either size or rate"]),
    (
        "a stratified design without strata",
        [put("sampling.design", "stratified")],
        ["sampling.strata: required for a stratified design"],
    ),
    (
        "a simple design with strata",
        [put("sampling.strata", ["provider"])],
        ["sampling.strata: a simple random sample has no strata"],
    ),
    (
        "a stratum listed twice",
        [put("sampling.design", "stratified"), put("sampling.strata", ["provider", "provider"])],
        ["sampling.strata[1]: duplicate stratum 'provider' (also sampling.strata[0])"],
    ),
    # decision rights
    (
        "a decision right for an unknown payer",
        [put("decision_rights[1].payers", ["state"])],
        ["decision_rights[1].payers[0]: unknown payer 'state'"],
    ),
    (
        "a decision right for a use of another payer",
        [put("decision_rights[1].uses", ["care"])],
        ["decision_rights[1].uses[0]: 'care' is not an allowable use of payers county"],
    ),
    (
        "a use no payer allows",
        [put("decision_rights[0].uses", ["housing"])],
        ["decision_rights[0].uses[0]: 'housing' is not an allowable use of any payer"],
    ),
    (
        "a use listed twice",
        [put("decision_rights[1].uses", ["outreach", "outreach"])],
        [
            "decision_rights[1].uses[1]: duplicate entry 'outreach'"
            " (also decision_rights[1].uses[0])"
        ],
    ),
    (
        "* inside a list",
        [put("decision_rights[1].payers", ["county", "*"])],
        ["decision_rights[1].payers: '*' means all; write it alone, not in a list"],
    ),
    (
        "the same decision right twice",
        [append("decision_rights", tomllib.loads(FULL)["decision_rights"][0])],
        [
            "decision_rights[3]: duplicate decision right 'approve_spend/finance/*'"
            " (also decision_rights[0])"
        ],
    ),
    (
        "an exception route whose senior role may not approve exceptions",
        [put("exception_route.senior_role", "board_chair")],
        ["exception_route.senior_role: no decision right lets 'board_chair' approve_exception"],
    ),
    # stop-loss
    (
        "escalations without their period",
        [drop("stop_loss.escalation_period_days")],
        ["stop_loss: give escalations_above and escalation_period_days together"],
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(changes, expected, id=name)
        for name, changes, expected in SCHEMA_CASES + CROSS_CASES
    ],
)
def test_a_broken_rule_is_reported_with_its_path(
    changes: list[Change], expected: list[str]
) -> None:
    data = full()
    for change in changes:
        change(data)

    assert problems_of(data) == expected


KIND_CASES: list[tuple[str, str, str, list[str]]] = [
    (
        "discharge-pathway",
        "milestone",
        "a milestone pilot without participant milestones",
        ["milestones: a milestone pilot needs at least one participant milestone"],
    ),
    (
        "functional-recovery",
        "staged_contract",
        "a staged-contract pilot without tranches",
        ["tranches: a staged-contract pilot needs at least one tranche"],
    ),
    (
        "functional-recovery",
        "blended_rate",
        "a blended-rate pilot without service levels",
        [
            "service_levels: a blended-rate pilot needs at least one service level",
            "baseline_package: required: a blended-rate pilot's PMPM buys a package",
        ],
    ),
    (
        "functional-recovery",
        "multi_payer",
        "a multi-payer pilot with one payer",
        ["payers: a multi-payer pilot needs at least 2 payers"],
    ),
    (
        "discharge-pathway",
        "multi_payer",
        "a multi-payer pilot with no spend approver",
        ["decision_rights: a multi-payer pilot must say who may approve spend"],
    ),
]


@pytest.mark.parametrize(
    ("base", "kind", "expected"),
    [pytest.param(base, kind, expected, id=name) for base, kind, name, expected in KIND_CASES],
)
def test_each_kind_of_pilot_needs_its_sections(base: str, kind: str, expected: list[str]) -> None:
    data = example(base)
    data["pilot"]["kind"] = kind

    assert problems_of(data) == expected


def test_a_split_for_a_payment_type_not_in_use_is_refused() -> None:
    data = example("functional-recovery")
    data["payment_split"]["pmpm"] = [{"payer": "wvch", "use": "recovery_milestones", "share": 100}]

    assert problems_of(data) == [
        "payment_split.pmpm: not used: the rulebook pays for no service levels"
    ]


def test_stages_without_eligibility_are_refused() -> None:
    data = example("discharge-pathway")
    data["milestone_stages"] = [
        {"code": "S1", "label": "Any", "baseline_score": {"min": 0, "max": 1}}
    ]

    assert problems_of(data) == [
        "milestone_stages: stages map baseline scores, which needs [eligibility]"
    ]


def test_every_problem_is_reported_not_just_the_first() -> None:
    data = full()
    data["pilot"]["timezone"] = "Nowhere/Land"
    data["milestones"][1]["prerequisites"] = ["M9"]
    data["payment_split"]["milestone"][0]["share"] = 50
    data["decision_rights"][1]["payers"] = ["state"]

    assert problems_of(data) == [
        "pilot.timezone: unknown time zone 'Nowhere/Land'; e.g. 'America/Chicago'",
        "payment_split.milestone: shares sum to 90, not 100",
        "milestones[1].prerequisites[0]: unknown milestone 'M9'",
        "decision_rights[1].payers[0]: unknown payer 'state'",
    ]


def test_rulebook_json_schema_round_trip_keeps_types() -> None:
    rb = rulebook_from_data(parse_rulebook(FULL).as_json())

    assert isinstance(rb, Rulebook)
    assert rb.milestones[2].due_date == date(2026, 3, 31)
    assert rb.tranches[1].live_use is not None
    assert rb.tranches[1].live_use.quality_floors[0].floor == Decimal("85")
