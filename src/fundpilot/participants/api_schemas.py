"""Schemas of the participant API (fundpilot.participants.api): the read models it
answers with and the bodies it accepts. Decimals travel as strings both ways, times as
ISO 8601 with a zone; people are named by username, organisations by code.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from ninja import Schema
from pydantic import AwareDatetime, BeforeValidator, Field, WithJsonSchema

from fundpilot.participants.models import (
    ActivationDecision,
    Activity,
    Assessment,
    Barrier,
    EligibilityFile,
    Participant,
    Pathway,
    ProgressionReview,
    Referral,
    ServiceLevelRequest,
)
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import User


class RowProblemOut(Schema):
    line: int
    column: str
    reason: str


class ImportRefusal(Error):
    """A refused import: every bad row of the file, with its line and column."""

    problems: list[RowProblemOut] | None = None


def _decimal_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError('send decimals as strings, such as "62.50", never as JSON numbers')
    return value


# Decimals travel as strings both ways: a JSON number is a binary float on most clients.
DecimalText = Annotated[
    Decimal,
    BeforeValidator(_decimal_text),
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["62.50"]}),
]


# --- read models --------------------------------------------------------------------------


def _username(user: User | None) -> str | None:
    return user.username if user is not None else None


class DecisionOut(Schema):
    """Who decided, when, under which rulebook version, due when and how late."""

    id: int
    participant_id: str
    decided_by: str
    decided_at: datetime
    rulebook_version: int
    due: date | None
    late_days: int

    @staticmethod
    def resolve_decided_by(obj: Any) -> str:
        return obj.decided_by.username

    @staticmethod
    def resolve_participant_id(obj: Any) -> str:
        return obj.participant.participant_id


class ReferralOut(Schema):
    reference: str
    participant_id: str
    payer_id: str
    member_id: str
    source: str
    provider: str
    service_category: str
    geography: str
    referred_at: datetime
    received_by: str
    imported: bool
    file_due: date
    filed: bool

    @staticmethod
    def resolve_provider(obj: Referral) -> str:
        return obj.provider.code

    @staticmethod
    def resolve_received_by(obj: Referral) -> str:
        return obj.received_by.username

    @staticmethod
    def resolve_imported(obj: Referral) -> bool:
        return obj.batch_id is not None

    @staticmethod
    def resolve_filed(obj: Referral) -> bool:
        return hasattr(obj, "eligibility_file")


class AssessmentOut(Schema):
    id: int
    participant_id: str
    kind: str
    tool: str
    tool_version: str
    approved_tool: bool
    score: Decimal
    acuity_band: str
    flags: list[str]
    barriers: list[str]
    signed_by: str
    signed_at: datetime
    recorded_by: str
    recorded_at: datetime
    rulebook_version: int

    @staticmethod
    def resolve_recorded_by(obj: Assessment) -> str:
        return obj.recorded_by.username


class EligibilityFileOut(DecisionOut):
    referral: str
    assessment: int
    referral_date: date
    payer_status: str
    baseline_score: Decimal
    service_category: str
    exclusion_code: str
    proposed_start: date

    @staticmethod
    def resolve_participant_id(obj: EligibilityFile) -> str:
        return obj.participant_id

    @staticmethod
    def resolve_referral(obj: EligibilityFile) -> str:
        return obj.referral.reference

    @staticmethod
    def resolve_assessment(obj: EligibilityFile) -> int:
        return obj.assessment_id


class ActivationOut(DecisionOut):
    outcome: str
    decision_code: str
    reason_code: str
    review_date: date
    control_status: str
    next_checkpoint: date | None
    clarification_owner: str | None
    clarification_due: date | None

    @staticmethod
    def resolve_clarification_owner(obj: ActivationDecision) -> str | None:
        return _username(obj.clarification_owner)


class RemovalOut(DecisionOut):
    reason_code: str
    note: str


class DeclineOut(Schema):
    reference: str
    reason_code: str
    note: str
    decided_by: str
    decided_at: datetime
    rulebook_version: int
    due: date | None
    late_days: int

    @staticmethod
    def resolve_reference(obj: Any) -> str:
        return str(obj.referral.reference)

    @staticmethod
    def resolve_decided_by(obj: Any) -> str:
        return str(obj.decided_by.username)


class ComplianceReviewOut(DecisionOut):
    note: str


class ServiceLevelOut(Schema):
    """A request and, once decided, its decision (the authorisation register)."""

    id: int
    participant_id: str
    kind: str
    level: str
    evidence: str
    triggers: list[str]
    status: str
    requested_by: str
    requested_at: datetime
    due: date | None
    late_days: int
    approver: str | None
    approved_at: datetime | None
    rationale: str
    expected_duration_days: int | None
    rulebook_version: int

    @staticmethod
    def resolve_participant_id(obj: ServiceLevelRequest) -> str:
        return obj.participant.participant_id

    @staticmethod
    def resolve_requested_by(obj: ServiceLevelRequest) -> str:
        return obj.decided_by.username

    @staticmethod
    def resolve_requested_at(obj: ServiceLevelRequest) -> datetime:
        return obj.decided_at

    @staticmethod
    def resolve_approver(obj: ServiceLevelRequest) -> str | None:
        return _username(obj.approver)


class PathwayOut(DecisionOut):
    stage: str
    barrier_category: str
    lead: str
    target_review_date: date
    escalation_code: str

    @staticmethod
    def resolve_lead(obj: Pathway) -> str:
        return obj.lead.username


class ActivityOut(Schema):
    id: int
    participant_id: str
    activity_type: str
    occurred_at: datetime
    recorded_by: str
    baseline: bool
    episode: str
    billable: bool
    note: str
    rulebook_version: int

    @staticmethod
    def resolve_participant_id(obj: Activity) -> str:
        return obj.participant.participant_id

    @staticmethod
    def resolve_recorded_by(obj: Activity) -> str:
        return obj.recorded_by.username


class BarrierOut(Schema):
    id: int
    participant_id: str
    category: str
    description: str
    owner: str
    opened_by: str
    opened_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None

    @staticmethod
    def resolve_participant_id(obj: Barrier) -> str:
        return obj.participant.participant_id

    @staticmethod
    def resolve_owner(obj: Barrier) -> str:
        return obj.owner.username

    @staticmethod
    def resolve_opened_by(obj: Barrier) -> str:
        return obj.opened_by.username

    @staticmethod
    def resolve_resolved_by(obj: Barrier) -> str | None:
        return _username(obj.resolved_by)


class ReviewOut(DecisionOut):
    outcome: str
    review_date: date
    unresolved_dependencies: int
    stall_code: str
    escalation_status: str
    escalation_owner: str | None
    next_checkpoint: date | None

    @staticmethod
    def resolve_escalation_owner(obj: ProgressionReview) -> str | None:
        return _username(obj.escalation_owner)


class EngagementOut(DecisionOut):
    kind: str
    reason: str


class ParticipantOut(Schema):
    participant_id: str
    referral: str
    payer_id: str
    member_id: str
    provider: str
    status: str
    engaged: bool
    acuity_band: str
    flags: list[str]
    baseline_score: Decimal
    activated_at: datetime | None
    service_level: str
    lead: str | None
    next_review_due: date | None

    @staticmethod
    def resolve_referral(obj: Participant) -> str:
        return obj.referral.reference

    @staticmethod
    def resolve_payer_id(obj: Participant) -> str:
        return obj.referral.payer_id

    @staticmethod
    def resolve_member_id(obj: Participant) -> str:
        return obj.referral.member_id

    @staticmethod
    def resolve_provider(obj: Participant) -> str:
        return obj.provider.code

    @staticmethod
    def resolve_lead(obj: Participant) -> str | None:
        return _username(obj.lead)


class TimelineEventOut(Schema):
    at: datetime
    control: str
    kind: str
    by: str
    summary: str
    late_days: int


class QueueItemOut(Schema):
    control: str
    participant_id: str
    what: str
    due: date | None
    late_days: int
    link: str
    who: str


class QueueOut(Schema):
    """Each list newest first and cut at a page; `totals` counts every item per bucket."""

    today: date
    due_today: list[QueueItemOut]
    overdue: list[QueueItemOut]
    waiting: list[QueueItemOut]
    upcoming: list[QueueItemOut]
    totals: dict[str, int]


class BreachRowOut(Schema):
    """One control at one provider (provider "" and provider_id null: all providers)."""

    control: str
    what: str
    provider_id: int | None
    provider: str
    decisions: int
    count: int
    median_late_days: Decimal
    worst_late_days: int
    open_overdue: int


class ImportOut(Schema):
    kind: str
    filename: str
    rows: int
    already_imported: bool
    sha256: str | None


# --- bodies -------------------------------------------------------------------------------


class ReferralIn(Schema):
    reference: str
    participant_id: str
    payer_id: str
    member_id: str
    source: str = Field(description="Any referral source code of the rulebook (no wrong door).")
    provider: str = Field(description="The provider organisation's code.")
    service_category: str
    referred_at: AwareDatetime
    geography: str = ""


class AssessmentIn(Schema):
    participant_id: str
    kind: str = Field(description="baseline, screening or reassessment")
    tool: str
    tool_version: str
    score: DecimalText
    acuity_band: str = ""
    flags: list[str] = []
    barriers: list[str] = []
    signed_by: str
    signed_at: AwareDatetime


class EligibilityFileIn(Schema):
    referral: str = Field(description="The referral's reference.")
    assessment: int = Field(description="The id of the signed baseline assessment.")
    participant_id: str
    payer_status: str
    baseline_score: DecimalText
    service_category: str
    proposed_start: date
    exclusion_code: str = ""


class ActivationIn(Schema):
    outcome: str = Field(description="activated, pending or rejected")
    decision_code: str
    reason_code: str = ""
    review_date: date
    control_status: str
    next_checkpoint: date | None = None
    clarification_owner: str | None = Field(None, description="Username; pending only.")
    clarification_due: date | None = None


class RemovalIn(Schema):
    reason_code: str
    note: str = ""


class DeclineIn(Schema):
    reason_code: str
    note: str = ""


class ComplianceReviewIn(Schema):
    note: str = ""


class ServiceLevelIn(Schema):
    level: str
    kind: str = Field(description="initial or upgrade")
    evidence: str
    triggers: list[str] = []


class ServiceLevelDecisionIn(Schema):
    approve: bool
    rationale: str
    expected_duration_days: int | None = None


class PathwayIn(Schema):
    stage: str
    barrier_category: str
    lead: str = Field(description="Username of the assigned lead.")
    target_review_date: date
    escalation_code: str


class ActivityIn(Schema):
    activity_type: str
    occurred_at: AwareDatetime
    episode: str = ""
    note: str = ""


class BarrierIn(Schema):
    category: str
    description: str
    owner: str = Field(description="Username of the person who owns the barrier.")


class ReviewIn(Schema):
    outcome: str = Field(description="progressed, stalled or escalated")
    review_date: date
    stall_code: str = ""
    escalation_status: str = ""
    escalation_owner: str | None = Field(None, description="Username; escalated only.")
    next_checkpoint: date | None = None


class EngagementIn(Schema):
    reason: str
