"""Report pages, under /pilots/<pilot>/reports/: the index (choose a month and a payer,
see what is prepared for the month, download) and the downloads themselves —
`board-<YYYY-MM>.pdf`, `payer-<payer>-<YYYY-MM>.pdf|.xlsx`, `equity-<YYYY-MM>.pdf|.csv`.

A payer representative is offered only its own payer's statement; asking for another
payer's answers 403 (like its money statement page), a payer the rulebook does not
name 404. A report that cannot be made for the month (not begun, outside the pilot
period, no equity check for the CSV) answers 404 with the reason.
"""

from datetime import date
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from fundpilot.governance import reports
from fundpilot.governance.models import BoardDecision, EquityCheck, Settlement
from fundpilot.money.api.common import month_or_404
from fundpilot.money.ledger import parse_month
from fundpilot.money.models import Reconciliation, VarianceCycle
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted, Refused


def _prepared(pilot: Pilot, month: date) -> list[tuple[str, str]]:
    """What the month's reports read, and whether it is there yet."""
    settlement = Settlement.objects.filter(pilot=pilot, month=month).first()
    decided = BoardDecision.objects.filter(settlement__pilot=pilot, settlement__month=month)
    return [
        ("Settlement file (C16)", settlement.status if settlement else "not yet prepared"),
        ("Board decision (C17)", "decided" if decided.exists() else "not yet taken"),
        (
            "Reconciliation (C14)",
            "prepared"
            if Reconciliation.objects.filter(pilot=pilot, month=month).exists()
            else "not yet prepared",
        ),
        (
            "Variance cycle (C15)",
            "run"
            if VarianceCycle.objects.filter(pilot=pilot, month=month).exists()
            else "not yet run",
        ),
        (
            "Equity check (C18)",
            "run"
            if EquityCheck.objects.filter(pilot=pilot, month=month).exists()
            else "not yet run",
        ),
    ]


def _link(pilot: Pilot, kind: str, fmt: str, month: date, payer: str | None = None) -> str:
    kwargs = {"pilot": pilot.slug, "month": f"{month:%Y-%m}"}
    if payer is not None:
        kwargs["payer"] = payer
    return reverse(f"governance:report-{kind}-{fmt}", kwargs=kwargs)


@require_GET
@page("report.payer")  # every report reader holds it (the money readers)
def reports_index(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    user = request.user
    today = pilot.calendar.local_date(timezone.now())
    months = reports.months_begun(pilot, today)
    try:
        month = parse_month(request.GET["month"]) if "month" in request.GET else None
    except Refused:
        month = None
    if month not in months:
        month = reports.default_month(pilot, today)
    scope = policy.payer_scope(user, pilot)
    payers = [p for p in pilot.rulebook.payers if scope is None or p.id == scope]
    payer = next((p for p in payers if p.id == request.GET.get("payer")), None)
    payer = payer or (payers[0] if payers else None)
    files: list[dict[str, Any]] = []
    if month is not None:
        if policy.allowed(user, "report.board", pilot):
            files.append(
                {"label": "Board pack", "links": [("PDF", _link(pilot, "board", "pdf", month))]}
            )
        if payer is not None:
            files.append(
                {
                    "label": f"Payer statement: {payer.name}",
                    "links": [
                        (fmt.upper(), _link(pilot, "payer", fmt, month, payer.id))
                        for fmt in reports.KINDS[reports.PAYER].formats
                    ],
                }
            )
        if policy.allowed(user, "equity.view", pilot):
            files.append(
                {
                    "label": "Equity report",
                    "links": [
                        (fmt.upper(), _link(pilot, "equity", fmt, month))
                        for fmt in reports.KINDS[reports.EQUITY].formats
                    ],
                }
            )
    ctx = pilot_context(request, pilot, "reports") | {
        "months": [f"{m:%Y-%m}" for m in months],
        "month": f"{month:%Y-%m}" if month else "",
        "payers": payers,
        "payer": payer,
        "files": files,
        "prepared": _prepared(pilot, month) if month else [],
    }
    return render(request, "governance/reports/index.html", ctx)


def download(
    request: HttpRequest, pilot: Pilot, kind: str, fmt: str, month: str, payer: str | None = None
) -> HttpResponse:
    """The file, as an attachment; a report that cannot be made is not found."""
    try:
        made = reports.make(
            kind=kind,
            fmt=fmt,
            pilot=pilot,
            month=month_or_404(month),
            payer=payer,
            by=request.user,
            at=timezone.now(),
        )
    except NotPermitted:
        raise
    except Refused as exc:
        raise Http404(exc.message) from None
    response = HttpResponse(made.content, content_type=made.content_type)
    response["Content-Disposition"] = f'attachment; filename="{made.name}"'
    return response


@require_GET
@page("report.board")
def board_pdf(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    return download(request, pilot, reports.BOARD, reports.PDF, month)


def _payer(request: HttpRequest, pilot: Pilot, payer: str, month: str, fmt: str) -> HttpResponse:
    payer, month = reports.payer_and_month(payer, month)
    return download(request, pilot, reports.PAYER, fmt, month, payer)


@require_GET
@page("report.payer")
def payer_pdf(request: HttpRequest, pilot: Pilot, payer: str, month: str) -> HttpResponse:
    return _payer(request, pilot, payer, month, reports.PDF)


@require_GET
@page("report.payer")
def payer_xlsx(request: HttpRequest, pilot: Pilot, payer: str, month: str) -> HttpResponse:
    return _payer(request, pilot, payer, month, reports.XLSX)


@require_GET
@page("equity.view")
def equity_pdf(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    return download(request, pilot, reports.EQUITY, reports.PDF, month)


@require_GET
@page("equity.view")
def equity_csv(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    return download(request, pilot, reports.EQUITY, reports.CSV, month)


urls: list[URLPattern] = [
    path("reports/", reports_index, name="reports"),
    path("reports/board-<str:month>.pdf", board_pdf, name="report-board-pdf"),
    path("reports/payer-<str:payer>-<str:month>.pdf", payer_pdf, name="report-payer-pdf"),
    path("reports/payer-<str:payer>-<str:month>.xlsx", payer_xlsx, name="report-payer-xlsx"),
    path("reports/equity-<str:month>.pdf", equity_pdf, name="report-equity-pdf"),
    path("reports/equity-<str:month>.csv", equity_csv, name="report-equity-csv"),
]
