"""The synthetic history: deterministic, made only of real actions, and realistic enough
that every queue and report has something to show (pendings, rejections, breaches,
relapses)."""

from datetime import UTC, datetime

import pytest
from django.db.models import Max

from fundpilot.audit import log
from fundpilot.audit.models import AuditRecord
from fundpilot.participants.models import (
    ActivationDecision,
    Activity,
    Assessment,
    Barrier,
    ComplianceReview,
    EligibilityFile,
    EngagementEvent,
    ImportBatch,
    Participant,
    Pathway,
    ProgressionReview,
    Referral,
    RosterRemoval,
    ServiceLevelRequest,
)
from fundpilot.participants.simulate import fingerprint, simulate
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation

UNTIL = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
TEAM = (
    Role.ENROLLMENT_MANAGER,
    Role.RECOVERY_LEAD,
    Role.FRONTLINE,
    Role.SUPERVISOR,
    Role.CLINICAL_LEAD,
)


@pytest.fixture
def people(admin: User) -> tuple[list[Organisation], dict[Role | str, User]]:
    """Two providers with a team each, an approver and compliance in the pilot office."""
    providers = [organisation(code, OrgKind.PROVIDER, admin) for code in ("riverside", "northstar")]
    staff: dict[Role | str, User] = {
        f"{org.code}-{role.value}": make_person(f"{org.code}-{role.value}", org, admin)
        for org in providers
        for role in TEAM
    }
    for role in (Role.ACTIVATION_APPROVER, Role.COMPLIANCE):
        staff[role] = make_person(f"office-{role.value}", admin.organisation, admin)
    return providers, staff


def pilot_with(admin: User, people: tuple, rulebook: str, slug: str | None = None) -> Pilot:
    document = example(rulebook)
    if slug is not None:
        document = document.replace('id = "recovery-2026"', f'id = "{slug}"', 1)
    pilot = actions.create_pilot(document=document, by=admin, at=NOW)
    providers, staff = people
    for org in providers:
        actions.add_party(pilot=pilot, organisation=org, by=admin, at=NOW)
    for key, user in staff.items():
        role = key if isinstance(key, Role) else Role(key.split("-", 1)[1])
        actions.grant_role(user=user, role=role, pilot=pilot, by=admin, at=NOW)
    return pilot


def decisions(pilot: Pilot) -> dict[str, int]:
    """The rows each kind of audited action writes, counted in the tables."""
    on = {"participant__pilot": pilot}
    requests = ServiceLevelRequest.objects.filter(**on)
    barriers = Barrier.objects.filter(**on)
    counts = {
        "referral.receive": Referral.objects.filter(pilot=pilot, batch__isnull=True).count(),
        "referral.import": ImportBatch.objects.filter(pilot=pilot, kind="referrals").count(),
        "eligibility.import": ImportBatch.objects.filter(pilot=pilot, kind="eligibility").count(),
        "assessment.record": Assessment.objects.filter(pilot=pilot).count(),
        "eligibility.file": EligibilityFile.objects.filter(referral__pilot=pilot).count(),
        "activation.decide": ActivationDecision.objects.filter(**on).count(),
        "roster.remove": RosterRemoval.objects.filter(**on).count(),
        "compliance.review": ComplianceReview.objects.filter(**on).count(),
        "service_level.request": requests.count(),
        "service_level.decide": requests.exclude(approved_at=None).count(),
        "pathway.release": Pathway.objects.filter(**on).count(),
        "activity.record": Activity.objects.filter(**on).count(),
        "barrier.open": barriers.count(),
        "barrier.resolve": barriers.exclude(resolved_at=None).count(),
        "progression.review": ProgressionReview.objects.filter(**on).count(),
        "engagement.disengaged": EngagementEvent.objects.filter(**on, kind="disengaged").count(),
        "engagement.reengaged": EngagementEvent.objects.filter(**on, kind="reengaged").count(),
    }
    return {action: n for action, n in counts.items() if n}


def test_the_same_seed_gives_the_same_history(admin, people):
    # given: two pilots under the same rulebook, with the same people
    first = pilot_with(admin, people, "functional-recovery")
    second = pilot_with(admin, people, "functional-recovery", slug="recovery-twin")
    other = pilot_with(admin, people, "functional-recovery", slug="recovery-other")
    # when
    for pilot, seed in ((first, 11), (second, 11), (other, 12)):
        simulate(pilot=pilot, participants=20, months=2, seed=seed, until=UNTIL)
    # then
    assert Referral.objects.filter(pilot=first).count() == 20
    assert fingerprint(first) == fingerprint(second)
    assert fingerprint(first) != fingerprint(other)


