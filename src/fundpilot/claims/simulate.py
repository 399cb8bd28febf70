"""Synthetic claims: the milestones, evidence and verification of a simulated history,
made through the real actions (C7–C11).

`simulate_claims(pilot=…, seed=S, until=…)` runs after the participant history of the
same seed (`fundpilot.participants.simulate`), which it reads but never changes (the
claims layer sits above the participants layer, so this is a second pass):

- For every participant of that history who is on the roster, engaged and (where the
  rulebook has stages) has a released pathway, the milestone library is walked in
  prerequisite order. Evidence is uploaded (small synthetic files of an allowed type: a
  PDF naming the participant and the document, or an extract of the delivery log
  listing a face-to-face contact that was really recorded; now and then a copy of
  another participant's document, so the reuse flag shows), the claim drafted with a
  date inside the attempt's window, reviewed for readiness by a supervisor, submitted.
  Independent-tier claims are verified by an independent verifier, on time or late;
  some are rejected with reason codes, and then corrected and claimed again, disputed
  (overturned or upheld, sometimes after escalation) or left.
- Each month that has ended, the verification body draws the post-payment sample of
  its sampled-tier payable claims (seed derived from the simulation's), audits every
  item (a few fail, some in part), and appraises it; a failed audit may be disputed,
  and a changed finding calls for a new appraisal. A provider disputes one coded
  activation rejection.
- A pilot with tranches gets its staged contract claims (see `simulation.contract`).

Every action gets the simulated moment as `at`, on the pilot's working days and hours;
nothing inside reads the clock. A step the actions would refuse is never taken: the
simulation reads the history as the actions do. Determinism: each participant draws
from its own random stream, seeded by (seed, participant ID); all the work runs in one
time-ordered queue (ties broken by a fixed key), so the same seed, history and `until`
give the same records.
"""

from __future__ import annotations

import hashlib
import heapq
import time as wallclock
from collections import defaultdict
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import Count
from django.utils import timezone

from fundpilot.audit import log
from fundpilot.audit.models import AuditRecord
from fundpilot.claims import tracker
from fundpilot.claims.models import (
    Appraisal,
    Claim,
    ClaimEvidence,
    Dispute,
    DisputeStep,
    Evidence,
    ReadinessReview,
    Recoupment,
    Sample,
    SampleAudit,
    SampleItem,
    Verification,
)
from fundpilot.claims.simulation.contract import contract_claims
from fundpilot.claims.simulation.journey import Case, ParticipantClaims
from fundpilot.claims.simulation.oversight import activation_dispute, month_sample, periods
from fundpilot.claims.simulation.world import FACE_TO_FACE, Progress, World, people_of
from fundpilot.participants.models import Activity, EngagementEvent, Participant, Pathway
from fundpilot.participants.simulation.world import Clock
from fundpilot.pilots import policy
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import Rulebook

Work = Generator[datetime, None, None]  # resumed at each moment it yields


@dataclass(frozen=True)
class ClaimsSimulation:
    """What the claims pass did, and where the pilot's claims stand after it."""

    pilot: str
    seed: int
    until: datetime
    participants: int  # participants whose milestones were worked
    actions: int
    seconds: float
    by_action: dict[str, int]
    claims: dict[str, int]  # the pilot's claims by status
    tranches: dict[str, str]  # tranche → status of its latest claim

    @property
    def rate(self) -> float:
        return self.actions / self.seconds if self.seconds else 0.0


def _until(rb: Rulebook, until: datetime | None) -> datetime:
    zone = ZoneInfo(rb.pilot.timezone)
    end = datetime.combine(rb.pilot.period_end + timedelta(days=1), time(), zone).astimezone(UTC)
    until = min(until or timezone.now(), end)
    if until.astimezone(zone).date() < rb.pilot.period_start:
        raise Refused(
            "outside_pilot_period",
            f"nothing to simulate: the pilot runs {rb.pilot.period_start} to {rb.pilot.period_end}",
            "until",
        )
    return until


def prefix(seed: int) -> str:
    """The participant IDs the participant history of `seed` gives."""
    return f"SIM{seed}-"


