"""Care of an activated participant: C3 service levels, C4 pathway release, C5 the
activity log and barrier tracker, C6 progression reviews, and relapse/re-engagement.

Every action here is pilot-coded work, so it refuses unless the participant is on the
locked activation roster (C2). Each checks the policy, then — with the participant row
locked — refuses in DOMAIN.md's order before writing anything, writes, and appends
exactly one audit record last, in the same durable transaction.
"""

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Model, Q

from fundpilot.audit import log
from fundpilot.participants.deadlines import due_after, late_by, review_due
from fundpilot.participants.models import (
    Activity,
    Assessment,
    Barrier,
    ComplianceReview,
    EngagementEvent,
    Notification,
    Participant,
    Pathway,
    ProgressionReview,
    ServiceLevelRequest,
)
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Membership, Pilot, RulebookVersion, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import Episode, Rulebook, ServiceLevel
from fundpilot.rules.vocabulary import OrgKind, Role

# Ordinary work (C5: "outreach, assessments, follow-ups") in pilots whose rulebook has
# no baseline package. Such pilots pay per milestone, never per activity, so these are
# recorded and never billable. A pilot with a baseline package uses its own list.
ORDINARY_ACTIVITY_TYPES: tuple[str, ...] = (
    "outreach",
    "face_to_face",
    "phone_contact",
    "home_visit",
    "assessment",
    "follow_up",
    "care_planning",
    "care_coordination",
    "benefits",
    "monitoring",
)
# Roles with authority to lead a participant's pathway (C4).
LEAD_ROLES = (Role.FRONTLINE, Role.RECOVERY_LEAD)
PROGRESSION_OUTCOMES = (
    ProgressionReview.PROGRESSED,
    ProgressionReview.STALLED,
    ProgressionReview.ESCALATED,
)


# --- shared steps -------------------------------------------------------------------


def _authorise(by: User, perm: str, participant: Participant) -> Role | None:
    return policy.require_for_provider(by, perm, participant.pilot, participant.provider_id)


def _lock(participant: Participant) -> Participant:
    return Participant.objects.select_for_update().select_related("pilot").get(pk=participant.pk)


def _require_activated(participant: Participant) -> None:
    if participant.status != Participant.ACTIVATED:
        raise Refused(
            "not_activated",
            f"{participant.participant_id} is not on the activation roster"
            f" (status {participant.status}): no pilot-coded work may be recorded",
            "participant",
        )


class _Coded(Protocol):
    @property
    def code(self) -> str: ...


def _codes(entries: Iterable[_Coded]) -> list[str]:
    return [entry.code for entry in entries]


def _require_code(value: str, entries: Iterable[_Coded], code: str, what: str, field: str) -> None:
    known = _codes(entries)
    if value not in known:
        listing = ", ".join(known) or "none"
        raise Refused(code, f"'{value}' is not a {what} of this pilot (it has: {listing})", field)


def _holds_role(user: User, pilot: Pilot) -> bool:
    return user.is_active and Membership.objects.filter(user=user, pilot=pilot).exists()


def _audit(
    *,
    version: RulebookVersion,
    by: User,
    role: Role | None,
    action: str,
    participant: Participant,
    payload: dict[str, object],
    at: datetime,
) -> None:
    log.append(
        chain=log.pilot_chain(participant.pilot.slug),
        actor=actor(by, role),
        action=action,
        subject=f"participant:{participant.participant_id}",
        payload={"participant": participant.participant_id, **payload},
        at=at,
        rulebook_version=version.number,
    )


def _mirror(target: Model, source: Model, *fields: str) -> None:
    """Show the caller's instance what the locked row now holds."""
    for name in fields:
        setattr(target, name, getattr(source, name))


# --- C3 service level authorisation -------------------------------------------------

DECISION_FIELDS = [
    "status",
    "approver",
    "approved_at",
    "rationale",
    "expected_duration_days",
    "late_days",
]


def _service_level(rb: Rulebook, code: str) -> ServiceLevel | None:
    return next((sl for sl in rb.service_levels if sl.code == code), None)


