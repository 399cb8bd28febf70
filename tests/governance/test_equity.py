"""C18 equity safeguards on six simulated months of recovery-2026 (the `history`
fixture): figures recomputed here from the rows, the monthly check and its findings,
their review, and the page, CSV, API and CLI.

Months: March 2026 misses two acceptance floors (homeless, high) in the simulation;
June holds evidence files shared between participants. Whatever a test adds is
dated July 2026 (after the history) and rolls back with the test.
"""

import csv
import io
import json
import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.claims.actions.claims import draft_claim, review_readiness, submit_claim
from fundpilot.claims.models import Claim, Evidence, Verification
from fundpilot.claims.tracker import participant_milestones
from fundpilot.governance import equity
from fundpilot.governance.actions.equity import review_equity_finding, run_equity_check
from fundpilot.governance.models import EquityCheck, EquityFinding
from fundpilot.money.models import Transaction
from fundpilot.participants.models import (
    ActivationDecision,
    Participant,
    Pathway,
    RosterRemoval,
)
from fundpilot.pilots.models import Membership, User
from fundpilot.rules.equity_stats import byar_limits, wilson_interval
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import media, upload  # noqa: F401 (fixture)
from tests.governance.conftest import refused, snapshot
from tests.money.conftest import signed_in
from tests.test_cli import run

pytestmark = pytest.mark.usefixtures("db")

MARCH, JUNE, JULY = date(2026, 3, 1), date(2026, 6, 1), date(2026, 7, 1)
AFTER_JUNE = datetime(2026, 7, 6, 17, 0, tzinfo=UTC)  # Monday 10:00 in Oregon
AFTER_JULY = datetime(2026, 8, 3, 17, 0, tzinfo=UTC)
API = "/api/v1/pilots/recovery-2026"
PAGE = "/pilots/recovery-2026/equity/"


def bounds(pilot, month: date) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in the pilot's zone."""
    zone = ZoneInfo(pilot.rulebook.pilot.timezone)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return (
        datetime(month.year, month.month, 1, tzinfo=zone),
        datetime(following.year, following.month, 1, tzinfo=zone),
    )


def dec(value: Fraction | float) -> str:
    """A rate as the figures write it: a decimal string to 4 places."""
    exact = (
        Decimal(value.numerator) / Decimal(value.denominator)
        if isinstance(value, Fraction)
        else Decimal(repr(value))
    )
    return str(exact.quantize(Decimal("0.0001")))


def row(rows: list[dict[str, Any]], kind: str, group: str, provider: str) -> dict[str, Any]:
    (found,) = [
        r for r in rows if (r["group_kind"], r["group"], r["provider"]) == (kind, group, provider)
    ]
    return found


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


# --- figures recomputed from the rows ------------------------------------------------


def test_acceptance_by_band_is_the_months_activation_decisions(history):
    pilot = history.pilot
    start, end = bounds(pilot, MARCH)
    # Each participant's last activated/rejected decision made in March.
    last: dict[int, ActivationDecision] = {}
    for d in ActivationDecision.objects.filter(
        participant__pilot=pilot, decided_at__gte=start, decided_at__lt=end
    ).order_by("decided_at", "pk"):
        if d.outcome in ("activated", "rejected"):
            last[d.participant_id] = d
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for d in last.values():
        p = Participant.objects.get(pk=d.participant_id)
        for scope in (equity.PILOT_WIDE, p.provider.code):
            cell = expected[(scope, p.acuity_band)]
            cell[0] += d.outcome == "activated"
            cell[1] += 1
    assert sum(c[1] for (s, _), c in expected.items() if s == equity.PILOT_WIDE) > 5

    rows = equity.compute(pilot, MARCH)["tables"]["acceptance"]

    for band in ("low", "moderate", "high"):
        for scope in (equity.PILOT_WIDE, "riverside", "northstar"):
            accepted, decided = expected[(scope, band)]
            found = row(rows, equity.BAND, band, scope)
            assert (found["count"], found["of"]) == (accepted, decided), (band, scope)
            if decided:
                low, high = wilson_interval(accepted, decided, confidence=0.90)
                assert found["rate"] == dec(Fraction(accepted, decided))
                assert (found["low"], found["high"]) == (dec(low), dec(high))
            else:
                assert found["rate"] is None