def simulate_claims(
    *, pilot: Pilot, seed: int, until: datetime | None = None, progress: Progress | None = None
) -> ClaimsSimulation:
    """Claims, evidence, verifications, samples, disputes and tranches for the history of
    `seed` up to `until` (default now, never past the pilot period), through the real
    actions. `progress(days, total)` reports the simulated days done."""
    rb = pilot.rulebook
    until = _until(rb, until)
    w = World(
        pilot=pilot, rb=rb, clock=Clock(pilot, rb), seed=seed, until=until, people=people_of(pilot)
    )
    cases = _cases(w)
    ids = [c.participant.pk for c in cases]
    if Evidence.objects.filter(participant_id__in=ids).exists() or (
        Claim.objects.filter(participant_id__in=ids).exists()
    ):
        raise Refused(
            "already_simulated",
            f"{pilot.slug} already holds the claims of seed {seed}'s history",
            "seed",
        )
    if rb.tranches and Claim.objects.filter(pilot=pilot, scope="contract").exists():
        raise Refused("already_simulated", f"{pilot.slug} already holds contract claims", "pilot")
    chain = log.pilot_chain(pilot.slug)
    before = AuditRecord.objects.filter(chain=chain).count()
    began = wallclock.perf_counter()
    queue: list[tuple[int, int, Work]] = []  # (kind, key, work)
    start = min((c.released_at for c in cases), default=until)
    if rb.tranches:
        start = min(start, _start(w))
        queue.append((0, 0, contract_claims(w)))
    if cases:
        queue.append((0, 1, activation_dispute(w, prefix(seed))))
    if cases and rb.sampling is not None:
        for i, period in enumerate(periods(w.clock.local(start), w.today)):
            queue.append((0, 2 + i, month_sample(w, period)))
    queue += [(1, case.index, ParticipantClaims(w, case).run()) for case in cases]
    _run(w, queue, start, progress)
    seconds = wallclock.perf_counter() - began
    new = AuditRecord.objects.filter(chain=chain, seq__gt=before)
    by_action = dict(new.values_list("action").annotate(n=Count("pk")).order_by("action"))
    statuses = Claim.objects.filter(pilot=pilot).values_list("status").annotate(n=Count("pk"))
    tranches = {}
    for claim in Claim.objects.filter(pilot=pilot, scope="contract").order_by("pk"):
        tranches[claim.tranche] = claim.status
    return ClaimsSimulation(
        pilot=pilot.slug,
        seed=seed,
        until=until,
        participants=len(cases),
        actions=sum(by_action.values()),
        seconds=seconds,
        by_action=by_action,
        claims=dict(sorted(statuses)),
        tranches={t.code: tranches.get(t.code, "not claimed") for t in rb.tranches},
    )


def _start(w: World) -> datetime:
    return w.morning(w.rb.pilot.period_start)


def _run(
    w: World,
    queue: list[tuple[int, int, Work]],
    start: datetime,
    progress: Progress | None,
) -> None:
    """Resume each generator at the moment it asked for, in time order (at equal times
    the system's work first, then participants by index), up to `until`."""
    started: list[tuple[datetime, int, int, Work]] = []
    for kind, key, item in queue:
        try:
            started.append((next(item), kind, key, item))
        except StopIteration:
            continue
    heapq.heapify(started)
    total = max((w.until - start).days, 1)
    shown = -1
    while started and started[0][0] <= w.until:
        at, kind, key, item = heapq.heappop(started)
        if progress is not None and (day := min(max((at - start).days, 0), total)) != shown:
            shown = day
            progress(day, total)
        try:
            following = item.send(None)
        except StopIteration:
            continue
        if following < at:
            raise RuntimeError(f"the claims simulation went back in time at {at} ({kind}, {key})")
        heapq.heappush(started, (following, kind, key, item))
    for *_, item in started:
        item.close()
    if progress is not None:
        progress(total, total)


