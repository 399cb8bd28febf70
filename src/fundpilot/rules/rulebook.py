"""The rulebook: the contract a pilot's parties signed, as typed data (DOMAIN.md §3).

A rulebook is a TOML document people read and sign; the system enforces exactly what
it says. This module is its schema: every section is a frozen pydantic model that
refuses unknown keys, so a typo ("pirce") is an error, never a silently ignored rule.
Money is `Money` (Decimal, two places), shares and rates are `Percent`, day counts
are strict positive integers. Rules that span sections (a prerequisite that names a
real milestone, payer shares that sum to 100, …) are checked afterwards by
`rulebook_check`, which reports every problem with a dotted path.

Entry points: `parse_rulebook(text)`, `load_rulebook(path)` and
`rulebook_from_data(mapping)`; each returns a `Rulebook` or raises `RulebookInvalid`.
"""

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    ValidationError,
)

from fundpilot.rules.money import Money, Percent, Probability, quantize, to_decimal
from fundpilot.rules.vocabulary import Role


@dataclass(frozen=True)
class RulebookProblem:
    """One thing wrong with a rulebook, at a dotted path such as `milestones[3].price`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class RulebookInvalid(Exception):
    """The rulebook was refused; `errors` lists every problem found, not just the first."""

    def __init__(self, errors: list[RulebookProblem]) -> None:
        self.errors = errors
        super().__init__(errors)

    def __str__(self) -> str:
        lines = "\n".join(f"  {problem}" for problem in self.errors)
        noun = "problem" if len(self.errors) == 1 else "problems"
        return f"rulebook is invalid ({len(self.errors)} {noun}):\n{lines}"


# --- vocabularies -------------------------------------------------------------------


class PilotKind(StrEnum):
    MILESTONE = "milestone"
    STAGED_CONTRACT = "staged_contract"
    BLENDED_RATE = "blended_rate"
    MULTI_PAYER = "multi_payer"


class DecisionAction(StrEnum):
    """Decisions the decision-rights matrix hands to roles (C12 and the controls)."""

    APPROVE_SPEND = "approve_spend"
    RELEASE_PAYMENT = "release_payment"
    APPROVE_EXCEPTION = "approve_exception"
    ACTIVATE = "activate"
    AUTHORISE_SERVICE_LEVEL = "authorise_service_level"
    AUTHORISE_UPGRADE = "authorise_upgrade"
    APPROVE_REALLOCATION = "approve_reallocation"
    APPROVE_EXIT = "approve_exit"
    AMEND_RULEBOOK = "amend_rulebook"


class Scope(StrEnum):
    """Whether a milestone is reached by one participant or by the pilot as a whole."""

    PARTICIPANT = "participant"
    CONTRACT = "contract"


class MilestoneType(StrEnum):
    STABILISATION = "stabilisation"
    ENGAGEMENT = "engagement"
    CARE_PLAN = "care_plan"
    HOUSING_STEP = "housing_step"
    SUSTAINED_FOLLOW_UP = "sustained_follow_up"
    OTHER = "other"
    INFRASTRUCTURE = "infrastructure"
    PATHWAY_OPERATIONAL = "pathway_operational"
    PERFORMANCE = "performance"


CONTRACT_MILESTONE_TYPES = frozenset(
    {MilestoneType.INFRASTRUCTURE, MilestoneType.PATHWAY_OPERATIONAL, MilestoneType.PERFORMANCE}
)
# Later stages must prove the pathway works on real cases, not on paper (C10).
LIVE_USE_MILESTONE_TYPES = frozenset({MilestoneType.PATHWAY_OPERATIONAL, MilestoneType.PERFORMANCE})


class Tier(StrEnum):
    """C9: independent = verified before payment; sampled = paid, then sample-audited."""

    INDEPENDENT = "independent"
    SAMPLED = "sampled"


class Cadence(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUALLY = "annually"


class PayerKind(StrEnum):
    MEDICAID_MCO = "medicaid_mco"
    PUBLIC_HEALTH = "public_health"
    LOCAL_FUND = "local_fund"
    HEALTH_SYSTEM = "health_system"
    OTHER = "other"


class PaymentType(StrEnum):
    """Kinds of payment whose cost is split between payers by `payment_split`."""

    MILESTONE = "milestone"
    TRANCHE = "tranche"
    PMPM = "pmpm"
    EPISODE = "episode"


class ActivationOutcome(StrEnum):
    ACTIVATED = "activated"
    PENDING = "pending"
    REJECTED = "rejected"


class PartialRelease(StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"
    # The tranche is released in proportion to criteria met, once at least
    # `minimum_criteria_met` are met.
    PROPORTIONAL = "proportional"


class Proration(StrEnum):
    """How a PMPM month is paid when the participant is at a level for part of it."""

    # Each day at a level earns rate × 1/(days in the month).
    DAILY = "daily"
    # A month with any day at a level earns that level's whole rate; when the level
    # changed within the month, the level held on the month's last covered day pays.
    FULL_MONTH = "full_month"


class TriggerKind(StrEnum):
    DETERIORATION = "deterioration"
    UNPLANNED_CONTACTS = "unplanned_contacts"
    SAFEGUARDING = "safeguarding"


class SampleDesign(StrEnum):
    SIMPLE = "simple"
    STRATIFIED = "stratified"


class Sided(StrEnum):
    TWO = "two"
    ONE = "one"


class Stratum(StrEnum):
    MILESTONE = "milestone"
    PROVIDER = "provider"
    PAYER = "payer"
    ACUITY_BAND = "acuity_band"


class UnwindRule(StrEnum):
    # Committed obligations are paid, the remainder goes back in proportion to
    # what each payer contributed.
    PRO_RATA_CONTRIBUTION = "pro_rata_contribution"
    # Committed obligations are paid from each payer's own funds; each payer gets
    # back its own unspent balance.
    UNSPENT_BY_PAYER = "unspent_by_payer"


# --- field types --------------------------------------------------------------------

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_SLUG = re.compile(r"[a-z][a-z0-9-]{1,39}")
ALL = "*"


def _code(value: str) -> str:
    if not _CODE.fullmatch(value):
        raise ValueError(f"{value!r} is not a code: use up to 40 letters, digits, '-', '_' or '.'")
    return value


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a pilot id: 2–40 lowercase letters, digits or '-',"
            " starting with a letter"
        )
    return value


def _code_or_all(value: str) -> str:
    return value if value == ALL else _code(value)


def _star_as_list(value: object) -> object:
    if isinstance(value, str):
        if value != ALL:
            raise ValueError(f'{value!r}: write "*" for all, or a list such as ["a", "b"]')
        return [ALL]
    return value


def _list_as_star(value: tuple[str, ...]) -> str | list[str]:
    return ALL if value == (ALL,) else list(value)


Code = Annotated[str, AfterValidator(_code)]
Slug = Annotated[str, AfterValidator(_slug)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Strict so that `true` or "5" in TOML is refused instead of read as a number.
Count = Annotated[int, Strict(), Field(gt=0)]
Flag = Annotated[bool, Strict()]
Score = Annotated[Decimal, BeforeValidator(to_decimal)]
# Either "*" (every payer / every use) or a list of codes; stored as a tuple.
Selection = Annotated[
    tuple[Annotated[str, AfterValidator(_code_or_all)], ...],
    BeforeValidator(_star_as_list),
    PlainSerializer(_list_as_star),
    Field(min_length=1),
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CodeLabel(_Section):
    """An entry of a code list that controls check input against."""

    code: Code
    label: Text
    description: Text | None = None


# --- pilot and payers ---------------------------------------------------------------


class Pilot(_Section):
    id: Slug
    name: Text
    kind: PilotKind
    summary: Text
    period_start: date
    period_end: date
    timezone: Text
    holiday_calendar: Text
    currency: Literal["USD"]


class Payer(_Section):
    id: Code
    name: Text
    kind: PayerKind
    contribution: Money
    reporting_cadence: Cadence
    allowable_uses: tuple[CodeLabel, ...] = Field(min_length=1)
    audit_standard: Text | None = None

    def allows(self, use: str) -> bool:
        """C12: may this payer's money be spent on `use`?"""
        return any(u.code == use for u in self.allowable_uses)


