"""API of C10 staged contract milestones: the tranche board, and a tranche's claim
drafted and submitted by the pilot office. A tranche is addressed by its code ("T2");
it has at most one open claim, so submitting names the tranche, not the claim.
Decimals travel as strings, dates as ISO 8601.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.claims.actions.contract import draft_contract_claim, submit_contract_claim
from fundpilot.claims.live_use import TrancheRow, tranche_board
from fundpilot.claims.models import Claim
from fundpilot.participants.api_schemas import DecimalText
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import Tranche

router = Router(tags=["contract"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class PayerPartOut(Schema):
    payer: str
    use: str
    share: str
    amount: str


class ContractClaimOut(Schema):
    reference: str
    milestone: str
    tranche: str
    status: str
    amount: Decimal
    reached_on: date
    resubmission_of: str | None
    drafted_by: str
    drafted_at: datetime
    submitted_by: str | None
    submitted_at: datetime | None
    verification_due: date | None
    measures: dict[str, Any] = Field(description='{measure: {"value": "92.5", "volume": 160}}')
    live_use: dict[str, Any] = Field(description="live use computed at submission")
    cure_until: date | None
    payable_amount: Decimal | None
    payer_split: list[PayerPartOut]
    basis_key: str | None

    @staticmethod
    def resolve_resubmission_of(obj: Claim) -> str | None:
        return obj.resubmission_of.reference if obj.resubmission_of else None

    @staticmethod
    def resolve_drafted_by(obj: Claim) -> str:
        return obj.drafted_by.username

    @staticmethod
    def resolve_submitted_by(obj: Claim) -> str | None:
        return obj.submitted_by.username if obj.submitted_by else None


class LiveUseRequiredOut(Schema):
    minimum_real_cases: int
    minimum_referral_closure_rate: Decimal | None
    quality_floors: list[dict[str, Any]]


class TrancheOut(Schema):
    code: str
    name: str
    milestone: str
    amount: Decimal
    partial_release: str
    criteria: list[str]
    cure_period_days: int | None
    predecessors: list[str] = Field(description="tranches that must be payable first")
    status: str = Field(
        description="not_claimed, draft, submitted, payable, rejected (curable) or cure_over"
    )
    live_use_required: LiveUseRequiredOut | None
    live_use: dict[str, Any] = Field(description="at submission, or now before it")
    live_use_short: str = Field(description="what live use lacks; empty when it is met")
    cure_until: date | None
    released: Decimal | None
    payer_split: list[PayerPartOut]
    claims: list[ContractClaimOut] = Field(description="every claim of the tranche, oldest first")


class MeasureIn(Schema):
    value: DecimalText = Field(description='percent, e.g. "92.5"')
    volume: int = Field(description="cases the measure covers")


class ContractClaimIn(Schema):
    reached_on: date
    measures: dict[str, MeasureIn] = Field(default_factory=dict)
    resubmission_of: str | None = Field(
        None, description="reference of the rejected claim this cures (default: the latest)"
    )


def _tranche(pilot: Pilot, code: str) -> Tranche:
    found = next((t for t in pilot.rulebook.tranches if t.code == code), None)
    if found is None:
        raise Http404(f"no tranche '{code}' in {pilot.slug}")
    return found


def _out(row: TrancheRow, claims: list[Claim]) -> dict[str, Any]:
    t = row.tranche
    required = None
    if t.live_use is not None:
        required = {
            "minimum_real_cases": t.live_use.minimum_real_cases,
            "minimum_referral_closure_rate": t.live_use.minimum_referral_closure_rate,
            "quality_floors": [f.model_dump(mode="json") for f in t.live_use.quality_floors],
        }
    return {
        "code": t.code,
        "name": t.name,
        "milestone": t.milestone,
        "amount": t.amount,
        "partial_release": t.partial_release.value,
        "criteria": [c.code for c in t.criteria],
        "cure_period_days": t.cure_period_days,
        "predecessors": list(row.predecessors),
        "status": row.status,
        "live_use_required": required,
        "live_use": row.live_use,
        "live_use_short": row.live_use_short,
        "cure_until": row.cure_until,
        "released": row.released,
        "payer_split": row.payer_split,
        "claims": [c for c in claims if c.tranche == t.code],
    }


@router.get(
    "/{pilot}/tranches",
    response={200: list[TrancheOut], **E},
    summary="The tranche board: each tranche's status, live use, cure deadline and release",
)
@permission("pilot.view")
def list_tranches(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "pilot.view")
    claims = list(
        Claim.objects.filter(pilot=p, scope="contract")
        .select_related("resubmission_of", "drafted_by", "submitted_by")
        .order_by("pk")
    )
    return [_out(row, claims) for row in tranche_board(p, at=timezone.now())]


@router.post(
    "/{pilot}/tranches/{tranche}/claims",
    response={201: ContractClaimOut, **E},
    summary="Draft the pilot's claim of a tranche's contract milestone (or cure a rejection)",
)
@permission("contract.claim")
def draft_tranche_claim(
    request: HttpRequest, pilot: str, tranche: str, body: ContractClaimIn
) -> Status[Claim]:
    p, _ = pilot_for(request.auth, pilot, "contract.claim")
    found = _tranche(p, tranche)
    earlier = None
    if body.resubmission_of:
        earlier = Claim.objects.filter(pilot=p, reference=body.resubmission_of).first()
        if earlier is None:
            raise Refused(
                "unknown_claim", f"there is no claim '{body.resubmission_of}'", "resubmission_of"
            )
    claim = draft_contract_claim(
        pilot=p,
        milestone=found.milestone,
        reached_on=body.reached_on,
        measures={k: m.dict() for k, m in body.measures.items()},
        resubmission_of=earlier,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, claim)


@router.post(
    "/{pilot}/tranches/{tranche}/submission",
    response={200: ContractClaimOut, **E},
    summary="Submit the tranche's drafted claim: evidence, live use and quality are checked",
)
@permission("contract.claim")
def submit_tranche_claim(request: HttpRequest, pilot: str, tranche: str) -> Claim:
    p, _ = pilot_for(request.auth, pilot, "contract.claim")
    found = _tranche(p, tranche)
    claim = (
        Claim.objects.filter(pilot=p, scope="contract", tranche=found.code, status=Claim.DRAFT)
        .select_related("pilot")
        .first()
    )
    if claim is None:
        raise Refused("no_draft", f"tranche {found.code} has no drafted claim", "tranche")
    return submit_contract_claim(claim=claim, by=request.auth, at=timezone.now())
