"""The simulated world: how often things happen, the pilot's people by team, working
days and hours, and each referral's draw (see fundpilot.participants.simulate)."""

from __future__ import annotations

import random
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count

from fundpilot.participants.models import Participant
from fundpilot.pilots import actions as pilot_actions
from fundpilot.pilots.models import Membership, Organisation, Party, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import Rulebook
from fundpilot.rules.vocabulary import OrgKind, Role

Progress = Callable[[int, int], None]

# How often things happen (per referral unless said otherwise).
P_FEED = 0.25  # arrives in the provider's daily referral file instead of being typed in
P_LATE_REGISTRATION = 0.03  # not in the register yet: C1 waits for the monthly update
P_UNAPPROVED_TOOL = 0.02  # baseline taken on an old tool version, retaken
P_EXCLUDED = 0.05  # C1 filed with an exclusion code
P_LAPSE = 0.02  # the payer terminates coverage between file and activation
P_REJECTED = 0.06  # C2 rejected outright
P_PENDING = 0.12  # C2 pending clarification first
P_PENDING_REJECTED = 0.2  # of pendings, later rejected
P_NO_COMPLIANCE = 0.03  # compliance never gets to it (stays in their queue)
P_RELAPSE = 0.15  # disengages once
P_REENGAGE = 0.75  # of relapses, re-engages
P_REMOVED = 0.03  # removed from the roster
P_SL_REFUSED = 0.05
P_UPGRADE_PER_MONTH = 0.06
P_NEW_BARRIER_PER_MONTH = 0.05
P_BARRIER_RESOLVED = 0.75
P_ESCALATED = 0.06
P_STALLED_ANYWAY = 0.12
P_EARLY_REVIEW = 0.15
# Share of decisions taken after their due date, per control (the breaches).
LATE = {"C1": 0.06, "C2": 0.08, "C3": 0.08, "C4": 0.07, "C6": 0.12, "compliance": 0.05}
CONTACTS_PER_MONTH = 4  # milestone pilots: weekly contact with the lead
ACUITY = {"low": 0.3, "moderate": 0.45, "high": 0.25}
FLAGS = {
    "homeless": 0.12,
    "smi": 0.6,
    "high-utiliser": 0.2,
    "language": 0.08,
    "unstable-contact": 0.1,
    "rural": 0.2,
}
SOURCES = {"ED": 3, "CRISIS": 2, "PCP": 2, "CBO": 1.5, "PHP": 2, "REENTRY": 0.5, "SELF": 1}
URGENT_SOURCES = {"ED", "CRISIS", "SELF"}  # arrive at any hour, any day
EPISODES_PER_MONTH = {"EP-TRANSITION": 0.05, "EP-CRISIS": 0.08, "EP-RESPITE": 0.15}
EVIDENCE = {
    "deterioration": "LOCUS reassessment rose a band",
    "unplanned_contacts": "unplanned contacts logged this month",
    "safeguarding": "safeguarding concern raised by the coordinator",
}
WORKDAY = (8.0, 17.5)  # local hours people record decisions in


# --- people ----------------------------------------------------------------------------


@dataclass
class Team:
    """One provider's people in the pilot, by what they do in the simulation."""

    provider: Organisation
    enrollment: list[User]
    supervisors: list[User]
    releasers: list[User]  # recovery leads: pathway release (C4)
    leads: list[User]  # frontline and recovery leads: assigned a caseload
    frontline: list[User]
    clinical: list[User]
    approver: User | None  # an activation approver who sees this provider


def members_by_role(pilot: Pilot) -> dict[Role, list[User]]:
    found: dict[Role, list[User]] = defaultdict(list)
    rows = (
        Membership.objects.filter(pilot=pilot, user__is_active=True)
        .select_related("user__organisation")
        .order_by("user__username", "role")
    )
    for m in rows:
        found[Role(m.role)].append(m.user)
    return found


