"""Read models for pilot pages, the API and the CLI."""

import difflib

from django.db.models import QuerySet

from fundpilot.audit import log
from fundpilot.audit.models import AuditRecord
from fundpilot.pilots.models import Party, Pilot, RulebookProposal, RulebookVersion


def versions(pilot: Pilot) -> QuerySet[RulebookVersion]:
    return pilot.versions.select_related("approved_by").order_by("-number")


def proposals(pilot: Pilot, status: str | None = None) -> QuerySet[RulebookProposal]:
    """Rulebook amendment proposals, newest first; `status` narrows (e.g. "open")."""
    rows = pilot.proposals.select_related("base", "proposed_by", "decided_by", "version")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-proposed_at", "-pk")


def document_diff(proposal: RulebookProposal) -> list[str]:
    """The proposal's document against its base version's, as a unified text diff; the
    rule-by-rule changes say what it means, this shows the exact lines."""
    base = proposal.base
    return list(
        difflib.unified_diff(
            base.document.splitlines(),
            proposal.document.splitlines(),
            f"v{base.number}.toml",
            f"proposal-{proposal.pk}.toml",
            lineterm="",
        )
    )


def parties(pilot: Pilot) -> QuerySet[Party]:
    return pilot.parties.select_related("organisation").order_by(
        "organisation__kind", "organisation__name"
    )


def audit_page(pilot: Pilot, *, limit: int, before: int | None = None) -> QuerySet[AuditRecord]:
    """Newest first; `before` pages back by sequence number."""
    rows = AuditRecord.objects.filter(chain=log.pilot_chain(pilot.slug))
    if before is not None:
        rows = rows.filter(seq__lt=before)
    return rows.order_by("-seq")[:limit]


def audit_size(pilot: Pilot) -> int:
    return AuditRecord.objects.filter(chain=log.pilot_chain(pilot.slug)).count()
