"""C13 PMPM and episodes in payment runs (blended-2026): proration by day or by whole
month, a level change mid-month, a removal mid-month, the PMPM payer split, and that a
second run pays nothing.

Figures are computed here from the rulebook's rates (SL1 $145, SL2 $310, EP-TRANSITION
$175), not taken from the code. March 2026 has 31 days.
"""

from datetime import date
from decimal import Decimal

import pytest

from fundpilot.money import ledger
from fundpilot.money.actions.payments import run_payments
from fundpilot.money.due import split
from fundpilot.money.models import Entry, PaymentRun, Transaction
from fundpilot.rules.errors import Refused
from tests.money.payment_fixtures import (
    APRIL,
    MARCH,
    RUN_AT,
    blended_document,
    blended_world,
    cents,
    days_pay,
    episode,
    fund,
    level,
    remove,
)

D = Decimal
SL1, SL2, TRANSITION = D("145.00"), D("310.00"), D("175.00")


@pytest.fixture
def world(admin, provider, other_provider):
    made = blended_world(admin, provider, other_provider)
    fund(made.pilot, "php", {"care_management": "50000.00", "episodes": "20000.00"})
    return made


def pmpm_of(pilot, participant_id, month="2026-03"):
    txn = Transaction.objects.get(basis_key=f"pmpm:{pilot.slug}:{participant_id}:{month}")
    return txn.amount


def test_daily_proration_pays_each_day_at_its_level_and_stops_at_removal(world):
    # given: B-0001 at SL1 from 10 March, SL2 from 20 March; B-0002 at SL1 from 4 March,
    # removed on 16 March (on the roster until the 15th)
    level(world, world.b1, "SL1", date(2026, 3, 10))
    level(world, world.b1, "SL2", date(2026, 3, 20))
    level(world, world.b2, "SL1", date(2026, 3, 4))
    remove(world, world.b2, date(2026, 3, 16))
    # when
    result = run_payments(pilot=world.pilot, month=MARCH, by=world.finance, at=RUN_AT)
    # then: 10 days at SL1 and 12 at SL2 for B-0001; 12 days at SL1 for B-0002
    b1 = cents(days_pay(SL1, 10, 31) + days_pay(SL2, 12, 31))
    b2 = cents(days_pay(SL1, 12, 31))
    assert (b1, b2) == (D("166.77"), D("56.13"))
    assert pmpm_of(world.pilot, "B-0001") == b1
    assert pmpm_of(world.pilot, "B-0002") == b2
    assert result.total == b1 + b2
    assert PaymentRun.objects.get().total == b1 + b2
    assert ledger.balances(world.pilot)["fund:php:care_management"] == D("50000.00") - b1 - b2


def test_a_whole_month_at_one_level_pays_the_whole_rate(world):
    # given: B-0001 at SL2 since March; B-0002 removed in March
    level(world, world.b1, "SL1", date(2026, 3, 10))
    level(world, world.b1, "SL2", date(2026, 3, 20))
    remove(world, world.b2, date(2026, 3, 16))
    # when: April is paid
    run_payments(pilot=world.pilot, month=APRIL, by=world.finance, at=RUN_AT)
    # then: only B-0001, the whole SL2 rate
    assert pmpm_of(world.pilot, "B-0001", "2026-04") == SL2
    assert not Transaction.objects.filter(basis_key__contains="B-0002").exists()


def test_full_month_proration_pays_the_level_held_on_the_last_covered_day(
    admin, provider, other_provider
):
    # given: the same history under the full_month rule
    world = blended_world(admin, provider, other_provider, document=blended_document("full_month"))
    fund(world.pilot, "php", {"care_management": "50000.00"})
    level(world, world.b1, "SL1", date(2026, 3, 10))
    level(world, world.b1, "SL2", date(2026, 3, 20))
    level(world, world.b2, "SL1", date(2026, 3, 4))
    remove(world, world.b2, date(2026, 3, 16))
    # when
    result = run_payments(pilot=world.pilot, month=MARCH, by=world.finance, at=RUN_AT)
    # then: B-0001 ends March at SL2; B-0002's last covered day (15 March) is at SL1
    assert pmpm_of(world.pilot, "B-0001") == SL2
    assert pmpm_of(world.pilot, "B-0002") == SL1
    assert result.total == SL2 + SL1


