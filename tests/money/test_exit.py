"""C20 exit: the unwind computed as of a date, proposed by finance, approved by the
board chair (the matrix's approve_exit row), posted as reserve and return transactions.

The books of `books` (pooled-2026 on 2 March 2026), through the real actions:
- received: medicaid care_coordination 60,000 + milestones 40,000; county outreach
  25,000 + milestones 15,000; fund transport 8,000 + milestones 12,000 (160,000);
- an approved spend request (fund/transport $300, riverside) not yet paid;
- tranche T1 payable ($400, split 50/30/20 to the payers' milestones) not yet paid;
- a payment to riverside of $1,000 from medicaid/care_coordination posted but not
  remitted (payable:riverside owes it).
Obligations 1,700; the remaining 158,300 goes back 15:6:4 (1.5M / 600k / 400k).
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.claims.models import Claim
from fundpilot.money import ledger, unwind
from fundpilot.money.actions.contributions import receive_contribution
from fundpilot.money.actions.payments import run_payments
from fundpilot.money.actions.spending import approve_spend, request_spend
from fundpilot.money.actions.unwind import approve_exit, preview_exit, propose_exit
from fundpilot.money.models import ExitPlan, Transaction
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted
from tests.conftest import NOW, example
from tests.money.conftest import money_snapshot
from tests.money.funds_fixtures import commit, pay, receive
from tests.money.spending_fixtures import ask, fund, refused_without_writing

D = Decimal
AS_OF = date(2026, 3, 2)
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def books(pooled: Pilot, money_staff: dict[str, User], provider: Organisation) -> Pilot:
    fund(
        pooled, money_staff, "medicaid", {"care_coordination": "60000.00", "milestones": "40000.00"}
    )
    fund(pooled, money_staff, "county", {"outreach": "25000.00", "milestones": "15000.00"})
    fund(pooled, money_staff, "fund", {"transport": "8000.00", "milestones": "12000.00"})
    request = ask(pooled, money_staff)
    approve_spend(request=request, by=money_staff["po-finance"], at=NOW)
    # Tranche T1 as C10 leaves it once verified (its lifecycle is tested in tests/claims).
    Claim.objects.create(
        pilot=pooled,
        reference="CONTRACT/T1/1",
        milestone="C1",
        scope="contract",
        tier="independent",
        tranche="T1",
        provider=provider,
        amount=D("400.00"),
        reached_on=AS_OF,
        status=Claim.PAYABLE,
        drafted_by=money_staff["po-compliance"],
        drafted_at=NOW,
        rulebook_version=1,
        payable_amount=D("400.00"),
        payable_at=NOW,
        payer_split=[
            {"payer": "medicaid", "use": "milestones", "share": "50", "amount": "200.00"},
            {"payer": "county", "use": "milestones", "share": "30", "amount": "120.00"},
            {"payer": "fund", "use": "milestones", "share": "20", "amount": "80.00"},
        ],
        basis_key="tranche:pooled-2026:T1",
    )
    pay(
        pooled,
        provider,
        "spend:pooled-2026:EARLIER",
        {("medicaid", "care_coordination"): "1000.00"},
        money_staff["po-finance"],
    )
    return pooled


def returned(figures: dict) -> dict[str, str]:
    return {p["payer"]: p["returned"] for p in figures["payers"]}


def test_the_unwind_charges_obligations_to_their_funds_and_returns_the_rest_pro_rata(
    books: Pilot, money_staff
) -> None:
    # when finance computes the exit as of 2 March
    figures = preview_exit(pilot=books, as_of=AS_OF, by=money_staff["po-finance"], at=LATER)
    # then every obligation is charged to the fund it would be paid from
    owed = {
        (o["kind"], o["basis"], o["payer"], o["use"]): o["amount"] for o in figures["obligations"]
    }
    request_key = next(iter(o["basis"] for o in figures["obligations"] if o["kind"] == "spend"))
    assert owed == {
        ("spend", request_key, "fund", "transport"): "300.00",
        ("claim", "tranche:pooled-2026:T1", "medicaid", "milestones"): "200.00",
        ("claim", "tranche:pooled-2026:T1", "county", "milestones"): "120.00",
        ("claim", "tranche:pooled-2026:T1", "fund", "milestones"): "80.00",
        ("payable", "payable:riverside", "medicaid", "care_coordination"): "1000.00",
    }
    reserved = {(f["payer"], f["use"]): f["reserved"] for f in figures["funds"]}
    assert reserved[("medicaid", "care_coordination")] == "1000.00"
    assert reserved[("fund", "transport")] == "300.00"
    assert reserved[("county", "outreach")] == "0.00"
    assert figures["totals"] == {
        "obligations": "1700.00",
        "available": "160000.00",
        "reserved": "1700.00",
        "shortfall": "0.00",
        "returned": "158300.00",
    }
    # and the remaining 158,300 goes back 15:6:4
    assert returned(figures) == {"medicaid": "94980.00", "county": "37992.00", "fund": "25328.00"}
    assert figures["rule"] == "pro_rata_contribution"


def test_proposal_then_approval_posts_the_reserve_and_the_return(books: Pilot, money_staff) -> None:
    # given finance's proposal
    plan = propose_exit(pilot=books, as_of=AS_OF, by=money_staff["po-finance"], at=LATER)
    assert plan.status == ExitPlan.PROPOSED
    assert returned(plan.figures)["fund"] == "25328.00"
    # when the board chair approves it
    approve_exit(plan=plan, by=money_staff["po-board_chair"], at=LATER)
    # then both transactions are posted on their exit bases and every fund is empty
    plan.refresh_from_db()
    assert (plan.status, plan.decided_by) == (ExitPlan.POSTED, money_staff["po-board_chair"])
    assert plan.decision_right == "approve_exit/board_chair/*"
    posted = Transaction.objects.filter(kind=Transaction.EXIT).order_by("number")
    assert [t.basis_key for t in posted] == [
        "exit:pooled-2026:2026-03-02:reserve",
        "exit:pooled-2026:2026-03-02:return",
    ]
    assert set(ledger.funds_by_payer_and_use(books).values()) == {D("0.00")}
    balances = ledger.balances(books)
    assert balances["reserve:medicaid:care_coordination"] == D("1000.00")
    assert balances["reserve:medicaid:milestones"] == D("200.00")
    assert balances["reserve:county:milestones"] == D("120.00")
    assert balances["reserve:fund:transport"] == D("300.00")
    assert balances["reserve:fund:milestones"] == D("80.00")
    assert balances["returned:medicaid"] == D("94980.00")
    assert balances["returned:county"] == D("37992.00")
    assert balances["returned:fund"] == D("25328.00")
    assert ledger.unbalanced_transactions(books) == []
    assert list(
        AuditRecord.objects.filter(action__startswith="exit.")
        .order_by("seq")
        .values_list("action", flat=True)
    ) == [
        "exit.propose",
        "exit.approve",
    ]
    # and the exit cannot happen twice
    refused_without_writing(
        "already_exited",
        propose_exit,
        pilot=books,
        as_of=AS_OF,
        by=money_staff["po-finance"],
        at=LATER,
    )


def test_an_approval_of_changed_books_is_refused_as_stale(books: Pilot, money_staff) -> None:
    plan = propose_exit(pilot=books, as_of=AS_OF, by=money_staff["po-finance"], at=LATER)
    # given more cash received for 2 March after the proposal
    fund(books, money_staff, "county", {"outreach": "10.00"}, at=LATER)
    refused_without_writing(
        "exit_stale", approve_exit, plan=plan, by=money_staff["po-board_chair"], at=LATER
    )


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("po-finance", "own_proposal"),
        ("po-finance-2", "no_decision_right"),
        ("pr-medicaid", "no_decision_right"),
        ("po-executive_sponsor", "no_decision_right"),
    ],
)
def test_only_somebody_else_with_the_exit_right_approves(
    books: Pilot, money_staff, who, code
) -> None:
    plan = propose_exit(pilot=books, as_of=AS_OF, by=money_staff["po-finance"], at=LATER)
    refused_without_writing(code, approve_exit, plan=plan, by=money_staff[who], at=LATER)


@pytest.mark.parametrize("who", ["auditor", "rs-frontline", "ar-assurance"])
def test_auditors_and_others_may_not_approve(books: Pilot, money_staff, who) -> None:
    plan = propose_exit(pilot=books, as_of=AS_OF, by=money_staff["po-finance"], at=LATER)
    before = money_snapshot()
    with pytest.raises(NotPermitted):
        approve_exit(plan=plan, by=money_staff[who], at=LATER)
    assert money_snapshot() == before


def test_a_plan_is_approved_once(books: Pilot, money_staff) -> None:
    plan = propose_exit(pilot=books, as_of=AS_OF, by=money_staff["po-finance"], at=LATER)
    again = ExitPlan.objects.get(pk=plan.pk)
    approve_exit(plan=plan, by=money_staff["po-board_chair"], at=LATER)
    refused_without_writing(
        "not_proposed", approve_exit, plan=again, by=money_staff["po-board_chair"], at=LATER
    )


@pytest.mark.parametrize(
    ("as_of", "code"),
    [
        ("2026-03-03", "as_of_in_future"),
        ("2025-12-31", "before_pilot"),
        ("2026-02-30", "invalid_date"),
    ],
)
def test_bad_dates_are_refused(books: Pilot, money_staff, as_of, code) -> None:
    refused_without_writing(
        code, propose_exit, pilot=books, as_of=as_of, by=money_staff["po-finance"], at=LATER
    )


@pytest.mark.parametrize("who", ["auditor", "pr-county", "po-board_chair"])
def test_only_finance_proposes(books: Pilot, money_staff, who) -> None:
    before = money_snapshot()
    with pytest.raises(NotPermitted):
        propose_exit(pilot=books, as_of=AS_OF, by=money_staff[who], at=LATER)
    assert money_snapshot() == before


def test_obligations_are_those_not_yet_in_the_ledger_as_of_the_date(
    books: Pilot, money_staff, provider
) -> None:
    # given the tranche paid on 2 March: it is no longer an obligation as of that day
    pay(
        books,
        provider,
        "tranche:pooled-2026:T1",
        {
            ("medicaid", "milestones"): "200.00",
            ("county", "milestones"): "120.00",
            ("fund", "milestones"): "80.00",
        },
        money_staff["po-finance"],
    )
    figures = unwind.compute(books, AS_OF)
    kinds = {(o["kind"], o["basis"]) for o in figures["obligations"]}
    assert ("claim", "tranche:pooled-2026:T1") not in kinds
    # it is still owed to riverside (not remitted), now as a payable
    payable = {
        (o["payer"], o["use"]): o["amount"]
        for o in figures["obligations"]
        if o["kind"] == "payable"
    }
    assert payable == {
        ("medicaid", "care_coordination"): "1000.00",
        ("medicaid", "milestones"): "200.00",
        ("county", "milestones"): "120.00",
        ("fund", "milestones"): "80.00",
    }
    # and as of the day before, nothing had been received, approved or paid
    before = unwind.compute(books, date(2026, 3, 1))
    assert before["obligations"] == [] and before["totals"]["returned"] == "0.00"


def test_unspent_by_payer_gives_each_payer_its_own_remainder(admin: User, provider) -> None:
    document = (
        example("multi-payer")
        .replace('id = "pooled-2026"', 'id = "pooled-unspent"')
        .replace('unwind = "pro_rata_contribution"', 'unwind = "unspent_by_payer"')
    )
    pilot = actions.create_pilot(document=document, by=admin, at=NOW)
    for payer, amount in (("medicaid", "1500000.00"), ("county", "600000.00")):
        commit(pilot, payer, amount, admin)
    receive(pilot, "medicaid", "R1", {"care_coordination": "1000.00"}, admin)
    receive(pilot, "county", "R1", {"outreach": "500.00", "milestones": "250.00"}, admin)
    pay(pilot, provider, "spend:pooled-unspent:S1", {("county", "outreach"): "100.00"}, admin)
    figures = unwind.compute(pilot, AS_OF)
    assert figures["rule"] == "unspent_by_payer"
    assert returned(figures) == {"medicaid": "1000.00", "county": "650.00", "fund": "0.00"}


def test_a_payer_sees_only_its_own_figures(books: Pilot, money_staff) -> None:
    figures = unwind.compute(books, AS_OF)
    mine = unwind.scoped(figures, "county")
    assert {r["payer"] for r in mine["obligations"] + mine["funds"] + mine["payers"]} == {"county"}
    assert mine["totals"] is None


def test_after_the_exit_only_the_reserved_obligations_are_paid_from_the_reserves(
    books: Pilot, money_staff
) -> None:
    # given the posted exit (obligations: the $300 spend request and tranche T1's $400)
    plan = propose_exit(pilot=books, as_of=AS_OF, by=money_staff["po-finance"], at=LATER)
    approve_exit(plan=plan, by=money_staff["po-board_chair"], at=LATER)
    # when finance runs March's payments
    result = run_payments(
        pilot=books, month=AS_OF.replace(day=1), by=money_staff["po-finance"], at=LATER
    )
    # then both obligations are paid, in cash from their reserves, which are now empty
    assert sorted(i.basis_key for i in result.paid) == [
        "spend:pooled-2026:SR-0001",
        "tranche:pooled-2026:T1",
    ]
    assert result.total == D("700.00")
    balances = ledger.balances(books)
    for account in (
        "reserve:fund:transport",
        "reserve:fund:milestones",
        "reserve:county:milestones",
        "reserve:medicaid:milestones",
    ):
        assert balances[account] == D("0.00"), account
    assert set(ledger.funds_by_payer_and_use(books).values()) == {D("0.00")}
    # and no new money comes in or is committed
    refused_without_writing(
        "pilot_exited",
        receive_contribution,
        pilot=books,
        payer="fund",
        reference="LATE-1",
        allocations={"transport": D("10.00")},
        received_on=AS_OF,
        by=money_staff["po-finance"],
        at=LATER,
    )
    refused_without_writing(
        "pilot_exited",
        request_spend,
        pilot=books,
        payer="fund",
        use="transport",
        amount=D("25.00"),
        payee=money_staff["rs-frontline"].organisation,
        purpose="Bus pass",
        by=money_staff["rs-frontline"],
        at=LATER,
    )
