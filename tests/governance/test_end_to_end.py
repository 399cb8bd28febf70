"""End to end (issue 6): a pilot simulated for six months through the real actions —
referrals, claims, money, then governance (`simulate_governance`): each month settled,
reviewed and decided by the board (one restriction every third month), equity checked,
the quarter assured — and then the board pack and a payer statement of the last month,
their figures checked against the ledger and the roster read here from the rows.
"""

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest

from fundpilot.governance import reports
from fundpilot.governance.models import (
    AssuranceReview,
    BoardDecision,
    EquityCheck,
    ExternalStatement,
    Restriction,
    Settlement,
)
from fundpilot.governance.settlement import recompute_check
from fundpilot.governance.simulate import simulate_governance
from fundpilot.money.models import Transaction
from fundpilot.rules.vocabulary import Role
from tests.governance.conftest import SEED, flush_committed, make_history
from tests.governance.settlement_fixtures import roster
from tests.governance.test_reports import dollars, entries, pdf_text, row_of, sheet_rows

pytestmark = pytest.mark.usefixtures("db")

UNTIL = datetime(2026, 7, 20, 23, 0, tzinfo=UTC)  # June's settlement day has come
MONTHS = [date(2026, m, 1) for m in range(1, 7)]
JUNE = MONTHS[-1]
NOW = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pilot_run(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        made = make_history(until=UNTIL)
        sim = simulate_governance(
            pilot=made.pilot,
            seed=SEED,
            since=made.pilot.rulebook.pilot.period_start,
            until=made.until,
        )
    yield made, sim
    with django_db_blocker.unblock():
        flush_committed()


def test_six_months_are_settled_reviewed_and_decided(pilot_run):
    made, sim = pilot_run
    assert sim.refused == []
    assert sim.months == [f"{m:%Y-%m}" for m in MONTHS]
    settlements = Settlement.objects.filter(pilot=made.pilot).order_by("month")
    assert [s.month for s in settlements] == MONTHS
    for s in settlements:
        assert s.status == Settlement.FINALISED and s.reconciliation_note
        assert {r.role for r in s.reviews.all()} == {
            Role.FINANCE,
            Role.COMPLIANCE,
            Role.EXECUTIVE_SPONSOR,
        }
        decision = BoardDecision.objects.get(settlement=s)
        # the board never states more than the evidence carries
        if decision.position == BoardDecision.SUPPORTABLE:
            assert s.figures["payment_trigger"]["met"]
        assert decision.approved_amount <= Decimal(s.figures["milestone_amount"])
        for said in ExternalStatement.objects.filter(decision=decision):
            assert said.amount <= decision.approved_amount
    restricted = BoardDecision.objects.filter(pilot=made.pilot, position="restricted")
    assert restricted.count() == 2  # March and June
    for r in Restriction.objects.filter(decision__in=restricted):
        assert r.owner == made.people["compliance"] and r.due > r.decision.decided_at.date()
    assert EquityCheck.objects.filter(pilot=made.pilot).count() == 6
    assert set(AssuranceReview.objects.values_list("quarter", flat=True)) == {"2026-Q1", "2026-Q2"}


def test_each_month_counts_the_locked_roster_and_recomputes_to_the_same_figures(pilot_run):
    made, _ = pilot_run
    for s in Settlement.objects.filter(pilot=made.pilot).order_by("month"):
        on_roster = roster(made.pilot, s.month)
        assert s.figures["activated"] == len(on_roster)
        assert set(s.figures["trace"]["activated"]) == on_roster
        check = recompute_check(s)
        assert check["matches"], check


def test_the_board_pack_and_the_payer_statement_agree_with_the_ledger(pilot_run):
    made, _ = pilot_run
    pilot, last = made.pilot, date(2026, 6, 30)

    def make(kind, fmt, payer=None, who="finance"):
        return reports.make(
            kind=kind, fmt=fmt, pilot=pilot, month=JUNE, payer=payer, by=made.people[who], at=NOW
        ).content

    # the board pack: June's roster count, its position, and the six months' trend
    texts = pdf_text(make("board", "pdf", who="board"))
    june = Settlement.objects.get(pilot=pilot, month=JUNE)
    row_of(texts, "Activated (locked roster)", str(len(roster(pilot, JUNE))))
    row_of(texts, "Position", BoardDecision.objects.get(settlement=june).position)
    for s in Settlement.objects.filter(pilot=pilot):
        a = s.figures["attainment"]
        shown = f"{a['rate']}%" if a["rate"] else "\u2014"
        row_of(texts, f"{s.month:%Y-%m}", str(a["denominator"]), str(a["numerator"]), shown)
    # the payer statement: contributions and spend are the ledger's
    wb = openpyxl.load_workbook(io.BytesIO(make("payer", "xlsx", payer="wvch")))
    money = sheet_rows(wb["Contributions"])
    received = entries(pilot, "receivable:wvch", None, last, Transaction.RECEIPT)
    assert Decimal(str(money["Received to date"][1])) == -dollars(received) > 0
    spend = sheet_rows(wb["Spend by use"])
    for use in ("recovery_milestones", "verification"):
        spent = dollars(entries(pilot, f"paid:wvch:{use}", None, last))
        assert Decimal(str(spend[use][3])) == spent