def test_a_payment_type_without_a_payer_split_is_refused(admin, provider, other_provider):
    # a rulebook paying service levels must name the payers (the pilot is refused) …
    document = blended_document().replace(
        'pmpm = [{ payer = "php", use = "care_management", share = 100 }]', "pmpm = []"
    )
    with pytest.raises(Refused) as invalid:
        blended_world(admin, provider, other_provider, document=document)
    assert invalid.value.code == "rulebook_invalid" and "payment_split.pmpm" in str(invalid.value)
    # … and the split itself refuses to charge nobody
    with pytest.raises(Refused) as refused:
        split(Decimal("145.00"), (), "pmpm")
    assert refused.value.code == "no_payer_split"


def test_pmpm_split_between_uses_sums_exactly(admin, provider, other_provider):
    # given: PMPM split 70/30 between php and county
    split = (
        'pmpm = [{ payer = "php", use = "care_management", share = 70 },'
        ' { payer = "county", use = "care_management", share = 30 }]'
    )
    world = blended_world(
        admin, provider, other_provider, document=blended_document(pmpm_split=split)
    )
    fund(world.pilot, "php", {"care_management": "5000.00"})
    fund(world.pilot, "county", {"care_management": "5000.00"})
    level(world, world.b1, "SL1", date(2026, 3, 10))
    level(world, world.b1, "SL2", date(2026, 3, 20))
    # when
    run_payments(pilot=world.pilot, month=MARCH, by=world.finance, at=RUN_AT)
    # then: 166.77 → 70% is 116.739, 30% is 50.031: the spare cent goes to the larger
    # remainder (php's), and the parts add up to the whole
    txn = Transaction.objects.get(basis_key=f"pmpm:{world.pilot.slug}:B-0001:2026-03")
    parts = dict(
        Entry.objects.filter(transaction=txn, account__kind="paid").values_list(
            "account__payer", "amount_cents"
        )
    )
    assert parts == {"php": 11674, "county": 5003}
    assert sum(parts.values()) == 16677


def test_episodes_pay_their_price_once_and_a_second_run_pays_nothing(world):
    # given: B-0001 at SL1 from 4 March, two transition visits in March, one in April
    level(world, world.b1, "SL1", date(2026, 3, 4))
    first = episode(world, world.b1, "EP-TRANSITION", date(2026, 3, 12))
    second = episode(world, world.b1, "EP-TRANSITION", date(2026, 3, 20))
    episode(world, world.b1, "EP-TRANSITION", date(2026, 4, 2))
    assert first.billable and second.billable
    # when
    result = run_payments(pilot=world.pilot, month=MARCH, by=world.finance, at=RUN_AT)
    again = run_payments(pilot=world.pilot, month=MARCH, by=world.finance, at=RUN_AT)
    # then
    pmpm = cents(days_pay(SL1, 28, 31))
    assert result.by_kind() == {
        "pmpm": {"count": 1, "amount": str(pmpm)},
        "episode": {"count": 2, "amount": str(2 * TRANSITION)},
    }
    assert Transaction.objects.get(basis_key=f"episode:{world.pilot.slug}:{first.pk}").amount == (
        TRANSITION
    )
    assert again.total == 0 and again.nothing_due and again.run is None
    assert PaymentRun.objects.count() == 1
    assert ledger.balances(world.pilot)["fund:php:episodes"] == D("20000.00") - 2 * TRANSITION


def test_an_exit_reserves_the_pmpm_of_started_months_and_delivered_episodes(world):
    # given: B-0001 at SL1 from 10 March with a transition visit on 12 March, nothing paid
    from fundpilot.money.unwind import compute

    level(world, world.b1, "SL1", date(2026, 3, 10))
    episode(world, world.b1, "EP-TRANSITION", date(2026, 3, 12))
    # when: the exit is computed as of 20 March (March has started)
    figures = compute(world.pilot, date(2026, 3, 20))
    # then: March's PMPM to its end (the rulebook: months already started are paid) and
    # the episode are obligations charged to php's uses, reserved before any return
    march = cents(days_pay(SL1, 22, 31))
    owed = {(o["kind"], o["use"]): D(o["amount"]) for o in figures["obligations"]}
    assert owed == {("pmpm", "care_management"): march, ("episode", "episodes"): TRANSITION}
    funds = {f["use"]: D(f["reserved"]) for f in figures["funds"]}
    assert funds == {"care_management": march, "episodes": TRANSITION}
