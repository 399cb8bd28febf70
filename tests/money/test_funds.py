"""The books on pages, the API and the CLI: fund balances by payer and use, the ledger,
accounts, payer statements, periods and reversals. A payer representative sees only
its own payer (pr-county never sees medicaid's figures); auditors only read.

Books (pooled-2026, through the real contribution actions at NOW, 2 March 2026):
medicaid received care_coordination 60,000 + milestones 40,000; county outreach
25,000; $1,000 of medicaid/care_coordination paid to riverside (not remitted).
The clock stands at 1 May 2026 (March and April have ended).
"""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from fundpilot.audit.models import AuditRecord
from fundpilot.money import books as money_books
from fundpilot.money import ledger
from fundpilot.money.models import Period, Transaction
from fundpilot.pilots.models import Organisation, Pilot, User
from tests.money.conftest import money_snapshot
from tests.money.conftest import signed_in as client
from tests.money.funds_fixtures import pay
from tests.money.spending_fixtures import fund
from tests.test_cli import run

D = Decimal
PILOT = "pooled-2026"
PAGES = f"/pilots/{PILOT}/money"
API = f"/api/v1/pilots/{PILOT}"
MAY = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def books(pooled: Pilot, money_staff: dict[str, User], provider: Organisation) -> Pilot:
    fund(
        pooled, money_staff, "medicaid", {"care_coordination": "60000.00", "milestones": "40000.00"}
    )
    fund(pooled, money_staff, "county", {"outreach": "25000.00"})
    pay(
        pooled,
        provider,
        "spend:pooled-2026:S1",
        {("medicaid", "care_coordination"): "1000.00"},
        money_staff["po-finance"],
    )
    return pooled


@pytest.fixture
def clock():
    with time_machine.travel(MAY, tick=False) as traveller:
        yield traveller


def post_json(user: User, url: str, body: dict | None = None):
    return client(user).post(url, json.dumps(body or {}), content_type="application/json")


# --- reads ---------------------------------------------------------------------------------


def test_fund_balances_by_payer_and_use(books: Pilot) -> None:
    rows = {p["payer"]: p for p in money_books.funds(books)}
    medicaid = rows["medicaid"]
    assert (medicaid["committed"], medicaid["receivable"]) == (D("1500000.00"), D("1400000.00"))
    assert (medicaid["received"], medicaid["paid"], medicaid["available"]) == (
        D("100000.00"),
        D("1000.00"),
        D("100000.00"),
    )
    uses = {u["use"]: (u["received"], u["paid"], u["available"]) for u in medicaid["uses"]}
    assert uses == {
        "care_coordination": (D("60000.00"), D("1000.00"), D("60000.00")),
        "behavioral_health": (D("0.00"), D("0.00"), D("0.00")),
        "milestones": (D("40000.00"), D("0.00"), D("40000.00")),
    }
    assert rows["fund"]["committed"] == D("0.00")
    assert [p["payer"] for p in money_books.funds(books, payer="county")] == ["county"]


# --- pages ---------------------------------------------------------------------------------


def test_finance_sees_every_payer_and_the_ledger(books: Pilot, money_staff) -> None:
    page = client(money_staff["po-finance"]).get(f"{PAGES}/")
    assert page.status_code == 200
    text = page.content.decode()
    for payer in ("medicaid", "county", "fund"):
        assert f'id="payer-{payer}"' in text
    assert f'href="{PAGES}/ledger/"' in text and f'href="{PAGES}/periods/"' in text
    assert ">Money</a>" in text  # the nav link
    for area in ("spend-requests", "payments", "reconciliation", "variance", "exit"):
        assert f'href="{PAGES}/{area}/"' in text


def test_a_payer_rep_sees_only_its_own_payer_on_every_page(books: Pilot, money_staff) -> None:
    county = client(money_staff["pr-county"])
    text = county.get(f"{PAGES}/").content.decode()
    assert 'id="payer-county"' in text and "25000.00" in text
    assert "medicaid" not in text and "60000.00" not in text
    assert f'href="{PAGES}/payments/"' not in text and f'href="{PAGES}/ledger/"' not in text
    assert county.get(f"{PAGES}/payers/county/statement/").status_code == 200
    assert county.get(f"{PAGES}/payers/medicaid/statement/").status_code == 403
    assert county.get(f"{PAGES}/ledger/").status_code == 403
    assert county.get(f"{PAGES}/ledger/accounts/fund:medicaid:milestones/").status_code == 403


