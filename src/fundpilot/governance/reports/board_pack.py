"""The board pack (PDF) of one month: the settlement position and the board's decision
(C16/C17), the attainment trend over the finalised months, fund balances by payer and
use, the month's variance cycle (C15), the month's equity check (C18), and the open
findings, equity signals and restrictions with their owners and dates.

It reads the stored records (settlement file, decision, variance cycle, equity check,
findings) and the ledger as of the month's last day; a piece not made yet shows as
"not yet prepared for YYYY-MM". Every figure traces to its records in the appendix:
the settlement's own trace (roster, windows, claims, assessments, questions), ledger
transactions, and the ids of the stored records.
"""

from datetime import date
from typing import Any

from fundpilot.governance.models import BoardDecision, Settlement
from fundpilot.governance.reports import equity_report, findings
from fundpilot.governance.reports.common import (
    COUNT,
    DAY,
    MONEY,
    PERCENT,
    Block,
    Column,
    Report,
    Section,
    Trace,
    bar_chart,
    line_chart,
    not_prepared,
    number,
    shown,
    transactions,
)
from fundpilot.money.ledger import funds_by_payer_and_use
from fundpilot.money.models import Account, Entry, VarianceCycle
from fundpilot.money.monthly import last_day
from fundpilot.money.variance import DIMENSIONS
from fundpilot.pilots.models import Pilot

FIGURES = [Column("Figure"), Column("Value")]


def report(pilot: Pilot, month: date) -> Report:
    trace = Trace()
    settlement = (
        Settlement.objects.filter(pilot=pilot, month=month)
        .select_related("prepared_by", "finalised_by")
        .first()
    )
    return Report(
        title="Board pack",
        pilot=pilot.name,
        month=month,
        subtitle=f"Settlement position, attainment trend, fund balances, variance, equity and"
        f" open findings for {month:%Y-%m}; balances as of {last_day(month)}.",
        sections=[
            *_settlement(pilot, month, settlement, trace),
            _trend(pilot, month, trace),
            _funds(pilot, month, trace),
            _variance(pilot, month, trace),
            equity_report.summary(pilot, month, trace),
            Section(
                "Open findings, signals and restrictions",
                intro="Open when this pack was made, for periods up to this month.",
                blocks=[
                    findings.assurance_block(pilot, month, trace),
                    findings.equity_block(pilot, month, trace),
                    findings.restrictions_block(pilot, month, trace),
                ],
            ),
        ],
        trace=trace,
    )


# --- settlement position (C16) and the board's decision (C17) ----------------------


