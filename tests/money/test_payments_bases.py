"""C13 payment runs of the other bases: a released tranche split between two payers
(discharge-2026, 60/40) and an approved spend request (pooled-2026), each paid once;
and a run whose payer split reaches a payer the runner has no decision right for."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fundpilot.money import ledger
from fundpilot.money.actions.payments import run_payments
from fundpilot.money.actions.spending import approve_spend, request_spend
from fundpilot.money.models import Entry, PaymentRun, Transaction
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import media
from tests.claims.conftest import contract_pilot, contract_staff
from tests.claims.contract_fixtures import released
from tests.conftest import NOW
from tests.money.conftest import money_snapshot
from tests.money.payment_fixtures import (
    MARCH,
    RUN_AT,
    blended_document,
    blended_world,
    fund,
    level,
)

# Fixtures from other modules, named here so pytest finds them in this one.
FIXTURES = (media, contract_pilot, contract_staff)

D = Decimal
pytestmark = pytest.mark.usefixtures("media")


def test_a_released_tranche_is_paid_once_split_between_its_payers(
    contract_pilot,
    contract_staff,
):
    # given: T1 ($250,000) released in March; both payers' tranche funds received
    claim = released(contract_pilot, "C1", contract_staff, NOW)
    fund(contract_pilot, "northstar", {"tranche_payments": "300000.00"})
    fund(contract_pilot, "riverbend", {"tranche_payments": "200000.00"})
    finance = contract_staff[Role.FINANCE]
    # when
    first = run_payments(pilot=contract_pilot, month=MARCH, by=finance, at=RUN_AT)
    second = run_payments(pilot=contract_pilot, month=MARCH, by=finance, at=RUN_AT)
    # then: 60% northstar, 40% riverbend, summing to the tranche
    txn = Transaction.objects.get(basis_key=claim.basis_key)
    parts = dict(
        Entry.objects.filter(transaction=txn, account__kind="paid").values_list(
            "account__payer", "amount_cents"
        )
    )
    assert parts == {"northstar": 15_000_000, "riverbend": 10_000_000}
    assert first.by_kind() == {"tranche": {"count": 1, "amount": "250000.00"}}
    assert first.total == D("250000.00")
    assert second.nothing_due and second.total == 0
    books = ledger.balances(contract_pilot)
    assert books["fund:northstar:tranche_payments"] == D("150000.00")
    assert books["fund:riverbend:tranche_payments"] == D("100000.00")


def test_an_approved_spend_request_is_paid_to_its_payee_once(pooled, money_staff, provider):
    # given: $5,000 of medicaid's care coordination funds; a $1,250 request approved
    fund(pooled, "medicaid", {"care_coordination": "5000.00"})
    request = request_spend(
        pilot=pooled,
        payer="medicaid",
        use="care_coordination",
        amount=D("1250.00"),
        payee=provider,
        purpose="care coordination sessions",
        by=money_staff["rs-frontline"],
        at=datetime(2026, 3, 9, 15, 0, tzinfo=UTC),
    )
    approve_spend(
        request=request,
        by=money_staff["po-finance"],
        at=datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
    )
    # when
    run = run_payments(pilot=pooled, month=MARCH, by=money_staff["po-finance-2"], at=RUN_AT)
    again = run_payments(pilot=pooled, month=MARCH, by=money_staff["po-finance-2"], at=RUN_AT)
    # then
    assert run.by_kind() == {"spend": {"count": 1, "amount": "1250.00"}}
    txn = Transaction.objects.get(basis_key=f"spend:{pooled.slug}:{request.reference}")
    assert (txn.amount, txn.provider, txn.run.number) == (D("1250.00"), provider, 1)
    assert ledger.balances(pooled)["fund:medicaid:care_coordination"] == D("3750.00")
    assert again.nothing_due and PaymentRun.objects.count() == 1


def test_a_payer_outside_the_runners_decision_right_refuses_the_whole_run(
    admin, provider, other_provider
):

    # given: PMPM split with county, whose payments finance holds no right to release
    split = (
        'pmpm = [{ payer = "php", use = "care_management", share = 70 },'
        ' { payer = "county", use = "care_management", share = 30 }]'
    )
    document = blended_document(pmpm_split=split).replace(
        'role = "finance"\npayers = "*"', 'role = "finance"\npayers = ["php"]'
    )
    world = blended_world(admin, provider, other_provider, document=document)
    fund(world.pilot, "php", {"care_management": "5000.00"})
    fund(world.pilot, "county", {"care_management": "5000.00"})
    level(world, world.b1, "SL1", date(2026, 3, 10))
    before = money_snapshot()
    # when / then
    with pytest.raises(Refused) as refused:
        run_payments(pilot=world.pilot, month=MARCH, by=world.finance, at=RUN_AT)
    assert refused.value.code == "no_decision_right"
    assert "county/care_management" in refused.value.message
    assert money_snapshot() == before