def test_observed_vs_expected_of_each_provider_is_its_standardised_ratio(history):
    pilot = history.pilot
    rb = pilot.rulebook
    last_day, end = date(2026, 6, 30), bounds(pilot, JUNE)[1]
    removed = set(RosterRemoval.objects.values_list("participant_id", flat=True))
    units = []  # (provider, stratum, attained)
    for p in Participant.objects.filter(pilot=pilot, activated_at__lt=end):
        start = pilot.calendar.local_date(p.activated_at)
        for m in participant_milestones(rb):
            window = m.terms_for(acuity_band=p.acuity_band or None, flags=p.flags).window_days
            window_end = start + timedelta(days=window)
            if window_end > last_day or p.pk in removed:
                continue
            attained = Claim.objects.filter(
                participant=p,
                milestone=m.code,
                attempt=1,
                status=Claim.PAYABLE,
                payable_at__lt=end,
                reached_on__lte=window_end,
            ).exists()
            stratum = (m.code, p.acuity_band, frozenset(p.flags))
            units.append((p.provider.code, stratum, attained))
    per_stratum: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for _, stratum, attained in units:
        per_stratum[stratum][0] += attained
        per_stratum[stratum][1] += 1

    figures = equity.compute(pilot, JUNE)

    assert figures["oe"]["units"] == len(units)
    assert len(figures["oe"]["strata"]) == len(per_stratum)
    z = 1.6448536269514722  # two-sided 90 %
    for provider in ("northstar", "riverside"):
        own = [u for u in units if u[0] == provider]
        observed = sum(1 for u in own if u[2])
        expected = sum(
            (Fraction(*per_stratum[s]) for _, s, _ in own), Fraction(0)
        )  # Σ of the pilot-wide rate of each unit's stratum
        low, high = byar_limits(observed, z)
        (g,) = [g for g in figures["oe"]["providers"] if g["provider"] == provider]
        assert (g["units"], g["observed"]) == (len(own), observed)
        assert g["expected"] == dec(expected)
        assert g["ratio"] == dec(Fraction(observed) / expected)
        assert (g["low"], g["high"]) == (dec(low / float(expected)), dec(high / float(expected)))
        assert g["excludes_one"] == (low / float(expected) > 1 or high / float(expected) < 1)
    # The pilot as a whole attains exactly what it is expected to.
    total = sum(Fraction(g["observed"]) for g in figures["oe"]["providers"])
    assert total == sum(1 for u in units if u[2])


def test_files_shared_between_participants_are_listed_with_their_uploads(history):
    pilot = history.pilot
    start, end = bounds(pilot, JUNE)
    holders: dict[str, list[Evidence]] = defaultdict(list)
    for e in Evidence.objects.filter(pilot=pilot, participant__isnull=False, uploaded_at__lt=end):
        holders[e.sha256].append(e)
    shared = {
        digest: pieces
        for digest, pieces in holders.items()
        if len({e.participant_id for e in pieces}) > 1
        and any(start <= e.uploaded_at < end for e in pieces)
    }
    assert shared, "the simulation reuses files in June"

    figures = equity.compute(pilot, JUNE)

    reuse = [s for s in figures["signals"] if s["kind"] == equity.REUSE]
    assert {s["data"]["sha256"] for s in reuse} == set(shared)
    for s in reuse:
        pieces = shared[s["data"]["sha256"]]
        assert s["subject"] == f"sha256:{s['data']['sha256'][:16]}"
        assert [r["evidence"] for r in s["data"]["records"]] == sorted(e.pk for e in pieces)
        assert {r["participant"] for r in s["data"]["records"]} == {
            e.participant.participant_id for e in pieces
        }
        assert s["providers"] == sorted({e.participant.provider.code for e in pieces})


