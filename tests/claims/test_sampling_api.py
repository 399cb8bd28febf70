"""The C9 sample audit over HTTP: the API (bearer tokens, JSON, coded refusals that
write nothing) and the pages (forms that re-render with the reason when refused).

The universe: six riverside participants paid M1 in March 2026, the first two also M2
(8 claims; strata M1|riverside N=6 and M2|riverside N=2; at 10%, n = 1 allocated to M1,
and M2 gets one: 2 sampled claims). The server takes `at` from its clock, so the tests
travel to DRAWN (1 April 2026) first.
"""

import json
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from fundpilot.claims.actions import sampling
from fundpilot.claims.models import Claim, Recoupment, Sample
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import claims_snapshot
from tests.claims.sampling_fixtures import DRAWN, MONTH, enrol, pay
from tests.conftest import NOW, make_person

API = "/api/v1/pilots/recovery-2026"
SAMPLES = f"{API}/samples"
PAGES = "/pilots/recovery-2026/samples"


def client_for(user: User) -> Client:
    secret = actions.issue_api_token(user=user, label="sampling", by=user, at=NOW)
    return Client(headers={"Authorization": f"Bearer {secret}"})


def post(client: Client, url: str, body: dict) -> tuple[int, dict]:
    response = client.post(url, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def assert_refused_without_writing(client: Client, url: str, body: dict, code: str) -> dict:
    before = claims_snapshot()
    status, answer = post(client, url, body)
    assert (status, answer["code"]) == (422, code), answer
    assert claims_snapshot() == before
    return answer


@pytest.fixture
def paid(pilot: Pilot, staff: dict[Role, User]) -> list[Claim]:
    participants = enrol(pilot, staff, 6)
    claims = pay(participants, staff)
    return claims + pay(participants[:2], staff, "M2", at=claims[-1].payable_at)


@pytest.fixture
def clock():
    with time_machine.travel(DRAWN, tick=False) as traveller:
        yield traveller


@pytest.fixture
def api(verifier: User) -> Client:
    return client_for(verifier)


@pytest.fixture
def drawn(pilot: Pilot, paid, verifier: User) -> Sample:
    return sampling.draw_sample(pilot=pilot, period=MONTH, seed=11, by=verifier, at=DRAWN)


def item_url(sample: Sample, position: int) -> str:
    reference = sample.items.get(position=position).claim.reference
    return f"{SAMPLES}/{sample.period}/items/{reference}/audit"


# --- API -------------------------------------------------------------------------------------


def test_a_sample_is_drawn_audited_and_appraised_through_the_api(paid, api: Client, clock):
    # when: drawn
    status, body = post(api, SAMPLES, {"period": MONTH, "seed": 11})
    # then
    assert status == 201, body
    assert (body["universe_size"], body["universe_amount"], body["size"]) == (8, "6600.00", 2)
    assert body["strata"] == [
        {"stratum": "M1|riverside", "population": 6, "sample": 1},
        {"stratum": "M2|riverside", "population": 2, "sample": 1},
    ]
    assert [i["position"] for i in body["items"]] == [1, 2]
    assert all(i["audit"] is None for i in body["items"]) and body["appraisal"] is None
    first, second = (i["reference"] for i in body["items"])
    # when: the M1 claim is audited (a reference with slashes) and fails
    status, audit = post(
        api,
        f"{SAMPLES}/{MONTH}/items/{first}/audit",
        {"supported_amount": "300.00", "finding_codes": ["VR-WINDOW"], "note": "late plan"},
    )
    assert status == 201, audit
    assert (audit["paid_amount"], audit["supported_amount"], audit["difference"]) == (
        "900.00",
        "300.00",
        "600.00",
    )
    assert audit["failed"] is True
    assert audit["recoupment"] == {
        "amount": "600.00",
        "reason": "sample_audit",
        "basis_key": f"recoup:audit:{audit['id']}",
    }
    # and the appraisal waits for the other audit
    assert_refused_without_writing(api, f"{SAMPLES}/{MONTH}/appraisal", {}, "not_fully_audited")
    status, _ = post(api, f"{SAMPLES}/{MONTH}/items/{second}/audit", {"supported_amount": "600.00"})
    assert status == 201
    # when: appraised
    status, appraisal = post(api, f"{SAMPLES}/{MONTH}/appraisal", {})
    # then: M1 6 × 600 = 3600; one value per stratum gives no spread (two warnings)
    assert status == 201, appraisal
    assert (appraisal["point_estimate"], appraisal["standard_error"]) == ("3600.00", "0.00")
    assert (appraisal["lower"], appraisal["recovery"], appraisal["distribution"]) == (
        "3600.00",
        "3600.00",
        "z",
    )
    assert len(appraisal["warnings"]) == 2
    assert "USD 3,000.00 for the claims not sampled" in appraisal["explanation"]
    # and the sample reads back with its audits and appraisal
    response = api.get(f"{SAMPLES}/{MONTH}")
    assert response.status_code == 200
    read = response.json()
    assert read["audited"] == 2 and read["appraisal"]["id"] == appraisal["id"]
    assert [i["audit"]["supported_amount"] for i in read["items"]] == ["300.00", "600.00"]
    listing = api.get(SAMPLES).json()
    assert [(s["period"], s["items"]) for s in listing] == [(MONTH, None)]


def test_the_api_answers_refusals_with_their_code(drawn: Sample, api: Client, clock):
    assert_refused_without_writing(api, SAMPLES, {"period": MONTH, "seed": 11}, "already_drawn")
    assert_refused_without_writing(api, SAMPLES, {"period": "2026-02", "seed": 1}, "empty_universe")
    assert_refused_without_writing(api, SAMPLES, {"period": "2026-04", "seed": 1}, "bad_period")
    assert_refused_without_writing(api, SAMPLES, {"period": "2026-02", "seed": -5}, "bad_seed")
    url = item_url(drawn, 1)
    assert_refused_without_writing(api, url, {"supported_amount": "900.01"}, "bad_amount")
    assert_refused_without_writing(api, url, {"supported_amount": "1.00"}, "finding_required")
    answer = assert_refused_without_writing(api, url, {"supported_amount": 1}, "invalid_input")
    assert "decimals as strings" in answer["message"]


def test_the_api_asks_the_policy_and_finds_only_what_exists(
    drawn: Sample, staff: dict[Role, User], api: Client, clock
):
    # the compliance officer may read samples but neither draw nor audit them
    compliance = client_for(staff[Role.COMPLIANCE])
    before = claims_snapshot()
    status, body = post(compliance, SAMPLES, {"period": "2026-02", "seed": 1})
    assert (status, body["code"]) == (403, "not_permitted")
    status, body = post(compliance, item_url(drawn, 1), {"supported_amount": "900.00"})
    assert status == 403
    assert claims_snapshot() == before
    assert compliance.get(f"{SAMPLES}/{MONTH}").status_code == 200
    # unknown periods and claims not in the sample are 404
    assert api.get(f"{SAMPLES}/2026-02").status_code == 404
    status, body = post(
        api, f"{SAMPLES}/{MONTH}/items/P-9999/M1/1/audit", {"supported_amount": "1.00"}
    )
    assert (status, body["code"]) == (404, "not_found")


def test_provider_staff_see_only_their_own_sampled_claims(
    drawn: Sample, admin: User, pilot: Pilot, other_provider: Organisation, staff, clock
):
    # given: a frontline lead of northstar, which has no claim in the sample
    outsider = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    # when
    theirs = client_for(outsider).get(f"{SAMPLES}/{MONTH}").json()
    ours = client_for(staff[Role.FRONTLINE]).get(f"{SAMPLES}/{MONTH}").json()
    # then: the universe's figures for both; the items only for riverside
    assert theirs["universe_size"] == ours["universe_size"] == 8
    assert (len(theirs["items"]), len(ours["items"])) == (0, 2)


# --- pages -----------------------------------------------------------------------------------


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_pages_draw_audit_and_appraise(paid, verifier: User, clock):
    page = browser(verifier)
    # the list, then the draw form (defaulting to last month)
    assert "No sample has been drawn yet." in page.get(f"{PAGES}/").content.decode()
    form = page.get(f"{PAGES}/draw/")
    assert form.status_code == 200 and 'value="2026-03"' in form.content.decode()
    # a refused draw re-renders with the reason and writes nothing
    before = claims_snapshot()
    refused = page.post(f"{PAGES}/draw/", {"period": "2026-02", "seed": "3"})
    assert refused.status_code == 422
    assert "(empty_universe)" in refused.content.decode()
    assert claims_snapshot() == before
    # the draw
    done = page.post(f"{PAGES}/draw/", {"period": MONTH, "seed": "3"})
    assert (done.status_code, done["Location"]) == (302, f"{PAGES}/{MONTH}/")
    sample = Sample.objects.get()
    shown = page.get(f"{PAGES}/{MONTH}/").content.decode()
    assert sample.universe_digest in shown and "the data still hold this universe" in shown
    assert "M1|riverside" in shown and "Not appraised yet" in shown
    # the audits: one refused (no finding), then recorded
    urls = [
        f"{PAGES}/{MONTH}/items/{i.claim.reference}/audit/"
        for i in sample.items.order_by("position")
    ]
    assert "Record the audit" in page.get(urls[0]).content.decode()
    refused = page.post(urls[0], {"supported_amount": "100.00"})
    assert refused.status_code == 422 and "(finding_required)" in refused.content.decode()
    page.post(urls[0], {"supported_amount": "100.00", "finding_codes": ["VR-DEFINITION"]})
    page.post(urls[1], {"supported_amount": "600.00"})
    assert Recoupment.objects.get().amount == Decimal("800.00")
    assert "Marked for recoupment" in page.get(urls[0]).content.decode()
    # the appraisal
    assert page.get(f"{PAGES}/{MONTH}/appraise/").status_code == 200
    done = page.post(f"{PAGES}/{MONTH}/appraise/")
    assert done.status_code == 302
    shown = page.get(f"{PAGES}/{MONTH}/").content.decode()
    assert "Extrapolated to all 8 claims" in shown
    assert "4800.00" in shown  # 6 × 800
    again = page.post(f"{PAGES}/{MONTH}/appraise/")
    assert again.status_code == 422 and "(already_appraised)" in again.content.decode()


def test_pages_refuse_people_without_the_right(drawn: Sample, staff: dict[Role, User]):
    frontline = browser(staff[Role.FRONTLINE])
    assert frontline.get(f"{PAGES}/").status_code == 200
    assert frontline.get(f"{PAGES}/{MONTH}/").status_code == 200
    assert frontline.get(f"{PAGES}/draw/").status_code == 403
    reference = drawn.items.get(position=1).claim.reference
    assert frontline.get(f"{PAGES}/{MONTH}/items/{reference}/audit/").status_code == 403
    assert frontline.post(f"{PAGES}/{MONTH}/appraise/").status_code == 403
