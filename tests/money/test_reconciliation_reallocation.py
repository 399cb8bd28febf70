"""C14 reallocation by journal: proposed by one person, approved by another whose
decision right covers approve_reallocation for the payer, the receiving use and the
amount (pooled-2026: finance up to 20,000.00), posted Dr fund:<to> / Cr fund:<from>."""

from datetime import timedelta
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.money import ledger
from fundpilot.money.actions.reconciliation import (
    approve_reallocation,
    decline_reallocation,
    propose_reallocation,
    reconcile_month,
)
from fundpilot.money.models import Investigation, Reallocation, Transaction
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted
from tests.money.review_fixtures import APRIL_2, pooled_books
from tests.money.test_reconciliation import MARCH, _refused

D = Decimal


@pytest.fixture
def books(pooled: Pilot, money_staff: dict[str, User], provider: Organisation) -> Pilot:
    pooled_books(pooled, provider)
    return pooled


def _propose(books: Pilot, money_staff, **changes) -> Reallocation:
    fields = {
        "pilot": books,
        "payer": "medicaid",
        "from_use": "behavioral_health",
        "to_use": "care_coordination",
        "amount": D("15000.00"),
        "reason": "Care coordination runs ahead of behavioral health",
        "by": money_staff["po-compliance"],
        "at": APRIL_2,
    }
    return propose_reallocation(**(fields | changes))


def test_a_reallocation_is_proposed_approved_and_posted(books: Pilot, money_staff):
    # given
    recon = reconcile_month(pilot=books, month=MARCH, by=money_staff["po-finance"], at=APRIL_2)
    investigation = Investigation.objects.get(reconciliation=recon, payer="medicaid")
    proposed = _propose(books, money_staff, investigation=investigation)
    # when
    done = approve_reallocation(
        reallocation=proposed, by=money_staff["po-finance"], at=APRIL_2 + timedelta(hours=1)
    )
    # then
    txn = Transaction.objects.get(basis_key=f"realloc:pooled-2026:{proposed.pk}")
    assert (done.status, done.transaction, done.decision_right) == (
        "approved",
        txn,
        "approve_reallocation/finance/*",
    )
    assert txn.kind == "reallocation"
    legs = {e.account.code: e.amount for e in txn.legs.select_related("account")}
    assert legs == {
        "fund:medicaid:care_coordination": D("15000.00"),
        "fund:medicaid:behavioral_health": D("-15000.00"),
    }
    assert ledger.fund_available(books, "medicaid", "care_coordination") == D("115000.00")
    assert ledger.fund_available(books, "medicaid", "behavioral_health") == D("85000.00")
    assert list(AuditRecord.objects.order_by("-pk").values_list("action", flat=True)[:2]) == [
        "reallocation.approve",
        "reallocation.propose",
    ]


def test_nobody_approves_or_declines_their_own_proposal(books: Pilot, money_staff):
    proposed = _propose(books, money_staff, by=money_staff["po-finance"])
    at = APRIL_2 + timedelta(hours=1)
    by = money_staff["po-finance"]
    _refused("own_request", approve_reallocation, reallocation=proposed, by=by, at=at)
    _refused("own_request", decline_reallocation, reallocation=proposed, reason="no", by=by, at=at)


def test_approval_beyond_the_deciders_right_is_refused(books: Pilot, money_staff):
    # the executive sponsor may approve spend, but the matrix gives no reallocation right
    proposed = _propose(books, money_staff)
    _refused(
        "no_decision_right",
        approve_reallocation,
        reallocation=proposed,
        by=money_staff["po-executive_sponsor"],
        at=APRIL_2,
    )
    big = _propose(books, money_staff, amount=D("20000.01"))
    _refused(
        "over_limit",
        approve_reallocation,
        reallocation=big,
        by=money_staff["po-finance"],
        at=APRIL_2,
    )


def test_funds_are_checked_again_at_approval(books: Pilot, money_staff):
    # given: two proposals that each fit the fund, but not both
    first = _propose(books, money_staff, amount=D("20000.00"), from_use="milestones")
    second = _propose(books, money_staff, amount=D("20000.00"), from_use="milestones")
    books_before = ledger.fund_available(books, "medicaid", "milestones")
    assert books_before == D("100000.00")
    for _ in range(4):
        approve_reallocation(
            reallocation=_propose(books, money_staff, amount=D("20000.00"), from_use="milestones"),
            by=money_staff["po-finance"],
            at=APRIL_2,
        )
    approve_reallocation(reallocation=first, by=money_staff["po-finance"], at=APRIL_2)
    # when / then: the fund is empty now
    _refused(
        "insufficient_funds",
        approve_reallocation,
        reallocation=second,
        by=money_staff["po-finance-2"],
        at=APRIL_2,
    )
    assert ledger.fund_available(books, "medicaid", "milestones") == D("0.00")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"payer": "nobody"}, "unknown_payer"),
        ({"to_use": "outreach"}, "use_not_allowed"),  # a county use
        ({"to_use": "behavioral_health"}, "same_use"),
        ({"amount": D("0.00")}, "invalid_amount"),
        ({"amount": "12.345"}, "invalid_amount"),
        ({"reason": " "}, "reason_required"),
        ({"amount": D("100000.01")}, "insufficient_funds"),
        ({"payer": "fund", "from_use": "transport", "to_use": "milestones"}, "insufficient_funds"),
    ],
)
def test_proposals_are_validated(books: Pilot, money_staff, changes, code):
    before = Reallocation.objects.count()
    _refused(code, _propose, books=books, money_staff=money_staff, **changes)
    assert Reallocation.objects.count() == before


def test_a_proposal_names_only_an_open_investigation_of_its_payer(books: Pilot, money_staff):
    recon = reconcile_month(pilot=books, month=MARCH, by=money_staff["po-finance"], at=APRIL_2)
    fund = Investigation.objects.get(reconciliation=recon, payer="fund")
    _refused(
        "investigation_other_payer",
        _propose,
        books=books,
        money_staff=money_staff,
        investigation=fund,
    )


def test_a_declined_reallocation_posts_nothing_and_cannot_be_approved(books: Pilot, money_staff):
    proposed = _propose(books, money_staff)
    declined = decline_reallocation(
        reallocation=proposed, reason="Wait for Q2", by=money_staff["po-finance"], at=APRIL_2
    )
    assert declined.status == "declined"
    assert declined.transaction is None
    _refused(
        "not_proposed",
        approve_reallocation,
        reallocation=declined,
        by=money_staff["po-finance-2"],
        at=APRIL_2,
    )


@pytest.mark.parametrize("who", ["pr-medicaid", "rs-frontline"])
def test_proposing_needs_the_permission(books: Pilot, money_staff, who):
    with pytest.raises(NotPermitted):
        _propose(books, money_staff, by=money_staff[who])