def test_equity_between_providers_is_read_from_the_ledger_and_the_claims(history):
    pilot = history.pilot
    cal = pilot.calendar
    start, end = bounds(pilot, JUNE)
    days: dict[str, list[int]] = defaultdict(list)
    for t in Transaction.objects.filter(
        pilot=pilot, kind=Transaction.PAYMENT, posted_at__gte=start, posted_at__lt=end
    ):
        claim = Claim.objects.filter(basis_key=t.basis_key).first()
        if claim is not None:
            days[claim.provider.code].append(
                (cal.local_date(t.posted_at) - cal.local_date(claim.payable_at)).days
            )
    verdicts = Verification.objects.filter(
        claim__pilot=pilot, decided_at__gte=start, decided_at__lt=end
    )
    assert days["northstar"], "the June payment run paid northstar's claims"

    providers = {p["provider"]: p for p in equity.compute(pilot, JUNE)["providers"]}

    for code, p in providers.items():
        pay = p["time_to_payment"]
        assert pay["paid"] == len(days[code])
        if days[code]:
            assert Decimal(pay["median_days"]) == Decimal(str(median(days[code]))).quantize(
                Decimal("0.1")
            )
            assert pay["max_days"] == max(days[code])
        mine = verdicts.filter(claim__provider__code=code)
        assert p["rejections"]["of"] == mine.count()
        assert p["rejections"]["count"] == mine.filter(outcome="rejected").count()
        roster = Participant.objects.filter(
            pilot=pilot, provider__code=code, activated_at__lt=end
        ).exclude(removals__decided_at__lt=end)
        assert p["size"]["roster"] == roster.count()
        # The first forecast month holds what was payable but unpaid at June's end.
        unpaid = sum(
            (
                c.payable_amount
                for c in Claim.objects.filter(pilot=pilot, provider__code=code, payable_at__lt=end)
                if not Transaction.objects.filter(basis_key=c.basis_key, posted_at__lt=end).exists()
            ),
            Decimal("0.00"),
        )
        assert p["withheld"]["payable_unpaid"] == str(unpaid)
        # The forecast: unpaid in July; in verification in August, at the pass rate.
        july, august, _ = p["forecast"]["months"]
        assert (july["month"], Decimal(july["amount"])) == ("2026-07", unpaid)
        decided = Verification.objects.filter(claim__provider__code=code, decided_at__lt=end)
        passed = decided.exclude(outcome="rejected").count()
        rate = Fraction(passed, decided.count()) if decided.exists() else Fraction(1)
        waiting = sum(
            (
                c.amount
                for c in Claim.objects.filter(
                    pilot=pilot, provider__code=code, submitted_at__lt=end
                )
                if not (c.payable_at and c.payable_at < end)
                and not c.verifications.filter(outcome="rejected", decided_at__lt=end).exists()
            ),
            Decimal("0.00"),
        )
        expected = Decimal(waiting * rate.numerator) / rate.denominator
        assert Decimal(august["amount"]) == expected.quantize(Decimal("0.01"))
    sizes = sorted(providers.values(), key=lambda p: p["size"]["rank"])
    assert [p["size"]["roster"] for p in sizes] == sorted(
        (p["size"]["roster"] for p in sizes), reverse=True
    )


