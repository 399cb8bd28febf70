"""C7 milestone tracker: where a participant stands on every milestone of the library,
and which evidence is still missing for the next ones.

The same reading of a participant's history decides what the claim actions allow, so
the tracker never promises what drafting would refuse. Rules (from the brief):

- An *attempt* at a milestone starts at activation (attempt 1) or, after the
  milestone was lost, at the latest re-engagement (attempt n+1). Its window is
  `window_days` calendar days from that start, after risk adjustment.
- A milestone is *reached* by a payable claim. A re-earnable milestone is *lost* when
  the participant disengages on or after the day it was reached; once they re-engage
  it can be earned again. A non-re-earnable milestone stays reached.
- Evidence counts toward a requirement when it is the participant's, of that kind,
  and dated within the attempt (from its start up to the day reached, or today).

Everything is read in three queries per participant (claims, engagement events,
evidence), whatever the size of the library, so a tracker summary is cheap enough to
show on the participant page.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from fundpilot.claims.models import Claim, Evidence
from fundpilot.participants.models import EngagementEvent, Participant
from fundpilot.rules.calendar import BusinessCalendar
from fundpilot.rules.rulebook import EvidenceRequirement, Milestone, Rulebook, Scope

REACHED, IN_PROGRESS, NOT_STARTED, LOST = "reached", "in_progress", "not_started", "lost"
STATUS_LABELS = {
    REACHED: "reached",
    IN_PROGRESS: "in progress",
    NOT_STARTED: "not started",
    LOST: "lost (after relapse)",
}


# --- what is read ------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimFact:
    pk: int
    reference: str
    milestone: str
    attempt: int
    status: str
    reached_on: date


@dataclass(frozen=True)
class EvidenceFact:
    pk: int
    kind: str
    document_date: date
    reused: bool


@dataclass(frozen=True)
class History:
    """What the rules need of one participant, read once."""

    participant: Participant
    rulebook: Rulebook
    activated_on: date | None
    disengaged_on: tuple[date, ...]
    reengaged_on: tuple[date, ...]
    claims: tuple[ClaimFact, ...]
    evidence: tuple[EvidenceFact, ...]


def load_history(participant: Participant, rulebook: Rulebook | None = None) -> History:
    rulebook = rulebook or participant.pilot.rulebook
    # The pilot's calendar, without reading the rulebook version a second time.
    calendar = BusinessCalendar(rulebook.pilot.holiday_calendar, rulebook.pilot.timezone)
    events = EngagementEvent.objects.filter(participant=participant).order_by("decided_at", "pk")
    dates: dict[str, list[date]] = {EngagementEvent.DISENGAGED: [], EngagementEvent.REENGAGED: []}
    for kind, at in events.values_list("kind", "decided_at"):
        dates.setdefault(kind, []).append(calendar.local_date(at))
    claims = Claim.objects.filter(participant=participant).order_by("pk")
    evidence = Evidence.objects.filter(participant=participant).order_by("document_date", "pk")
    return History(
        participant=participant,
        rulebook=rulebook,
        activated_on=calendar.local_date(participant.activated_at)
        if participant.activated_at
        else None,
        disengaged_on=tuple(dates[EngagementEvent.DISENGAGED]),
        reengaged_on=tuple(dates[EngagementEvent.REENGAGED]),
        claims=tuple(
            ClaimFact(*row)
            for row in claims.values_list(
                "pk", "reference", "milestone", "attempt", "status", "reached_on"
            )
        ),
        evidence=tuple(
            EvidenceFact(*row)
            for row in evidence.values_list("pk", "kind", "document_date", "reused")
        ),
    )


# --- where one milestone stands ----------------------------------------------------


@dataclass(frozen=True)
class MilestoneState:
    """One milestone for one participant: reached, lost, or open at attempt n."""

    milestone: Milestone
    reached: ClaimFact | None  # the payable claim that reaches it (not lost)
    lost: bool  # lost after relapse and not yet re-engaged
    attempt: int
    start: date | None  # when the current attempt began (None: cannot start)
    window_end: date | None
    price: Decimal | None
    variant: str
    attempt_claims: tuple[ClaimFact, ...]  # this attempt's claims, oldest first

    @property
    def open_claim(self) -> ClaimFact | None:
        return next((c for c in self.attempt_claims if c.status in Claim.OPEN), None)


def applied_variants(milestone: Milestone, participant: Participant) -> str:
    """Codes of the risk-adjusted variants that apply to this participant (joined by +)."""
    codes = [
        v.code
        for v in milestone.variants
        if v.applies_to(acuity_band=participant.acuity_band or None, flags=participant.flags)
    ]
    return "+".join(codes)[:40]


def milestone_state(history: History, milestone: Milestone) -> MilestoneState:
    participant = history.participant
    terms = milestone.terms_for(
        acuity_band=participant.acuity_band or None, flags=participant.flags
    )
    mine = [c for c in history.claims if c.milestone == milestone.code]
    payable = [c for c in mine if c.status == Claim.PAYABLE]
    latest = max(payable, key=lambda c: (c.attempt, c.pk), default=None)
    reached, lost, attempt, start = None, False, 1, history.activated_on
    if latest is not None:
        relapsed = [d for d in history.disengaged_on if d >= latest.reached_on]
        if milestone.reearnable and relapsed:
            attempt = latest.attempt + 1
            back = [d for d in history.reengaged_on if d >= relapsed[0]]
            start = back[-1] if back else None
            lost = start is None
        else:
            reached, start = latest, None
    window_end = (
        start + timedelta(days=terms.window_days)
        if start is not None and terms.window_days is not None
        else None
    )
    return MilestoneState(
        milestone=milestone,
        reached=reached,
        lost=lost,
        attempt=attempt,
        start=start,
        window_end=window_end,
        price=terms.price,
        variant=applied_variants(milestone, participant),
        attempt_claims=tuple(c for c in mine if c.attempt == attempt),
    )


def attempt_start(history: History, attempt: int, reached_on: date) -> date | None:
    """When the attempt of a claim reached on `reached_on` began: activation for the
    first, the latest re-engagement on or before that day for later ones."""
    if attempt == 1:
        return history.activated_on
    back = [d for d in history.reengaged_on if d <= reached_on]
    return back[-1] if back else history.activated_on


def reached_by(history: History, code: str, on: date) -> bool:
    """Is milestone `code` reached (payable, not lost) by a claim reached on or before `on`?"""
    state = milestone_state(history, history.rulebook.milestone(code))
    return state.reached is not None and state.reached.reached_on <= on


# --- evidence against requirements -------------------------------------------------


@dataclass(frozen=True)
class RequirementStatus:
    kind: str
    label: str
    minimum: int
    have: int
    note: str = ""
    evidence: tuple[int, ...] = ()  # primary keys of the counting evidence

    @property
    def missing(self) -> int:
        return max(self.minimum - self.have, 0)

    @property
    def met(self) -> bool:
        return self.missing == 0

    @property
    def prompt(self) -> str:
        """What is still needed, in the words frontline staff see: "2 more contact_log"."""
        if self.met:
            return ""
        if self.have == 0 and self.minimum == 1:
            return self.kind
        more = " more" if self.have else ""
        return f"{self.missing}{more} {self.kind}"


def qualifying(
    history: History, milestone: Milestone, start: date | None, until: date
) -> dict[str, list[EvidenceFact]]:
    """The participant's evidence of each required kind dated within [start, until]."""
    kinds = {r.kind for r in milestone.evidence}
    found: dict[str, list[EvidenceFact]] = {k: [] for k in kinds}
    if start is None:
        return found
    for e in history.evidence:
        if e.kind in kinds and start <= e.document_date <= until:
            found[e.kind].append(e)
    return found


