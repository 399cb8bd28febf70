"""The claims pass of the synthetic history: deterministic, made only of real actions,
and with something for every claims page (claims in every status, verifications on
time and late, a sample with audits and an appraisal, disputes, tranches)."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db.models import Max

from fundpilot.audit import log
from fundpilot.audit.models import AuditRecord
from fundpilot.claims.models import (
    Appraisal,
    Claim,
    Dispute,
    Evidence,
    ReadinessReview,
    SampleAudit,
    Verification,
)
from fundpilot.claims.simulate import fingerprint, simulate_claims
from fundpilot.money.models import Transaction
from fundpilot.participants.simulate import simulate
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation

UNTIL = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
TEAM = (Role.ENROLLMENT_MANAGER, Role.RECOVERY_LEAD, Role.FRONTLINE, Role.SUPERVISOR)
OFFICE = (Role.ACTIVATION_APPROVER, Role.COMPLIANCE, Role.EXECUTIVE_SPONSOR)


@pytest.fixture(autouse=True)
def files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def people(admin: User) -> dict[str, tuple[Organisation, Role | None, User]]:
    """Two providers with a team each, the pilot office, and two verifiers of an
    independent verification body."""
    staff = {}
    for code in ("riverside", "northstar"):
        org = organisation(code, OrgKind.PROVIDER, admin)
        for role in TEAM:
            staff[f"{code}-{role.value}"] = (
                org,
                role,
                make_person(f"{code}-{role.value}", org, admin),
            )
    for role in OFFICE:
        staff[role.value] = (
            admin.organisation,
            role,
            make_person(role.value, admin.organisation, admin),
        )
    body = organisation("keystone", OrgKind.VERIFICATION_BODY, admin)
    for name in ("verifier-1", "verifier-2"):
        staff[name] = (body, Role.VERIFIER, make_person(name, body, admin))
    return staff


def pilot_with(admin: User, people: dict, rulebook: str, slug: str | None = None) -> Pilot:
    document = example(rulebook)
    if slug is not None:
        document = document.replace('id = "recovery-2026"', f'id = "{slug}"', 1)
    pilot = actions.create_pilot(document=document, by=admin, at=NOW)
    for org in {org for org, _, _ in people.values()}:
        actions.add_party(pilot=pilot, organisation=org, by=admin, at=NOW)
    for _, role, user in people.values():
        actions.grant_role(user=user, role=role, pilot=pilot, by=admin, at=NOW)
    return pilot


def history(pilot: Pilot, seed: int, participants: int, months: int) -> None:
    simulate(pilot=pilot, participants=participants, months=months, seed=seed, until=UNTIL)


def test_the_same_seed_gives_the_same_claims(admin, people):
    # given: two pilots under the same rulebook with the same history, and a third
    first = pilot_with(admin, people, "functional-recovery")
    second = pilot_with(admin, people, "functional-recovery", slug="recovery-twin")
    other = pilot_with(admin, people, "functional-recovery", slug="recovery-other")
    for pilot, seed in ((first, 11), (second, 11), (other, 12)):
        history(pilot, seed=seed, participants=20, months=3)
    # when
    for pilot, seed in ((first, 11), (second, 11), (other, 12)):
        simulate_claims(pilot=pilot, seed=seed, until=UNTIL)
    # then
    assert Claim.objects.filter(pilot=first).exists()
    assert fingerprint(first) == fingerprint(second)
    assert fingerprint(first) != fingerprint(other)


def test_the_claims_pass_gives_every_page_something(admin, people):
    # given: a milestone pilot with six months of history, and a staged contract
    pilot = pilot_with(admin, people, "functional-recovery")
    contract = pilot_with(admin, people, "discharge-pathway")
    history(pilot, seed=8, participants=60, months=6)
    chains = [log.pilot_chain(p.slug) for p in (pilot, contract)]
    before = {c: AuditRecord.objects.filter(chain=c).count() for c in chains}
    # when
    result = simulate_claims(pilot=pilot, seed=8, until=UNTIL)
    tranches = simulate_claims(pilot=contract, seed=8, until=UNTIL)
    # then: one audit record per action, every chain verifies, nothing after `until`
    for chain, run in zip(chains, (result, tranches), strict=True):
        assert AuditRecord.objects.filter(chain=chain).count() == before[chain] + run.actions
        assert log.verify(chain).ok
        new = AuditRecord.objects.filter(chain=chain, seq__gt=before[chain])
        assert new.aggregate(last=Max("at"))["last"] <= UNTIL
    # and: claims in every status, reviewed for readiness, verified on time and late
    claims = Claim.objects.filter(pilot=pilot)
    assert result.by_action["claim.draft"] == claims.count()
    assert result.by_action["evidence.upload"] == Evidence.objects.filter(pilot=pilot).count()
    statuses = {"draft", "ready", "submitted", "payable", "rejected"}
    assert set(claims.values_list("status", flat=True)) == statuses
    reviewed = ReadinessReview.objects.filter(claim__pilot=pilot)
    assert reviewed.count() == claims.exclude(status="draft").count()
    verifications = Verification.objects.filter(claim__pilot=pilot)
    assert set(verifications.values_list("outcome", flat=True)) == {"verified", "rejected"}
    assert verifications.filter(late_days__gt=0).exists()
    assert Evidence.objects.filter(pilot=pilot, reused=True).exists()
    # and: a sample audited (some failing) and appraised
    audits = SampleAudit.objects.filter(item__sample__pilot=pilot)
    assert audits.exists()
    assert any(a.supported_amount < a.paid_amount for a in audits)
    assert Appraisal.objects.filter(sample__pilot=pilot).exists()
    # and: disputes, one overturning a rejection (the claim is payable on the new decision)
    disputes = Dispute.objects.filter(pilot=pilot)
    overturned = disputes.get(subject_kind="verification", outcome="overturned")
    assert overturned.verification.claim.status == "payable"
    assert {d.subject_kind for d in disputes} == {"verification", "sample_audit", "activation"}
    # and: the first tranche rejected, cured within its period and released
    t1 = Claim.objects.filter(pilot=contract, tranche="T1").order_by("pk")
    assert [c.status for c in t1] == ["rejected", "payable"]
    assert t1[1].resubmission_of == t1[0]
    # and: T2 needs live use (referrals) the staged contract pilot cannot have: not claimed
    pending = {"T2": "not claimed", "T3": "not claimed", "T4": "not claimed"}
    assert tranches.tranches == {"T1": "payable", **pending}


def test_a_seed_is_claimed_once(admin, people):
    # given
    pilot = pilot_with(admin, people, "functional-recovery")
    history(pilot, seed=9, participants=8, months=2)
    simulate_claims(pilot=pilot, seed=9, until=UNTIL)
    count = AuditRecord.objects.count()
    # when
    with pytest.raises(Refused) as refused:
        simulate_claims(pilot=pilot, seed=9, until=UNTIL)
    # then
    assert refused.value.code == "already_simulated"
    assert AuditRecord.objects.count() == count


def test_the_simulate_command_claims_a_staged_contract(admin, people):
    # given: the staged contract pilot, which enrols no participants
    from tests.test_cli import run

    contract = pilot_with(admin, people, "discharge-pathway")
    make_person("office-finance", admin.organisation, admin, Role.FINANCE, contract)
    # when
    result = run(
        "simulate", "--pilot", contract.slug, "--until", "2026-06-30", "--by", "admin", "--json"
    )
    # then: no lifecycle history, only the contract's claims
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert "participants" not in summary
    assert summary["claims"]["tranches"]["T1"] == "payable"
    assert summary["claims"]["by_status"] == {"payable": 1, "rejected": 1}
    assert summary["claims"]["actions"] == sum(summary["claims"]["by_action"].values())
    # and its money: each month ended by then paid, once; T1's release paid in full
    money = summary["money"]
    assert money["months"] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    assert money["by_action"]["payment.run"] == 5
    assert money["refused"] == []
    t1 = contract.rulebook.tranches[0]
    assert Decimal(money["paid"]) == t1.amount
    assert Transaction.objects.filter(basis_key=f"tranche:{contract.slug}:{t1.code}").count() == 1
