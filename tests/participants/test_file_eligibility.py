"""C1 eligibility file: the only way a referral becomes pilot-eligible."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import intake
from fundpilot.participants.models import Assessment, EligibilityFile, Participant, Referral
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, make_person
from tests.participants.conftest import load_register, snapshot

START = date(2026, 3, 9)


def _refer(pilot, staff, *, reference="REF-1", participant_id="P-0001", member_id="WV-0001"):
    manager = staff[Role.ENROLLMENT_MANAGER]
    return intake.receive_referral(
        pilot=pilot,
        reference=reference,
        participant_id=participant_id,
        payer_id="wvch",
        member_id=member_id,
        source="PCP",
        provider=manager.organisation,
        service_category="SMI-OP",
        referred_at=NOW,
        by=manager,
        at=NOW,
    )


def _assess(pilot, staff, *, participant_id="P-0001", **changes: Any) -> Assessment:
    fields: dict[str, Any] = {
        "pilot": pilot,
        "participant_id": participant_id,
        "kind": "baseline",
        "tool": "whodas-36",
        "tool_version": "2.0",
        "score": Decimal("74.00"),
        "acuity_band": "high",
        "flags": ("homeless",),
        "signed_by": "Dr. Rosa Diaz",
        "signed_at": NOW + timedelta(hours=1),
        "by": staff[Role.ENROLLMENT_MANAGER],
        "at": NOW + timedelta(hours=1),
    }
    return intake.record_assessment(**(fields | changes))


@pytest.fixture
def referral(pilot, staff, register) -> Referral:
    return _refer(pilot, staff)


@pytest.fixture
def baseline(pilot, staff, referral) -> Assessment:
    return _assess(pilot, staff)


def _file(staff, referral, assessment, **changes: Any) -> EligibilityFile:
    fields: dict[str, Any] = {
        "referral": referral,
        "assessment": assessment,
        "participant_id": referral.participant_id,
        "payer_status": "active",
        "baseline_score": assessment.score,
        "service_category": referral.service_category,
        "proposed_start": START,
        "by": staff[Role.ENROLLMENT_MANAGER],
        "at": NOW + timedelta(hours=2),
    }
    return intake.file_eligibility(**(fields | changes))


def _refused(staff, referral, assessment, **changes: Any) -> Refused:
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _file(staff, referral, assessment, **changes)
    assert snapshot() == before
    return refused.value


def test_it_files_eligibility_and_makes_the_referral_a_participant(
    pilot, staff, referral, baseline
):
    # when
    file = _file(staff, referral, baseline)
    # then
    stored = EligibilityFile.objects.get()
    assert stored == file
    assert (stored.participant_id, stored.referral_date, stored.payer_status) == (
        "P-0001",
        date(2026, 3, 2),
        "active",
    )
    assert (stored.baseline_score, stored.service_category, stored.exclusion_code) == (
        Decimal("74.00"),
        "SMI-OP",
        "",
    )
    assert (stored.proposed_start, stored.assessment, stored.decided_by) == (
        START,
        baseline,
        staff[Role.ENROLLMENT_MANAGER],
    )
    assert (stored.due, stored.late_days, stored.rulebook_version) == (date(2026, 3, 3), 0, 1)
    participant = Participant.objects.get()
    assert (participant.participant_id, participant.referral, participant.provider.code) == (
        "P-0001",
        referral,
        "riverside",
    )
    assert (participant.status, participant.acuity_band, participant.flags) == (
        "eligible",
        "high",
        ["homeless"],
    )
    assert (participant.baseline_score, participant.activated_at) == (Decimal("74.00"), None)
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.subject, record.role) == (
        "eligibility.file",
        "participant:P-0001",
        "enrollment_manager",
    )
    assert record.payload["due"] == "2026-03-03"
    assert record.payload["late_days"] == 0


def test_a_late_file_records_how_many_business_days_late(staff, referral, baseline):
    thursday = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)
    file = _file(staff, referral, baseline, at=thursday)
    assert (file.due, file.late_days) == (date(2026, 3, 3), 2)


def test_an_excluded_referral_is_answered_but_makes_no_participant(pilot, staff, referral):
    # given a baseline outside the eligible range (30–100)
    low = _assess(pilot, staff, score=Decimal("22.00"))
    # when
    file = _file(staff, referral, low, exclusion_code="EX-AREA")
    # then
    assert (file.exclusion_code, file.baseline_score) == ("EX-AREA", Decimal("22.00"))
    assert Participant.objects.count() == 0
    assert AuditRecord.objects.latest("pk").payload["exclusion_code"] == "EX-AREA"


def test_the_latest_register_batch_speaks_for_the_payer(pilot, staff, register):
    # given WV-0009, terminated in the first register, reinstated in a later one
    load_register(
        pilot,
        staff[Role.COMPLIANCE],
        "member_id,payer,coverage_start,coverage_end,status\n"
        "WV-0009,wvch,2026-03-01,2026-12-31,active\n",
        at=NOW + timedelta(minutes=10),
    )
    referral = _refer(pilot, staff, member_id="WV-0009")
    # when
    file = _file(staff, referral, _assess(pilot, staff))
    # then
    assert file.payer_status == "active"
    assert Participant.objects.get().status == "eligible"


# --- cannot proceed without --------------------------------------------------------


def test_it_refuses_a_baseline_on_an_unapproved_tool_version(pilot, staff, referral):
    unapproved = _assess(pilot, staff, tool_version="1.1")
    refused = _refused(staff, referral, unapproved)
    assert (refused.code, refused.field) == ("unapproved_tool_version", "assessment")


@pytest.mark.parametrize(
    "member_id",
    [
        "WV-0009",  # terminated
        "WV-0010",  # coverage ended on 28 February
        "WV-7777",  # not in the register
    ],
)
def test_it_refuses_when_payer_eligibility_is_not_active_on_the_start(
    pilot, staff, register, member_id
):
    referral = _refer(pilot, staff, member_id=member_id)
    refused = _refused(staff, referral, _assess(pilot, staff))
    assert (refused.code, refused.field) == ("payer_not_active", "proposed_start")


def test_a_newer_register_that_terminates_the_member_stops_the_file(
    pilot, staff, referral, baseline
):
    load_register(
        pilot,
        staff[Role.COMPLIANCE],
        "member_id,payer,coverage_start,coverage_end,status\n"
        "WV-0001,wvch,2026-01-01,2026-12-31,terminated\n",
        at=NOW + timedelta(minutes=10),
    )
    refused = _refused(staff, referral, baseline)
    assert refused.code == "payer_not_active"


# --- validates ----------------------------------------------------------------------


def test_it_refuses_a_participant_id_that_differs_from_the_referral(staff, referral, baseline):
    refused = _refused(staff, referral, baseline, participant_id="P-0002")
    assert (refused.code, refused.field) == ("participant_mismatch", "participant_id")


def test_it_refuses_a_payer_status_that_differs_from_the_register(staff, referral, baseline):
    refused = _refused(staff, referral, baseline, payer_status="Active")
    assert (refused.code, refused.field) == ("payer_status_mismatch", "payer_status")


def test_it_refuses_a_screening_in_place_of_the_baseline(pilot, staff, referral):
    screening = _assess(pilot, staff, kind="screening", tool="locus", tool_version="2020")
    refused = _refused(staff, referral, screening)
    assert (refused.code, refused.field) == ("not_the_baseline", "assessment")


def test_it_refuses_another_participants_baseline(pilot, staff, referral):
    _refer(pilot, staff, reference="REF-2", participant_id="P-0002", member_id="WV-0002")
    someone_else = _assess(pilot, staff, participant_id="P-0002")
    refused = _refused(staff, referral, someone_else)
    assert (refused.code, refused.field) == ("not_the_baseline", "assessment")


def test_it_refuses_a_score_that_differs_from_the_signed_assessment(staff, referral, baseline):
    refused = _refused(staff, referral, baseline, baseline_score=Decimal("47.00"))
    assert (refused.code, refused.field) == ("score_mismatch", "baseline_score")


def test_it_refuses_a_service_category_that_differs_from_the_referral(staff, referral, baseline):
    refused = _refused(staff, referral, baseline, service_category="ICM")
    assert (refused.code, refused.field) == ("service_category_mismatch", "service_category")


def test_it_refuses_an_unknown_exclusion_code(staff, referral, baseline):
    refused = _refused(staff, referral, baseline, exclusion_code="EX-WHIM")
    assert (refused.code, refused.field) == ("unknown_exclusion", "exclusion_code")


def test_it_refuses_a_baseline_outside_the_eligible_range(pilot, staff, referral):
    low = _assess(pilot, staff, score=Decimal("29.99"))
    refused = _refused(staff, referral, low)
    assert (refused.code, refused.field) == ("score_not_eligible", "baseline_score")


def test_it_refuses_a_start_before_the_referral(staff, referral, baseline):
    refused = _refused(staff, referral, baseline, proposed_start=date(2026, 3, 1))
    assert (refused.code, refused.field) == ("start_before_referral", "proposed_start")


def test_it_refuses_a_start_after_the_pilot_period(pilot, staff, referral, baseline):
    load_register(
        pilot,
        staff[Role.COMPLIANCE],
        "member_id,payer,coverage_start,coverage_end,status\n"
        "WV-0001,wvch,2026-01-01,2027-12-31,active\n",
        at=NOW + timedelta(minutes=10),
    )
    refused = _refused(staff, referral, baseline, proposed_start=date(2027, 1, 4))
    assert (refused.code, refused.field) == ("outside_pilot_period", "proposed_start")


def test_it_refuses_a_second_file_for_the_same_referral(staff, referral, baseline):
    _file(staff, referral, baseline)
    refused = _refused(staff, referral, baseline)
    assert (refused.code, refused.field) == ("already_filed", "referral")


def test_it_refuses_a_second_participant_with_the_same_id(pilot, staff, referral, baseline):
    # given P-0001 is a participant, then referred again
    _file(staff, referral, baseline)
    again = _refer(pilot, staff, reference="REF-1-AGAIN")
    new_baseline = _assess(pilot, staff)
    # when / then
    refused = _refused(staff, again, new_baseline)
    assert (refused.code, refused.field) == ("already_participant", "participant_id")


# --- permission ---------------------------------------------------------------------


def test_a_frontline_lead_may_not_file_eligibility(staff, referral, baseline):
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _file(staff, referral, baseline, by=staff[Role.FRONTLINE])
    assert refused.value.code == "not_permitted"
    assert snapshot() == before


def test_another_providers_enrollment_manager_may_not_file(
    pilot, staff, referral, baseline, admin, other_provider
):
    stranger = make_person("ns-manager", other_provider, admin, Role.ENROLLMENT_MANAGER, pilot)
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _file(staff, referral, baseline, by=stranger)
    assert refused.value.code == "other_organisation"
    assert snapshot() == before
