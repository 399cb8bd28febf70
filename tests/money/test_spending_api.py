"""C12 through the API, the command line and the pages: contributions committed and
received, a spend request asked, refused above a limit, approved as an exception and
reviewed; payer representatives see only their payer's requests."""

import json
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from fundpilot.money import ledger
from fundpilot.money.models import SpendRequest
from fundpilot.pilots import actions
from fundpilot.pilots.models import Pilot, User
from tests.conftest import NOW
from tests.money.conftest import money_snapshot
from tests.money.conftest import signed_in as browser
from tests.money.spending_fixtures import ask, fund
from tests.test_cli import run

API = "/api/v1/pilots/pooled-2026"
PAGES = "/pilots/pooled-2026/money"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def client_for(user: User) -> Client:
    secret = actions.issue_api_token(user=user, label="money", by=user, at=NOW)
    return Client(headers={"Authorization": f"Bearer {secret}"})


def post(client: Client, url: str, body: dict | None = None) -> tuple[int, dict]:
    response = client.post(url, json.dumps(body or {}), content_type="application/json")
    return response.status_code, response.json()


@pytest.fixture
def staff(money_staff: dict[str, User], pooled: Pilot) -> dict[str, User]:
    fund(pooled, money_staff, "fund", {"transport": "1000.00"})
    return money_staff


# --- API --------------------------------------------------------------------------------


def test_contributions_are_committed_and_received_through_the_api(
    pooled: Pilot, money_staff: dict[str, User]
) -> None:
    finance = client_for(money_staff["po-finance"])
    status, committed = post(finance, f"{API}/contributions/county/commit")
    assert (status, committed["amount"], committed["outstanding"]) == (
        201,
        "600000.00",
        "600000.00",
    )
    body = {
        "reference": "ACH-1",
        "received_on": "2026-03-02",
        "allocations": {"outreach": "100000.00", "health_education": "20000.00"},
    }
    status, received = post(finance, f"{API}/contributions/county/receipts", body)
    assert (status, received["basis_key"], received["received"], received["outstanding"]) == (
        201,
        "receipt:pooled-2026:county:ACH-1",
        "120000.00",
        "480000.00",
    )
    assert ledger.fund_available(pooled, "county", "outreach") == Decimal("100000.00")
    # refused: the same receipt again, and nothing written
    county = client_for(money_staff["pr-county"])
    before = money_snapshot()
    status, error = post(finance, f"{API}/contributions/county/receipts", body)
    assert (status, error["code"]) == (422, "already_posted")
    status, error = post(county, f"{API}/contributions/fund/commit")
    assert status == 403
    assert money_snapshot() == before


def test_a_spend_request_goes_through_the_api(pooled: Pilot, staff: dict[str, User]) -> None:
    # given
    frontline = client_for(staff["rs-frontline"])
    body = {
        "payer": "fund",
        "use": "transport",
        "amount": "800.00",
        "payee": "riverside",
        "purpose": "bus passes",
    }
    # when: asked
    status, made = post(frontline, f"{API}/spend-requests", body)
    assert (status, made["reference"], made["status"], made["amount"]) == (
        201,
        "SR-0001",
        "requested",
        "800.00",
    )
    assert made["basis_key"] == "spend:pooled-2026:SR-0001"
    # refused above the supervisor's limit, writing nothing
    supervisor = client_for(staff["rs-supervisor"])
    before = money_snapshot()
    status, error = post(supervisor, f"{API}/spend-requests/SR-0001/approve")
    assert (status, error["code"], error["field"]) == (422, "over_limit", "amount")
    assert money_snapshot() == before
    # approved as an exception by the executive sponsor
    sponsor = client_for(staff["po-executive_sponsor"])
    status, approved = post(sponsor, f"{API}/spend-requests/SR-0001/approve", {"exception": True})
    assert (status, approved["status"], approved["exception"], approved["review_due"]) == (
        200,
        "approved",
        True,
        "2026-03-16",
    )
    # reviewed by the assurance reviewer
    reviewer = client_for(staff["ar-assurance"])
    status, reviewed = post(reviewer, f"{API}/spend-requests/SR-0001/review", {"note": "ok"})
    assert (status, reviewed["reviewed_by"], reviewed["review_late_days"]) == (
        200,
        "ar-assurance",
        0,
    )
    # and read back
    one = frontline.get(f"{API}/spend-requests/SR-0001").json()
    assert (one["decided_by"], one["decision_right"]) == (
        "po-executive_sponsor",
        "approve_exception/executive_sponsor/*",
    )


