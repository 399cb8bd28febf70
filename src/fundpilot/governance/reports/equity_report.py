"""The equity report (PDF and CSV) of one month, from its stored C18 equity check: the
tables by acuity band and subpopulation flag (pilot-wide and per provider, with
Wilson intervals), the acceptance floors, risk-adjusted attainment (observed vs
expected) by provider, the cherry-picking tests, equity between providers, and the
signals listed for review with their findings.

Files carry no participant-level detail: the check's "records" are left out
(`equity.redacted`), and each figure traces to the equity check (its id and the path
of the figure in it) and to the findings it raised, where people who may see
participants find the records. The CSV is C18's own rows (`equity.csv_rows`) with a
`trace` column.
"""

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

from reportlab.graphics.shapes import Drawing

from fundpilot.governance import equity
from fundpilot.governance.models import EquityCheck, EquityFinding
from fundpilot.governance.reports.common import (
    COUNT,
    DECIMAL,
    MONEY,
    RATE,
    Block,
    Column,
    Report,
    Section,
    Trace,
    bar_chart,
    not_prepared,
    number,
)
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused

TITLES = {
    "enrolment": "Enrolment: share of the month's referrals",
    "acceptance": "Acceptance: activation decisions that activated",
    "activation": "Activation: eligible participants on the locked roster",
    "attainment": "Milestone attainment: windows closed in the month, reached",
    "reviews_on_time": "Progression reviews on time",
    "escalated": "Progression reviews escalated",
    equity.DISENGAGED: "Disengaged in the month (of the roster)",
}
INTERVAL = [Column("Count", COUNT), Column("Of", COUNT), Column("Rate", RATE)]
INTERVAL += [Column("Low", RATE), Column("High", RATE)]


def check_of(pilot: Pilot, month: date) -> EquityCheck | None:
    return EquityCheck.objects.filter(pilot=pilot, month=month).select_related("run_by").first()


def _where(check: EquityCheck, path: str) -> list[str]:
    return [f"equity check {check.pk} ({check.month:%Y-%m}): {path}"]


def _ratio(row: dict[str, Any]) -> list[Any]:
    return [row["count"], row["of"], number(row["rate"]), number(row["low"]), number(row["high"])]


def _intro(check: EquityCheck) -> str:
    confidence = Decimal(check.figures["parameters"]["confidence"])
    return (
        f"Equity check run by {check.run_by.username} on {check.run_at:%Y-%m-%d} under"
        f" rulebook version {check.rulebook_version}. Rates with Wilson intervals at"
        f" {confidence:.0%} confidence."
    )


def _acceptance_chart(check: EquityCheck) -> Drawing:
    """Acceptance rate by acuity band, pilot-wide and per provider."""
    f = check.figures
    rows = f["tables"]["acceptance"]
    bands = f["bands"]
    scopes = [equity.PILOT_WIDE, *f["provider_codes"]]
    rate = {
        (r["provider"], r["group"]): (number(r["rate"]) or 0) * 100
        for r in rows
        if r["group_kind"] == equity.BAND
    }
    return bar_chart(
        "Acceptance rate by acuity band (%)",
        bands,
        [[rate.get((scope, band), 0) for band in bands] for scope in scopes],
        scopes,
    )


def _oe(check: EquityCheck, trace: Trace) -> Block:
    block = Block(
        [
            Column("Provider"),
            Column("Units", COUNT),
            Column("Observed", COUNT),
            Column("Expected", DECIMAL),
            Column("O/E", DECIMAL),
            Column("Interval"),
            Column("Outside 1"),
        ],
        caption="Risk-adjusted attainment: observed vs expected by provider",
    )
    for i, g in enumerate(check.figures["oe"]["providers"]):
        interval = f"{g['low']} to {g['high']}" if g["low"] is not None else g["reason"] or ""
        block.add(
            [
                g["provider"],
                g["units"],
                g["observed"],
                number(g["expected"]),
                number(g["ratio"]),
                interval,
                "yes" if g["excludes_one"] else "no",
            ],
            trace.add(f"O/E {g['provider']}", _where(check, f"oe.providers[{i}]")),
        )
    return block


def _signals(check: EquityCheck, trace: Trace, *, open_only: bool) -> Block:
    """The check's findings (its signals as listed for review)."""
    rows = check.findings.select_related("reviewed_by").order_by("pk")
    if open_only:
        rows = rows.filter(status=EquityFinding.OPEN)
    block = Block(
        [Column("Finding"), Column("Kind"), Column("Subject"), Column("Status")],
        caption="Signals listed for review" + (" (open)" if open_only else ""),
    )
    for f in rows:
        status = f.status
        if f.reviewed_by:
            status += f" by {f.reviewed_by.username}: {f.review_note}"
        block.add(
            [str(f.pk), f.kind, f.subject, status],
            trace.add(
                f"Signal {f.kind} {f.subject}",
                [f"equity finding {f.pk}", *_where(check, "signals")],
            ),
        )
    return block


def summary(pilot: Pilot, month: date, trace: Trace) -> Section:
    """The board pack's equity section: acceptance by band, O/E, open signals."""
    title = "Equity (C18)"
    check = check_of(pilot, month)
    if check is None:
        return Section(title, missing=not_prepared("The equity check", month))
    return Section(
        title,
        intro=_intro(check),
        blocks=[_oe(check, trace), _signals(check, trace, open_only=True)],
        charts=[_acceptance_chart(check)],
    )


