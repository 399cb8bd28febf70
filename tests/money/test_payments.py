"""C13 payment runs on recovery-2026's milestone claims: each basis paid once,
recoupments from the post-payment sample audit netted against the provider's next
remittance (never below zero), funds that run short hold bases, refusals that write
nothing, a dry run equal to the real one, and a run killed midway then re-run.

The sampling rule is a simple design of two claims, so both March claims are audited.
Claims: riverside's P-0101 and P-0102 earn M1 ($900, sampled tier) on 10 March 2026
(payable at once) and M2 ($600) in April.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection

from fundpilot.claims.actions.sampling import audit_sampled_claim, draw_sample
from fundpilot.claims.models import Claim, SampleItem
from fundpilot.money import ledger
from fundpilot.money.actions.payments import run_payments
from fundpilot.money.models import PaymentRun, Transaction
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.claims.conftest import verification_body, verifier
from tests.claims.sampling_fixtures import AUDITED, DRAWN, enrol, pay, recovery_pilot
from tests.conftest import amend, second_admin
from tests.money.conftest import money_snapshot
from tests.money.payment_fixtures import MARCH, RUN_AT, fund
from tests.participants.conftest import payer_org, register, staff

# Fixtures from other modules, named here so pytest finds them in this one.
FIXTURES = (verification_body, verifier, payer_org, register, staff)

D = Decimal
APRIL = date(2026, 4, 1)
IN_APRIL = datetime(2026, 4, 6, 17, 0, tzinfo=UTC)
LATE_APRIL = datetime(2026, 4, 20, 17, 0, tzinfo=UTC)
DAY = timedelta(days=1)
FUND = "fund:wvch:recovery_milestones"


@pytest.fixture
def pilot(admin):
    return recovery_pilot(admin, design='"simple"', strata="", rate="", size="2")


@pytest.fixture
def people(pilot, staff):
    return enrol(pilot, staff, 2)


@pytest.fixture
def march_claims(pilot, staff, people):
    fund(pilot, "wvch", {"recovery_milestones": "100000.00"})
    return pay(people, staff)


def finance(staff):
    return staff[Role.FINANCE]


def recoup(pilot, verifier, claim, supported):
    """Draw March's sample (both claims) and audit `claim`: paid $900, supported less."""
    sample = draw_sample(pilot=pilot, period="2026-03", seed=7, by=verifier, at=DRAWN)
    item = SampleItem.objects.get(sample=sample, claim=claim)
    audit_sampled_claim(
        item=item,
        supported_amount=D(supported),
        finding_codes=["VR-MISSING"],
        by=verifier,
        at=AUDITED,
    )


def test_a_run_pays_each_payable_claim_once_and_a_second_run_pays_nothing(
    pilot, staff, march_claims
):
    # when
    first = run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    second = run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    # then: two milestones, one remittance to riverside
    assert first.total == D("1800.00")
    assert first.by_kind() == {"milestone": {"count": 2, "amount": "1800.00"}}
    assert {t.basis_key for t in Transaction.objects.filter(kind=Transaction.PAYMENT)} == {
        c.basis_key for c in march_claims
    }
    remit = Transaction.objects.get(kind=Transaction.REMITTANCE)
    assert remit.basis_key == f"remit:{pilot.slug}:1:riverside"
    assert remit.run == first.run and first.run.number == 1
    assert ledger.balances(pilot)[FUND] == D("98200.00")
    assert ledger.balances(pilot)["payable:riverside"] == D("0.00")
    # and the second run finds nothing new: no run, no posting, total 0
    assert (second.total, second.nothing_due, second.run) == (D("0.00"), True, None)
    assert PaymentRun.objects.count() == 1
    assert Transaction.objects.filter(kind=Transaction.PAYMENT).count() == 2