class PayerShare(_Section):
    """One payer's share of a payment, charged to one of its allowable uses."""

    payer: Code
    use: Code
    share: Percent


class PaymentSplit(_Section):
    """Who pays what share of each kind of payment; each list sums to 100."""

    milestone: tuple[PayerShare, ...] = ()
    tranche: tuple[PayerShare, ...] = ()
    pmpm: tuple[PayerShare, ...] = ()
    episode: tuple[PayerShare, ...] = ()

    def for_type(self, payment_type: PaymentType) -> tuple[PayerShare, ...]:
        shares: tuple[PayerShare, ...] = getattr(self, payment_type.value)
        return shares


# --- participants: eligibility, acuity, equity, codes --------------------------------


class ScoreRange(_Section):
    """An inclusive range on the pilot's baseline function score scale."""

    min: Score
    max: Score

    def contains(self, score: Decimal) -> bool:
        return self.min <= score <= self.max


class AssessmentTool(_Section):
    code: Code
    name: Text
    versions: tuple[Text, ...] = Field(min_length=1)

    def approves(self, version: str) -> bool:
        """C1: only an approved version of the tool makes a baseline score count."""
        return version in self.versions


class Eligibility(_Section):
    qualifying_service_categories: tuple[CodeLabel, ...] = Field(min_length=1)
    score_scale: Text
    baseline_score: ScoreRange
    approved_tools: tuple[AssessmentTool, ...] = Field(min_length=1)
    exclusion_reasons: tuple[CodeLabel, ...] = ()
    require_active_payer_eligibility: Flag