@pytest.mark.usefixtures("media")
def test_a_milestone_reached_the_day_after_activation_is_implausibly_fast(history):
    pilot = history.pilot
    people = history.people
    frontline, supervisor = people["frontline"], people["supervisor"]
    p = (
        Participant.objects.filter(
            pilot=pilot, provider=frontline.organisation, status="activated", engaged=True
        )
        .filter(pk__in=Pathway.objects.values("participant_id"))
        .exclude(claims__milestone="M1")
        .order_by("pk")
        .first()
    )
    reached = pilot.calendar.local_date(p.activated_at) + timedelta(days=1)
    for requirement in pilot.rulebook.milestone("M1").evidence:
        upload(p, requirement.kind, frontline, AFTER_JUNE, document_date=reached)
    claim = draft_claim(
        participant=p, milestone="M1", reached_on=reached, by=frontline, at=AFTER_JUNE
    )
    review_readiness(claim=claim, note="complete", by=supervisor, at=AFTER_JUNE)
    submit_claim(claim=claim, by=frontline, at=AFTER_JUNE + timedelta(minutes=5))
    # The pilot's M1 durations (from activation; attempt 1 everywhere in M1 but this) …
    durations = sorted(
        (c.reached_on - pilot.calendar.local_date(c.participant.activated_at)).days
        for c in Claim.objects.filter(pilot=pilot, milestone="M1", submitted_at__isnull=False)
        if c.attempt == 1
    )
    cutoff = durations[math.ceil(0.05 * len(durations)) - 1]
    assert cutoff > 1

    figures = equity.compute(pilot, JULY)

    (m1,) = [f for f in figures["fast"] if f["milestone"] == "M1"]
    assert m1["cutoff_days"] == cutoff
    fast = [s for s in figures["signals"] if s["kind"] == equity.FAST]
    assert [s["subject"] for s in fast] == [claim.reference]
    (record,) = fast[0]["data"]["records"]
    assert record == {
        "claim": claim.reference,
        "participant": p.participant_id,
        "provider": "riverside",
        "start": str(reached - timedelta(days=1)),
        "reached_on": str(reached),
        "days": 1,
        "submitted_at": (AFTER_JUNE + timedelta(minutes=5)).isoformat(),
    }
    assert fast[0]["providers"] == ["riverside"]


# --- the monthly check and the review of its findings ------------------------------


def test_the_check_stores_the_figures_and_a_finding_per_signal(history):
    pilot, compliance = history.pilot, history.people["compliance"]
    before = AuditRecord.objects.count()
    expected = equity.compute(pilot, MARCH)
    floors = {f["cohort"]: f for f in expected["floors"]}
    # March in the simulation: the homeless and high cohorts fall short of their floors.
    for cohort, minimum in (("homeless", 80), ("high", 75)):
        assert floors[cohort]["count"] * 100 < minimum * floors[cohort]["of"]

    check = run_equity_check(pilot=pilot, month=MARCH, by=compliance, at=AFTER_JUNE)

    check.refresh_from_db()
    assert check.figures == expected
    assert (check.run_by, check.rulebook_version) == (compliance, pilot.current.number)
    found = list(check.findings.order_by("pk"))
    assert [(f.kind, f.subject) for f in found] == [
        (s["kind"], s["subject"]) for s in expected["signals"]
    ]
    high = next(f for f in found if f.subject == "high")
    assert high.kind == equity.FLOOR and high.status == EquityFinding.OPEN
    assert (high.data["count"], high.data["of"]) == (floors["high"]["count"], floors["high"]["of"])
    assert {r["outcome"] for r in high.data["records"]} == {"activated", "rejected"}
    assert len(high.data["records"]) == floors["high"]["of"]
    assert AuditRecord.objects.count() == before + 1
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject) == ("equity_check.run", "equity_check:2026-03")
    assert record.payload["floors"]["high"] == "shortfall"
    assert record.rulebook_version == pilot.current.number


def test_the_check_refuses_twice_an_unfinished_month_and_others(history):
    pilot, people = history.pilot, history.people
    run_equity_check(pilot=pilot, month=MARCH, by=people["compliance"], at=AFTER_JUNE)
    common = {"pilot": pilot, "by": people["compliance"]}
    refused("already_run", run_equity_check, month=MARCH, at=AFTER_JUNE, **common)
    refused("month_not_ended", run_equity_check, month=JULY, at=AFTER_JUNE, **common)
    refused("month_in_future", run_equity_check, month=date(2026, 8, 1), at=AFTER_JUNE, **common)
    refused(
        "outside_pilot_period",
        run_equity_check,
        month=date(2027, 1, 1),
        at=datetime(2027, 2, 2, tzinfo=UTC),
        **common,
    )
    for name in ("finance", "frontline", "payer-wvch", "assurance"):
        error = refused(
            "not_permitted",
            run_equity_check,
            pilot=pilot,
            month=JUNE,
            by=people[name],
            at=AFTER_JUNE,
        )
        assert isinstance(error, NotPermitted)


