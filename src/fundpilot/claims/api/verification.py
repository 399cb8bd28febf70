"""API of C9 independent verification and the monthly verification report.

A claim is addressed by its reference, which holds slashes ("P-0001/M3/1", "T1/2"):
the tracker's `claimref` converter, which leaves `claims/<ref>/verification` free.
Decimals travel as strings, dates as ISO 8601.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from fundpilot.claims import report
from fundpilot.claims.actions.verification import verify_claim
from fundpilot.claims.views.tracker import visible_claim  # also registers `claimref`
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error

router = Router(tags=["verification"])
E = {401: Error, 403: Error, 404: Error, 422: Error}
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class ChecklistAnswer(Schema):
    kind: str = Field(description="an evidence kind the milestone requires (or measure:<code>)")
    met: bool
    note: str = ""


class VerificationIn(Schema):
    outcome: str = Field(description="verified, rejected or partially_verified")
    checklist: list[ChecklistAnswer] = Field(description="one answer per evidence requirement")
    reason_codes: list[str] = Field(default_factory=list, description="rejection reason codes")
    criteria_met: list[str] = Field(
        default_factory=list, description="tranche criteria met (contract claims)"
    )
    note: str = ""


class VerificationOut(Schema):
    reference: str
    status: str = Field(description="the claim's status after the decision")
    outcome: str
    checklist: list[ChecklistAnswer]
    reason_codes: list[str]
    criteria_met: list[str]
    amount: Decimal = Field(description="what the decision makes payable")
    note: str
    organisation: str
    decided_by: str
    decided_at: datetime
    rulebook_version: int
    due: date | None
    late_days: int
    cure_until: date | None
    basis_key: str | None

    @staticmethod
    def resolve_reference(obj: Any) -> str:
        return str(obj.claim.reference)

    @staticmethod
    def resolve_status(obj: Any) -> str:
        return str(obj.claim.status)

    @staticmethod
    def resolve_organisation(obj: Any) -> str:
        return str(obj.organisation.code)

    @staticmethod
    def resolve_decided_by(obj: Any) -> str:
        return str(obj.decided_by.username)

    @staticmethod
    def resolve_cure_until(obj: Any) -> date | None:
        return obj.claim.cure_until  # type: ignore[no-any-return]

    @staticmethod
    def resolve_basis_key(obj: Any) -> str | None:
        return obj.claim.basis_key  # type: ignore[no-any-return]


class ProviderRowOut(Schema):
    provider_id: int | None
    provider: str
    submitted: int
    verified: int
    rejected: int
    partially_verified: int
    median_days_to_decision: Decimal | None
    worst_days_to_decision: int | None
    late_decisions: int
    worst_late_days: int
    open_overdue: int
    breaches: int


class ReasonRowOut(Schema):
    rank: int
    provider_id: int | None
    provider: str
    code: str
    label: str
    count: int


class SampleRowOut(Schema):
    provider_id: int | None
    provider: str
    sampled: int
    audited: int
    failed: int
    paid: Decimal
    supported: Decimal
    overpayment: Decimal


class AppraisalOut(Schema):
    point_estimate: Decimal
    standard_error: Decimal
    lower: Decimal
    upper: Decimal | None
    confidence: Decimal
    sided: str
    distribution: str
    degrees_of_freedom: int | None
    critical_value: Decimal
    sample_overpayment: Decimal
    recovery: Decimal


class SampleOut(Schema):
    period: str
    seed: int
    design: str
    universe_size: int
    universe_amount: Decimal
    rows: list[SampleRowOut]
    appraisal: AppraisalOut | None
    appraisal_hidden: bool


class VerificationReportOut(Schema):
    """Rows of all providers first (or "Your organisation" for provider staff)."""

    pilot: str
    month: str
    own_organisation_only: bool
    providers: list[ProviderRowOut]
    rejection_reasons: list[ReasonRowOut]
    sample: SampleOut | None = Field(description="null: no sample drawn for the month")


@router.post(
    "/{pilot}/claims/{claimref:reference}/verification",
    response={201: VerificationOut, **E},
    summary="Verify a submitted claim (C9): a checklist answer per evidence requirement",
)
@permission("claim.verify")
def verify(request: HttpRequest, pilot: str, reference: str, payload: VerificationIn) -> Any:
    p, _ = pilot_for(request.auth, pilot, "claim.verify")
    decision = verify_claim(
        claim=visible_claim(request.auth, p, reference),
        outcome=payload.outcome,
        checklist=[a.model_dump() for a in payload.checklist],
        reason_codes=payload.reason_codes,
        criteria_met=payload.criteria_met,
        note=payload.note,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, decision)


@router.get(
    "/{pilot}/verification-report",
    response={200: VerificationReportOut, **E},
    summary="Monthly verification report (YYYY-MM): per provider, reasons, sample audit",
)
@permission("verification.report")
def verification_report(
    request: HttpRequest,
    pilot: str,
    month: str | None = Query(None, pattern=MONTH, description="YYYY-MM; default this month"),
) -> Any:
    p, _ = pilot_for(request.auth, pilot, "verification.report")
    month = month or p.calendar.local_date(timezone.now()).strftime("%Y-%m")
    return report.as_document(report.verification_report(p, month=month, user=request.auth))
