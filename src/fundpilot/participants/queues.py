"""Work queues: what each person must do in a pilot, by deadline (see `work_queue`).

Set-based: each source of work is one SELECT whatever the caseload, ranked and
counted per bucket by window functions. Later apps add their own sources (claims
awaiting verification, drafts awaiting readiness review) through `register_sources`,
so this module never imports them (the layers point the other way).

Deadlines a row does not store (activation after the file, pathway after activation)
become one cut-off instant on the trigger, so the database puts every row in its
bucket; the pilot calendar then computes the exact due date and lateness only for the
rows returned.
"""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.functions import Concat, RowNumber
from django.urls import reverse

from fundpilot.participants import deadlines
from fundpilot.participants.models import (
    ActivationDecision,
    Barrier,
    ComplianceReview,
    Participant,
    Pathway,
    Referral,
    ServiceLevelRequest,
)
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot
from fundpilot.rules.calendar import BusinessCalendar

PAGE = 50  # items per bucket a queue returns; `Queue.totals` counts them all
OVERDUE, DUE_TODAY, WAITING, UPCOMING = "overdue", "due_today", "waiting", "upcoming"
BUCKETS = (OVERDUE, DUE_TODAY, WAITING, UPCOMING)


@dataclass(frozen=True)
class QueueItem:
    """One thing to do: which control, for whom, what, by when, how late today."""

    control: str
    participant_id: str
    what: str
    due: date | None
    late_days: int
    link: str
    who: str = ""  # who holds it, for work waiting on someone else


@dataclass(frozen=True)
class Queue:
    """A person's work in one pilot as of `today`, each list newest first.

    `waiting` is work someone else must do that this person supervises or awaits;
    `upcoming` is this person's own work not yet due (or with no deadline). Lists
    stop at PAGE items; `totals` counts every item of each bucket.
    """

    today: date
    due_today: list[QueueItem]
    overdue: list[QueueItem]
    waiting: list[QueueItem]
    upcoming: list[QueueItem] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))

    @property
    def empty(self) -> bool:
        return not any(self.totals.values())


def start_of(pilot: Pilot, day: date) -> datetime:
    """The instant a pilot-local day begins, in UTC."""
    zone = ZoneInfo(pilot.rulebook.pilot.timezone)
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def trigger_cutoff(pilot: Pilot, calendar: BusinessCalendar, days: int, limit: date) -> datetime:
    """The first instant whose deadline, `days` business days later, falls after `limit`.

    A deadline only moves forward with its trigger, so "due on or before `limit`" is
    exactly "triggered before this instant": one comparison the database can make.
    """
    day = limit
    while calendar.add_business_days(day, days) > limit:
        day -= timedelta(days=1)
    return start_of(pilot, day + timedelta(days=1))


def latest_pending() -> QuerySet[ActivationDecision]:
    """Each pending participant's current decision: pending, and not superseded."""
    later = ActivationDecision.objects.filter(
        participant=OuterRef("participant"), pk__gt=OuterRef("pk")
    )
    return ActivationDecision.objects.filter(
        outcome=ActivationDecision.PENDING, participant__status=Participant.PENDING
    ).exclude(Exists(later))


Row = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """One SELECT feeding a queue. Its rows carry `pid` (the participant id shown, or
    ""), `key` (the stored due date, or the trigger instant when `days` is given),
    `bucket` and `who` (and `who_name` where a person is named).

    `link` is a URL name in the participants namespace (taking the participant id, or
    the referral reference for "eligibility"), or a function giving a row its own URL
    (a source of another app links to its own pages)."""

    control: str
    rows: QuerySet[Any]
    what: Callable[[Row], str]
    link: str | Callable[[Row], str]
    days: int | None = None  # business days after the trigger `key`; None: `key` is the due
    computed: bool = False  # whether `key` is a trigger (due computed) or the due itself
    dated: bool = True  # False: no deadline; `key` only orders the rows