def test_a_finding_is_reviewed_once_with_a_note_and_not_by_its_provider(history):
    pilot, people = history.pilot, history.people
    check = run_equity_check(pilot=pilot, month=MARCH, by=people["compliance"], at=AFTER_JUNE)
    finding = check.findings.get(subject="high")
    assert "riverside" in finding.data["providers"]
    # A riverside employee holding compliance (grant_role would refuse it: made directly).
    Membership.objects.create(user=people["frontline"], pilot=pilot, role=Role.COMPLIANCE)
    insider = User.objects.get(username="frontline")  # its roles read afresh
    refused(
        "note_required",
        review_equity_finding,
        finding=finding,
        note="  ",
        by=people["assurance"],
        at=AFTER_JUNE,
    )
    refused(
        "own_organisation",
        review_equity_finding,
        finding=finding,
        note="fine",
        by=insider,
        at=AFTER_JUNE,
    )
    refused(
        "not_permitted",
        review_equity_finding,
        finding=finding,
        note="fine",
        by=people["finance"],
        at=AFTER_JUNE,
    )
    before = AuditRecord.objects.count()

    done = review_equity_finding(
        finding=finding, note="two declined, one moved away", by=people["assurance"], at=AFTER_JULY
    )

    done.refresh_from_db()
    assert (done.status, done.review_note) == ("reviewed", "two declined, one moved away")
    assert (done.reviewed_by, done.reviewed_at) == (people["assurance"], AFTER_JULY)
    assert AuditRecord.objects.count() == before + 1
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject) == ("equity_finding.review", f"equity_finding:{done.pk}")
    assert record.role == "assurance_reviewer"
    refused(
        "already_reviewed",
        review_equity_finding,
        finding=done,
        note="again",
        by=people["compliance"],
        at=AFTER_JULY,
    )


# --- page, CSV, API and CLI --------------------------------------------------------


