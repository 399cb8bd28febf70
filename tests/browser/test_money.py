"""Money by the pages, in Chromium, as the demo's people (C12, C13): in the pooled
pilot the frontline lead asks the community fund for a transport support; the
supervisor, whose decision right covers up to $500 of the fund's transport, approves
it; finance previews and posts this month's payment run, which pays the request once
(a second run finds nothing new); the community fund's representative sees the
payment in its own funds and nobody else's, and cannot open the ledger.

The server runs on the real clock, so the run is for this month.
"""

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.browser.test_lifecycle import as_user  # noqa: F401 (the fixture)

PILOT = "pooled-2026"


def test_a_support_is_requested_approved_paid_once_and_seen_by_its_payer_only(
    server: str,
    as_user: Callable[[str], Page],  # noqa: F811
) -> None:
    money = f"{server}/pilots/{PILOT}/money"
    # Given: the frontline lead asks the fund for $87.50 of transport
    frontline = as_user("frontline")
    frontline.goto(f"{money}/spend-requests/new/")
    frontline.get_by_label("Payer").select_option("fund")
    frontline.get_by_label("Use").select_option("transport")
    frontline.get_by_label("Amount (USD)").fill("87.50")
    frontline.get_by_label("Purpose").fill("Bus pass to the housing appointment")
    frontline.get_by_role("button", name="Record").click()
    heading = frontline.get_by_role("heading", name="Spend request SR-")
    expect(heading).to_contain_text("requested")
    reference = heading.inner_text().split()[3]
    request_page = frontline.url

    # The requester sees no approval form on their own request
    expect(frontline.get_by_role("button", name="Approve")).to_have_count(0)

    # When: the supervisor approves it
    supervisor = as_user("supervisor")
    supervisor.goto(request_page)
    supervisor.get_by_label("Note").first.fill("In the care plan")
    supervisor.get_by_role("button", name="Approve").click()
    expect(supervisor.get_by_role("heading", name=f"Spend request {reference}")).to_contain_text(
        "approved"
    )

    # And finance previews, then posts this month's run
    finance = as_user("finance")
    month = datetime.now(ZoneInfo("America/Denver")).strftime("%Y-%m")
    finance.goto(f"{money}/payments/new/")
    finance.get_by_label("Month paid for").fill(month)
    finance.get_by_role("button", name="Preview (dry run)").click()
    expect(finance.get_by_role("heading", name=f"Preview of {month}")).to_be_visible()
    basis = f"spend:{PILOT}:{reference}"
    finance.get_by_label("Month paid for").fill(month)
    finance.get_by_role("button", name="Post the run").click()
    expect(finance.get_by_role("heading", name="Payment run")).to_be_visible()
    expect(finance.get_by_role("cell", name=basis)).to_have_count(1)

    # Then a second run finds nothing new to pay
    finance.goto(f"{money}/payments/new/")
    finance.get_by_label("Month paid for").fill(month)
    finance.get_by_role("button", name="Post the run").click()
    expect(finance.get_by_role("heading", name=f"Nothing new is due for {month}")).to_be_visible()

    # And the fund's representative sees its own funds only, and no ledger
    payer = as_user("payer-frcf")
    payer.goto(f"{money}/")
    expect(payer.get_by_role("heading", name="Front Range Community Fund")).to_be_visible()
    expect(payer.get_by_role("heading", name="Front Range Health Plan")).to_have_count(0)
    expect(payer.get_by_role("heading", name="Arapahoe County Public Health")).to_have_count(0)
    assert payer.request.get(f"{money}/ledger/").status == 403
