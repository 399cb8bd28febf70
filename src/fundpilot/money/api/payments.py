"""API of C13 payment runs, mounted at /api/v1/pilots.

    POST /{pilot}/payment-runs                          run (or dry-run) a month
    GET  /{pilot}/payment-runs                          the pilot's runs, newest first
    GET  /{pilot}/payment-runs/{number}                 one run, with the bases it paid
    GET  /{pilot}/payment-runs/{number}/remittances/{provider}.csv | .json

Amounts travel as decimal strings. Provider staff see only their own remittances.
"""

from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from fundpilot.money import ledger, remittance
from fundpilot.money.actions.payments import run_payments
from fundpilot.money.models import PaymentRun, Transaction
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Organisation, Pilot

router = Router(tags=["payments"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class RunIn(Schema):
    month: str = Field(description="the month paid for, YYYY-MM (pilot time)")
    dry_run: bool = Field(False, description="compute and show, write nothing")


class Page(Schema):
    limit: int = Field(500, ge=1, le=10_000)
    offset: int = Field(0, ge=0)


def run_document(run: PaymentRun) -> dict[str, Any]:
    """A posted run as people and machines read it (amounts as strings)."""
    return {
        "pilot": run.pilot.slug,
        "number": run.number,
        "month": f"{run.month:%Y-%m}",
        "total": str(run.total),
        "run_by": run.run_by.username,
        "run_at": run.run_at.isoformat(),
        "rulebook_version": run.rulebook_version,
        **{k: v for k, v in run.summary.items() if k != "total"},
    }


def bases_of(run: PaymentRun, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """The run's transactions (one per basis, recoupment and remittance), in order."""
    rows = (
        Transaction.objects.filter(run=run)
        .order_by("number")
        .values(
            "number",
            "kind",
            "basis_key",
            "provider__code",
            "participant_id",
            "memo",
            "amount_cents",
        )[offset : offset + limit]
    )
    return [
        {
            "transaction": r["number"],
            "kind": remittance.kind_of(r["basis_key"])
            if r["kind"] == Transaction.PAYMENT
            else r["kind"],
            "basis_key": r["basis_key"],
            "provider": r["provider__code"],
            "participant_id": r["participant_id"],
            "description": r["memo"],
            "amount": str(Decimal(r["amount_cents"]).scaleb(-2)),
        }
        for r in rows
    ]


def run_named(pilot: Pilot, number: int) -> PaymentRun:
    found = PaymentRun.objects.filter(pilot=pilot, number=number).select_related("run_by").first()
    if found is None:
        raise Http404(f"no payment run {number} in {pilot.slug}")
    return found


def provider_named(code: str) -> Organisation:
    found = Organisation.objects.filter(code=code).first()
    if found is None:
        raise Http404(f"no provider '{code}'")
    return found


@router.post(
    "/{pilot}/payment-runs",
    response={200: dict[str, Any], 201: dict[str, Any], **E},
    summary="Run the month's payments (201 when posted; 200 for a dry run or nothing due)",
)
@permission("payment.run")
def post_run(request: HttpRequest, pilot: str, body: RunIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "payment.run")
    result = run_payments(
        pilot=p,
        month=ledger.parse_month(body.month),
        by=request.auth,
        at=timezone.now(),
        dry_run=body.dry_run,
    )
    return Status(201 if result.run is not None else 200, result.as_dict())


@router.get(
    "/{pilot}/payment-runs",
    response={200: list[dict[str, Any]], **E},
    summary="The pilot's payment runs, newest first (held items left out)",
)
@permission("payment.view")
def list_runs(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "payment.view")
    runs = PaymentRun.objects.filter(pilot=p).select_related("run_by", "pilot").order_by("-number")
    return [{k: v for k, v in run_document(r).items() if k != "held"} for r in runs]


@router.get(
    "/{pilot}/payment-runs/{number}",
    response={200: dict[str, Any], **E},
    summary="One payment run: totals by kind and provider, held items, and its bases",
)
@permission("payment.view")
def get_run(request: HttpRequest, pilot: str, number: int, page: Query[Page]) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "payment.view")
    run = run_named(p, number)
    return run_document(run) | {"bases": bases_of(run, limit=page.limit, offset=page.offset)}


def _remittance(request: HttpRequest, pilot: str, number: int, provider: str) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "remittance.view")
    run = run_named(p, number)
    org = provider_named(provider)
    remittance.require_remittance(request.auth, p, org)
    if org not in remittance.providers_of(run):
        raise Http404(f"run {number} remitted nothing to {provider}")
    return remittance.remittance(run, org)


@router.get(
    "/{pilot}/payment-runs/{number}/remittances/{provider}.json",
    response={200: dict[str, Any], **E},
    summary="A provider's remittance of a run, each line naming its basis (JSON)",
)
@permission("remittance.view")
def remittance_json(request: HttpRequest, pilot: str, number: int, provider: str) -> dict[str, Any]:
    return _remittance(request, pilot, number, provider)


@router.get(
    "/{pilot}/payment-runs/{number}/remittances/{provider}.csv",
    response={200: str, **E},
    summary="A provider's remittance of a run, each line naming its basis (CSV)",
)
@permission("remittance.view")
def remittance_csv(request: HttpRequest, pilot: str, number: int, provider: str) -> HttpResponse:
    document = _remittance(request, pilot, number, provider)
    response = HttpResponse(remittance.as_csv(document), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="{remittance.filename(document, "csv")}"'
    )
    return response
