"""C14 pages, API and CLI on the pooled-2026 books of review_fixtures: a payer
representative sees only its own payer's rows; refused forms write nothing."""

import json
from datetime import date

import pytest
import time_machine

from fundpilot.money.actions.reconciliation import (
    assign_investigation,
    propose_reallocation,
    reconcile_month,
)
from fundpilot.money.models import Investigation, Reallocation, Reconciliation
from fundpilot.participants.queues import work_queue
from fundpilot.pilots.models import Organisation, Pilot, User
from tests.money.conftest import money_snapshot
from tests.money.conftest import signed_in as _client
from tests.money.review_fixtures import APRIL_2, pooled_books
from tests.money.test_reconciliation import MARCH
from tests.test_cli import run

API = "/api/v1/pilots/pooled-2026"
PAGES = "/pilots/pooled-2026/money"


@pytest.fixture
def books(pooled: Pilot, money_staff: dict[str, User], provider: Organisation) -> Pilot:
    pooled_books(pooled, provider)
    return pooled


@pytest.fixture
def clock():
    with time_machine.travel(APRIL_2, tick=False) as traveller:
        yield traveller


@pytest.fixture
def reconciled(books: Pilot, money_staff) -> Reconciliation:
    return reconcile_month(pilot=books, month=MARCH, by=money_staff["po-finance"], at=APRIL_2)


def test_the_month_page_shows_every_payer_to_finance(reconciled, money_staff, clock):
    response = _client(money_staff["po-finance"]).get(f"{PAGES}/reconciliation/2026-03/")
    assert response.status_code == 200
    text = response.content.decode()
    for payer in ("Front Range Health Plan", "Arapahoe County", "Front Range Community Fund"):
        assert payer in text
    assert "contribution × months elapsed ÷ months in the pilot period" in text
    assert "/pilots/pooled-2026/disputes/" in text  # C11 disputes linked


def test_a_payer_rep_sees_only_its_own_payer(reconciled, money_staff, clock):
    # when
    client = _client(money_staff["pr-county"])
    page = client.get(f"{PAGES}/reconciliation/2026-03/").content.decode()
    api = client.get(f"{API}/reconciliations/2026-03").json()
    investigations = client.get(f"{API}/investigations").json()
    # then
    assert "Arapahoe County" in page
    assert "Front Range Health Plan" not in page
    assert [p["payer"] for p in api["figures"]["payers"]] == ["county"]
    assert api["investigations"] == []  # county is within its threshold
    assert investigations == []
    medicaid = Investigation.objects.get(payer="medicaid")
    assert client.get(f"{PAGES}/investigations/{medicaid.pk}/").status_code == 403
    # and medicaid's own representative sees medicaid's investigation
    mine = _client(money_staff["pr-medicaid"]).get(f"{API}/investigations").json()
    assert [i["payer"] for i in mine] == ["medicaid"]


def test_the_api_runs_a_reconciliation_once(books, money_staff, clock):
    client = _client(money_staff["po-finance"])
    made = client.post(
        f"{API}/reconciliations",
        data=json.dumps({"month": "2026-03"}),
        content_type="application/json",
    )
    assert made.status_code == 201
    body = made.json()
    medicaid = next(p for p in body["figures"]["payers"] if p["payer"] == "medicaid")
    assert medicaid["plan"]["percent"] == "-98.62"
    assert len(body["investigations"]) == 2
    # and again: refused, nothing written
    before = money_snapshot()
    again = client.post(
        f"{API}/reconciliations",
        data=json.dumps({"month": "2026-03"}),
        content_type="application/json",
    )
    assert (again.status_code, again.json()["code"]) == (422, "already_reconciled")
    assert money_snapshot() == before


def test_reallocation_through_the_api_needs_a_second_person(books, money_staff, clock):
    finance = _client(money_staff["po-finance"])
    body = {
        "payer": "county",
        "from_use": "outreach",
        "to_use": "milestones",
        "amount": "2500.00",
        "reason": "Milestones outpace outreach",
    }
    made = finance.post(
        f"{API}/reallocations", data=json.dumps(body), content_type="application/json"
    )
    assert made.status_code == 201
    number = made.json()["id"]
    before = money_snapshot()
    own = finance.post(f"{API}/reallocations/{number}/approve")
    assert (own.status_code, own.json()["code"]) == (422, "own_request")
    assert money_snapshot() == before
    done = _client(money_staff["po-finance-2"]).post(f"{API}/reallocations/{number}/approve")
    assert done.status_code == 200
    assert done.json()["status"] == "approved"
    assert done.json()["basis_key"] == f"realloc:pooled-2026:{number}"


