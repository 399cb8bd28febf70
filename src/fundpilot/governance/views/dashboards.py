"""The dashboard page, /pilots/<pilot>/dashboard/: the panels the viewer may see
(`dashboards.dashboard` decides and scopes), each drawn as an inline SVG chart whose
bars and points link to the records behind them, with the same figures as a table.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from fundpilot.governance import charts
from fundpilot.governance.dashboards import (
    ACCEPTANCE,
    ATTAINMENT,
    LIVE,
    SPEND,
    TURNAROUND,
    dashboard,
)
from fundpilot.money.ledger import parse_month
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused


def _number(figure: str | int | None) -> Decimal | int | None:
    """A figure of the JSON-ready panels (decimals travel as text) as a number."""
    return Decimal(figure) if isinstance(figure, str) else figure


def _percent(value: Decimal | int) -> str:
    return f"{value}%"


def _money(value: Decimal | int) -> str:
    return f"{value:,}"


Drawn = list[tuple[str, str]]  # (sub-heading or "", the chart's markup)


def _attainment(panel: dict[str, Any]) -> Drawn:
    points = panel["points"]
    chart = charts.line_chart(
        ident="chart-attainment",
        title=panel["title"],
        description="Attainment rate per month, in percent. " + panel["method"],
        labels=[p["month"] for p in points],
        series=[
            charts.Series(
                name="Attainment %",
                points=[
                    charts.Point(_number(p["rate"]), p["url"] or None, p["source"] == LIVE)
                    for p in points
                ],
                notes=[f"{p['numerator']} of {p['denominator']}, {p['source']}" for p in points],
            )
        ],
        fmt=_percent,
        top=100,
    )
    return [("", chart)]


def _turnaround(panel: dict[str, Any]) -> Drawn:
    points = panel["points"]

    def series(name: str, key: str) -> charts.Series:
        return charts.Series(
            name=name,
            points=[charts.Point(_number(p[key]), p["url"] or None) for p in points],
            notes=[f"{p['decisions']} decisions" for p in points],
        )

    chart = charts.line_chart(
        ident="chart-turnaround",
        title=panel["title"],
        description=panel["method"],
        labels=[p["month"] for p in points],
        series=[
            series("Median business days", "median"),
            series("90th percentile business days", "p90"),
        ],
    )
    return [("", chart)]


def _spend(panel: dict[str, Any]) -> Drawn:
    """One chart per payer: plan to date and spend to date, month by month."""
    drawn: Drawn = []
    for payer in panel["payers"]:
        drawn.append(
            (
                payer["name"],
                charts.grouped_bar_chart(
                    ident=f"chart-spend-{len(drawn)}",
                    title=f"{payer['name']}: spend vs plan to date",
                    description=panel["method"],
                    groups=[
                        charts.Group(
                            label=p["month"],
                            values=[Decimal(p["plan"]), Decimal(p["spend"])],
                            urls=[p["url"] or None, p["url"] or None],
                            note=p["source"],
                        )
                        for p in payer["points"]
                    ],
                    series=["Plan to date", "Spend to date"],
                    fmt=_money,
                ),
            )
        )
    return drawn


def _acceptance(panel: dict[str, Any]) -> Drawn:
    chart = charts.bar_chart(
        ident="chart-acceptance",
        title=panel["title"],
        description="Acceptance rate per acuity band, in percent. " + panel["method"],
        bars=[
            charts.Bar(
                label=f"{b['band']} ({b['label']})" if b["band"] else b["label"],
                value=_number(b["rate"]),
                url=b["url"] or None,
                note=f"{b['accepted']} accepted of {b['decided']} decided",
                target=_number(b["floor"]),
            )
            for b in panel["bands"]
        ],
        value_name="Acceptance %",
        fmt=_percent,
        top=100,
        target_name="Rulebook minimum %",
    )
    return [("", chart)]


DRAW: dict[str, Callable[[dict[str, Any]], Drawn]] = {
    ATTAINMENT: _attainment,
    TURNAROUND: _turnaround,
    SPEND: _spend,
    ACCEPTANCE: _acceptance,
}


@require_GET
@page("dashboard.view")
def dashboard_page(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """The viewer's panels up to `?until=YYYY-MM` (default: this month)."""
    until_text, error = request.GET.get("until", ""), None
    try:
        until = parse_month(until_text) if until_text else None
        figures = dashboard(pilot, user=request.user, now=timezone.now(), until=until)
    except Refused as exc:  # show the default months, and why the asked ones are not
        figures, error = dashboard(pilot, user=request.user, now=timezone.now()), exc
    # The charts escape every text they draw (governance.charts).
    panels = [
        (name, panel, [(sub, mark_safe(svg)) for sub, svg in DRAW[name](panel)])  # noqa: S308
        for name, panel in figures["panels"].items()
    ]
    context = pilot_context(request, pilot, "dashboard") | {
        "figures": figures,
        "panels": panels,
        "until": until_text or (figures["months"] or [""])[-1],
        "error": error,
    }
    return render(
        request, "governance/dashboards/dashboard.html", context, status=400 if error else 200
    )


urls: list[URLPattern] = [
    path("dashboard/", dashboard_page, name="dashboard"),
]
