"""Read models for the participant lifecycle, for pages, the API and the CLI:
who may see which participants, a participant's timeline, the monthly breach
report, and (from `queues`) each person's work queue.

Reports aggregate in the database; nothing here loops over participants to total.
"""

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from fundpilot.participants.models import (
    ActivationDecision,
    Assessment,
    ComplianceReview,
    EligibilityFile,
    EngagementEvent,
    Notification,
    Participant,
    Pathway,
    ProgressionReview,
    Referral,
    ServiceLevelRequest,
)
from fundpilot.participants.queues import (
    Queue,
    QueueItem,
    start_of,
    trigger_cutoff,
    work_queue,
)
from fundpilot.pilots import policy
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import OrgKind

__all__ = [
    "BreachRow",
    "Queue",
    "QueueItem",
    "TimelineEvent",
    "breach_report",
    "participants_for",
    "referrals_for",
    "timeline",
    "work_queue",
]


def participants_for(user: Any, pilot: Pilot) -> QuerySet[Participant]:
    """The pilot's participants this user may see (organisation scoping), newest first."""
    rows = Participant.objects.filter(pilot=pilot).select_related("provider", "lead", "referral")
    return policy.participants_scope(user, pilot, rows).order_by("-referral__referred_at", "-pk")


def referrals_for(user: Any, pilot: Pilot) -> QuerySet[Referral]:
    """The pilot's referrals this user may see, newest first."""
    rows = Referral.objects.filter(pilot=pilot).select_related("provider")
    return policy.participants_scope(user, pilot, rows).order_by("-referred_at", "-pk")


# --- breach report ------------------------------------------------------------------


@dataclass(frozen=True)
class BreachRow:
    """One control at one provider (provider_id None: all providers) in one month.

    `decisions` were made in the month and `count` of them after their due date;
    median and worst lateness are over those late ones, in business days (0 when
    none was late); `open_overdue` were still undone and past due at the month's end.
    """

    control: str
    what: str
    provider_id: int | None
    provider: str
    decisions: int
    count: int
    median_late_days: Decimal
    worst_late_days: int
    open_overdue: int


@dataclass(frozen=True)
class _Breaches:
    control: str
    what: str
    decisions: QuerySet[Any]  # decided in the month, with due and late_days
    provider: str  # the provider field of those rows
    still_open: list[tuple[QuerySet[Any], str]]  # (undone and overdue at month end, provider)


