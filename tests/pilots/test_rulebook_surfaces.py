"""The two-person rulebook change through the API, the command line and the pages."""

import json

import pytest
from django.test import Client

from fundpilot.pilots import actions, models
from fundpilot.pilots.models import Pilot, RulebookProposal
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, example, make_person, row_counts
from tests.test_api import bearer
from tests.test_cli import run

AMENDED = example("functional-recovery").replace("frontline = 25", "frontline = 1")
P = "/api/v1/pilots/recovery-2026/rulebook/proposals"


def propose(pilot, by, document=AMENDED):
    return actions.propose_rulebook(
        pilot=pilot, document=document, reason="board minute 14", by=by, at=NOW
    )


def _post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


# --- API ----------------------------------------------------------------------------------


def test_through_the_api_one_proposes_and_another_approves(pilot, admin, admin2):
    # when the first administrator proposes
    made = _post(bearer(admin), P, {"document": AMENDED, "reason": "board minute 14"})
    assert made.status_code == 201
    body = made.json()
    assert (body["status"], body["base_version"], body["version"]) == ("open", 1, None)
    assert body["changes"]
    # then the approver reads it with its diff, rule by rule and line by line
    approver = bearer(admin2)
    shown = approver.get(f"{P}/{body['id']}").json()
    assert shown["changes"] == body["changes"]
    assert "+per_role = { recovery_lead = 40, frontline = 1 }" in shown["text_diff"]
    assert [p["id"] for p in approver.get(P, {"status": "open"}).json()] == [body["id"]]
    # and approves it: version 2 is in force
    approved = _post(approver, f"{P}/{body['id']}/approve")
    assert approved.status_code == 200
    assert (approved.json()["status"], approved.json()["version"]) == ("approved", 2)
    assert approver.get("/api/v1/pilots/recovery-2026/rulebook").json()["approved_by"] == "admin2"


def test_the_api_refuses_self_approval_with_a_code_and_writes_nothing(pilot, admin):
    proposal, client = propose(pilot, admin), bearer(admin)
    before = row_counts(models)
    response = _post(client, f"{P}/{proposal.pk}/approve")
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("self_approval", "by")
    assert row_counts(models) == before


def test_the_api_refuses_a_stale_proposal(pilot, admin, admin2):
    first, second = propose(pilot, admin), propose(pilot, admin, AMENDED.replace("40", "41", 1))
    actions.approve_rulebook(proposal=first, by=admin2, at=NOW)
    client = bearer(admin2)
    assert client.get(f"{P}/{second.pk}").json()["stale"] is True
    response = _post(client, f"{P}/{second.pk}/approve")
    assert (response.status_code, response.json()["code"]) == (422, "proposal_stale")


def test_the_api_rejects_and_withdraws(pilot, admin, admin2):
    one, two = propose(pilot, admin), propose(pilot, admin, AMENDED.replace("40", "41", 1))
    rejected = _post(bearer(admin2), f"{P}/{one.pk}/reject", {"reason": "not minuted"})
    assert (rejected.json()["status"], rejected.json()["decision_note"]) == (
        "rejected",
        "not minuted",
    )
    other = _post(bearer(admin2), f"{P}/{two.pk}/withdraw")
    assert (other.status_code, other.json()["code"]) == (422, "not_proposer")
    withdrawn = _post(bearer(admin), f"{P}/{two.pk}/withdraw")
    assert withdrawn.json()["status"] == "withdrawn"
    assert Pilot.objects.get(pk=pilot.pk).current.number == 1


def test_the_api_answers_403_to_a_role_that_may_not_decide(pilot, admin):
    person = make_person("compliance", admin.organisation, admin, Role.COMPLIANCE, pilot)
    proposal = propose(pilot, admin)
    client = bearer(person)
    assert client.get(f"{P}/{proposal.pk}").status_code == 200  # the pilot may read it
    assert _post(client, f"{P}/{proposal.pk}/approve").status_code == 403
    assert _post(client, P, {"document": AMENDED, "reason": "x"}).status_code == 403
    assert client.get(f"{P}/999").status_code == 404


# --- CLI ----------------------------------------------------------------------------------


def test_through_the_cli_amend_proposes_and_a_second_person_approves(
    pilot, admin, admin2, tmp_path
):
    file = tmp_path / "new.toml"
    file.write_text(AMENDED)
    # when the administrator amends, then it is only proposed, and the diff is shown
    proposed = run(
        "pilot", "amend", "recovery-2026", str(file), "--reason", "minute 14", "--by", "admin"
    )
    assert proposed.exit_code == 0
    number = RulebookProposal.objects.get().pk
    assert f"proposal {number} against version 1, open" in proposed.stdout
    assert "frontline" in proposed.stdout
    assert f"fundpilot pilot approve recovery-2026 {number}" in proposed.stdout
    assert Pilot.objects.get(pk=pilot.pk).current.number == 1
    # the proposer cannot approve it
    own = run("pilot", "approve", "recovery-2026", str(number), "--by", "admin")
    assert (own.exit_code, "self_approval" in own.stderr) == (2, True)
    # the approver lists and reads it, line by line
    listed = json.loads(
        run("pilot", "proposals", "recovery-2026", "--by", "admin2", "--json").stdout
    )
    assert [(r["proposal"], r["status"]) for r in listed] == [(number, "open")]
    shown = run("pilot", "proposal", "recovery-2026", str(number), "--by", "admin2", "--json")
    assert (
        "+per_role = { recovery_lead = 40, frontline = 1 }" in json.loads(shown.stdout)["text_diff"]
    )
    # and approves it
    approved = run("pilot", "approve", "recovery-2026", str(number), "--by", "admin2", "--json")
    assert approved.exit_code == 0
    assert json.loads(approved.stdout)["rulebook_version"] == 2
    assert Pilot.objects.get(pk=pilot.pk).current.approved_by == admin2