class Acuity(_Section):
    tool: Code
    bands: tuple[CodeLabel, ...] = Field(min_length=1)
    subpopulation_flags: tuple[CodeLabel, ...] = ()


class AcceptanceFloor(_Section):
    """C18: at least `minimum_rate` percent of referrals in `cohort` are accepted."""

    cohort: Code
    minimum_rate: Percent


class Equity(_Section):
    minimum_acceptance_rates: tuple[AcceptanceFloor, ...] = ()
    review_cadence: Cadence
    # The concrete adjustments are the milestones' risk-adjusted variants; this says
    # in words why and for whom.
    risk_adjustment: Text | None = None


class ActivationDecisionCode(_Section):
    code: Code
    label: Text
    outcome: ActivationOutcome


class Codes(_Section):
    """Code lists the controls check their input against (C1–C11, C15)."""

    referral_sources: tuple[CodeLabel, ...] = ()
    activation_decisions: tuple[ActivationDecisionCode, ...] = ()
    rejection_reasons: tuple[CodeLabel, ...] = ()
    pending_reasons: tuple[CodeLabel, ...] = ()
    removal_reasons: tuple[CodeLabel, ...] = ()
    barrier_categories: tuple[CodeLabel, ...] = ()
    escalation_thresholds: tuple[CodeLabel, ...] = ()
    stall_reasons: tuple[CodeLabel, ...] = ()
    verification_rejection_reasons: tuple[CodeLabel, ...] = ()
    # In the order a dispute moves through them.
    dispute_stages: tuple[CodeLabel, ...] = ()
    geographies: tuple[CodeLabel, ...] = ()


class MilestoneStage(_Section):
    """C4: a pathway stage, matched to the participant's baseline score."""

    code: Code
    label: Text
    baseline_score: ScoreRange


# --- milestones and tranches --------------------------------------------------------


# What evidence files may be unless the rulebook says otherwise: documents and scans.
DEFAULT_MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg")


class EvidenceKind(CodeLabel):
    """A kind of evidence document and the file types it may be uploaded as (C7)."""

    media_types: tuple[Text, ...] = Field(default=DEFAULT_MEDIA_TYPES, min_length=1)


class EvidenceRequirement(_Section):
    kind: Code
    minimum: Count = 1
    note: Text | None = None