def _settlement(
    pilot: Pilot, month: date, settlement: Settlement | None, trace: Trace
) -> list[Section]:
    title = "Settlement position (C16)"
    if settlement is None:
        return [Section(title, missing=not_prepared("The settlement file", month))]
    f = settlement.figures
    source = f"settlement {settlement.pk} ({month:%Y-%m})"
    t = f["trace"]
    a, r, trigger = f["attainment"], f["reassessment"], f["payment_trigger"]
    block = Block(FIGURES)

    def add(label: str, value: str, records: list[str], selection: str = "") -> None:
        block.add([label, value], trace.add(label, [source, *records], selection))

    add("Pilot month", str(f["pilot_month"]), [])
    add(
        "Activated (locked roster)",
        shown(f["activated"], COUNT),
        [f"participant {p}" for p in t["activated"]],
    )
    windows = [
        f"participant {w['participant']} {w['milestone']} window closed {w['window_closed']}:"
        f" {'claim ' + w['claim'] if w['claim'] else 'not reached'}"
        for w in t["attainment"]
    ]
    add("Milestone windows closed (denominator)", shown(a["denominator"], COUNT), windows)
    reached = [w for w, item in zip(windows, t["attainment"], strict=True) if item["claim"]]
    add("Reached within the window (numerator)", shown(a["numerator"], COUNT), reached)
    add(
        f"Attainment rate (minimum {a['minimum_rate']}%)",
        shown(a["rate"], PERCENT),
        [],
        "numerator ÷ denominator",
    )
    due = [
        f"participant {i['participant']} claim {i['claim']} due {i['due']}:"
        f" {'assessment ' + str(i['assessment']) if i['assessment'] else 'not completed'}"
        for i in t["reassessment"]
    ]
    add("Reassessments due", shown(r["due"], COUNT), due)
    add(
        "Reassessments completed",
        shown(r["completed"], COUNT),
        [d for d, i in zip(due, t["reassessment"], strict=True) if i["assessment"]],
    )
    add(
        f"Reassessment completion (minimum {r['minimum_rate'] or 'none'}%)",
        shown(r["rate"], PERCENT),
        [],
    )
    add(
        "Payment trigger",
        f"{'met' if trigger['met'] else 'not met'}: {'; '.join(trigger['reasons'])}",
        [f"rulebook v{f['rulebook_version']}: settlement.payment_trigger ({trigger['rule']})"],
    )
    add(
        "Unresolved methodology questions",
        shown(f["unresolved_questions"], COUNT),
        [f"methodology question {q}" for q in t["unresolved_questions"]],
    )
    add(
        "Milestone amount payable in the month",
        shown(f["milestone_amount"], MONEY),
        [f"claim {c['claim']} {c['amount']}" for c in t["milestone_amount"]],
    )
    for adj in f["adjustments"]:
        earlier = Settlement.objects.filter(
            pilot=pilot, month=date.fromisoformat(adj["month"] + "-01")
        )
        ids = [f"settlement {s} ({adj['month']})" for s in earlier.values_list("pk", flat=True)]
        for d in adj["differences"]:
            add(
                f"Adjustment to {adj['month']}: {d['figure']}",
                f"{d['stored']} then, {d['now']} now",
                ids,
                f"recomputed at this file's cut-off {f['cutoff']}",
            )
    status = settlement.status
    if settlement.finalised_at:
        status += f" on {settlement.finalised_at:%Y-%m-%d} by {settlement.finalised_by.username}"
    intro = (
        f"File {status}; prepared by {settlement.prepared_by.username}, figures to the"
        f" cut-off {settlement.cutoff:%Y-%m-%d %H:%M} UTC under rulebook version"
        f" {f['rulebook_version']}; SHA-256 {settlement.figures_sha256[:16]}…."
        f" Reconciliation with the reassessment integrity log:"
        f" {settlement.reconciliation_note or 'not documented yet'}."
    )
    reviews = Block(
        [Column("Review"), Column("By"), Column("On"), Column("Note")],
        caption="Reviews before the board (finance, compliance, executive sponsor)",
    )
    for rv in settlement.reviews.select_related("reviewed_by").order_by("reviewed_at", "pk"):
        reviews.add(
            [rv.role, rv.reviewed_by.username, f"{rv.reviewed_at:%Y-%m-%d}", rv.note],
            trace.add(f"Review by {rv.role}", [f"settlement review {rv.pk}", source]),
        )
    return [
        Section(title, intro=intro, blocks=[block, reviews]),
        _decision(month, settlement, trace),
    ]


