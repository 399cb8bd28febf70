"""API operations on the participant lifecycle (C1–C6): one per action, one per read model.

Thin, like the pages: parse, ask the policy, call one action or query, answer with the
read model of what was written. Participants are addressed by their participant ID;
another provider's participant answers 403 (`other_organisation`), as the actions do.
Decimals travel as strings, times as ISO 8601 with a zone.
"""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import File, Query, Router, Status
from ninja.files import UploadedFile

from fundpilot.participants import imports, queries
from fundpilot.participants.actions import care, intake
from fundpilot.participants.actions.referrals import decline_referral
from fundpilot.participants.api_schemas import (
    ActivationIn,
    ActivationOut,
    ActivityIn,
    ActivityOut,
    AssessmentIn,
    AssessmentOut,
    BarrierIn,
    BarrierOut,
    BreachRowOut,
    ComplianceReviewIn,
    ComplianceReviewOut,
    DeclineIn,
    DeclineOut,
    EligibilityFileIn,
    EligibilityFileOut,
    EngagementIn,
    EngagementOut,
    ImportOut,
    ImportRefusal,
    ParticipantOut,
    PathwayIn,
    PathwayOut,
    QueueOut,
    ReferralIn,
    ReferralOut,
    RemovalIn,
    RemovalOut,
    ReviewIn,
    ReviewOut,
    RowProblemOut,
    ServiceLevelDecisionIn,
    ServiceLevelIn,
    ServiceLevelOut,
    TimelineEventOut,
)
from fundpilot.participants.models import (
    ActivationDecision,
    Activity,
    Assessment,
    Barrier,
    ComplianceReview,
    EligibilityFile,
    EngagementEvent,
    Participant,
    Pathway,
    ProgressionReview,
    Referral,
    RosterRemoval,
    ServiceLevelRequest,
)
from fundpilot.pilots import policy
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused

router = Router(tags=["participants"])


E = {401: Error, 403: Error, 404: Error, 422: Error}
E_IMPORT = {**E, 422: ImportRefusal}
LIMIT = 1000


# --- helpers ------------------------------------------------------------------------------


def _participant(request: HttpRequest, pilot: str, participant_id: str, perm: str) -> Participant:
    """The participant, if the caller may `perm` on it (403 for another provider's)."""
    p, _ = pilot_for(request.auth, pilot, perm)
    participant = (
        Participant.objects.select_related("pilot", "provider", "referral", "lead")
        .filter(pilot=p, participant_id=participant_id)
        .first()
    )
    if participant is None:
        raise Http404(f"no participant '{participant_id}' in {p.slug}")
    policy.require_for_provider(request.auth, perm, p, participant.provider_id)
    return participant


def _person(username: str, field: str) -> User:
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise Refused("unknown_user", f"there is no active user '{username}'", field)
    return user


def _maybe_person(username: str | None, field: str) -> User | None:
    return _person(username, field) if username else None


def _scoped(request: HttpRequest, p: Pilot, rows: QuerySet[Any], field: str) -> QuerySet[Any]:
    return policy.participants_scope(request.auth, p, rows, field)


def _page(rows: QuerySet[Any], participant_id: str | None, field: str, limit: int) -> list[Any]:
    if participant_id:
        rows = rows.filter(**{field: participant_id})
    return list(rows.order_by("-pk")[: min(max(limit, 1), LIMIT)])


def _now() -> datetime:
    return timezone.now()


def _register(path: str, model: Any, out: Any, summary: str, *related: str) -> None:
    """GET /{pilot}/<path>: one register of participant decisions, newest first, scoped
    to the providers the caller may see; `participant_id` narrows it to one participant."""

    @permission("participant.view")
    def listing(
        request: HttpRequest, pilot: str, participant_id: str | None = None, limit: int = 100
    ) -> list[Any]:
        p, _ = pilot_for(request.auth, pilot, "participant.view")
        rows = model.objects.filter(participant__pilot=p).select_related("participant", *related)
        rows = _scoped(request, p, rows, "participant__provider")
        return _page(rows, participant_id, "participant__participant_id", limit)

    name = "list_" + path.replace("-", "_")
    listing.__name__ = listing.__qualname__ = name
    router.get(
        f"/{{pilot}}/{path}", response={200: list[out], **E}, summary=summary, operation_id=name
    )(listing)