def request_service_level(
    *,
    participant: Participant,
    level: str,
    kind: str,
    evidence: str,
    triggers: Sequence[str] = (),
    by: User,
    at: datetime,
) -> ServiceLevelRequest:
    """C3 service level authorisation: ask for an initial level, or for an upgrade to the
    current level's next one citing the objective triggers the rulebook lists for it."""
    role = _authorise(by, "service_level.request", participant)
    version = participant.pilot.current
    rb = version.rulebook
    cited = list(dict.fromkeys(t.strip() for t in triggers))
    with transaction.atomic(durable=True):
        p = _lock(participant)
        _require_activated(p)
        if not rb.service_levels:
            raise Refused(
                "no_service_levels", "this pilot's rulebook authorises no service levels", "level"
            )
        wanted = _service_level(rb, level)
        if wanted is None:
            listing = ", ".join(sl.code for sl in rb.service_levels)
            raise Refused(
                "unknown_service_level", f"'{level}' is not a service level ({listing})", "level"
            )
        if kind not in (ServiceLevelRequest.INITIAL, ServiceLevelRequest.UPGRADE):
            raise Refused(
                "unknown_request_kind", f"'{kind}' is neither 'initial' nor 'upgrade'", "kind"
            )
        if not evidence.strip():
            raise Refused(
                "evidence_required", "give the assessment evidence the level rests on", "evidence"
            )
        if kind == ServiceLevelRequest.INITIAL:
            if p.service_level:
                raise Refused(
                    "level_already_set",
                    f"{p.participant_id} already has level {p.service_level};"
                    " ask for an upgrade instead",
                    "kind",
                )
            if cited:
                raise Refused(
                    "triggers_not_applicable",
                    "only an upgrade request cites triggers",
                    "triggers",
                )
        else:
            current = _service_level(rb, p.service_level)
            if current is None:
                raise Refused(
                    "no_current_level",
                    f"{p.participant_id} has no authorised level to upgrade from;"
                    " ask for an initial level",
                    "kind",
                )
            if current.upgrade_to != level:
                nxt = (
                    f"upgrades to {current.upgrade_to}"
                    if current.upgrade_to
                    else "is the highest level"
                )
                raise Refused(
                    "not_next_level", f"level {current.code} {nxt}, not to {level}", "level"
                )
            if not cited:
                raise Refused(
                    "triggers_required",
                    "an upgrade request must cite at least one objective trigger",
                    "triggers",
                )
            listed = [t.kind.value for t in current.upgrade_triggers]
            unlisted = [t for t in cited if t not in listed]
            if unlisted:
                raise Refused(
                    "unknown_trigger",
                    f"level {current.code} lists no trigger {', '.join(unlisted)}"
                    f" (it lists: {', '.join(listed) or 'none'})",
                    "triggers",
                )
        if ServiceLevelRequest.objects.filter(
            participant=p, status=ServiceLevelRequest.REQUESTED
        ).exists():
            raise Refused(
                "request_open",
                f"{p.participant_id} already has a service level request awaiting decision",
                "participant",
            )
        # decided_by/decided_at hold the request until it is decided (see the model).
        request = ServiceLevelRequest.objects.create(
            participant=p,
            kind=kind,
            level=level,
            evidence=evidence.strip(),
            triggers=cited,
            decided_by=by,
            decided_at=at,
            rulebook_version=version.number,
            due=due_after(p.pilot, at, rb.deadlines.service_level_decision),
        )
        _audit(
            version=version,
            by=by,
            role=role,
            action="service_level.request",
            participant=p,
            at=at,
            payload={
                "request": request.pk,
                "kind": kind,
                "level": level,
                "from_level": p.service_level,
                "triggers": cited,
                "due": request.due,
            },
        )
    return request


