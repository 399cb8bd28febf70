"""Money pages, under /pilots/<pilot>/ (see fundpilot.urls)."""

from fundpilot.money.views import funds, payments, reconciliation, spending, unwind, variance

app_name = "money"

urlpatterns = [
    *funds.urls,
    *spending.urls,
    *payments.urls,
    *reconciliation.urls,
    *variance.urls,
    *unwind.urls,
]
