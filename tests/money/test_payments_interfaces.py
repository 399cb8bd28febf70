"""C13 through its interfaces: `fundpilot pay`, the payment-runs API and the pages —
each happy path and a refusal — and remittances a provider sees only for itself.

The world is test_payments.py's: recovery-2026 with riverside's P-0101 and P-0102 paid
M1 ($900 each) in March 2026; commands take `at` from the clock, travelled to RUN_AT.
"""

import csv
import io
import json

import pytest
import time_machine
from django.urls import reverse

from fundpilot.money.models import PaymentRun, Transaction
from fundpilot.rules.vocabulary import Role
from tests.conftest import make_person
from tests.money.conftest import money_snapshot
from tests.money.conftest import signed_in as client_of
from tests.money.payment_fixtures import RUN_AT
from tests.money.test_payments import march_claims, people, pilot
from tests.participants.conftest import payer_org, register, staff
from tests.test_cli import run as cli

# Fixtures from other modules, named here so pytest finds them in this one.
FIXTURES = (march_claims, people, pilot, payer_org, register, staff)

API = "/api/v1/pilots/recovery-2026/payment-runs"


@pytest.fixture
def clock():
    with time_machine.travel(RUN_AT, tick=False) as traveller:
        yield traveller


# --- CLI ------------------------------------------------------------------------------


def test_pay_posts_the_run_and_writes_each_providers_remittance(march_claims, clock, tmp_path):
    # when
    result = cli(
        "pay", "--pilot", "recovery-2026", "--period", "2026-03", "--by", "po-finance",
        "--json", "--out", str(tmp_path),
    )  # fmt: skip
    # then
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["total"], document["number"], document["posted"]) == ("1800.00", 1, True)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [
        "remittance-recovery-2026-2026-03-run1-riverside.csv",
        "remittance-recovery-2026-2026-03-run1-riverside.json",
    ]
    rows = list(csv.DictReader(io.StringIO((tmp_path / files[0]).read_text())))
    payments = [r for r in rows if r["line"] == "payment"]
    assert sorted(r["basis_key"] for r in payments) == sorted(c.basis_key for c in march_claims)
    assert {r["kind"] for r in payments} == {"milestone"}
    assert payments[0]["payer_parts"] == "wvch/recovery_milestones 900.00"
    assert [r["gross"] for r in rows if r["line"] == "net"] == ["1800.00"]
    remit = json.loads((tmp_path / files[1]).read_text())
    assert (remit["gross"], remit["recoupment_netted"], remit["net"]) == (
        "1800.00",
        "0.00",
        "1800.00",
    )
    assert {line["participant_id"] for line in remit["lines"]} == {"P-0101", "P-0102"}


def test_pay_again_prints_a_zero_total(march_claims, clock):
    args = ("pay", "--pilot", "recovery-2026", "--period", "2026-03", "--by", "po-finance")
    assert cli(*args).exit_code == 0
    # when
    result = cli(*args, "--json")
    # then
    document = json.loads(result.stdout)
    assert (document["total"], document["nothing_due"], document["number"]) == ("0.00", True, None)
    assert PaymentRun.objects.count() == 1


