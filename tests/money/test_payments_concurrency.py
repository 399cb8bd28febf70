"""C13 on PostgreSQL with real commits: two payment runs of the same month started at
once pay each basis exactly once (the ledger lock queues the second, which then finds
nothing left to pay), and so do runs of two different months racing."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from fundpilot.money.actions.payments import run_payments
from fundpilot.money.models import PaymentRun, Transaction
from tests.money.payment_fixtures import (
    APRIL,
    MARCH,
    RUN_AT,
    blended_world,
    episode,
    fund,
    level,
)

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("committed_db")]


def race(*calls):
    """Run each call in its own thread, released together; results and errors."""
    start = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def work(i, call):
        try:
            start.wait()
            results[i] = call()
        except Exception as exc:  # reported to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.fixture
def world(admin, provider, other_provider):
    made = blended_world(admin, provider, other_provider)
    fund(made.pilot, "php", {"care_management": "50000.00", "episodes": "20000.00"})
    level(made, made.b1, "SL1", date(2026, 3, 4))
    level(made, made.b2, "SL1", date(2026, 3, 4))
    level(made, made.b2, "SL2", date(2026, 3, 18))
    for day in (10, 17, 24):
        episode(made, made.b1, "EP-TRANSITION", date(2026, 3, day))
    return made


def test_two_runs_at_once_pay_each_basis_once(world):
    # when
    results = race(
        *[
            lambda: run_payments(pilot=world.pilot, month=MARCH, by=world.finance, at=RUN_AT)
            for _ in range(2)
        ]
    )
    # then: one run posted everything, the other found nothing
    assert not [r for r in results if isinstance(r, Exception)], results
    totals = sorted(r.total for r in results)
    assert totals[0] == Decimal("0.00") and totals[1] > 0
    assert PaymentRun.objects.count() == 1
    keys = list(Transaction.objects.filter(kind="payment").values_list("basis_key", flat=True))
    assert len(keys) == len(set(keys)) == 5  # two PMPM months, three episodes


def test_runs_of_two_months_racing_pay_each_basis_once(world):
    # when: March and April at once, twice each
    results = race(
        *[
            lambda m=m: run_payments(pilot=world.pilot, month=m, by=world.finance, at=RUN_AT)
            for m in (MARCH, APRIL, MARCH, APRIL)
        ]
    )
    # then
    assert not [r for r in results if isinstance(r, Exception)], results
    keys = list(Transaction.objects.filter(kind="payment").values_list("basis_key", flat=True))
    assert len(keys) == len(set(keys)) == 7  # March: 2 PMPM + 3 episodes; April: 2 PMPM
    assert PaymentRun.objects.count() == 2
    assert sorted(PaymentRun.objects.values_list("number", flat=True)) == [1, 2]
