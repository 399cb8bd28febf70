"""API of the books, mounted at /api/v1/pilots: fund balances by payer and use, the
ledger (paged), a payer's statement, accounting periods (lock/close/reopen) and
reversals. Decimals travel as strings. A payer representative reads only its own
payer's funds and statement.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from fundpilot.money import books
from fundpilot.money.actions import ledger as ledger_actions
from fundpilot.money.api.common import username_of
from fundpilot.money.models import Period, Transaction
from fundpilot.pilots import policy
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted

router = Router(tags=["money"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class UseOut(Schema):
    use: str
    label: str
    received: Decimal
    paid: Decimal
    available: Decimal


class PayerFundsOut(Schema):
    payer: str
    name: str
    contribution: Decimal = Field(description="the rulebook's defined contribution")
    committed: Decimal = Field(description="the contribution recorded as committed")
    receivable: Decimal = Field(description="committed, not yet received")
    received: Decimal
    paid: Decimal
    available: Decimal = Field(description="cash held in the payer's funds")
    reserved: Decimal
    returned: Decimal
    uses: list[UseOut]


class LegOut(Schema):
    account: str
    amount: Decimal = Field(description="debit positive, credit negative")


class TransactionOut(Schema):
    number: int
    kind: str
    basis_key: str
    period: str
    adjusts: str | None = Field(description="a late item's own month, when that was shut")
    effective_on: date
    posted_at: datetime
    posted_by: str
    provider: str | None
    participant_id: str
    reverses: int | None
    amount: Decimal
    memo: str
    rulebook_version: int
    legs: list[LegOut]


class LedgerOut(Schema):
    count: int
    page: int
    pages: int
    transactions: list[TransactionOut]


class LedgerQuery(Schema):
    kind: str = ""
    month: str = Field(default="", description="accounting month, YYYY-MM")
    account: str = ""
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=50, ge=1, le=500)


class AccountBalanceOut(Schema):
    account: str
    balance: Decimal


class StatementEntryOut(Schema):
    account: str
    number: int
    kind: str
    basis_key: str
    effective_on: date
    period: str
    memo: str
    amount: Decimal
    balance: Decimal = Field(description="the account's running balance")


class StatementOut(Schema):
    payer: str
    accounts: list[AccountBalanceOut]
    entries: list[StatementEntryOut]


class PeriodOut(Schema):
    month: str
    status: str
    changed_by: str | None
    changed_at: datetime | None


class ReverseIn(Schema):
    reason: str


def period_out(p: Period) -> dict[str, Any]:
    return {
        "month": f"{p.month:%Y-%m}",
        "status": p.status,
        "changed_by": username_of(p.changed_by),
        "changed_at": p.changed_at,
    }


def statement_for(user: Any, p: Pilot, payer: str) -> dict[str, Any]:
    """A payer's statement, if `user` may see that payer's money."""
    if payer not in {x.id for x in p.rulebook.payers}:
        raise Http404(f"no payer '{payer}'")
    scope = policy.payer_scope(user, p)
    if scope is not None and scope != payer:
        raise NotPermitted("other_payer", "you may see only your own payer's statement")
    return books.statement(p, payer)


def funds_for(user: Any, p: Pilot, on: date | None = None) -> list[dict[str, Any]]:
    scope = policy.payer_scope(user, p)
    return [] if scope == "" else books.funds(p, payer=scope, on=on)


@router.get(
    "/{pilot}/funds",
    response={200: list[PayerFundsOut], **E},
    summary="Fund balances by payer and allowable use (a payer sees only its own)",
)
@permission("fund.view")
def get_funds(request: HttpRequest, pilot: str, as_of: date | None = None) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "fund.view")
    return funds_for(request.auth, p, as_of)


@router.get(
    "/{pilot}/ledger",
    response={200: LedgerOut, **E},
    summary="Ledger transactions with their legs, newest first, paged",
)
@permission("ledger.view")
def get_ledger(request: HttpRequest, pilot: str, q: Query[LedgerQuery]) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "ledger.view")
    rows = books.transactions(p, kind=q.kind, month=q.month, account=q.account)
    paged = Paginator(rows, q.page_size).get_page(q.page)
    return {
        "count": paged.paginator.count,
        "page": paged.number,
        "pages": paged.paginator.num_pages,
        "transactions": [books.transaction_out(t) for t in paged],
    }


@router.get(
    "/{pilot}/payers/{payer}/statement",
    response={200: StatementOut, **E},
    summary="A payer's statement: its accounts' balances and every leg on them",
)
@permission("fund.view")
def get_statement(request: HttpRequest, pilot: str, payer: str) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "fund.view")
    return statement_for(request.auth, p, payer)


@router.get(
    "/{pilot}/periods",
    response={200: list[PeriodOut], **E},
    summary="Accounting months on record and their state (any other month is open)",
)
@permission("ledger.view")
def get_periods(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "ledger.view")
    rows = Period.objects.filter(pilot=p).select_related("changed_by").order_by("-month")
    return [period_out(r) for r in rows]


def _change(request: HttpRequest, pilot: str, month: str, action: Any) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "period.manage")
    period = action(pilot=p, month=month, by=request.auth, at=timezone.now())
    return Status(200, period_out(period))


@router.post(
    "/{pilot}/periods/{month}/lock",
    response={200: PeriodOut, **E},
    summary="Lock an ended month (open → locked): late items then post as adjustments",
)
@permission("period.manage")
def lock_period(request: HttpRequest, pilot: str, month: str) -> Status[dict[str, Any]]:
    return _change(request, pilot, month, ledger_actions.lock_period)


@router.post(
    "/{pilot}/periods/{month}/close",
    response={200: PeriodOut, **E},
    summary="Close a locked month for good, after every earlier month",
)
@permission("period.manage")
def close_period(request: HttpRequest, pilot: str, month: str) -> Status[dict[str, Any]]:
    return _change(request, pilot, month, ledger_actions.close_period)


@router.post(
    "/{pilot}/periods/{month}/reopen",
    response={200: PeriodOut, **E},
    summary="Reopen a locked month (a closed month is final)",
)
@permission("period.manage")
def reopen_period(request: HttpRequest, pilot: str, month: str) -> Status[dict[str, Any]]:
    return _change(request, pilot, month, ledger_actions.reopen_period)


@router.post(
    "/{pilot}/ledger/{number}/reverse",
    response={201: TransactionOut, **E},
    summary="C13 correction: reverse a transaction (its basis is never paid again)",
)
@permission("ledger.reverse")
def reverse_transaction(
    request: HttpRequest, pilot: str, number: int, body: ReverseIn
) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "ledger.reverse")
    if not Transaction.objects.filter(pilot=p, number=number).exists():
        raise Http404(f"no transaction T{number}")
    made = ledger_actions.reverse_transaction(
        pilot=p, number=number, reason=body.reason, by=request.auth, at=timezone.now()
    )
    return Status(201, books.transaction_out(made))
