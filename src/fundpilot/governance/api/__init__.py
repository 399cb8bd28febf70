"""API of governance (C16–C19, reports), one router per area."""

from fundpilot.governance.api import assurance, board, dashboards, equity, reports, settlement

routers: list = [
    settlement.router,
    board.router,
    assurance.router,
    dashboards.router,
    equity.router,
    reports.router,
]
