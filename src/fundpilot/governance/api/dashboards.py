"""API of the dashboards, mounted at /api/v1/pilots: the same figures as the page, under
the same scoping (see `governance.dashboards`)."""

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from pydantic import Field

from fundpilot.governance.dashboards import dashboard
from fundpilot.money.ledger import parse_month
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error

router = Router(tags=["governance"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class DashboardOut(Schema):
    pilot: str
    months: list[str] = Field(description="YYYY-MM, the pilot's months shown")
    panels: dict[str, Any] = Field(
        description="the panels the caller may see, by name: attainment (points per month:"
        " numerator, denominator, rate, source settled or live), turnaround (points per"
        " month: decisions, median and p90 business days), spend (per payer, points per"
        " month: plan and spend to date), acceptance (per acuity band: accepted, decided,"
        " rate, floor); each figure with the url of the records behind it (empty when the"
        " caller may not open that page); rates in percent and money as decimal strings"
    )


@router.get(
    "/{pilot}/dashboard",
    response={200: DashboardOut, **E},
    summary="The dashboard figures the caller may see",
)
@permission("dashboard.view")
def get_dashboard(request: HttpRequest, pilot: str, until: str | None = None) -> dict[str, Any]:
    """Up to `until` (YYYY-MM, a begun month of the pilot period; default this month)."""
    p, _ = pilot_for(request.auth, pilot, "dashboard.view")
    month = parse_month(until) if until else None
    return dashboard(p, user=request.auth, now=timezone.now(), until=month)
