"""API of C7 and C8: the milestone tracker, evidence (upload, list, download), and
participant claims (draft, readiness review, submission, list, detail).

A claim is addressed by its reference, which holds slashes ("P-0001/M1/1"): the
`claimref` converter (see `claims.views.tracker`) takes any reference that does not
end in a lowercase word, so `claims/<ref>/verification` and the like stay free for
other operations on a claim. Evidence uploads are multipart, with their options in the
query string (like the imports). Decimals travel as strings, dates as ISO 8601.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import FileResponse, Http404, HttpRequest
from django.utils import timezone
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from fundpilot.claims import evidence as files
from fundpilot.claims import tracker
from fundpilot.claims.actions.claims import (
    claim_requirements,
    draft_claim,
    review_readiness,
    submit_claim,
)
from fundpilot.claims.actions.evidence import upload_evidence
from fundpilot.claims.models import Claim, Evidence, ReadinessReview
from fundpilot.claims.views.tracker import visible_claim, visible_evidence, visible_participant
from fundpilot.pilots import policy
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot

router = Router(tags=["tracker"])
E = {401: Error, 403: Error, 404: Error, 422: Error}
LIMIT = 1000
CLAIM = "/{pilot}/claims/{claimref:reference}"


# --- schemas ---------------------------------------------------------------------------


class RequirementOut(Schema):
    kind: str
    label: str
    minimum: int
    have: int
    missing: int
    prompt: str = Field(description='what is still needed, e.g. "2 more contact_log"')
    evidence: list[int] = Field(description="ids of the evidence that counts")


class ClaimBriefOut(Schema):
    reference: str
    status: str


class PrerequisiteOut(Schema):
    code: str
    reached: bool


class TrackerRowOut(Schema):
    code: str
    name: str
    type: str
    tier: str
    status: str = Field(description="reached, in_progress, not_started or lost")
    attempt: int
    attempt_start: date | None
    window_days: int | None
    window_end: date | None = Field(description="after risk adjustment; None once reached")
    window_closed: bool
    price: Decimal | None
    variant: str
    reearnable: bool
    prerequisites: list[PrerequisiteOut]
    prerequisites_met: bool
    requirements: list[RequirementOut]
    missing: list[str]
    missing_text: str
    is_next: bool
    claim: ClaimBriefOut | None
    reused_evidence: list[int]


class EvidenceOut(Schema):
    id: int
    participant: str | None
    organisation: str = Field(alias="organisation.code")
    kind: str
    document_date: date
    filename: str
    media_type: str
    size: int
    sha256: str
    reused: bool
    note: str
    uploaded_by: str = Field(alias="uploaded_by.username")
    uploaded_at: datetime

    @staticmethod
    def resolve_participant(obj: Evidence) -> str | None:
        return obj.participant.participant_id if obj.participant else None


class ClaimOut(Schema):
    reference: str
    milestone: str
    scope: str
    tier: str
    participant: str | None
    tranche: str
    provider: str = Field(alias="provider.code")
    attempt: int
    amount: Decimal
    variant: str
    reached_on: date
    status: str
    drafted_by: str = Field(alias="drafted_by.username")
    drafted_at: datetime
    submitted_at: datetime | None
    verification_due: date | None
    payable_amount: Decimal | None
    payable_at: datetime | None
    payer_split: list[dict[str, str]]
    basis_key: str | None
    rulebook_version: int

    @staticmethod
    def resolve_participant(obj: Claim) -> str | None:
        return obj.participant.participant_id if obj.participant else None


class LinkedEvidenceOut(EvidenceOut):
    linked_as: str


class ClaimDetailOut(ClaimOut):
    """The claim page's facts; `requirements` is what a readiness review would find now."""

    evidence: list[LinkedEvidenceOut]
    requirements: list[RequirementOut]
    missing_text: str
    readiness: dict[str, Any] | None

    @staticmethod
    def resolve_evidence(obj: Claim) -> list[Evidence]:
        links = obj.evidence_links.select_related(
            "evidence__participant", "evidence__organisation", "evidence__uploaded_by"
        ).order_by("kind", "evidence__pk")
        for link in links:
            link.evidence.linked_as = link.kind  # type: ignore[attr-defined]
        return [link.evidence for link in links]

    @staticmethod
    def resolve_requirements(obj: Claim) -> tuple[tracker.RequirementStatus, ...]:
        return _requirements(obj)

    @staticmethod
    def resolve_missing_text(obj: Claim) -> str:
        return tracker.missing_text(_requirements(obj))

    @staticmethod
    def resolve_readiness(obj: Claim) -> dict[str, Any] | None:
        review = ReadinessReview.objects.filter(claim=obj).select_related("decided_by").first()
        if review is None:
            return None
        return {"by": review.decided_by.username, "at": review.decided_at, "note": review.note}