def decide_service_level(
    *,
    request: ServiceLevelRequest,
    approve: bool,
    rationale: str,
    expected_duration_days: int | None = None,
    by: User,
    at: datetime,
) -> ServiceLevelRequest:
    """C3 service level authorisation: the level's authorising role (normally the
    clinical lead) approves with rationale and expected duration, or refuses with
    rationale. Both stay in the authorisation register (the request rows)."""
    participant = request.participant
    role = _authorise(by, "service_level.decide", participant)
    pilot = participant.pilot
    version = pilot.current
    rb = version.rulebook
    with transaction.atomic(durable=True):
        p = _lock(participant)
        req = ServiceLevelRequest.objects.select_for_update().get(pk=request.pk)
        _require_activated(p)
        if req.status != ServiceLevelRequest.REQUESTED:
            raise Refused("already_decided", f"this request was already {req.status}", "request")
        level = _service_level(rb, req.level)
        if level is None:
            raise Refused(
                "unknown_service_level",
                f"level {req.level} is not in the rulebook in force",
                "request",
            )
        if level.authorised_by not in policy.roles_in(by, pilot):
            raise Refused(
                "not_authorising_role",
                f"level {level.code} is authorised by the {level.authorised_by.label}",
                "by",
            )
        if req.decided_by_id == by.pk:
            raise Refused("own_request", "nobody decides their own request", "by")
        if not rationale.strip():
            raise Refused("rationale_required", "give the rationale for the decision", "rationale")
        if approve:
            if expected_duration_days is None or expected_duration_days < 1:
                raise Refused(
                    "duration_required",
                    "an approval states the expected duration in days",
                    "expected_duration_days",
                )
            if level.max_duration_days and expected_duration_days > level.max_duration_days:
                raise Refused(
                    "duration_too_long",
                    f"level {level.code} may be authorised for at most"
                    f" {level.max_duration_days} days",
                    "expected_duration_days",
                )
        req.status = ServiceLevelRequest.APPROVED if approve else ServiceLevelRequest.REFUSED
        req.approver = by
        req.approved_at = at  # the decision's time, for refusals too
        req.rationale = rationale.strip()
        # A refusal authorises nothing, so it carries no duration.
        req.expected_duration_days = expected_duration_days if approve else None
        req.late_days = late_by(pilot, req.due, at)
        req.save(update_fields=DECISION_FIELDS)
        if approve:
            p.service_level = req.level
            p.save(update_fields=["service_level"])
        _audit(
            version=version,
            by=by,
            role=role,
            action="service_level.decide",
            participant=p,
            at=at,
            payload={
                "request": req.pk,
                "kind": req.kind,
                "level": req.level,
                "outcome": req.status,
                "rationale": req.rationale,
                "expected_duration_days": req.expected_duration_days,
                "due": req.due,
                "late_days": req.late_days,
            },
        )
    _mirror(participant, p, "service_level")
    _mirror(request, req, *DECISION_FIELDS)
    return req


# --- C4 pathway release -------------------------------------------------------------


def _caseload_limit(lead: User, pilot: Pilot, rb: Rulebook) -> tuple[bool, int | None]:
    """Whether the lead holds a lead role, and the most active participants they may hold.

    A capacity set on the person's membership wins over the rulebook's limit for the
    role; with several lead roles the most generous applies; None means no limit.
    """
    memberships = list(
        Membership.objects.select_for_update()
        .filter(user=lead, pilot=pilot, role__in=LEAD_ROLES)
        .order_by("pk")
    )
    if not memberships or not lead.is_active:
        return False, None
    limits: list[int | None] = []
    for m in memberships:
        if m.caseload_capacity is not None:
            limits.append(m.caseload_capacity)
        elif rb.caseload is not None:
            limits.append(rb.caseload.max_active(Role(m.role)))
        else:
            limits.append(None)
    if any(limit is None for limit in limits):
        return True, None
    return True, max(limit for limit in limits if limit is not None)


def _pathway_recipients(participant: Participant, lead: User) -> list[User]:
    """The lead, the provider's supervisors and the quality reviewers (provider or
    pilot office) — C4 routes the released pathway to each the same day."""
    own = Q(user__organisation=participant.provider_id)
    office = Q(user__organisation__kind=OrgKind.PILOT_OFFICE)
    ids = set(
        Membership.objects.filter(pilot=participant.pilot, user__is_active=True)
        .filter((own & Q(role=Role.SUPERVISOR)) | Q(own | office, role=Role.QUALITY_REVIEWER))
        .values_list("user_id", flat=True)
    )
    ids.add(lead.pk)
    return list(User.objects.filter(pk__in=ids).order_by("pk"))


