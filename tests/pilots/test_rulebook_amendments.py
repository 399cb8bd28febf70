"""Two-person rulebook change: one administrator proposes, a different administrator or
the pilot's executive sponsor approves, rejects; the proposer may withdraw."""

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.pilots import actions, models, queries
from fundpilot.pilots.models import Pilot, RulebookProposal
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, example, make_person, row_counts

AMENDED = example("functional-recovery").replace('name = "', 'name = "Amended ', 1)
FRONTLINE_ONE = example("functional-recovery").replace("frontline = 25", "frontline = 1")


def propose(pilot, by, document=AMENDED, reason="board minute 14"):
    return actions.propose_rulebook(pilot=pilot, document=document, reason=reason, by=by, at=NOW)


@pytest.fixture
def sponsor(pilot, admin):
    return make_person("sponsor", admin.organisation, admin, Role.EXECUTIVE_SPONSOR, pilot)


def _records(pilot):
    return AuditRecord.objects.filter(chain=f"pilot:{pilot.slug}").order_by("seq")


def test_a_proposal_changes_nothing_until_another_administrator_approves_it(pilot, admin, admin2):
    # when one administrator proposes
    proposal = propose(pilot, admin)
    # then the rules in force are unchanged, and the diff waits for the approver
    assert (proposal.status, proposal.base.number, pilot.current.number) == ("open", 1, 1)
    assert proposal.changes and proposal.changes[0].startswith("pilot: name changed")
    assert _records(pilot).last().action == "rulebook.propose"
    # when a second administrator approves it
    approved = actions.approve_rulebook(proposal=proposal, by=admin2, at=NOW)
    # then version 2 is in force, approved by the second person, with the diff recorded
    version = Pilot.objects.get(pk=pilot.pk).current
    assert (version.number, version.approved_by, version.reason) == (2, admin2, "board minute 14")
    assert version.changes == proposal.changes
    assert (approved.status, approved.version, approved.decided_by) == ("approved", version, admin2)
    assert pilot.versions.get(number=1).document == example("functional-recovery")
    record = _records(pilot).last()
    assert (record.action, record.actor, record.rulebook_version) == (
        "rulebook.approve",
        "admin2",
        2,
    )
    assert record.payload["proposed_by"] == "admin"
    assert record.payload["changes"] == version.changes


def test_the_pilots_executive_sponsor_may_approve(pilot, admin, sponsor):
    proposal = propose(pilot, admin)
    actions.approve_rulebook(proposal=proposal, by=sponsor, at=NOW)
    assert pilot.current.number == 2
    assert _records(pilot).last().role == "executive_sponsor"


def test_nobody_approves_their_own_amendment_and_nothing_is_written(pilot, admin):
    proposal = propose(pilot, admin)
    before = row_counts(models)
    with pytest.raises(Refused) as refused:
        actions.approve_rulebook(proposal=proposal, by=admin, at=NOW)
    assert (refused.value.code, refused.value.field) == ("self_approval", "by")
    assert row_counts(models) == before
    assert RulebookProposal.objects.get(pk=proposal.pk).status == "open"


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.FINANCE, Role.BOARD_CHAIR])
def test_only_administrators_and_the_sponsor_approve(pilot, admin, role):
    person = make_person("other", admin.organisation, admin, role, pilot)
    proposal = propose(pilot, admin)
    before = row_counts(models)
    with pytest.raises(NotPermitted):
        actions.approve_rulebook(proposal=proposal, by=person, at=NOW)
    with pytest.raises(NotPermitted):
        actions.reject_rulebook(proposal=proposal, reason="no", by=person, at=NOW)
    assert row_counts(models) == before


def test_only_an_administrator_proposes(pilot, sponsor):
    before = row_counts(models)
    with pytest.raises(NotPermitted):
        propose(pilot, sponsor)
    assert row_counts(models) == before