def _decision(month: date, settlement: Settlement, trace: Trace) -> Section:
    title = "Board decision (C17)"
    decision = (
        BoardDecision.objects.filter(settlement=settlement)
        .select_related("executive_owner", "decided_by")
        .first()
    )
    if decision is None:
        return Section(title, missing=f"The board has not decided on {month:%Y-%m} yet.")
    source = [f"board decision {decision.pk}", f"settlement {settlement.pk}"]
    block = Block(FIGURES)
    for label, value in (
        ("Position", decision.position),
        ("Decision code", decision.decision_code),
        ("Approved amount", shown(decision.approved_amount, MONEY)),
        ("Review date", shown(decision.review_date, DAY)),
        ("Executive owner", decision.executive_owner.username),
        ("Residual risk", decision.residual_risk),
        ("Next checkpoint", shown(decision.next_checkpoint, DAY)),
        ("Reassessment integrity risks", decision.integrity_risks),
        ("Denominator disputes", decision.denominator_disputes),
        ("Definition issues", decision.definition_issues),
        ("Decided", f"{decision.decided_at:%Y-%m-%d} by {decision.decided_by.username}"),
    ):
        block.add([label, value], trace.add(f"Board: {label.lower()}", source))
    restrictions = Block(
        [Column("Restriction"), Column("Owner"), Column("Due"), Column("Closed")],
        caption="Restrictions, each with its follow-up owner",
    )
    for x in decision.restrictions.select_related("owner").order_by("pk"):
        restrictions.add(
            [
                x.description,
                x.owner.username,
                shown(x.due, DAY),
                f"{x.closed_at:%Y-%m-%d}" if x.closed_at else "in force",
            ],
            trace.add(f"Restriction {x.pk}", [f"restriction {x.pk}", *source]),
        )
    statements = Block(
        [Column("Statement to"), Column("Position"), Column("Amount", MONEY), Column("Made")],
        caption="External payment statements (never above the approved position)",
    )
    for s in decision.statements.select_related("made_by").order_by("made_at", "pk"):
        statements.add(
            [s.audience, s.position, s.amount, f"{s.made_at:%Y-%m-%d} by {s.made_by.username}"],
            trace.add(f"Statement {s.pk}", [f"external statement {s.pk}", *source]),
        )
    return Section(title, blocks=[block, restrictions, statements])


# --- attainment trend ---------------------------------------------------------------


def _trend(pilot: Pilot, month: date, trace: Trace) -> Section:
    title = "Attainment trend"
    rows = list(
        Settlement.objects.filter(pilot=pilot, status=Settlement.FINALISED, month__lte=month)
        .select_related("board_decision")
        .order_by("month")
    )
    if not rows:
        return Section(title, missing=f"No settlement file is finalised up to {month:%Y-%m} yet.")
    block = Block(
        [
            Column("Month"),
            Column("Windows closed", COUNT),
            Column("Reached", COUNT),
            Column("Attainment", PERCENT),
            Column("Minimum", PERCENT),
            Column("Trigger"),
            Column("Board"),
        ]
    )
    for s in rows:
        a = s.figures["attainment"]
        decided = getattr(s, "board_decision", None)
        block.add(
            [
                f"{s.month:%Y-%m}",
                a["denominator"],
                a["numerator"],
                number(a["rate"]),
                number(a["minimum_rate"]),
                "met" if s.figures["payment_trigger"]["met"] else "not met",
                decided.position if decided else "not decided",
            ],
            trace.add(
                f"Attainment {s.month:%Y-%m}",
                [f"settlement {s.pk} ({s.month:%Y-%m}), figures sha256 {s.figures_sha256[:16]}"],
            ),
        )
    labels = [f"{s.month:%Y-%m}" for s in rows]
    rates = [number(s.figures["attainment"]["rate"]) for s in rows]
    minimum = [number(s.figures["attainment"]["minimum_rate"]) for s in rows]
    chart = line_chart(
        "Milestone attainment rate by finalised month (%)",
        labels,
        [rates, minimum],
        ["attainment %", "minimum %"],
    )
    return Section(
        title, intro="Finalised settlement files up to this month.", blocks=[block], charts=[chart]
    )


# --- fund balances ------------------------------------------------------------------


