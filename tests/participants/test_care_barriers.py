"""C5 barrier tracker: each barrier or dependency has an owner and stays visible until
resolved."""

from datetime import timedelta
from typing import Any

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import care, intake
from fundpilot.participants.models import Barrier, Participant
from fundpilot.pilots.models import User
from fundpilot.rules.vocabulary import Role
from tests.conftest import make_person
from tests.participants.care_fixtures import ACTIVATED, assert_refused

OPENED = ACTIVATED + timedelta(hours=2)
RESOLVED = OPENED + timedelta(days=2)


def _open(participant: Participant, staff: dict[Role, User], **changes: Any) -> Barrier:
    fields: dict[str, Any] = {
        "participant": participant,
        "category": "housing",
        "description": "Eviction notice; needs a housing voucher",
        "owner": staff[Role.SUPERVISOR],
        "by": staff[Role.FRONTLINE],
        "at": OPENED,
    }
    return care.open_barrier(**(fields | changes))


def _resolve(barrier: Barrier, staff: dict[Role, User], **changes: Any) -> Barrier:
    fields: dict[str, Any] = {"barrier": barrier, "by": staff[Role.SUPERVISOR], "at": RESOLVED}
    return care.resolve_barrier(**(fields | changes))


def test_it_opens_a_barrier_with_an_owner(activated_participant, staff):
    # when
    barrier = _open(activated_participant, staff)
    # then
    assert Barrier.objects.get() == barrier
    assert (barrier.category, barrier.description) == (
        "housing",
        "Eviction notice; needs a housing voucher",
    )
    assert (barrier.owner, barrier.opened_by, barrier.opened_at) == (
        staff[Role.SUPERVISOR],
        staff[Role.FRONTLINE],
        OPENED,
    )
    assert (barrier.resolved_by, barrier.resolved_at) == (None, None)
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.subject, record.payload["owner"]) == (
        "barrier.open",
        "participant:P-0001",
        "rs-supervisor",
    )


def test_the_owner_may_be_anyone_with_a_role_in_the_pilot(activated_participant, staff):
    barrier = _open(activated_participant, staff, owner=staff[Role.COMPLIANCE])
    assert barrier.owner == staff[Role.COMPLIANCE]


def test_it_resolves_a_barrier(activated_participant, staff):
    # given
    barrier = _open(activated_participant, staff)
    # when
    resolved = _resolve(barrier, staff)
    # then
    stored = Barrier.objects.get()
    assert (stored.resolved_by, stored.resolved_at) == (staff[Role.SUPERVISOR], RESOLVED)
    assert (resolved.resolved_by, barrier.resolved_at) == (staff[Role.SUPERVISOR], RESOLVED)
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.payload["barrier"]) == (
        "barrier.resolve",
        "rs-supervisor",
        barrier.pk,
    )


# --- refusals -----------------------------------------------------------------------


def test_a_clinical_lead_does_not_manage_barriers(activated_participant, staff):
    assert_refused(
        "not_permitted",
        _open,
        participant=activated_participant,
        staff=staff,
        by=staff[Role.CLINICAL_LEAD],
    )


def test_another_providers_staff_may_not_open_barriers(
    pilot, activated_participant, staff, admin, other_provider
):
    theirs = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    assert_refused(
        "other_organisation", _open, participant=activated_participant, staff=staff, by=theirs
    )


def test_no_barrier_before_activation(eligible_participant, staff):
    assert_refused("not_activated", _open, participant=eligible_participant, staff=staff)


def test_an_unknown_category_is_refused(activated_participant, staff):
    assert_refused(
        "unknown_barrier_category",
        _open,
        participant=activated_participant,
        staff=staff,
        category="weather",
    )


def test_a_barrier_needs_a_description(activated_participant, staff):
    assert_refused(
        "description_required",
        _open,
        participant=activated_participant,
        staff=staff,
        description=" ",
    )


def test_the_owner_must_hold_a_role_in_the_pilot(activated_participant, staff, outsider):
    error = assert_refused(
        "owner_lacks_role", _open, participant=activated_participant, staff=staff, owner=outsider
    )
    assert error.field == "owner"


def test_only_barrier_managers_resolve(activated_participant, staff):
    barrier = _open(activated_participant, staff)
    assert_refused(
        "not_permitted", _resolve, barrier=barrier, staff=staff, by=staff[Role.QUALITY_REVIEWER]
    )


def test_no_resolution_once_the_participant_left_the_roster(activated_participant, staff):
    barrier = _open(activated_participant, staff)
    intake.remove_from_roster(
        participant=activated_participant,
        reason_code="RM-MOVED",
        by=staff[Role.ACTIVATION_APPROVER],
        at=OPENED,
    )
    assert_refused("not_activated", _resolve, barrier=barrier, staff=staff)


def test_a_barrier_is_resolved_once(activated_participant, staff):
    barrier = _open(activated_participant, staff)
    _resolve(barrier, staff)
    assert_refused(
        "already_resolved",
        _resolve,
        barrier=Barrier.objects.get(),
        staff=staff,
        at=RESOLVED + timedelta(hours=1),
    )


def test_a_barrier_is_not_resolved_before_it_opened(activated_participant, staff):
    barrier = _open(activated_participant, staff)
    assert_refused(
        "resolved_before_opened",
        _resolve,
        barrier=barrier,
        staff=staff,
        at=OPENED - timedelta(minutes=1),
    )