def _requirements(claim: Claim) -> tuple[tracker.RequirementStatus, ...]:
    """Read once per claim and response (two fields show it)."""
    if not hasattr(claim, "_fp_requirements"):
        statuses = claim_requirements(claim) if claim.participant_id else ()
        claim._fp_requirements = statuses  # type: ignore[attr-defined]
    return claim._fp_requirements  # type: ignore[attr-defined,no-any-return]


class DraftIn(Schema):
    participant_id: str
    milestone: str
    reached_on: date


class ReadinessIn(Schema):
    note: str = ""


class ReadinessOut(Schema):
    reference: str = Field(alias="claim.reference")
    status: str = Field(alias="claim.status")
    note: str
    decided_by: str = Field(alias="decided_by.username")
    decided_at: datetime
    rulebook_version: int


# --- tracker and evidence --------------------------------------------------------------


def _pilot(request: HttpRequest, pilot: str, perm: str) -> Pilot:
    return pilot_for(request.auth, pilot, perm)[0]


@router.get(
    "/{pilot}/participants/{participant_id}/milestones",
    response={200: list[TrackerRowOut], **E},
    summary="C7 milestone tracker: status, window, prerequisites and missing evidence",
)
@permission("claim.view")
def milestones(request: HttpRequest, pilot: str, participant_id: str) -> list[tracker.TrackerRow]:
    p = _pilot(request, pilot, "claim.view")
    participant = visible_participant(request.auth, p, participant_id)
    today = p.calendar.local_date(timezone.now())
    return tracker.milestone_tracker(participant, today=today)


@router.post(
    "/{pilot}/evidence",
    response={201: EvidenceOut, **E},
    summary="C7 upload evidence (multipart `file`; no participant_id = contract scope)",
)
@permission("evidence.upload")
def upload(
    request: HttpRequest,
    pilot: str,
    kind: str,
    document_date: date,
    file: File[UploadedFile],
    participant_id: str | None = None,
    note: str = "",
) -> Status[Evidence]:
    p = _pilot(request, pilot, "evidence.upload")
    participant = (
        visible_participant(request.auth, p, participant_id, "evidence.upload")
        if participant_id
        else None
    )
    evidence = upload_evidence(
        pilot=p,
        participant=participant,
        kind=kind,
        filename=file.name or "evidence",
        content=file.read(files.max_bytes() + 1),  # one byte past the limit is enough
        document_date=document_date,
        note=note,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, evidence)


@router.get(
    "/{pilot}/evidence",
    response={200: list[EvidenceOut], **E},
    summary="Evidence the caller may see, newest first (reused content flagged)",
)
@permission("claim.view")
def list_evidence(
    request: HttpRequest,
    pilot: str,
    participant_id: str | None = None,
    kind: str | None = None,
    reused: bool | None = None,
    limit: int = 100,
) -> list[Evidence]:
    p = _pilot(request, pilot, "claim.view")
    rows = visible_evidence(request.auth, p)
    if participant_id:
        rows = rows.filter(participant__participant_id=participant_id)
    if kind:
        rows = rows.filter(kind=kind)
    if reused is not None:
        rows = rows.filter(reused=reused)
    rows = rows.select_related("participant", "organisation", "uploaded_by").order_by("-pk")
    return list(rows[: min(max(limit, 1), LIMIT)])


