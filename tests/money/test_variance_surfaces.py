"""C15 pages, API, CLI and work queues on blended-2026 (review_fixtures.blended_world)."""

import json
from datetime import date

import pytest
import time_machine
from django.test import Client

from fundpilot.money.actions.variance import (
    add_corrective_action,
    assign_case_review,
    run_variance_cycle,
)
from fundpilot.money.models import CaseReview, VarianceCycle
from fundpilot.participants.queues import work_queue
from fundpilot.pilots.models import Organisation, Pilot, User
from tests.money.conftest import money_snapshot
from tests.money.conftest import signed_in as _client
from tests.money.review_fixtures import MAY_4, blended_team, blended_world
from tests.money.test_variance import APRIL
from tests.participants.care_fixtures import blended_pilot
from tests.test_cli import run

API = "/api/v1/pilots/blended-2026"
PAGES = "/pilots/blended-2026/money"


@pytest.fixture
def blended(admin: User, provider: Organisation, other_provider: Organisation) -> Pilot:
    return blended_pilot(admin, provider, other_provider)


@pytest.fixture
def team(blended: Pilot, admin: User, provider: Organisation) -> dict[str, User]:
    return blended_team(blended, admin, provider)


@pytest.fixture
def world(blended: Pilot, team, provider: Organisation) -> Pilot:
    blended_world(blended, team, provider)
    return blended


@pytest.fixture
def clock():
    with time_machine.travel(MAY_4, tick=False) as traveller:
        yield traveller


def _post(client: Client, url: str, body: dict) -> object:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_the_cycle_page_shows_tables_flags_and_reviews(world, team, clock):
    cycle = run_variance_cycle(pilot=world, month=APRIL, by=team["bf-finance"], at=MAY_4)
    text = _client(team["bf-auditor"]).get(f"{PAGES}/variance/2026-04/").content.decode()
    assert "By cohort" in text and "By geography" in text and "By service level" in text
    assert "6825.00" in text
    assert "episode_cost_above" in text
    assert text.count("/money/case-reviews/") >= cycle.reviews.count()


def test_a_payer_rep_may_not_see_the_variance_cycle(world, team, clock):
    run_variance_cycle(pilot=world, month=APRIL, by=team["bf-finance"], at=MAY_4)
    client = _client(team["bf-payer"])
    assert client.get(f"{PAGES}/variance/2026-04/").status_code == 403
    assert client.get(f"{API}/variance-cycles/2026-04").status_code == 403


def test_the_api_runs_the_cycle_and_manages_a_case_review(world, team, clock):
    finance = _client(team["bf-finance"])
    made = _post(finance, f"{API}/variance-cycles", {"month": "2026-04"})
    assert made.status_code == 201
    assert made.json()["figures"]["pilot"]["cost"] == "6825.00"
    assert len(made.json()["reviews"]) == 9
    review = CaseReview.objects.get(trigger="episode_cost_above")
    assigned = _post(
        finance,
        f"{API}/case-reviews/{review.pk}/assignment",
        {"owner": "bl-clinical_lead", "due": "2026-05-15"},
    )
    assert assigned.status_code == 200
    assert assigned.json()["owner"] == "bl-clinical_lead"
    action = _post(
        finance,
        f"{API}/case-reviews/{review.pk}/corrective-actions",
        {"owner": "bl-supervisor", "due": "2026-05-29", "description": "Review crisis pricing"},
    )
    assert action.status_code == 201
    assert action.json()["status"] == "open"
    closed = _post(
        finance, f"{API}/case-reviews/{review.pk}/closure", {"findings": "Priced above tariff"}
    )
    assert closed.json()["status"] == "closed"
    listed = finance.get(f"{API}/corrective-actions").json()
    assert [a["description"] for a in listed] == ["Review crisis pricing"]
    # and a refusal writes nothing
    before = money_snapshot()
    again = _post(finance, f"{API}/variance-cycles", {"month": "2026-04"})
    assert (again.status_code, again.json()["code"]) == (422, "already_run")
    assert money_snapshot() == before


def test_variance_cli_runs_the_cycle(world, team, clock):
    result = run(
        "variance", "--pilot", "blended-2026", "--month", "2026-04", "--by", "bf-finance", "--json"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["figures"]["pilot"]["member_months"] == 3
    assert {r["trigger"] for r in document["reviews"]} >= {
        "episode_cost_above",
        "escalations_above",
        "participant_cumulative_spend_above",
    }
    assert VarianceCycle.objects.count() == 1
    text = run(
        "variance", "--pilot", "blended-2026", "--month", "2026-04", "--by", "bf-auditor", "--show"
    )
    assert text.exit_code == 0, text.stderr
    assert "stop-loss episode_cost_above: B-0002" in text.stdout
    refused = run("variance", "--pilot", "blended-2026", "--month", "2026-04", "--by", "bf-finance")
    assert refused.exit_code == 2
    assert "already_run" in refused.stderr


def test_case_reviews_and_corrective_actions_reach_their_owners(world, team):
    cycle = run_variance_cycle(pilot=world, month=APRIL, by=team["bf-finance"], at=MAY_4)
    review = CaseReview.objects.get(cycle=cycle, trigger="escalations_above")
    manage = {"by": team["bf-finance"], "at": MAY_4}
    assign_case_review(
        review=review, owner=team["bl-clinical_lead"], due=date(2026, 5, 15), **manage
    )
    add_corrective_action(
        review=review,
        description="Weekly contact plan",
        owner=team["bl-supervisor"],
        due=date(2026, 5, 20),
        **manage,
    )
    # when
    lead = work_queue(team["bl-clinical_lead"], world, today=date(2026, 5, 15))
    supervisor = work_queue(team["bl-supervisor"], world, today=date(2026, 5, 15))
    finance = work_queue(team["bf-finance-2"], world, today=date(2026, 5, 15))
    # then
    assert [(i.what, i.participant_id) for i in lead.due_today if i.control == "C15"] == [
        (f"Case review {review.pk}: escalations_above B-0003", "B-0003")
    ]
    assert [i.due for i in supervisor.upcoming if i.control == "C15"] == [date(2026, 5, 20)]
    unassigned = [i for i in finance.upcoming if i.control == "C15"]
    assert len(unassigned) == cycle.reviews.count() - 1