# --- C1: referrals, assessments, eligibility files ---------------------------------------


@router.post(
    "/{pilot}/referrals",
    response={201: ReferralOut, **E},
    summary="Receive a referral from any source (no wrong door)",
)
@permission("referral.receive")
def receive_referral(request: HttpRequest, pilot: str, body: ReferralIn) -> Status[Referral]:
    p, _ = pilot_for(request.auth, pilot, "referral.receive")
    provider = Organisation.objects.filter(code=body.provider).first()
    if provider is None:
        raise Refused("unknown_provider", f"there is no organisation '{body.provider}'", "provider")
    referral = intake.receive_referral(
        pilot=p, **body.dict(exclude={"provider"}), provider=provider, by=request.auth, at=_now()
    )
    return Status(201, referral)


@router.get(
    "/{pilot}/referrals",
    response={200: list[ReferralOut], **E},
    summary="Referrals received, newest first",
)
@permission("participant.view")
def list_referrals(
    request: HttpRequest, pilot: str, participant_id: str | None = None, limit: int = 100
) -> list[Referral]:
    p, _ = pilot_for(request.auth, pilot, "participant.view")
    rows = Referral.objects.filter(pilot=p).select_related(
        "provider", "received_by", "eligibility_file"
    )
    return _page(_scoped(request, p, rows, "provider"), participant_id, "participant_id", limit)


@router.post(
    "/{pilot}/assessments",
    response={201: AssessmentOut, **E},
    summary="Record a signed assessment (baseline, screening or reassessment)",
)
@permission("assessment.record")
def record_assessment(request: HttpRequest, pilot: str, body: AssessmentIn) -> Status[Assessment]:
    p, _ = pilot_for(request.auth, pilot, "assessment.record")
    assessment = intake.record_assessment(pilot=p, **body.dict(), by=request.auth, at=_now())
    return Status(201, assessment)


@router.get(
    "/{pilot}/assessments",
    response={200: list[AssessmentOut], **E},
    summary="Assessments recorded, newest first",
)
@permission("participant.view")
def list_assessments(
    request: HttpRequest, pilot: str, participant_id: str | None = None, limit: int = 100
) -> list[Assessment]:
    p, _ = pilot_for(request.auth, pilot, "participant.view")
    visible = _scoped(request, p, Referral.objects.filter(pilot=p), "provider")
    rows = Assessment.objects.filter(
        pilot=p, participant_id__in=visible.values("participant_id")
    ).select_related("recorded_by")
    return _page(rows, participant_id, "participant_id", limit)


@router.post(
    "/{pilot}/eligibility-files",
    response={201: EligibilityFileOut, **E},
    summary="C1: file eligibility for a referral (pilot-eligible, or excluded)",
)
@permission("eligibility.file")
def file_eligibility(
    request: HttpRequest, pilot: str, body: EligibilityFileIn
) -> Status[EligibilityFile]:
    p, _ = pilot_for(request.auth, pilot, "eligibility.file")
    referral = Referral.objects.filter(pilot=p, reference=body.referral).first()
    if referral is None:
        raise Refused("unknown_referral", f"there is no referral '{body.referral}'", "referral")
    assessment = Assessment.objects.filter(pilot=p, pk=body.assessment).first()
    if assessment is None:
        raise Refused(
            "unknown_assessment", f"there is no assessment #{body.assessment}", "assessment"
        )
    filed = intake.file_eligibility(
        referral=referral,
        assessment=assessment,
        **body.dict(exclude={"referral", "assessment"}),
        by=request.auth,
        at=_now(),
    )
    return Status(201, filed)


