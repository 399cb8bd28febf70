"""API of milestones, evidence and verification (C7–C11), one router per area."""

from fundpilot.claims.api import contract, disputes, sampling, tracker, verification

routers = [area.router for area in (tracker, verification, sampling, contract, disputes)]
