"""Read models for pilot pages, the API and the CLI."""

from django.db.models import QuerySet

from fundpilot.audit import log
from fundpilot.audit.models import AuditRecord
from fundpilot.pilots.models import Party, Pilot, RulebookVersion


def versions(pilot: Pilot) -> QuerySet[RulebookVersion]:
    return pilot.versions.select_related("approved_by").order_by("-number")


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