def test_a_proposal_whose_base_is_no_longer_in_force_is_stale(pilot, admin, admin2):
    # given two open proposals against version 1; the first is approved
    first = propose(pilot, admin)
    second = propose(pilot, admin, FRONTLINE_ONE, "one case each at first")
    actions.approve_rulebook(proposal=first, by=admin2, at=NOW)
    assert RulebookProposal.objects.get(pk=second.pk).stale
    before = row_counts(models)
    # when the second is approved, then it is refused: it would undo the first's change
    with pytest.raises(Refused) as refused:
        actions.approve_rulebook(proposal=second, by=admin2, at=NOW)
    assert refused.value.code == "proposal_stale"
    assert "propose it again against version 2" in refused.value.message
    assert row_counts(models) == before
    # and proposing it again against version 2 is how it goes through
    actions.withdraw_rulebook(proposal=second, reason="rebased", by=admin, at=NOW)
    rebased = propose(pilot, admin, FRONTLINE_ONE.replace('name = "', 'name = "Amended ', 1))
    assert rebased.base.number == 2
    actions.approve_rulebook(proposal=rebased, by=admin2, at=NOW)
    assert pilot.current.number == 3


def test_a_proposal_may_be_rejected_by_the_second_person_with_a_reason(pilot, admin, admin2):
    proposal = propose(pilot, admin)
    before = row_counts(models)
    with pytest.raises(Refused) as no_reason:
        actions.reject_rulebook(proposal=proposal, reason=" ", by=admin2, at=NOW)
    with pytest.raises(Refused) as own:
        actions.reject_rulebook(proposal=proposal, reason="mine", by=admin, at=NOW)
    assert (no_reason.value.code, own.value.code) == ("reason_required", "self_approval")
    assert row_counts(models) == before
    rejected = actions.reject_rulebook(
        proposal=proposal, reason="not in the minute", by=admin2, at=NOW
    )
    assert (rejected.status, rejected.decision_note) == ("rejected", "not in the minute")
    assert _records(pilot).last().action == "rulebook.reject"
    with pytest.raises(Refused) as closed:
        actions.approve_rulebook(proposal=rejected, by=admin2, at=NOW)
    assert closed.value.code == "proposal_closed"
    assert pilot.current.number == 1


def test_only_the_proposer_withdraws(pilot, admin, admin2):
    proposal = propose(pilot, admin)
    before = row_counts(models)
    with pytest.raises(Refused) as other:
        actions.withdraw_rulebook(proposal=proposal, by=admin2, at=NOW)
    assert other.value.code == "not_proposer"
    assert row_counts(models) == before
    withdrawn = actions.withdraw_rulebook(proposal=proposal, by=admin, at=NOW)
    assert (withdrawn.status, withdrawn.decided_by) == ("withdrawn", admin)
    assert _records(pilot).last().action == "rulebook.withdraw"


@pytest.mark.parametrize(
    ("document", "reason", "code"),
    [
        ("functional-recovery", "no change", "rulebook_unchanged"),
        ("multi-payer", "wrong pilot", "rulebook_pilot_mismatch"),
        ("functional-recovery", "   ", "reason_required"),
    ],
)
def test_proposals_are_refused_when_they_cannot_stand(pilot, admin, document, reason, code):
    before = row_counts(models)
    with pytest.raises(Refused) as refused:
        propose(pilot, admin, example(document), reason)
    assert refused.value.code == code
    assert row_counts(models) == before


def test_the_text_diff_shows_the_changed_lines(pilot, admin):
    proposal = propose(pilot, admin, FRONTLINE_ONE, "one case each")
    lines = queries.document_diff(proposal)
    assert lines[:2] == ["--- v1.toml", f"+++ proposal-{proposal.pk}.toml"]
    assert [line for line in lines if line[0] in "+-" and line[1] not in "+-"] == [
        "-per_role = { recovery_lead = 40, frontline = 25 }",
        "+per_role = { recovery_lead = 40, frontline = 1 }",
    ]
