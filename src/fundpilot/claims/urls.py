"""Milestone, evidence and verification pages, under /pilots/<pilot>/ (see fundpilot.urls)."""

from fundpilot.claims.views import contract, disputes, sampling, tracker, verification

app_name = "claims"

urlpatterns = [
    *tracker.urls,
    *verification.urls,
    *sampling.urls,
    *contract.urls,
    *disputes.urls,
]