@router.post(
    "/{pilot}/referrals/{reference}/decline",
    response={201: DeclineOut, **E},
    summary="C2 no wrong door: answer a referral that cannot be filed with a coded reason",
)
@permission("activation.decide")
def decline(request: HttpRequest, pilot: str, reference: str, body: DeclineIn) -> Status[Any]:
    p, _ = pilot_for(request.auth, pilot, "activation.decide")
    referral = Referral.objects.filter(pilot=p, reference=reference).first()
    if referral is None:
        raise Http404(f"no referral '{reference}'")
    return Status(
        201, decline_referral(referral=referral, **body.dict(), by=request.auth, at=_now())
    )


@router.get(
    "/{pilot}/eligibility-files",
    response={200: list[EligibilityFileOut], **E},
    summary="C1 eligibility files, newest first",
)
@permission("participant.view")
def list_eligibility_files(
    request: HttpRequest, pilot: str, participant_id: str | None = None, limit: int = 100
) -> list[EligibilityFile]:
    p, _ = pilot_for(request.auth, pilot, "participant.view")
    rows = EligibilityFile.objects.filter(referral__pilot=p).select_related(
        "referral", "decided_by"
    )
    rows = _scoped(request, p, rows, "referral__provider")
    return _page(rows, participant_id, "participant_id", limit)


# --- participants and their read models ---------------------------------------------------


@router.get(
    "/{pilot}/participants",
    response={200: list[ParticipantOut], **E},
    summary="Pilot-eligible participants you may see, newest first",
)
@permission("participant.view")
def list_participants(
    request: HttpRequest, pilot: str, status: str | None = None, limit: int = 100
) -> list[Participant]:
    p, _ = pilot_for(request.auth, pilot, "participant.view")
    rows = queries.participants_for(request.auth, p).select_related("referral", "provider", "lead")
    if status:
        rows = rows.filter(status=status)
    return _page(rows, None, "participant_id", limit)


@router.get(
    "/{pilot}/participants/{participant_id}",
    response={200: ParticipantOut, **E},
    summary="One participant and where they stand now",
)
@permission("participant.view")
def get_participant(request: HttpRequest, pilot: str, participant_id: str) -> Participant:
    return _participant(request, pilot, participant_id, "participant.view")


@router.get(
    "/{pilot}/participants/{participant_id}/timeline",
    response={200: list[TimelineEventOut], **E},
    summary="The participant's whole history, oldest first",
)
@permission("participant.view")
def get_timeline(request: HttpRequest, pilot: str, participant_id: str) -> list[Any]:
    participant = _participant(request, pilot, participant_id, "participant.view")
    return list(queries.timeline(participant))


# --- C2: activation, the roster, compliance review ----------------------------------------


@router.post(
    "/{pilot}/participants/{participant_id}/activation",
    response={201: ActivationOut, **E},
    summary="C2: decide activation (activated, pending clarification or rejected)",
)
@permission("activation.decide")
def decide_activation(
    request: HttpRequest, pilot: str, participant_id: str, body: ActivationIn
) -> Status[ActivationDecision]:
    participant = _participant(request, pilot, participant_id, "activation.decide")
    decision = intake.decide_activation(
        participant=participant,
        **body.dict(exclude={"clarification_owner"}),
        clarification_owner=_maybe_person(body.clarification_owner, "clarification_owner"),
        by=request.auth,
        at=_now(),
    )
    return Status(201, decision)


_register(
    "activations",
    ActivationDecision,
    ActivationOut,
    "The activation register, newest first",
    "decided_by",
    "clarification_owner",
)


@router.post(
    "/{pilot}/participants/{participant_id}/removal",
    response={201: RemovalOut, **E},
    summary="Remove an activated participant from the locked roster (coded)",
)
@permission("roster.remove")
def remove_from_roster(
    request: HttpRequest, pilot: str, participant_id: str, body: RemovalIn
) -> Status[RosterRemoval]:
    participant = _participant(request, pilot, participant_id, "roster.remove")
    removal = intake.remove_from_roster(
        participant=participant, **body.dict(), by=request.auth, at=_now()
    )
    return Status(201, removal)


