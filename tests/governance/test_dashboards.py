"""Dashboards per role (issue 6): each panel's figures recomputed here from the rows,
who sees which panel and whose figures, the charts' escaping, and every link on the page
opening a real page."""

import math
import re
import statistics
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from fundpilot.claims.models import Claim, Verification
from fundpilot.claims.report import verification_report
from fundpilot.governance import charts
from fundpilot.governance.actions.settlement import (
    document_reconciliation,
    finalise_settlement,
    prepare_settlement,
)
from fundpilot.governance.dashboards import dashboard
from fundpilot.money.models import Account, Entry, Reconciliation
from fundpilot.participants.models import ActivationDecision
from fundpilot.pilots.models import Organisation, Pilot
from tests.conftest import make_person

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>&amp;'


def panels_of(history, username: str, pilot: Pilot | None = None) -> dict:
    figures = dashboard(pilot or history.pilot, user=history.people[username], now=timezone.now())
    return figures["panels"]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def points_by_month(points: list[dict]) -> dict[str, dict]:
    return {p["month"]: p for p in points}


# --- figures, recomputed from the rows ----------------------------------------------


def _acceptance_from_decisions(pilot: Pilot, provider: Organisation | None) -> dict:
    """band → (accepted, decided), from each participant's latest activation decision."""
    latest = {}
    decisions = ActivationDecision.objects.filter(participant__pilot=pilot).select_related(
        "participant"
    )
    for d in decisions.order_by("decided_at", "pk"):
        if provider is None or d.participant.provider_id == provider.pk:
            latest[d.participant_id] = (d.participant.acuity_band, d.outcome)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for band, outcome in latest.values():
        counts[band][0] += outcome == ActivationDecision.ACTIVATED
        counts[band][1] += outcome in (ActivationDecision.ACTIVATED, ActivationDecision.REJECTED)
    return {band: tuple(c) for band, c in counts.items()}


@pytest.mark.parametrize(("username", "provider"), [("board", None), ("frontline", "riverside")])
def test_acceptance_by_band_is_counted_from_the_activation_decisions(
    history, db, username, provider
):
    # given
    org = Organisation.objects.get(code=provider) if provider else None
    expected = _acceptance_from_decisions(history.pilot, org)
    # when
    panel = panels_of(history, username)["acceptance"]
    # then
    shown = {b["band"]: (b["accepted"], b["decided"]) for b in panel["bands"]}
    assert shown == {band: expected.get(band, (0, 0)) for band in ("low", "moderate", "high")}
    high = next(b for b in panel["bands"] if b["band"] == "high")
    accepted, decided = expected["high"]
    assert Decimal(high["rate"]) == (Decimal(accepted) * 100 / decided).quantize(Decimal("0.01"))
    assert high["floor"] == "75"  # the rulebook's minimum for the high band
    assert panel["whom"] == (org.name if org else "all providers")


def _turnaround_from_timestamps(pilot: Pilot, provider: Organisation | None) -> dict:
    """month → business days from submission to the first decision, per decision."""
    zone = ZoneInfo(pilot.rulebook.pilot.timezone)
    spans = defaultdict(list)
    rows = Verification.objects.filter(claim__pilot=pilot, supersedes__isnull=True)
    for v in rows.select_related("claim"):
        if provider is not None and v.claim.provider_id != provider.pk:
            continue
        sent = v.claim.submitted_at.astimezone(zone).date()
        made = v.decided_at.astimezone(zone).date()
        spans[f"{made:%Y-%m}"].append(pilot.calendar.business_days_between(sent, made))
    return spans


