"""API of payments, mounted at /api/v1/pilots."""

from ninja import Router

router = Router(tags=["money"])