class Clock:
    """Buckets rows by deadline as of `today`, in the pilot's calendar and zone."""

    def __init__(self, pilot: Pilot, today: date) -> None:
        self.pilot = pilot
        self.today = today
        self.calendar = pilot.calendar

    def by_date(self, column: str) -> Case:
        """Bucket on a stored due date."""
        return Case(
            When(**{f"{column}__lt": self.today}, then=Value(OVERDUE)),
            When(**{column: self.today}, then=Value(DUE_TODAY)),
            default=Value(UPCOMING),
            output_field=CharField(),
        )

    def by_trigger(self, column: str, days: int | None) -> Case | Value:
        """Bucket on a trigger instant whose deadline is `days` business days later."""
        if days is None:
            return Value(UPCOMING, output_field=CharField())
        yesterday = self.today - timedelta(days=1)
        overdue = trigger_cutoff(self.pilot, self.calendar, days, yesterday)
        today = trigger_cutoff(self.pilot, self.calendar, days, self.today)
        return Case(
            When(**{f"{column}__lt": overdue}, then=Value(OVERDUE)),
            When(**{f"{column}__lt": today}, then=Value(DUE_TODAY)),
            default=Value(UPCOMING),
            output_field=CharField(),
        )

    def due(self, source: Source, key: Any) -> date | None:
        if not source.dated:
            return None
        if not source.computed:
            return key  # type: ignore[no-any-return]
        return None if key is None else deadlines.due_after(self.pilot, key, source.days)

    def late(self, due: date | None) -> int:
        return 0 if due is None else self.calendar.lateness(due, self.today)


WAITING_BUCKET = Value(WAITING, output_field=CharField())
UPCOMING_BUCKET = Value(UPCOMING, output_field=CharField())
NOBODY = Value("", output_field=CharField())

# Contributes a person's sources in a pilot: (user, pilot, clock) -> sources. Ask the
# policy first and build querysets only: they run once each, in `work_queue`.
SourceProvider = Callable[[Any, Pilot, Clock], Iterable[Source]]
_providers: list[SourceProvider] = []


def register_sources(provider: SourceProvider) -> None:
    """Add a provider of queue sources (called from an app's `ready()`; idempotent)."""
    if provider not in _providers:
        _providers.append(provider)


def person(prefix: str) -> dict[str, Any]:
    """Annotations naming a person: `who` (username) and `who_name` (full name)."""
    return {
        "who": F(f"{prefix}__username"),
        "who_name": Concat(
            F(f"{prefix}__first_name"),
            Value(" "),
            F(f"{prefix}__last_name"),
            output_field=CharField(),
        ),
    }