@pytest.mark.parametrize(("username", "provider"), [("board", None), ("frontline", "riverside")])
def test_turnaround_is_measured_from_the_verification_timestamps(history, db, username, provider):
    # given
    org = Organisation.objects.get(code=provider) if provider else None
    spans = _turnaround_from_timestamps(history.pilot, org)
    assert spans  # the history has verification decisions
    # when
    panel = panels_of(history, username)["turnaround"]
    # then
    assert panel["days"] == "business"
    for month, point in points_by_month(panel["points"]).items():
        days = sorted(spans.get(month, []))
        assert point["decisions"] == len(days)
        if not days:
            assert point["median"] is None and point["p90"] is None
            continue
        assert Decimal(point["median"]) == Decimal(str(statistics.median(days)))
        assert point["p90"] == days[math.ceil(0.9 * len(days)) - 1]


def test_turnaround_agrees_with_the_verification_report_it_links_to(history, db):
    board = history.people["board"]
    panel = panels_of(history, "board")["turnaround"]
    for point in panel["points"]:
        if not point["decisions"]:
            continue
        report = verification_report(history.pilot, month=point["month"], user=board)
        total = report.rows[0]
        assert total.decided == point["decisions"]
        assert total.median_days_to_decision == Decimal(point["median"])
        assert point["url"] == f"/pilots/recovery-2026/verification-report/?month={point['month']}"


def _attainment_from_claims(pilot: Pilot, provider: Organisation | None) -> dict:
    """month → (payable, submitted) over participant claims reached in the month, a
    resubmitted rejection counted once (as its resubmission)."""
    resubmitted = set(
        Claim.objects.filter(pilot=pilot, resubmission_of__isnull=False).values_list(
            "resubmission_of_id", flat=True
        )
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in Claim.objects.filter(pilot=pilot, scope="participant"):
        if c.submitted_at is None or c.pk in resubmitted:
            continue
        if provider is not None and c.provider_id != provider.pk:
            continue
        counts[f"{c.reached_on:%Y-%m}"][0] += c.status == Claim.PAYABLE
        counts[f"{c.reached_on:%Y-%m}"][1] += 1
    return counts


@pytest.mark.parametrize(
    ("username", "provider"),
    [("board", None), ("payer-wvch", None), ("frontline-northstar", "northstar")],
)
def test_live_attainment_is_counted_from_the_claims(history, db, username, provider):
    # given
    org = Organisation.objects.get(code=provider) if provider else None
    expected = _attainment_from_claims(history.pilot, org)
    # when
    panel = panels_of(history, username)["attainment"]
    # then
    points = points_by_month(panel["points"])
    assert list(points)[:6] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    for month, point in points.items():
        verified, due = expected.get(month, (0, 0))
        assert (point["numerator"], point["denominator"]) == (verified, due)
        assert point["source"] == "live, not settled"
        if due:
            assert Decimal(point["rate"]) == (Decimal(verified) * 100 / due).quantize(
                Decimal("0.01")
            )
    assert sum(d for _, d in expected.values()) > 0


def test_a_finalised_month_shows_its_settled_attainment(history, db):
    # given: March settled by finance through the real actions
    finance, now = history.people["finance"], timezone.now()
    draft = prepare_settlement(pilot=history.pilot, month=date(2026, 3, 1), by=finance, at=now)
    draft = document_reconciliation(
        settlement=draft, note="Milestones agree with the integrity log.", by=finance, at=now
    )
    settled = finalise_settlement(settlement=draft, by=finance, at=now)
    # when
    board = points_by_month(panels_of(history, "board")["attainment"]["points"])
    provider = points_by_month(panels_of(history, "frontline")["attainment"]["points"])
    # then: the pilot-wide viewer reads the stored file; the rest stays live
    stored = settled.figures["attainment"]
    march = board["2026-03"]
    assert march["source"] == "settled"
    assert (march["numerator"], march["denominator"], march["rate"]) == (
        stored["numerator"],
        stored["denominator"],
        stored["rate"],
    )
    assert march["settlement"] == settled.pk
    assert march["url"] == "/pilots/recovery-2026/governance/settlements/2026-03/"
    assert client_for(history.people["board"]).get(march["url"]).status_code == 200
    assert board["2026-04"]["source"] == "live, not settled"
    # a provider sees its own organisation: settlements are pilot-wide, so it stays live
    assert provider["2026-03"]["source"] == "live, not settled"


def _ledger_spend_to_date(pilot: Pilot, payer: str, month: str) -> Decimal:
    year, mon = map(int, month.split("-"))
    following = date(year + mon // 12, mon % 12 + 1, 1)
    cents = sum(
        Entry.objects.filter(
            account__pilot=pilot,
            account__kind=Account.PAID,
            account__payer=payer,
            transaction__effective_on__lt=following,
        ).values_list("amount_cents", flat=True)
    )
    return Decimal(cents) / 100


def test_spend_vs_plan_follows_the_ledger_and_the_straight_line_plan(history, db):
    # given
    pilot = history.pilot
    reconciled = {
        f"{m:%Y-%m}"
        for m in Reconciliation.objects.filter(pilot=pilot).values_list("month", flat=True)
    }
    contribution = pilot.rulebook.payer("wvch").contribution
    # when
    panel = panels_of(history, "finance")["spend"]
    # then
    (payer,) = panel["payers"]
    assert payer["payer"] == "wvch"
    for elapsed, point in enumerate(payer["points"], start=1):
        month = point["month"]
        assert Decimal(point["spend"]) == _ledger_spend_to_date(pilot, "wvch", month)
        assert Decimal(point["plan"]) == (contribution * elapsed / 12).quantize(Decimal("0.01"))
        if month in reconciled:
            assert point["source"] == "reconciled"
            assert point["url"] == f"/pilots/recovery-2026/money/reconciliation/{month}/"
        else:
            assert point["source"] == "live, not reconciled"
            assert point["url"] == "/pilots/recovery-2026/money/payers/wvch/statement/"
    assert {"2026-01", "2026-05"} <= reconciled
    assert Decimal(payer["points"][5]["spend"]) > 0


# --- who sees what --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("board", {"attainment", "turnaround", "spend", "acceptance"}),
        ("finance", {"attainment", "turnaround", "spend", "acceptance"}),
        ("sponsor", {"attainment", "turnaround", "spend", "acceptance"}),
        ("compliance", {"attainment", "turnaround", "spend", "acceptance"}),
        ("assurance", {"attainment", "turnaround", "spend", "acceptance"}),
        ("auditor", {"attainment", "turnaround", "spend", "acceptance"}),
        ("payer-wvch", {"attainment", "spend"}),
        ("frontline", {"attainment", "turnaround", "acceptance"}),
        ("supervisor-northstar", {"attainment", "turnaround", "acceptance"}),
        ("verifier", {"attainment", "turnaround"}),
    ],
)
def test_each_role_sees_its_panels(history, db, username, expected):
    assert set(panels_of(history, username)) == expected


