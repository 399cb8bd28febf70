"""The ledger's own guarantees, enforced by the database as well as the code."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from fundpilot.money import ledger
from fundpilot.money.ledger import Leg, Posting
from fundpilot.money.models import Entry, Period, Transaction
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from tests.conftest import NOW
from tests.money.conftest import money_snapshot

DB_REFUSALS = DatabaseError  # IntegrityError, InternalError, ProgrammingError … by vendor


def receipt(key: str, amount: str, on: date = date(2026, 3, 2)) -> Posting:
    return Posting(
        kind=Transaction.RECEIPT,
        basis_key=key,
        legs=[
            Leg("fund:medicaid:milestones", Decimal(amount)),
            Leg("receivable:medicaid", -Decimal(amount)),
        ],
        effective_on=on,
    )


def test_a_balanced_posting_moves_balances(pooled: Pilot, admin: User) -> None:
    # Given an empty ledger, when a receipt of $1,000.00 posts
    with transaction.atomic():
        txn = ledger.post(pooled, receipt("receipt:1", "1000.00"), by=admin, at=NOW)
    # Then both accounts move by it, and the transaction records its debit total
    assert txn.amount == Decimal("1000.00")
    assert ledger.balances(pooled) == {
        "fund:medicaid:milestones": Decimal("1000.00"),
        "receivable:medicaid": Decimal("-1000.00"),
    }
    assert ledger.fund_available(pooled, "medicaid", "milestones") == Decimal("1000.00")


def test_an_unbalanced_posting_is_refused_and_writes_nothing(pooled: Pilot, admin: User) -> None:
    before = money_snapshot()
    bad = Posting(
        kind=Transaction.RECEIPT,
        basis_key="receipt:bad",
        legs=[
            Leg("fund:medicaid:milestones", Decimal("10.00")),
            Leg("receivable:medicaid", Decimal("-9.99")),
        ],
        effective_on=date(2026, 3, 2),
    )
    with pytest.raises(Refused) as refused, transaction.atomic():
        ledger.post(pooled, bad, by=admin, at=NOW)
    assert refused.value.code == "unbalanced"
    assert money_snapshot() == before


def forge(pilot: Pilot, account: object, legs: list[int], recorded: int) -> None:
    """Write a header and its legs around the code, legs first as the ledger does."""
    forged = Transaction(
        pilot=pilot,
        number=99,
        kind="receipt",
        basis_key="forged",
        period=date(2026, 3, 1),
        effective_on=date(2026, 3, 2),
        posted_at=NOW,
        amount_cents=recorded,
        rulebook_version=1,
    )
    for cents in legs:
        Entry.objects.create(transaction=forged, account=account, amount_cents=cents)
    forged.save(force_insert=True)


@pytest.mark.parametrize(
    ("legs", "recorded"),
    [
        ([500], 500),  # one leg
        ([500, -499], 500),  # legs that do not sum to zero
        ([500, -500], 400),  # balanced, but not the amount the header records
    ],
)
def test_the_database_refuses_a_header_its_legs_do_not_support(
    pooled: Pilot, admin: User, legs: list[int], recorded: int
) -> None:
    with transaction.atomic():
        txn = ledger.post(pooled, receipt("receipt:1", "5.00"), by=admin, at=NOW)
    account = Entry.objects.filter(transaction=txn).first().account
    with pytest.raises(DB_REFUSALS), transaction.atomic():
        forge(pooled, account, legs, recorded)
    assert not Transaction.objects.filter(basis_key="forged").exists()


def test_the_database_accepts_a_header_its_legs_support(pooled: Pilot, admin: User) -> None:
    # The same forged write with consistent legs goes through: the refusals above are
    # the trigger's doing, not some other fault of the forgery.
    with transaction.atomic():
        txn = ledger.post(pooled, receipt("receipt:1", "5.00"), by=admin, at=NOW)
    account = Entry.objects.filter(transaction=txn).first().account
    with transaction.atomic():
        forge(pooled, account, [500, -500], 500)
    assert Transaction.objects.filter(basis_key="forged").exists()


def test_the_database_refuses_a_leg_added_to_a_posted_transaction(
    pooled: Pilot, admin: User
) -> None:
    with transaction.atomic():
        txn = ledger.post(pooled, receipt("receipt:1", "5.00"), by=admin, at=NOW)
    account = Entry.objects.filter(transaction=txn).first().account
    with pytest.raises(DB_REFUSALS), transaction.atomic():
        Entry.objects.create(transaction=txn, account=account, amount_cents=1)


def test_ledger_rows_cannot_be_updated_or_deleted(pooled: Pilot, admin: User) -> None:
    with transaction.atomic():
        txn = ledger.post(pooled, receipt("receipt:1", "5.00"), by=admin, at=NOW)
    for statement in (
        "UPDATE money_entry SET amount_cents = amount_cents * 2",
        "DELETE FROM money_entry",
        "UPDATE money_transaction SET memo = 'edited'",
        "DELETE FROM money_transaction",
    ):
        with pytest.raises(DB_REFUSALS), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert Transaction.objects.get(pk=txn.pk).memo == ""


def test_a_basis_posts_once(pooled: Pilot, admin: User) -> None:
    with transaction.atomic():
        ledger.post(pooled, receipt("receipt:1", "5.00"), by=admin, at=NOW)
    before = money_snapshot()
    with pytest.raises(Refused) as refused, transaction.atomic():
        ledger.post(pooled, receipt("receipt:1", "5.00"), by=admin, at=NOW)
    assert refused.value.code == "already_posted"
    assert money_snapshot() == before


def test_a_batch_naming_one_basis_twice_is_refused_and_writes_nothing(
    pooled: Pilot, admin: User
) -> None:
    before = money_snapshot()
    twice = [receipt("receipt:7", "5.00"), receipt("receipt:7", "5.00")]
    with pytest.raises(Refused) as refused, transaction.atomic():
        ledger.post_many(pooled, twice, by=admin, at=NOW)
    assert (refused.value.code, refused.value.field) == ("basis_repeated", "basis")
    assert money_snapshot() == before


def test_a_reversal_names_what_it_reverses_and_restores_balances(
    pooled: Pilot, admin: User
) -> None:
    with transaction.atomic():
        txn = ledger.post(pooled, receipt("receipt:1", "250.00"), by=admin, at=NOW)
        back = ledger.post(
            pooled,
            ledger.reversal_of(txn, effective_on=date(2026, 3, 3), reason="keyed twice"),
            by=admin,
            at=NOW,
        )
    assert back.reverses == txn and ledger.is_reversed(txn)
    assert set(ledger.balances(pooled).values()) == {Decimal("0.00")}
    # Balances at a date come from the entries up to it
    assert ledger.balances(pooled, on=date(2026, 3, 2))["fund:medicaid:milestones"] == Decimal(
        "250.00"
    )


def test_a_late_item_for_a_closed_month_posts_to_the_current_month(
    pooled: Pilot, admin: User
) -> None:
    Period.objects.create(pilot=pooled, month=date(2026, 2, 1), status=Period.CLOSED)
    with transaction.atomic():
        txn = ledger.post(
            pooled,
            receipt("receipt:late", "7.00", on=date(2026, 2, 20)),
            by=admin,
            at=NOW + timedelta(days=1),
        )
    assert txn.period == date(2026, 3, 1)
    assert txn.adjusts == date(2026, 2, 1)
