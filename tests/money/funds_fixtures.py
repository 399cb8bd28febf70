"""Books to test against, posted through the real ledger with the chart of accounts'
postings (commitment, receipt, payment, remittance), as the contribution and payment
actions post them."""

from datetime import date
from decimal import Decimal

from django.db import transaction

from fundpilot.money import ledger
from fundpilot.money.ledger import Leg, Posting
from fundpilot.money.models import Transaction
from fundpilot.pilots.models import Organisation, Pilot, User
from tests.conftest import NOW

D = Decimal
MARCH = date(2026, 3, 2)


def commit(pilot: Pilot, payer: str, amount: str, by: User, on: date = MARCH) -> Transaction:
    with transaction.atomic():
        return ledger.post(
            pilot,
            Posting(
                kind=Transaction.COMMITMENT,
                basis_key=f"commit:{pilot.slug}:{payer}",
                legs=[
                    Leg(f"receivable:{payer}", D(amount)),
                    Leg(f"contribution:{payer}", -D(amount)),
                ],
                effective_on=on,
            ),
            by=by,
            at=NOW,
        )


def receive(
    pilot: Pilot, payer: str, ref: str, by_use: dict[str, str], by: User, on: date = MARCH
) -> Transaction:
    total = sum((D(v) for v in by_use.values()), D(0))
    legs = [Leg(f"fund:{payer}:{use}", D(v)) for use, v in by_use.items()]
    with transaction.atomic():
        return ledger.post(
            pilot,
            Posting(
                kind=Transaction.RECEIPT,
                basis_key=f"receipt:{pilot.slug}:{payer}:{ref}",
                legs=[*legs, Leg(f"receivable:{payer}", -total)],
                effective_on=on,
            ),
            by=by,
            at=NOW,
        )


def pay(
    pilot: Pilot,
    provider: Organisation,
    basis: str,
    parts: dict[tuple[str, str], str],
    by: User,
    on: date = MARCH,
) -> Transaction:
    """A payment basis as a payment run posts it: Dr paid per payer part / Cr payable."""
    total = sum((D(v) for v in parts.values()), D(0))
    legs = [Leg(f"paid:{payer}:{use}", D(v)) for (payer, use), v in parts.items()]
    with transaction.atomic():
        return ledger.post(
            pilot,
            Posting(
                kind=Transaction.PAYMENT,
                basis_key=basis,
                legs=[*legs, Leg(f"payable:{provider.code}", -total, provider)],
                effective_on=on,
                provider=provider,
            ),
            by=by,
            at=NOW,
        )


def remit(
    pilot: Pilot,
    provider: Organisation,
    basis: str,
    parts: dict[tuple[str, str], str],
    by: User,
    on: date = MARCH,
) -> Transaction:
    """Cash out to a provider: Dr payable / Cr fund per payer part."""
    total = sum((D(v) for v in parts.values()), D(0))
    legs = [Leg(f"fund:{payer}:{use}", -D(v)) for (payer, use), v in parts.items()]
    with transaction.atomic():
        return ledger.post(
            pilot,
            Posting(
                kind=Transaction.REMITTANCE,
                basis_key=basis,
                legs=[Leg(f"payable:{provider.code}", total, provider), *legs],
                effective_on=on,
                provider=provider,
            ),
            by=by,
            at=NOW,
        )


def funded(pilot: Pilot, by: User) -> None:
    """The three payers committed in full; medicaid, county and fund have received
    $100,000, $40,000 and $20,000 into their uses."""
    for payer, amount in (
        ("medicaid", "1500000.00"),
        ("county", "600000.00"),
        ("fund", "400000.00"),
    ):
        commit(pilot, payer, amount, by)
    receive(
        pilot, "medicaid", "R1", {"care_coordination": "60000.00", "milestones": "40000.00"}, by
    )
    receive(pilot, "county", "R1", {"outreach": "25000.00", "milestones": "15000.00"}, by)
    receive(pilot, "fund", "R1", {"transport": "8000.00", "milestones": "12000.00"}, by)
