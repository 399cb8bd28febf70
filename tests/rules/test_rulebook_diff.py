import copy
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from fundpilot.rules.rulebook import load_rulebook, rulebook_from_data
from fundpilot.rules.rulebook_diff import diff_rulebooks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Edit = Callable[[dict[str, Any]], None]


def data_of(name: str) -> dict[str, Any]:
    return tomllib.loads((EXAMPLES / f"{name}.toml").read_text())


def diff_after(name: str, edit: Edit, before: Edit | None = None) -> list[str]:
    """The diff from an example (optionally edited by `before`) to it edited by `edit`."""
    old = data_of(name)
    if before is not None:
        before(old)
    new = copy.deepcopy(old)
    edit(new)
    return diff_rulebooks(rulebook_from_data(old), rulebook_from_data(new))


def test_identical_rulebooks_have_no_differences() -> None:
    rb = load_rulebook(EXAMPLES / "multi-payer.toml")

    assert diff_rulebooks(rb, rulebook_from_data(rb.as_json())) == []


def test_reordering_lists_is_not_a_change() -> None:
    def reorder(d: dict[str, Any]) -> None:
        for key in ("payers", "milestones", "evidence_kinds", "decision_rights"):
            d[key].reverse()
        d["payment_split"]["milestone"].reverse()
        d["payers"][0]["allowable_uses"].reverse()
        d["codes"]["rejection_reasons"].reverse()
        d["milestones"][0]["evidence"].reverse()

    assert diff_after("multi-payer", reorder) == []


def test_a_price_change() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["milestones"][2]["price"] = "1350.00"

    assert diff_after("functional-recovery", edit) == [
        'milestone M3 "Care plan complete": price changed from $1,200.00 to $1,350.00'
    ]


def test_a_decision_right_limit_raised_and_lowered() -> None:
    def finance_for_medicaid(d: dict[str, Any]) -> None:
        d["decision_rights"][2]["payers"] = ["medicaid"]

    def raise_limit(d: dict[str, Any]) -> None:
        d["decision_rights"][2]["max_amount"] = "50000.00"

    def lower_limit(d: dict[str, Any]) -> None:
        d["decision_rights"][2]["max_amount"] = "10000.00"

    assert diff_after("multi-payer", raise_limit, before=finance_for_medicaid) == [
        "decision right approve_spend/finance/medicaid: limit raised from $25,000.00 to $50,000.00"
    ]
    assert diff_after("multi-payer", lower_limit, before=finance_for_medicaid) == [
        "decision right approve_spend/finance/medicaid: limit lowered from $25,000.00 to $10,000.00"
    ]


def test_a_decision_right_limit_removed_and_set() -> None:
    def no_limit(d: dict[str, Any]) -> None:
        del d["decision_rights"][3]["max_amount"]

    def limit(d: dict[str, Any]) -> None:
        d["decision_rights"][0]["max_amount"] = "0.00"

    assert diff_after("multi-payer", no_limit) == [
        "decision right approve_spend/executive_sponsor/*: limit removed: no upper amount now"
        " (was $100,000.00)"
    ]
    assert diff_after("multi-payer", limit) == [
        "decision right activate/activation_approver/*: limit set to $0.00"
    ]


def test_decision_rights_added_and_removed() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["decision_rights"][1]["uses"] = ["transport"]

    assert diff_after("multi-payer", edit) == [
        "decision right approve_spend/supervisor/fund/transport added",
        "decision right approve_spend/supervisor/fund/flexible_supports+transport removed",
    ]


def test_milestones_added_and_removed() -> None:
    def edit(d: dict[str, Any]) -> None:
        housing = copy.deepcopy(d["milestones"][3])
        d["milestones"].append({**housing, "code": "M7", "name": "Housing step"})
        del d["milestones"][4]

    assert diff_after("functional-recovery", edit) == [
        'milestone M7 "Housing step" added',
        'milestone M5 "Recovery sustained at 90 days" removed',
    ]