def _sources(user: Any, pilot: Pilot, clock: Clock) -> list[Source]:
    """Every SELECT this person's roles call for (see `work_queue`)."""
    limits = pilot.rulebook.deadlines

    def may(perm: str) -> bool:
        return policy.allowed(user, perm, pilot)

    def scoped(rows: QuerySet[Any], provider: str = "participant__provider") -> QuerySet[Any]:
        return policy.participants_scope(user, pilot, rows, provider)

    participants = Participant.objects.filter(pilot=pilot).annotate(pid=F("participant_id"))
    eligible = participants.filter(status=Participant.ELIGIBLE)
    activated = participants.filter(status=Participant.ACTIVATED)
    pending = latest_pending().filter(participant__pilot=pilot)
    pending = pending.annotate(pid=F("participant__participant_id"), key=F("clarification_due"))
    barriers = Barrier.objects.filter(participant__pilot=pilot, resolved_at__isnull=True).annotate(
        pid=F("participant__participant_id"), key=F("opened_at")
    )
    requests = ServiceLevelRequest.objects.filter(
        participant__pilot=pilot, status=ServiceLevelRequest.REQUESTED
    ).annotate(pid=F("participant__participant_id"), key=F("due"))
    filed_at = "referral__eligibility_file__decided_at"
    found: list[Source] = []

    if may("eligibility.file"):
        # C1: every referral is answered with an eligibility file ("no wrong door").
        referrals = Referral.objects.filter(
            pilot=pilot, eligibility_file__isnull=True, decline__isnull=True
        )
        found.append(
            Source(
                "C1",
                scoped(referrals, "provider").annotate(
                    pid=F("participant_id"),
                    key=F("file_due"),
                    bucket=clock.by_date("file_due"),
                    who=NOBODY,
                ),
                lambda r: f"Eligibility file for referral {r['reference']}",
                "eligibility",
            )
        )
        # Filed: now the activation approver's to decide.
        found.append(
            Source(
                "C2",
                scoped(eligible, "provider").annotate(
                    key=F(filed_at), bucket=WAITING_BUCKET, who=Value("activation approver")
                ),
                lambda r: "Activation decision",
                "participant",
                limits.activation_decision,
                computed=True,
            )
        )
    if may("activation.decide"):
        # C2: a decision within N business days of the eligibility file.
        found.append(
            Source(
                "C2",
                scoped(eligible, "provider").annotate(
                    key=F(filed_at),
                    bucket=clock.by_trigger(filed_at, limits.activation_decision),
                    who=NOBODY,
                ),
                lambda r: "Activation decision",
                "activation",
                limits.activation_decision,
                computed=True,
            )
        )
        # Pending clarifications someone else owns; the approver decides once answered.
        found.append(
            Source(
                "C2",
                scoped(pending.exclude(clarification_owner=user)).annotate(
                    bucket=WAITING_BUCKET, **person("clarification_owner")
                ),
                lambda r: "Pending clarification, then the final activation decision",
                "activation",
            )
        )
    elif may("progression.review"):
        # A supervisor oversees the clarifications their organisation's people own.
        found.append(
            Source(
                "C2",
                scoped(
                    pending.filter(
                        clarification_owner__organisation_id=user.organisation_id
                    ).exclude(clarification_owner=user)
                ).annotate(bucket=WAITING_BUCKET, **person("clarification_owner")),
                lambda r: "Pending clarification",
                "participant",
            )
        )
    # C2: the clarifications this person owns, whatever their role.
    found.append(
        Source(
            "C2",
            pending.filter(clarification_owner=user).annotate(
                bucket=clock.by_date("clarification_due"), who=NOBODY
            ),
            lambda r: "Clarification you own, for a pending activation",
            "participant",
        )
    )
    if may("compliance.review"):
        # The register is reviewed before milestone planning; the rulebook sets no deadline.
        unreviewed = activated.exclude(
            Exists(ComplianceReview.objects.filter(participant=OuterRef("pk")))
        )
        found.append(
            Source(
                "C2",
                scoped(unreviewed, "provider").annotate(
                    key=F("activated_at"),
                    bucket=UPCOMING_BUCKET,
                    who=NOBODY,
                ),
                lambda r: "Compliance review of the activation register",
                "compliance",
                dated=False,
            )
        )
    if may("pathway.release") and pilot.rulebook.milestone_stages:
        # C4: the pathway within N business days of activation (only where the
        # rulebook plans milestone stages; a blended-rate pilot has none).
        released = Pathway.objects.filter(participant=OuterRef("pk"))
        found.append(
            Source(
                "C4",
                scoped(activated.exclude(Exists(released)), "provider").annotate(
                    key=F("activated_at"),
                    bucket=clock.by_trigger("activated_at", limits.pathway_release),
                    who=NOBODY,
                ),
                lambda r: "Pathway release",
                "pathway",
                limits.pathway_release,
                computed=True,
            )
        )
    if may("service_level.decide"):
        # C3: the clinical lead decides within the rulebook's time frame (due stored).
        found.append(
            Source(
                "C3",
                scoped(requests).annotate(bucket=clock.by_date("due"), who=NOBODY),
                lambda r: f"Service level decision: {r['kind']} request for {r['level']}",
                "service-level-decision",
            )
        )
    if may("service_level.request"):
        found.append(
            Source(
                "C3",
                scoped(requests.filter(decided_by=user)).annotate(
                    bucket=WAITING_BUCKET, who=Value("clinical lead")
                ),
                lambda r: f"Your {r['kind']} request for {r['level']}",
                "participant",
            )
        )
    if may("progression.review"):
        # C6: a progression review every N calendar days per participant.
        found.append(
            Source(
                "C6",
                scoped(activated.filter(next_review_due__isnull=False), "provider").annotate(
                    key=F("next_review_due"), bucket=clock.by_date("next_review_due"), who=NOBODY
                ),
                lambda r: "Progression review",
                "review",
            )
        )
        # Barriers the supervisor's organisation holds open.
        others = Q(owner__organisation_id=user.organisation_id) & ~Q(owner=user)
        found.append(
            Source(
                "C5",
                scoped(barriers.filter(others)).annotate(bucket=WAITING_BUCKET, **person("owner")),
                lambda r: f"Open barrier: {r['category']}",
                "participant",
                dated=False,
            )
        )
    # C5: the barriers this person owns stay in their queue until resolved (no deadline).
    found.append(
        Source(
            "C5",
            barriers.filter(owner=user).annotate(bucket=UPCOMING_BUCKET, who=NOBODY),
            lambda r: f"Open barrier you own: {r['category']}",
            "barriers",
            dated=False,
        )
    )
    return found