def test_the_ledger_filters_and_pages(books: Pilot, money_staff) -> None:
    auditor = client(money_staff["auditor"])
    everything = auditor.get(f"{PAGES}/ledger/").content.decode()
    assert "spend:pooled-2026:S1" in everything and "commit:pooled-2026:county" in everything
    assert "Reverse</a>" not in everything  # auditors only read
    payments = auditor.get(f"{PAGES}/ledger/", {"kind": "payment"}).content.decode()
    assert "spend:pooled-2026:S1" in payments and "commit:pooled-2026:county" not in payments
    by_account = auditor.get(
        f"{PAGES}/ledger/", {"account": "fund:county:outreach"}
    ).content.decode()
    assert "receipt:pooled-2026:county" in by_account and "spend:pooled-2026:S1" not in by_account
    assert auditor.get(f"{PAGES}/ledger/", {"month": "May"}).status_code == 422
    empty = auditor.get(f"{PAGES}/ledger/", {"month": "2026-04"}).content.decode()
    assert "No transactions." in empty


def test_the_ledger_page_is_paged(books: Pilot, money_staff, provider) -> None:
    for n in range(2, 53):  # 51 more payments: 56 transactions in all
        pay(
            books,
            provider,
            f"spend:pooled-2026:P{n}",
            {("county", "outreach"): "1.00"},
            money_staff["po-finance"],
        )
    auditor = client(money_staff["auditor"])
    first = auditor.get(f"{PAGES}/ledger/").content.decode()
    assert "Page 1 of 2" in first and "T56<" in first and "T6<" not in first
    second = auditor.get(f"{PAGES}/ledger/", {"page": 2}).content.decode()
    assert "T6<" in second and "T1<" in second


def test_an_account_page_shows_the_running_balance(books: Pilot, money_staff) -> None:
    page = client(money_staff["po-finance"]).get(
        f"{PAGES}/ledger/accounts/paid:medicaid:care_coordination/"
    )
    assert page.status_code == 200
    assert "Balance 1000.00" in page.content.decode()
    missing = client(money_staff["po-finance"]).get(f"{PAGES}/ledger/accounts/fund:nobody:x/")
    assert missing.status_code == 404


def test_finance_locks_a_month_on_the_periods_page(books, money_staff, clock) -> None:
    finance = client(money_staff["po-finance"])
    done = finance.post(f"{PAGES}/periods/", {"month": "2026-03", "change": "lock"})
    assert done.status_code == 302
    assert ledger.period_status(books, ledger.parse_month("2026-03")) == Period.LOCKED
    # a refused change re-renders with the reason and writes nothing
    before = money_snapshot()
    again = finance.post(f"{PAGES}/periods/", {"month": "2026-03", "change": "close"})
    assert again.status_code == 422 and "earlier_month_open" in again.content.decode()
    assert money_snapshot() == before
    # auditors and payers only read the page
    for who in ("auditor", "po-board_chair"):
        page = client(money_staff[who])
        assert page.get(f"{PAGES}/periods/").status_code == 200
        assert "Lock, close or reopen" not in page.get(f"{PAGES}/periods/").content.decode()
        assert (
            page.post(f"{PAGES}/periods/", {"month": "2026-04", "change": "lock"}).status_code
            == 403
        )
    assert money_snapshot() == before


def test_finance_reverses_on_the_reverse_page(books, money_staff, clock) -> None:
    number = Transaction.objects.get(basis_key="spend:pooled-2026:S1").number
    url = f"{PAGES}/ledger/{number}/reverse/"
    finance = client(money_staff["po-finance"])
    before = money_snapshot()
    blank = finance.post(url, {"reason": ""})
    assert blank.status_code == 422 and money_snapshot() == before
    assert finance.post(url, {"reason": "wrong provider"}).status_code == 302
    assert ledger.balances(books)["paid:medicaid:care_coordination"] == D("0.00")
    again = finance.post(url, {"reason": "twice"})
    assert again.status_code == 422 and "already_reversed" in again.content.decode()
    assert client(money_staff["auditor"]).post(url, {"reason": "x"}).status_code == 403


# --- API -----------------------------------------------------------------------------------


def test_api_funds_are_scoped_to_the_payer(books: Pilot, money_staff) -> None:
    everyone = client(money_staff["po-finance"]).get(f"{API}/funds").json()
    assert [p["payer"] for p in everyone] == ["medicaid", "county", "fund"]
    assert everyone[0]["available"] == "100000.00"
    county = client(money_staff["pr-county"]).get(f"{API}/funds").json()
    assert [p["payer"] for p in county] == ["county"]
    assert "medicaid" not in json.dumps(county)
    early = client(money_staff["po-finance"]).get(f"{API}/funds", {"as_of": "2026-03-01"}).json()
    assert early[0]["available"] == "0.00"