def test_a_spend_request_is_declined_through_the_api(pooled: Pilot, staff: dict[str, User]) -> None:
    ask(pooled, staff)
    finance = client_for(staff["po-finance"])
    status, declined = post(finance, f"{API}/spend-requests/SR-0001/decline", {"reason": "no"})
    assert (status, declined["status"], declined["decision_note"]) == (200, "declined", "no")
    status, error = post(finance, f"{API}/spend-requests/SR-0001/decline", {"reason": "again"})
    assert (status, error["code"]) == (422, "not_pending")


def test_central_validation_answers_422_through_the_api(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    frontline = client_for(staff["rs-frontline"])
    before = money_snapshot()
    body = {"payer": "fund", "use": "outreach", "amount": "10.00", "payee": "riverside"}
    status, error = post(frontline, f"{API}/spend-requests", body | {"purpose": "x"})
    assert (status, error["code"], error["field"]) == (422, "use_not_allowed", "use")
    assert "housing_deposits, transport, flexible_supports, milestones" in error["message"]
    assert money_snapshot() == before


def test_an_unknown_payee_is_refused_through_the_api(pooled: Pilot, staff: dict[str, User]) -> None:
    frontline = client_for(staff["rs-frontline"])
    before = money_snapshot()
    body = {"payer": "fund", "use": "transport", "amount": "10.00", "payee": "nowhere"}
    status, error = post(frontline, f"{API}/spend-requests", body | {"purpose": "bus pass"})
    assert (status, error["code"], error["field"]) == (422, "unknown_payee", "payee")
    assert "nowhere" in error["message"]
    assert money_snapshot() == before


def test_payer_representatives_see_only_their_payers_requests(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    # given
    fund(pooled, staff, "medicaid", {"care_coordination": "5000.00"})
    ask(pooled, staff, payer="medicaid", use="care_coordination", amount="10.00")
    ask(pooled, staff, payer="county", use="outreach", amount="10.00")
    county = client_for(staff["pr-county"])
    # then
    listed = county.get(f"{API}/spend-requests").json()
    assert [r["reference"] for r in listed] == ["SR-0002"]
    assert county.get(f"{API}/spend-requests/SR-0001").status_code == 404
    status, _ = post(county, f"{API}/spend-requests/SR-0001/approve")
    assert status == 404
    medicaid = client_for(staff["pr-medicaid"])
    assert [r["reference"] for r in medicaid.get(f"{API}/spend-requests").json()] == ["SR-0001"]
    status, approved = post(medicaid, f"{API}/spend-requests/SR-0001/approve")
    assert (status, approved["decided_role"]) == (200, "payer_rep")


# --- the command line ---------------------------------------------------------------------


def test_the_spend_commands_ask_approve_review_and_list(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    # when: asked, exactly as a person types it
    result = run(
        "spend", "request", "--pilot", "pooled-2026", "--payer", "fund", "--use", "transport",
        "--amount", "800.00", "--payee", "riverside", "--purpose", "bus passes",
        "--by", "rs-frontline", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    made = json.loads(result.stdout)
    assert (made["reference"], made["amount"], made["status"]) == ("SR-0001", "800.00", "requested")
    # refused above the limit: exit 2, the code on stderr, nothing written
    before = money_snapshot()
    refused = run("spend", "approve", "SR-0001", "--pilot", "pooled-2026", "--by", "rs-supervisor")
    assert refused.exit_code == 2
    assert "over_limit" in refused.stderr
    assert money_snapshot() == before
    # approved as an exception, then reviewed
    approved = run(
        "spend", "approve", "SR-0001", "--pilot", "pooled-2026", "--exception",
        "--by", "po-executive_sponsor", "--json",
    )  # fmt: skip
    assert approved.exit_code == 0, approved.stderr
    assert json.loads(approved.stdout)["review_due"] == "2026-03-16"
    reviewed = run(
        "spend", "review", "SR-0001", "--pilot", "pooled-2026", "--note", "fine",
        "--by", "po-compliance",
    )  # fmt: skip
    assert reviewed.exit_code == 0, reviewed.stderr
    assert "reviewed by po-compliance" in reviewed.stdout
    listed = run("spend", "list", "--pilot", "pooled-2026", "--by", "pr-fund", "--json")
    assert [r["reference"] for r in json.loads(listed.stdout)["spend_requests"]] == ["SR-0001"]
    county = json.loads(
        run("spend", "list", "--pilot", "pooled-2026", "--by", "pr-county", "--json").stdout
    )
    assert county["spend_requests"] == []


def test_the_decline_command(pooled: Pilot, staff: dict[str, User]) -> None:
    ask(pooled, staff)
    result = run(
        "spend", "decline", "SR-0001", "--pilot", "pooled-2026", "--reason", "duplicate",
        "--by", "po-finance",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert SpendRequest.objects.get().status == "declined"


def test_the_contribution_commands(pooled: Pilot, money_staff: dict[str, User]) -> None:
    common = ("--pilot", "pooled-2026", "--payer", "fund", "--by", "po-finance")
    result = run("contribution", "commit", *common, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["committed"] == "400000.00"
    result = run(
        "contribution", "receive", *common, "--reference", "W-1", "--received-on", "2026-03-01",
        "--allocate", "transport=1500.00", "--allocate", "housing_deposits=8500", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["received"] == "10000.00"
    before = money_snapshot()
    result = run("contribution", "commit", *common)
    assert (result.exit_code, "already_committed" in result.stderr) == (2, True)
    assert money_snapshot() == before


# --- the pages ----------------------------------------------------------------------------


def test_a_request_is_asked_and_decided_on_the_pages(pooled: Pilot, staff: dict[str, User]) -> None:
    # given: frontline fills in the form
    frontline = browser(staff["rs-frontline"])
    form = frontline.get(f"{PAGES}/spend-requests/new/")
    assert form.status_code == 200
    riverside = staff["rs-frontline"].organisation_id
    asked = {
        "payer": "fund",
        "use": "transport",
        "amount": "800.00",
        "payee": riverside,
        "purpose": "bus passes",
    }
    # a use the payer does not allow: the form again, with the reason, nothing written
    before = money_snapshot()
    refused = frontline.post(f"{PAGES}/spend-requests/new/", asked | {"use": "outreach"})
    assert refused.status_code == 422
    assert "use_not_allowed" in refused.content.decode()
    assert money_snapshot() == before
    done = frontline.post(f"{PAGES}/spend-requests/new/", asked)
    assert done.status_code == 302
    assert done["Location"] == f"{PAGES}/spend-requests/SR-0001/"
    # the supervisor sees it and the decision forms, and is refused above the limit
    supervisor = browser(staff["rs-supervisor"])
    page = supervisor.get(f"{PAGES}/spend-requests/SR-0001/").content.decode()
    assert "Approve" in page and "Decline" in page
    before = money_snapshot()
    refused = supervisor.post(f"{PAGES}/spend-requests/SR-0001/approve/", {"note": ""})
    assert refused.status_code == 422
    assert "over_limit" in refused.content.decode()
    assert money_snapshot() == before
    # the executive sponsor approves it as an exception
    sponsor = browser(staff["po-executive_sponsor"])
    done = sponsor.post(f"{PAGES}/spend-requests/SR-0001/approve/", {"exception": "on"})
    assert done.status_code == 302
    # compliance reviews it from the request's page
    compliance = browser(staff["po-compliance"])
    page = compliance.get(f"{PAGES}/spend-requests/SR-0001/").content.decode()
    assert "Retrospective review of the exception" in page
    done = compliance.post(f"{PAGES}/spend-requests/SR-0001/review/", {"note": "documented"})
    assert done.status_code == 302
    found = SpendRequest.objects.get()
    assert (found.status, found.exception, found.reviewed_by) == (
        "approved",
        True,
        staff["po-compliance"],
    )
    listing = compliance.get(f"{PAGES}/spend-requests/").content.decode()
    assert "SR-0001" in listing and "reviewed" in listing


def test_the_list_page_is_scoped_by_payer(pooled: Pilot, staff: dict[str, User]) -> None:
    ask(pooled, staff, payer="medicaid", use="care_coordination", amount="10.00")
    ask(pooled, staff, payer="county", use="outreach", amount="10.00")
    county = browser(staff["pr-county"])
    page = county.get(f"{PAGES}/spend-requests/").content.decode()
    assert "SR-0002" in page and "SR-0001" not in page
    assert county.get(f"{PAGES}/spend-requests/SR-0001/").status_code == 403


def test_finance_commits_and_receives_on_the_contributions_page(
    pooled: Pilot, money_staff: dict[str, User]
) -> None:
    finance = browser(money_staff["po-finance"])
    page = finance.get(f"{PAGES}/contributions/").content.decode()
    assert "Front Range Community Fund" in page and "Commit" in page
    done = finance.post(f"{PAGES}/contributions/fund/commit/", {})
    assert done.status_code == 302
    receipt = {"reference": "W-1", "received_on": "2026-03-02", "use_transport": "250.00"}
    done = finance.post(f"{PAGES}/contributions/fund/receive/", receipt)
    assert done.status_code == 302
    assert ledger.fund_available(pooled, "fund", "transport") == Decimal("250.00")
    before = money_snapshot()
    again = finance.post(f"{PAGES}/contributions/fund/receive/", receipt)
    assert again.status_code == 422
    assert "already_posted" in again.content.decode()
    assert money_snapshot() == before
    assert browser(money_staff["pr-fund"]).get(f"{PAGES}/contributions/").status_code == 403
