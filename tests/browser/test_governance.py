"""Governance by the pages, in Chromium, on the demo (issue 6): the board chair opens the
dashboard of the pooled pilot, sees its charts, and downloads the month's board pack; a
payer's representative is offered only its own payer's statement, downloads it, and is
refused another payer's.
"""

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.test_lifecycle import as_user  # noqa: F401 (the fixture)

PILOT = "pooled-2026"


def test_the_board_chair_reads_the_dashboard_and_downloads_the_board_pack(
    server: str,
    as_user: Callable[[str], Page],  # noqa: F811
    tmp_path: Path,
) -> None:
    board = as_user("board")
    board.goto(f"{server}/pilots/{PILOT}/")
    board.get_by_role("navigation", name="Pilot").get_by_role("link", name="Dashboard").click()
    expect(board.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    for chart in ("Milestone attainment", "Verification turnaround", "Spend", "Acceptance"):
        expect(board.get_by_role("heading", name=chart, exact=False).first).to_be_visible()
    expect(board.locator("svg[role=img]").first).to_be_visible()

    board.get_by_role("navigation", name="Pilot").get_by_role("link", name="Reports").click()
    row = board.get_by_role("row", name="Board pack")
    with board.expect_download() as caught:
        row.get_by_role("link", name="PDF").click()
    download = caught.value
    assert download.suggested_filename.startswith(f"{PILOT}-board-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")


def test_a_payer_sees_only_its_own_statement(
    server: str,
    as_user: Callable[[str], Page],  # noqa: F811
    tmp_path: Path,
) -> None:
    payer = as_user("payer-frhp")
    payer.goto(f"{server}/pilots/{PILOT}/reports/")
    statements = payer.get_by_role("row", name="Payer statement")
    expect(statements).to_have_count(1)
    expect(statements).to_contain_text("Front Range Health Plan")
    expect(payer.get_by_role("row", name="Board pack")).to_have_count(0)
    with payer.expect_download() as caught:
        statements.get_by_role("link", name="XLSX").click()
    download = caught.value
    assert download.suggested_filename.startswith(f"{PILOT}-payer-medicaid-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes()[:2] == b"PK"  # a zip: the XLSX workbook

    month = download.suggested_filename.removesuffix(".xlsx")[-7:]
    other = f"{server}/pilots/{PILOT}/reports/payer-county-{month}.xlsx"
    response = payer.request.get(other)
    assert response.status == 403