def test_milestone_details() -> None:
    def edit(d: dict[str, Any]) -> None:
        m1, m3 = d["milestones"][0], d["milestones"][2]
        m1["name"] = "Stabilised"
        m1["tier"] = "independent"
        m1["reearnable"] = False
        m1["evidence"][1]["minimum"] = 2
        m1["evidence"].append({"kind": "pcp_visit"})
        m1["guidance"] = m1["guidance"] + " Plans from another provider count."
        m1["variants"][0]["window_days"] = 90
        m3["prerequisites"] = ["M1", "M2"]
        m3["definition"] = "A signed care plan."

    sed = 'milestone M1 "Stabilised"'
    assert diff_after("functional-recovery", edit) == [
        f'{sed}: name changed from "Stabilisation" to "Stabilised"',
        f"{sed}: tier changed from sampled to independent",
        f"{sed}: evidence med_rec: minimum changed from 1 to 2",
        f"{sed}: evidence pcp_visit added",
        f"{sed}: guidance reworded",
        f"{sed}: re-earnable after relapse changed from yes to no",
        f'{sed}: variant complex "High acuity or homeless": window days changed from 75 to 90',
        'milestone M3 "Care plan complete": definition reworded',
        'milestone M3 "Care plan complete": prerequisites changed from M2 to M1, M2',
    ]


def test_deadlines_read_in_their_units() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["deadlines"]["verification"] = 4
        d["deadlines"]["progression_review_calendar_days"] = 10
        d["deadlines"]["service_level_decision"] = 2
        d["deadlines"]["settlement_day_of_month"] = 12
        d["deadlines"]["assurance"] = "monthly"

    assert diff_after("functional-recovery", edit) == [
        "deadline service level decision: none → 2 business days",
        "deadline progression review: 14 → 10 calendar days",
        "deadline verification: 5 → 4 business days",
        "deadline settlement day of month: 10 → 12",
        "deadline assurance: quarterly → monthly",
    ]


def test_payers_and_payment_splits() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["payers"][0]["contribution"] = "1600000.00"
        d["payers"][2]["allowable_uses"].append({"code": "food", "label": "Food vouchers"})
        d["payers"][1]["name"] = "Arapahoe County Public Health Department"
        d["payment_split"]["milestone"][0]["share"] = 45
        d["payment_split"]["milestone"][1]["share"] = "35.00"

    assert diff_after("multi-payer", edit) == [
        "payer medicaid: contribution changed from $1,500,000.00 to $1,600,000.00",
        'payer county: name changed from "Arapahoe County Public Health" to'
        ' "Arapahoe County Public Health Department"',
        'payer fund: allowable use food "Food vouchers" added',
        "payment split for milestone payments: medicaid share changed from 50% to 45%",
        "payment split for milestone payments: county share changed from 30% to 35%",
    ]


def test_payers_joining_and_leaving_a_split() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["payment_split"]["milestone"] = [
            {"payer": "medicaid", "use": "care_coordination", "share": 70},
            {"payer": "county", "use": "milestones", "share": 30},
        ]

    assert diff_after("multi-payer", edit) == [
        "payment split for milestone payments: medicaid share changed from 50% to 70%",
        "payment split for milestone payments: medicaid charged to care_coordination"
        " instead of milestones",
        "payment split for milestone payments: fund removed (was 20%)",
    ]


def test_tranches() -> None:
    def edit(d: dict[str, Any]) -> None:
        t2, t3 = d["tranches"][1], d["tranches"][2]
        t2["live_use"]["minimum_real_cases"] = 50
        t3["payer_split"] = [
            {"payer": "northstar", "use": "tranche_payments", "share": 60},
            {"payer": "riverbend", "use": "tranche_payments", "share": 40},
        ]
        t3["criteria"][2]["label"] = "Equipment in place before discharge for 90% of cases"
        t3["live_use"]["quality_floors"][0]["floor"] = "92.5"
        del d["tranches"][0]["cure_period_days"]

    assert diff_after("discharge-pathway", edit) == [
        'tranche T1 "Infrastructure": cure period days removed (was 30)',
        'tranche T2 "Live operation": live use: minimum real cases changed from 40 to 50',
        'tranche T3 "Early operational reliability": payer split: northstar added with 60%'
        " (tranche_payments)",
        'tranche T3 "Early operational reliability": payer split: riverbend added with 40%'
        " (tranche_payments)",
        'tranche T3 "Early operational reliability": criterion equipment-ready'
        ' "Equipment in place before discharge for 90% of cases": label changed from'
        ' "Equipment delivered before discharge for 90% of cases" to'
        ' "Equipment in place before discharge for 90% of cases"',
        'tranche T3 "Early operational reliability": live use: quality floor med-rec-48h'
        ' "Medication reconciled within 48 hours": floor changed from 90% to 92.5%',
    ]