def test_the_run_and_its_audit_record_say_what_was_paid(pilot, staff, march_claims):
    from fundpilot.audit.models import AuditRecord

    # when
    result = run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    # then
    run = PaymentRun.objects.get()
    assert (run.month, run.total, run.run_by, run.rulebook_version) == (
        MARCH,
        D("1800.00"),
        finance(staff),
        pilot.current.number,
    )
    assert run.summary["by_kind"] == {"milestone": {"count": 2, "amount": "1800.00"}}
    assert run.summary["rights"] == {
        "wvch/recovery_milestones": "release_payment/finance/wvch/recovery_milestones"
    }
    record = AuditRecord.objects.filter(action="payment.run").get()
    assert (record.subject, record.role, record.payload["total"]) == (
        "payment-run:1",
        "finance",
        "1800.00",
    )
    assert result.run == run


def test_a_recoupment_nets_against_the_next_remittance(
    pilot, staff, people, march_claims, verifier
):
    # given: March paid; the audit supports $400 of P-0101's $900 (recoup $500); both
    # earn M2 ($600 each) in April
    run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    recoup(pilot, verifier, march_claims[0], "400.00")
    pay(people, staff, "M2", at=IN_APRIL)
    # when
    result = run_payments(pilot=pilot, month=APRIL, by=finance(staff), at=RUN_AT)
    # then: gross 1200, recoupment 500 netted, 700 cash to riverside
    assert result.total == D("700.00")
    assert [r.as_dict() for r in result.remittances] == [
        {
            "provider": "riverside",
            "basis_key": f"remit:{pilot.slug}:2:riverside",
            "gross": "1200.00",
            "recoupment_netted": "500.00",
            "net": "700.00",
            "recoupment_outstanding": "0.00",
        }
    ]
    books = ledger.balances(pilot)
    assert books["recoupment:riverside"] == D("0.00")
    assert books[FUND] == D("100000.00") - D("1800.00") - D("700.00")
    assert books["paid:wvch:recovery_milestones"] == D("1800.00") + D("1200.00") - D("500.00")
    assert Transaction.objects.filter(kind=Transaction.RECOUPMENT).count() == 1


def test_netting_never_takes_the_remittance_below_zero(
    pilot,
    staff,
    people,
    march_claims,
    verifier,
):
    # given: nothing of P-0101's $900 is supported; only P-0101 earns M2 ($600) in April
    run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    recoup(pilot, verifier, march_claims[0], "0.00")
    pay(people[:1], staff, "M2", at=IN_APRIL)
    # when: a run on 7 April nets 600 of the 900; P-0102 earns M2 on 20 April, and the
    # next run pays it and nets the other 300
    april = run_payments(pilot=pilot, month=APRIL, by=finance(staff), at=IN_APRIL + DAY)
    pay(people[1:], staff, "M2", at=LATE_APRIL)
    later = run_payments(pilot=pilot, month=APRIL, by=finance(staff), at=RUN_AT)
    # then
    assert (april.total, april.remittances[0].outstanding_after) == (D("0.00"), D("300.00"))
    assert (later.total, later.remittances[0].netted) == (D("300.00"), D("300.00"))
    assert ledger.balances(pilot)["recoupment:riverside"] == D("0.00")


def test_bases_the_fund_cannot_cover_are_held_and_the_rest_paid(pilot, staff, people):
    # given: $1,000 received, two $900 claims
    fund(pilot, "wvch", {"recovery_milestones": "1000.00"})
    claims = pay(people, staff)
    # when
    result = run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    # then: the first paid, the second held with the reason
    assert [i.basis_key for i in result.paid] == [claims[0].basis_key]
    assert [h.item.basis_key for h in result.held] == [claims[1].basis_key]
    assert result.held[0].reason == (
        "fund:wvch:recovery_milestones has $100.00 available; this needs $900.00"
    )
    assert PaymentRun.objects.get().summary["held"][0]["basis_key"] == claims[1].basis_key
    # and once more cash arrives, the held claim is paid by the next run, once
    fund(pilot, "wvch", {"recovery_milestones": "5000.00"}, ref="R2")
    again = run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    assert [i.basis_key for i in again.paid] == [claims[1].basis_key]
    assert Transaction.objects.filter(kind=Transaction.PAYMENT).count() == 2


