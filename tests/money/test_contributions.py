"""C12 contributions: committed once at the rulebook's amount, received in parts
allocated to the payer's allowable uses, never beyond what is committed."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.money import ledger
from fundpilot.money.actions.contributions import (
    commit_contribution,
    contribution_state,
    receive_contribution,
)
from fundpilot.money.models import Transaction
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import NotPermitted
from tests.conftest import NOW
from tests.money.conftest import money_snapshot
from tests.money.spending_fixtures import refused_without_writing

TODAY = date(2026, 3, 2)


@pytest.fixture
def finance(money_staff: dict[str, User]) -> User:
    return money_staff["po-finance"]


@pytest.fixture
def committed(pooled: Pilot, finance: User) -> Transaction:
    return commit_contribution(pilot=pooled, payer="county", by=finance, at=NOW)


def receipt(pilot: Pilot, by: User, **overrides: object) -> dict[str, object]:
    return {
        "pilot": pilot,
        "payer": "county",
        "reference": "ACH-1001",
        "allocations": {"outreach": Decimal("200000.00"), "health_education": Decimal("50000")},
        "received_on": TODAY,
        "by": by,
        "at": NOW,
    } | overrides


def test_committing_posts_the_rulebooks_contribution_once(pooled: Pilot, finance: User) -> None:
    # given
    audit = AuditRecord.objects.count()
    # when
    txn = commit_contribution(pilot=pooled, payer="county", by=finance, at=NOW)
    # then: receivable against contribution, effective from the pilot's start
    assert (txn.basis_key, txn.kind, txn.amount) == (
        "commit:pooled-2026:county",
        "commitment",
        Decimal("600000.00"),
    )
    assert txn.effective_on == date(2026, 1, 1)
    assert ledger.balances(pooled, payer="county") == {
        "receivable:county": Decimal("600000.00"),
        "contribution:county": Decimal("-600000.00"),
    }
    record = AuditRecord.objects.order_by("-pk").first()
    assert AuditRecord.objects.count() == audit + 1
    assert (record.action, record.subject) == ("contribution.commit", "contribution:county")


def test_a_receipt_funds_each_allowable_use(
    pooled: Pilot, finance: User, committed: Transaction
) -> None:
    # when
    txn = receive_contribution(**receipt(pooled, finance))
    # then
    assert (txn.basis_key, txn.amount, txn.effective_on) == (
        "receipt:pooled-2026:county:ACH-1001",
        Decimal("250000.00"),
        TODAY,
    )
    assert ledger.fund_available(pooled, "county", "outreach") == Decimal("200000.00")
    assert ledger.fund_available(pooled, "county", "health_education") == Decimal("50000.00")
    state = contribution_state(pooled, "county")
    assert (state.committed, state.received, state.outstanding) == (
        Decimal("600000.00"),
        Decimal("250000.00"),
        Decimal("350000.00"),
    )
    assert AuditRecord.objects.order_by("-pk").first().action == "contribution.receive"


def test_receipts_up_to_the_whole_contribution_are_accepted(
    pooled: Pilot, finance: User, committed: Transaction
) -> None:
    receive_contribution(**receipt(pooled, finance))
    receive_contribution(
        **receipt(pooled, finance, reference="ACH-1002", allocations={"outreach": "350000.00"})
    )
    assert contribution_state(pooled, "county").outstanding == Decimal("0.00")


def test_commit_refuses_an_unknown_payer(pooled: Pilot, finance: User) -> None:
    refusal = refused_without_writing(
        "unknown_payer", commit_contribution, pilot=pooled, payer="state", by=finance, at=NOW
    )
    assert "medicaid, county, fund" in refusal.message


def test_commit_refuses_a_second_commitment(
    pooled: Pilot, finance: User, committed: Transaction
) -> None:
    refused_without_writing(
        "already_committed", commit_contribution, pilot=pooled, payer="county", by=finance, at=NOW
    )


def test_only_finance_records_contributions(
    pooled: Pilot, money_staff: dict[str, User], committed: Transaction
) -> None:
    before = money_snapshot()
    for name in ("po-executive_sponsor", "pr-county", "rs-frontline"):
        with pytest.raises(NotPermitted):
            commit_contribution(pilot=pooled, payer="fund", by=money_staff[name], at=NOW)
        with pytest.raises(NotPermitted):
            receive_contribution(**receipt(pooled, money_staff[name]))
    assert money_snapshot() == before


@pytest.mark.parametrize(
    ("overrides", "code", "named"),
    [
        ({"payer": "state"}, "unknown_payer", "medicaid, county, fund"),
        (
            {"allocations": {"transport": Decimal("10.00")}},
            "use_not_allowed",
            "outreach, health_education",
        ),
        ({"allocations": {"outreach": Decimal("0")}}, "invalid_amount", "positive"),
        ({"allocations": {"outreach": Decimal("-5.00")}}, "invalid_amount", "positive"),
        ({"allocations": {"outreach": Decimal("10.005")}}, "invalid_amount", "2 decimal"),
        ({"allocations": {"outreach": "ten"}}, "invalid_amount", "ten"),
        ({"allocations": {}}, "no_allocation", "allowable use"),
        ({"reference": " "}, "invalid_reference", "reference"),
        ({"received_on": TODAY + timedelta(days=1)}, "received_in_future", "after today"),
        (
            {"allocations": {"outreach": Decimal("600000.01")}},
            "over_contribution",
            "$600,000.00",
        ),
    ],
)
def test_receipt_refusals_write_nothing(
    pooled: Pilot,
    finance: User,
    committed: Transaction,
    overrides: dict[str, object],
    code: str,
    named: str,
) -> None:
    refusal = refused_without_writing(
        code, receive_contribution, **receipt(pooled, finance, **overrides)
    )
    assert named in refusal.message


def test_over_contribution_names_what_is_still_outstanding(
    pooled: Pilot, finance: User, committed: Transaction
) -> None:
    # given: 250,000 of 600,000 received
    receive_contribution(**receipt(pooled, finance))
    # when / then
    refusal = refused_without_writing(
        "over_contribution",
        receive_contribution,
        **receipt(pooled, finance, reference="ACH-1002", allocations={"outreach": "350000.01"}),
    )
    assert "$350,000.00" in refusal.message


def test_a_receipt_before_the_commitment_is_refused(pooled: Pilot, finance: User) -> None:
    refused_without_writing("not_committed", receive_contribution, **receipt(pooled, finance))


def test_the_same_receipt_reference_posts_once(
    pooled: Pilot, finance: User, committed: Transaction
) -> None:
    receive_contribution(**receipt(pooled, finance))
    refused_without_writing(
        "already_posted",
        receive_contribution,
        **receipt(pooled, finance, allocations={"outreach": Decimal("1.00")}),
    )