def provider_teams(pilot: Pilot, rb: Rulebook) -> list[Team]:
    members = members_by_role(pilot)
    everyone = {u.pk: u for users in members.values() for u in users}
    for role in members:
        members[role] = [everyone[u.pk] for u in members[role]]
    office = lambda u: u.organisation is not None and u.organisation.kind == OrgKind.PILOT_OFFICE  # noqa: E731
    providers = [
        p.organisation
        for p in Party.objects.filter(pilot=pilot, organisation__kind=OrgKind.PROVIDER)
        .select_related("organisation")
        .order_by("organisation__code")
    ]
    teams = []
    for org in providers:
        at = lambda role, org=org: [u for u in members[role] if u.organisation_id == org.pk]  # noqa: E731
        enrollment = at(Role.ENROLLMENT_MANAGER)
        approvers = [
            u
            for u in members[Role.ACTIVATION_APPROVER]
            if (office(u) or u.organisation_id == org.pk) and u not in enrollment
        ]
        team = Team(
            provider=org,
            enrollment=enrollment,
            supervisors=at(Role.SUPERVISOR),
            releasers=at(Role.RECOVERY_LEAD),
            leads=list(dict.fromkeys(at(Role.FRONTLINE) + at(Role.RECOVERY_LEAD))),
            frontline=at(Role.FRONTLINE),
            clinical=at(Role.CLINICAL_LEAD),
            approver=approvers[0] if approvers else None,
        )
        needs = [team.enrollment, team.supervisors, [team.approver] if team.approver else []]
        if rb.milestone_stages:
            needs.append(team.releasers)
        if rb.service_levels:
            needs += [team.clinical, team.frontline]
        if all(needs):
            teams.append(team)
    return teams


# --- time ----------------------------------------------------------------------------------