def month_bounds(month: str) -> tuple[date, date]:
    """The first day of "YYYY-MM" and of the month after."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", month):
            raise ValueError(month)
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC).date()
    except ValueError:
        raise Refused(
            "invalid_month", f"'{month}' is not a month: write it as YYYY-MM", "month"
        ) from None
    return first, (first + timedelta(days=32)).replace(day=1)


def _median(histogram: Iterable[tuple[int, int]]) -> Decimal:
    """The median of values given as (value, how many) pairs; 0 for none."""
    pairs = sorted(histogram)
    size = sum(n for _, n in pairs)
    if size == 0:
        return Decimal(0)
    middle = {(size - 1) // 2, size // 2}  # one index, or the two middle ones
    picked: list[int] = []
    seen = 0
    for value, n in pairs:
        picked += [value for index in sorted(middle) if seen <= index < seen + n]
        seen += n
    return Decimal(sum(picked)) / len(picked)


def _breach_sources(pilot: Pilot, start: datetime, end: datetime, cut: date) -> list[_Breaches]:
    """Per control: its decisions in the month, and what was overdue and still undone
    when the day `cut` began (the month's end, or today for the month in progress).

    Undone then means either decided later (and its stored due had passed) or not
    decided yet (and the due computed from its trigger had passed).
    """
    limits = pilot.rulebook.deadlines
    calendar = pilot.calendar
    last_day = cut - timedelta(days=1)  # overdue at `cut`: due on this day or before
    undone_at = start_of(pilot, cut)
    in_month = Q(decided_at__gte=start, decided_at__lt=end)
    answered_later = Q(due__lte=last_day, decided_at__gte=undone_at)

    def triggered_by(rows: QuerySet[Any], trigger: str, days: int | None) -> QuerySet[Any]:
        """Rows whose deadline, `days` business days after `trigger`, had passed."""
        if days is None:
            return rows.none()
        return rows.filter(**{f"{trigger}__lt": trigger_cutoff(pilot, calendar, days, last_day)})

    participants = Participant.objects.filter(pilot=pilot)
    activated = participants.filter(status=Participant.ACTIVATED)
    activations = ActivationDecision.objects.filter(participant__pilot=pilot)
    requests = ServiceLevelRequest.objects.filter(participant__pilot=pilot)
    pathways = Pathway.objects.filter(participant__pilot=pilot)
    reviews = ProgressionReview.objects.filter(participant__pilot=pilot)
    earlier = ActivationDecision.objects.filter(
        participant=OuterRef("participant"), pk__lt=OuterRef("pk")
    )
    by_participant = "participant__provider"
    return [
        _Breaches(
            "C1",
            "Eligibility file",
            EligibilityFile.objects.filter(referral__pilot=pilot).filter(in_month),
            "referral__provider",
            [
                (
                    # unanswered at month end: neither filed nor declined (no wrong door)
                    Referral.objects.filter(pilot=pilot, file_due__lte=last_day)
                    .exclude(eligibility_file__decided_at__lt=undone_at)
                    .exclude(decline__decided_at__lt=undone_at),
                    "provider",
                )
            ],
        ),
        _Breaches(
            "C2",
            "Activation decision",
            activations.filter(in_month),
            by_participant,
            [
                # A participant's first decision (a pending one answers the deadline too).
                (activations.filter(answered_later).exclude(Exists(earlier)), by_participant),
                (
                    triggered_by(
                        participants.filter(status=Participant.ELIGIBLE),
                        "referral__eligibility_file__decided_at",
                        limits.activation_decision,
                    ),
                    "provider",
                ),
            ],
        ),
        _Breaches(
            "C3",
            "Service level decision",
            requests.exclude(status=ServiceLevelRequest.REQUESTED).filter(
                approved_at__gte=start, approved_at__lt=end
            ),
            by_participant,
            [
                (
                    # decided_at holds the request's time until the decision (approved_at).
                    requests.filter(due__lte=last_day, decided_at__lt=undone_at).filter(
                        Q(status=ServiceLevelRequest.REQUESTED) | Q(approved_at__gte=undone_at)
                    ),
                    by_participant,
                )
            ],
        ),
        _Breaches(
            "C4",
            "Pathway release",
            pathways.filter(in_month),
            by_participant,
            [
                (pathways.filter(answered_later), by_participant),
                (
                    triggered_by(
                        activated.exclude(
                            Exists(Pathway.objects.filter(participant=OuterRef("pk")))
                        ),
                        "activated_at",
                        limits.pathway_release,
                    ),
                    "provider",
                ),
            ],
        ),
        _Breaches(
            "C6",
            "Progression review",
            reviews.filter(in_month),
            by_participant,
            [
                (reviews.filter(answered_later), by_participant),
                # The clock's current due is the one no review has answered yet.
                (activated.filter(next_review_due__lte=last_day), "provider"),
            ],
        ),
    ]


def breach_report(
    pilot: Pilot, *, month: str, user: Any, today: date | None = None
) -> list[BreachRow]:
    """Late decisions per control and provider in `month` ("YYYY-MM", pilot time).

    For each control the database groups the month's decisions by (provider,
    late_days): a histogram a few rows long, from which count, median and worst
    lateness follow without loading a decision (SQLite has no median aggregate, so
    the median is taken over that histogram; it equals PostgreSQL's
    percentile_cont(0.5)). Controls whose rulebook sets no deadline (the compliance
    review, roster removals, engagement) have no lateness and are not listed.
    Provider staff see their own organisation; oversight roles every provider.

    For the month in progress, "still overdue" is as of `today` (pilot-local; by
    default the current date), not the end of a month that has not ended.
    """
    policy.require(user, "breaches.view", pilot)
    first, following = month_bounds(month)
    today = today or pilot.calendar.local_date(timezone.now())
    start, end = start_of(pilot, first), start_of(pilot, following)
    cut = min(following, max(today, first))  # undone when this day began: overdue if due before
    own_only = (
        not policy.sees_every_provider(user, pilot)
        and getattr(getattr(user, "organisation", None), "kind", None) == OrgKind.PROVIDER
    )

    def grouped(rows: QuerySet[Any], provider: str, *by: str) -> QuerySet[Any]:
        if own_only:
            rows = rows.filter(**{provider: user.organisation_id})
        return rows.values(provider, *by).annotate(n=Count("pk")).order_by()

    found = []
    providers: set[int] = set()
    for source in _breach_sources(pilot, start, end, cut):
        histogram: dict[int, list[tuple[int, int]]] = {}
        for row in grouped(source.decisions, source.provider, "late_days"):
            histogram.setdefault(row[source.provider], []).append((row["late_days"], row["n"]))
        still_open: Counter[int] = Counter()
        for rows, provider in source.still_open:
            for row in grouped(rows, provider):
                still_open[row[provider]] += row["n"]
        providers |= set(histogram) | set(still_open)
        found.append((source, histogram, still_open))

    names = dict(Organisation.objects.filter(pk__in=providers).values_list("pk", "name"))
    everyone = "Your organisation" if own_only else "All providers"
    report = []
    for source, histogram, still_open in found:
        every = [pair for pairs in histogram.values() for pair in pairs]
        report.append(_row(source, None, everyone, every, sum(still_open.values())))
        for provider_id in sorted(set(histogram) | set(still_open), key=names.__getitem__):
            report.append(
                _row(
                    source,
                    provider_id,
                    names[provider_id],
                    histogram.get(provider_id, []),
                    still_open[provider_id],
                )
            )
    return report


def _row(
    source: _Breaches,
    provider_id: int | None,
    provider: str,
    histogram: list[tuple[int, int]],
    open_overdue: int,
) -> BreachRow:
    late = [(days, n) for days, n in histogram if days > 0]
    return BreachRow(
        control=source.control,
        what=source.what,
        provider_id=provider_id,
        provider=provider,
        decisions=sum(n for _, n in histogram),
        count=sum(n for _, n in late),
        median_late_days=_median(late),
        worst_late_days=max((days for days, _ in late), default=0),
        open_overdue=open_overdue,
    )


# --- timeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened to a participant: when, under which control, what
    kind of event, who did it, and what it said."""

    at: datetime
    control: str
    kind: str
    by: str
    summary: str
    late_days: int = 0


