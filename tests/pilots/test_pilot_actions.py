import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.pilots import actions
from fundpilot.pilots.models import Membership, Party, Pilot, RulebookVersion
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation


def _counts() -> tuple[int, int, int, int]:
    return (
        Pilot.objects.count(),
        RulebookVersion.objects.count(),
        Membership.objects.count(),
        AuditRecord.objects.count(),
    )


def test_it_creates_a_pilot_with_version_one_and_one_audit_record(admin):
    # given
    before = AuditRecord.objects.filter(chain="pilot:recovery-2026").count()
    # when
    pilot = actions.create_pilot(document=example("functional-recovery"), by=admin, at=NOW)
    # then
    assert pilot.slug == "recovery-2026"
    assert pilot.current.number == 1
    assert pilot.current.approved_by == admin
    records = AuditRecord.objects.filter(chain="pilot:recovery-2026")
    assert records.count() - before == 1
    record = records.get()
    assert (record.action, record.actor, record.role, record.rulebook_version) == (
        "pilot.create",
        "admin",
        "administrator",
        1,
    )
    assert record.payload["rulebook_sha256"] == pilot.current.sha256


def test_it_refuses_an_invalid_rulebook_and_writes_nothing(admin):
    before = _counts()
    with pytest.raises(Refused) as refused:
        actions.create_pilot(document='[pilot]\nid = "x"\n', by=admin, at=NOW)
    assert refused.value.code == "rulebook_invalid"
    assert refused.value.field
    assert _counts() == before


def test_it_refuses_a_second_pilot_with_the_same_id(pilot, admin):
    before = _counts()
    with pytest.raises(Refused) as refused:
        actions.create_pilot(document=example("functional-recovery"), by=admin, at=NOW)
    assert (refused.value.code, refused.value.field) == ("pilot_exists", "pilot.id")
    assert _counts() == before


def test_only_an_administrator_creates_pilots(admin, provider):
    person = make_person("frontline", provider, admin)
    before = _counts()
    with pytest.raises(NotPermitted):
        actions.create_pilot(document=example("functional-recovery"), by=person, at=NOW)
    assert _counts() == before


def test_a_role_must_fit_the_persons_organisation(pilot, admin, provider):
    person = make_person("jo", provider, admin)
    before = _counts()
    with pytest.raises(Refused) as refused:
        actions.grant_role(user=person, role=Role.VERIFIER, pilot=pilot, by=admin, at=NOW)
    assert (refused.value.code, refused.value.field) == ("role_org_mismatch", "role")
    assert _counts() == before


def test_a_payer_representative_needs_a_payer_party(pilot, admin):
    payer = organisation("some-plan", OrgKind.PAYER, admin)
    person = make_person("rep", payer, admin)
    with pytest.raises(Refused) as refused:
        actions.grant_role(user=person, role=Role.PAYER_REP, pilot=pilot, by=admin, at=NOW)
    assert refused.value.code == "not_a_payer_party"
    payer_id = pilot.rulebook.payers[0].id
    actions.add_party(pilot=pilot, organisation=payer, payer_id=payer_id, by=admin, at=NOW)
    actions.grant_role(user=person, role=Role.PAYER_REP, pilot=pilot, by=admin, at=NOW)
    assert Membership.objects.filter(user=person, role=Role.PAYER_REP, pilot=pilot).exists()


def test_a_party_must_be_a_payer_the_rulebook_names(pilot, admin, provider):
    payer = organisation("plan", OrgKind.PAYER, admin)
    before = Party.objects.count()
    with pytest.raises(Refused) as unknown:
        actions.add_party(pilot=pilot, organisation=payer, payer_id="nobody", by=admin, at=NOW)
    with pytest.raises(Refused) as wrong_kind:
        actions.add_party(
            pilot=pilot,
            organisation=provider,
            payer_id=pilot.rulebook.payers[0].id,
            by=admin,
            at=NOW,
        )
    assert (unknown.value.code, wrong_kind.value.code) == ("unknown_payer", "not_a_payer")
    assert Party.objects.count() == before


def test_bootstrap_is_refused_once_an_administrator_exists(admin, provider):
    before = _counts()
    with pytest.raises(Refused) as refused:
        actions.create_organisation(code="rogue", name="Rogue", kind="provider", by=None, at=NOW)
    assert refused.value.code == "bootstrap_done"
    assert _counts() == before


def test_nobody_without_the_right_grants_roles(pilot, admin, provider):
    person = make_person("sup", provider, admin, Role.SUPERVISOR, pilot)
    other = make_person("other", provider, admin)
    with pytest.raises(NotPermitted):
        actions.grant_role(user=other, role=Role.FRONTLINE, pilot=pilot, by=person, at=NOW)
    with pytest.raises(NotPermitted):
        actions.grant_role(user=person, role=Role.ADMINISTRATOR, pilot=None, by=person, at=NOW)
    assert not Membership.objects.filter(user=other).exists()
