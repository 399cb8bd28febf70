"""Receiving a referral from any source ("no wrong door"); its C1 file falls due."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import intake
from fundpilot.participants.models import Referral
from fundpilot.pilots import actions
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation
from tests.participants.conftest import snapshot


def _receive(pilot, staff, **changes: Any) -> Referral:
    manager = staff[Role.ENROLLMENT_MANAGER]
    fields: dict[str, Any] = {
        "pilot": pilot,
        "reference": "REF-1",
        "participant_id": "P-0001",
        "payer_id": "wvch",
        "member_id": "WV-0001",
        "source": "ED",
        "provider": manager.organisation,
        "service_category": "SMI-OP",
        "referred_at": NOW - timedelta(hours=2),
        "geography": "marion",
        "by": manager,
        "at": NOW,
    }
    return intake.receive_referral(**(fields | changes))


def _refused(pilot, staff, **changes: Any) -> Refused:
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _receive(pilot, staff, **changes)
    assert snapshot() == before
    return refused.value


def test_it_receives_a_referral_with_its_file_due_the_next_business_day(pilot, staff):
    # when
    referral = _receive(pilot, staff)
    # then
    assert Referral.objects.get() == referral
    assert (referral.reference, referral.participant_id, referral.member_id) == (
        "REF-1",
        "P-0001",
        "WV-0001",
    )
    assert (referral.source, referral.provider.code, referral.geography) == (
        "ED",
        "riverside",
        "marion",
    )
    assert referral.received_by == staff[Role.ENROLLMENT_MANAGER]
    assert referral.file_due == datetime(2026, 3, 3).date()
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.role, record.organisation, record.subject) == (
        "referral.receive",
        "rs-enrollment_manager",
        "enrollment_manager",
        "riverside",
        "participant:P-0001",
    )
    assert record.payload["file_due"] == "2026-03-03"
    assert record.rulebook_version == 1


def test_a_friday_referral_is_due_on_monday(pilot, staff):
    friday_noon_in_oregon = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    referral = _receive(pilot, staff, referred_at=friday_noon_in_oregon, at=friday_noon_in_oregon)
    assert referral.file_due == datetime(2026, 3, 9).date()


def test_the_due_date_counts_from_the_pilots_local_date(pilot, staff):
    # 06:00 UTC on 3 March is 22:00 on Monday 2 March in Oregon
    late_evening = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    referral = _receive(pilot, staff, referred_at=late_evening, at=late_evening)
    assert referral.file_due == datetime(2026, 3, 3).date()


@pytest.mark.parametrize("source", ["ED", "CRISIS", "PCP", "CBO", "REENTRY", "SELF"])
def test_no_wrong_door_every_source_is_received(pilot, staff, source):
    referral = _receive(pilot, staff, reference=f"REF-{source}", source=source)
    assert referral.source == source


def test_it_refuses_a_pilot_without_eligibility_rules(pilot, staff, admin, provider):
    # given a staged-contract pilot that enrols no participants
    other = actions.create_pilot(document=example("discharge-pathway"), by=admin, at=NOW)
    actions.add_party(pilot=other, organisation=provider, by=admin, at=NOW)
    manager = staff[Role.ENROLLMENT_MANAGER]
    actions.grant_role(user=manager, role=Role.ENROLLMENT_MANAGER, pilot=other, by=admin, at=NOW)
    before = snapshot()
    # when
    with pytest.raises(Refused) as refused:
        _receive(other, staff)
    # then
    assert (refused.value.code, refused.value.field) == ("no_eligibility_rules", "pilot")
    assert snapshot() == before


@pytest.mark.parametrize("field", ["reference", "participant_id", "member_id"])
def test_it_refuses_a_blank_identifier(pilot, staff, field):
    refused = _refused(pilot, staff, **{field: "  "})
    assert (refused.code, refused.field) == ("required", field)


def test_it_refuses_an_unknown_source(pilot, staff):
    refused = _refused(pilot, staff, source="WALK-IN")
    assert (refused.code, refused.field) == ("unknown_source", "source")


def test_it_refuses_a_payer_not_in_the_rulebook(pilot, staff):
    refused = _refused(pilot, staff, payer_id="acme")
    assert (refused.code, refused.field) == ("unknown_payer", "payer_id")


def test_it_refuses_a_service_category_that_does_not_qualify(pilot, staff):
    refused = _refused(pilot, staff, service_category="DENTAL")
    assert (refused.code, refused.field) == ("unknown_service_category", "service_category")


def test_it_refuses_an_unknown_geography(pilot, staff):
    refused = _refused(pilot, staff, geography="lane")
    assert (refused.code, refused.field) == ("unknown_geography", "geography")


def test_it_refuses_an_organisation_that_is_not_a_provider(pilot, staff, admin, payer_org):
    # given an enrollment manager who is also an auditor, so sees every provider
    manager = staff[Role.ENROLLMENT_MANAGER]
    actions.grant_role(user=manager, role=Role.AUDITOR, pilot=pilot, by=admin, at=NOW)
    # when / then
    refused = _refused(pilot, staff, provider=payer_org)
    assert (refused.code, refused.field) == ("not_a_provider", "provider")


def test_it_refuses_a_provider_that_is_not_a_party(pilot, staff, admin):
    lakeside = organisation("lakeside", OrgKind.PROVIDER, admin)
    manager = make_person("ls-manager", lakeside, admin, Role.ENROLLMENT_MANAGER, pilot)
    refused = _refused(pilot, staff, provider=lakeside, by=manager)
    assert (refused.code, refused.field) == ("not_a_party", "provider")


def test_it_refuses_a_referral_dated_in_the_future(pilot, staff):
    refused = _refused(pilot, staff, referred_at=NOW + timedelta(minutes=1))
    assert (refused.code, refused.field) == ("referred_in_future", "referred_at")


def test_it_refuses_a_referral_before_the_pilot_period(pilot, staff):
    # 1 January 2026 06:00 UTC is still 31 December 2025 in Oregon
    refused = _refused(pilot, staff, referred_at=datetime(2026, 1, 1, 6, 0, tzinfo=UTC))
    assert (refused.code, refused.field) == ("outside_pilot_period", "referred_at")


def test_it_refuses_a_second_referral_with_the_same_reference(pilot, staff):
    _receive(pilot, staff)
    refused = _refused(pilot, staff, participant_id="P-0002", member_id="WV-0002")
    assert (refused.code, refused.field) == ("duplicate_reference", "reference")


def test_only_an_enrollment_manager_receives_referrals(pilot, staff):
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _receive(pilot, staff, by=staff[Role.FRONTLINE])
    assert refused.value.code == "not_permitted"
    assert snapshot() == before


def test_provider_staff_receive_only_for_their_own_organisation(pilot, staff, other_provider):
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _receive(pilot, staff, provider=other_provider)
    assert refused.value.code == "other_organisation"
    assert snapshot() == before
