"""C6 progression reconciliation (recovery-2026): every 14 calendar days the supervisor
records progressed, stalled or escalated; the dependency count comes from the barrier
tracker and progress must be evidenced in the delivery log."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import care
from fundpilot.participants.models import Participant, ProgressionReview
from fundpilot.pilots.models import User
from fundpilot.rules.vocabulary import Role
from tests.conftest import make_person
from tests.participants.care_fixtures import ACTIVATED, assert_refused

# Tuesday 17 March 2026, 11:00 in Oregon: the first review is due that day.
REVIEWED = datetime(2026, 3, 17, 18, 0, tzinfo=UTC)


def _work(participant: Participant, staff: dict[Role, User], occurred_at: datetime) -> None:
    care.record_activity(
        participant=participant,
        activity_type="face_to_face",
        occurred_at=occurred_at,
        by=staff[Role.FRONTLINE],
        at=occurred_at + timedelta(hours=1),
    )


def _review(participant: Participant, staff: dict[Role, User], **changes: Any) -> ProgressionReview:
    fields: dict[str, Any] = {
        "participant": participant,
        "outcome": "progressed",
        "review_date": date(2026, 3, 17),
        "by": staff[Role.SUPERVISOR],
        "at": REVIEWED,
    }
    return care.review_progression(**(fields | changes))


def _escalation(staff: dict[Role, User], **changes: Any) -> dict[str, Any]:
    return {
        "outcome": "escalated",
        "escalation_owner": staff[Role.RECOVERY_LEAD],
        "escalation_status": "ESC-CRISIS",
        "next_checkpoint": date(2026, 3, 20),
    } | changes


def test_a_progressed_review_counts_open_barriers_and_sets_the_next_review(
    activated_participant, staff
):
    # given: work on 10 March, two barriers of which one is resolved
    _work(activated_participant, staff, datetime(2026, 3, 10, 18, 0, tzinfo=UTC))
    opened = [
        care.open_barrier(
            participant=activated_participant,
            category=category,
            description=f"{category} barrier",
            owner=staff[Role.FRONTLINE],
            by=staff[Role.FRONTLINE],
            at=ACTIVATED + timedelta(days=1),
        )
        for category in ("housing", "transport")
    ]
    care.resolve_barrier(
        barrier=opened[0], by=staff[Role.FRONTLINE], at=ACTIVATED + timedelta(days=2)
    )
    # when
    review = _review(activated_participant, staff)
    # then
    assert ProgressionReview.objects.get() == review
    assert (review.outcome, review.review_date, review.unresolved_dependencies) == (
        "progressed",
        date(2026, 3, 17),
        1,
    )
    assert (review.stall_code, review.escalation_status, review.escalation_owner) == ("", "", None)
    assert (review.decided_by, review.decided_at, review.rulebook_version) == (
        staff[Role.SUPERVISOR],
        REVIEWED,
        1,
    )
    assert (review.due, review.late_days) == (date(2026, 3, 17), 0)
    assert Participant.objects.get(pk=activated_participant.pk).next_review_due == date(2026, 3, 31)
    assert activated_participant.next_review_due == date(2026, 3, 31)
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.subject) == (
        "progression.review",
        "rs-supervisor",
        "participant:P-0001",
    )
    assert (record.payload["unresolved_dependencies"], record.payload["next_review_due"]) == (
        1,
        "2026-03-31",
    )


def test_a_late_review_counts_business_days_to_when_it_was_recorded(activated_participant, staff):
    # given: due Tuesday 17 March
    _work(activated_participant, staff, ACTIVATED + timedelta(days=1))
    # when: dated the 17th but recorded on Thursday 19 March
    review = _review(activated_participant, staff, at=REVIEWED + timedelta(days=2))
    # then
    assert (review.due, review.late_days) == (date(2026, 3, 17), 2)
    assert Participant.objects.get(pk=activated_participant.pk).next_review_due == date(2026, 3, 31)


def test_a_stalled_review_carries_its_coded_explanation(activated_participant, staff):
    review = _review(activated_participant, staff, outcome="stalled", stall_code="ST-HOUSING")
    assert (review.outcome, review.stall_code, review.unresolved_dependencies) == (
        "stalled",
        "ST-HOUSING",
        0,
    )


def test_an_escalated_review_has_an_owner_a_threshold_and_a_checkpoint(
    activated_participant, staff
):
    review = _review(activated_participant, staff, **_escalation(staff))
    assert (review.outcome, review.escalation_owner, review.escalation_status) == (
        "escalated",
        staff[Role.RECOVERY_LEAD],
        "ESC-CRISIS",
    )
    assert review.next_checkpoint == date(2026, 3, 20)
    assert AuditRecord.objects.latest("pk").payload["escalation_owner"] == "rs-recovery_lead"


def test_the_next_progress_needs_work_since_the_last_review(activated_participant, staff):
    # given: reviewed on 17 March on work of the 17th itself
    _work(activated_participant, staff, REVIEWED - timedelta(hours=2))
    _review(activated_participant, staff)
    second = {"review_date": date(2026, 3, 31), "at": REVIEWED + timedelta(days=14)}
    # when / then: nothing since, so no progress
    assert_refused(
        "no_evidenced_activity",
        _review,
        participant=activated_participant,
        staff=staff,
        **second,
    )
    _work(activated_participant, staff, REVIEWED + timedelta(days=3))
    review = _review(activated_participant, staff, **second)
    assert (review.due, review.late_days) == (date(2026, 3, 31), 0)
    assert Participant.objects.get(pk=activated_participant.pk).next_review_due == date(2026, 4, 14)


# --- refusals -----------------------------------------------------------------------


def test_only_a_supervisor_reviews(activated_participant, staff):
    assert_refused(
        "not_permitted",
        _review,
        participant=activated_participant,
        staff=staff,
        by=staff[Role.FRONTLINE],
    )


def test_another_providers_supervisor_may_not_review(
    pilot, activated_participant, staff, admin, other_provider
):
    theirs = make_person("ns-supervisor", other_provider, admin, Role.SUPERVISOR, pilot)
    assert_refused(
        "other_organisation", _review, participant=activated_participant, staff=staff, by=theirs
    )


def test_no_review_before_activation(eligible_participant, staff):
    assert_refused("not_activated", _review, participant=eligible_participant, staff=staff)


def test_an_unknown_outcome_is_refused(activated_participant, staff):
    assert_refused(
        "unknown_outcome", _review, participant=activated_participant, staff=staff, outcome="done"
    )


def test_a_review_is_not_dated_in_the_future(activated_participant, staff):
    assert_refused(
        "review_date_invalid",
        _review,
        participant=activated_participant,
        staff=staff,
        outcome="stalled",
        stall_code="ST-CONTACT",
        review_date=date(2026, 3, 18),
    )


def test_a_review_is_not_dated_before_activation(activated_participant, staff):
    assert_refused(
        "review_date_invalid",
        _review,
        participant=activated_participant,
        staff=staff,
        outcome="stalled",
        stall_code="ST-CONTACT",
        review_date=date(2026, 3, 2),
    )


def test_a_review_is_dated_after_the_last_one(activated_participant, staff):
    _review(activated_participant, staff, outcome="stalled", stall_code="ST-CONTACT")
    assert_refused(
        "already_reviewed",
        _review,
        participant=activated_participant,
        staff=staff,
        outcome="stalled",
        stall_code="ST-CONTACT",
        at=REVIEWED + timedelta(hours=1),
    )


def test_a_stalled_case_needs_a_coded_explanation(activated_participant, staff):
    assert_refused(
        "stall_code_required",
        _review,
        participant=activated_participant,
        staff=staff,
        outcome="stalled",
    )


def test_an_unknown_stall_code_is_refused(activated_participant, staff):
    assert_refused(
        "unknown_stall_code",
        _review,
        participant=activated_participant,
        staff=staff,
        outcome="stalled",
        stall_code="ST-BORED",
    )


def test_an_escalation_needs_a_named_owner(activated_participant, staff):
    assert_refused(
        "escalation_owner_required",
        _review,
        participant=activated_participant,
        staff=staff,
        **_escalation(staff, escalation_owner=None),
    )


def test_an_escalation_names_its_threshold(activated_participant, staff):
    assert_refused(
        "escalation_status_required",
        _review,
        participant=activated_participant,
        staff=staff,
        **_escalation(staff, escalation_status=""),
    )


def test_an_escalation_needs_a_dated_next_checkpoint(activated_participant, staff):
    assert_refused(
        "next_checkpoint_required",
        _review,
        participant=activated_participant,
        staff=staff,
        **_escalation(staff, next_checkpoint=None),
    )


def test_the_escalation_owner_holds_a_role_in_the_pilot(activated_participant, staff, outsider):
    assert_refused(
        "owner_lacks_role",
        _review,
        participant=activated_participant,
        staff=staff,
        **_escalation(staff, escalation_owner=outsider),
    )


def test_an_unknown_escalation_threshold_is_refused(activated_participant, staff):
    assert_refused(
        "unknown_escalation_code",
        _review,
        participant=activated_participant,
        staff=staff,
        **_escalation(staff, escalation_status="open"),
    )


def test_the_next_checkpoint_comes_after_the_review(activated_participant, staff):
    assert_refused(
        "checkpoint_not_after_review",
        _review,
        participant=activated_participant,
        staff=staff,
        **_escalation(staff, next_checkpoint=date(2026, 3, 17)),
    )


def test_progress_must_be_evidenced_in_the_delivery_log(activated_participant, staff):
    error = assert_refused(
        "no_evidenced_activity", _review, participant=activated_participant, staff=staff
    )
    assert error.field == "outcome"
