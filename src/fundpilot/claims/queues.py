"""Claims in the work queues (C8, C9, C10), contributed to `participants.queues`.

Registered by `ClaimsConfig.ready()`; each source is one SELECT, bucketed by its
deadline in the database like every other source of the queue:

- verifier: submitted independent-tier claims of other organisations, due by
  `verification_due` (overdue / due today / upcoming, breaches with how late);
- whoever drafted or submitted a claim: their claims waiting on the verifier, with
  the same due date and lateness;
- supervisor: drafts awaiting the readiness review (no deadline: upcoming), except
  their own (nobody reviews their own draft);
- contract claimants: rejected tranches still within their cure period, due on
  `cure_until`.
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import CharField, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from fundpilot.claims.models import Claim
from fundpilot.participants.queues import (
    NOBODY,
    UPCOMING_BUCKET,
    WAITING_BUCKET,
    Clock,
    Row,
    Source,
    register_sources,
)
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot

# Where each item leads: the verification form, the readiness review, the claim's page.
VERIFY_PAGE = "claims:verify"
READINESS_PAGE = "claims:claim-readiness"
CLAIM_PAGE = "claims:claim"


def _link(pilot: Pilot, name: str) -> Callable[[Row], str]:
    def link(row: Row) -> str:
        return reverse(name, kwargs={"pilot": pilot.slug, "reference": row["reference"]})

    return link


def _claims(pilot: Pilot) -> QuerySet[Claim]:
    return Claim.objects.filter(pilot=pilot).annotate(
        pid=Coalesce(F("participant__participant_id"), Value(""), output_field=CharField())
    )


def _name(row: Row) -> str:
    return f"{row['milestone']} claim {row['reference']}"


def claim_sources(user: Any, pilot: Pilot, clock: Clock) -> Iterable[Source]:
    """The claim work this person's roles call for in the pilot (see the module doc)."""

    def may(perm: str) -> bool:
        return policy.allowed(user, perm, pilot)

    claims = _claims(pilot)
    # Provider staff see their own organisation's claims; their own claims always.
    visible = policy.claims_scope(user, pilot, claims)
    submitted = Q(status=Claim.SUBMITTED, tier="independent")
    found: list[Source] = []
    if may("claim.verify"):
        found.append(
            Source(
                "C9",
                visible.filter(submitted)
                .exclude(provider_id=user.organisation_id)
                .annotate(
                    key=F("verification_due"),
                    bucket=clock.by_date("verification_due"),
                    who=NOBODY,
                ),
                lambda r: f"Verify {_name(r)}",
                _link(pilot, VERIFY_PAGE),
            )
        )
    if may("claim.submit") or may("contract.claim"):
        mine = Q(submitted_by=user) | Q(drafted_by=user)
        found.append(
            Source(
                "C9",
                claims.filter(submitted & mine).annotate(
                    key=F("verification_due"),
                    bucket=WAITING_BUCKET,
                    who=Value("independent verifier"),
                ),
                lambda r: f"Your {_name(r)} awaits verification",
                _link(pilot, CLAIM_PAGE),
            )
        )
    if may("claim.readiness"):
        found.append(
            Source(
                "C8",
                visible.filter(status=Claim.DRAFT, scope="participant")
                .exclude(drafted_by=user)
                .annotate(key=F("drafted_at"), bucket=UPCOMING_BUCKET, who=NOBODY),
                lambda r: f"Readiness review of {_name(r)}",
                _link(pilot, READINESS_PAGE),
                dated=False,
            )
        )
    if may("contract.claim"):
        resubmitted = Claim.objects.filter(resubmission_of=OuterRef("pk"))
        curable = claims.filter(
            scope="contract", status=Claim.REJECTED, cure_until__gte=clock.today
        ).exclude(Exists(resubmitted))
        found.append(
            Source(
                "C10",
                curable.annotate(
                    key=F("cure_until"), bucket=clock.by_date("cure_until"), who=NOBODY
                ),
                lambda r: f"Cure and resubmit tranche {r['tranche']} (claim {r['reference']})",
                _link(pilot, CLAIM_PAGE),
            )
        )
    return found


def register() -> None:
    register_sources(claim_sources)
