"""The reports people read, on the six-month history (`history`) with March–May settled,
decided (May restricted), May's equity check and a Q2 assurance finding: the payer
statement (PDF, XLSX), the board pack (PDF) and the equity report (PDF, CSV), their
figures checked against the ledger and the roster computed here from the rows, their
trace to the records, who may have which, and the refusals.

PDFs are read back without a PDF library (none is installed): reportlab writes our
pages uncompressed, so each string a page draws is a `(…) Tj` operator in the file, in
the order drawn — a table row's cells are consecutive. `pdf_text` decodes them.
"""

import csv
import io
import re
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest

from fundpilot.governance import equity, reports
from fundpilot.governance.actions.assurance import record_assurance_review
from fundpilot.governance.actions.board import decide
from fundpilot.governance.actions.equity import run_equity_check
from fundpilot.governance.models import EquityCheck, Finding, Restriction, Settlement
from fundpilot.money.models import Account, Entry, Transaction, VarianceCycle
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.money import format_usd
from tests.governance.conftest import refused, snapshot
from tests.governance.settlement_fixtures import roster
from tests.governance.test_board import _settle
from tests.money.conftest import signed_in
from tests.test_cli import run

pytestmark = pytest.mark.usefixtures("db")

MARCH, APRIL, MAY, JUNE = (date(2026, m, 1) for m in (3, 4, 5, 6))
DECIDED = datetime(2026, 7, 6, 17, 0, tzinfo=UTC)  # Monday 10:00 in Los Angeles
NOW = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)  # when the reports are made
RESTRICTION = "Hold milestone payments to northstar until its evidence is re-sampled"
FINDING = "Reassessments are signed late at one provider"
PAGES = "/pilots/recovery-2026/reports"
API = "/api/v1/pilots/recovery-2026/reports"


@pytest.fixture(scope="module")
def governed(history, django_db_blocker):
    """March–May settled and decided (May restricted, owner finance), May's equity check,
    and a Q2 assurance review with one finding; committed once for the module."""
    people = history.people
    with django_db_blocker.unblock():
        made = {}
        for month in (MARCH, APRIL, MAY):
            settled = _settle(history, month)
            made[month] = decide(
                settlement=settled,
                position="restricted" if month == MAY else "provisional",
                decision_code=f"BD-{month:%m}",
                review_date=date(2026, 8, 3),
                executive_owner=people["sponsor"],
                residual_risk="medium",
                next_checkpoint=date(2026, 9, 1),
                integrity_risks="none identified",
                denominator_disputes="none identified",
                definition_issues="none identified",
                approved_amount="0.00",
                restrictions=[(RESTRICTION, people["finance"], date(2026, 9, 30))]
                if month == MAY
                else [],
                by=people["board"],
                at=DECIDED,
            )
        run_equity_check(pilot=history.pilot, month=MAY, by=people["compliance"], at=DECIDED)
        record_assurance_review(
            pilot=history.pilot,
            quarter="2026-Q2",
            compliance="Activation files complete.",
            outcomes="Attainment below the minimum in April and May.",
            equity="No acceptance floor missed.",
            findings=[
                {
                    "area": "compliance",
                    "severity": "medium",
                    "title": FINDING,
                    "action_plan": "Weekly reassessment list to each provider.",
                    "owner": people["compliance"],
                    "deadline": date(2026, 9, 30),
                }
            ],
            by=people["assurance"],
            at=DECIDED,
        )
    return made


def make(history, kind, fmt="pdf", month=MAY, payer=None, who="finance", pilot=None):
    return reports.make(
        kind=kind,
        fmt=fmt,
        pilot=pilot or history.pilot,
        month=month,
        payer=payer,
        by=history.people[who],
        at=NOW,
    ).content