class RiskVariant(_Section):
    """Risk adjustment for complex cases: a longer window and/or a higher price.

    Applies to a participant in any listed acuity band or with any listed flag.
    When several variants apply, the most generous window and price win, so the
    order variants are written in never matters.
    """

    code: Code
    label: Text
    acuity_bands: tuple[Code, ...] = ()
    flags: tuple[Code, ...] = ()
    window_days: Count | None = None
    price: Money | None = None

    def applies_to(self, *, acuity_band: str | None, flags: Collection[str]) -> bool:
        return acuity_band in self.acuity_bands or any(f in self.flags for f in flags)


class MilestoneTerms(NamedTuple):
    price: Decimal | None
    window_days: int | None


class Milestone(_Section):
    code: Code
    name: Text
    scope: Scope
    type: MilestoneType
    # Participant milestones carry a price; contract milestones are paid by their tranche.
    price: Money | None = None
    tier: Tier
    definition: Text
    evidence: tuple[EvidenceRequirement, ...] = Field(min_length=1)
    guidance: Text | None = None
    prerequisites: tuple[Code, ...] = ()
    # Participant milestones: days from activation. Contract milestones: a due date.
    window_days: Count | None = None
    due_date: date | None = None
    reearnable: Flag = False
    variants: tuple[RiskVariant, ...] = ()

    def terms_for(self, *, acuity_band: str | None, flags: Collection[str]) -> MilestoneTerms:
        """Price and window for one participant, after risk adjustment (C18)."""
        price, window = self.price, self.window_days
        for variant in self.variants:
            if not variant.applies_to(acuity_band=acuity_band, flags=flags):
                continue
            if variant.price is not None and (price is None or variant.price > price):
                price = variant.price
            if variant.window_days is not None and (window is None or variant.window_days > window):
                window = variant.window_days
        return MilestoneTerms(price, window)


class QualityFloor(_Section):
    """C10: quality must hold as volume grows — `floor`% or better at `at_volume` cases."""

    measure: Code
    label: Text
    floor: Percent
    at_volume: Count


class LiveUse(_Section):
    """What counts as proof that the pathway is used on real cases, not on paper."""

    minimum_real_cases: Count
    minimum_referral_closure_rate: Percent | None = None
    quality_floors: tuple[QualityFloor, ...] = ()
    description: Text | None = None


class Tranche(_Section):
    code: Code
    name: Text
    milestone: Code
    amount: Money
    # Empty means `payment_split.tranche` applies.
    payer_split: tuple[PayerShare, ...] = ()
    criteria: tuple[CodeLabel, ...] = ()
    partial_release: PartialRelease = PartialRelease.ALL_OR_NOTHING
    minimum_criteria_met: Count | None = None
    cure_period_days: Count | None = None
    live_use: LiveUse | None = None

    def release_amount(self, criteria_met: int) -> Decimal:
        """How much of the tranche `criteria_met` met criteria release (C10)."""
        total = len(self.criteria)
        if total == 0 or criteria_met >= total:
            return self.amount
        if self.partial_release is PartialRelease.ALL_OR_NOTHING:
            return Decimal("0.00")
        if criteria_met < (self.minimum_criteria_met or 1):
            return Decimal("0.00")
        return quantize(self.amount * criteria_met / total)


# --- blended rate -------------------------------------------------------------------


class UpgradeTrigger(_Section):
    """C3: an objective reason that justifies an upgrade request."""

    kind: TriggerKind
    # deterioration: which indicator, in words.
    indicator: Text | None = None
    # unplanned_contacts: `count` or more within `within_days`.
    count: Count | None = None
    within_days: Count | None = None


class ServiceLevel(_Section):
    code: Code
    name: Text
    pmpm: Money
    authorised_by: Role
    max_duration_days: Count | None = None
    description: Text | None = None
    upgrade_to: Code | None = None
    upgrade_triggers: tuple[UpgradeTrigger, ...] = ()


class Pmpm(_Section):
    """How monthly rates are paid (C13)."""

    proration: Proration = Proration.DAILY


class BaselinePackage(_Section):
    """Work the PMPM already pays for: recorded and visible, never billable (C5)."""

    activity_types: tuple[CodeLabel, ...] = Field(min_length=1)
    expected_contacts_per_month: Count