class Clock:
    """Working days and hours in the pilot's calendar and zone."""

    def __init__(self, pilot: Pilot, rb: Rulebook) -> None:
        self.calendar = pilot.calendar
        self.zone = ZoneInfo(rb.pilot.timezone)

    def local(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def on(self, day: date, hours: float) -> datetime:
        whole = int(hours)
        moment = datetime.combine(day, time(whole, round((hours - whole) * 60)), self.zone)
        return moment.astimezone(UTC)

    def bdays(self, day: date, n: int) -> date:
        return self.calendar.add_business_days(day, n)

    def work_time(self, day: date, rng: random.Random, after: datetime | None) -> datetime | None:
        """A moment in working hours on `day`, at least five minutes after `after`."""
        lo, hi = self.on(day, WORKDAY[0]), self.on(day, WORKDAY[1])
        if after is not None and after + timedelta(minutes=5) > lo:
            lo = (after + timedelta(minutes=5)).replace(second=0, microsecond=0)
            lo += timedelta(minutes=1)
        if lo >= hi:
            return None
        return lo + timedelta(minutes=rng.randint(0, int((hi - lo).total_seconds() // 60)))

    def act(
        self,
        after: datetime,
        due: date | None,
        rng: random.Random,
        *,
        late: bool = False,
        slack: int = 2,
    ) -> datetime:
        """When someone acts after `after`: by `due` (mostly early), or 1–4 business days
        after it when `late`; with no due date, within `slack` business days."""
        first = self.local(after)
        day = self.bdays(first, 0)
        if day == first and self.work_time(day, rng, after) is None:
            day = self.bdays(day, 1)
        if late and due is not None:
            day = max(day, self.bdays(due, rng.randint(1, 4)))
        else:
            limit = due if due is not None else self.bdays(day, slack)
            steps = min(int(rng.expovariate(1.3)), self.calendar.business_days_between(day, limit))
            if steps > 0:
                day = self.bdays(day, steps)
        moment = self.work_time(day, rng, after)
        while moment is None:
            day = self.bdays(day, 1)
            moment = self.work_time(day, rng, after)
        return moment

    def next_opening(self, after: datetime, hours: float) -> datetime:
        """The next business day's `hours` o'clock strictly after `after`."""
        day = self.bdays(self.local(after), 0)
        while self.on(day, hours) <= after:
            day = self.bdays(day, 1)
        return self.on(day, hours)


def months_before(day: date, months: int) -> date:
    month = day.year * 12 + day.month - 1 - months
    year, month = divmod(month, 12)
    last = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31]
    last += [30, 31, 31, 30, 31, 30, 31]
    return date(year, month + 1, min(day.day, last[month]))


# --- the world -------------------------------------------------------------------------------


@dataclass
class Profile:
    """One referral's draw: who, from where, how they present, what will happen to them."""

    index: int
    rng: random.Random
    team: Team
    participant_id: str
    reference: str
    payer: str
    member: str
    coverage_start: date
    referred_at: datetime
    source: str
    geography: str
    category: str
    acuity: str
    flags: list[str]
    score: Decimal
    screening_score: Decimal
    barriers: list[str]
    late_registration: bool
    feed_at: datetime | None
    exclusion: str


@dataclass
class World:
    pilot: Pilot
    rb: Rulebook
    clock: Clock
    seed: int
    start: datetime
    until: datetime
    compliance: User
    admin: User | None
    teams: list[Team]
    load: Counter[int] = field(default_factory=Counter)
    capacity: dict[int, int | None] = field(default_factory=dict)
    updates: list[datetime] = field(default_factory=list)
    register_rows: dict[datetime, list[tuple[str, str, date, date | None, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    feeds: dict[tuple[datetime, int], list[Profile]] = field(
        default_factory=lambda: defaultdict(list)
    )
    hired: int = 0

    def next_update(self, after: datetime) -> datetime | None:
        return next((u for u in self.updates if u > after), None)

    def assign_lead(self, team: Team, at: datetime) -> User:
        """The lead with the most room (C4 checks the same capacity); hire when all are full."""
        room = [u for u in team.leads if (left := self._room(u)) is None or left > 0]
        if room:
            lead = min(
                room, key=lambda u: (self.load[u.pk] / (self.capacity[u.pk] or 10**6), u.username)
            )
        else:
            lead = self._hire(team, at)
        self.load[lead.pk] += 1
        return lead

    def _room(self, user: User) -> int | None:
        cap = self.capacity[user.pk]
        return None if cap is None else cap - self.load[user.pk]

    def _hire(self, team: Team, at: datetime) -> User:
        if self.admin is None:
            raise Refused(
                "no_administrator",
                "every lead is at caseload capacity and no administrator can hire another",
                "participants",
            )
        number = sum(1 for u in team.leads if u.username.startswith(_hire_prefix(team))) + 1
        username = f"{_hire_prefix(team)}{number:03d}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = pilot_actions.create_user(
                username=username,
                organisation=team.provider,
                password=secrets.token_urlsafe(24),
                full_name=f"Care Coordinator {team.provider.code.title()} {number}",
                by=self.admin,
                at=at,
            )
        pilot_actions.grant_role(
            user=user, role=Role.FRONTLINE, pilot=self.pilot, by=self.admin, at=at
        )
        user = User.objects.select_related("organisation").get(pk=user.pk)
        team.leads.append(user)
        team.frontline.append(user)
        self.capacity[user.pk] = (
            self.rb.caseload.max_active(Role.FRONTLINE) if self.rb.caseload else None
        )
        self.hired += 1
        return user


def _hire_prefix(team: Team) -> str:
    return f"{team.provider.code}-coordinator-"


def capacities(w: World) -> None:
    leads = {u.pk for t in w.teams for u in t.leads}
    rows = Membership.objects.filter(
        pilot=w.pilot, user_id__in=leads, role__in=[Role.FRONTLINE, Role.RECOVERY_LEAD]
    )
    limits: dict[int, list[int | None]] = defaultdict(list)
    for m in rows:
        if m.caseload_capacity is not None:
            limits[m.user_id].append(m.caseload_capacity)
        elif w.rb.caseload is not None:
            limits[m.user_id].append(w.rb.caseload.max_active(Role(m.role)))
        else:
            limits[m.user_id].append(None)
    for pk, found in limits.items():
        w.capacity[pk] = None if None in found else max(x for x in found if x is not None)
    active = (
        Participant.objects.filter(pilot=w.pilot, status=Participant.ACTIVATED, lead__isnull=False)
        .values("lead")
        .annotate(n=Count("pk"))
    )
    for row in active:
        w.load[row["lead"]] = row["n"]


def weighted(rng: random.Random, weights: dict[str, float], codes: list[str]) -> str:
    choices = [c for c in codes]
    return rng.choices(choices, [weights.get(c, 1.0) for c in choices])[0]


def prefer(codes: list[str], preferred: str, rng: random.Random) -> str:
    return preferred if preferred in codes else rng.choice(codes)


def _score(rng: random.Random, lo: Decimal, hi: Decimal) -> Decimal:
    cents = rng.randint(int(lo * 100), int(hi * 100))
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def _baseline_score(rb: Rulebook, acuity: str, rng: random.Random) -> Decimal:
    """A baseline score in the eligible range, leaning with acuity. Which end of the scale
    is the more impaired: the first milestone stage's (crisis) end, else the scale's words."""
    assert rb.eligibility is not None
    lo, hi = rb.eligibility.baseline_score.min, rb.eligibility.baseline_score.max
    stages = rb.milestone_stages
    if stages:
        impaired_high = stages[0].baseline_score.min >= stages[-1].baseline_score.min
    else:
        impaired_high = "lower means more" not in rb.eligibility.score_scale.lower()
    share = {"low": ("0", "0.45"), "moderate": ("0.25", "0.75")}.get(acuity, ("0.55", "1"))
    a, b = Decimal(share[0]), Decimal(share[1])
    if not impaired_high:
        a, b = 1 - b, 1 - a
    return _score(rng, lo + (hi - lo) * a, lo + (hi - lo) * b)


def draw_profiles(w: World, count: int) -> list[Profile]:
    rb, clock = w.rb, w.clock
    assert rb.eligibility is not None
    sources = [c.code for c in rb.codes.referral_sources]
    geographies = [c.code for c in rb.codes.geographies]
    categories = [c.code for c in rb.eligibility.qualifying_service_categories]
    bands = [c.code for c in rb.acuity.bands] if rb.acuity else []
    flags = [c.code for c in rb.acuity.subpopulation_flags] if rb.acuity else []
    barriers = [c.code for c in rb.codes.barrier_categories]
    exclusions = [c.code for c in rb.eligibility.exclusion_reasons]
    payers = [p.id for p in rb.payers]
    contributions = [float(p.contribution) for p in rb.payers]
    span = (w.until - timedelta(hours=1) - w.start).total_seconds()
    period_start = rb.pilot.period_start
    profiles = []
    for i in range(count):
        rng = random.Random(f"fundpilot-simulate/{w.seed}/{i}")  # noqa: S311 (not secrets)
        team = rng.choice(w.teams)
        source = weighted(rng, SOURCES, sources)
        referred_at = w.start + timedelta(seconds=rng.random() * span)
        if source not in URGENT_SOURCES:  # typed in by someone at work
            moment = clock.work_time(clock.bdays(clock.local(referred_at), 0), rng, None)
            referred_at = moment if moment is not None and moment < w.until else referred_at
        referred_at = referred_at.replace(second=0, microsecond=0)
        acuity = weighted(rng, ACUITY, bands) if bands else ""
        # High acuity goes with more ED use.
        boost = {"high-utiliser": 0.25} if acuity == "high" else {}
        drawn = [f for f in flags if rng.random() < FLAGS.get(f, 0.1) + boost.get(f, 0)]
        found = rng.sample(barriers, k=min(len(barriers), 1 + int(rng.random() < 0.4)))
        feed_at = None
        if source not in URGENT_SOURCES and rng.random() < P_FEED:
            feed_at = clock.next_opening(referred_at, 8.5)
            if feed_at > w.until:
                feed_at = None
        profile = Profile(
            index=i,
            rng=rng,
            team=team,
            participant_id=f"SIM{w.seed}-{i + 1:05d}",
            reference=f"REF-SIM{w.seed}-{i + 1:05d}",
            payer=rng.choices(payers, contributions)[0],
            member="",
            coverage_start=period_start - timedelta(days=rng.randint(0, 700)),
            referred_at=referred_at,
            source=source,
            geography=rng.choice(geographies) if geographies else "",
            category=rng.choice(categories),
            acuity=acuity,
            flags=sorted(drawn),
            score=_baseline_score(rb, acuity, rng),
            screening_score=Decimal(
                rng.randint(*{"low": (10, 16), "high": (23, 28)}.get(acuity, (17, 22)))
            ),
            barriers=found,
            late_registration=rng.random() < P_LATE_REGISTRATION,
            feed_at=feed_at,
            exclusion=rng.choice(exclusions) if exclusions and rng.random() < P_EXCLUDED else "",
        )
        profile.member = f"{profile.payer.upper()}-{w.seed}-{i + 1:06d}"
        if profile.feed_at is not None:
            w.feeds[(profile.feed_at, team.provider.pk)].append(profile)
        profiles.append(profile)
    return profiles