def test_pay_dry_run_writes_nothing(march_claims, clock):
    before = money_snapshot()
    result = cli(
        "pay", "--pilot", "recovery-2026", "--period", "2026-03", "--by", "po-finance",
        "--dry-run",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "would pay 1800.00 gross" in result.stdout
    assert money_snapshot() == before


def test_pay_refuses_a_malformed_month_with_exit_2(march_claims, clock):
    before = money_snapshot()
    result = cli("pay", "--pilot", "recovery-2026", "--period", "March", "--by", "po-finance")
    assert result.exit_code == 2
    assert "invalid_month" in result.stderr
    assert money_snapshot() == before


# --- API ------------------------------------------------------------------------------


def test_api_runs_lists_and_shows_a_run(staff, march_claims, clock):
    client = client_of(staff[Role.FINANCE])
    # when: a dry run, then the run
    dry = client.post(API, {"month": "2026-03", "dry_run": True}, content_type="application/json")
    posted = client.post(API, {"month": "2026-03"}, content_type="application/json")
    # then
    assert dry.status_code == 200 and dry.json()["total"] == "1800.00"
    assert posted.status_code == 201, posted.content
    assert posted.json()["number"] == 1
    listed = client.get(API).json()
    assert [(r["number"], r["total"]) for r in listed] == [(1, "1800.00")]
    shown = client.get(f"{API}/1").json()
    assert shown["by_kind"] == {"milestone": {"count": 2, "amount": "1800.00"}}
    assert sorted(b["kind"] for b in shown["bases"]) == ["milestone", "milestone", "remittance"]
    remit = client.get(f"{API}/1/remittances/riverside.json")
    assert remit.status_code == 200 and remit.json()["net"] == "1800.00"
    as_csv = client.get(f"{API}/1/remittances/riverside.csv")
    assert as_csv.status_code == 200 and as_csv["Content-Type"] == "text/csv"
    assert "milestone:recovery-2026:P-0101:M1:1" in as_csv.content.decode()


def test_api_refuses_a_future_month_with_422(staff, march_claims, clock):
    before = money_snapshot()
    response = client_of(staff[Role.FINANCE]).post(
        API, {"month": "2026-07"}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["code"] == "future_month"
    assert money_snapshot() == before


def test_api_a_provider_sees_only_its_own_remittance(
    admin,
    staff,
    other_provider,
    march_claims,
    clock,
    pilot,
):
    client_of(staff[Role.FINANCE]).post(API, {"month": "2026-03"}, content_type="application/json")
    outsider = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    # when / then
    own = client_of(staff[Role.FRONTLINE]).get(f"{API}/1/remittances/riverside.json")
    other = client_of(outsider).get(f"{API}/1/remittances/riverside.json")
    assert own.status_code == 200
    assert other.status_code == 403
    assert client_of(staff[Role.FRONTLINE]).get(API).status_code == 403  # no payment.view


# --- pages ----------------------------------------------------------------------------


def test_pages_preview_then_post_then_show_the_run(staff, march_claims, clock, pilot):
    client = client_of(staff[Role.FINANCE])
    form = reverse("money:payment-run-new", kwargs={"pilot": pilot.slug})
    # when: the preview
    before = money_snapshot()
    preview = client.post(form, {"month": "2026-03", "action": "preview"})
    # then: shown, nothing written
    assert preview.status_code == 200
    assert "Preview of 2026-03: total 1800.00" in preview.content.decode()
    assert money_snapshot() == before
    # when: posted
    posted = client.post(form, {"month": "2026-03", "action": "post"})
    # then: the run's page, each basis linked to its claim
    page_url = reverse("money:payment-run", kwargs={"pilot": pilot.slug, "number": 1})
    assert posted.status_code == 302 and posted["Location"] == page_url
    page = client.get(page_url).content.decode()
    claim_url = reverse(
        "claims:claim", kwargs={"pilot": pilot.slug, "reference": march_claims[0].reference}
    )
    assert claim_url in page
    assert "remittances/riverside.csv" in page
    runs = client.get(reverse("money:payment-runs", kwargs={"pilot": pilot.slug}))
    assert runs.status_code == 200 and "1800.00" in runs.content.decode()
    download = client.get(
        reverse(
            "money:remittance-csv",
            kwargs={"pilot": pilot.slug, "number": 1, "provider": "riverside"},
        )
    )
    assert download.status_code == 200 and b"recovery-2026:P-0102" in download.content
    assert Transaction.objects.filter(run__number=1).count() == 3


def test_pages_a_refused_run_re_renders_the_form_with_the_reason(
    staff,
    march_claims,
    clock,
    pilot,
):
    before = money_snapshot()
    response = client_of(staff[Role.FINANCE]).post(
        reverse("money:payment-run-new", kwargs={"pilot": pilot.slug}),
        {"month": "2025-11", "action": "post"},
    )
    assert response.status_code == 422
    assert "is before the pilot began" in response.content.decode()
    assert money_snapshot() == before


def test_pages_provider_staff_see_their_remittances_only(
    admin,
    staff,
    other_provider,
    march_claims,
    clock,
    pilot,
):

    client_of(staff[Role.FINANCE]).post(API, {"month": "2026-03"}, content_type="application/json")
    outsider = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    listing = reverse("money:remittances", kwargs={"pilot": pilot.slug})
    download = reverse(
        "money:remittance-json", kwargs={"pilot": pilot.slug, "number": 1, "provider": "riverside"}
    )
    # then: riverside's frontline sees and downloads it; northstar's sees none, gets 403
    assert "Riverside" in client_of(staff[Role.FRONTLINE]).get(listing).content.decode()
    assert client_of(staff[Role.FRONTLINE]).get(download).status_code == 200
    assert "No remittance yet." in client_of(outsider).get(listing).content.decode()
    assert client_of(outsider).get(download).status_code == 403