def release_pathway(
    *,
    participant: Participant,
    stage: str,
    barrier_category: str,
    lead: User,
    target_review_date: date,
    escalation_code: str,
    by: User,
    at: datetime,
) -> Pathway:
    """C4 pathway release: the recovery lead releases the participant's milestone pathway
    to a lead with the role and caseload capacity; the stage must match the baseline
    score, the barrier category the screening record, the review date the protocol.
    Routed the same day to the lead, supervisors and quality reviewers."""
    role = _authorise(by, "pathway.release", participant)
    pilot = participant.pilot
    version = pilot.current
    rb = version.rulebook
    today = pilot.calendar.local_date(at)
    with transaction.atomic(durable=True):
        p = _lock(participant)
        _require_activated(p)
        if Pathway.objects.filter(participant=p).exists():
            raise Refused(
                "pathway_released",
                f"{p.participant_id}'s pathway has already been released",
                "participant",
            )
        # C2: compliance and payer relations review the register before milestone planning.
        if not ComplianceReview.objects.filter(participant=p).exists():
            raise Refused(
                "compliance_review_missing",
                f"compliance has not yet reviewed {p.participant_id}'s activation",
                "participant",
            )
        # Cannot proceed without: the lead's role authority and caseload capacity.
        holds_role, limit = _caseload_limit(lead, pilot, rb)
        if not holds_role:
            roles = " or ".join(r.label for r in LEAD_ROLES)
            raise Refused(
                "lead_lacks_role", f"{lead.username} is not a {roles} in this pilot", "lead"
            )
        if lead.organisation_id != p.provider_id:
            raise Refused(
                "lead_other_organisation",
                f"{lead.username} does not work for {p.participant_id}'s provider",
                "lead",
            )
        active = Participant.objects.filter(
            pilot=pilot, lead=lead, status=Participant.ACTIVATED
        ).count()
        if limit is not None and active >= limit:
            raise Refused(
                "no_capacity",
                f"{lead.username} already leads {active} active participants (limit {limit})",
                "lead",
            )
        # Validates: stage, barrier category, review date, escalation threshold.
        _require_code(stage, rb.milestone_stages, "unknown_stage", "milestone stage", "stage")
        matching = [
            s.code for s in rb.milestone_stages if s.baseline_score.contains(p.baseline_score)
        ]
        if stage not in matching:
            expected = ", ".join(matching) or "no stage"
            raise Refused(
                "stage_mismatch",
                f"baseline score {p.baseline_score} places {p.participant_id} in {expected},"
                f" not {stage}",
                "stage",
            )
        _require_code(
            barrier_category,
            rb.codes.barrier_categories,
            "unknown_barrier_category",
            "barrier category",
            "barrier_category",
        )
        screening = (
            Assessment.objects.filter(
                pilot=pilot, participant_id=p.participant_id, kind=Assessment.SCREENING
            )
            .order_by("-signed_at", "-pk")
            .first()
        )
        if screening is None:
            raise Refused(
                "no_screening",
                f"{p.participant_id} has no screening record to match the barrier against",
                "barrier_category",
            )
        if barrier_category not in screening.barriers:
            found = ", ".join(screening.barriers) or "none"
            raise Refused(
                "barrier_not_screened",
                f"the screening record found {found}, not {barrier_category}",
                "barrier_category",
            )
        cadence = rb.deadlines.progression_review_calendar_days
        latest = today + timedelta(days=cadence) if cadence else None
        if target_review_date <= today or (latest and target_review_date > latest):
            window = (
                f"between {today + timedelta(days=1)} and {latest}" if latest else "after today"
            )
            raise Refused(
                "review_date_outside_protocol",
                f"the target review date must fall {window}",
                "target_review_date",
            )
        _require_code(
            escalation_code,
            rb.codes.escalation_thresholds,
            "unknown_escalation_code",
            "escalation threshold",
            "escalation_code",
        )
        due = (
            due_after(pilot, p.activated_at, rb.deadlines.pathway_release)
            if p.activated_at
            else None
        )
        pathway = Pathway.objects.create(
            participant=p,
            stage=stage,
            barrier_category=barrier_category,
            lead=lead,
            target_review_date=target_review_date,
            escalation_code=escalation_code,
            decided_by=by,
            decided_at=at,
            rulebook_version=version.number,
            due=due,
            late_days=late_by(pilot, due, at),
        )
        p.lead = lead
        p.save(update_fields=["lead"])
        recipients = _pathway_recipients(p, lead)
        subject = (
            f"Pathway released for {p.participant_id}: stage {stage}, barrier"
            f" {barrier_category}, lead {lead.username}, review by {target_review_date}"
        )
        Notification.objects.bulk_create(
            Notification(
                pilot=pilot,
                user=user,
                subject=subject,
                link=f"/pilots/{pilot.slug}/participants/{p.participant_id}/",
                created_at=at,
            )
            for user in recipients
        )
        _audit(
            version=version,
            by=by,
            role=role,
            action="pathway.release",
            participant=p,
            at=at,
            payload={
                "pathway": pathway.pk,
                "stage": stage,
                "barrier_category": barrier_category,
                "lead": lead.username,
                "target_review_date": target_review_date,
                "escalation_code": escalation_code,
                "screening": screening.pk,
                "notified": [u.username for u in recipients],
                "due": due,
                "late_days": pathway.late_days,
            },
        )
    _mirror(participant, p, "lead")
    return pathway


