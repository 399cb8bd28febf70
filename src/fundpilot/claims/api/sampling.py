"""API of the C9 post-payment sample audit: draw a period's sample, read it, audit a
sampled claim, appraise the sample.

A sample is addressed by its period ("YYYY-MM"); a sampled claim by its reference,
which holds slashes ("P-0001/M1/1"), hence the tracker's `claimref` converter. Decimals travel as
strings, times as ISO 8601 with a zone. Provider staff reading a sample see only their
own organisation's items; the universe's figures are the same for everyone.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.claims.actions import sampling
from fundpilot.claims.models import Appraisal, Recoupment, Sample, SampleAudit, SampleItem
from fundpilot.claims.views import tracker  # noqa: F401  (registers the `claimref` converter)
from fundpilot.participants.api_schemas import DecimalText
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot

router = Router(tags=["sampling"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class DrawIn(Schema):
    period: str = Field(description="the month the claims became payable, YYYY-MM (pilot time)")
    seed: int = Field(description="0 to 2^63 − 1; the same seed and universe give the same sample")


class AuditIn(Schema):
    supported_amount: DecimalText = Field(description="what the evidence supports, ≤ paid")
    finding_codes: list[str] = Field(
        default_factory=list, description="verification rejection reason codes"
    )
    note: str = ""


class StratumOut(Schema):
    stratum: str
    population: int = Field(description="N_h: claims of the universe in the stratum")
    sample: int = Field(description="n_h: claims drawn from it")


class RecoupmentOut(Schema):
    amount: Decimal
    reason: str
    basis_key: str


class AuditOut(Schema):
    id: int
    reference: str
    paid_amount: Decimal
    supported_amount: Decimal
    difference: Decimal = Field(description="paid − supported")
    failed: bool
    finding_codes: list[str]
    note: str
    organisation: str
    decided_by: str
    decided_at: datetime
    rulebook_version: int
    due: date | None
    late_days: int
    supersedes: int | None
    recoupment: RecoupmentOut | None = Field(description="what this audit marked for recoupment")


class ItemOut(Schema):
    position: int
    stratum: str
    reference: str
    milestone: str
    provider: str
    participant_id: str | None
    paid_amount: Decimal
    audit: AuditOut | None = Field(description="the current audit, if any")


class AppraisalStratumOut(Schema):
    stratum: str
    population: int
    sample: int
    mean: Decimal
    sd: Decimal
    estimate: Decimal


class AppraisalOut(Schema):
    id: int
    period: str
    point_estimate: Decimal
    standard_error: Decimal
    lower: Decimal
    upper: Decimal | None
    distribution: str = Field(description="t (simple design) or z (stratified)")
    degrees_of_freedom: int | None
    critical_value: Decimal | None
    confidence: Decimal
    sided: str
    precision: Decimal
    sample_overpayment: Decimal = Field(description="found in the sample; recouped per claim")
    recovery: Decimal = Field(description="extrapolated demand: the lower limit, or 0")
    extrapolate: bool
    strata: list[AppraisalStratumOut]
    warnings: list[str]
    explanation: str
    decided_by: str
    decided_at: datetime
    rulebook_version: int


class SampleOut(Schema):
    period: str
    seed: int
    design: str
    universe_size: int
    universe_amount: Decimal
    universe_digest: str
    strata: list[StratumOut]
    size: int
    audited: int
    confidence: Decimal
    sided: str
    drawn_by: str
    drawn_at: datetime
    rulebook_version: int
    items: list[ItemOut] | None = Field(
        default=None, description="in draw order (left out of the list of samples)"
    )
    appraisal: AppraisalOut | None = Field(description="the one in force: the newest")


# --- read models ---------------------------------------------------------------------------


def audit_out(a: SampleAudit, recoupments: dict[int, Recoupment] | None = None) -> dict[str, Any]:
    """An audit and what it marked for recoupment (looked up unless given, by audit id)."""
    if recoupments is None:
        recoupments = {r.audit_id: r for r in Recoupment.objects.filter(audit=a)}
    recoupment = recoupments.get(a.pk)
    return {
        "id": a.pk,
        "reference": a.item.claim.reference,
        "paid_amount": a.paid_amount,
        "supported_amount": a.supported_amount,
        "difference": a.paid_amount - a.supported_amount,
        "failed": a.supported_amount < a.paid_amount,
        "finding_codes": a.finding_codes,
        "note": a.note,
        "organisation": a.organisation.code,
        "decided_by": a.decided_by.username,
        "decided_at": a.decided_at,
        "rulebook_version": a.rulebook_version,
        "due": a.due,
        "late_days": a.late_days,
        "supersedes": a.supersedes_id,
        "recoupment": None
        if recoupment is None
        else {
            "amount": recoupment.amount,
            "reason": recoupment.reason,
            "basis_key": recoupment.basis_key,
        },
    }


def appraisal_out(a: Appraisal) -> dict[str, Any]:
    d = a.detail
    return {
        "id": a.pk,
        "period": a.sample.period,
        "point_estimate": a.point_estimate,
        "standard_error": a.standard_error,
        "lower": a.lower,
        "upper": a.upper,
        "distribution": a.distribution,
        "degrees_of_freedom": a.degrees_of_freedom,
        "critical_value": d.get("critical_value"),
        "confidence": a.confidence,
        "sided": a.sided,
        "precision": d.get("precision", "0.00"),
        "sample_overpayment": a.sample_overpayment,
        "recovery": a.recovery,
        "extrapolate": d.get("extrapolate", False),
        "strata": d.get("strata", []),
        "warnings": d.get("warnings", []),
        "explanation": d.get("explanation", ""),
        "decided_by": a.decided_by.username,
        "decided_at": a.decided_at,
        "rulebook_version": a.rulebook_version,
    }


def _item_out(
    item: SampleItem, audits: dict[int, SampleAudit], recoupments: dict[int, Recoupment]
) -> dict[str, Any]:
    claim = item.claim
    current = audits.get(item.pk)
    return {
        "position": item.position,
        "stratum": item.stratum,
        "reference": claim.reference,
        "milestone": claim.milestone,
        "provider": claim.provider.code,
        "participant_id": claim.participant.participant_id if claim.participant else None,
        "paid_amount": claim.payable_amount,
        "audit": audit_out(current, recoupments) if current is not None else None,
    }


def sample_out(s: Sample, user: Any, *, with_items: bool = True) -> dict[str, Any]:
    """The sample as the API (and `fundpilot sample --json`) shows it to `user`."""
    audits = sampling.current_audits(s)
    appraisal = sampling.latest_appraisal(s)
    document = {
        "period": s.period,
        "seed": s.seed,
        "design": s.design,
        "universe_size": s.universe_size,
        "universe_amount": s.universe_amount,
        "universe_digest": s.universe_digest,
        "strata": s.strata,
        "size": sum(stratum["sample"] for stratum in s.strata),
        "audited": len(audits),
        "confidence": s.confidence,
        "sided": s.sided,
        "drawn_by": s.drawn_by.username,
        "drawn_at": s.drawn_at,
        "rulebook_version": s.rulebook_version,
        "appraisal": appraisal_out(appraisal) if appraisal else None,
    }
    if with_items:
        marked = Recoupment.objects.filter(audit__in=list(audits.values()))
        recoupments = {r.audit_id: r for r in marked if r.audit_id is not None}
        document["items"] = [
            _item_out(i, audits, recoupments) for i in sampling.visible_items(user, s)
        ]
    return document


def _sample(p: Pilot, period: str) -> Sample:
    found = Sample.objects.filter(pilot=p, period=period).select_related("drawn_by").first()
    if found is None:
        raise Http404(f"no sample of '{period}' in {p.slug}")
    return found


# --- operations ----------------------------------------------------------------------------


@router.get(
    "/{pilot}/samples",
    response={200: list[SampleOut], **E},
    summary="C9 audit samples, newest period first (without their items)",
)
@permission("claim.view")
def list_samples(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "claim.view")
    return [sample_out(s, request.auth, with_items=False) for s in sampling.samples_of(p)]


@router.post(
    "/{pilot}/samples",
    response={201: SampleOut, **E},
    summary="C9: draw the post-payment audit sample of a month that has ended",
)
@permission("sample.draw")
def draw_sample(request: HttpRequest, pilot: str, body: DrawIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "sample.draw")
    drawn = sampling.draw_sample(
        pilot=p, period=body.period, seed=body.seed, by=request.auth, at=timezone.now()
    )
    return Status(201, sample_out(drawn, request.auth))


@router.get(
    "/{pilot}/samples/{period}",
    response={200: SampleOut, **E},
    summary="One audit sample: universe, strata, items with their audits, the appraisal",
)
@permission("claim.view")
def get_sample(request: HttpRequest, pilot: str, period: str) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "claim.view")
    return sample_out(_sample(p, period), request.auth)


@router.post(
    "/{pilot}/samples/{period}/items/{claimref:reference}/audit",
    response={201: AuditOut, **E},
    summary="C9: audit one sampled claim after payment (a failure is marked for recoupment)",
)
@permission("sample.audit")
def audit_item(
    request: HttpRequest, pilot: str, period: str, reference: str, body: AuditIn
) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "sample.audit")
    s = _sample(p, period)
    item = (
        SampleItem.objects.filter(sample=s, claim__reference=reference)
        .select_related("claim", "sample__pilot")
        .first()
    )
    if item is None:
        raise Http404(f"{reference} is not in the sample of {period}")
    made = sampling.audit_sampled_claim(
        item=item,
        supported_amount=body.supported_amount,
        finding_codes=body.finding_codes,
        note=body.note,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, audit_out(made))


@router.post(
    "/{pilot}/samples/{period}/appraisal",
    response={201: AppraisalOut, **E},
    summary="C9: appraise a fully audited sample and extrapolate the overpayment",
)
@permission("sample.audit")
def appraise_sample(request: HttpRequest, pilot: str, period: str) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "sample.audit")
    made = sampling.appraise_sample(sample=_sample(p, period), by=request.auth, at=timezone.now())
    return Status(201, appraisal_out(made))