def pdf_text(content: bytes) -> list[str]:
    """The strings the pages draw, in order (see the module docstring)."""
    assert content.startswith(b"%PDF-")
    escape = re.compile(rb"\\([0-7]{1,3}|.)")

    def unescape(found: re.Match[bytes]) -> bytes:
        code = found[1]
        return bytes([int(code, 8)]) if code[:1].isdigit() else code

    return [
        escape.sub(unescape, m[1]).decode("cp1252")
        for m in re.finditer(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", content)
    ]


def row_of(texts: list[str], *cells: str) -> str:
    """The trace key of the table row whose cells start with `cells`."""
    n = len(cells)
    for i in range(len(texts) - n):
        if tuple(texts[i : i + n]) == cells:
            return texts[i + n]
    raise AssertionError(f"no row {cells}")


def appendix(texts: list[str]) -> str:
    return " ".join(texts[texts.index("Appendix: where each figure comes from") :])


def entries(pilot: Pilot, code: str, first: date | None, last: date, kind: str = ""):
    """The ledger legs on an account effective in [first, last], read here from the rows."""
    rows = Entry.objects.filter(
        account__pilot=pilot, account__code=code, transaction__effective_on__lte=last
    )
    if first is not None:
        rows = rows.filter(transaction__effective_on__gte=first)
    if kind:
        rows = rows.filter(transaction__kind=kind)
    return list(rows.values_list("amount_cents", "transaction__number", "transaction__basis_key"))


def dollars(legs) -> Decimal:
    return Decimal(sum(cents for cents, _, _ in legs)).scaleb(-2)


def records(legs) -> set[str]:
    return {f"T{number} {basis}" for _, number, basis in legs}


def sheet_rows(ws) -> dict[str, tuple]:
    """A sheet's rows by their first cell."""
    return {r[0]: r for r in ws.iter_rows(values_only=True) if r and r[0] is not None}


def trace_sheet(wb) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for key, _, _, record in list(wb["Trace"].iter_rows(values_only=True))[1:]:
        if record:
            found[key].add(record)
    return found


# --- the payer statement ---------------------------------------------------------------


def test_the_payer_statement_workbook_holds_the_ledgers_numbers(history, governed):
    # given: the ledger's legs of wvch's accounts, read here
    pilot, last = history.pilot, date(2026, 5, 31)
    committed = -dollars(entries(pilot, "contribution:wvch", None, last))
    received = entries(pilot, "receivable:wvch", None, last, Transaction.RECEIPT)
    received_may = entries(pilot, "receivable:wvch", MAY, last, Transaction.RECEIPT)
    paid = {
        use: (
            entries(pilot, f"paid:wvch:{use}", MAY, last),
            entries(pilot, f"paid:wvch:{use}", None, last),
            entries(pilot, f"fund:wvch:{use}", None, last),
        )
        for use in ("recovery_milestones", "verification")
    }
    assert dollars(paid["recovery_milestones"][1]) > 0
    # when
    wb = openpyxl.load_workbook(io.BytesIO(make(history, "payer", "xlsx", payer="wvch")))
    # then: a sheet per section and the Trace sheet
    assert wb.sheetnames == [
        "Contributions",
        "Spend by use",
        "Utilisation",
        "Outcomes",
        "Reconciliation",
        "Disputes",
        "Findings",
        "Trace",
    ]
    money = sheet_rows(wb["Contributions"])
    assert Decimal(str(money["Committed"][1])) == committed == Decimal("2400000.00")
    assert Decimal(str(money["Received to date"][1])) == -dollars(received)
    assert Decimal(str(money["Received in the month"][1])) == -dollars(received_may)
    assert Decimal(str(money["Outstanding (committed less received)"][1])) == (
        committed + dollars(received)
    )
    spend = sheet_rows(wb["Spend by use"])
    traced = trace_sheet(wb)
    for use, (month, to_date, fund) in paid.items():
        _, _, in_month, spent, available, keys = spend[use]
        assert [Decimal(str(v)) for v in (in_month, spent, available)] == [
            dollars(month),
            dollars(to_date),
            dollars(fund),
        ]
        # each figure traces to exactly the transactions whose legs make it
        k_month, k_spent, k_fund = keys.split(", ")
        assert traced[k_month] == records(month)
        assert traced[k_spent] == records(to_date)
        assert traced[k_fund] == records(fund)
    cell = wb["Spend by use"].cell(row=5, column=4)
    assert isinstance(cell.value, int | float) and cell.number_format.startswith('"$"#,##0.00')
    # utilisation: the month's payment bases charging wvch, participants among them
    used = sheet_rows(wb["Utilisation"])
    bases = {b for _, _, b in paid["recovery_milestones"][0]} - {""}
    milestones = {b for b in bases if b.startswith("milestone:")}
    assert used["Participant milestones paid"][1] == len(milestones)
    people = {b.split(":")[2] for b in milestones}
    assert traced[used["Participants paid for"][2]] == {f"participant {p}" for p in people}
    # the C14 record of the month, by id
    recon = sheet_rows(wb["Reconciliation"])
    assert Decimal(str(recon["Spend to date"][1])) == dollars(paid["recovery_milestones"][1])
    assert any(r.startswith("reconciliation ") for r in traced[recon["Spend to date"][3]])
    # the assurance finding goes to every payer
    finding = Finding.objects.get(title=FINDING)
    assert sheet_rows(wb["Findings"])[str(finding.pk)][4].startswith(FINDING)


def test_the_payer_statement_pdf_shows_the_same_figures_and_traces_them(history, governed):
    # given
    pilot, last = history.pilot, date(2026, 5, 31)
    spent = entries(pilot, "paid:wvch:recovery_milestones", None, last)
    fund = entries(pilot, "fund:wvch:recovery_milestones", None, last)
    # when
    texts = pdf_text(make(history, "payer", payer="wvch"))
    # then
    assert "Payer statement" in texts
    key = row_of(
        texts,
        format_usd(dollars(entries(pilot, "paid:wvch:recovery_milestones", MAY, last))),
        format_usd(dollars(spent)),
        format_usd(dollars(fund)),
    )
    assert key.startswith("F")
    listed = appendix(texts)
    assert all(r in listed for r in records(spent))
    assert "Reconciliation (C14)" in texts and "Disputes (C11)" in texts
    assert FINDING + ": Weekly reassessment list to each provider." in " ".join(texts)


def test_the_same_records_give_the_same_bytes(history, governed):
    # when: each file made twice
    for kind, fmt, payer in (
        ("payer", "pdf", "wvch"),
        ("payer", "xlsx", "wvch"),
        ("board", "pdf", None),
    ):
        first = make(history, kind, fmt, payer=payer)
        # then
        assert make(history, kind, fmt, payer=payer) == first
    assert b"/CreationDate (D:20000101000000+00'00')" in make(history, "board")


# --- the board pack ----------------------------------------------------------------


def test_the_board_pack_shows_the_settled_month_against_the_roster_and_the_ledger(
    history, governed
):
    # given: the roster and the fund balances read here from the rows
    pilot, last = history.pilot, date(2026, 5, 31)
    on_roster = roster(pilot, MAY)
    settled = Settlement.objects.get(pilot=pilot, month=MAY)
    restriction = Restriction.objects.get(description=RESTRICTION)
    # when
    texts = pdf_text(make(history, "board", who="board"))
    joined, listed = " ".join(texts), appendix(texts)
    # then: the settlement position, its roster count and the records behind it
    key = row_of(texts, "Activated (locked roster)", str(len(on_roster)))
    entry = listed[listed.index(f"{key} Activated") :]
    assert f"settlement {settled.pk} (2026-05)" in entry
    assert all(f"participant {p}" in entry for p in on_roster)
    rate = settled.figures["attainment"]["rate"]
    row_of(texts, "Attainment rate (minimum 60%)", f"{rate}%")
    # the board's decision and its restriction with owner and due date
    row_of(texts, "Position", "restricted")
    row_of(texts, "Decision code", "BD-05")
    assert RESTRICTION in joined  # its cells wrap: the owner, due date and state follow
    row_of(texts, "finance", "2026-09-30", "in force")
    row_of(texts, str(restriction.pk), "2026-05")
    # the attainment trend of the three finalised months
    for month in (MARCH, APRIL, MAY):
        s = Settlement.objects.get(pilot=pilot, month=month)
        a = s.figures["attainment"]
        shown = f"{a['rate']}%" if a["rate"] else "\u2014"
        row_of(texts, f"{month:%Y-%m}", str(a["denominator"]), str(a["numerator"]), shown)
    assert "Milestone attainment rate by finalised month (%)" in texts
    # fund balances by payer and use from the ledger, each traced to its transactions
    for use in ("recovery_milestones", "verification"):
        legs = entries(pilot, f"fund:wvch:{use}", None, last)
        key = row_of(texts, "wvch", use, format_usd(dollars(legs)))
        assert all(r in listed for r in records(legs))
    # variance: the month's cost is the paid legs of participants' transactions in May
    cost = Entry.objects.filter(
        account__pilot=pilot,
        account__kind=Account.PAID,
        transaction__effective_on__gte=MAY,
        transaction__effective_on__lte=last,
    ).exclude(transaction__participant_id="")
    cycle = VarianceCycle.objects.get(pilot=pilot, month=MAY)
    row_of(
        texts,
        "Cost",
        format_usd(Decimal(sum(cost.values_list("amount_cents", flat=True))).scaleb(-2)),
    )
    assert f"variance cycle {cycle.pk} (2026-05): pilot.cost" in listed
    # equity: the check's O/E by provider and the acceptance chart
    check = EquityCheck.objects.get(pilot=pilot, month=MAY)
    for g in check.figures["oe"]["providers"]:
        row_of(texts, g["provider"], str(g["units"]), str(g["observed"]))
    assert "Acceptance rate by acuity band (%)" in texts
    # open findings with their owners and deadlines
    finding = Finding.objects.get(title=FINDING)
    row_of(texts, str(finding.pk), "2026-Q2", "compliance", "medium")
    assert "compliance" in joined and "2026-09-30" in joined


def test_a_month_not_prepared_yet_says_so(history, governed):
    # given: June has no settlement file, reconciliation, variance cycle or equity check
    # when
    board = pdf_text(make(history, "board", month=JUNE, who="board"))
    payer = pdf_text(make(history, "payer", month=JUNE, payer="wvch"))
    report = pdf_text(make(history, "equity", month=JUNE))
    # then
    assert "The settlement file not yet prepared for 2026-06." in board
    assert "The variance cycle not yet prepared for 2026-06." in board
    assert "The equity check not yet prepared for 2026-06." in board
    assert "Reconciliation not yet prepared for 2026-06." in payer
    assert "The equity check not yet prepared for 2026-06." in report
    refused("not_prepared", reports.make, **_request(history, "equity", "csv", JUNE))


# --- the equity report -------------------------------------------------------------


def test_the_equity_csv_is_c18s_rows_each_with_its_trace(history, governed):
    check = EquityCheck.objects.get(pilot=history.pilot, month=MAY)
    # when
    rows = list(csv.reader(io.StringIO(make(history, "equity", "csv").decode())))
    # then
    expected = equity.csv_rows(check.figures)
    assert rows[0] == [*expected[0], "trace"]
    assert [r[:-1] for r in rows[1:]] == expected[1:]
    for r in rows[1:]:
        assert r[-1] == f"equity check {check.pk} (2026-05): {r[0]}[{r[1]}={r[2]}, provider={r[3]}]"


def test_the_equity_pdf_lists_floors_oe_and_signals_without_participants(history, governed):
    check = EquityCheck.objects.get(pilot=history.pilot, month=MAY)
    # when
    texts = pdf_text(make(history, "equity"))
    # then
    for floor in check.figures["floors"]:
        row_of(texts, floor["cohort"], floor["minimum_rate"], str(floor["count"]), str(floor["of"]))
    for g in check.figures["oe"]["providers"]:
        row_of(texts, g["provider"], str(g["units"]), str(g["observed"]), g["expected"], g["ratio"])
    for finding in check.findings.all():
        row_of(texts, str(finding.pk), finding.kind, finding.subject)
    assert f"equity check {check.pk} (2026-05): oe.providers[0]" in appendix(texts)
    people = {p for p in roster(history.pilot, MAY)}
    assert not any(p in t for t in texts for p in people)  # no participant-level records


# --- who may have which, and refusals ----------------------------------------------


def _request(history, kind, fmt, month=MAY, payer=None, who="finance"):
    return {
        "kind": kind,
        "fmt": fmt,
        "pilot": history.pilot,
        "month": month,
        "payer": payer,
        "by": history.people[who],
        "at": NOW,
    }


@pytest.mark.parametrize(
    ("code", "kind", "fmt", "month", "payer"),
    [
        ("unknown_report", "budget", "pdf", MAY, None),
        ("format_not_available", "board", "xlsx", MAY, None),
        ("format_not_available", "payer", "csv", MAY, "wvch"),
        ("format_not_available", "equity", "xlsx", MAY, None),
        ("payer_required", "payer", "pdf", MAY, None),
        ("unknown_payer", "payer", "pdf", MAY, "nope"),
        ("payer_not_applicable", "equity", "csv", MAY, "wvch"),
        ("month_in_future", "board", "pdf", date(2026, 12, 1), None),
        ("outside_pilot_period", "board", "pdf", date(2025, 12, 1), None),
    ],
)
def test_a_report_that_does_not_exist_is_refused(history, governed, code, kind, fmt, month, payer):
    refused(code, reports.make, **_request(history, kind, fmt, month, payer))


@pytest.mark.parametrize(
    ("who", "kind", "payer"),
    [
        ("payer-wvch", "board", None),
        ("frontline", "payer", "wvch"),
        ("frontline", "equity", None),
        ("verifier", "board", None),
    ],
)
def test_a_report_is_for_those_the_policy_names(history, governed, who, kind, payer):
    caught = refused(
        "not_permitted", reports.make, **_request(history, kind, "pdf", payer=payer, who=who)
    )
    assert isinstance(caught, NotPermitted)


def test_a_payer_representative_gets_only_its_own_statement(history, governed):
    # given: the pooled pilot's medicaid representative
    pooled = Pilot.objects.get(slug="pooled-2026")
    rep = history.people["payer-frhp"]
    pages, api = "/pilots/pooled-2026/reports", "/api/v1/pilots/pooled-2026/reports"
    client = signed_in(rep)
    # when / then: its own statement, as a page download and through the API
    own = client.get(f"{pages}/payer-medicaid-2026-05.xlsx")
    assert own.status_code == 200
    assert (
        own["Content-Disposition"]
        == 'attachment; filename="pooled-2026-payer-medicaid-2026-05.xlsx"'
    )
    assert client.get(f"{api}/payer-medicaid-2026-05.pdf").status_code == 200
    # another payer's: 403 other_payer (pages, API, CLI, the function); none: 404
    assert client.get(f"{pages}/payer-county-2026-05.pdf").status_code == 403
    answer = client.get(f"{api}/payer-county-2026-05.xlsx")
    assert (answer.status_code, answer.json()["code"]) == (403, "other_payer")
    assert client.get(f"{pages}/payer-nope-2026-05.pdf").status_code == 404
    assert client.get(f"{api}/payer-nope-2026-05.pdf").status_code == 404
    result = run(
        "report",
        "payer",
        "--pilot",
        "pooled-2026",
        "--month",
        "2026-05",
        "--payer",
        "county",
        "--by",
        rep.username,
    )
    assert result.exit_code == 2 and "other_payer" in result.stderr
    refused(
        "other_payer",
        reports.make,
        **_request(history, "payer", "pdf", payer="county", who="payer-frhp") | {"pilot": pooled},
    )
    # the reports page offers it only its own statement, and no board pack
    index = client.get(f"{pages}/?month=2026-05").content.decode()
    assert "payer-medicaid-2026-05.pdf" in index
    assert "payer-county" not in index and "board-2026-05" not in index
    listed = client.get(api, {"month": "2026-05"}).json()
    assert {(f["kind"], f["payer"]) for f in listed} == {("payer", "medicaid"), ("equity", None)}
    assert client.get(f"{pages}/board-2026-05.pdf").status_code == 403


def test_the_reports_page_offers_each_file_and_downloads_are_attachments(history, governed):
    client = signed_in(history.people["board"])
    # when
    index = client.get(f"{PAGES}/?month=2026-05")
    # then
    assert index.status_code == 200
    text = index.content.decode()
    for name in (
        "board-2026-05.pdf",
        "payer-wvch-2026-05.pdf",
        "payer-wvch-2026-05.xlsx",
        "equity-2026-05.pdf",
        "equity-2026-05.csv",
    ):
        assert f"{PAGES}/{name}" in text
        page = client.get(f"{PAGES}/{name}")
        assert page.status_code == 200
        assert page["Content-Disposition"] == f'attachment; filename="recovery-2026-{name}"'
        assert client.get(f"{API}/{name}").content == page.content
    assert client.get(f"{PAGES}/board-2026-05.pdf").content == make(history, "board", who="board")
    assert client.get(f"{PAGES}/equity-2026-06.csv").status_code == 404  # no June check
    assert client.get(f"{API}/equity-2026-06.csv").status_code == 404
    assert client.get(f"{API}/board-2025-12.pdf").json()["code"] == "outside_pilot_period"


def test_the_cli_writes_the_file_and_prints_its_path_and_size(history, governed, tmp_path):
    out = tmp_path / "statement.xlsx"
    # when
    result = run(
        "report",
        "payer",
        "--pilot",
        "recovery-2026",
        "--month",
        "2026-05",
        "--payer",
        "wvch",
        "--format",
        "xlsx",
        "--out",
        str(out),
        "--by",
        "finance",
    )
    # then
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == make(history, "payer", "xlsx", payer="wvch")
    assert result.stdout.strip() == f"{out} ({out.stat().st_size:,} bytes)"
    # and a combination that does not exist is refused with its reason, nothing written
    before = snapshot()
    refusal = run(
        "report",
        "board",
        "--pilot",
        "recovery-2026",
        "--month",
        "2026-05",
        "--format",
        "xlsx",
        "--out",
        str(tmp_path / "board.xlsx"),
        "--by",
        "board",
    )
    assert refusal.exit_code == 2
    assert "format_not_available: the board pack is made as pdf, not 'xlsx'" in refusal.stderr
    assert not (tmp_path / "board.xlsx").exists() and snapshot() == before
    unknown = run(
        "report",
        "payer",
        "--pilot",
        "recovery-2026",
        "--month",
        "2026-05",
        "--payer",
        "acme",
        "--by",
        "finance",
    )
    assert unknown.exit_code == 2 and "no payer 'acme' in recovery-2026" in unknown.stderr
