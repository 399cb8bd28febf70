"""API of the reports, mounted at /api/v1/pilots: the files a viewer may have for a month,
and the files themselves, at the same names as the pages' downloads —
`reports/board-{month}.pdf`, `reports/payer-{payer}-{month}.pdf|.xlsx`,
`reports/equity-{month}.pdf|.csv`.

A payer representative gets only its own payer's statement (another payer's: 403
other_payer); a payer the rulebook does not name, or an equity CSV of a month whose
check has not run, 404; a month not begun or outside the pilot period, 422.
"""

from datetime import date
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Router, Schema
from pydantic import Field

from fundpilot.governance import reports
from fundpilot.money.api.common import month_or_404
from fundpilot.money.ledger import parse_month
from fundpilot.pilots import policy
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused

router = Router(tags=["governance"])
E = {401: Error, 403: Error, 404: Error, 422: Error}
NOT_FOUND = ("unknown_payer", "not_prepared")


class ReportFileOut(Schema):
    kind: str = Field(description="board, payer or equity")
    format: str = Field(description="pdf, xlsx or csv")
    payer: str | None
    name: str = Field(description="the file's name")
    url: str


def _binary(fmt: str, what: str) -> dict[str, Any]:
    """The operation's 200 answer in the published schema: a file, not JSON."""
    media = reports.CONTENT_TYPES[fmt].split(";")[0]
    return {
        "responses": {
            "200": {
                "description": f"{what} ({fmt.upper()}, as an attachment)",
                "content": {media: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    }


def _file(
    request: HttpRequest, pilot: str, kind: str, fmt: str, month: str, payer: str | None = None
) -> HttpResponse:
    p, _ = pilot_for(request.auth, pilot, reports.KINDS[kind].perm)
    try:
        made = reports.make(
            kind=kind,
            fmt=fmt,
            pilot=p,
            month=month_or_404(month),
            payer=payer,
            by=request.auth,
            at=timezone.now(),
        )
    except Refused as exc:
        if exc.code in NOT_FOUND:
            raise Http404(exc.message) from None
        raise
    response = HttpResponse(made.content, content_type=made.content_type)
    response["Content-Disposition"] = f'attachment; filename="{made.name}"'
    return response


def _url(p: Pilot, kind: str, fmt: str, month: date, payer: str | None) -> str:
    kwargs = {"pilot": p.slug, "month": f"{month:%Y-%m}"}
    if payer is not None:
        kwargs["payer"] = payer
    return reverse(f"api:report-{kind}-{fmt}", kwargs=kwargs)


@router.get(
    "/{pilot}/reports",
    response={200: list[ReportFileOut], **E},
    summary="The report files of a month the viewer may have (a payer its own statement)",
)
@permission("report.payer")  # every report reader holds it (the money readers)
def get_reports(request: HttpRequest, pilot: str, month: str | None = None) -> list[dict[str, Any]]:
    """`month` YYYY-MM; by default the latest that has ended."""
    p, _ = pilot_for(request.auth, pilot, "report.payer")
    first = (
        parse_month(month)
        if month
        else reports.default_month(p, p.calendar.local_date(timezone.now()))
    )
    if first is None:
        return []
    scope = policy.payer_scope(request.auth, p)
    found = []
    for kind, spec in reports.KINDS.items():
        if not policy.allowed(request.auth, spec.perm, p):
            continue
        payers: list[str | None] = [None]
        if kind == reports.PAYER:
            payers = [x.id for x in p.rulebook.payers if scope is None or x.id == scope]
        for payer in payers:
            for fmt in spec.formats:
                found.append(
                    {
                        "kind": kind,
                        "format": fmt,
                        "payer": payer,
                        "name": reports.file_name(p, kind, first, fmt, payer),
                        "url": _url(p, kind, fmt, first, payer),
                    }
                )
    return found


@router.get(
    "/{pilot}/reports/board-{month}.pdf",
    url_name="report-board-pdf",
    response=E,
    summary="The board pack of a month (PDF)",
    openapi_extra=_binary(reports.PDF, "the board pack"),
)
@permission("report.board")
def board_pdf(request: HttpRequest, pilot: str, month: str) -> HttpResponse:
    return _file(request, pilot, reports.BOARD, reports.PDF, month)


@router.get(
    "/{pilot}/reports/payer-{payer}-{month}.pdf",
    url_name="report-payer-pdf",
    response=E,
    summary="A payer's statement of a month (PDF)",
    openapi_extra=_binary(reports.PDF, "the payer statement"),
)
@permission("report.payer")
def payer_pdf(request: HttpRequest, pilot: str, payer: str, month: str) -> HttpResponse:
    payer, month = reports.payer_and_month(payer, month)
    return _file(request, pilot, reports.PAYER, reports.PDF, month, payer)


@router.get(
    "/{pilot}/reports/payer-{payer}-{month}.xlsx",
    url_name="report-payer-xlsx",
    response=E,
    summary="A payer's statement of a month (XLSX: a sheet per section and a Trace sheet)",
    openapi_extra=_binary(reports.XLSX, "the payer statement"),
)
@permission("report.payer")
def payer_xlsx(request: HttpRequest, pilot: str, payer: str, month: str) -> HttpResponse:
    payer, month = reports.payer_and_month(payer, month)
    return _file(request, pilot, reports.PAYER, reports.XLSX, month, payer)


@router.get(
    "/{pilot}/reports/equity-{month}.pdf",
    url_name="report-equity-pdf",
    response=E,
    summary="The equity report of a month (PDF)",
    openapi_extra=_binary(reports.PDF, "the equity report"),
)
@permission("equity.view")
def equity_pdf(request: HttpRequest, pilot: str, month: str) -> HttpResponse:
    return _file(request, pilot, reports.EQUITY, reports.PDF, month)


@router.get(
    "/{pilot}/reports/equity-{month}.csv",
    url_name="report-equity-csv",
    response=E,
    summary="The equity report of a month (CSV of the stored check, with a trace column)",
    openapi_extra=_binary(reports.CSV, "the equity report"),
)
@permission("equity.view")
def equity_csv(request: HttpRequest, pilot: str, month: str) -> HttpResponse:
    return _file(request, pilot, reports.EQUITY, reports.CSV, month)