_register(
    "removals", RosterRemoval, RemovalOut, "Removals from the roster, newest first", "decided_by"
)


@router.post(
    "/{pilot}/participants/{participant_id}/compliance-review",
    response={201: ComplianceReviewOut, **E},
    summary="Compliance and payer relations record their review of the activation register",
)
@permission("compliance.review")
def review_compliance(
    request: HttpRequest, pilot: str, participant_id: str, body: ComplianceReviewIn
) -> Status[ComplianceReview]:
    participant = _participant(request, pilot, participant_id, "compliance.review")
    review = intake.review_compliance(
        participant=participant, note=body.note, by=request.auth, at=_now()
    )
    return Status(201, review)


_register(
    "compliance-reviews",
    ComplianceReview,
    ComplianceReviewOut,
    "Compliance reviews, newest first",
    "decided_by",
)


# --- C3: service levels -------------------------------------------------------------------


@router.post(
    "/{pilot}/participants/{participant_id}/service-levels",
    response={201: ServiceLevelOut, **E},
    summary="C3: request an initial service level or an upgrade, with evidence",
)
@permission("service_level.request")
def request_service_level(
    request: HttpRequest, pilot: str, participant_id: str, body: ServiceLevelIn
) -> Status[ServiceLevelRequest]:
    participant = _participant(request, pilot, participant_id, "service_level.request")
    asked = care.request_service_level(
        participant=participant, **body.dict(), by=request.auth, at=_now()
    )
    return Status(201, asked)


@router.post(
    "/{pilot}/service-levels/{request_id}/decision",
    response={201: ServiceLevelOut, **E},
    summary="C3: the clinical lead approves or refuses a request, with rationale",
)
@permission("service_level.decide")
def decide_service_level(
    request: HttpRequest, pilot: str, request_id: int, body: ServiceLevelDecisionIn
) -> Status[ServiceLevelRequest]:
    p, _ = pilot_for(request.auth, pilot, "service_level.decide")
    asked = (
        ServiceLevelRequest.objects.select_related("participant")
        .filter(participant__pilot=p, pk=request_id)
        .first()
    )
    if asked is None:
        raise Http404(f"no service level request #{request_id} in {p.slug}")
    policy.require_for_provider(
        request.auth, "service_level.decide", p, asked.participant.provider_id
    )
    decided = care.decide_service_level(request=asked, **body.dict(), by=request.auth, at=_now())
    return Status(201, decided)


_register(
    "service-levels",
    ServiceLevelRequest,
    ServiceLevelOut,
    "The authorisation register: requests and decisions, newest first",
    "decided_by",
    "approver",
)


# --- C4: pathways -------------------------------------------------------------------------


@router.post(
    "/{pilot}/participants/{participant_id}/pathways",
    response={201: PathwayOut, **E},
    summary="C4: release the milestone pathway to an assigned lead",
)
@permission("pathway.release")
def release_pathway(
    request: HttpRequest, pilot: str, participant_id: str, body: PathwayIn
) -> Status[Pathway]:
    participant = _participant(request, pilot, participant_id, "pathway.release")
    pathway = care.release_pathway(
        participant=participant,
        **body.dict(exclude={"lead"}),
        lead=_person(body.lead, "lead"),
        by=request.auth,
        at=_now(),
    )
    return Status(201, pathway)


_register("pathways", Pathway, PathwayOut, "Released pathways, newest first", "decided_by", "lead")


# --- C5: activities and barriers ----------------------------------------------------------


@router.post(
    "/{pilot}/participants/{participant_id}/activities",
    response={201: ActivityOut, **E},
    summary="C5: record work done with the participant",
)
@permission("activity.record")
def record_activity(
    request: HttpRequest, pilot: str, participant_id: str, body: ActivityIn
) -> Status[Activity]:
    participant = _participant(request, pilot, participant_id, "activity.record")
    activity = care.record_activity(
        participant=participant, **body.dict(), by=request.auth, at=_now()
    )
    return Status(201, activity)


