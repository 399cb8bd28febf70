"""API of C11 disputes: list (open first, with stage history), raise, escalate, resolve.

A dispute is addressed by its reference ("D-0001"); the decision it disputes by its
kind and id (`verification`, `activation` or `sample_audit`). The outcome of a
resolution is a new decision: its fields travel in the same body.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.claims.actions.disputes import (
    disputes_for,
    escalate_dispute,
    open_days_late,
    raise_dispute,
    resolve_dispute,
)
from fundpilot.claims.api.verification import ChecklistAnswer
from fundpilot.claims.models import Dispute, SampleAudit, Verification
from fundpilot.participants.api_schemas import DecimalText
from fundpilot.participants.models import ActivationDecision
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot

router = Router(tags=["disputes"])
E = {401: Error, 403: Error, 404: Error, 422: Error}
SUBJECTS: dict[str, Any] = {
    Dispute.VERIFICATION: (Verification, "claim__pilot"),
    Dispute.ACTIVATION: (ActivationDecision, "participant__pilot"),
    Dispute.SAMPLE_AUDIT: (SampleAudit, "item__sample__pilot"),
}


class StepOut(Schema):
    stage: str
    action: str
    by: str
    at: datetime
    note: str

    @staticmethod
    def resolve_by(obj: Any) -> str:
        return str(obj.by.username)


class DisputeOut(Schema):
    reference: str
    subject_kind: str
    subject_id: int
    subject: str = Field(description="what was disputed, e.g. the claim reference")
    provider: str
    grounds: str
    raised_by: str
    raised_at: datetime
    stage: str
    due: date
    status: str
    late_days: int = Field(description="business days past due (so far, while open)")
    outcome: str
    resolution: str
    learning: str
    new_decision: str
    resolved_by: str | None
    resolved_at: datetime | None
    steps: list[StepOut]


class DisputeIn(Schema):
    subject_kind: str = Field(description="verification, activation or sample_audit")
    subject_id: int = Field(description="the id of the disputed decision")
    grounds: str


class EscalationIn(Schema):
    note: str


class ResolutionIn(Schema):
    outcome: str = Field(description="upheld, overturned or varied")
    resolution: str
    learning: str
    verification_outcome: str | None = Field(
        None, description="verification disputes: the new decision's outcome"
    )
    checklist: list[ChecklistAnswer] = Field(default_factory=list)
    reason_codes: list[str] = Field(default_factory=list)
    criteria_met: list[str] = Field(default_factory=list)
    supported_amount: DecimalText | None = Field(
        None, description="sample-audit disputes: the amount the evidence supports"
    )
    finding_codes: list[str] = Field(default_factory=list)
    note: str = ""


def _subject_label(d: Dispute) -> str:
    if d.verification_id:
        return f"verification of {d.verification.claim.reference}"
    if d.sample_audit_id:
        return f"sample audit of {d.sample_audit.item.claim.reference}"
    return f"activation of {d.activation.participant.participant_id}"


def _out(p: Pilot, d: Dispute, today: date) -> dict[str, Any]:
    subject = d.verification_id or d.activation_id or d.sample_audit_id
    return {
        **{f: getattr(d, f) for f in ("reference", "subject_kind", "grounds", "raised_at")},
        **{f: getattr(d, f) for f in ("stage", "due", "status", "outcome", "resolution")},
        **{f: getattr(d, f) for f in ("learning", "new_decision", "resolved_at")},
        "subject_id": subject,
        "subject": _subject_label(d),
        "provider": d.provider.code,
        "raised_by": d.raised_by.username,
        "late_days": open_days_late(p, d, today),
        "resolved_by": d.resolved_by.username if d.resolved_by else None,
        "steps": list(d.steps.all()),
    }


def _dispute(request: HttpRequest, pilot: str, reference: str, perm: str) -> Dispute:
    p, _ = pilot_for(request.auth, pilot, perm)
    found = Dispute.objects.filter(pilot=p, reference=reference).select_related("pilot").first()
    if found is None:
        raise Http404(f"no dispute '{reference}' in {p.slug}")
    return found


@router.get(
    "/{pilot}/disputes",
    response={200: list[DisputeOut], **E},
    summary="Disputes: open ones first (soonest due), each with its stage history",
)
@permission("dispute.view")
def list_disputes(
    request: HttpRequest, pilot: str, status: str | None = None, reference: str | None = None
) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "dispute.view")
    rows = disputes_for(request.auth, p).prefetch_related("steps__by")
    rows = rows.select_related(
        "verification__claim", "sample_audit__item__claim", "activation__participant"
    )
    if status:
        rows = rows.filter(status=status)
    if reference:
        rows = rows.filter(reference=reference)
    today = p.calendar.local_date(timezone.now())
    return [_out(p, d, today) for d in rows[:500]]


@router.post(
    "/{pilot}/disputes",
    response={201: DisputeOut, **E},
    summary="Dispute a verification, activation or sample-audit decision",
)
@permission("dispute.raise")
def raise_one(request: HttpRequest, pilot: str, body: DisputeIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "dispute.raise")
    if body.subject_kind not in SUBJECTS:
        raise Http404(f"no kind of decision '{body.subject_kind}'")
    model, pilot_field = SUBJECTS[body.subject_kind]
    subject = model.objects.filter(pk=body.subject_id, **{pilot_field: p}).first()
    if subject is None:
        raise Http404(f"no {body.subject_kind} {body.subject_id} in {p.slug}")
    made = raise_dispute(subject=subject, grounds=body.grounds, by=request.auth, at=timezone.now())
    return Status(201, _out(p, made, p.calendar.local_date(timezone.now())))


@router.post(
    "/{pilot}/disputes/{reference}/escalation",
    response={200: DisputeOut, **E},
    summary="Take an open dispute to the rulebook's next stage",
)
@permission("dispute.raise")
def escalate_one(
    request: HttpRequest, pilot: str, reference: str, body: EscalationIn
) -> dict[str, Any]:
    found = _dispute(request, pilot, reference, "dispute.raise")
    now = timezone.now()
    escalate_dispute(dispute=found, note=body.note, by=request.auth, at=now)
    found.refresh_from_db()
    return _out(found.pilot, found, found.pilot.calendar.local_date(now))


@router.post(
    "/{pilot}/disputes/{reference}/resolution",
    response={200: DisputeOut, **E},
    summary="Resolve a dispute: upheld, or overturned/varied by a new decision",
)
@permission("dispute.decide")
def resolve_one(
    request: HttpRequest, pilot: str, reference: str, body: ResolutionIn
) -> dict[str, Any]:
    found = _dispute(request, pilot, reference, "dispute.decide")
    fields = body.dict(exclude={"outcome", "resolution", "learning", "checklist"})
    fields["checklist"] = [a.dict() for a in body.checklist]
    if isinstance(fields.get("supported_amount"), Decimal):
        fields["supported_amount"] = str(fields["supported_amount"])
    now = timezone.now()
    resolved = resolve_dispute(
        dispute=found,
        outcome=body.outcome,
        resolution=body.resolution,
        learning=body.learning,
        by=request.auth,
        at=now,
        **fields,
    )
    return _out(found.pilot, resolved, found.pilot.calendar.local_date(now))
