"""Answering every referral ("no wrong door", C2)."""

from datetime import datetime

from django.db import transaction

from fundpilot.audit import log
from fundpilot.participants.deadlines import late_by
from fundpilot.participants.models import EligibilityFile, Referral, ReferralDecline
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import User
from fundpilot.rules.errors import Refused


def decline_referral(
    *, referral: Referral, reason_code: str, note: str = "", by: User, at: datetime
) -> ReferralDecline:
    """C2 "no wrong door": a referral that cannot be filed as pilot-eligible (payer not
    active, unapproved tool, score out of range, an exclusion, the person declined) is
    answered with a coded rejection instead of being left unanswered. It is due when
    the eligibility file would have been."""
    pilot = referral.pilot
    role = policy.require_for_provider(by, "activation.decide", pilot, referral.provider_id)
    reasons = {c.code for c in pilot.rulebook.codes.rejection_reasons}
    if not reason_code:
        raise Refused("reason_required", "a declined referral needs a reason code", "reason_code")
    if reason_code not in reasons:
        raise Refused(
            "unknown_reason", f"'{reason_code}' is not a rejection reason code", "reason_code"
        )
    with transaction.atomic(durable=True):
        locked = Referral.objects.select_for_update().get(pk=referral.pk)
        if EligibilityFile.objects.filter(referral=locked).exists():
            raise Refused(
                "already_filed",
                f"{locked.reference} has an eligibility file; decide its activation instead",
                "referral",
            )
        if ReferralDecline.objects.filter(referral=locked).exists():
            raise Refused(
                "already_answered", f"{locked.reference} was already declined", "referral"
            )
        decline = ReferralDecline.objects.create(
            referral=locked,
            reason_code=reason_code,
            note=note.strip(),
            decided_by=by,
            decided_at=at,
            rulebook_version=pilot.current.number,
            due=locked.file_due,
            late_days=late_by(pilot, locked.file_due, at),
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="referral.decline",
            subject=f"referral:{locked.reference}",
            payload={
                "reason_code": reason_code,
                "note": decline.note,
                "late_days": decline.late_days,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return decline