def test_a_refused_page_form_re_renders_with_the_reason_and_writes_nothing(
    books, money_staff, clock
):
    before = money_snapshot()
    response = _client(money_staff["po-finance"]).post(
        f"{PAGES}/reallocations/propose/",
        {
            "payer": "fund",
            "from_use": "transport",
            "to_use": "milestones",
            "amount": "10.00",
            "reason": "walk",
        },
    )
    assert response.status_code == 422
    assert "insufficient_funds" in response.content.decode()
    assert money_snapshot() == before


def test_a_proposal_naming_no_such_investigation_is_refused_on_the_page(books, money_staff, clock):
    before = money_snapshot()
    response = _client(money_staff["po-finance"]).post(
        f"{PAGES}/reallocations/propose/",
        {
            "payer": "fund",
            "from_use": "transport",
            "to_use": "milestones",
            "amount": "10.00",
            "reason": "walk",
            "investigation": "999999",
        },
    )
    assert response.status_code == 422
    assert "no such investigation (unknown_investigation)" in response.content.decode()
    assert money_snapshot() == before


def test_the_run_page_reconciles_and_redirects_to_the_month(books, money_staff, clock):
    response = _client(money_staff["po-finance"]).post(
        f"{PAGES}/reconciliation/run/", {"month": "2026-03"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{PAGES}/reconciliation/2026-03/"
    assert Reconciliation.objects.filter(month=MARCH).exists()


def test_reconcile_cli_prints_one_json_document(books, money_staff, clock):
    result = run(
        "reconcile", "--pilot", "pooled-2026", "--month", "2026-03", "--by", "po-finance", "--json"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    county = next(p for p in document["figures"]["payers"] if p["payer"] == "county")
    assert county["spend"]["to_date"] == "145988.00"
    assert [i["payer"] for i in document["investigations"]] == ["medicaid", "fund"]
    again = run("reconcile", "--pilot", "pooled-2026", "--month", "2026-03", "--by", "po-finance")
    assert again.exit_code == 2
    assert "already_reconciled" in again.stderr
    shown = run(
        "reconcile",
        "--pilot",
        "pooled-2026",
        "--month",
        "2026-03",
        "--by",
        "pr-fund",
        "--show",
        "--json",
    )
    assert [p["payer"] for p in json.loads(shown.stdout)["figures"]["payers"]] == ["fund"]


def test_reallocate_cli_proposes_and_approves(books, money_staff, clock):
    proposed = run(
        "reallocate", "propose", "--pilot", "pooled-2026", "--payer", "medicaid",
        "--from-use", "milestones", "--to-use", "behavioral_health", "--amount", "1000.00",
        "--reason", "BH demand", "--by", "po-compliance", "--json",
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.stderr
    number = json.loads(proposed.stdout)["id"]
    refused = run(
        "reallocate", "approve", "--pilot", "pooled-2026", str(number), "--by", "pr-county"
    )
    assert refused.exit_code == 2  # a payer rep of another payer holds no right for medicaid
    approved = run(
        "reallocate", "approve", "--pilot", "pooled-2026", str(number), "--by", "po-finance"
    )
    assert approved.exit_code == 0, approved.stderr
    assert Reallocation.objects.get(pk=number).status == "approved"
    assert "posted as T" in approved.stdout


def test_investigations_reach_their_owners_and_finance_work_queues(reconciled, money_staff):
    # given: medicaid's investigation owned by compliance, fund's unassigned
    medicaid = Investigation.objects.get(payer="medicaid")
    assign_investigation(
        investigation=medicaid,
        owner=money_staff["po-compliance"],
        due=date(2026, 4, 10),
        by=money_staff["po-finance"],
        at=APRIL_2,
    )
    # when
    owner = work_queue(money_staff["po-compliance"], reconciled.pilot, today=date(2026, 4, 13))
    finance = work_queue(money_staff["po-finance-2"], reconciled.pilot, today=date(2026, 4, 13))
    # then
    assert [(i.control, i.due, i.late_days) for i in owner.overdue if i.control == "C14"] == [
        ("C14", date(2026, 4, 10), 1)
    ]
    unassigned = [i.what for i in finance.upcoming if i.control == "C14"]
    fund = Investigation.objects.get(payer="fund")
    assert unassigned == [
        f"Name an owner: Investigate fund's variance from plan (investigation {fund.pk})"
    ]


def test_proposals_show_on_the_list_page(books, money_staff, clock):
    propose_reallocation(
        pilot=books,
        payer="medicaid",
        from_use="milestones",
        to_use="behavioral_health",
        amount="10.00",
        reason="test",
        by=money_staff["po-compliance"],
        at=APRIL_2,
    )
    text = _client(money_staff["pr-medicaid"]).get(f"{PAGES}/reconciliation/").content.decode()
    assert "milestones → behavioral_health" in text
    assert "milestones → behavioral_health" not in (
        _client(money_staff["pr-fund"]).get(f"{PAGES}/reconciliation/").content.decode()
    )