def _cases(w: World) -> list[Case]:
    """The participants of the seed's history whose milestones can be worked: activated,
    engaged, a pathway released where the rulebook has stages, a lead who may draft
    claims, and a supervisor in their organisation."""
    if not tracker.participant_milestones(w.rb):
        return []
    participants = list(
        Participant.objects.filter(
            pilot=w.pilot,
            status=Participant.ACTIVATED,
            engaged=True,
            participant_id__startswith=prefix(w.seed),
            activated_at__lte=w.until,
        )
        .select_related("provider", "lead__organisation")
        .order_by("participant_id")
    )
    ids = [p.pk for p in participants]
    pathways: dict[int, Pathway] = {}
    for first in (
        Pathway.objects.filter(participant_id__in=ids, decided_at__lte=w.until)
        .select_related("lead__organisation")
        .order_by("decided_at", "pk")
    ):
        pathways.setdefault(first.participant_id, first)
    away: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for event in EngagementEvent.objects.filter(participant_id__in=ids).order_by(
        "decided_at", "pk"
    ):
        spells = away[event.participant_id]
        if event.kind == EngagementEvent.DISENGAGED:
            spells.append((event.decided_at, None))
        elif spells and spells[-1][1] is None:
            spells[-1] = (spells[-1][0], event.decided_at)
    contacts: dict[int, list[tuple[datetime, str, str]]] = defaultdict(list)
    rows = (
        Activity.objects.filter(participant_id__in=ids, activity_type__in=FACE_TO_FACE)
        .order_by("occurred_at", "pk")
        .values_list("participant_id", "occurred_at", "activity_type", "recorded_by__username")
    )
    for pk, occurred, activity, by in rows:
        contacts[pk].append((occurred, activity, by))
    can_draft: dict[int, bool] = {}
    cases = []
    for index, p in enumerate(participants):
        p.pilot = w.pilot
        pathway = pathways.get(p.pk)
        if w.rb.milestone_stages and pathway is None:
            continue
        lead = p.lead or (pathway.lead if pathway else None)
        supervisors = w.people.supervisors.get(p.provider_id, [])
        if lead is None or lead.organisation_id != p.provider_id or not supervisors:
            continue
        if lead.pk not in can_draft:
            can_draft[lead.pk] = policy.allowed(lead, "claim.draft", w.pilot)
        if not can_draft[lead.pk]:
            continue
        spells = away[p.pk]
        seen = [
            (w.clock.local(at), activity, by)
            for at, activity, by in contacts[p.pk]
            if at <= w.until and not any(s <= at and (b is None or at < b) for s, b in spells)
        ]
        assert p.activated_at is not None
        cases.append(
            Case(
                index=index,
                participant=p,
                lead=lead,
                supervisors=supervisors,
                released_at=pathway.decided_at if pathway else p.activated_at,
                away=spells,
                contacts=seen,
            )
        )
    return cases


# --- comparing runs ------------------------------------------------------------------

_NATURAL: dict[type[models.Model], str] = {
    User: "username",
    Organisation: "code",
    Participant: "participant_id",
    Claim: "reference",
    Evidence: "sha256",
    Sample: "period",
}
# Columns that hold row ids or the pilot's slug, which differ between two runs.
_SKIP = {"file", "basis_key", "new_decision", "detail", "pilot"}
_TABLES: tuple[tuple[type[models.Model], str], ...] = (
    (Evidence, "pilot"),
    (Claim, "pilot"),
    (ClaimEvidence, "claim__pilot"),
    (ReadinessReview, "claim__pilot"),
    (Verification, "claim__pilot"),
    (Sample, "pilot"),
    (SampleItem, "sample__pilot"),
    (SampleAudit, "item__sample__pilot"),
    (Appraisal, "sample__pilot"),
    (Recoupment, "pilot"),
    (Dispute, "pilot"),
    (DisputeStep, "dispute__pilot"),
)


def fingerprint(pilot: Pilot) -> str:
    """SHA-256 of the pilot's claim records by content (not by row id), so two runs in
    two databases, or in two pilots with the same rulebook, can be compared."""
    digest = hashlib.sha256()
    for model, where in _TABLES:
        columns: list[str] = []
        for f in model._meta.concrete_fields:
            if f.primary_key or f.name in _SKIP or f.name.endswith("_ptr"):
                continue
            if f.is_relation:
                target = f.related_model
                if target in _NATURAL:
                    columns.append(f"{f.name}__{_NATURAL[target]}")
            else:
                columns.append(f.name)
        rows = model.objects.filter(**{where: pilot}).values_list(*columns)
        digest.update(model.__name__.encode())
        for row in sorted(repr(r) for r in rows):
            digest.update(row.encode())
    return digest.hexdigest()