def report(pilot: Pilot, month: date) -> Report:
    trace = Trace()
    check = check_of(pilot, month)
    title = "Equity report"
    subtitle = (
        f"C18 equity safeguards for {month:%Y-%m}: who is enrolled, accepted, activated and"
        " reaches milestones, by acuity band and subpopulation, per provider."
    )
    if check is None:
        missing = Section("Equity check (C18)", missing=not_prepared("The equity check", month))
        return Report(title, pilot.name, month, subtitle, [missing], trace)
    f = equity.redacted(check.figures)
    sections = [
        Section(
            "Acceptance by acuity band",
            intro=_intro(check),
            blocks=[_floors(check, f, trace)],
            charts=[_acceptance_chart(check)],
        ),
        _tables(check, f, trace),
        Section("Observed vs expected attainment", blocks=[_oe(check, trace)]),
        Section("Cherry-picking", blocks=[_cherry(check, f, trace)]),
        Section("Equity between providers", blocks=_providers(check, f, trace)),
        Section(
            "Signals for review",
            intro=f["complaints"]["note"],
            blocks=[_signals(check, trace, open_only=False)],
        ),
    ]
    return Report(title, pilot.name, month, subtitle, sections, trace)


def _floors(check: EquityCheck, f: dict[str, Any], trace: Trace) -> Block:
    block = Block(
        [Column("Cohort"), Column("Minimum %"), *INTERVAL, Column("Status")],
        caption="Minimum acceptance rates for high-need cohorts (rulebook)",
    )
    for i, floor in enumerate(f["floors"]):
        block.add(
            [floor["cohort"], floor["minimum_rate"], *_ratio(floor), floor["status"]],
            trace.add(f"Acceptance floor {floor['cohort']}", _where(check, f"floors[{i}]")),
        )
    return block


def _tables(check: EquityCheck, f: dict[str, Any], trace: Trace) -> Section:
    """Every table: the pilot-wide rows, and the providers' rows that have any. A table's
    rows share one trace entry: the table in the check, each row found by its provider
    and group."""
    blocks = []
    for name in f["table_names"]:  # their order: stored JSON may lose the keys' order
        rows = f["tables"][name]
        caption = TITLES.get(name) or f"Escalations crossing {name.removeprefix(equity.ESCALATION)}"
        key = trace.add(
            caption, _where(check, f"tables.{name}"), "the row of the same provider and group"
        )
        block = Block([Column("Provider"), Column("Group"), *INTERVAL], caption=caption)
        for row in rows:
            if row["provider"] != equity.PILOT_WIDE and not row["of"]:
                continue
            group = row["group"]
            if row["group_kind"] != equity.ALL:
                group = f"{row['group_kind'].replace('_', ' ')}: {group}"
            block.add([row["provider"], group, *_ratio(row)], key)
        blocks.append(block)
    return Section(
        "By group and provider",
        intro="Rows of providers with nothing to count are left out (the CSV has them all).",
        blocks=blocks,
    )


def _cherry(check: EquityCheck, f: dict[str, Any], trace: Trace) -> Block:
    block = Block(
        [Column("Provider"), Column("Slope"), Column("p-value"), Column("Falling with acuity")],
        caption="Acceptance by acuity rank (Cochran-Armitage trend test)",
    )
    for i, c in enumerate(f["cherry_picking"]):
        block.add(
            [
                c["provider"],
                c["slope"] or "",
                c["p_value"] or c["reason"] or "",
                "yes" if c["falling_with_acuity"] else "no",
            ],
            trace.add(f"Cherry-picking {c['provider']}", _where(check, f"cherry_picking[{i}]")),
        )
    return block


def _providers(check: EquityCheck, f: dict[str, Any], trace: Trace) -> list[Block]:
    size = Block(
        [
            Column("Provider"),
            Column("Roster", COUNT),
            Column("Staff", COUNT),
            Column("Rejection rate", RATE),
            Column("Paid", COUNT),
            Column("Median days to pay", DECIMAL),
            Column("Held", MONEY),
            Column("Recouped", MONEY),
            Column("Payable unpaid", MONEY),
        ],
        caption="Rejections, time to payment and amounts withheld, by provider size",
    )
    forecast = Block(
        [Column("Provider"), Column("Month"), Column("Expected payments", MONEY)],
        caption="Cash-flow forecast per provider",
    )
    for i, p in enumerate(f["providers"]):
        pay, held = p["time_to_payment"], p["withheld"]
        size.add(
            [
                p["provider"],
                p["size"]["roster"],
                p["size"]["staff"],
                number(p["rejections"]["rate"]),
                pay["paid"],
                number(pay["median_days"]),
                number(held["held"]),
                number(held["recouped"]),
                number(held["payable_unpaid"]),
            ],
            trace.add(f"Provider {p['provider']}", _where(check, f"providers[{i}]")),
        )
        for month in p["forecast"]["months"]:
            forecast.add(
                [p["provider"], month["month"], number(month["amount"])],
                trace.add(
                    f"Forecast {p['provider']} {month['month']}",
                    _where(check, f"providers[{i}].forecast"),
                ),
            )
    return [size, forecast]


def csv_bytes(pilot: Pilot, month: date) -> bytes:
    """C18's CSV rows of the stored check, each with the trace to it."""
    check = check_of(pilot, month)
    if check is None:
        raise Refused("not_prepared", not_prepared("The equity check", month), "month")
    header, *rows = equity.csv_rows(check.figures)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*header, "trace"])
    source = f"equity check {check.pk} ({check.month:%Y-%m})"
    for row in rows:
        table, kind, group, provider = row[:4]
        writer.writerow([*row, f"{source}: {table}[{kind}={group}, provider={provider}]"])
    return out.getvalue().encode()