@router.get(
    "/{pilot}/evidence/{number}/file",
    response={200: None, **E},
    summary="Download one piece of evidence (only for those who may see it)",
)
@permission("claim.view")
def evidence_file(request: HttpRequest, pilot: str, number: int) -> FileResponse:
    p = _pilot(request, pilot, "claim.view")
    evidence = visible_evidence(request.auth, p).filter(pk=number).first()
    if evidence is None:
        raise Http404(f"no evidence #{number} you may see")
    return FileResponse(
        files.open_file(evidence.file.name),
        as_attachment=True,
        filename=evidence.filename,
        content_type=evidence.media_type,
    )


# --- claims ----------------------------------------------------------------------------


@router.get(
    "/{pilot}/claims",
    response={200: list[ClaimOut], **E},
    summary="Claims the caller may see, newest first; filter by status, provider, …",
)
@permission("claim.view")
def list_claims(
    request: HttpRequest,
    pilot: str,
    status: str | None = None,
    provider: str | None = None,
    participant_id: str | None = None,
    milestone: str | None = None,
    limit: int = 100,
) -> list[Claim]:
    p = _pilot(request, pilot, "claim.view")
    rows = policy.claims_scope(request.auth, p, Claim.objects.filter(pilot=p))
    filters = {
        "status": status,
        "provider__code": provider,
        "participant__participant_id": participant_id,
        "milestone": milestone,
    }
    rows = rows.filter(**{k: v for k, v in filters.items() if v})
    rows = rows.select_related("participant", "provider", "drafted_by").order_by("-pk")
    return list(rows[: min(max(limit, 1), LIMIT)])


@router.post(
    "/{pilot}/claims",
    response={201: ClaimOut, **E},
    summary="Draft a participant milestone claim (links the qualifying evidence)",
)
@permission("claim.draft")
def draft(request: HttpRequest, pilot: str, body: DraftIn) -> Status[Claim]:
    p = _pilot(request, pilot, "claim.draft")
    participant = visible_participant(request.auth, p, body.participant_id, "claim.draft")
    claim = draft_claim(
        participant=participant,
        milestone=body.milestone,
        reached_on=body.reached_on,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, claim)


@router.post(
    CLAIM + "/readiness",
    response={201: ReadinessOut, **E},
    summary="C8 readiness review: a supervisor confirms every required piece is present",
)
@permission("claim.readiness")
def readiness(
    request: HttpRequest, pilot: str, reference: str, body: ReadinessIn
) -> Status[ReadinessReview]:
    p = _pilot(request, pilot, "claim.readiness")
    claim = visible_claim(request.auth, p, reference, "claim.readiness")
    review = review_readiness(claim=claim, note=body.note, by=request.auth, at=timezone.now())
    return Status(201, review)


@router.post(
    CLAIM + "/submit",
    response={200: ClaimOut, **E},
    summary="Submit a ready claim: sampled tier payable at once, independent to verification",
)
@permission("claim.submit")
def submit(request: HttpRequest, pilot: str, reference: str) -> Claim:
    p = _pilot(request, pilot, "claim.submit")
    claim = visible_claim(request.auth, p, reference, "claim.submit")
    return submit_claim(claim=claim, by=request.auth, at=timezone.now())


@router.get(
    CLAIM,
    response={200: ClaimDetailOut, **E},
    summary="One claim: evidence with hash and reuse flag, readiness, status, payable",
)
@permission("claim.view")
def claim(request: HttpRequest, pilot: str, reference: str) -> Claim:
    p = _pilot(request, pilot, "claim.view")
    return visible_claim(request.auth, p, reference)