def _fetch(source: Source, limit: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The first `limit` rows of each bucket, newest first, and each bucket's size."""
    by_bucket = [F("bucket")]
    rows = (
        source.rows.annotate(
            rank=Window(
                RowNumber(),
                partition_by=by_bucket,
                order_by=[F("key").desc(nulls_last=True), F("pk").desc()],
            ),
            size=Window(Count("pk"), partition_by=by_bucket),
        )
        .filter(rank__lte=limit)
        .values()
    )
    fetched = list(rows)
    return fetched, {row["bucket"]: row["size"] for row in fetched}


def _link(pilot: Pilot, source: Source, row: Row) -> str:
    if callable(source.link):
        return source.link(row)
    key = (
        {"reference": row["reference"]}
        if source.link == "eligibility"
        else {"participant_id": row["pid"]}
    )
    return reverse(f"participants:{source.link}", kwargs={"pilot": pilot.slug} | key)


def work_queue(user: Any, pilot: Pilot, *, today: date, limit: int = PAGE) -> Queue:
    """What this person's roles must do in the pilot, as of `today` (a pilot-local date).

    - enrollment manager: referrals without an eligibility file (C1, due = file_due);
      waiting: their organisation's files awaiting the activation decision.
    - activation approver: eligible participants (C2, due = file + activation_decision
      business days); waiting: pending clarifications owned by someone else.
    - compliance: activated participants whose activation they have not reviewed
      (no deadline in the rulebook, so listed as upcoming).
    - recovery lead: activated participants without a pathway (C4, due = activation +
      pathway_release business days).
    - clinical lead: open service level requests (C3, due stored on the request);
      whoever asked sees their request waiting on the clinical lead.
    - supervisor: participants whose progression review is due (C6, next_review_due);
      waiting: open barriers and pending clarifications owned by others in their
      organisation.
    - anyone: the pending clarifications (C2, clarification_due) and open barriers (C5)
      they own.
    - whatever the registered providers add (see `register_sources`; the claims app
      adds verification, readiness review and cure periods).

    Provider staff see only their own organisation's participants (policy scoping).
    """
    if not policy.allowed(user, "queue.view", pilot):
        return Queue(today=today, due_today=[], overdue=[], waiting=[])
    clock = Clock(pilot, today)
    found: dict[str, list[QueueItem]] = {bucket: [] for bucket in BUCKETS}
    totals: Counter[str] = Counter()
    sources = _sources(user, pilot, clock)
    for provider in _providers:
        sources.extend(provider(user, pilot, clock))
    for source in sources:
        rows, sizes = _fetch(source, limit)
        totals.update(sizes)
        for row in rows:
            due = clock.due(source, row["key"])
            found[row["bucket"]].append(
                QueueItem(
                    control=source.control,
                    participant_id=row["pid"],
                    what=source.what(row),
                    due=due,
                    late_days=clock.late(due),
                    link=_link(pilot, source, row),
                    who=(row.get("who_name") or "").strip() or row["who"],
                )
            )
    lists = {
        bucket: sorted(
            items, key=lambda i: (i.due or date.min, i.participant_id, i.control), reverse=True
        )[:limit]
        for bucket, items in found.items()
    }
    return Queue(
        today=today,
        due_today=lists[DUE_TODAY],
        overdue=lists[OVERDUE],
        waiting=lists[WAITING],
        upcoming=lists[UPCOMING],
        totals={bucket: totals[bucket] for bucket in BUCKETS},
    )