def test_a_payer_representative_sees_only_its_own_payers_money(history, db):
    # given: the pooled pilot has several payers, each with its representative
    pooled = Pilot.objects.get(slug="pooled-2026")
    # when
    every = panels_of(history, "board", pooled)["spend"]
    own = panels_of(history, "payer-frhp", pooled)["spend"]
    other = panels_of(history, "payer-acph", pooled)["spend"]
    # then
    assert [p["payer"] for p in every["payers"]] == [p.id for p in pooled.rulebook.payers]
    assert [p["payer"] for p in own["payers"]] == ["medicaid"]
    assert [p["payer"] for p in other["payers"]] == ["county"]
    assert own["whom"] == "payer medicaid only"
    assert own["payers"][0] == every["payers"][0]
    # and its attainment is the pilot's
    wvch = panels_of(history, "payer-wvch")["attainment"]
    assert wvch["whom"] == "all providers"
    assert wvch["points"] == panels_of(history, "board")["attainment"]["points"]


def test_provider_staff_see_only_their_own_organisation(history, db):
    # given
    riverside = panels_of(history, "frontline")
    northstar = panels_of(history, "frontline-northstar")
    everyone = panels_of(history, "compliance")
    # then: the two providers' figures add up to the pilot's
    for name, key in (("turnaround", "decisions"), ("attainment", "denominator")):
        mine = Counter({p["month"]: p[key] for p in riverside[name]["points"]})
        theirs = Counter({p["month"]: p[key] for p in northstar[name]["points"]})
        total = Counter({p["month"]: p[key] for p in everyone[name]["points"]})
        assert mine + theirs == total
        assert mine != total
    bands = zip(
        riverside["acceptance"]["bands"],
        northstar["acceptance"]["bands"],
        everyone["acceptance"]["bands"],
        strict=True,
    )
    for mine, theirs, total in bands:
        assert mine["decided"] + theirs["decided"] == total["decided"]
    assert riverside["acceptance"]["whom"] == "Riverside Community Services"
    assert "Riverside Community Services" in riverside["turnaround"]["title"]


