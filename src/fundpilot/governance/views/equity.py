"""C18 pages, under /pilots/<pilot>/equity/: one month's equity figures (the stored check
when it has run, else computed now), its CSV, running the check and reviewing a finding.

Whoever may not see participants (payer representatives, finance, the board) sees the
figures without the records behind the signals; links to participants, claims and
evidence are shown only with the permission to open them.
"""

import csv
import io
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from fundpilot.governance import equity
from fundpilot.governance.actions import equity as actions
from fundpilot.governance.models import EquityCheck, EquityFinding
from fundpilot.money.api.common import month_or_404
from fundpilot.money.ledger import month_of, parse_month
from fundpilot.money.monthly import next_month
from fundpilot.money.views.common import GET_POST, MonthForm, form_page
from fundpilot.participants.forms import TEXT
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused

METHOD = [
    (
        "Groups",
        "All, each acuity band and each subpopulation flag (flags overlap), pilot-wide and"
        " per provider. Rates are count/of with a 90% Wilson interval.",
    ),
    (
        "Acceptance floors",
        "The rulebook's minimum acceptance rate for each high-need cohort, against the"
        " month's activation decisions (activated ÷ activated or rejected).",
    ),
    (
        "Risk-adjusted attainment",
        "Indirect standardisation over every participant milestone whose window closed by"
        " the month's end: each stratum (milestone × acuity band × set of flags) has its"
        " pilot-wide attainment rate; a provider's expected count is the sum of its units'"
        " stratum rates, O/E its ratio, with Byar's 90% interval. A stratum of one unit adds"
        " the same to O and E. An interval wholly above or below 1 is a finding.",
    ),
    (
        "Cherry-picking",
        "Per provider, all activation decisions to date by acuity rank (rulebook order,"
        " lowest need first): the Cochran–Armitage trend test; acceptance falling with"
        " acuity at p < 0.10 is a finding.",
    ),
    (
        "Documentation inflation",
        "Bursts: the month's evidence for a claim uploaded in the last 2 days of the"
        " milestone window, over half of a provider's uploads and 20 points above an even"
        " spread. Reuse: one file (SHA-256) on several participants. Fast: a claim"
        " submitted this month, reached sooner after its window opened than the pilot's"
        " 5th percentile for the milestone (20 claims at least).",
    ),
    (
        "Between providers",
        "Size is the roster at the month's end. Rejections are the month's verification"
        " decisions; time to payment runs from payable to posted in the ledger; withheld is"
        " held by payment runs, recouped, or payable and unpaid. The forecast puts payable"
        " claims in the next month, claims in verification in the one after and drafts in"
        " the third (both at the provider's verification pass rate), plus the month's PMPM"
        " and episode payments as a run rate.",
    ),
]
TABLE_LABELS = {
    "enrolment": "Enrolment: share of the month's referrals",
    "acceptance": "Acceptance: activated of activation decisions",
    "activation": "Activation: on the roster of those made eligible",
    "attainment": "Milestone attainment: reached within windows closing this month",
    "reviews_on_time": "Escalation timeliness: progression reviews on time",
    "escalated": "Escalations among progression reviews",
    equity.DISENGAGED: "Disengaged (relapse) of the roster",
}
LINKS = {
    "participant": ("participant.view", "participants:participant", "participant_id"),
    "claim": ("claim.view", "claims:claim", "reference"),
    "evidence": ("claim.view", "claims:evidence-file", "number"),
}


def _percent(rate: str | None) -> str:
    return "—" if rate is None else f"{float(rate) * 100:.1f}%"


def _cell(row: dict[str, Any]) -> str:
    if not row["of"]:
        return "—"
    interval = f" ({_percent(row['low'])}–{_percent(row['high'])})" if row["low"] else ""
    return f"{row['count']}/{row['of']} · {_percent(row['rate'])}{interval}"