def _post(client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_the_api_runs_the_check_lists_findings_and_reviews_one(history):
    people = history.people
    compliance = signed_in(people["compliance"])
    live = compliance.get(f"{API}/equity/2026-03").json()
    assert live["stored"] is False

    made = _post(compliance, f"{API}/equity-checks", {"month": "2026-03"})

    assert made.status_code == 201, made.content
    body = made.json()
    assert [f["subject"] for f in body["findings"]] == ["homeless", "high"]
    assert body["findings"][1]["data"]["records"]  # compliance may see participants
    assert compliance.get(f"{API}/equity/2026-03").json()["stored"] is True
    before = snapshot()
    again = _post(compliance, f"{API}/equity-checks", {"month": "2026-03"})
    assert (again.status_code, again.json()["code"]) == (422, "already_run")
    assert snapshot() == before
    # A payer representative reads the check without participant-identifying detail.
    payer = signed_in(people["payer-wvch"])
    seen = payer.get(f"{API}/equity-checks/2026-03")
    assert seen.status_code == 200
    assert equity.RECORDS not in all_keys(seen.json())
    assert seen.json()["figures"]["floors"][1]["status"] == "shortfall"
    assert signed_in(people["frontline"]).get(f"{API}/equity-checks/2026-03").status_code == 403
    open_ = compliance.get(f"{API}/equity-findings", {"status": "open", "month": "2026-03"})
    assert [f["subject"] for f in open_.json()] == ["homeless", "high"]
    finding = open_.json()[1]["id"]
    url = f"{API}/equity-findings/{finding}/review"
    assert _post(signed_in(people["finance"]), url, {"note": "x"}).status_code == 403
    blank = _post(signed_in(people["assurance"]), url, {"note": ""})
    assert (blank.status_code, blank.json()["code"]) == (422, "note_required")

    reviewed = _post(signed_in(people["assurance"]), url, {"note": "declines were recorded"})

    assert reviewed.status_code == 200
    assert (reviewed.json()["status"], reviewed.json()["reviewed_by"]) == ("reviewed", "assurance")


def test_the_cli_runs_shows_and_writes_the_csv(history, tmp_path):
    month = ["--pilot", "recovery-2026", "--month", "2026-03"]
    result = run("equity", *month, "--by", "compliance", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["stored"] is True
    assert [f["kind"] for f in document["findings"]] == [equity.FLOOR, equity.FLOOR]
    check = EquityCheck.objects.get(pilot=history.pilot, month=MARCH)
    assert document["figures"] == check.figures
    out = tmp_path / "equity.csv"
    shown = run("equity", *month, "--by", "payer-wvch", "--show", "--csv", str(out))
    assert shown.exit_code == 0, shown.stderr
    assert "equity 2026-03 (as stored)" in shown.stdout
    assert "finding" in shown.stdout and "acceptance_floor high" in shown.stdout
    with out.open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == equity.csv_rows(check.figures)
    again = run("equity", *month, "--by", "compliance")
    assert again.exit_code == 2
    assert "already_run" in again.stderr
    denied = run("equity", *month, "--by", "frontline", "--show")
    assert denied.exit_code == 2
    assert "not_permitted" in denied.stderr


def test_the_csv_holds_every_table_row_and_no_participant(history):
    figures = equity.compute(history.pilot, JUNE)

    rows = equity.csv_rows(figures)

    assert rows[0] == equity.CSV_HEADER
    tables = sum(len(r) for r in figures["tables"].values())
    extra = len(figures["floors"]) + len(figures["oe"]["providers"]) + len(figures["providers"])
    assert len(rows) == 1 + tables + extra
    assert {len(r) for r in rows} == {len(equity.CSV_HEADER)}
    ids = set(Participant.objects.values_list("participant_id", flat=True))
    assert not any(cell in ids or "SIM7-" in cell for r in rows for cell in r)
    acceptance = row(figures["tables"]["acceptance"], equity.BAND, "high", equity.PILOT_WIDE)
    counts = [str(acceptance["count"]), str(acceptance["of"])]
    assert ["acceptance", "acuity_band", "high", equity.PILOT_WIDE, *counts] in [
        r[:6] for r in rows
    ]


def test_the_page_shows_the_figures_and_links_records_only_to_those_who_may_see_them(history):
    people = history.people
    check = run_equity_check(
        pilot=history.pilot, month=MARCH, by=people["compliance"], at=AFTER_JUNE
    )
    finding = check.findings.get(subject="high")
    page = signed_in(people["compliance"]).get(PAGE, {"month": "2026-03"})
    text = page.content.decode()
    assert page.status_code == 200
    assert "Risk-adjusted attainment" in text and "Cherry-picking" in text
    assert "Checked by compliance" in text
    some = finding.data["records"][0]["participant"]
    assert f"/pilots/recovery-2026/participants/{some}/" in text
    assert f"/equity/findings/{finding.pk}/review/" in text
    for g in check.figures["oe"]["providers"]:
        assert g["ratio"] in text
    # The payer representative sees the figures, not who is behind them.
    seen = signed_in(people["payer-wvch"]).get(PAGE, {"month": "2026-03"}).content.decode()
    assert "Acceptance floors" in seen and "shortfall" in seen
    assert "/participants/" not in seen and some not in seen
    assert "/review/" not in seen
    download = signed_in(people["payer-wvch"]).get("/pilots/recovery-2026/equity/2026-03.csv")
    assert download["Content-Type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(download.content.decode()))) == equity.csv_rows(
        check.figures
    )
    assert signed_in(people["frontline"]).get(PAGE).status_code == 403


def test_a_review_on_the_page_needs_a_note(history):
    people = history.people
    check = run_equity_check(
        pilot=history.pilot, month=MARCH, by=people["compliance"], at=AFTER_JUNE
    )
    finding = check.findings.get(subject="homeless")
    url = f"/pilots/recovery-2026/equity/findings/{finding.pk}/review/"
    assurance = signed_in(people["assurance"])
    before = snapshot()
    blank = assurance.post(url, {"note": ""})
    assert blank.status_code == 422
    assert snapshot() == before

    done = assurance.post(url, {"note": "looked at each decision"})

    assert done.status_code == 302
    finding.refresh_from_db()
    assert (finding.status, finding.review_note) == ("reviewed", "looked at each decision")
    text = assurance.get(PAGE, {"month": "2026-03"}).content.decode()
    assert "looked at each decision" in text