def test_a_dry_run_writes_nothing_and_equals_the_real_run(pilot, staff, march_claims):
    # given
    before = money_snapshot()
    # when
    dry = run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT, dry_run=True)
    # then
    assert money_snapshot() == before
    real = run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    strip = {"dry_run", "posted"}
    assert {k: v for k, v in dry.as_dict().items() if k not in strip} == {
        k: v for k, v in real.as_dict().items() if k not in strip
    }
    assert dry.total == D("1800.00")


@pytest.mark.parametrize(
    ("month", "code"),
    [(date(2025, 12, 1), "month_before_pilot"), (date(2026, 6, 1), "future_month")],
)
def test_months_before_the_pilot_or_in_the_future_are_refused(
    pilot, staff, march_claims, month, code
):
    before = money_snapshot()
    with pytest.raises(Refused) as refused:
        run_payments(pilot=pilot, month=month, by=finance(staff), at=RUN_AT)
    assert refused.value.code == code
    assert money_snapshot() == before


def test_a_runner_over_the_limit_is_refused_and_nothing_is_paid(admin, staff, people):
    # given: recovery-2026 amended so finance may release at most $1,000 per payer and use
    pilot = people[0].pilot
    document = pilot.current.document.replace('max_amount = "250000.00"', 'max_amount = "1000.00"')
    amend(pilot, document, "lower limit", by=admin, approver=second_admin(admin), at=RUN_AT)
    fund(pilot, "wvch", {"recovery_milestones": "100000.00"})
    pay(people, staff)
    before = money_snapshot()
    # when / then: $1,800 of wvch's milestones is over $1,000
    with pytest.raises(Refused) as refused:
        run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    assert refused.value.code == "over_limit"
    assert money_snapshot() == before


def test_only_finance_runs_payments(pilot, staff, march_claims):
    before = money_snapshot()
    with pytest.raises(NotPermitted):
        run_payments(pilot=pilot, month=MARCH, by=staff[Role.SUPERVISOR], at=RUN_AT)
    assert money_snapshot() == before


def _kill_before_remittances() -> None:
    """A trigger (this test's only) that fails the run's bulk insert at its first
    remittance header, after the payment headers of the same statement went in."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE TRIGGER test_kill_run BEFORE INSERT ON money_transaction"
                " WHEN NEW.basis_key LIKE 'remit:%'"
                " BEGIN SELECT RAISE(ABORT, 'killed midway'); END;"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION test_kill_run() RETURNS trigger AS $$ BEGIN"
                " IF NEW.basis_key LIKE 'remit:%' THEN RAISE EXCEPTION 'killed midway'; END IF;"
                " RETURN NEW; END; $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER test_kill_run BEFORE INSERT ON money_transaction"
                " FOR EACH ROW EXECUTE FUNCTION test_kill_run()"
            )


def _revive() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER test_kill_run")
        else:
            cursor.execute("DROP TRIGGER test_kill_run ON money_transaction")
            cursor.execute("DROP FUNCTION test_kill_run()")


def test_a_run_killed_midway_leaves_nothing_and_a_rerun_pays_each_basis_once(
    pilot, staff, march_claims
):

    # given: the database fails the run after its payment transactions were inserted
    before = money_snapshot()
    _kill_before_remittances()
    # when
    with pytest.raises(DatabaseError, match="killed midway"):
        run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    # then: nothing of it remains
    assert money_snapshot() == before
    # and the re-run pays each basis once
    _revive()
    result = run_payments(pilot=pilot, month=MARCH, by=finance(staff), at=RUN_AT)
    assert result.total == D("1800.00")
    keys = list(
        Transaction.objects.filter(kind=Transaction.PAYMENT).values_list("basis_key", flat=True)
    )
    assert sorted(keys) == sorted(c.basis_key for c in march_claims)
    assert Claim.objects.filter(status=Claim.PAYABLE).count() == 2