_register("activities", Activity, ActivityOut, "The activity log, newest first", "recorded_by")


@router.post(
    "/{pilot}/participants/{participant_id}/barriers",
    response={201: BarrierOut, **E},
    summary="C5: open a barrier or dependency, with an owner",
)
@permission("barrier.manage")
def open_barrier(
    request: HttpRequest, pilot: str, participant_id: str, body: BarrierIn
) -> Status[Barrier]:
    participant = _participant(request, pilot, participant_id, "barrier.manage")
    barrier = care.open_barrier(
        participant=participant,
        category=body.category,
        description=body.description,
        owner=_person(body.owner, "owner"),
        by=request.auth,
        at=_now(),
    )
    return Status(201, barrier)


@router.post(
    "/{pilot}/barriers/{barrier_id}/resolve",
    response={201: BarrierOut, **E},
    summary="C5: resolve a barrier",
)
@permission("barrier.manage")
def resolve_barrier(request: HttpRequest, pilot: str, barrier_id: int) -> Status[Barrier]:
    p, _ = pilot_for(request.auth, pilot, "barrier.manage")
    barrier = (
        Barrier.objects.select_related("participant")
        .filter(participant__pilot=p, pk=barrier_id)
        .first()
    )
    if barrier is None:
        raise Http404(f"no barrier #{barrier_id} in {p.slug}")
    policy.require_for_provider(request.auth, "barrier.manage", p, barrier.participant.provider_id)
    return Status(201, care.resolve_barrier(barrier=barrier, by=request.auth, at=_now()))


@router.get(
    "/{pilot}/barriers",
    response={200: list[BarrierOut], **E},
    summary="The barrier tracker, newest first (open ones only with unresolved=true)",
)
@permission("participant.view")
def list_barriers(
    request: HttpRequest,
    pilot: str,
    participant_id: str | None = None,
    unresolved: bool = False,
    limit: int = 100,
) -> list[Barrier]:
    p, _ = pilot_for(request.auth, pilot, "participant.view")
    rows = Barrier.objects.filter(participant__pilot=p).select_related(
        "participant", "owner", "opened_by", "resolved_by"
    )
    if unresolved:
        rows = rows.filter(resolved_at__isnull=True)
    rows = _scoped(request, p, rows, "participant__provider")
    return _page(rows, participant_id, "participant__participant_id", limit)


# --- C6: progression reviews; relapse and re-engagement ---------------------------------


@router.post(
    "/{pilot}/participants/{participant_id}/reviews",
    response={201: ReviewOut, **E},
    summary="C6: the 14-day progression review (progressed, stalled or escalated)",
)
@permission("progression.review")
def review_progression(
    request: HttpRequest, pilot: str, participant_id: str, body: ReviewIn
) -> Status[ProgressionReview]:
    participant = _participant(request, pilot, participant_id, "progression.review")
    review = care.review_progression(
        participant=participant,
        **body.dict(exclude={"escalation_owner"}),
        escalation_owner=_maybe_person(body.escalation_owner, "escalation_owner"),
        by=request.auth,
        at=_now(),
    )
    return Status(201, review)


_register(
    "reviews",
    ProgressionReview,
    ReviewOut,
    "Progression reviews, newest first",
    "decided_by",
    "escalation_owner",
)


@router.post(
    "/{pilot}/participants/{participant_id}/disengagement",
    response={201: EngagementOut, **E},
    summary="Record that the participant disengaged (relapse); the history is kept",
)
@permission("engagement.record")
def record_disengagement(
    request: HttpRequest, pilot: str, participant_id: str, body: EngagementIn
) -> Status[EngagementEvent]:
    participant = _participant(request, pilot, participant_id, "engagement.record")
    event = care.record_disengagement(
        participant=participant, reason=body.reason, by=request.auth, at=_now()
    )
    return Status(201, event)


