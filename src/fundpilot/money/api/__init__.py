"""API of money (C12–C15, C20), one router per area."""

from fundpilot.money.api import funds, payments, reconciliation, spending, unwind, variance

routers = [area.router for area in (funds, spending, payments, reconciliation, variance, unwind)]