def test_the_cli_rejects_and_withdraws(pilot, admin, admin2):
    one, two = propose(pilot, admin), propose(pilot, admin, AMENDED.replace("40", "41", 1))
    no_reason = run(
        "pilot", "reject", "recovery-2026", str(one.pk), "--reason", " ", "--by", "admin2"
    )
    assert (no_reason.exit_code, "reason_required" in no_reason.stderr) == (2, True)
    rejected = run(
        "pilot", "reject", "recovery-2026", str(one.pk), "--reason", "no", "--by", "admin2"
    )
    assert rejected.exit_code == 0
    withdrawn = run("pilot", "withdraw", "recovery-2026", str(two.pk), "--by", "admin", "--json")
    assert json.loads(withdrawn.stdout)["status"] == "withdrawn"
    missing = run("pilot", "approve", "recovery-2026", "999", "--by", "admin2")
    assert (missing.exit_code, "no rulebook proposal 999" in missing.stderr) == (2, True)


# --- pages --------------------------------------------------------------------------------


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page(pilot, proposal) -> str:
    return f"/pilots/{pilot.slug}/rulebook/proposals/{proposal.pk}/"


def test_the_approver_sees_the_diff_and_approves_on_the_page(pilot, admin, admin2):
    proposal = propose(pilot, admin)
    client = _signed_in(admin2)
    # the rulebook page lists the open proposal
    assert f"Proposal {proposal.pk}</a>" in client.get(f"/pilots/{pilot.slug}/rulebook/").text
    # the proposal page shows what changes and offers the approver the decision
    page = client.get(_page(pilot, proposal)).text
    assert proposal.changes[0] in page
    assert "+per_role = { recovery_lead = 40, frontline = 1 }" in page
    assert "Approve as version 2" in page
    approved = client.post(_page(pilot, proposal), {"decision": "approve"})
    assert approved.status_code == 302
    assert Pilot.objects.get(pk=pilot.pk).current.number == 2
    assert "It became" in client.get(_page(pilot, proposal)).text
    # and the rulebook page's versions say what changed
    assert proposal.changes[0] in client.get(f"/pilots/{pilot.slug}/rulebook/").text


def test_the_proposer_gets_no_approve_button_and_a_forced_post_is_refused(pilot, admin):
    proposal = propose(pilot, admin)
    client = _signed_in(admin)
    page = client.get(_page(pilot, proposal)).text
    assert "Approve as version" not in page and "Withdraw" in page
    before = row_counts(models)
    forced = client.post(_page(pilot, proposal), {"decision": "approve"})
    assert forced.status_code == 422
    assert "self_approval" in forced.text
    assert row_counts(models) == before


def test_a_role_that_may_not_decide_reads_but_cannot_post(pilot, admin):
    person = make_person("compliance", admin.organisation, admin, Role.COMPLIANCE, pilot)
    proposal = propose(pilot, admin)
    client = _signed_in(person)
    page = client.get(_page(pilot, proposal))
    assert page.status_code == 200 and "Approve as version" not in page.text
    before = row_counts(models)
    assert client.post(_page(pilot, proposal), {"decision": "approve"}).status_code == 403
    assert row_counts(models) == before


def test_an_administrator_proposes_on_the_page(pilot, admin):
    client = _signed_in(admin)
    url = f"/pilots/{pilot.slug}/rulebook/propose/"
    form = client.get(url)
    assert "frontline = 25" in form.text  # starts from the version in force
    before = row_counts(models)
    unchanged = client.post(url, {"document": pilot.current.document, "reason": "nothing"})
    assert unchanged.status_code == 422
    assert "rulebook_unchanged" in unchanged.text
    assert row_counts(models) == before
    made = client.post(url, {"document": AMENDED, "reason": "minute 14"})
    proposal = RulebookProposal.objects.get()
    assert made["Location"] == _page(pilot, proposal)
    assert proposal.proposed_by == admin


@pytest.mark.parametrize(
    ("decision", "status"), [("reject", "rejected"), ("withdraw", "withdrawn")]
)
def test_reject_and_withdraw_on_the_page(pilot, admin, admin2, decision, status):
    proposal = propose(pilot, admin)
    client = _signed_in(admin2 if decision == "reject" else admin)
    done = client.post(_page(pilot, proposal), {"decision": decision, "reason": "not now"})
    assert done.status_code == 302
    found = RulebookProposal.objects.get(pk=proposal.pk)
    assert (found.status, found.decision_note) == (status, "not now")
