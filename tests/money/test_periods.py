"""Accounting periods (open → locked → closed) and reversals (C13 corrections)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from fundpilot.audit.models import AuditRecord
from fundpilot.money import ledger
from fundpilot.money.actions.ledger import (
    close_period,
    lock_period,
    reopen_period,
    reverse_transaction,
)
from fundpilot.money.models import Period, Transaction
from fundpilot.pilots.models import Organisation, Pilot
from fundpilot.rules.errors import NotPermitted, Refused
from tests.conftest import NOW
from tests.money.conftest import money_snapshot
from tests.money.funds_fixtures import commit, funded, pay, receive, remit

LATER = NOW + timedelta(days=60)  # 1 May 2026: January to March have ended


def status(pilot: Pilot, month: str) -> str:
    return ledger.period_status(pilot, ledger.parse_month(month))


def refused(code: str, call, **kwargs) -> None:
    before = money_snapshot()
    with pytest.raises(Refused) as exc:
        call(**kwargs)
    assert exc.value.code == code, exc.value.message
    assert money_snapshot() == before


# --- periods ---------------------------------------------------------------------------


def test_a_month_locks_closes_in_order_and_is_audited(pooled: Pilot, money_staff) -> None:
    finance = money_staff["po-finance"]
    # given January closed, when February is locked then closed
    for month in ("2026-01", "2026-02"):
        lock_period(pilot=pooled, month=month, by=finance, at=LATER)
        assert status(pooled, month) == Period.LOCKED
        close_period(pilot=pooled, month=month, by=finance, at=LATER)
    # then both are closed, each change by finance in the audit chain
    assert status(pooled, "2026-02") == Period.CLOSED
    period = Period.objects.get(pilot=pooled, month=date(2026, 2, 1))
    assert (period.changed_by, period.changed_at) == (finance, LATER)
    actions = list(
        AuditRecord.objects.filter(action__startswith="period.").values_list("action", "subject")
    )
    assert actions == [
        ("period.lock", "period:2026-01"),
        ("period.close", "period:2026-01"),
        ("period.lock", "period:2026-02"),
        ("period.close", "period:2026-02"),
    ]


def test_a_locked_month_reopens_but_a_closed_one_is_final(pooled: Pilot, money_staff) -> None:
    finance = money_staff["po-finance"]
    lock_period(pilot=pooled, month="2026-01", by=finance, at=LATER)
    reopen_period(pilot=pooled, month="2026-01", by=finance, at=LATER)
    assert status(pooled, "2026-01") == Period.OPEN
    lock_period(pilot=pooled, month="2026-01", by=finance, at=LATER)
    close_period(pilot=pooled, month="2026-01", by=finance, at=LATER)
    refused("period_state", reopen_period, pilot=pooled, month="2026-01", by=finance, at=LATER)
    refused("period_state", lock_period, pilot=pooled, month="2026-01", by=finance, at=LATER)


def test_period_changes_that_skip_a_state_are_refused(pooled: Pilot, money_staff) -> None:
    finance = money_staff["po-finance"]
    # an open month cannot close or reopen; a locked one cannot lock again
    refused("period_state", close_period, pilot=pooled, month="2026-01", by=finance, at=LATER)
    refused("period_state", reopen_period, pilot=pooled, month="2026-01", by=finance, at=LATER)
    lock_period(pilot=pooled, month="2026-01", by=finance, at=LATER)
    refused("period_state", lock_period, pilot=pooled, month="2026-01", by=finance, at=LATER)


def test_a_month_closes_only_after_the_month_before(pooled: Pilot, money_staff) -> None:
    finance = money_staff["po-finance"]
    lock_period(pilot=pooled, month="2026-02", by=finance, at=LATER)
    # January (in the pilot, never locked) is still open
    refused("earlier_month_open", close_period, pilot=pooled, month="2026-02", by=finance, at=LATER)
    # January locked is not enough either
    lock_period(pilot=pooled, month="2026-01", by=finance, at=LATER)
    refused("earlier_month_open", close_period, pilot=pooled, month="2026-02", by=finance, at=LATER)
    close_period(pilot=pooled, month="2026-01", by=finance, at=LATER)
    close_period(pilot=pooled, month="2026-02", by=finance, at=LATER)
    assert status(pooled, "2026-02") == Period.CLOSED


@pytest.mark.parametrize(
    ("month", "code"),
    [("2026-13", "invalid_month"), ("March", "invalid_month"), ("2026-05", "month_not_over")],
)
def test_bad_or_unfinished_months_are_refused(pooled: Pilot, money_staff, month, code) -> None:
    refused(code, lock_period, pilot=pooled, month=month, by=money_staff["po-finance"], at=LATER)


@pytest.mark.parametrize("who", ["auditor", "pr-county", "po-board_chair", "rs-supervisor"])
def test_only_finance_manages_periods(pooled: Pilot, money_staff, who) -> None:
    before = money_snapshot()
    with pytest.raises(NotPermitted):
        lock_period(pilot=pooled, month="2026-01", by=money_staff[who], at=LATER)
    assert money_snapshot() == before


def test_a_late_item_for_a_locked_month_posts_to_the_first_open_month(
    pooled: Pilot, money_staff
) -> None:
    finance = money_staff["po-finance"]
    # given March and April locked (on 1 May)
    lock_period(pilot=pooled, month="2026-03", by=finance, at=LATER)
    lock_period(pilot=pooled, month="2026-04", by=finance, at=LATER)
    commit(pooled, "county", "600000.00", finance)
    # when a receipt dated in March posts in May
    with transaction.atomic():
        txn = ledger.post(
            pooled,
            ledger.Posting(
                kind=Transaction.RECEIPT,
                basis_key="receipt:pooled-2026:county:LATE",
                legs=[
                    ledger.Leg("fund:county:outreach", Decimal("500.00")),
                    ledger.Leg("receivable:county", Decimal("-500.00")),
                ],
                effective_on=date(2026, 3, 20),
            ),
            by=finance,
            at=LATER,
        )
    # then it is an adjustment of March in May, effective on May's first day
    assert (txn.period, txn.adjusts, txn.effective_on) == (
        date(2026, 5, 1),
        date(2026, 3, 1),
        date(2026, 5, 1),
    )
    # and after reopening March, the next late item posts to March itself
    reopen_period(pilot=pooled, month="2026-03", by=finance, at=LATER)
    again = receive(pooled, "county", "LATE-2", {"outreach": "1.00"}, finance, on=date(2026, 3, 21))
    assert (again.period, again.adjusts) == (date(2026, 3, 1), None)


# --- reversal ---------------------------------------------------------------------------


def test_a_reversal_mirrors_the_legs_and_the_basis_is_never_paid_again(
    pooled: Pilot, money_staff, provider: Organisation
) -> None:
    finance = money_staff["po-finance"]
    funded(pooled, finance)
    payment = pay(
        pooled, provider, "spend:pooled-2026:S1", {("fund", "transport"): "300.00"}, finance
    )
    # when finance reverses the payment
    back = reverse_transaction(
        pilot=pooled, number=payment.number, reason="paid to the wrong provider", by=finance, at=NOW
    )
    # then the reversal names it and undoes it, and is audited
    assert back.reverses == payment and back.kind == Transaction.REVERSAL
    assert back.basis_key == "reversal:spend:pooled-2026:S1"
    balances = ledger.balances(pooled)
    assert balances["paid:fund:transport"] == Decimal("0.00")
    assert balances["payable:riverside"] == Decimal("0.00")
    record = AuditRecord.objects.get(action="ledger.reverse")
    assert record.payload["reverses"] == payment.number
    assert record.payload["reason"] == "paid to the wrong provider"
    assert ledger.unbalanced_transactions(pooled) == []
    # and the basis cannot be paid again
    before = money_snapshot()
    with pytest.raises(Refused) as exc:
        pay(pooled, provider, "spend:pooled-2026:S1", {("fund", "transport"): "300.00"}, finance)
    assert exc.value.code == "already_posted"
    assert money_snapshot() == before


def test_reversal_refusals_write_nothing(pooled: Pilot, money_staff, provider) -> None:
    finance = money_staff["po-finance"]
    funded(pooled, finance)
    payment = pay(
        pooled, provider, "spend:pooled-2026:S1", {("fund", "transport"): "5.00"}, finance
    )
    kwargs = {"pilot": pooled, "by": finance, "at": NOW}
    refused("reason_required", reverse_transaction, number=payment.number, reason="  ", **kwargs)
    refused("unknown_transaction", reverse_transaction, number=999, reason="x", **kwargs)
    back = reverse_transaction(number=payment.number, reason="wrong", **kwargs)
    refused("already_reversed", reverse_transaction, number=payment.number, reason="x", **kwargs)
    refused("is_reversal", reverse_transaction, number=back.number, reason="x", **kwargs)


def test_a_receipt_already_spent_cannot_be_reversed(pooled: Pilot, money_staff, provider) -> None:
    finance = money_staff["po-finance"]
    commit(pooled, "fund", "400000.00", finance)
    cash = receive(pooled, "fund", "R1", {"transport": "100.00"}, finance)
    # given $60 of it paid out to riverside
    pay(pooled, provider, "spend:pooled-2026:S1", {("fund", "transport"): "60.00"}, finance)
    remit(
        pooled, provider, "remit:pooled-2026:1:riverside", {("fund", "transport"): "60.00"}, finance
    )
    refused(
        "insufficient_funds",
        reverse_transaction,
        pilot=pooled,
        number=cash.number,
        reason="bounced",
        by=finance,
        at=NOW,
    )


@pytest.mark.parametrize("who", ["auditor", "pr-medicaid", "po-board_chair", "po-compliance"])
def test_only_finance_reverses(pooled: Pilot, money_staff, who) -> None:
    txn = commit(pooled, "county", "600000.00", money_staff["po-finance"])
    before = money_snapshot()
    with pytest.raises(NotPermitted):
        reverse_transaction(
            pilot=pooled, number=txn.number, reason="x", by=money_staff[who], at=NOW
        )
    assert money_snapshot() == before
