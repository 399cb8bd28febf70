"""The open items the reports list: assurance findings (C19, to every payer), equity
findings (C18) and board restrictions (C17), each with its owner and date.

"Open" is their status when the report is made, for periods up to the report's month
(an assurance review's quarter that has begun by then, an equity check or settlement
of that month or before): the same records give the same list, whenever it is made.
"""

from datetime import date

from fundpilot.governance import assurance, board
from fundpilot.governance.models import EquityFinding
from fundpilot.governance.reports.common import DAY, Block, Column, Section, Trace
from fundpilot.pilots.models import Pilot


def _quarter_of(month: date) -> str:
    """The quarter of `month` ("2026-Q2"); quarter labels sort as text."""
    return f"{month.year}-Q{(month.month - 1) // 3 + 1}"


def assurance_block(pilot: Pilot, month: date, trace: Trace) -> Block:
    block = Block(
        [
            Column("Finding", weight=1),
            Column("Quarter", weight=1),
            Column("Area", weight=1.2),
            Column("Severity", weight=1),
            Column("Title and action plan", weight=3.5),
            Column("Owner", weight=1.4),
            Column("Deadline", DAY, weight=1.2),
            Column("Escalated", weight=1.2),
        ],
        caption="Assurance findings (C19), open",
    )
    rows = assurance.open_findings(pilot).filter(review__quarter__lte=_quarter_of(month))
    for f in rows:
        block.add(
            [
                str(f.pk),
                f.review.quarter,
                f.area,
                f.severity,
                f"{f.title}: {f.action_plan}",
                f.owner.username,
                f.deadline,
                f"{f.escalated_at:%Y-%m-%d}" if f.escalated_at else "no",
            ],
            trace.add(
                f"Assurance finding {f.pk}",
                [f"finding {f.pk}", f"assurance review {f.review_id} ({f.review.quarter})"],
            ),
        )
    return block


def assurance_section(pilot: Pilot, month: date, trace: Trace) -> Section:
    return Section(
        "Assurance findings (C19)",
        sheet="Findings",
        intro="Findings of the independent assurance reviews go to every payer; each has"
        " an action plan, an owner and a deadline, and is escalated when the deadline"
        " passes. Open when this report was made.",
        blocks=[assurance_block(pilot, month, trace)],
    )


def equity_block(pilot: Pilot, month: date, trace: Trace) -> Block:
    block = Block(
        [
            Column("Finding", weight=0.6),
            Column("Month"),
            Column("Kind"),
            Column("Subject", weight=3),
        ],
        caption="Equity findings (C18), open for review",
    )
    rows = EquityFinding.objects.filter(
        pilot=pilot, status=EquityFinding.OPEN, month__lte=month
    ).order_by("month", "pk")
    for f in rows:
        block.add(
            [str(f.pk), f"{f.month:%Y-%m}", f.kind, f.subject],
            trace.add(
                f"Equity finding {f.pk}",
                [f"equity finding {f.pk}", f"equity check {f.equity_check_id}"],
            ),
        )
    return block


def restrictions_block(pilot: Pilot, month: date, trace: Trace) -> Block:
    block = Block(
        [
            Column("Restriction", weight=1),
            Column("Settlement", weight=1),
            Column("Description", weight=4),
            Column("Owner", weight=1.4),
            Column("Due", DAY, weight=1.2),
        ],
        caption="Board restrictions (C17), in force",
    )
    rows = board.open_restrictions(pilot).filter(decision__settlement__month__lte=month)
    for r in rows:
        settled = r.decision.settlement
        block.add(
            [str(r.pk), f"{settled.month:%Y-%m}", r.description, r.owner.username, r.due],
            trace.add(
                f"Restriction {r.pk}",
                [
                    f"restriction {r.pk}",
                    f"board decision {r.decision_id}",
                    f"settlement {settled.pk}",
                ],
            ),
        )
    return block
