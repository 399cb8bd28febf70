"""Helpers for the care tests (C3–C6, engagement): the blended-rate pilot blended-2026
with its own staff and participants, a participant without a screening record, and a
stricter snapshot for refusals.

All state is built through the real actions. Times: the standing participant P-0001 of
recovery-2026 is activated at ACTIVATED (Tuesday 3 March 2026, 09:00 in Oregon); the
blended participant B-0001 at the same instant (12:00 in North Carolina).
"""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fundpilot.participants.actions import intake
from fundpilot.participants.models import (
    Barrier,
    EligibilityEntry,
    ImportBatch,
    Participant,
    ServiceLevelRequest,
)
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation
from tests.participants.conftest import PROVIDER_ROLES, register_rows, snapshot

ACTIVATED = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)
BLENDED_PAYER = "php"
BLENDED_REGISTER_CSV = (
    "member_id,payer,coverage_start,coverage_end,status\n"
    "PHP-0001,php,2026-01-01,2026-12-31,active\n"
    "PHP-0002,php,2026-01-01,2026-12-31,active\n"
)


def care_snapshot() -> dict[str, object]:
    """`snapshot()` plus the state care actions change in place."""
    state = snapshot()
    state["levels"] = list(Participant.objects.order_by("pk").values_list("service_level"))
    state["requests"] = list(
        ServiceLevelRequest.objects.order_by("pk").values_list(
            "status", "approver_id", "rationale", "expected_duration_days", "late_days"
        )
    )
    state["barriers"] = list(
        Barrier.objects.order_by("pk").values_list("resolved_by_id", "resolved_at")
    )
    return state


def assert_refused(code: str, action: Callable[..., Any], **kwargs: Any) -> Refused:
    """Call the action, expect it refused with `code`, and that nothing was written."""
    before = care_snapshot()
    with pytest.raises(Refused) as refused:
        action(**kwargs)
    assert refused.value.code == code, refused.value
    assert care_snapshot() == before
    return refused.value


def person(username: str, org: Organisation, admin: User, pilot: Pilot, *roles: Role) -> User:
    """Someone holding each of `roles` in the pilot."""
    user = make_person(username, org, admin, roles[0], pilot)
    for role in roles[1:]:
        actions.grant_role(user=user, role=role, pilot=pilot, by=admin, at=NOW)
    return User.objects.get(pk=user.pk)


# --- recovery-2026 ------------------------------------------------------------------


def admit_without_screening(
    pilot: Pilot, staff: dict[Role, User], *, participant_id: str, member_id: str
) -> Participant:
    """An activated recovery-2026 participant whose only assessment is the baseline."""
    manager = staff[Role.ENROLLMENT_MANAGER]
    referral = intake.receive_referral(
        pilot=pilot,
        reference=f"REF-{participant_id}",
        participant_id=participant_id,
        payer_id="wvch",
        member_id=member_id,
        source="CBO",
        provider=manager.organisation,
        service_category="SMI-OP",
        referred_at=NOW,
        by=manager,
        at=NOW,
    )
    baseline = intake.record_assessment(
        pilot=pilot,
        participant_id=participant_id,
        kind="baseline",
        tool="whodas-12",
        tool_version="2.0",
        score=Decimal("75.00"),
        signed_by="Dr. Rosa Diaz",
        signed_at=NOW,
        by=manager,
        at=NOW,
    )
    intake.file_eligibility(
        referral=referral,
        assessment=baseline,
        participant_id=participant_id,
        payer_status="active",
        baseline_score=Decimal("75.00"),
        service_category="SMI-OP",
        proposed_start=NOW.date() + timedelta(days=7),
        by=manager,
        at=NOW + timedelta(hours=2),
    )
    participant = Participant.objects.get(pilot=pilot, participant_id=participant_id)
    intake.decide_activation(
        participant=participant,
        outcome="activated",
        decision_code="A1",
        review_date=ACTIVATED.date(),
        control_status="passed",
        by=staff[Role.ACTIVATION_APPROVER],
        at=ACTIVATED,
    )
    return Participant.objects.get(pk=participant.pk)


# --- blended-2026 -------------------------------------------------------------------


def blended_pilot(admin: User, provider: Organisation, other_provider: Organisation) -> Pilot:
    """The blended-rate example pilot, with riverside, northstar and the payer php."""
    pilot = actions.create_pilot(document=example("blended-rate"), by=admin, at=NOW)
    payer = organisation("php-health", OrgKind.PAYER, admin)
    for org, payer_id in ((provider, ""), (other_provider, ""), (payer, BLENDED_PAYER)):
        actions.add_party(pilot=pilot, organisation=org, payer_id=payer_id, by=admin, at=NOW)
    return pilot


