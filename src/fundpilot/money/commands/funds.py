"""`fundpilot funds`, `fundpilot period` and `fundpilot ledger` (the books).

    fundpilot funds --pilot P [--as-of DATE] [--json]          balances by payer and use
    fundpilot period lock|close|reopen --pilot P --month YYYY-MM
    fundpilot ledger list --pilot P [--kind K] [--month M] [--account A] [--limit N]
    fundpilot ledger reverse --pilot P --number N --reason TEXT

Each takes --by (or FUNDPILOT_USER) and --json; a refusal exits 2. A payer
representative sees only its own payer's funds.
"""

from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from fundpilot.cli_kit import (
    ByOpt,
    JsonOpt,
    PilotOpt,
    emit,
    fail,
    out,
    pilot_named,
    refused,
    require,
    setup_django,
    user_named,
)
from fundpilot.money.commands.common import MonthOpt
from fundpilot.rules.errors import Refused

period_app = typer.Typer(
    help="Accounting months: lock, close (after locking), reopen (locked only)."
)
ledger_app = typer.Typer(help="The ledger: list transactions, reverse one.")


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.command("funds")(funds)
    app.add_typer(period_app, name="period")
    app.add_typer(ledger_app, name="ledger")


def funds(
    pilot: PilotOpt,
    by: ByOpt,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Balances at the end of this day, YYYY-MM-DD.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fund balances by payer and allowable use: committed, received, paid, available."""
    setup_django()
    from fundpilot.money.api.funds import funds_for

    target, user = pilot_named(pilot), user_named(by)
    require(user, "fund.view", target)
    on = None
    if as_of is not None:
        try:
            on = date.fromisoformat(as_of)
        except ValueError:
            fail(f"{as_of!r} is not a date: write YYYY-MM-DD")
    rows = funds_for(user, target, on)
    if as_json:
        emit({"pilot": pilot, "as_of": on, "payers": rows})
        return
    table = Table("payer", "use", "committed", "received", "paid", "available")
    for p in rows:
        for u in p["uses"]:
            table.add_row(
                p["payer"], u["use"], "", str(u["received"]), str(u["paid"]), str(u["available"])
            )
        table.add_row(
            f"[b]{p['payer']}[/b]",
            "total",
            str(p["committed"]),
            str(p["received"]),
            str(p["paid"]),
            str(p["available"]),
        )
    out.print(table)


def _change(verb: str, pilot: str, month: str, by: str, as_json: bool) -> None:
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions import ledger as actions
    from fundpilot.money.api.funds import period_out

    target, user = pilot_named(pilot), user_named(by)
    require(user, "period.manage", target)
    action = {
        "lock": actions.lock_period,
        "close": actions.close_period,
        "reopen": actions.reopen_period,
    }[verb]
    try:
        period = action(pilot=target, month=month, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    document = period_out(period)
    if as_json:
        emit(document)
    else:
        out.print(f"{pilot}: {document['month']} is {document['status']}", highlight=False)


@period_app.command("lock")
def lock(pilot: PilotOpt, month: MonthOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Lock an ended month (open → locked); late items then post as adjustments."""
    _change("lock", pilot, month, by, as_json)


@period_app.command("close")
def close(pilot: PilotOpt, month: MonthOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Close a locked month for good, after every earlier month."""
    _change("close", pilot, month, by, as_json)


@period_app.command("reopen")
def reopen(pilot: PilotOpt, month: MonthOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Reopen a locked month (a closed month is final)."""
    _change("reopen", pilot, month, by, as_json)


def _print_transactions(rows: list[dict[str, Any]]) -> None:
    table = Table("#", "kind", "basis", "period", "effective", "legs", "amount")
    for t in rows:
        legs = "\n".join(f"{leg['account']} {leg['amount']}" for leg in t["legs"])
        table.add_row(
            f"T{t['number']}",
            t["kind"],
            t["basis_key"],
            t["period"] + (f" (adjusts {t['adjusts']})" if t["adjusts"] else ""),
            str(t["effective_on"]),
            legs,
            str(t["amount"]),
        )
    out.print(table)


@ledger_app.command("list")
def list_transactions(
    pilot: PilotOpt,
    by: ByOpt,
    kind: Annotated[str, typer.Option(help="Only this kind (payment, receipt …).")] = "",
    month: Annotated[str, typer.Option(help="Only this accounting month, YYYY-MM.")] = "",
    account: Annotated[str, typer.Option(help="Only transactions touching this account.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Ledger transactions with their legs, newest first."""
    setup_django()
    from fundpilot.money import books

    target, user = pilot_named(pilot), user_named(by)
    require(user, "ledger.view", target)
    try:
        rows = books.transactions(target, kind=kind, month=month, account=account)
        documents = [books.transaction_out(t) for t in rows[: max(limit, 0)]]
    except Refused as exc:
        refused(exc)
    if as_json:
        emit({"pilot": pilot, "transactions": documents})
    else:
        _print_transactions(documents)


@ledger_app.command("reverse")
def reverse(
    pilot: PilotOpt,
    number: Annotated[int, typer.Option("--number", help="The transaction's number (T…).")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is reversed.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Reverse a transaction: a new one mirroring its legs; its basis stays consumed."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money import books
    from fundpilot.money.actions.ledger import reverse_transaction

    target, user = pilot_named(pilot), user_named(by)
    require(user, "ledger.reverse", target)
    try:
        made = reverse_transaction(
            pilot=target, number=number, reason=reason, by=user, at=timezone.now()
        )
    except Refused as exc:
        refused(exc)
    document = books.transaction_out(made)
    if as_json:
        emit(document)
    else:
        out.print(f"T{number} reversed by T{made.number} ({made.basis_key})", highlight=False)