def requirements(
    rulebook: Rulebook,
    evidence: Sequence[EvidenceRequirement],
    found: dict[str, list[EvidenceFact]],
) -> tuple[RequirementStatus, ...]:
    labels = {k.code: k.label for k in rulebook.evidence_kinds}
    return tuple(
        RequirementStatus(
            kind=r.kind,
            label=labels.get(r.kind, r.kind),
            minimum=r.minimum,
            have=len(found.get(r.kind, [])),
            note=r.note or "",
            evidence=tuple(e.pk for e in found.get(r.kind, [])),
        )
        for r in evidence
    )


def missing_text(statuses: Iterable[RequirementStatus]) -> str:
    """E.g. "2 more contact_log; crisis_plan" (empty when nothing is missing)."""
    return "; ".join(s.prompt for s in statuses if not s.met)


# --- the tracker -------------------------------------------------------------------


@dataclass(frozen=True)
class Prerequisite:
    code: str
    reached: bool


@dataclass(frozen=True)
class TrackerRow:
    """One milestone of the library for one participant."""

    code: str
    name: str
    type: str
    tier: str
    status: str
    attempt: int
    attempt_start: date | None
    window_days: int | None
    window_end: date | None
    window_closed: bool
    price: Decimal | None
    variant: str
    reearnable: bool
    prerequisites: tuple[Prerequisite, ...]
    requirements: tuple[RequirementStatus, ...]
    is_next: bool
    claim: ClaimFact | None  # the reaching claim, or this attempt's latest
    definition: str = ""
    guidance: str = ""
    lost_before: int = 0  # earlier attempts lost after relapse
    reused_evidence: tuple[int, ...] = field(default=())

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def missing(self) -> list[str]:
        return [r.prompt for r in self.requirements if not r.met]

    @property
    def missing_text(self) -> str:
        return missing_text(self.requirements)

    @property
    def prerequisites_met(self) -> bool:
        return all(p.reached for p in self.prerequisites)