# --- C5 activity log and barrier tracker --------------------------------------------


def _episode(rb: Rulebook, code: str) -> Episode | None:
    return next((e for e in rb.episodes if e.code == code), None)


def _not_billable_because(p: Participant, episode: Episode, occurred_at: datetime) -> str:
    """Why an episode activity is not billable under its criteria ('' when it is)."""
    levels = episode.required_service_levels
    if levels and p.service_level not in levels:
        held = p.service_level or "no level"
        return f"needs service level {' or '.join(levels)}; {p.participant_id} has {held}"
    if episode.unit_cap is not None:
        billed = Activity.objects.filter(participant=p, episode=episode.code, billable=True)
        if episode.cap_period_days is not None:
            # A trailing window ending at this activity.
            since = occurred_at - timedelta(days=episode.cap_period_days)
            billed = billed.filter(occurred_at__gt=since, occurred_at__lte=occurred_at)
        if billed.count() >= episode.unit_cap:
            period = f" in {episode.cap_period_days} days" if episode.cap_period_days else ""
            return f"unit cap of {episode.unit_cap}{period} reached"
    if episode.authorisation_required:
        # The authorisation is the approved service level request (C3) at a level the
        # episode requires, decided before the activity and still within its expected
        # duration: the authorising role for levels and episodes is the clinical lead.
        approvals = ServiceLevelRequest.objects.filter(
            participant=p,
            status=ServiceLevelRequest.APPROVED,
            level__in=levels or [p.service_level],
            approved_at__lte=occurred_at,
        )
        if not any(
            a.expected_duration_days is None
            or a.approved_at + timedelta(days=a.expected_duration_days) >= occurred_at
            for a in approvals
        ):
            return "needs an authorisation in force at the time of the activity"
    return ""


