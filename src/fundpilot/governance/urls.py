"""Governance pages, under /pilots/<pilot>/ (see fundpilot.urls)."""

from fundpilot.governance.views import assurance, board, dashboards, equity, reports, settlement

app_name = "governance"

urlpatterns: list = [
    *settlement.urls,
    *board.urls,
    *assurance.urls,
    *dashboards.urls,
    *equity.urls,
    *reports.urls,
]
