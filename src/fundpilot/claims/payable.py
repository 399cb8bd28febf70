"""Where a claim ends: payable, with its amount, payer split and basis key.

The basis key names what is being paid (this participant's n-th earning of this
milestone, or this tranche); it is unique in the database, so the ledger can pay
each basis at most once whatever happens.
"""

from datetime import datetime
from decimal import Decimal

from fundpilot.claims.models import Claim
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import allocate
from fundpilot.rules.rulebook import PayerShare, PaymentType


def basis_key(claim: Claim) -> str:
    slug = claim.pilot.slug
    if claim.scope == "contract":
        return f"tranche:{slug}:{claim.tranche}"
    assert claim.participant is not None
    return f"milestone:{slug}:{claim.participant.participant_id}:{claim.milestone}:{claim.attempt}"


def shares_for(pilot: Pilot, claim: Claim) -> tuple[PayerShare, ...]:
    rulebook = pilot.rulebook
    if claim.scope == "contract":
        tranche = next(t for t in rulebook.tranches if t.code == claim.tranche)
        if tranche.payer_split:
            return tranche.payer_split
        return rulebook.payment_split.for_type(PaymentType.TRANCHE)
    return rulebook.payment_split.for_type(PaymentType.MILESTONE)


def payer_split(pilot: Pilot, claim: Claim, amount: Decimal) -> list[dict[str, str]]:
    """Each payer's part of `amount`; the parts sum to it exactly (largest remainder)."""
    shares = shares_for(pilot, claim)
    if not shares:
        raise Refused(
            "no_payer_split",
            f"the rulebook names no payer split for {claim.scope} payments",
            "payer_split",
        )
    parts = allocate(amount, [s.share for s in shares])
    return [
        {"payer": s.payer, "use": s.use, "share": str(s.share), "amount": str(part)}
        for s, part in zip(shares, parts, strict=True)
    ]


def make_payable(claim: Claim, amount: Decimal, at: datetime) -> None:
    """Mark a locked claim payable for `amount` (call inside the deciding action's
    transaction; the caller saves and audits). The basis key's uniqueness refuses a
    second payable claim for the same basis."""
    pilot = claim.pilot
    key = basis_key(claim)
    if Claim.objects.filter(basis_key=key).exclude(pk=claim.pk).exists():
        raise Refused("already_payable", f"{key} is already payable", "claim")
    claim.status = Claim.PAYABLE
    claim.payable_amount = amount
    claim.payable_at = at
    claim.payer_split = payer_split(pilot, claim, amount)
    claim.basis_key = key