def record_activity(
    *,
    participant: Participant,
    activity_type: str,
    occurred_at: datetime,
    episode: str = "",
    note: str = "",
    by: User,
    at: datetime,
) -> Activity:
    """C5 activity log: ordinary work against an activated participant. Baseline-package
    activity is recorded and visible but never billable; an episode activity is
    billable only when its criteria hold (else it is recorded as not billable)."""
    role = _authorise(by, "activity.record", participant)
    version = participant.pilot.current
    rb = version.rulebook
    with transaction.atomic(durable=True):
        p = _lock(participant)
        _require_activated(p)
        baseline_types = _codes(rb.baseline_package.activity_types) if rb.baseline_package else []
        episode_codes = [e.code for e in rb.episodes]
        known = (baseline_types or list(ORDINARY_ACTIVITY_TYPES)) + episode_codes
        if activity_type not in known:
            raise Refused(
                "unknown_activity_type",
                f"'{activity_type}' is not an activity type of this pilot"
                f" (it has: {', '.join(known)})",
                "activity_type",
            )
        if activity_type in episode_codes:
            if episode and episode != activity_type:
                raise Refused(
                    "episode_mismatch",
                    f"an {activity_type} activity is billed under {activity_type}, not {episode}",
                    "episode",
                )
            episode = activity_type
        elif episode:
            if activity_type in baseline_types:
                raise Refused(
                    "baseline_not_billable",
                    f"{activity_type} is baseline-package work: recorded, never billed",
                    "episode",
                )
            if episode not in episode_codes:
                raise Refused(
                    "unknown_episode",
                    f"'{episode}' is not an episode of this pilot"
                    f" (it has: {', '.join(episode_codes) or 'none'})",
                    "episode",
                )
        if occurred_at > at:
            raise Refused(
                "occurred_in_future",
                "an activity cannot be recorded before it happens",
                "occurred_at",
            )
        if p.activated_at is None or occurred_at < p.activated_at:
            raise Refused(
                "before_activation",
                f"{p.participant_id} was activated at {p.activated_at:%Y-%m-%d %H:%M} UTC;"
                " no pilot-coded work before that",
                "occurred_at",
            )
        found = _episode(rb, episode) if episode else None
        reason = _not_billable_because(p, found, occurred_at) if found else ""
        activity = Activity.objects.create(
            participant=p,
            activity_type=activity_type,
            occurred_at=occurred_at,
            recorded_by=by,
            baseline=activity_type in baseline_types,
            episode=episode,
            billable=found is not None and not reason,
            note=note.strip(),
            rulebook_version=version.number,
        )
        _audit(
            version=version,
            by=by,
            role=role,
            action="activity.record",
            participant=p,
            at=at,
            payload={
                "activity": activity.pk,
                "activity_type": activity_type,
                "occurred_at": occurred_at,
                "baseline": activity.baseline,
                "episode": episode,
                "billable": activity.billable,
                "not_billable_because": reason,
            },
        )
    return activity


def open_barrier(
    *,
    participant: Participant,
    category: str,
    description: str,
    owner: User,
    by: User,
    at: datetime,
) -> Barrier:
    """C5 barrier tracker: a barrier or dependency with a named owner, visible until
    resolved."""
    role = _authorise(by, "barrier.manage", participant)
    version = participant.pilot.current
    rb = version.rulebook
    with transaction.atomic(durable=True):
        p = _lock(participant)
        _require_activated(p)
        _require_code(
            category,
            rb.codes.barrier_categories,
            "unknown_barrier_category",
            "barrier category",
            "category",
        )
        if not description.strip():
            raise Refused("description_required", "describe the barrier", "description")
        if not _holds_role(owner, p.pilot):
            raise Refused(
                "owner_lacks_role", f"{owner.username} holds no role in this pilot", "owner"
            )
        barrier = Barrier.objects.create(
            participant=p,
            category=category,
            description=description.strip(),
            owner=owner,
            opened_by=by,
            opened_at=at,
        )
        _audit(
            version=version,
            by=by,
            role=role,
            action="barrier.open",
            participant=p,
            at=at,
            payload={
                "barrier": barrier.pk,
                "category": category,
                "description": barrier.description,
                "owner": owner.username,
            },
        )
    return barrier