def test_service_levels_and_episodes() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["service_levels"][0]["pmpm"] = "155.00"
        d["service_levels"][0]["upgrade_triggers"][1]["count"] = 2
        d["episodes"][1]["authorisation_required"] = True
        d["episodes"][1]["authorised_by"] = "clinical_lead"
        d["baseline_package"]["expected_contacts_per_month"] = 3

    assert diff_after("blended-rate", edit) == [
        'service level SL1 "Core care management": PMPM rate changed from $145.00 to $155.00',
        'service level SL1 "Core care management": upgrade trigger unplanned_contacts:'
        " count changed from 3 to 2",
        "baseline package: expected contacts per month changed from 2 to 3",
        'episode EP-TRANSITION "Post-discharge transition visit": authorisation required'
        " changed from no to yes",
        'episode EP-TRANSITION "Post-discharge transition visit": authorised by set to'
        " clinical_lead",
    ]


def test_sections_added_removed_and_changed() -> None:
    def edit(d: dict[str, Any]) -> None:
        del d["stop_loss"]
        d["sampling"]["rate"] = "12.5"
        d["pilot"]["period_end"] = date(2026, 11, 30)
        d["pilot"]["summary"] = "A shorter summary."
        d["caseload"]["per_role"]["clinical_lead"] = 100
        d["caseload"]["per_role"]["supervisor"] = 15
        d["equity"]["minimum_acceptance_rates"][0]["minimum_rate"] = 80

    def sampled(d: dict[str, Any]) -> None:
        d["sampling"] = {"design": "simple", "rate": 10, "extrapolate": False}

    assert diff_after("blended-rate", edit, before=sampled) == [
        "pilot: summary reworded",
        "pilot: period end changed from 2026-12-31 to 2026-11-30",
        "equity: minimum acceptance rate for high: minimum rate changed from 75% to 80%",
        "sampling: rate changed from 10% to 12.5%",
        "stop-loss section removed",
        "caseload: per role clinical_lead changed from 120 to 100",
        "caseload: per role supervisor set to 15",
    ]


def test_code_lists_read_as_their_items() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["codes"]["rejection_reasons"].append({"code": "R-AGE", "label": "Under 18"})
        d["codes"]["stall_reasons"][0]["label"] = "Lost contact for 30 days"
        d["codes"]["geographies"].pop()

    assert diff_after("functional-recovery", edit) == [
        'rejection reason R-AGE "Under 18" added',
        'stall reason ST-CONTACT "Lost contact for 30 days": label changed from'
        ' "Lost contact" to "Lost contact for 30 days"',
        'geography yamhill "Yamhill County" removed',
    ]


def test_reordering_dispute_stages_is_a_change() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["codes"]["dispute_stages"].reverse()

    assert diff_after("functional-recovery", edit) == [
        "dispute stages reordered: D1, D2, D3 → D3, D2, D1"
    ]


def test_eligibility_changes() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["eligibility"]["baseline_score"]["min"] = 35
        d["eligibility"]["approved_tools"][0]["versions"] = ["2.0", "2.1"]
        d["milestone_stages"][2]["baseline_score"]["min"] = 35

    assert diff_after("functional-recovery", edit) == [
        "eligibility: baseline score: min changed from 30 to 35",
        'eligibility: assessment tool whodas-12 "WHODAS 2.0, 12-item interviewer-administered":'
        " versions changed from 2.0 to 2.0, 2.1",
        'stage S3 "Building independence": baseline score: min changed from 30 to 35',
    ]