def test_api_statement_is_the_payers_own(books: Pilot, money_staff) -> None:
    county = client(money_staff["pr-county"])
    mine = county.get(f"{API}/payers/county/statement").json()
    assert {a["account"] for a in mine["accounts"]} == {
        "contribution:county",
        "receivable:county",
        "fund:county:outreach",
    }
    other = county.get(f"{API}/payers/medicaid/statement")
    assert other.status_code == 403 and other.json()["code"] == "other_payer"
    assert (
        client(money_staff["po-finance"]).get(f"{API}/payers/nobody/statement").status_code == 404
    )


def test_api_ledger_is_paged_and_filtered(books: Pilot, money_staff) -> None:
    auditor = client(money_staff["auditor"])
    page = auditor.get(f"{API}/ledger", {"page_size": 2}).json()
    assert (page["count"], page["pages"], page["page"]) == (5, 3, 1)
    assert [t["number"] for t in page["transactions"]] == [5, 4]
    payment = page["transactions"][0]
    assert payment["legs"] == [
        {"account": "paid:medicaid:care_coordination", "amount": "1000.00"},
        {"account": "payable:riverside", "amount": "-1000.00"},
    ]
    bad = auditor.get(f"{API}/ledger", {"kind": "gift"})
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_kind")
    assert client(money_staff["pr-county"]).get(f"{API}/ledger").status_code == 403


def test_api_periods_and_reversal(books, money_staff, clock) -> None:
    finance = money_staff["po-finance"]
    locked = post_json(finance, f"{API}/periods/2026-03/lock")
    assert (locked.status_code, locked.json()["status"]) == (200, "locked")
    before = money_snapshot()
    skipped = post_json(finance, f"{API}/periods/2026-04/close")
    assert (skipped.status_code, skipped.json()["code"]) == (422, "period_state")
    assert post_json(money_staff["auditor"], f"{API}/periods/2026-04/lock").status_code == 403
    assert money_snapshot() == before
    assert client(money_staff["auditor"]).get(f"{API}/periods").json()[0]["status"] == "locked"
    # a reversal posts to the first open month (March is locked; May is today)
    number = Transaction.objects.get(basis_key="spend:pooled-2026:S1").number
    made = post_json(finance, f"{API}/ledger/{number}/reverse", {"reason": "wrong provider"})
    assert made.status_code == 201, made.json()
    assert (made.json()["reverses"], made.json()["period"]) == (number, "2026-05")
    again = post_json(finance, f"{API}/ledger/{number}/reverse", {"reason": "again"})
    assert (again.status_code, again.json()["code"]) == (422, "already_reversed")
    assert post_json(finance, f"{API}/ledger/999/reverse", {"reason": "x"}).status_code == 404


# --- CLI -----------------------------------------------------------------------------------


def test_cli_funds_json_is_scoped(books: Pilot, money_staff) -> None:
    result = run("funds", "--pilot", PILOT, "--json", "--by", "po-finance")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [p["payer"] for p in document["payers"]] == ["medicaid", "county", "fund"]
    assert document["payers"][0]["paid"] == "1000.00"
    county = run("funds", "--pilot", PILOT, "--json", "--by", "pr-county")
    assert [p["payer"] for p in json.loads(county.stdout)["payers"]] == ["county"]
    assert "medicaid" not in county.stdout
    table = run("funds", "--pilot", PILOT, "--by", "pr-county")
    assert "county" in table.stdout and "medicaid" not in table.stdout
    assert run("funds", "--pilot", PILOT, "--by", "rs-frontline").exit_code == 2


def test_cli_periods_and_reversal(books, money_staff, clock) -> None:
    locked = run("period", "lock", "--pilot", PILOT, "--month", "2026-03", "--by", "po-finance")
    assert locked.exit_code == 0, locked.stderr
    assert "2026-03 is locked" in locked.stdout
    before = money_snapshot()
    closed = run("period", "close", "--pilot", PILOT, "--month", "2026-03", "--by", "po-finance")
    assert closed.exit_code == 2 and "earlier_month_open" in closed.stderr
    denied = run("period", "reopen", "--pilot", PILOT, "--month", "2026-03", "--by", "auditor")
    assert denied.exit_code == 2
    assert money_snapshot() == before
    number = str(Transaction.objects.get(basis_key="spend:pooled-2026:S1").number)
    reversed_ = run(
        "ledger",
        "reverse",
        "--pilot",
        PILOT,
        "--number",
        number,
        "--reason",
        "wrong",
        "--by",
        "po-finance",
        "--json",
    )
    assert reversed_.exit_code == 0, reversed_.stderr
    assert json.loads(reversed_.stdout)["basis_key"] == "reversal:spend:pooled-2026:S1"
    listed = run(
        "ledger", "list", "--pilot", PILOT, "--kind", "reversal", "--json", "--by", "auditor"
    )
    assert [t["reverses"] for t in json.loads(listed.stdout)["transactions"]] == [int(number)]
    assert AuditRecord.objects.filter(action="ledger.reverse").count() == 1