def _matrix(pilot: Pilot, figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Each table as groups × (pilot, providers) cells."""
    scopes = [equity.PILOT_WIDE, *figures["provider_codes"]]
    labels = {
        f"{equity.ESCALATION}{c.code}": f"Escalations crossing {c.code}: {c.label}"
        for c in pilot.rulebook.codes.escalation_thresholds
    }
    tables = []
    for name in figures["table_names"]:
        rows = figures["tables"][name]
        cells = {(r["group_kind"], r["group"], r["provider"]): r for r in rows}
        groups = list(dict.fromkeys((r["group_kind"], r["group"]) for r in rows))
        tables.append(
            {
                "name": name,
                "label": TABLE_LABELS.get(name) or labels.get(name, name),
                "scopes": scopes,
                "rows": [
                    (g, [_cell(cells[(*g, s)]) if (*g, s) in cells else "—" for s in scopes])
                    for g in groups
                ],
            }
        )
    return tables


def _records(request: HttpRequest, pilot: Pilot, records: Any) -> dict[str, Any] | None:
    """A record list as a table, linking what the viewer may open."""
    if isinstance(records, dict):  # a provider's records: {"paid": [...]}
        records = [r for rows in records.values() for r in rows]
    if not records:
        return None
    headers = list(dict.fromkeys(k for r in records for k in r))
    may = {k: policy.allowed(request.user, perm, pilot) for k, (perm, _, _) in LINKS.items()}
    rows = []
    for r in records:
        cells = []
        for h in headers:
            value, url = r.get(h, ""), None
            if h in LINKS and may[h] and value:
                _, name, kwarg = LINKS[h]
                url = reverse(name, kwargs={"pilot": pilot.slug, kwarg: value})
            cells.append((value, url))
        rows.append(cells)
    return {"headers": [h.replace("_", " ") for h in headers], "rows": rows}


# What a signal's summary tells, in this order (its data, read back from the database,
# may come in another): the figures, never the records.
FACTS = (
    *("cohort", "minimum_rate", "milestone", "days", "count", "of", "rate", "low", "high"),
    *("status", "units", "observed", "expected", "ratio", "ranks", "slope", "statistic"),
    *("p_value", "alpha", "uploads", "in_window", "late", "observed_share", "expected_share"),
    *("window_days", "sha256", "participants", "observations", "percentile", "cutoff_days"),
)


def _summary(data: dict[str, Any]) -> str:
    parts = []
    for key in FACTS:
        value = data.get(key)
        if value is None:
            continue
        if key == "ranks":
            value = ", ".join(f"{r['band']} {r['count']}/{r['of']}" for r in value)
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def _item(
    request: HttpRequest, pilot: Pilot, kind: str, subject: str, data: dict[str, Any], show: bool
) -> dict[str, Any]:
    return {
        "kind": kind,
        "subject": subject,
        "summary": _summary(data),
        "records": _records(request, pilot, data.get(equity.RECORDS)) if show else None,
    }


def _months(pilot: Pilot, today: date) -> list[str]:
    period = pilot.rulebook.pilot
    month, last = month_of(period.period_start), min(month_of(today), month_of(period.period_end))
    found = []
    while month <= last:
        found.append(f"{month:%Y-%m}")
        month = next_month(month)
    return found


def _default_month(pilot: Pilot, today: date) -> date:
    """The latest month that has ended, within the pilot period."""
    period = pilot.rulebook.pilot
    latest = min(month_of(period.period_end), _previous(month_of(today)))
    return max(month_of(period.period_start), latest)


def _previous(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def _figures(pilot: Pilot, month: date) -> tuple[EquityCheck | None, dict[str, Any]]:
    check = EquityCheck.objects.filter(pilot=pilot, month=month).select_related("run_by").first()
    return check, check.figures if check else equity.compute(pilot, month)


@require_GET
@page("equity.view")
def equity_page(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    user = request.user
    today = pilot.calendar.local_date(timezone.now())
    try:
        month = parse_month(request.GET["month"]) if "month" in request.GET else None
    except Refused:
        month = None
    month = month or _default_month(pilot, today)
    check, figures = _figures(pilot, month)
    show = policy.allowed(user, "participant.view", pilot)
    if not show:
        figures = equity.redacted(figures)
    findings = []
    if check is not None:
        for f in check.findings.select_related("reviewed_by").order_by("pk"):
            item = _item(request, pilot, f.kind, f.subject, f.data, show)
            findings.append(item | {"finding": f})
    signals = [
        _item(request, pilot, s["kind"], s["subject"], s["data"], show) for s in figures["signals"]
    ]
    providers = [
        p | {"records_table": _records(request, pilot, p.get(equity.RECORDS)) if show else None}
        for p in figures["providers"]
    ]
    ctx = pilot_context(request, pilot, "governance") | {
        "month": f"{month:%Y-%m}",
        "months": _months(pilot, today),
        "check": check,
        "figures": figures,
        "tables": _matrix(pilot, figures),
        "findings": findings,
        "signals": signals,
        "providers": providers,
        "method": METHOD,
        "show_records": show,
        "may_run": policy.allowed(user, "equity.run", pilot),
        "may_review": policy.allowed(user, "equity.review", pilot),
    }
    return render(request, "governance/equity/page.html", ctx)


@GET_POST
@page("equity.run")
def equity_run(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    def act(data: dict[str, Any]) -> str:
        month = parse_month(data["month"])
        actions.run_equity_check(pilot=pilot, month=month, by=request.user, at=timezone.now())
        messages.success(request, f"The {month:%Y-%m} equity check has run.")
        return f"{reverse('governance:equity', kwargs={'pilot': pilot.slug})}?month={month:%Y-%m}"

    return form_page(
        request,
        pilot,
        MonthForm,
        act,
        section="governance",
        title="Run the equity check",
        control="C18",
        back=("governance:equity", "Equity safeguards"),
        intro="Stores the month's equity figures and lists each signal as a finding for"
        " review. The month must have ended; a month is checked once.",
    )


@require_GET
@page("equity.view")
def equity_csv(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    _, figures = _figures(pilot, month_or_404(month))
    buffer = io.StringIO()
    csv.writer(buffer).writerows(equity.csv_rows(figures))
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="equity-{pilot.slug}-{month}.csv"'
    return response


class ReviewForm(forms.Form):
    note = forms.CharField(widget=TEXT, help_text="What the review found and what follows.")


@GET_POST
@page("equity.review")
def finding_review(request: HttpRequest, pilot: Pilot, finding_id: int) -> HttpResponse:
    found = EquityFinding.objects.filter(pilot=pilot, pk=finding_id).select_related("pilot").first()
    if found is None:
        raise Http404(f"no equity finding {finding_id}")

    def act(data: dict[str, Any]) -> str:
        actions.review_equity_finding(
            finding=found, note=data["note"], by=request.user, at=timezone.now()
        )
        messages.success(request, f"Finding {found.pk} is reviewed.")
        url = reverse("governance:equity", kwargs={"pilot": pilot.slug})
        return f"{url}?month={found.month:%Y-%m}#finding-{found.pk}"

    return form_page(
        request,
        pilot,
        ReviewForm,
        act,
        section="governance",
        title=f"Review finding {found.pk}: {found.kind} {found.subject}",
        control="C18",
        back=("governance:equity", "Equity safeguards"),
    )


urls: list[URLPattern] = [
    path("equity/", equity_page, name="equity"),
    path("equity/run/", equity_run, name="equity-run"),
    path("equity/<str:month>.csv", equity_csv, name="equity-csv"),
    path("equity/findings/<int:finding_id>/review/", finding_review, name="equity-review"),
]