def _who(user: User | None) -> str:
    return "" if user is None else user.get_full_name() or user.username


def _late(row: Any) -> str:
    days = row.late_days
    if not days:
        return ""
    return f"; {days} business day{'s' if days != 1 else ''} late (due {row.due})"


def timeline(participant: Participant) -> list[TimelineEvent]:
    """Every decision, activity and event of one participant, oldest first.

    One query per kind of record, for one participant; the events are merged by time.
    """
    events: list[TimelineEvent] = []
    for part in (_intake_events, _activation_events, _care_events, _work_events):
        events += part(participant)
    return sorted(events, key=lambda e: e.at)


def _intake_events(p: Participant) -> list[TimelineEvent]:
    referral = Referral.objects.select_related("received_by", "provider").get(pk=p.referral_id)
    events = [
        TimelineEvent(
            referral.referred_at,
            "C1",
            "referral",
            _who(referral.received_by),
            f"Referral {referral.reference} from {referral.source} to {referral.provider.name}"
            f" for {referral.service_category}; eligibility file due {referral.file_due}",
        )
    ]
    for a in Assessment.objects.filter(pilot_id=p.pilot_id, participant_id=p.participant_id):
        approved = "" if a.approved_tool else " — tool version not approved"
        band = f", acuity {a.acuity_band}" if a.acuity_band else ""
        found = f", barriers {', '.join(a.barriers)}" if a.barriers else ""
        events.append(
            TimelineEvent(
                a.signed_at,
                "C1",
                "assessment",
                a.signed_by,
                f"{a.kind.capitalize()} assessment on {a.tool} {a.tool_version}:"
                f" score {a.score}{band}{found}{approved}",
            )
        )
    for f in EligibilityFile.objects.filter(referral_id=p.referral_id).select_related("decided_by"):
        excluded = f", excluded {f.exclusion_code}" if f.exclusion_code else ""
        events.append(
            TimelineEvent(
                f.decided_at,
                "C1",
                "eligibility_file",
                _who(f.decided_by),
                f"Eligibility file: payer status {f.payer_status}, baseline {f.baseline_score},"
                f" {f.service_category}, start {f.proposed_start}{excluded}{_late(f)}",
                f.late_days,
            )
        )
    return events