def test_a_history_is_audited_actions_with_pendings_rejections_breaches_and_relapses(admin, people):
    # given
    pilot = pilot_with(admin, people, "functional-recovery")
    chain = log.pilot_chain(pilot.slug)
    before = AuditRecord.objects.filter(chain=chain).count()
    # when
    result = simulate(pilot=pilot, participants=100, months=6, seed=5, until=UNTIL)
    # then: one audit record per decision, the chain verifies, nothing after `until`
    assert result.by_action == decisions(pilot)
    assert AuditRecord.objects.filter(chain=chain).count() == before + result.actions
    assert log.verify(chain).ok
    new = AuditRecord.objects.filter(chain=chain, seq__gt=before)
    assert new.aggregate(last=Max("at"))["last"] <= UNTIL
    assert result.start == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)  # clamped to the period
    # and: what the queues and reports are for
    activations = ActivationDecision.objects.filter(participant__pilot=pilot)
    assert activations.filter(outcome="pending").exclude(clarification_owner=None).exists()
    rejected = set(activations.filter(outcome="rejected").values_list("reason_code", flat=True))
    assert rejected >= {"R-EXCL", "R-DECLINED", "R-PAYER"}
    assert EligibilityFile.objects.filter(referral__pilot=pilot).exclude(exclusion_code="").exists()
    assert Assessment.objects.filter(pilot=pilot, approved_tool=False).exists()
    for late in (
        EligibilityFile.objects.filter(referral__pilot=pilot, late_days__gt=0),
        activations.filter(late_days__gt=0),
        Pathway.objects.filter(participant__pilot=pilot, late_days__gt=0),
        ProgressionReview.objects.filter(participant__pilot=pilot, late_days__gt=0),
    ):
        assert late.exists()
    reviews = ProgressionReview.objects.filter(participant__pilot=pilot)
    assert set(reviews.values_list("outcome", flat=True)) == {"progressed", "stalled", "escalated"}
    assert EngagementEvent.objects.filter(participant__pilot=pilot, kind="reengaged").exists()
    assert RosterRemoval.objects.filter(participant__pilot=pilot).exists()
    assert Referral.objects.filter(pilot=pilot, batch__isnull=False).exists()  # daily files
    acuity = set(Participant.objects.filter(pilot=pilot).values_list("acuity_band", flat=True))
    assert acuity == {"low", "moderate", "high"}


def test_a_blended_pilot_gets_service_levels_upgrades_and_episodes(admin, people):
    # given
    pilot = pilot_with(admin, people, "blended-rate")
    # when
    result = simulate(pilot=pilot, participants=60, months=5, seed=3, until=UNTIL)
    # then
    assert result.by_action == decisions(pilot)
    requests = ServiceLevelRequest.objects.filter(participant__pilot=pilot)
    assert {"initial", "upgrade"} <= set(requests.values_list("kind", flat=True))
    assert requests.filter(status="approved").exists()
    activities = Activity.objects.filter(participant__pilot=pilot)
    assert activities.filter(baseline=True, billable=False).exists()
    assert activities.exclude(episode="").exists()
    assert not Pathway.objects.filter(participant__pilot=pilot).exists()  # no milestone stages


def test_a_seed_is_simulated_once_per_pilot(admin, people):
    # given
    pilot = pilot_with(admin, people, "functional-recovery")
    simulate(pilot=pilot, participants=5, months=1, seed=9, until=UNTIL)
    count = AuditRecord.objects.count()
    # when
    with pytest.raises(Refused) as refused:
        simulate(pilot=pilot, participants=5, months=1, seed=9, until=UNTIL)
    # then
    assert refused.value.code == "already_simulated"
    assert AuditRecord.objects.count() == count


def test_a_history_outside_the_pilot_period_is_refused(admin, people):
    pilot = pilot_with(admin, people, "functional-recovery")
    with pytest.raises(Refused) as refused:
        simulate(
            pilot=pilot, participants=5, months=2, seed=1, until=datetime(2025, 6, 1, tzinfo=UTC)
        )
    assert refused.value.code == "outside_pilot_period"
    assert not Referral.objects.exists()
