"""Synthetic history: a plausible, deterministic pilot history made through the real actions.

`simulate(pilot=…, participants=N, months=M, seed=S)` walks N referrals through intake
and care over the M months up to `until` (default: now), calling the same actions a
person would: the payer's eligibility register and its monthly updates
(`import_eligibility`), referrals typed in or arriving in the providers' daily referral
files (`receive_referral`, `import_referrals`), assessments, C1 files (some excluded),
C2 activations (some pending then resolved, some rejected with a code), compliance
reviews, C3 service levels and upgrades (blended-rate pilots), C4 pathways (milestone
pilots), C5 activities and barriers, C6 reviews every 14 days, relapses and
re-engagements, a few removals from the roster, and some decisions taken late so that
breaches show. Every action gets the simulated moment as `at`, on the pilot's working
days and hours; nothing inside reads the clock.

Determinism: each referral draws from its own random stream seeded by (seed, index),
and the events of all referrals run in one time-ordered queue (ties broken by index),
so the same seed, size and `until` give the same records. People are the pilot's
members by role; when every lead of a provider is at caseload capacity a care
coordinator is hired through the real actions (create_user, grant_role).

Example-aware but not example-bound: codes come from the rulebook in force; a few
code names of the example pilots (R-PAYER, P-REGISTER, ST-CONTACT …) are preferred
when present and otherwise any code of the right list is used.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import Count
from django.utils import timezone

from fundpilot.audit import log
from fundpilot.audit.models import AuditRecord
from fundpilot.participants import imports
from fundpilot.participants.models import (
    ActivationDecision,
    Activity,
    Assessment,
    Barrier,
    ComplianceReview,
    EligibilityEntry,
    EligibilityFile,
    EngagementEvent,
    ImportBatch,
    Participant,
    Pathway,
    ProgressionReview,
    Referral,
    RosterRemoval,
    ServiceLevelRequest,
)
from fundpilot.participants.simulation.journey import referral_journey
from fundpilot.participants.simulation.world import (
    Clock,
    Profile,
    World,
    capacities,
    draw_profiles,
    members_by_role,
    months_before,
    provider_teams,
)
from fundpilot.pilots.models import Membership, Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import Rulebook
from fundpilot.rules.vocabulary import Role

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Simulation:
    """What a run did: how many referrals, how many audited actions, how fast."""

    pilot: str
    participants: int
    months: int
    seed: int
    start: datetime
    until: datetime
    actions: int
    seconds: float
    by_action: dict[str, int]
    hired: int

    @property
    def rate(self) -> float:
        """Audited actions per second of wall-clock time."""
        return self.actions / self.seconds if self.seconds else 0.0


# --- the run ------------------------------------------------------------------------------------


def _window(rb: Rulebook, months: int, until: datetime | None) -> tuple[datetime, datetime]:
    """The months up to `until` (default now), within the pilot period."""
    zone = ZoneInfo(rb.pilot.timezone)
    end = datetime.combine(rb.pilot.period_end + timedelta(days=1), time(), zone).astimezone(UTC)
    until = min(until or timezone.now(), end)
    first = datetime.combine(rb.pilot.period_start, time(), zone).astimezone(UTC)
    local_until = until.astimezone(zone)
    start = datetime.combine(months_before(local_until.date(), months), local_until.timetz())
    start = max(start.astimezone(UTC), first)
    if start >= until - timedelta(days=1):
        raise Refused(
            "outside_pilot_period",
            f"no time to simulate: the pilot runs {rb.pilot.period_start} to {rb.pilot.period_end}",
            "until",
        )
    return start, until


def _register_csv(rows: list[tuple[str, str, date, date | None, str]]) -> bytes:
    lines = ["member_id,payer,coverage_start,coverage_end,status"]
    lines += [f"{m},{p},{s},{e or ''},{st}" for m, p, s, e, st in rows]
    return ("\n".join(lines) + "\n").encode()


def _referrals_csv(profiles: list[Profile]) -> bytes:
    lines = [
        "reference,participant_id,payer,member_id,source,provider,service_category,referred_at,geography"
    ]
    for p in profiles:
        lines.append(
            ",".join(
                [
                    p.reference,
                    p.participant_id,
                    p.payer,
                    p.member,
                    p.source,
                    p.team.provider.code,
                    p.category,
                    p.referred_at.isoformat(),
                    p.geography,
                ]
            )
        )
    return ("\n".join(lines) + "\n").encode()


def simulate(
    *,
    pilot: Pilot,
    participants: int,
    months: int,
    seed: int,
    until: datetime | None = None,
    progress: Progress | None = None,
) -> Simulation:
    """Generate `participants` referrals over the `months` up to `until` (default now,
    never past the pilot period) through the real actions. `progress(days, total)`
    reports the simulated days done."""
    if participants < 1 or months < 1:
        raise Refused(
            "invalid_size", "simulate at least one participant over one month", "participants"
        )
    rb = pilot.rulebook
    if rb.eligibility is None:
        raise Refused(
            "no_eligibility_rules", "this pilot's rulebook enrols no participants", "pilot"
        )
    start, until = _window(rb, months, until)
    if Referral.objects.filter(pilot=pilot, reference__startswith=f"REF-SIM{seed}-").exists():
        raise Refused(
            "already_simulated",
            f"{pilot.slug} already holds the history of seed {seed}; use another seed",
            "seed",
        )
    w = _world(pilot, rb, seed, start, until)
    profiles = draw_profiles(w, participants)
    chains = (log.pilot_chain(pilot.slug), log.SYSTEM_CHAIN)
    before = {c: AuditRecord.objects.filter(chain=c).count() for c in chains}
    began = wallclock.perf_counter()
    _first_registers(w, profiles)
    _run(w, profiles, progress)
    seconds = wallclock.perf_counter() - began
    new = AuditRecord.objects.filter(
        models.Q(chain=chains[0], seq__gt=before[chains[0]])
        | models.Q(chain=chains[1], seq__gt=before[chains[1]])
    )
    by_action = dict(new.values_list("action").annotate(n=Count("pk")).order_by("action"))
    return Simulation(
        pilot=pilot.slug,
        participants=participants,
        months=months,
        seed=seed,
        start=start,
        until=until,
        actions=sum(by_action.values()),
        seconds=seconds,
        by_action=by_action,
        hired=w.hired,
    )


def _world(pilot: Pilot, rb: Rulebook, seed: int, start: datetime, until: datetime) -> World:
    """The people who act, their caseloads, and the payer's monthly update days."""
    teams = provider_teams(pilot, rb)
    if not teams:
        raise Refused(
            "no_team",
            "no provider of this pilot has the people the lifecycle needs (enrollment manager,"
            " activation approver, supervisor, and a recovery lead or clinical lead)",
            "pilot",
        )
    compliance = next(iter(members_by_role(pilot)[Role.COMPLIANCE]), None)
    if compliance is None:
        raise Refused("no_team", "the pilot has no compliance officer to load registers", "pilot")
    admin = (
        Membership.objects.filter(role=Role.ADMINISTRATOR, pilot=None, user__is_active=True)
        .select_related("user__organisation")
        .order_by("user_id")
        .first()
    )
    clock = Clock(pilot, rb)
    w = World(
        pilot=pilot,
        rb=rb,
        clock=clock,
        seed=seed,
        start=start,
        until=until,
        compliance=compliance,
        admin=admin.user if admin else None,
        teams=teams,
    )
    capacities(w)
    day = clock.local(start)
    while True:  # the payer's monthly register update: first business day, 06:00
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        update = clock.on(clock.bdays(day, 0), 6.0)
        if update > until:
            return w
        w.updates.append(update)