class Episode(_Section):
    code: Code
    name: Text
    price: Money
    criteria: Text
    # Empty: billable at any service level.
    required_service_levels: tuple[Code, ...] = ()
    unit_cap: Count | None = None
    # Empty: the cap runs over the whole pilot period.
    cap_period_days: Count | None = None
    authorisation_required: Flag
    authorised_by: Role | None = None


# --- time ---------------------------------------------------------------------------


class Deadlines(_Section):
    """Business days in the pilot's holiday calendar unless the name says otherwise."""

    eligibility_file: Count | None = None  # after referral (C1)
    activation_decision: Count | None = None  # after the eligibility file (C2)
    pathway_release: Count | None = None  # after activation (C4)
    service_level_decision: Count | None = None  # after the request (C3)
    progression_review_calendar_days: Count | None = None  # C6
    verification: Count | None = None  # after submission (C9)
    dispute_resolution: Count  # C11
    # The settlement file for a month is due on this day of the next month, or the
    # next business day after it (C16).
    settlement_day_of_month: Annotated[int, Strict(), Field(ge=1, le=28)]
    assurance: Cadence  # C19


# --- verification sampling ----------------------------------------------------------


class Sampling(_Section):
    """C9 post-payment audit sample of sampled-tier claims."""

    tiers: tuple[Tier, ...] = (Tier.SAMPLED,)
    design: SampleDesign
    size: Count | None = None
    rate: Percent | None = None
    strata: tuple[Stratum, ...] = ()
    confidence: Probability = Decimal("0.90")
    sided: Sided = Sided.TWO
    # Whether a failed sample's overpayment is extrapolated to the sampled universe
    # (point estimate and the lower confidence limit).
    extrapolate: Flag
    frequency: Cadence = Cadence.MONTHLY


# --- money governance ---------------------------------------------------------------


class DecisionRight(_Section):
    """One row of the decision-rights matrix (C12)."""

    action: DecisionAction
    role: Role
    payers: Selection
    uses: Selection
    max_amount: Money | None = None
    conditions: Text | None = None

    @property
    def key(self) -> str:
        """How people name the row: action/role/payers, plus uses when restricted."""
        parts = [self.action.value, self.role.value, "+".join(sorted(self.payers))]
        if self.uses != (ALL,):
            parts.append("+".join(sorted(self.uses)))
        return "/".join(parts)

    def covers(
        self, *, action: DecisionAction, payer: str, use: str, amount: Decimal | None
    ) -> bool:
        """Does this row let its role take `action` for this payer, use and amount?"""
        return (
            self.action is action
            and (self.payers == (ALL,) or payer in self.payers)
            and (self.uses == (ALL,) or use in self.uses)
            and (self.max_amount is None or amount is None or amount <= self.max_amount)
        )


class ExceptionRoute(_Section):
    """Spend outside the matrix: senior sign-off, then a review after the fact."""

    senior_role: Role
    retrospective_review_days: Count


class StopLoss(_Section):
    """C15 triggers that open a structured case review."""

    episode_cost_above: Money | None = None
    escalations_above: Count | None = None
    escalation_period_days: Count | None = None
    participant_cumulative_spend_above: Money | None = None


class Variance(_Section):
    """C14/C15: a variance from plan above these percentages opens an investigation."""

    cohort_percent: Percent | None = None
    geography_percent: Percent | None = None
    service_level_percent: Percent | None = None
    payer_percent: Percent | None = None


class Settlement(_Section):
    """C16 milestone attainment methodology."""

    numerator: Text
    denominator: Text
    reassessment_window_days: Count
    minimum_attainment_rate: Percent
    minimum_reassessment_completion_rate: Percent | None = None
    payment_trigger: Text


class Exit(_Section):
    """C20: how the funds unwind if the pilot stops."""

    unwind: UnwindRule
    notice_days: Count
    committed_obligations: Text


class Caseload(_Section):
    """C4: the most active pathways one lead may hold."""

    default_max_active: Count
    per_role: dict[Role, Count] = Field(default_factory=dict)

    def max_active(self, role: Role) -> int:
        return self.per_role.get(role, self.default_max_active)