def participant_milestones(rulebook: Rulebook) -> list[Milestone]:
    return [m for m in rulebook.milestones if m.scope is Scope.PARTICIPANT]


def _row(history: History, milestone: Milestone, today: date) -> TrackerRow:
    state = milestone_state(history, milestone)
    reached_codes = {
        code: milestone_state(history, history.rulebook.milestone(code)).reached is not None
        for code in milestone.prerequisites
    }
    prerequisites = tuple(Prerequisite(c, r) for c, r in reached_codes.items())
    if state.reached is not None:
        until = state.reached.reached_on
        status, start = REACHED, attempt_start(history, state.reached.attempt, until)
    else:
        until, start = today, state.start
    found = qualifying(history, milestone, start, until)
    statuses = requirements(history.rulebook, milestone.evidence, found)
    if state.reached is None:
        started = state.open_claim is not None or any(s.have for s in statuses)
        status = LOST if state.lost else IN_PROGRESS if started else NOT_STARTED
    closed = state.reached is None and state.window_end is not None and today > state.window_end
    participant = history.participant
    active = participant.status == Participant.ACTIVATED
    claim = state.reached or (state.attempt_claims[-1] if state.attempt_claims else None)
    return TrackerRow(
        code=milestone.code,
        name=milestone.name,
        type=milestone.type.value,
        tier=milestone.tier.value,
        status=status,
        attempt=state.reached.attempt if state.reached else state.attempt,
        attempt_start=start,
        window_days=milestone.terms_for(
            acuity_band=participant.acuity_band or None, flags=participant.flags
        ).window_days,
        window_end=state.window_end if state.reached is None else None,
        window_closed=closed,
        price=state.price,
        variant=state.variant,
        reearnable=milestone.reearnable,
        prerequisites=prerequisites,
        requirements=statuses,
        is_next=active
        and status in (IN_PROGRESS, NOT_STARTED)
        and all(reached_codes.values())
        and not closed,
        claim=claim,
        definition=milestone.definition,
        guidance=milestone.guidance or "",
        lost_before=sum(
            1 for c in history.claims if c.milestone == milestone.code and c.status == Claim.PAYABLE
        )
        - (1 if state.reached else 0),
        reused_evidence=tuple(e.pk for es in found.values() for e in es if e.reused),
    )


def milestone_tracker(participant: Participant, *, today: date) -> list[TrackerRow]:
    """C7: every participant-scope milestone of the library, in library order."""
    history = load_history(participant)
    return [_row(history, m, today) for m in participant_milestones(history.rulebook)]


@dataclass(frozen=True)
class TrackerSummary:
    """For the participant page: reached count and the next milestones' missing evidence."""

    reached: int
    total: int
    next: tuple[TrackerRow, ...]


def tracker_summary(participant: Participant, *, today: date) -> TrackerSummary:
    rows = milestone_tracker(participant, today=today)
    return TrackerSummary(
        reached=sum(1 for r in rows if r.status == REACHED),
        total=len(rows),
        next=tuple(r for r in rows if r.is_next),
    )