def _first_registers(w: World, profiles: list[Profile]) -> None:
    """Each payer's register the day before the history starts: the referred members
    (but the late registrations, who come with a monthly update) and as many others,
    some of them no longer covered."""
    rb, seed = w.rb, w.seed
    rows = []
    for p in profiles:
        row = (p.member, p.payer, p.coverage_start, None, "active")
        if p.late_registration:
            w.register_rows[w.next_update(p.referred_at) or w.until + timedelta(days=1)].append(row)
        else:
            rows.append(row)
    others = random.Random(f"fundpilot-simulate/{seed}/register")  # noqa: S311
    for j in range(len(profiles)):
        payer = rb.payers[j % len(rb.payers)].id
        status = others.choices(["active", "inactive", "terminated"], [0.9, 0.04, 0.06])[0]
        began = rb.pilot.period_start - timedelta(days=others.randint(0, 900))
        ended = began + timedelta(days=others.randint(30, 400)) if status != "active" else None
        rows.append((f"{payer.upper()}-{seed}-M{j + 1:06d}", payer, began, ended, status))
    at = w.clock.on(w.clock.local(w.start) - timedelta(days=1), 6.0)
    for payer in rb.payers:
        mine = [r for r in rows if r[1] == payer.id]
        if mine:
            imports.import_eligibility(
                pilot=w.pilot,
                payer_id=payer.id,
                filename=f"{payer.id}-register-{w.clock.local(at):%Y-%m}.csv",
                content=_register_csv(mine),
                by=w.compliance,
                at=at,
            )