def _funds(pilot: Pilot, month: date, trace: Trace) -> Section:
    last = last_day(month)
    balances = funds_by_payer_and_use(pilot, on=last)
    block = Block([Column("Payer"), Column("Use"), Column("Balance", MONEY)])
    for (payer, use), amount in sorted(balances.items()):
        code = f"{Account.FUND}:{payer}:{use}"
        rows = Entry.objects.filter(
            account__pilot=pilot, account__code=code, transaction__effective_on__lte=last
        )
        block.add(
            [payer, use, amount],
            trace.add(
                f"Fund {payer} / {use}",
                transactions(rows),
                f"ledger entries on {code} effective up to {last}",
            ),
        )
    chart = bar_chart(
        f"Fund balance by payer and use at {last} ($)",
        [f"{payer} / {use}" for payer, use in sorted(balances)],
        [[balances[k] for k in sorted(balances)]],
        ["balance"],
    )
    return Section(
        "Fund balances by payer and use",
        intro="Cash held for each payer's allowable use at the month's end (the fund"
        " account's balance in the ledger).",
        blocks=[block],
        charts=[chart] if balances else [],
    )


# --- variance (C15) -----------------------------------------------------------------


def _variance(pilot: Pilot, month: date, trace: Trace) -> Section:
    title = "Variance (C15)"
    cycle = VarianceCycle.objects.filter(pilot=pilot, month=month).select_related("run_by").first()
    if cycle is None:
        return Section(title, missing=not_prepared("The variance cycle", month))
    f = cycle.figures
    source = f"variance cycle {cycle.pk} ({month:%Y-%m})"
    p = f["pilot"]
    overall = Block(FIGURES, caption="Pilot-wide")
    for label, key, kind in (
        ("Cost", "cost", MONEY),
        ("Member-months", "member_months", COUNT),
        ("Episodes", "episodes", COUNT),
        ("Cost per member-month", "cost_per_member_month", MONEY),
    ):
        overall.add(
            [label, shown(p[key], kind)],
            trace.add(f"Variance: {label.lower()}", [f"{source}: pilot.{key}"]),
        )
    blocks = [overall]
    for dimension in DIMENSIONS:
        table = Block(
            [
                Column(dimension.replace("_", " ").capitalize()),
                Column("Member months", COUNT),
                Column("Cost", MONEY),
                Column("Cost / member-month", MONEY),
                Column("Planned / member-month", MONEY),
                Column("Cost variance", PERCENT),
                Column("Flags"),
            ],
            caption=f"Cost per member-month vs plan, by {dimension.replace('_', ' ')}",
        )
        for row in f["tables"][dimension]:
            table.add(
                [
                    row["group"],
                    row["member_months"],
                    number(row["cost"]),
                    number(row["cost_per_member_month"]),
                    number(row["planned_cost_per_member_month"]),
                    number(row["cost_variance_percent"]),
                    ", ".join(row["flags"]) or "",
                ],
                trace.add(
                    f"Variance {dimension} {row['group']}",
                    [f"{source}: tables.{dimension}[{row['group']}]"],
                ),
            )
        blocks.append(table)
    flagged = Block(
        [Column("Trigger"), Column("Subject"), Column("Case review")],
        caption="Flagged variances and stop-loss triggers",
    )
    reviews = {(r.trigger, r.subject): r for r in cycle.reviews.select_related("owner")}
    for item in [*f["flagged"], *f["stop_loss"]]:
        review = reviews.get((item["trigger"], item["subject"]))
        flagged.add(
            [item["trigger"], item["subject"], _review_text(review)],
            trace.add(
                f"{item['trigger']} {item['subject']}",
                [source] + ([f"case review {review.pk}"] if review else []),
            ),
        )
    blocks.append(flagged)
    return Section(
        title,
        intro=f"Run by {cycle.run_by.username} on {cycle.run_at:%Y-%m-%d} under rulebook"
        f" version {cycle.rulebook_version}.",
        blocks=blocks,
    )


def _review_text(review: Any) -> str:
    if review is None:
        return ""
    owner = review.owner.username if review.owner else "no owner"
    due = f", due {review.due}" if review.due else ""
    return f"{review.pk} ({review.status}; {owner}{due})"
