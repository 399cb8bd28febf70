"""Finance pages of the books, under /pilots/<pilot>/money/: fund balances by payer and
use, the ledger (filtered, paged) with reversal, one account, a payer's statement, and
the accounting periods with their lock/close/reopen forms. A payer representative sees
only its own payer's funds and statement (`policy.payer_scope`).
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.money import books, ledger
from fundpilot.money.actions import ledger as ledger_actions
from fundpilot.money.models import Period, Transaction
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted, Refused

GET_POST = require_http_methods(["GET", "POST"])
SECTION = "money"
PAGE_SIZE = 50
# The other money pages, linked from the funds page for whoever may see them.
NEIGHBOURS = {
    "spend": "spend.view",
    "payments": "payment.view",
    "reconciliation": "reconciliation.view",
    "variance": "variance.view",
}


def _context(request: HttpRequest, pilot: Pilot, **extra: Any) -> dict[str, Any]:
    user = request.user
    return pilot_context(request, pilot, SECTION) | {
        "may_ledger": policy.allowed(user, "ledger.view", pilot),
        "may_reverse": policy.allowed(user, "ledger.reverse", pilot),
        "may_periods": policy.allowed(user, "period.manage", pilot),
        **extra,
    }


def _neighbours(request: HttpRequest, pilot: Pilot) -> dict[str, bool]:
    return {name: policy.allowed(request.user, perm, pilot) for name, perm in NEIGHBOURS.items()}


@require_GET
@page("fund.view")
def funds(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Fund balances by payer and allowable use: committed, received, paid, available."""
    scope = policy.payer_scope(request.user, pilot)
    rows = [] if scope == "" else books.funds(pilot, payer=scope)
    context = _context(
        request, pilot, rows=rows, scoped=scope is not None, neighbours=_neighbours(request, pilot)
    )
    return render(request, "money/funds/funds.html", context)


class LedgerFilter(forms.Form):
    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "any")] + [(k, k) for k in books.KINDS]
    )
    month = forms.RegexField(
        label="Accounting month (YYYY-MM)",
        regex=r"^\d{4}-\d{2}$",
        required=False,
        error_messages={"invalid": "Write the month as YYYY-MM."},
    )
    account = forms.CharField(label="Account", required=False, max_length=200)


@require_GET
@page("ledger.view")
def ledger_page(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Every transaction with its legs, newest first; filter by kind, month, account."""
    form = LedgerFilter(request.GET or None)
    rows = Transaction.objects.none()
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        try:
            rows = books.transactions(
                pilot,
                kind=data.get("kind", ""),
                month=data.get("month", ""),
                account=data.get("account", ""),
            )
        except Refused as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    paged = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = _context(request, pilot, form=form, page=paged, query=query.urlencode())
    return render(request, "money/funds/ledger.html", context, status=422 if form.errors else 200)


@require_GET
@page("ledger.view")
def account_page(request: HttpRequest, pilot: Pilot, account: str) -> HttpResponse:
    """One account: every leg on it with the running balance."""
    found = books.account_of(pilot, account)
    if found is None:
        raise Http404(f"no account '{account}'")
    rows = books.account_entries(found)
    balance = rows[-1]["balance"] if rows else 0
    context = _context(request, pilot, account=found, rows=rows, balance=balance)
    return render(request, "money/funds/account.html", context)


@require_GET
@page("fund.view")
def statement(request: HttpRequest, pilot: Pilot, payer: str) -> HttpResponse:
    """A payer's statement; a payer representative sees only its own payer's."""
    if payer not in {p.id for p in pilot.rulebook.payers}:
        raise Http404(f"no payer '{payer}'")
    scope = policy.payer_scope(request.user, pilot)
    if scope is not None and scope != payer:
        raise NotPermitted("other_payer", "you may see only your own payer's statement")
    name = next(p.name for p in pilot.rulebook.payers if p.id == payer)
    context = _context(request, pilot, name=name, **books.statement(pilot, payer))
    return render(request, "money/funds/statement.html", context)


class ReverseForm(forms.Form):
    reason = forms.CharField(
        label="Why is it reversed?", widget=forms.Textarea(attrs={"rows": 3}), max_length=250
    )


@GET_POST
@page("ledger.reverse")
def reverse_page(request: HttpRequest, pilot: Pilot, number: int) -> HttpResponse:
    """Reverse one transaction: a new transaction mirroring its legs."""
    txn = books.transactions(pilot).filter(number=number).first()
    if txn is None:
        raise Http404(f"no transaction T{number}")
    form = ReverseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            back = ledger_actions.reverse_transaction(
                pilot=pilot,
                number=number,
                reason=form.cleaned_data["reason"],
                by=request.user,
                at=timezone.now(),
            )
        except NotPermitted:
            raise
        except Refused as exc:
            form.add_error(
                exc.field if exc.field in form.fields else None, f"{exc.message} ({exc.code})"
            )
        else:
            messages.success(request, f"T{number} is reversed by T{back.number}.")
            return redirect(reverse("money:ledger", kwargs={"pilot": pilot.slug}))
    context = _context(request, pilot, txn=txn, form=form)
    return render(request, "money/funds/reverse.html", context, status=422 if form.errors else 200)


class PeriodForm(forms.Form):
    month = forms.CharField(label="Month (YYYY-MM)", max_length=7)
    change = forms.ChoiceField(
        label="Change", choices=[("lock", "lock"), ("close", "close"), ("reopen", "reopen")]
    )


CHANGES = {
    "lock": ledger_actions.lock_period,
    "close": ledger_actions.close_period,
    "reopen": ledger_actions.reopen_period,
}


@GET_POST
@page("ledger.view")
def periods(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Accounting months and their state; finance locks, closes and reopens them."""
    form = PeriodForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        policy.require(request.user, "period.manage", pilot)
        if form.is_valid():
            month, change = form.cleaned_data["month"], form.cleaned_data["change"]
            try:
                CHANGES[change](pilot=pilot, month=month, by=request.user, at=timezone.now())
            except NotPermitted:
                raise
            except Refused as exc:
                form.add_error(None, f"{exc.message} ({exc.code})")
            else:
                messages.success(request, f"{month}: {change} done.")
                return redirect(reverse("money:periods", kwargs={"pilot": pilot.slug}))
    rows = list(Period.objects.filter(pilot=pilot).select_related("changed_by").order_by("-month"))
    today = ledger.month_of(pilot.calendar.local_date(timezone.now()))
    context = _context(request, pilot, rows=rows, form=form, current=today)
    return render(request, "money/funds/periods.html", context, status=422 if form.errors else 200)


urls: list[URLPattern] = [
    path("money/", funds, name="funds"),
    path("money/ledger/", ledger_page, name="ledger"),
    path("money/ledger/accounts/<str:account>/", account_page, name="account"),
    path("money/ledger/<int:number>/reverse/", reverse_page, name="reverse"),
    path("money/payers/<str:payer>/statement/", statement, name="statement"),
    path("money/periods/", periods, name="periods"),
]
