"""C14 monthly multi-payer reconciliation: the figures of a small pooled-2026 ledger
(see review_fixtures.pooled_books), checked against expectations computed here by
hand, the investigations they open, and every refusal."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.money.actions.reconciliation import (
    assign_investigation,
    reconcile_month,
    resolve_investigation,
)
from fundpilot.money.models import Investigation, Reconciliation
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused
from tests.money.conftest import money_snapshot
from tests.money.review_fixtures import APRIL_2, pooled_books

MARCH = date(2026, 3, 1)


@pytest.fixture
def books(pooled: Pilot, money_staff: dict[str, User], provider: Organisation) -> Pilot:
    pooled_books(pooled, provider)
    return pooled


def _refused(code: str, action, **kwargs) -> Refused:
    before = money_snapshot()
    with pytest.raises(Refused) as refused:
        action(**kwargs)
    assert refused.value.code == code, refused.value
    assert money_snapshot() == before
    return refused.value


def _payer(recon: Reconciliation, payer: str) -> dict:
    return next(p for p in recon.figures["payers"] if p["payer"] == payer)


def test_reconcile_month_computes_each_payers_figures(books: Pilot, money_staff):
    # when
    recon = reconcile_month(pilot=books, month=MARCH, by=money_staff["po-finance"], at=APRIL_2)
    # then: the straight-line plan is contribution × 3 / 12 in March
    figures = recon.figures
    assert (figures["month"], figures["months_elapsed"], figures["months_in_period"]) == (
        "2026-03",
        3,
        12,
    )
    assert figures["threshold_percent"] == "5"
    medicaid = _payer(recon, "medicaid")
    assert medicaid["contribution"] == {
        "agreed": "1500000.00",
        "committed": "1500000.00",
        "received_in_month": "0.00",
        "received_to_date": "300000.00",
        "outstanding": "1200000.00",
    }
    by_use = {
        u["use"]: (u["month"], u["to_date"], u["available"]) for u in medicaid["spend"]["by_use"]
    }
    assert by_use == {
        "care_coordination": ("5000.00", "5000.00", "100000.00"),
        "behavioral_health": ("0.00", "0.00", "100000.00"),
        "milestones": ("180.00", "180.00", "100000.00"),  # 200 paid, 20 recouped
    }
    assert medicaid["spend"]["month"] == medicaid["spend"]["to_date"] == "5180.00"
    assert medicaid["utilisation"] == {
        "participants": 2,
        "member_months": 0,
        "episodes": 0,
        "milestones": 1,
        "tranches": 0,
        "spend_requests": 1,
    }
    plan = Decimal("1500000.00") * 3 / 12  # 375,000.00
    expected = ((Decimal("5180.00") - plan) / plan * 100).quantize(Decimal("0.01"))
    assert medicaid["plan"] == {
        "to_date": "375000.00",
        "actual": "5180.00",
        "variance": "-369820.00",
        "percent": str(expected),  # -98.62
        "over_threshold": True,
    }
    county = _payer(recon, "county")
    # February's 1,000 counts to date but not in March; 144,880 + 120 − 12 in March
    assert (county["spend"]["month"], county["spend"]["to_date"]) == ("144988.00", "145988.00")
    assert county["plan"]["to_date"] == "150000.00"
    assert county["plan"]["percent"] == "-2.67"  # (145,988 − 150,000) / 150,000
    assert county["plan"]["over_threshold"] is False
    assert county["utilisation"]["participants"] == 1
    fund = _payer(recon, "fund")
    assert fund["contribution"]["received_to_date"] == "0.00"
    assert fund["spend"]["to_date"] == "72.00"
    assert fund["plan"] == {
        "to_date": "100000.00",
        "actual": "72.00",
        "variance": "-99928.00",
        "percent": "-99.93",
        "over_threshold": True,
    }


def test_variances_over_threshold_open_investigations_with_one_audit_record(
    books: Pilot, money_staff
):
    # given
    before = AuditRecord.objects.count()
    # when
    recon = reconcile_month(pilot=books, month=MARCH, by=money_staff["po-finance"], at=APRIL_2)
    # then: medicaid and fund are far below plan; county is within 5%
    opened = Investigation.objects.filter(reconciliation=recon).order_by("payer")
    assert [(i.payer, i.measure, i.status, i.owner) for i in opened] == [
        ("fund", "spend_to_date", "open", None),
        ("medicaid", "spend_to_date", "open", None),
    ]
    assert opened[1].variance == {
        "plan": "375000.00",
        "actual": "5180.00",
        "variance": "-369820.00",
        "percent": "-98.62",
        "threshold": "5",
    }
    assert AuditRecord.objects.count() == before + 1
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject) == ("reconciliation.run", "reconciliation:2026-03")
    assert record.payload["investigations"] == ["medicaid", "fund"]


def test_a_month_is_reconciled_once(books: Pilot, money_staff):
    reconcile_month(pilot=books, month=MARCH, by=money_staff["po-finance"], at=APRIL_2)
    _refused(
        "already_reconciled",
        reconcile_month,
        pilot=books,
        month=MARCH,
        by=money_staff["po-finance-2"],
        at=APRIL_2,
    )


@pytest.mark.parametrize(
    ("month", "code"),
    [(date(2026, 5, 1), "month_in_future"), (date(2025, 12, 1), "outside_pilot_period")],
)
def test_reconcile_month_refuses_months_it_cannot_reconcile(books, money_staff, month, code):
    _refused(
        code, reconcile_month, pilot=books, month=month, by=money_staff["po-finance"], at=APRIL_2
    )


@pytest.mark.parametrize("who", ["pr-medicaid", "po-compliance", "rs-supervisor"])
def test_only_finance_reconciles(books: Pilot, money_staff, who):
    before = money_snapshot()
    with pytest.raises(NotPermitted):
        reconcile_month(pilot=books, month=MARCH, by=money_staff[who], at=APRIL_2)
    assert money_snapshot() == before


def test_a_reconciliation_of_an_empty_ledger_is_all_zero(pooled: Pilot, money_staff):
    recon = reconcile_month(pilot=pooled, month=MARCH, by=money_staff["po-finance"], at=APRIL_2)
    medicaid = _payer(recon, "medicaid")
    assert medicaid["contribution"]["committed"] == "0.00"
    assert medicaid["spend"]["to_date"] == "0.00"
    assert medicaid["plan"]["percent"] == "-100.00"
    assert recon.figures["roster"] == 0
    assert medicaid["disputes_open"] == 0


# --- investigations ---------------------------------------------------------------------


@pytest.fixture
def investigation(books: Pilot, money_staff) -> Investigation:
    recon = reconcile_month(pilot=books, month=MARCH, by=money_staff["po-finance"], at=APRIL_2)
    return Investigation.objects.get(reconciliation=recon, payer="medicaid")


def test_an_investigation_gets_an_owner_and_due_date_then_a_resolution(investigation, money_staff):
    # when
    assign_investigation(
        investigation=investigation,
        owner=money_staff["po-compliance"],
        due=date(2026, 4, 16),
        by=money_staff["po-finance"],
        at=APRIL_2,
    )
    done = resolve_investigation(
        investigation=investigation,
        resolution="Milestone volume lags the plan: enrolment started in March.",
        by=money_staff["po-compliance"],
        at=APRIL_2 + timedelta(days=3),
    )
    # then
    done.refresh_from_db()
    assert (done.owner.username, done.due, done.status) == (
        "po-compliance",
        date(2026, 4, 16),
        "resolved",
    )
    assert done.resolved_by.username == "po-compliance"
    actions = list(AuditRecord.objects.order_by("-pk").values_list("action", flat=True)[:2])
    assert actions == ["investigation.resolve", "investigation.assign"]


@pytest.mark.parametrize(
    ("owner", "due", "code"),
    [
        ("pr-medicaid", date(2026, 4, 16), "owner_not_permitted"),
        ("po-compliance", date(2026, 3, 31), "due_in_past"),
    ],
)
def test_assigning_an_investigation_is_refused(investigation, money_staff, owner, due, code):
    _refused(
        code,
        assign_investigation,
        investigation=investigation,
        owner=money_staff[owner],
        due=due,
        by=money_staff["po-finance"],
        at=APRIL_2,
    )


def test_resolving_needs_a_resolution_and_happens_once(investigation, money_staff):
    kwargs = {"investigation": investigation, "by": money_staff["po-finance"], "at": APRIL_2}
    _refused("resolution_required", resolve_investigation, resolution="  ", **kwargs)
    resolve_investigation(resolution="Explained by the enrolment ramp.", **kwargs)
    investigation.refresh_from_db()
    _refused("investigation_resolved", resolve_investigation, resolution="again", **kwargs)
    _refused(
        "investigation_resolved",
        assign_investigation,
        investigation=investigation,
        owner=money_staff["po-finance"],
        due=date(2026, 4, 30),
        by=money_staff["po-finance"],
        at=APRIL_2,
    )