def resolve_barrier(*, barrier: Barrier, by: User, at: datetime) -> Barrier:
    """C5 barrier tracker: a barrier leaves the tracker only by being resolved."""
    participant = barrier.participant
    role = _authorise(by, "barrier.manage", participant)
    version = participant.pilot.current
    with transaction.atomic(durable=True):
        p = _lock(participant)
        locked = Barrier.objects.select_for_update().get(pk=barrier.pk)
        _require_activated(p)
        if locked.resolved_at is not None:
            raise Refused(
                "already_resolved",
                f"this barrier was resolved at {locked.resolved_at:%Y-%m-%d %H:%M} UTC",
                "barrier",
            )
        if at < locked.opened_at:
            raise Refused(
                "resolved_before_opened", "a barrier cannot be resolved before it opened", "at"
            )
        locked.resolved_by = by
        locked.resolved_at = at
        locked.save(update_fields=["resolved_by", "resolved_at"])
        _audit(
            version=version,
            by=by,
            role=role,
            action="barrier.resolve",
            participant=p,
            at=at,
            payload={"barrier": locked.pk, "category": locked.category},
        )
    barrier.resolved_by, barrier.resolved_at = locked.resolved_by, locked.resolved_at
    return locked


# --- C6 progression reconciliation --------------------------------------------------


def review_progression(
    *,
    participant: Participant,
    outcome: str,
    review_date: date,
    stall_code: str = "",
    escalation_status: str = "",
    escalation_owner: User | None = None,
    next_checkpoint: date | None = None,
    by: User,
    at: datetime,
) -> ProgressionReview:
    """C6 progression reconciliation: every review cadence (14 calendar days) the
    supervisor records progressed, stalled (with a coded reason) or escalated (with a
    named owner, the threshold crossed and a dated next checkpoint). The unresolved
    dependency count is taken from the barrier tracker; "progressed" needs activity
    evidenced in the delivery log since the last review."""
    role = _authorise(by, "progression.review", participant)
    pilot = participant.pilot
    version = pilot.current
    rb = version.rulebook
    today = pilot.calendar.local_date(at)
    with transaction.atomic(durable=True):
        p = _lock(participant)
        _require_activated(p)
        if outcome not in PROGRESSION_OUTCOMES:
            raise Refused(
                "unknown_outcome",
                f"'{outcome}' is not one of {', '.join(PROGRESSION_OUTCOMES)}",
                "outcome",
            )
        activated_on = pilot.calendar.local_date(p.activated_at) if p.activated_at else today
        if review_date > today or review_date < activated_on:
            raise Refused(
                "review_date_invalid",
                f"the review date must fall between activation ({activated_on}) and today"
                f" ({today})",
                "review_date",
            )
        last = ProgressionReview.objects.filter(participant=p).order_by("-review_date").first()
        if last is not None and review_date <= last.review_date:
            raise Refused(
                "already_reviewed",
                f"{p.participant_id} was last reviewed on {last.review_date};"
                " a new review must be dated after it",
                "review_date",
            )
        # Cannot proceed without: a coded explanation for every stall, a named owner and a
        # dated next checkpoint for every escalation.
        if outcome == ProgressionReview.STALLED and not stall_code:
            raise Refused(
                "stall_code_required", "a stalled case needs a coded explanation", "stall_code"
            )
        if stall_code:
            _require_code(
                stall_code,
                rb.codes.stall_reasons,
                "unknown_stall_code",
                "stall reason",
                "stall_code",
            )
        if outcome == ProgressionReview.ESCALATED:
            if escalation_owner is None:
                raise Refused(
                    "escalation_owner_required",
                    "an escalation needs a named owner",
                    "escalation_owner",
                )
            if not escalation_status:
                raise Refused(
                    "escalation_status_required",
                    "an escalation names the escalation threshold crossed",
                    "escalation_status",
                )
            if next_checkpoint is None:
                raise Refused(
                    "next_checkpoint_required",
                    "an escalated participant needs a dated next checkpoint",
                    "next_checkpoint",
                )
        if escalation_owner is not None and not _holds_role(escalation_owner, pilot):
            raise Refused(
                "owner_lacks_role",
                f"{escalation_owner.username} holds no role in this pilot",
                "escalation_owner",
            )
        if escalation_status:
            _require_code(
                escalation_status,
                rb.codes.escalation_thresholds,
                "unknown_escalation_code",
                "escalation threshold",
                "escalation_status",
            )
        if next_checkpoint is not None and next_checkpoint <= review_date:
            raise Refused(
                "checkpoint_not_after_review",
                "the next checkpoint must come after the review date",
                "next_checkpoint",
            )
        # Validates: milestone activity evidenced in the delivery log since the last review.
        if outcome == ProgressionReview.PROGRESSED:
            zone = ZoneInfo(rb.pilot.timezone)
            evidence = Activity.objects.filter(
                participant=p,
                occurred_at__lt=datetime.combine(review_date + timedelta(days=1), time(), zone),
            )
            if last is not None:
                since = datetime.combine(last.review_date + timedelta(days=1), time(), zone)
                evidence = evidence.filter(occurred_at__gte=since)
            if not evidence.exists():
                raise Refused(
                    "no_evidenced_activity",
                    "no activity is in the delivery log since the last review:"
                    " progress must be evidenced",
                    "outcome",
                )
        # Lateness in business days like every other control, so the breach report compares
        # like with like; counted to the day the review was recorded, not its stated date.
        due = p.next_review_due
        review = ProgressionReview.objects.create(
            participant=p,
            outcome=outcome,
            unresolved_dependencies=Barrier.objects.filter(
                participant=p, resolved_at__isnull=True
            ).count(),
            escalation_status=escalation_status,
            stall_code=stall_code,
            escalation_owner=escalation_owner,
            review_date=review_date,
            next_checkpoint=next_checkpoint,
            decided_by=by,
            decided_at=at,
            rulebook_version=version.number,
            due=due,
            late_days=late_by(pilot, due, at),
        )
        p.next_review_due = review_due(pilot, review_date)
        p.save(update_fields=["next_review_due"])
        _audit(
            version=version,
            by=by,
            role=role,
            action="progression.review",
            participant=p,
            at=at,
            payload={
                "review": review.pk,
                "outcome": outcome,
                "review_date": review_date,
                "unresolved_dependencies": review.unresolved_dependencies,
                "stall_code": stall_code,
                "escalation_status": escalation_status,
                "escalation_owner": escalation_owner.username if escalation_owner else "",
                "next_checkpoint": next_checkpoint,
                "due": due,
                "late_days": review.late_days,
                "next_review_due": p.next_review_due,
            },
        )
    _mirror(participant, p, "next_review_due")
    return review


