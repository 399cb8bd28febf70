"""One referral's journey through intake and care, as a generator of the moments it
acts at (see fundpilot.participants.simulate): the scheduler resumes it at each."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fundpilot.participants.actions import care, intake
from fundpilot.participants.models import (
    ActivationDecision,
    Assessment,
    Barrier,
    Participant,
    ProgressionReview,
    Referral,
    ServiceLevelRequest,
)
from fundpilot.participants.simulation.world import (
    CONTACTS_PER_MONTH,
    EPISODES_PER_MONTH,
    EVIDENCE,
    LATE,
    P_BARRIER_RESOLVED,
    P_EARLY_REVIEW,
    P_ESCALATED,
    P_LAPSE,
    P_NEW_BARRIER_PER_MONTH,
    P_NO_COMPLIANCE,
    P_PENDING,
    P_PENDING_REJECTED,
    P_REENGAGE,
    P_REJECTED,
    P_RELAPSE,
    P_REMOVED,
    P_SL_REFUSED,
    P_STALLED_ANYWAY,
    P_UNAPPROVED_TOOL,
    P_UPGRADE_PER_MONTH,
    WORKDAY,
    Profile,
    World,
    prefer,
)
from fundpilot.pilots.models import User
from fundpilot.rules.rulebook import Rulebook, ServiceLevel

# --- intake --------------------------------------------------------------------


def _outdated(approved: tuple[str, ...]) -> str:
    """A version of the tool the rulebook does not approve (an old form still in a drawer)."""
    return next(v for v in ("1.0", "0.9", "draft") if v not in approved)


def referral_journey(w: World, p: Profile) -> Iterator[datetime]:
    """Yield the moment of the next step; the scheduler resumes the journey at it."""
    rb, clock, rng, team = w.rb, w.clock, p.rng, p.team
    assert rb.eligibility is not None
    manager = team.enrollment[p.index % len(team.enrollment)]
    # Referral: typed in soon after it arrives, or loaded with the provider's daily file.
    if p.feed_at is not None:
        received = p.feed_at + timedelta(minutes=1)
        yield received
        referral = Referral.objects.get(pilot=w.pilot, reference=p.reference)
        referral.pilot = w.pilot
    else:
        received = p.referred_at + timedelta(minutes=rng.randint(2, 90))
        yield received
        referral = intake.receive_referral(
            pilot=w.pilot,
            reference=p.reference,
            participant_id=p.participant_id,
            payer_id=p.payer,
            member_id=p.member,
            source=p.source,
            provider=team.provider,
            service_category=p.category,
            referred_at=p.referred_at,
            geography=p.geography,
            by=manager,
            at=received,
        )
    # C1: baseline and screening at the intake visit, then the eligibility file.
    due = referral.file_due
    tools = rb.eligibility.approved_tools
    acuity_tool = rb.acuity.tool if rb.acuity else ""
    baseline_tool = next((t for t in tools if t.code != acuity_tool), tools[0])
    screening_tool = next((t for t in tools if t.code == acuity_tool), baseline_tool)
    visit = clock.act(received, due, rng)
    unapproved = rng.random() < P_UNAPPROVED_TOOL
    yield visit
    common: dict[str, Any] = {"pilot": w.pilot, "participant_id": p.participant_id, "by": manager}
    baseline = intake.record_assessment(
        **common,
        kind=Assessment.BASELINE,
        tool=baseline_tool.code,
        tool_version=_outdated(baseline_tool.versions)
        if unapproved
        else baseline_tool.versions[-1],
        score=p.score,
        acuity_band=p.acuity,
        flags=p.flags,
        signed_by=manager.get_full_name() or manager.username,
        signed_at=visit - timedelta(minutes=20),
        at=visit,
    )
    visit += timedelta(minutes=rng.randint(10, 40))
    yield visit
    intake.record_assessment(
        **common,
        kind=Assessment.SCREENING,
        tool=screening_tool.code,
        tool_version=screening_tool.versions[-1],
        score=p.screening_score,
        acuity_band=p.acuity,
        flags=p.flags,
        barriers=p.barriers,
        signed_by=manager.get_full_name() or manager.username,
        signed_at=visit - timedelta(minutes=5),
        at=visit,
    )
    ready = visit
    if unapproved:  # caught at the file: retaken on the approved version
        ready = clock.act(visit, None, rng, slack=3)
        yield ready
        baseline = intake.record_assessment(
            **common,
            kind=Assessment.BASELINE,
            tool=baseline_tool.code,
            tool_version=baseline_tool.versions[-1],
            score=p.score,
            acuity_band=p.acuity,
            flags=p.flags,
            signed_by=manager.get_full_name() or manager.username,
            signed_at=ready - timedelta(minutes=20),
            at=ready,
        )
    if p.late_registration:  # not in the register yet: wait for the payer's update
        update = w.next_update(p.referred_at)
        if update is None:
            return
        ready = max(ready, update)
        filed_at = clock.act(ready, None, rng, slack=1)
    else:
        filed_at = clock.act(ready, due, rng, late=rng.random() < LATE["C1"])
    yield filed_at
    today = clock.local(filed_at)
    intake.file_eligibility(
        referral=referral,
        assessment=baseline,
        participant_id=p.participant_id,
        payer_status=intake.ACTIVE,
        baseline_score=p.score,
        service_category=p.category,
        proposed_start=min(today + timedelta(days=rng.randint(2, 10)), rb.pilot.period_end),
        exclusion_code=p.exclusion,
        by=manager,
        at=filed_at,
    )
    if p.exclusion:
        return
    participant = Participant.objects.get(pilot=w.pilot, participant_id=p.participant_id)
    participant.pilot = w.pilot
    # C2: the activation decision, possibly pending a clarification first.
    yield from _activation(w, p, participant, filed_at, manager)
    if participant.status != Participant.ACTIVATED:
        return
    yield from _care(w, p, participant, manager)


def _activation(
    w: World, p: Profile, participant: Participant, filed_at: datetime, manager: User
) -> Iterator[datetime]:
    rb, clock, rng, approver = w.rb, w.clock, p.rng, p.team.approver
    codes = {c.outcome.value: c.code for c in reversed(rb.codes.activation_decisions)}
    pending_codes = [c.code for c in rb.codes.pending_reasons]
    rejections = [c.code for c in rb.codes.rejection_reasons]
    direct = [c for c in rejections if c not in ("R-SCORE", "R-TOOL", "R-PAYER")] or rejections
    due = clock.bdays(clock.local(filed_at), rb.deadlines.activation_decision or 0)
    decided = clock.act(filed_at, due, rng, late=rng.random() < LATE["C2"])
    lapse = rng.random() < P_LAPSE
    draw = rng.random()

    def decide(outcome: str, at: datetime, reason: str = "", **extra: Any) -> None:
        today = clock.local(at)
        checkpoint = {
            ActivationDecision.ACTIVATED: today + timedelta(days=14),
            ActivationDecision.PENDING: extra.get("clarification_due"),
        }.get(outcome)
        status = {"activated": "passed", "pending": "open", "rejected": "closed"}[outcome]
        intake.decide_activation(
            participant=participant,
            outcome=outcome,
            decision_code=codes[outcome],
            reason_code=reason,
            review_date=today,
            control_status=status,
            next_checkpoint=checkpoint,
            by=approver,
            at=at,
            **extra,
        )

    if lapse or (pending_codes and P_REJECTED <= draw < P_REJECTED + P_PENDING):
        # Pending: someone owns the clarification and its deadline.
        yield decided
        if lapse:  # the payer's next update terminates the coverage
            w.register_rows[w.next_update(decided) or w.until].append(
                (p.member, p.payer, p.coverage_start, rb.pilot.period_end, "terminated")
            )
        clarify_by = clock.bdays(clock.local(decided), 3)
        decide(
            ActivationDecision.PENDING,
            decided,
            prefer(pending_codes, "P-REGISTER" if lapse else rng.choice(pending_codes), rng),
            clarification_owner=manager,
            clarification_due=clarify_by,
        )
        if lapse:
            update = w.next_update(decided)
            if update is None:
                return
            settled = clock.act(update, None, rng, slack=2)
            yield settled
            decide(ActivationDecision.REJECTED, settled, prefer(rejections, "R-PAYER", rng))
            return
        settled = clock.act(decided, clarify_by, rng, late=rng.random() < 0.15)
        yield settled
        if rng.random() < P_PENDING_REJECTED:
            decide(ActivationDecision.REJECTED, settled, rng.choice(direct))
        else:
            decide(ActivationDecision.ACTIVATED, settled)
    elif draw < P_REJECTED:
        yield decided
        decide(ActivationDecision.REJECTED, decided, rng.choice(direct))
    else:
        yield decided
        decide(ActivationDecision.ACTIVATED, decided)


@dataclass(order=True)
class _Step:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: Any = field(compare=False, default=None)


def _care(w: World, p: Profile, participant: Participant, manager: User) -> Iterator[datetime]:
    """After activation: the compliance review, the pathway (C4), then the months of care."""
    rb, clock, rng, team = w.rb, w.clock, p.rng, p.team
    activated_at = participant.activated_at
    assert activated_at is not None
    activated_on = clock.local(activated_at)
    ready = activated_at
    # Compliance reviews the register before milestone planning begins; an unreviewed
    # participant gets no pathway (release_pathway refuses) and waits in compliance's queue.
    reviewed = rng.random() >= P_NO_COMPLIANCE
    if reviewed:
        ready = clock.act(
            activated_at, clock.bdays(activated_on, 1), rng, late=rng.random() < LATE["compliance"]
        )
        yield ready
        intake.review_compliance(participant=participant, by=w.compliance, at=ready)
    worker = team.frontline[p.index % len(team.frontline)] if team.frontline else manager
    if rb.milestone_stages and reviewed:  # C4: the pathway, to a lead with room in their caseload
        due = clock.bdays(activated_on, rb.deadlines.pathway_release or 0)
        ready = clock.act(ready, due, rng, late=rng.random() < LATE["C4"])
        yield ready
        worker = w.assign_lead(team, ready)
        cadence = rb.deadlines.progression_review_calendar_days or 14
        care.release_pathway(
            participant=participant,
            stage=next(
                s.code
                for s in rb.milestone_stages
                if s.baseline_score.contains(participant.baseline_score)
            ),
            barrier_category=rng.choice(p.barriers),
            lead=worker,
            target_review_date=clock.local(ready) + timedelta(days=rng.randint(7, cadence)),
            escalation_code=rng.choice([c.code for c in rb.codes.escalation_thresholds]),
            by=team.releasers[p.index % len(team.releasers)],
            at=ready,
        )
    yield from _Care(w, p, participant, manager, worker, ready).run()


class _Care:
    """One activated participant's months of care: an agenda of dated steps, each a
    method named after its kind; a step may plan further steps."""

    def __init__(
        self,
        w: World,
        p: Profile,
        participant: Participant,
        manager: User,
        worker: User,
        now: datetime,
    ) -> None:
        self.w, self.p, self.rb, self.clock, self.rng = w, p, w.rb, w.clock, p.rng
        self.participant, self.manager, self.worker = participant, manager, worker
        self.now = now
        self.agenda: list[_Step] = []
        self.counter = iter(range(10**9))
        self.activity_days: list[date] = []
        self.last_review: date | None = None
        self.escalate = False
        self.removed = False
        rb, rng = self.rb, self.rng
        package = rb.baseline_package
        self.contact_types = [c.code for c in package.activity_types] if package else []
        self.contact_types = self.contact_types or list(care.ORDINARY_ACTIVITY_TYPES)
        # A baseline package states the minimum contacts a month; teams deliver a bit more.
        self.per_month = (
            package.expected_contacts_per_month * 1.5 if package else CONTACTS_PER_MONTH
        )
        activated_at = participant.activated_at
        assert activated_at is not None
        if rb.service_levels:  # C3: the initial level from the assessment
            levels = rb.service_levels
            first = levels[1] if p.acuity == "high" and len(levels) > 1 else levels[0]
            self.plan(self.at_work(now), "level", (first, ServiceLevelRequest.INITIAL))
        for category in p.barriers:
            self.plan(now + timedelta(minutes=rng.randint(5, 90)), "barrier", category)
        first_contact = activated_at + timedelta(days=rng.uniform(1, 30 / self.per_month))
        self.plan(self.at_work(first_contact), "contact")
        if participant.next_review_due is not None:
            self.plan(self.review_moment(participant.next_review_due, activated_at), "review")
        self.plan(activated_at + timedelta(days=rng.uniform(20, 40)), "month")
        if rng.random() < P_RELAPSE:
            relapse = activated_at + timedelta(days=rng.uniform(20, 150))
            self.plan(self.at_work(relapse), "disengage")
        if rng.random() < P_REMOVED:
            self.plan(self.at_work(activated_at + timedelta(days=rng.uniform(30, 200))), "remove")

    def plan(self, at: datetime, kind: str, data: Any = None) -> None:
        at = max(at, self.now)
        if at <= self.w.until:
            heapq.heappush(self.agenda, _Step(at, next(self.counter), kind, data))

    def at_work(self, moment: datetime) -> datetime:
        return self.clock.act(moment, None, self.rng, slack=0)

    def run(self) -> Iterator[datetime]:
        while self.agenda and not self.removed:
            step = heapq.heappop(self.agenda)
            yield step.at
            self.now = step.at
            getattr(self, f"_{step.kind}")(step.at, step.data)

    # --- C5: the activity log and the barrier tracker

    def _contact(self, at: datetime, _: Any) -> None:
        p = self.participant
        levels = [sl.code for sl in self.rb.service_levels]
        factor = 1 + 0.5 * levels.index(p.service_level) if p.service_level in levels else 1
        gap = 30 / (self.per_month * factor)
        self.plan(self.at_work(at + timedelta(days=gap * self.rng.uniform(0.6, 1.4))), "contact")
        if not p.engaged and self.rng.random() > 0.35:
            return  # an outreach attempt now and then while disengaged
        outreach = not p.engaged and "outreach" in self.contact_types
        self.record(at, "outreach" if outreach else self.rng.choice(self.contact_types))

    def _episode(self, at: datetime, code: str) -> None:
        self.record(at, code)

    def record(self, at: datetime, activity_type: str) -> None:
        """An activity that took place earlier that working day, recorded at `at`."""
        day = self.clock.local(at)
        activated_at = self.participant.activated_at
        assert activated_at is not None
        start = max(self.clock.on(day, WORKDAY[0]), activated_at + timedelta(minutes=1))
        if start >= at:
            return
        occurred = (start + (at - start) * self.rng.random()).replace(microsecond=0)
        care.record_activity(
            participant=self.participant,
            activity_type=activity_type,
            occurred_at=occurred,
            by=self.worker,
            at=at,
        )
        self.activity_days.append(self.clock.local(occurred))

    def _barrier(self, at: datetime, category: str) -> None:
        words = category.replace("-", " ")
        screened = category in self.p.barriers and not self.activity_days
        barrier = care.open_barrier(
            participant=self.participant,
            category=category,
            description=f"{words} barrier found at screening" if screened else f"new {words} need",
            owner=self.worker,
            by=self.worker,
            at=at,
        )
        if self.rng.random() < P_BARRIER_RESOLVED:
            self.plan(
                self.at_work(at + timedelta(days=self.rng.uniform(7, 70))), "resolve", barrier
            )

    def _resolve(self, at: datetime, barrier: Barrier) -> None:
        care.resolve_barrier(barrier=barrier, by=self.worker, at=at)

    # --- relapse, re-engagement and removal

    def _disengage(self, at: datetime, _: Any) -> None:
        reasons = [
            "No contact for two weeks",
            "Declined visits after a relapse",
            "Moved in with family; not answering",
        ]
        care.record_disengagement(
            participant=self.participant, reason=self.rng.choice(reasons), by=self.worker, at=at
        )
        if self.rng.random() < P_REENGAGE:
            back = at + timedelta(days=self.rng.uniform(14, 60))
            self.plan(self.at_work(back), "reengage")

    def _reengage(self, at: datetime, _: Any) -> None:
        reasons = ["Returned after outreach", "Re-referred by the ED", "Called the team back"]
        care.record_reengagement(
            participant=self.participant, reason=self.rng.choice(reasons), by=self.worker, at=at
        )

    def _remove(self, at: datetime, _: Any) -> None:
        codes = [c.code for c in self.rb.codes.removal_reasons]
        weights = [0.2 if "DIED" in c or "ERROR" in c else 1.0 for c in codes]
        intake.remove_from_roster(
            participant=self.participant,
            reason_code=self.rng.choices(codes, weights)[0],
            by=self.p.team.approver,
            at=at,
        )
        if self.participant.lead_id is not None:
            self.w.load[self.participant.lead_id] -= 1
        self.removed = True

    # --- C6: the progression review every cadence

    def review_moment(self, due: date, after: datetime) -> datetime:
        clock, rng = self.clock, self.rng
        if rng.random() < LATE["C6"]:
            day = clock.bdays(due, rng.randint(1, 5))
        elif rng.random() < P_EARLY_REVIEW:
            day = due - timedelta(days=rng.randint(1, 2))
        else:
            day = due
        day = clock.bdays(max(day, clock.local(after) + timedelta(days=1)), 0)
        moment = clock.work_time(day, rng, after)
        while moment is None:
            day = clock.bdays(day, 1)
            moment = clock.work_time(day, rng, after)
        return moment

    def _review(self, at: datetime, _: Any) -> None:
        """Progressed when work is evidenced since the last review, else stalled (lost
        contact when disengaged); some escalate, e.g. after an upgrade request."""
        rb, rng, team, p = self.rb, self.rng, self.p.team, self.participant
        today = self.clock.local(at)
        since = self.last_review or date.min
        evidenced = any(since < d <= today for d in self.activity_days)
        stalls = [c.code for c in rb.codes.stall_reasons]
        thresholds = [c.code for c in rb.codes.escalation_thresholds]
        fields: dict[str, Any] = {}
        if thresholds and (self.escalate or rng.random() < P_ESCALATED):
            outcome = ProgressionReview.ESCALATED
            fields = {
                "escalation_status": rng.choice(thresholds),
                "escalation_owner": (team.releasers or team.supervisors)[0],
                "next_checkpoint": today + timedelta(days=7),
            }
        elif evidenced and p.engaged and (not stalls or rng.random() >= P_STALLED_ANYWAY):
            outcome = ProgressionReview.PROGRESSED
        elif stalls:
            outcome = ProgressionReview.STALLED
            lost = not p.engaged or not evidenced
            fields = {
                "stall_code": prefer(stalls, "ST-CONTACT", rng) if lost else rng.choice(stalls)
            }
        else:
            outcome = ProgressionReview.PROGRESSED if evidenced else ""
        if outcome:
            care.review_progression(
                participant=p,
                outcome=outcome,
                review_date=today,
                by=team.supervisors[self.p.index % len(team.supervisors)],
                at=at,
                **fields,
            )
            self.last_review, self.escalate = today, False
        if p.next_review_due is not None:
            self.plan(self.review_moment(max(p.next_review_due, today), at), "review")

    # --- the month: new barriers, episodes, upgrades

    def _month(self, at: datetime, _: Any) -> None:
        rb, rng, p = self.rb, self.rng, self.participant
        self.plan(at + timedelta(days=rng.uniform(25, 35)), "month")
        if rng.random() < P_NEW_BARRIER_PER_MONTH:
            categories = [c.code for c in rb.codes.barrier_categories]
            self.plan(self.at_work(at), "barrier", rng.choice(categories))
        for episode in rb.episodes:
            levels = episode.required_service_levels
            chance = EPISODES_PER_MONTH.get(episode.code, 0.05)
            if (not levels or p.service_level in levels) and rng.random() < chance:
                self.plan(
                    self.at_work(at + timedelta(days=rng.uniform(0, 20))), "episode", episode.code
                )
        current = _level(rb, p.service_level)
        if (
            current is not None
            and current.upgrade_to
            and current.upgrade_triggers
            and rng.random() < P_UPGRADE_PER_MONTH
            and not ServiceLevelRequest.objects.filter(
                participant=p, status=ServiceLevelRequest.REQUESTED
            ).exists()
        ):
            target = _level(rb, current.upgrade_to)
            if target is not None:
                self.escalate = True
                self.plan(self.at_work(at), "level", (target, ServiceLevelRequest.UPGRADE))

    # --- C3: service level requests and decisions

    def _level(self, at: datetime, data: tuple[ServiceLevel, str]) -> None:
        """Intake asks for the initial level, the coordinator for an upgrade (citing a
        trigger of the current level); the clinical lead decides by the due date."""
        level, kind = data
        upgrade = kind == ServiceLevelRequest.UPGRADE
        current = _level(self.rb, self.participant.service_level)
        triggers = []
        if upgrade and current is not None:
            triggers = [self.rng.choice(current.upgrade_triggers).kind.value]
        evidence = "; ".join(EVIDENCE.get(t, t) for t in triggers) or (
            f"baseline {self.participant.baseline_score},"
            f" acuity {self.participant.acuity_band or 'unbanded'}"
        )
        request = care.request_service_level(
            participant=self.participant,
            level=level.code,
            kind=kind,
            evidence=evidence,
            triggers=triggers,
            by=self.worker if upgrade else self.manager,
            at=at,
        )
        late = self.rng.random() < LATE["C3"]
        self.plan(
            self.clock.act(at, request.due, self.rng, late=late), "decision", (request, level)
        )

    def _decision(self, at: datetime, data: tuple[ServiceLevelRequest, ServiceLevel]) -> None:
        request, level = data
        request.participant = self.participant  # so the decision shows on our instance
        approve = self.rng.random() >= P_SL_REFUSED
        team = self.p.team
        care.decide_service_level(
            request=request,
            approve=approve,
            rationale=f"Meets {level.name}: {request.evidence}"
            if approve
            else "The evidence does not support this level yet",
            expected_duration_days=(level.max_duration_days or 180) if approve else None,
            by=team.clinical[self.p.index % len(team.clinical)],
            at=at,
        )
        if not approve and request.kind == ServiceLevelRequest.INITIAL:
            again = self.clock.act(at, None, self.rng, slack=3)
            self.plan(again, "level", (self.rb.service_levels[0], request.kind))


def _level(rb: Rulebook, code: str) -> ServiceLevel | None:
    return next((sl for sl in rb.service_levels if sl.code == code), None)