def test_an_outsider_is_refused(history, db):
    # given
    outsider = make_person(
        "dash-outsider", Organisation.objects.get(code="riverside"), history.people["admin"]
    )
    client = client_for(outsider)
    # when / then
    assert client.get("/pilots/recovery-2026/dashboard/").status_code == 403
    response = client.get("/api/v1/pilots/recovery-2026/dashboard")
    assert response.status_code == 403
    assert response.json()["code"] == "not_permitted"
    assert Client().get("/api/v1/pilots/recovery-2026/dashboard").status_code == 401


# --- the page and the API -------------------------------------------------------------


@pytest.mark.parametrize("username", ["board", "payer-wvch", "frontline", "verifier"])
def test_every_link_on_the_dashboard_opens_a_page(history, db, username):
    # given
    client = client_for(history.people[username])
    # when
    page = client.get("/pilots/recovery-2026/dashboard/")
    # then
    assert page.status_code == 200
    html = page.content.decode()
    figures = html[html.index("<figure>") :]
    links = set(re.findall(r'href="([^"]+)"', figures))
    assert links
    for link in links:
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link


def test_the_page_draws_the_panels_with_their_figures(history, db):
    # given
    client = client_for(history.people["frontline"])
    panels = panels_of(history, "frontline")
    # when
    html = client.get("/pilots/recovery-2026/dashboard/").content.decode()
    # then
    assert 'href="/pilots/recovery-2026/dashboard/" aria-current="page">Dashboard</a>' in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 3
    for name in ("attainment", "turnaround", "acceptance"):
        assert f'<h2 id="panel-{name}">{panels[name]["title"]}</h2>' in html
    decided = next(p for p in panels["turnaround"]["points"] if p["decisions"])
    assert f'?month={decided["month"]}">{decided["median"]}</a>' in html
    assert "Spend vs plan" not in html


@pytest.mark.parametrize("username", ["payer-wvch", "frontline-northstar", "board"])
def test_the_api_gives_the_same_figures_under_the_same_scoping(history, db, username):
    response = client_for(history.people[username]).get("/api/v1/pilots/recovery-2026/dashboard")
    assert response.status_code == 200
    assert response.json()["panels"] == panels_of(history, username)