def _run(w: World, profiles: list[Profile], progress: Progress | None) -> None:
    """Every referral's journey and the payer's and providers' files, in time order;
    at equal times files come first, then referrals by index."""
    queue: list[tuple[datetime, int, int, Any]] = []
    system = iter(range(10**9))
    for update in w.updates:
        queue.append((update, 0, next(system), ("update", update)))
    for (at, _), batch in w.feeds.items():
        queue.append((at, 0, next(system), ("feed", batch)))
    for p in profiles:
        journey = referral_journey(w, p)
        queue.append((next(journey), 1, p.index, journey))
    heapq.heapify(queue)
    total = max((w.until - w.start).days, 1)
    shown = -1
    while queue and queue[0][0] <= w.until:
        at, kind, key, item = heapq.heappop(queue)
        if progress is not None and (day := min(max((at - w.start).days, 0), total)) != shown:
            shown = day
            progress(day, total)
        if kind == 0:
            _system_event(w, item, at)
            continue
        try:
            following = item.send(None)
        except StopIteration:
            continue
        if following < at:
            raise RuntimeError(f"simulation went back in time at {at} for referral {key}")
        heapq.heappush(queue, (following, 1, key, item))
    for _, kind, _, item in queue:
        if kind == 1:
            item.close()
    if progress is not None:
        progress(total, total)


def _system_event(w: World, item: tuple[str, Any], at: datetime) -> None:
    kind, data = item
    if kind == "update":  # the payer's monthly changes: late registrations, terminations
        rows = w.register_rows.pop(data, [])
        for payer in w.rb.payers:
            mine = [r for r in rows if r[1] == payer.id]
            if mine:
                imports.import_eligibility(
                    pilot=w.pilot,
                    payer_id=payer.id,
                    filename=f"{payer.id}-register-update-{w.clock.local(at):%Y-%m}.csv",
                    content=_register_csv(mine),
                    by=w.compliance,
                    at=at,
                )
    else:  # a provider's daily referral file
        batch: list[Profile] = data
        team = batch[0].team
        imports.import_referrals(
            pilot=w.pilot,
            filename=f"{team.provider.code}-referrals-{w.clock.local(at):%Y-%m-%d}.csv",
            content=_referrals_csv(batch),
            by=team.enrollment[0],
            at=at,
        )


# --- comparing runs --------------------------------------------------------------------------

_NATURAL = {
    User: "username",
    Organisation: "code",
    Participant: "participant_id",
    Referral: "reference",
    Assessment: "recorded_at",
    ImportBatch: "sha256",
}
_TABLES = (
    EligibilityEntry,
    Referral,
    Assessment,
    EligibilityFile,
    Participant,
    ActivationDecision,
    RosterRemoval,
    ComplianceReview,
    ServiceLevelRequest,
    Pathway,
    Activity,
    Barrier,
    ProgressionReview,
    EngagementEvent,
)


def _pilot_filter(model: type[models.Model]) -> str:
    names = {f.name for f in model._meta.get_fields()}
    if "pilot" in names:
        return "pilot"
    if "participant" in names:
        return "participant__pilot"
    return "referral__pilot"


def fingerprint(pilot: Pilot) -> str:
    """SHA-256 of the pilot's participant records by content (not by row id), so two
    runs in two databases, or in two pilots with the same rulebook, can be compared."""
    digest = hashlib.sha256()
    for model in _TABLES:
        columns = []
        for f in model._meta.concrete_fields:
            if f.primary_key or f.name == "pilot":
                continue
            if f.is_relation:
                target = f.related_model
                columns.append(f"{f.name}__{_NATURAL[target]}" if target in _NATURAL else None)
            else:
                columns.append(f.name)
        names = [c for c in columns if c is not None]
        rows = model.objects.filter(**{_pilot_filter(model): pilot}).values_list(*names)
        digest.update(model.__name__.encode())
        for row in sorted(repr(r) for r in rows):
            digest.update(row.encode())
    return digest.hexdigest()
