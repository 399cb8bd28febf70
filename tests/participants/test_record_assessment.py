"""Recording signed assessments: baseline, screening and reassessment."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.actions import intake
from fundpilot.participants.models import Assessment, Referral
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, make_person
from tests.participants.conftest import snapshot


@pytest.fixture
def referral(pilot, staff) -> Referral:
    manager = staff[Role.ENROLLMENT_MANAGER]
    return intake.receive_referral(
        pilot=pilot,
        reference="REF-1",
        participant_id="P-0001",
        payer_id="wvch",
        member_id="WV-0001",
        source="CRISIS",
        provider=manager.organisation,
        service_category="CRISIS-FU",
        referred_at=NOW,
        by=manager,
        at=NOW,
    )


def _record(pilot, staff, **changes: Any) -> Assessment:
    fields: dict[str, Any] = {
        "pilot": pilot,
        "participant_id": "P-0001",
        "kind": "baseline",
        "tool": "whodas-12",
        "tool_version": "2.0",
        "score": Decimal("62.50"),
        "acuity_band": "high",
        "flags": ("homeless", "smi"),
        "barriers": (),
        "signed_by": "Dr. Rosa Diaz",
        "signed_at": NOW + timedelta(minutes=30),
        "by": staff[Role.ENROLLMENT_MANAGER],
        "at": NOW + timedelta(hours=1),
    }
    return intake.record_assessment(**(fields | changes))


def _refused(pilot, staff, **changes: Any) -> Refused:
    before = snapshot()
    with pytest.raises(Refused) as refused:
        _record(pilot, staff, **changes)
    assert snapshot() == before
    return refused.value


def test_it_records_a_signed_baseline_on_an_approved_tool_version(pilot, staff, referral):
    # when
    assessment = _record(pilot, staff)
    # then
    stored = Assessment.objects.get()
    assert stored == assessment
    assert (stored.kind, stored.tool, stored.tool_version, stored.approved_tool) == (
        "baseline",
        "whodas-12",
        "2.0",
        True,
    )
    assert (stored.score, stored.acuity_band, stored.flags) == (
        Decimal("62.50"),
        "high",
        ["homeless", "smi"],
    )
    assert (stored.signed_by, stored.signed_at) == ("Dr. Rosa Diaz", NOW + timedelta(minutes=30))
    assert (stored.recorded_by, stored.rulebook_version) == (staff[Role.ENROLLMENT_MANAGER], 1)
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.subject, record.role) == (
        "assessment.record",
        "participant:P-0001",
        "enrollment_manager",
    )
    assert record.payload["approved_tool"] is True
    assert record.payload["score"] == "62.50"


def test_an_unapproved_tool_version_is_recorded_but_marked_unapproved(pilot, staff, referral):
    assessment = _record(pilot, staff, tool_version="1.0")
    assert Assessment.objects.get(pk=assessment.pk).approved_tool is False
    assert AuditRecord.objects.latest("pk").payload["approved_tool"] is False


def test_a_screening_records_the_barriers_found_once_each(pilot, staff, referral):
    screening = _record(
        pilot,
        staff,
        kind="screening",
        tool="locus",
        tool_version="2020",
        score=Decimal("21"),
        barriers=("housing", "transport", "housing"),
        by=staff[Role.CLINICAL_LEAD],
    )
    assert (screening.kind, screening.barriers) == ("screening", ["housing", "transport"])


def test_it_refuses_a_participant_with_no_referral(pilot, staff, referral):
    refused = _refused(pilot, staff, participant_id="P-9999")
    assert (refused.code, refused.field) == ("no_referral", "participant_id")


def test_it_refuses_an_unknown_kind(pilot, staff, referral):
    refused = _refused(pilot, staff, kind="intake")
    assert (refused.code, refused.field) == ("unknown_assessment_kind", "kind")


def test_it_refuses_a_tool_the_pilot_does_not_know(pilot, staff, referral):
    refused = _refused(pilot, staff, tool="phq-9")
    assert (refused.code, refused.field) == ("unknown_tool", "tool")


def test_it_refuses_a_blank_tool_version(pilot, staff, referral):
    refused = _refused(pilot, staff, tool_version=" ")
    assert (refused.code, refused.field) == ("required", "tool_version")


@pytest.mark.parametrize("score", ["-0.01", "1000.01", "NaN"])
def test_it_refuses_a_score_out_of_range(pilot, staff, referral, score):
    refused = _refused(pilot, staff, score=Decimal(score))
    assert (refused.code, refused.field) == ("score_out_of_range", "score")


def test_it_refuses_a_score_with_more_than_two_decimals(pilot, staff, referral):
    refused = _refused(pilot, staff, score=Decimal("62.505"))
    assert (refused.code, refused.field) == ("score_precision", "score")


def test_it_refuses_an_unknown_acuity_band(pilot, staff, referral):
    refused = _refused(pilot, staff, acuity_band="extreme")
    assert (refused.code, refused.field) == ("unknown_acuity_band", "acuity_band")


def test_it_refuses_an_unknown_subpopulation_flag(pilot, staff, referral):
    refused = _refused(pilot, staff, flags=("smi", "veteran"))
    assert (refused.code, refused.field) == ("unknown_flag", "flags")


def test_it_refuses_an_unknown_barrier_category(pilot, staff, referral):
    refused = _refused(pilot, staff, kind="screening", barriers=("housing", "weather"))
    assert (refused.code, refused.field) == ("unknown_barrier_category", "barriers")


def test_it_refuses_an_unsigned_assessment(pilot, staff, referral):
    refused = _refused(pilot, staff, signed_by="")
    assert (refused.code, refused.field) == ("required", "signed_by")


def test_it_refuses_a_signature_dated_in_the_future(pilot, staff, referral):
    refused = _refused(pilot, staff, signed_at=NOW + timedelta(hours=2))
    assert (refused.code, refused.field) == ("signed_in_future", "signed_at")


def test_compliance_may_not_record_assessments(pilot, staff, referral):
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _record(pilot, staff, by=staff[Role.COMPLIANCE])
    assert refused.value.code == "not_permitted"
    assert snapshot() == before


def test_another_providers_staff_may_not_assess_riversides_referral(
    pilot, staff, referral, admin, other_provider
):
    stranger = make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    before = snapshot()
    with pytest.raises(NotPermitted) as refused:
        _record(pilot, staff, by=stranger)
    assert refused.value.code == "other_organisation"
    assert snapshot() == before