@router.post(
    "/{pilot}/participants/{participant_id}/reengagement",
    response={201: EngagementOut, **E},
    summary="Record that the participant re-engaged; work continues",
)
@permission("engagement.record")
def record_reengagement(
    request: HttpRequest, pilot: str, participant_id: str, body: EngagementIn
) -> Status[EngagementEvent]:
    participant = _participant(request, pilot, participant_id, "engagement.record")
    event = care.record_reengagement(
        participant=participant, reason=body.reason, by=request.auth, at=_now()
    )
    return Status(201, event)


_register(
    "engagement",
    EngagementEvent,
    EngagementOut,
    "Disengagements and re-engagements, newest first",
    "decided_by",
)


# --- work queues and breaches -------------------------------------------------------------


@router.get(
    "/{pilot}/queue",
    response={200: QueueOut, **E},
    summary="Your work queue: due today, overdue (with days late), waiting on others",
)
@permission("queue.view")
def work_queue(request: HttpRequest, pilot: str) -> Any:
    p, _ = pilot_for(request.auth, pilot, "queue.view")
    return queries.work_queue(request.auth, p, today=p.calendar.local_date(_now()))


@router.get(
    "/{pilot}/breaches",
    response={200: list[BreachRowOut], **E},
    summary="Deadline breaches in a month (YYYY-MM), per control and provider",
)
@permission("breaches.view")
def breach_report(
    request: HttpRequest, pilot: str, month: str = Query(..., pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
) -> list[Any]:
    p, _ = pilot_for(request.auth, pilot, "breaches.view")
    return list(queries.breach_report(p, month=month, user=request.auth))


# --- imports ------------------------------------------------------------------------------


def _import_out(kind: str, filename: str, result: imports.ImportResult) -> Status[ImportOut]:
    batch = result.batch
    out = ImportOut(
        kind=kind,
        filename=filename,
        rows=result.rows,
        already_imported=result.already_imported,
        sha256=batch.sha256 if batch is not None else None,
    )
    return Status(200 if result.already_imported else 201, out)


def _import_refused(exc: imports.ImportRefused) -> Status[ImportRefusal]:
    return Status(
        422,
        ImportRefusal(
            code=exc.code,
            message=exc.message,
            field=exc.field,
            problems=[
                RowProblemOut(line=p.line, column=p.column, reason=p.reason) for p in exc.problems
            ],
        ),
    )


@router.post(
    "/{pilot}/imports/eligibility",
    response={200: ImportOut, 201: ImportOut, **E_IMPORT},
    summary="Load a payer's eligibility register (CSV); all rows or none",
)
@permission("eligibility.import")
def import_eligibility(
    request: HttpRequest, pilot: str, payer: str, file: File[UploadedFile]
) -> Status[Any]:
    p, _ = pilot_for(request.auth, pilot, "eligibility.import")
    filename = file.name or "register.csv"
    try:
        result = imports.import_eligibility(
            pilot=p,
            payer_id=payer,
            filename=filename,
            content=file.read(),
            by=request.auth,
            at=_now(),
        )
    except imports.ImportRefused as exc:
        return _import_refused(exc)
    return _import_out("eligibility", filename, result)


@router.post(
    "/{pilot}/imports/referrals",
    response={200: ImportOut, 201: ImportOut, **E_IMPORT},
    summary="Load referrals (CSV); all rows or none",
)
@permission("referral.receive")
def import_referrals(request: HttpRequest, pilot: str, file: File[UploadedFile]) -> Status[Any]:
    p, _ = pilot_for(request.auth, pilot, "referral.receive")
    filename = file.name or "referrals.csv"
    try:
        result = imports.import_referrals(
            pilot=p, filename=filename, content=file.read(), by=request.auth, at=_now()
        )
    except imports.ImportRefused as exc:
        return _import_refused(exc)
    return _import_out("referrals", filename, result)