# --- relapse and re-engagement ------------------------------------------------------


def _engagement(
    *, participant: Participant, kind: str, reason: str, by: User, at: datetime
) -> EngagementEvent:
    role = _authorise(by, "engagement.record", participant)
    version = participant.pilot.current
    disengaging = kind == EngagementEvent.DISENGAGED
    with transaction.atomic(durable=True):
        p = _lock(participant)
        _require_activated(p)
        if disengaging and not p.engaged:
            raise Refused(
                "already_disengaged", f"{p.participant_id} is already disengaged", "participant"
            )
        if not disengaging and p.engaged:
            raise Refused(
                "already_engaged",
                f"{p.participant_id} is engaged; nothing to re-engage",
                "participant",
            )
        if not reason.strip():
            raise Refused("reason_required", "say why", "reason")
        event = EngagementEvent.objects.create(
            participant=p,
            kind=kind,
            reason=reason.strip(),
            decided_by=by,
            decided_at=at,
            rulebook_version=version.number,
        )
        p.engaged = not disengaging
        p.save(update_fields=["engaged"])
        _audit(
            version=version,
            by=by,
            role=role,
            action=f"engagement.{kind}",
            participant=p,
            at=at,
            payload={"event": event.pk, "reason": event.reason},
        )
    _mirror(participant, p, "engaged")
    return event


def record_disengagement(
    *, participant: Participant, reason: str, by: User, at: datetime
) -> EngagementEvent:
    """Relapse: an engaged participant disengages. They stay on the roster and their
    history is kept; work may continue (e.g. outreach to re-engage them)."""
    return _engagement(
        participant=participant, kind=EngagementEvent.DISENGAGED, reason=reason, by=by, at=at
    )


def record_reengagement(
    *, participant: Participant, reason: str, by: User, at: datetime
) -> EngagementEvent:
    """Re-engagement: a disengaged participant engages again and the work continues."""
    return _engagement(
        participant=participant, kind=EngagementEvent.REENGAGED, reason=reason, by=by, at=at
    )