def test_the_months_shown_end_where_asked(history, db):
    client = client_for(history.people["board"])
    api = "/api/v1/pilots/recovery-2026/dashboard"
    assert client.get(api, {"until": "2026-03"}).json()["months"] == [
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    spend = client.get(api, {"until": "2026-02"}).json()["panels"]["spend"]["payers"][0]
    assert [p["month"] for p in spend["points"]] == ["2026-01", "2026-02"]
    refused = client.get(api, {"until": "2027-01"})
    assert (refused.status_code, refused.json()["code"]) == (422, "month_in_future")
    refused = client.get(api, {"until": "March"})
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_month")
    page = client.get("/pilots/recovery-2026/dashboard/", {"until": "March"})
    assert page.status_code == 400
    assert "is not a month" in page.content.decode()


# --- the charts -----------------------------------------------------------------------


def _parse(markup: str) -> ET.Element:
    """The figure is well-formed markup: hostile text stayed text."""
    return ET.fromstring(markup)


def _tags(root: ET.Element) -> set[str]:
    return {el.tag.split("}")[-1] for el in root.iter()}


SAFE_TAGS = {
    "figure", "svg", "title", "desc", "line", "text", "rect", "a", "circle", "polyline",
    "table", "caption", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def test_charts_escape_hostile_labels():
    # given: every text a chart draws, hostile
    bar = charts.Bar(HOSTILE, Decimal("40"), f"/records/?q={HOSTILE}", HOSTILE, Decimal(50))
    group = charts.Group(HOSTILE, [Decimal(1), None], [f"/x/?{HOSTILE}", None], HOSTILE)
    line = charts.Series(HOSTILE, [charts.Point(Decimal(3), "/y/"), charts.Point(None)], [HOSTILE])
    drawn = [
        charts.bar_chart(
            ident="c-bar",
            title=HOSTILE,
            description=HOSTILE,
            bars=[bar],
            value_name=HOSTILE,
            target_name=HOSTILE,
        ),
        charts.grouped_bar_chart(
            ident="c-group",
            title=HOSTILE,
            description=HOSTILE,
            groups=[group],
            series=[HOSTILE, "b"],
        ),
        charts.line_chart(
            ident="c-line",
            title=HOSTILE,
            description=HOSTILE,
            labels=[HOSTILE, "m2"],
            series=[line],
        ),
    ]
    for markup in drawn:
        # then: no element came from the text, and the text reads back unchanged
        root = _parse(markup)
        assert _tags(root) <= SAFE_TAGS
        assert "<script" not in markup and "<img" not in markup
        svg = root.find("{http://www.w3.org/2000/svg}svg")
        title = svg.find("{http://www.w3.org/2000/svg}title")
        assert title.text == HOSTILE
        assert svg.get("role") == "img"
        assert svg.get("aria-labelledby").split() == [
            title.get("id"),
            f"{title.get('id')[:-6]}-desc",
        ]
        assert root.find("table/caption").text == HOSTILE


def test_charts_refuse_links_that_could_run_script():
    for url in ("javascript:alert(1)", "//evil.example/", "data:text/html,hi"):
        with pytest.raises(ValueError, match="not a page address"):
            charts.bar_chart(
                ident="c",
                title="t",
                description="d",
                bars=[charts.Bar("a", 1, url)],
                value_name="v",
            )
    with pytest.raises(ValueError, match="not a chart id"):
        charts.bar_chart(
            ident='x" onload="alert(1)', title="t", description="d", bars=[], value_name="v"
        )


def test_a_chart_links_each_bar_and_reads_back_as_a_table():
    # given
    markup = charts.grouped_bar_chart(
        ident="spend",
        title="Spend",
        description="plan and spend",
        groups=[
            charts.Group("2026-01", [Decimal("200.00"), Decimal("0.00")], ["/a/", "/b/"], "live"),
            charts.Group("2026-02", [Decimal("400.00"), None], ["/c/", None], "reconciled"),
        ],
        series=["Plan", "Spend"],
    )
    # when
    root = _parse(markup)
    svg = "{http://www.w3.org/2000/svg}"
    # then: three drawn bars, each inside its link; the table holds the same figures
    links = [a.get("href") for a in root.iter(f"{svg}a")]
    assert links == ["/a/", "/b/", "/c/"]
    assert all(a.find(f"{svg}rect") is not None for a in root.iter(f"{svg}a"))
    rows = [[cell.text or "".join(cell.itertext()) for cell in tr] for tr in root.iter("tr")]
    assert rows == [
        ["", "Plan", "Spend", "Source"],
        ["2026-01", "200.00", "0.00", "live"],
        ["2026-02", "400.00", "—", "reconciled"],
    ]