# --- the whole rulebook -------------------------------------------------------------


class Rulebook(_Section):
    pilot: Pilot
    payers: tuple[Payer, ...] = Field(min_length=1)
    payment_split: PaymentSplit = Field(default_factory=PaymentSplit)
    eligibility: Eligibility | None = None
    acuity: Acuity | None = None
    equity: Equity | None = None
    codes: Codes = Field(default_factory=Codes)
    milestone_stages: tuple[MilestoneStage, ...] = ()
    evidence_kinds: tuple[EvidenceKind, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    tranches: tuple[Tranche, ...] = ()
    service_levels: tuple[ServiceLevel, ...] = ()
    pmpm: Pmpm = Field(default_factory=Pmpm)
    baseline_package: BaselinePackage | None = None
    episodes: tuple[Episode, ...] = ()
    deadlines: Deadlines
    sampling: Sampling | None = None
    decision_rights: tuple[DecisionRight, ...] = ()
    exception_route: ExceptionRoute | None = None
    stop_loss: StopLoss | None = None
    variance: Variance | None = None
    settlement: Settlement | None = None
    exit: Exit
    caseload: Caseload | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-safe canonical form (Decimals as strings, dates ISO) to hash and store.

        `rulebook_from_data(rb.as_json())` gives back an equal rulebook.
        """
        return self.model_dump(mode="json")

    def payer(self, payer_id: str) -> Payer:
        """The payer with this id; KeyError if the rulebook has none."""
        for payer in self.payers:
            if payer.id == payer_id:
                return payer
        raise KeyError(payer_id)

    def milestone(self, code: str) -> Milestone:
        """The milestone with this code; KeyError if the library has none."""
        for milestone in self.milestones:
            if milestone.code == code:
                return milestone
        raise KeyError(code)

    @property
    def enrols_participants(self) -> bool:
        """Participant milestones or service levels mean C1–C6 apply."""
        return bool(self.service_levels) or any(
            m.scope is Scope.PARTICIPANT for m in self.milestones
        )

    def roles_that_may(
        self, action: DecisionAction, *, payer: str, use: str, amount: Decimal | None
    ) -> frozenset[Role]:
        """C12: the roles whose decision right covers this action, payer, use and amount."""
        return frozenset(
            r.role
            for r in self.decision_rights
            if r.covers(action=action, payer=payer, use=use, amount=amount)
        )


# --- loading ------------------------------------------------------------------------


def rulebook_from_data(data: Mapping[str, object]) -> Rulebook:
    """Validate parsed TOML (or a stored `as_json()`) into a Rulebook.

    Schema errors are reported first; cross-references are checked only once every
    section has the right shape, since they would otherwise repeat the same fault.
    """
    # The checks are written against the models above, so they are imported here,
    # once this module is complete.
    from fundpilot.rules.rulebook_check import cross_reference_problems, schema_problems

    try:
        rulebook = Rulebook.model_validate(data)
    except ValidationError as exc:
        raise RulebookInvalid(schema_problems(exc, Rulebook)) from None
    problems = cross_reference_problems(rulebook)
    if problems:
        raise RulebookInvalid(problems)
    return rulebook


_TOML_POSITION = re.compile(
    r"(?P<message>.*) \((?:at line (?P<line>\d+), column (?P<col>\d+)|at end of document)\)"
)


def parse_rulebook(text: str) -> Rulebook:
    """Parse rulebook TOML text; raises RulebookInvalid naming every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.fullmatch(str(exc))
        if found is None:
            problem = RulebookProblem("<toml>", f"invalid TOML: {exc}")
        else:
            where = (
                f"line {found['line']}, column {found['col']}"
                if found["line"]
                else "end of document"
            )
            problem = RulebookProblem(where, f"invalid TOML: {found['message']}")
        raise RulebookInvalid([problem]) from None
    return rulebook_from_data(data)


def load_rulebook(path: Path) -> Rulebook:
    """Read and parse a rulebook file; an unreadable file is a RulebookInvalid too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RulebookInvalid([RulebookProblem(str(path), f"cannot read file: {reason}")]) from None
    return parse_rulebook(text)