def blended_staff(pilot: Pilot, admin: User, provider: Organisation) -> dict[Role, User]:
    """Riverside staff of blended-2026 ("bl-<role>"), a pilot-office compliance person,
    and php's register loaded."""
    people = {
        role: make_person(f"bl-{role.value}", provider, admin, role, pilot)
        for role in PROVIDER_ROLES
    }
    office = admin.organisation
    people[Role.COMPLIANCE] = make_person("bl-compliance", office, admin, Role.COMPLIANCE, pilot)
    people[Role.ADMINISTRATOR] = admin
    _load_blended_register(pilot, people[Role.COMPLIANCE])
    return people


def _load_blended_register(pilot: Pilot, by: User) -> None:
    """Through the real import action once it exists (as `load_register` does)."""
    try:
        from fundpilot.participants.imports import import_eligibility
    except ModuleNotFoundError as missing:
        if missing.name != "fundpilot.participants.imports":
            raise
    else:
        import_eligibility(
            pilot=pilot,
            payer_id=BLENDED_PAYER,
            filename="php-register.csv",
            content=BLENDED_REGISTER_CSV.encode(),
            by=by,
            at=NOW,
        )
        return
    rows = register_rows(BLENDED_REGISTER_CSV)
    batch = ImportBatch.objects.create(
        pilot=pilot,
        kind=ImportBatch.ELIGIBILITY,
        payer_id=BLENDED_PAYER,
        filename="php-register.csv",
        sha256=hashlib.sha256(BLENDED_REGISTER_CSV.encode()).hexdigest(),
        rows=len(rows),
        imported_by=by,
        imported_at=NOW,
    )
    EligibilityEntry.objects.bulk_create(
        EligibilityEntry(
            pilot=pilot,
            batch=batch,
            payer_id=payer,
            member_id=member,
            coverage_start=start,
            coverage_end=end,
            status=status,
        )
        for member, payer, start, end, status in rows
    )


def admit_blended(
    pilot: Pilot,
    staff: dict[Role, User],
    *,
    participant_id: str = "B-0001",
    member_id: str = "PHP-0001",
    activate: bool = True,
    acuity_band: str = "moderate",
    geography: str = "guilford",
    barriers: tuple[str, ...] = ("transport",),
) -> Participant:
    """B-0001 of riverside (by default moderate, in guilford): DLA-20 baseline 3.20,
    screening barrier transport; referred at NOW, filed at NOW+2h, activated at
    ACTIVATED (unless `activate` is false)."""
    manager = staff[Role.ENROLLMENT_MANAGER]
    referral = intake.receive_referral(
        pilot=pilot,
        reference=f"REF-{participant_id}",
        participant_id=participant_id,
        payer_id=BLENDED_PAYER,
        member_id=member_id,
        source="PCP",
        provider=manager.organisation,
        service_category="COMPLEX-CM",
        referred_at=NOW,
        geography=geography,
        by=manager,
        at=NOW,
    )
    common: dict[str, Any] = {
        "pilot": pilot,
        "participant_id": participant_id,
        "acuity_band": acuity_band,
        "signed_by": "Dr. Lee Park",
        "signed_at": NOW + timedelta(hours=1),
        "by": manager,
        "at": NOW + timedelta(hours=1),
    }
    baseline = intake.record_assessment(
        **common, kind="baseline", tool="dla-20", tool_version="2.1", score=Decimal("3.20")
    )
    intake.record_assessment(
        **common,
        kind="screening",
        tool="locus",
        tool_version="2020",
        score=Decimal("14"),
        barriers=barriers,
    )
    intake.file_eligibility(
        referral=referral,
        assessment=baseline,
        participant_id=participant_id,
        payer_status="active",
        baseline_score=Decimal("3.20"),
        service_category="COMPLEX-CM",
        proposed_start=NOW.date() + timedelta(days=7),
        by=manager,
        at=NOW + timedelta(hours=2),
    )
    participant = Participant.objects.get(pilot=pilot, participant_id=participant_id)
    if activate:
        intake.decide_activation(
            participant=participant,
            outcome="activated",
            decision_code="A1",
            review_date=ACTIVATED.date(),
            control_status="passed",
            by=staff[Role.ACTIVATION_APPROVER],
            at=ACTIVATED,
        )
    return Participant.objects.get(pk=participant.pk)
