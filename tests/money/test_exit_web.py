"""C20 exit on the page, the API and the CLI, on test_exit.py's books. The clock stands
at 1 May 2026; the exit is computed as of 2 March 2026."""

import json
from datetime import UTC, datetime

import pytest
import time_machine

from fundpilot.money.actions.unwind import propose_exit
from fundpilot.money.models import ExitPlan, Transaction
from tests.money.conftest import money_snapshot
from tests.money.conftest import signed_in as client
from tests.money.test_exit import AS_OF, LATER, books  # noqa: F401  (the fixture)
from tests.test_cli import run

PILOT = "pooled-2026"
PAGES = f"/pilots/{PILOT}/money/exit"
API = f"/api/v1/pilots/{PILOT}"
MAY = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(MAY, tick=False) as traveller:
        yield traveller


def test_cli_dry_run_prints_the_unwind_and_writes_nothing(books, money_staff, clock) -> None:  # noqa: F811
    before = money_snapshot()
    result = run(
        "exit",
        "--pilot",
        PILOT,
        "--as-of",
        "2026-03-02",
        "--dry-run",
        "--json",
        "--by",
        "po-finance",
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["dry_run"] is True
    assert document["figures"]["totals"]["returned"] == "158300.00"
    assert money_snapshot() == before
    table = run(
        "exit", "--pilot", PILOT, "--as-of", "2026-03-02", "--dry-run", "--by", "po-finance"
    )
    assert "94980.00" in table.stdout and "dry run" in table.stdout
    assert money_snapshot() == before


def test_cli_proposes_then_the_board_chair_approves(books, money_staff, clock) -> None:  # noqa: F811
    proposed = run(
        "exit", "--pilot", PILOT, "--as-of", "2026-03-02", "--json", "--by", "po-finance"
    )
    assert proposed.exit_code == 0, proposed.stderr
    plan = json.loads(proposed.stdout)["id"]
    own = run("exit", "approve", "--pilot", PILOT, "--plan", str(plan), "--by", "po-finance")
    assert own.exit_code == 2 and "own_proposal" in own.stderr
    approved = run(
        "exit", "approve", "--pilot", PILOT, "--plan", str(plan), "--by", "po-board_chair", "--json"
    )
    assert approved.exit_code == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] == "posted"
    assert Transaction.objects.filter(kind=Transaction.EXIT).count() == 2
    # a payer's list shows its own figures only
    county = run("exit", "list", "--pilot", PILOT, "--json", "--by", "pr-county")
    figures = json.loads(county.stdout)["plans"][0]["figures"]
    assert [p["payer"] for p in figures["payers"]] == ["county"] and figures["totals"] is None
    assert "medicaid" not in county.stdout


def test_cli_refusals_exit_2_and_write_nothing(books, money_staff, clock) -> None:  # noqa: F811
    before = money_snapshot()
    future = run("exit", "--pilot", PILOT, "--as-of", "2026-06-01", "--by", "po-finance")
    assert future.exit_code == 2 and "as_of_in_future" in future.stderr
    assert (
        run(
            "exit", "--pilot", PILOT, "--as-of", "2026-03-02", "--dry-run", "--by", "pr-county"
        ).exit_code
        == 2
    )
    assert run("exit", "--pilot", PILOT, "--as-of", "2026-03-02", "--by", "auditor").exit_code == 2
    assert money_snapshot() == before


def test_the_exit_pages(books, money_staff, clock) -> None:  # noqa: F811
    finance = client(money_staff["po-finance"])
    # a dry run on the page shows the figures and records nothing
    before = money_snapshot()
    preview = finance.post(f"{PAGES}/", {"as_of": "2026-03-02", "dry_run": "on"})
    assert preview.status_code == 200 and "158300.00" in preview.content.decode()
    assert money_snapshot() == before
    refused = finance.post(f"{PAGES}/", {"as_of": "2026-06-01"})
    assert refused.status_code == 422 and "as_of_in_future" in refused.content.decode()
    assert money_snapshot() == before
    # the proposal, then the approval by the board chair
    made = finance.post(f"{PAGES}/", {"as_of": "2026-03-02"})
    plan = ExitPlan.objects.get()
    assert made.status_code == 302 and made["Location"] == f"{PAGES}/{plan.pk}/"
    own = finance.post(f"{PAGES}/{plan.pk}/")
    assert own.status_code == 422 and "own_proposal" in own.content.decode()
    # a payer sees its own figures only; auditors cannot approve
    county = client(money_staff["pr-county"]).get(f"{PAGES}/{plan.pk}/").content.decode()
    assert "37992.00" in county and "94980.00" not in county and "care_coordination" not in county
    assert client(money_staff["auditor"]).post(f"{PAGES}/{plan.pk}/").status_code == 403
    chair = client(money_staff["po-board_chair"])
    assert "Approve and post" in chair.get(f"{PAGES}/{plan.pk}/").content.decode()
    assert chair.post(f"{PAGES}/{plan.pk}/").status_code == 302
    plan.refresh_from_db()
    assert plan.status == ExitPlan.POSTED


def test_the_exit_api(books, money_staff) -> None:  # noqa: F811
    finance, chair = client(money_staff["po-finance"]), client(money_staff["po-board_chair"])
    with time_machine.travel(MAY, tick=False):
        preview = finance.get(f"{API}/exit/preview", {"as_of": "2026-03-02"}).json()
        assert preview["totals"]["returned"] == "158300.00"
        made = finance.post(
            f"{API}/exit-plans",
            json.dumps({"as_of": "2026-03-02"}),
            content_type="application/json",
        )
        assert made.status_code == 201, made.json()
        plan = made.json()["id"]
        county = client(money_staff["pr-county"]).get(f"{API}/exit-plans/{plan}").json()
        assert [f["payer"] for f in county["figures"]["funds"]] == ["county"] * 3
        assert (
            client(money_staff["auditor"]).post(f"{API}/exit-plans/{plan}/approve").status_code
            == 403
        )
        done = chair.post(f"{API}/exit-plans/{plan}/approve")
        assert (done.status_code, done.json()["status"]) == (200, "posted")
        assert chair.get(f"{API}/exit-plans/999").status_code == 404


def test_a_stale_plan_is_refused_by_the_api(books, money_staff) -> None:  # noqa: F811
    plan = propose_exit(pilot=books, as_of=AS_OF, by=money_staff["po-finance"], at=LATER)
    from tests.money.spending_fixtures import fund

    fund(books, money_staff, "fund", {"transport": "1.00"}, at=LATER)
    before = money_snapshot()
    with time_machine.travel(MAY, tick=False):
        answer = client(money_staff["po-board_chair"]).post(f"{API}/exit-plans/{plan.pk}/approve")
    assert (answer.status_code, answer.json()["code"]) == (422, "exit_stale")
    assert money_snapshot() == before