def _activation_events(p: Participant) -> list[TimelineEvent]:
    events = []
    for d in p.activations.select_related("decided_by", "clarification_owner"):
        extra = f", reason {d.reason_code}" if d.reason_code else ""
        if d.clarification_owner_id:
            extra += f"; {_who(d.clarification_owner)} to clarify by {d.clarification_due}"
        events.append(
            TimelineEvent(
                d.decided_at,
                "C2",
                "activation",
                _who(d.decided_by),
                f"Activation decision {d.decision_code}: {d.outcome}{extra};"
                f" control status {d.control_status}{_late(d)}",
                d.late_days,
            )
        )
    for r in ComplianceReview.objects.filter(participant=p).select_related("decided_by"):
        note = f": {r.note}" if r.note else ""
        events.append(
            TimelineEvent(
                r.decided_at,
                "C2",
                "compliance_review",
                _who(r.decided_by),
                f"Compliance review{note}",
            )
        )
    for r in p.removals.select_related("decided_by"):
        note = f" ({r.note})" if r.note else ""
        events.append(
            TimelineEvent(
                r.decided_at,
                "C2",
                "roster_removal",
                _who(r.decided_by),
                f"Removed from the activation roster: {r.reason_code}{note}",
            )
        )
    return events


def _care_events(p: Participant) -> list[TimelineEvent]:
    events = []
    for s in p.service_levels.select_related("decided_by", "approver"):
        triggers = f", triggers {', '.join(s.triggers)}" if s.triggers else ""
        events.append(
            TimelineEvent(
                s.decided_at,
                "C3",
                "service_level_request",
                _who(s.decided_by),
                f"Service level {s.kind} request for {s.level}{triggers}: {s.evidence}",
            )
        )
        if s.approved_at is not None:
            duration = f", for {s.expected_duration_days} days" if s.expected_duration_days else ""
            events.append(
                TimelineEvent(
                    s.approved_at,
                    "C3",
                    "service_level_decision",
                    _who(s.approver),
                    f"Service level {s.level} {s.status}{duration}: {s.rationale}{_late(s)}",
                    s.late_days,
                )
            )
    for w in p.pathways.select_related("decided_by", "lead"):
        events.append(
            TimelineEvent(
                w.decided_at,
                "C4",
                "pathway",
                _who(w.decided_by),
                f"Pathway released: stage {w.stage}, barrier {w.barrier_category},"
                f" lead {_who(w.lead)}, review by {w.target_review_date},"
                f" escalation {w.escalation_code}{_late(w)}",
                w.late_days,
            )
        )
    # Pathway notifications link to the participant's page.
    page = f"/pilots/{p.pilot.slug}/participants/{p.participant_id}/"
    for n in Notification.objects.filter(pilot_id=p.pilot_id, link=page).select_related("user"):
        events.append(
            TimelineEvent(
                n.created_at, "C4", "notification", _who(n.user), f"Notified: {n.subject}"
            )
        )
    return events


def _work_events(p: Participant) -> list[TimelineEvent]:
    events = []
    for a in p.activities.select_related("recorded_by"):
        kind = (
            "baseline package, never billable"
            if a.baseline
            else ("billable" if a.billable else "not billable")
        )
        episode = f" (episode {a.episode})" if a.episode else ""
        note = f": {a.note}" if a.note else ""
        events.append(
            TimelineEvent(
                a.occurred_at,
                "C5",
                "activity",
                _who(a.recorded_by),
                f"Activity {a.activity_type}{episode}, {kind}{note}",
            )
        )
    for b in p.barriers.select_related("opened_by", "owner", "resolved_by"):
        events.append(
            TimelineEvent(
                b.opened_at,
                "C5",
                "barrier_opened",
                _who(b.opened_by),
                f"Barrier opened: {b.category}, owned by {_who(b.owner)}: {b.description}",
            )
        )
        if b.resolved_at is not None:
            events.append(
                TimelineEvent(
                    b.resolved_at,
                    "C5",
                    "barrier_resolved",
                    _who(b.resolved_by),
                    f"Barrier resolved: {b.category}",
                )
            )
    for r in p.reviews.select_related("decided_by", "escalation_owner"):
        extra = f", stall reason {r.stall_code}" if r.stall_code else ""
        if r.escalation_owner_id:
            extra += f", escalation {r.escalation_status} owned by {_who(r.escalation_owner)}"
        if r.next_checkpoint:
            extra += f", next checkpoint {r.next_checkpoint}"
        events.append(
            TimelineEvent(
                r.decided_at,
                "C6",
                "progression_review",
                _who(r.decided_by),
                f"Progression review of {r.review_date}: {r.outcome},"
                f" {r.unresolved_dependencies} unresolved{extra}{_late(r)}",
                r.late_days,
            )
        )
    for e in p.engagement.select_related("decided_by"):
        verb = "Disengaged" if e.kind == EngagementEvent.DISENGAGED else "Re-engaged"
        events.append(
            TimelineEvent(e.decided_at, "", e.kind, _who(e.decided_by), f"{verb}: {e.reason}")
        )
    return events
