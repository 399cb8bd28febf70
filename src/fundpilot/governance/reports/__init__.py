"""The reports people read: the board pack (PDF), a payer's statement (PDF, XLSX) and
the equity report (PDF, CSV) of one month.

`make` is what pages, the API and the CLI call: it checks the request — a report and
format that exist, a payer for (and only for) a payer statement, the viewer's
permission (a payer representative gets only its own payer's statement, anything else
is `NotPermitted`), a month of the pilot's period that has begun — then renders the
file. Reports read; nothing is written.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fundpilot.governance.reports import board_pack, common, equity_report, payer_statement
from fundpilot.money.ledger import month_of
from fundpilot.money.monthly import check_month, next_month
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted, Refused

BOARD, PAYER, EQUITY = "board", "payer", "equity"
PDF, XLSX, CSV = "pdf", "xlsx", "csv"


@dataclass(frozen=True)
class Kind:
    label: str
    perm: str
    formats: tuple[str, ...]


KINDS = {
    BOARD: Kind("board pack", "report.board", (PDF,)),
    PAYER: Kind("payer statement", "report.payer", (PDF, XLSX)),
    EQUITY: Kind("equity report", "equity.view", (PDF, CSV)),
}
CONTENT_TYPES = {
    PDF: "application/pdf",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    CSV: "text/csv; charset=utf-8",
}


@dataclass(frozen=True)
class File:
    name: str
    content_type: str
    content: bytes


def file_name(pilot: Pilot, kind: str, month: date, fmt: str, payer: str | None = None) -> str:
    """e.g. recovery-2026-payer-wvch-2026-05.xlsx (the download's name ends the same)."""
    what = f"{PAYER}-{payer}" if kind == PAYER else kind
    return f"{pilot.slug}-{what}-{month:%Y-%m}.{fmt}"


PAYER_MONTH = re.compile(r"(?P<payer>.+)-(?P<month>\d{4}-\d{2})")


def payer_and_month(payer: str, month: str) -> tuple[str, str]:
    """The payer and month of a "payer-<payer>-<YYYY-MM>" download: URL routing splits
    the name greedily (payer "wvch-2026", month "05"), so the month is taken from the
    end."""
    found = PAYER_MONTH.fullmatch(f"{payer}-{month}")
    return (found["payer"], found["month"]) if found else (payer, month)


def months_begun(pilot: Pilot, today: date) -> list[date]:
    """The pilot period's months that have begun by `today`, latest first."""
    period = pilot.rulebook.pilot
    month, last = month_of(period.period_start), min(month_of(period.period_end), month_of(today))
    found = []
    while month <= last:
        found.append(month)
        month = next_month(month)
    return found[::-1]


def default_month(pilot: Pilot, today: date) -> date | None:
    """The month reports are first asked for: the latest that has ended (the first of
    the period while that is still running); None before the period."""
    months = months_begun(pilot, today)
    return months[min(1, len(months) - 1)] if months else None


def _check(
    *, kind: str, fmt: str, pilot: Pilot, month: date, payer: str | None, by: Any, at: datetime
) -> None:
    """Refuse a report that does not exist or that `by` may not have."""
    found = KINDS.get(kind)
    if found is None:
        raise Refused("unknown_report", f"no report '{kind}': {', '.join(KINDS)}", "kind")
    policy.require(by, found.perm, pilot)
    if fmt not in found.formats:
        raise Refused(
            "format_not_available",
            f"the {found.label} is made as {' or '.join(found.formats)}, not {fmt!r}",
            "format",
        )
    if kind == PAYER:
        if not payer:
            raise Refused("payer_required", "name the payer whose statement to make", "payer")
        payers = [p.id for p in pilot.rulebook.payers]
        if payer not in payers:
            raise Refused(
                "unknown_payer",
                f"no payer '{payer}' in {pilot.slug} (its payers: {', '.join(payers)})",
                "payer",
            )
        if policy.payer_scope(by, pilot) not in (None, payer):
            raise NotPermitted("other_payer", "you may see only your own payer's statement")
    elif payer:
        raise Refused("payer_not_applicable", f"the {found.label} is not made per payer", "payer")
    check_month(pilot, month, at)


def make(
    *, kind: str, fmt: str, pilot: Pilot, month: date, payer: str | None, by: Any, at: datetime
) -> File:
    _check(kind=kind, fmt=fmt, pilot=pilot, month=month, payer=payer, by=by, at=at)
    if kind == EQUITY and fmt == CSV:
        content = equity_report.csv_bytes(pilot, month)
    else:
        if kind == BOARD:
            made = board_pack.report(pilot, month)
        elif kind == PAYER:
            assert payer is not None
            made = payer_statement.report(pilot, month, payer)
        else:
            made = equity_report.report(pilot, month)
        content = common.xlsx(made) if fmt == XLSX else common.pdf(made)
    return File(file_name(pilot, kind, month, fmt, payer), CONTENT_TYPES[fmt], content)
