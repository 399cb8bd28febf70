"""C18 equity safeguards: one month's figures, computed from the stored records.

Who is in which group. A participant's groups are "all", its acuity band ("(none)"
without one) and each of its subpopulation flags
("(no flag)" without any), so flag groups overlap and a participant with two flags
counts in both. A referral that never became a participant (no eligibility file) counts
in "all" and band "(none)" of the enrolment table only. Each table has a row per group
pilot-wide ("(pilot)") and per provider (the participant's, or the referral's,
provider organisation). Every rate is count/of with a Wilson score interval at 90 %
(`rules.equity_stats.wilson_interval`). Instants are read in the pilot's time zone:
"in the month" is from its first local midnight to the next month's.

The tables (count / of):
- enrolment: referrals received in the month / all referrals of the pilot or provider
  that month (each group's share of the intake);
- acceptance: activation decisions of the month that activated / those that activated
  or rejected (pending is not a decision);
- activation: participants on the locked roster at the month's end (activated, not
  removed) / participants made pilot-eligible by then;
- attainment: participant milestones whose window (attempt 1: activation day +
  the milestone's window after risk adjustment) closed in the month that were reached
  within it (a claim reached on or before the window's last day and payable before the
  month's end) / windows closed in the month;
- reviews_on_time: C6 progression reviews recorded in the month on time (late_days 0)
  / reviews recorded; escalated: of those, the escalations (the C6 escalation the
  stop-loss counts too); escalation:<code>: escalations crossing that threshold (the
  rulebook's escalation thresholds: crisis episodes and safeguarding concerns are the
  safety signals the pilot records);
- disengaged: participants on the roster at the month's end who disengaged (relapse)
  in the month / the roster.
Complaints are not recorded anywhere in fundpilot, so there is no complaints table:
the figures say so (`complaints`) rather than show an empty one.

Acceptance floors. Each `[equity] minimum_acceptance_rates` cohort (an acuity band or a
subpopulation flag code) is checked on the month's acceptance: a rate below the
minimum is a shortfall (a finding, with its counts); a cohort with no decisions in the
month is listed as unchecked, never as met.

Risk-adjusted attainment (observed vs expected, indirect standardisation). The units
are every participant milestone whose window closed by the month's end (a month alone
holds too few). The model: each stratum (milestone × acuity band × the exact set of
flags) has its pilot-wide attainment rate; a provider's expected count E is the sum of
its units' stratum rates — what it would have attained had its participants done as
well as participants like them across the pilot — and O/E its standardised ratio, with
Byar's approximate Poisson interval at 90 % (`observed_vs_expected`). A provider whose
interval lies wholly above or below 1 is a finding: below, its participants do worse
than their risk predicts; above, better than is plausible, which documentation
inflation would also show.

Cherry-picking. Per provider, every activation decision up to the month's end, by
acuity rank (the order of the rulebook's acuity bands, lowest need first): the
Cochran–Armitage test for a trend (`acceptance_trend`, α = 0.10); acceptance falling
with acuity is a finding.

Documentation inflation, each listed with the records behind it:
- bursts: per provider, the evidence uploaded in the month and offered for a
  participant claim; its deadline is the end of the claim's milestone window and it
  was available from the window's start (activation, or the re-engagement that began
  a later attempt). Flagged by `deadline_bursts`: uploaded on the deadline day or the
  day before, by over half the uploads and 20 points above what an even spread gives;
- reuse: the same file (SHA-256) on more than one participant, for each such file
  uploaded in the month (`identical_evidence`);
- fast: per milestone, days from the attempt's start to the day reached, over every
  claim submitted by the month's end; a claim submitted in the month faster than the
  pilot's 5th percentile (at least 20 claims) is flagged (`implausibly_fast`).

Equity between providers (seed 001), per provider organisation of the pilot:
- size: participants on the roster at the month's end (the size used to order
  providers), and staff — people of the organisation holding a role in the pilot;
- rejection rate: verification decisions of the month that rejected / all of them;
- time to payment: for each claim whose payment basis the ledger posted in the month,
  calendar days from the day it became payable (verified, or submitted for the
  sampled tier) to the day the payment posted; median, mean and maximum;
- withheld: held (the month's payment runs could not pay them: funds short), recouped
  (recoupments created in the month) and payable but unpaid at the month's end;
- cash-flow forecast for the next three months: month +1 the payable unpaid claims;
  month +2 the claims in verification at the month's end; month +3 the drafts; the
  last two at the provider's verification pass rate to date (decisions not rejecting
  / all; 1 without any); plus, every month, the month's PMPM and episode payments to
  the provider as a run rate. Simple on purpose: it says what is in the pipeline.

Every figure is JSON-ready: counts are ints, rates, limits and ratios decimal strings
to 4 places, days to 1 place, money to the cent. Identifying detail (participant ids,
claim references, evidence) sits only under "records" keys, which `redacted` removes
for viewers who may not see participants.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any

from django.db.models import Exists, Min, OuterRef, Q, QuerySet, Subquery, Sum

from fundpilot.claims.models import Claim, ClaimEvidence, Evidence, Recoupment, Verification
from fundpilot.claims.tracker import participant_milestones
from fundpilot.money.models import PaymentRun, Transaction
from fundpilot.money.monthly import (
    EPISODE,
    PMPM,
    ZERO,
    basis_q,
    in_month,
    last_day,
    money,
    month_end_instant,
    next_month,
)
from fundpilot.participants.models import (
    ActivationDecision,
    EngagementEvent,
    Participant,
    ProgressionReview,
    Referral,
    RosterRemoval,
)
from fundpilot.participants.queues import start_of
from fundpilot.pilots.models import Organisation, Party, Pilot, User
from fundpilot.rules.equity_stats import (
    Unit,
    acceptance_trend,
    deadline_bursts,
    identical_evidence,
    implausibly_fast,
    observed_vs_expected,
    wilson_interval,
)
from fundpilot.rules.money import quantize
from fundpilot.rules.rulebook import Rulebook
from fundpilot.rules.vocabulary import OrgKind

# Statistical conventions of the report (not terms of a pilot, so not in the rulebook).
CONFIDENCE = 0.90  # of every interval
ALPHA = 0.10  # of the cherry-picking test
FAST_PERCENTILE, FAST_MINIMUM = 5, 20
FORECAST_MONTHS = 3

ALL, BAND, FLAG = "all", "acuity_band", "flag"
NONE, NO_FLAG = "(none)", "(no flag)"
PILOT_WIDE = "(pilot)"  # the provider column of pilot-wide rows
TABLES = (
    "enrolment",
    "acceptance",
    "activation",
    "attainment",
    "reviews_on_time",
    "escalated",
)
ESCALATION = "escalation:"  # + threshold code
DISENGAGED = "disengaged"
# Finding kinds.
FLOOR, OE, CHERRY, BURST, REUSE, FAST = (
    "acceptance_floor",
    "oe",
    "cherry_picking",
    "burst",
    "reuse",
    "fast",
)
KINDS = (FLOOR, OE, CHERRY, BURST, REUSE, FAST)
RECORDS = "records"
CSV_HEADER = ["table", "group_kind", "group", "provider", "count", "of", "rate", "low", "high"]
CSV_HEADER += ["detail"]

_PLACES, _DAYS = Decimal("0.0001"), Decimal("0.1")


def _dec(value: float | Decimal | None, places: Decimal = _PLACES) -> str | None:
    if value is None:
        return None
    return str(Decimal(repr(value) if isinstance(value, float) else value).quantize(places))


def _ratio(count: int, of: int) -> str | None:
    return None if of == 0 else _dec(Decimal(count) / Decimal(of))


def proportion(count: int, of: int) -> dict[str, Any]:
    """count/of with its rate and Wilson interval (None without trials)."""
    low = high = None
    if of:
        low, high = wilson_interval(count, of, confidence=CONFIDENCE)
    return {
        "count": count,
        "of": of,
        "rate": _ratio(count, of),
        "low": _dec(low),
        "high": _dec(high),
    }


# --- who is who ------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    pk: int
    pid: str
    provider: str
    band: str
    flags: tuple[str, ...]
    eligible_at: datetime | None
    activated_at: datetime | None
    activated_on: date | None
    removed_at: datetime | None

    def groups(self) -> list[tuple[str, str]]:
        flags = [(FLAG, f) for f in self.flags] or [(FLAG, NO_FLAG)]
        return [(ALL, ALL), (BAND, self.band or NONE), *flags]

    def on_roster(self, at: datetime) -> bool:
        return (
            self.activated_at is not None
            and self.activated_at < at
            and (self.removed_at is None or self.removed_at >= at)
        )

    def stratum(self, milestone: str) -> str:
        return f"{milestone}|{self.band or NONE}|{'+'.join(sorted(self.flags)) or NO_FLAG}"


@dataclass(frozen=True)
class Month:
    """The month's bounds and what every part of the computation shares."""

    pilot: Pilot
    rb: Rulebook
    first: date
    last: date
    start: datetime
    end: datetime
    people: dict[int, Person]
    providers: list[Organisation]

    def local(self, instant: datetime) -> date:
        return self.pilot.calendar.local_date(instant)

    def within(self, instant: datetime | None) -> bool:
        return instant is not None and self.start <= instant < self.end


def _people(pilot: Pilot) -> dict[int, Person]:
    calendar = pilot.calendar
    removed = dict(
        RosterRemoval.objects.filter(participant__pilot=pilot)
        .values("participant_id")
        .annotate(first=Min("decided_at"))
        .values_list("participant_id", "first")
    )
    rows = Participant.objects.filter(pilot=pilot).values_list(
        "pk",
        "participant_id",
        "provider__code",
        "acuity_band",
        "flags",
        "referral__eligibility_file__decided_at",
        "activated_at",
    )
    return {
        pk: Person(
            pk=pk,
            pid=pid,
            provider=provider,
            band=band,
            flags=tuple(flags or ()),
            eligible_at=eligible,
            activated_at=activated,
            activated_on=calendar.local_date(activated) if activated else None,
            removed_at=removed.get(pk),
        )
        for pk, pid, provider, band, flags, eligible, activated in rows
    }


def _providers(pilot: Pilot) -> list[Organisation]:
    return list(
        Organisation.objects.filter(
            kind=OrgKind.PROVIDER,
            pk__in=Party.objects.filter(pilot=pilot).values("organisation_id"),
        ).order_by("code")
    )


# --- tables ----------------------------------------------------------------------------


def _group_order(rb: Rulebook, seen: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    bands = [b.code for b in rb.acuity.bands] if rb.acuity else []
    flags = [f.code for f in rb.acuity.subpopulation_flags] if rb.acuity else []
    seen = set(seen)
    order = [(ALL, ALL), *((BAND, b) for b in bands)]
    order += sorted(g for g in seen if g[0] == BAND and g[1] not in bands)
    order += [(FLAG, f) for f in flags]
    order += sorted(g for g in seen if g[0] == FLAG and g[1] not in flags)
    return order


class Tally:
    """Counts of one table by (provider, group): each item adds to its provider's and
    the pilot's row of each of its groups."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])

    def add(self, provider: str, groups: Sequence[tuple[str, str]], success: bool) -> None:
        for scope in (PILOT_WIDE, provider):
            for kind, group in groups:
                cell = self.counts[(scope, kind, group)]
                cell[0] += int(success)
                cell[1] += 1

    def rows(self, m: Month, *, shares: bool = False) -> list[dict[str, Any]]:
        """Every group of every provider, in order; `shares`: of = the scope's total."""
        order = _group_order(m.rb, ((k, g) for _, k, g in self.counts))
        rows = []
        for scope in (PILOT_WIDE, *(p.code for p in m.providers)):
            total = self.counts.get((scope, ALL, ALL), [0, 0])[1]
            for kind, group in order:
                count, of = self.counts.get((scope, kind, group), [0, 0])
                if shares:
                    count, of = of, total
                rows.append({"group_kind": kind, "group": group, "provider": scope})
                rows[-1] |= proportion(count, of)
        return rows


def _final_decisions(m: Month, since: datetime | None) -> dict[int, tuple[int, str, datetime]]:
    """Each participant's latest activated/rejected decision before the month's end
    (from `since`): participant pk -> (decision pk, outcome, decided_at)."""
    rows = ActivationDecision.objects.filter(
        participant__pilot=m.pilot,
        outcome__in=(ActivationDecision.ACTIVATED, ActivationDecision.REJECTED),
        decided_at__lt=m.end,
    )
    if since is not None:
        rows = rows.filter(decided_at__gte=since)
    found: dict[int, tuple[int, str, datetime]] = {}
    for pk, person, outcome, at in rows.order_by("decided_at", "pk").values_list(
        "pk", "participant_id", "outcome", "decided_at"
    ):
        found[person] = (pk, outcome, at)
    return found


def _tables(
    m: Month, decisions: dict[int, tuple[int, str, datetime]], units: list["AttainmentUnit"]
) -> dict[str, list[dict[str, Any]]]:
    tallies = {name: Tally() for name in TABLES}
    by_referral = {p.pid: p for p in m.people.values()}
    referrals = Referral.objects.filter(
        pilot=m.pilot, referred_at__gte=m.start, referred_at__lt=m.end
    ).values_list("participant_id", "provider__code")
    for pid, provider in referrals:
        person = by_referral.get(pid)
        groups = person.groups() if person else [(ALL, ALL), (BAND, NONE)]
        tallies["enrolment"].add(provider, groups, True)
    for person_pk, (_, outcome, _) in decisions.items():
        person = m.people[person_pk]
        accepted = outcome == ActivationDecision.ACTIVATED
        tallies["acceptance"].add(person.provider, person.groups(), accepted)
    for person in m.people.values():
        if person.eligible_at is not None and person.eligible_at < m.end:
            tallies["activation"].add(person.provider, person.groups(), person.on_roster(m.end))
    for unit in units:
        if unit.window_end >= m.first:
            tallies["attainment"].add(unit.person.provider, unit.person.groups(), unit.attained)
    thresholds = [c.code for c in m.rb.codes.escalation_thresholds]
    for code in thresholds:
        tallies[ESCALATION + code] = Tally()
    reviews = ProgressionReview.objects.filter(
        participant__pilot=m.pilot, decided_at__gte=m.start, decided_at__lt=m.end
    ).values_list("participant_id", "late_days", "outcome", "escalation_status")
    for person_pk, late, outcome, status in reviews:
        person = m.people[person_pk]
        escalated = outcome == ProgressionReview.ESCALATED
        tallies["reviews_on_time"].add(person.provider, person.groups(), late == 0)
        tallies["escalated"].add(person.provider, person.groups(), escalated)
        for code in thresholds:
            tallies[ESCALATION + code].add(
                person.provider, person.groups(), escalated and status == code
            )
    disengaged = set(
        EngagementEvent.objects.filter(
            participant__pilot=m.pilot,
            kind=EngagementEvent.DISENGAGED,
            decided_at__gte=m.start,
            decided_at__lt=m.end,
        ).values_list("participant_id", flat=True)
    )
    tallies[DISENGAGED] = Tally()
    for person in m.people.values():
        if person.on_roster(m.end):
            tallies[DISENGAGED].add(person.provider, person.groups(), person.pk in disengaged)
    return {name: tally.rows(m, shares=name == "enrolment") for name, tally in tallies.items()}


# --- acceptance floors -----------------------------------------------------------------


def _floors(
    m: Month, acceptance: list[dict[str, Any]], decisions: dict[int, tuple[int, str, datetime]]
) -> list[dict[str, Any]]:
    """Each acceptance floor of the rulebook against the month's acceptance, pilot-wide."""
    if m.rb.equity is None:
        return []
    pilot_rows = {
        (r["group_kind"], r["group"]): r for r in acceptance if r["provider"] == PILOT_WIDE
    }
    bands = {b.code for b in m.rb.acuity.bands} if m.rb.acuity else set()
    floors = []
    for floor in m.rb.equity.minimum_acceptance_rates:
        kind = BAND if floor.cohort in bands else FLAG
        row = pilot_rows.get((kind, floor.cohort)) or proportion(0, 0)
        count, of = row["count"], row["of"]
        shortfall = of > 0 and Decimal(count) * 100 < floor.minimum_rate * of
        cohort: list[dict[str, Any]] = [
            {
                "decision": pk,
                "participant": m.people[person_pk].pid,
                "provider": m.people[person_pk].provider,
                "outcome": outcome,
                "decided_on": str(m.local(at)),
            }
            for person_pk, (pk, outcome, at) in decisions.items()
            if (kind, floor.cohort) in m.people[person_pk].groups()
        ]
        floors.append(
            {
                "cohort": floor.cohort,
                "group_kind": kind,
                "minimum_rate": str(floor.minimum_rate),
                **{k: row[k] for k in ("count", "of", "rate", "low", "high")},
                "status": "unchecked" if of == 0 else "shortfall" if shortfall else "met",
                "providers": sorted({d["provider"] for d in cohort}),
                RECORDS: sorted(cohort, key=lambda d: (d["decided_on"], d["decision"])),
            }
        )
    return floors


# --- attainment units and observed vs expected ----------------------------------------


@dataclass(frozen=True)
class AttainmentUnit:
    person: Person
    milestone: str
    window_end: date
    attained: bool
    claim: str  # the reaching claim's reference, or ""


def _units(m: Month) -> list[AttainmentUnit]:
    """Participant milestones (attempt 1) whose window closed by the month's end."""
    reached: dict[tuple[int, str], tuple[date | None, str]] = {}
    claims = Claim.objects.filter(
        pilot=m.pilot,
        participant__isnull=False,
        attempt=1,
        status=Claim.PAYABLE,
        payable_at__lt=m.end,
    ).values_list("participant_id", "milestone", "reached_on", "reference")
    for person_pk, code, reached_on, reference in claims:
        reached[(person_pk, code)] = (reached_on, reference)
    milestones = participant_milestones(m.rb)
    units = []
    for person in m.people.values():
        if person.activated_at is None or person.activated_at >= m.end:
            continue
        for ms in milestones:
            window = ms.terms_for(acuity_band=person.band or None, flags=person.flags).window_days
            if window is None or person.activated_on is None:
                continue
            window_end = person.activated_on + timedelta(days=window)
            removed = person.removed_at and m.local(person.removed_at) <= window_end
            if window_end > m.last or removed:
                continue
            on, claim = reached.get((person.pk, ms.code), (None, ""))
            attained = on is not None and on <= window_end
            units.append(
                AttainmentUnit(person, ms.code, window_end, attained, claim if attained else "")
            )
    return units


def _oe(m: Month, units: list[AttainmentUnit]) -> dict[str, Any]:
    result = observed_vs_expected(
        [Unit(u.person.provider, u.person.stratum(u.milestone), u.attained) for u in units],
        confidence=CONFIDENCE,
        groups=[p.code for p in m.providers],
    )
    return {
        "units": len(units),
        "strata": [
            {"stratum": s.stratum, "units": s.units, "attained": s.attained, "rate": _dec(s.rate)}
            for s in result.strata
        ],
        "providers": [
            {
                "provider": g.group,
                "units": g.units,
                "observed": g.observed,
                "expected": _dec(g.expected),
                "ratio": _dec(g.ratio),
                "low": _dec(g.interval.low) if g.interval else None,
                "high": _dec(g.interval.high) if g.interval else None,
                "excludes_one": g.excludes_one,
                "reason": g.reason,
            }
            for g in result.groups
        ],
    }


# --- cherry-picking ----------------------------------------------------------------------


def _cherry_picking(m: Month) -> list[dict[str, Any]]:
    ranks = {b.code: i for i, b in enumerate(m.rb.acuity.bands)} if m.rb.acuity else {}
    decided: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for person_pk, (pk, outcome, at) in _final_decisions(m, None).items():
        person = m.people[person_pk]
        if person.band in ranks:
            decided[person.provider].append(
                {
                    "decision": pk,
                    "participant": person.pid,
                    "band": person.band,
                    "outcome": outcome,
                    "decided_on": str(m.local(at)),
                }
            )
    results = []
    for provider in (p.code for p in m.providers):
        rows = decided[provider]
        trend = acceptance_trend(
            [
                (ranks[r["band"]], 1, int(r["outcome"] == ActivationDecision.ACTIVATED))
                for r in rows
            ],
            alpha=ALPHA,
        )
        bands = {i: code for code, i in ranks.items()}
        results.append(
            {
                "provider": provider,
                "ranks": [
                    {"band": bands[r.acuity_rank], "rank": r.acuity_rank}
                    | proportion(r.accepted, r.referred)
                    for r in trend.ranks
                ],
                "slope": _dec(trend.slope),
                "statistic": _dec(trend.statistic),
                "p_value": _dec(trend.p_value),
                "alpha": _dec(ALPHA),
                "falling_with_acuity": trend.falling_with_acuity,
                "reason": trend.reason,
                RECORDS: sorted(rows, key=lambda r: (r["decided_on"], r["decision"])),
            }
        )
    return results


# --- documentation inflation -------------------------------------------------------------


def _reengaged(pilot: Pilot) -> dict[int, list[date]]:
    found: dict[int, list[date]] = defaultdict(list)
    calendar = pilot.calendar
    for person_pk, at in (
        EngagementEvent.objects.filter(participant__pilot=pilot, kind=EngagementEvent.REENGAGED)
        .order_by("decided_at", "pk")
        .values_list("participant_id", "decided_at")
    ):
        found[person_pk].append(calendar.local_date(at))
    return found


def _attempt_start(
    person: Person, attempt: int, reached_on: date, reengaged: dict[int, list[date]]
) -> date | None:
    """As the milestone tracker reads it: activation for attempt 1, the latest
    re-engagement on or before the day reached for a later one."""
    back = [d for d in reengaged.get(person.pk, ()) if d <= reached_on] if attempt > 1 else []
    return back[-1] if back else person.activated_on


def _bursts(m: Month, reengaged: dict[int, list[date]]) -> list[dict[str, Any]]:
    first_claim = ClaimEvidence.objects.filter(evidence=OuterRef("pk")).order_by("claim_id")
    rows = list(
        Evidence.objects.filter(
            pilot=m.pilot,
            participant__isnull=False,
            uploaded_at__gte=m.start,
            uploaded_at__lt=m.end,
        )
        .annotate(claim_pk=Subquery(first_claim.values("claim_id")[:1]))
        .filter(claim_pk__isnull=False)
        .order_by("uploaded_at", "pk")
        .values_list("pk", "participant_id", "uploaded_at", "claim_pk")
    )
    claims = {
        c[0]: c[1:]
        for c in Claim.objects.filter(pk__in={r[3] for r in rows}).values_list(
            "pk", "reference", "milestone", "attempt", "reached_on"
        )
    }
    # By provider: (uploaded on, deadline, available from, the record).
    uploads: dict[str, list[tuple[date, date, date, dict[str, Any]]]] = defaultdict(list)
    for pk, person_pk, uploaded_at, claim_pk in rows:
        person = m.people[person_pk]
        reference, code, attempt, reached_on = claims[claim_pk]
        start = _attempt_start(person, attempt, reached_on, reengaged)
        window = m.rb.milestone(code).terms_for(acuity_band=person.band or None, flags=person.flags)
        if start is None or window.window_days is None:
            continue
        deadline, uploaded_on = start + timedelta(days=window.window_days), m.local(uploaded_at)
        record = {
            "evidence": pk,
            "participant": person.pid,
            "claim": reference,
            "milestone": code,
            "uploaded_at": uploaded_at.isoformat(),
            "uploaded_on": str(uploaded_on),
            "available_from": str(start),
            "deadline": str(deadline),
        }
        uploads[person.provider].append((uploaded_on, deadline, start, record))
    results = []
    for provider in (p.code for p in m.providers):
        items = uploads[provider]
        found = deadline_bursts([item[:3] for item in items])
        for uploaded_on, deadline, _, record in items:
            record["in_window"] = 0 <= (deadline - uploaded_on).days < found.window_days
        results.append(
            {
                "provider": provider,
                "uploads": found.uploads,
                "in_window": found.in_window,
                "late": found.late,
                "observed_share": _dec(found.observed_share),
                "expected_share": _dec(found.expected_share),
                "window_days": found.window_days,
                "threshold": _dec(found.threshold),
                "margin": _dec(found.margin),
                "flagged": found.flagged,
                "reason": found.reason,
                RECORDS: [item[3] for item in items],
            }
        )
    return results


def _reuse(m: Month) -> list[dict[str, Any]]:
    pieces: dict[str, list[tuple[int, Person, datetime, str, str]]] = defaultdict(list)
    hashes: dict[str, list[str]] = defaultdict(list)
    for pk, person_pk, digest, at, kind, filename in (
        Evidence.objects.filter(pilot=m.pilot, participant__isnull=False, uploaded_at__lt=m.end)
        .order_by("pk")
        .values_list("pk", "participant_id", "sha256", "uploaded_at", "kind", "filename")
    ):
        person = m.people[person_pk]
        pieces[digest].append((pk, person, at, kind, filename))
        hashes[person.pid].append(digest)
    results = []
    for digest, holders in identical_evidence(hashes).items():
        if not any(m.within(at) for _, _, at, _, _ in pieces[digest]):
            continue
        results.append(
            {
                "sha256": digest,
                "participants": len(holders),
                "providers": sorted({person.provider for _, person, _, _, _ in pieces[digest]}),
                RECORDS: [
                    {
                        "evidence": pk,
                        "participant": person.pid,
                        "provider": person.provider,
                        "kind": kind,
                        "filename": filename,
                        "uploaded_at": at.isoformat(),
                    }
                    for pk, person, at, kind, filename in pieces[digest]
                ],
            }
        )
    return results


def _fast(m: Month, reengaged: dict[int, list[date]]) -> list[dict[str, Any]]:
    claims = Claim.objects.filter(
        pilot=m.pilot, participant__isnull=False, submitted_at__lt=m.end
    ).values_list(
        "reference", "participant_id", "milestone", "attempt", "reached_on", "submitted_at"
    )
    by_milestone: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for reference, person_pk, code, attempt, reached_on, submitted_at in claims:
        person = m.people[person_pk]
        start = _attempt_start(person, attempt, reached_on, reengaged)
        if start is None or reached_on < start:
            continue
        by_milestone[code][reference] = {
            "claim": reference,
            "participant": person.pid,
            "provider": person.provider,
            "start": str(start),
            "reached_on": str(reached_on),
            "days": (reached_on - start).days,
            "submitted_at": submitted_at.isoformat(),
            "this_month": m.within(submitted_at),
        }
    results = []
    for ms in participant_milestones(m.rb):
        items = by_milestone.get(ms.code, {})
        found = implausibly_fast(
            {k: float(v["days"]) for k, v in items.items()},
            percentile=FAST_PERCENTILE,
            minimum=FAST_MINIMUM,
        )
        flagged = [items[k] for k in found.flagged if items[k]["this_month"]]
        results.append(
            {
                "milestone": ms.code,
                "observations": found.observations,
                "percentile": FAST_PERCENTILE,
                "minimum": FAST_MINIMUM,
                "rank": found.rank,
                "cutoff_days": None if found.cutoff is None else int(found.cutoff),
                "reason": found.reason,
                RECORDS: [{k: v for k, v in i.items() if k != "this_month"} for i in flagged],
            }
        )
    return results


# --- equity between providers (seed 001) ------------------------------------------------


def _sum_by_provider(rows: QuerySet[Any], field: str) -> dict[str, Decimal]:
    """Σ `field` of the rows by their provider's code (0 for a provider without any)."""
    found: dict[str, Decimal] = defaultdict(lambda: ZERO)
    totals = rows.values("provider__code").annotate(total=Sum(field)).order_by()
    for code, total in totals.values_list("provider__code", "total"):
        found[code] = Decimal(total or 0)
    return found


def _verdicts(m: Month) -> tuple[dict[str, list[int]], dict[str, Decimal]]:
    """By provider: [rejected, decided] verification decisions of the month, and the
    pass rate of all its decisions to the month's end (1 without any)."""
    month: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    to_date: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # passed, decided
    for provider, outcome, at in Verification.objects.filter(
        claim__pilot=m.pilot, decided_at__lt=m.end
    ).values_list("claim__provider__code", "outcome", "decided_at"):
        rejected = outcome == Verification.REJECTED
        to_date[provider][0] += int(not rejected)
        to_date[provider][1] += 1
        if at >= m.start:
            month[provider][0] += int(rejected)
            month[provider][1] += 1
    rates = {
        p.code: Decimal(to_date[p.code][0]) / Decimal(to_date[p.code][1])
        if to_date[p.code][1]
        else Decimal(1)
        for p in m.providers
    }
    return month, rates


def _payment_waits(m: Month) -> dict[str, list[dict[str, Any]]]:
    """By provider: each claim whose payment the ledger posted in the month, with the
    calendar days from payable to posted."""
    posted = Transaction.objects.filter(basis_key=OuterRef("basis_key"), kind=Transaction.PAYMENT)
    paid = (
        Claim.objects.filter(pilot=m.pilot, basis_key__isnull=False, payable_at__isnull=False)
        .annotate(posted_at=Subquery(posted.values("posted_at")[:1]))
        .filter(posted_at__gte=m.start, posted_at__lt=m.end)
        .order_by("posted_at", "pk")
        .values_list("provider__code", "reference", "payable_at", "posted_at")
    )
    waits: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for provider, reference, payable_at, posted_at in paid:
        days = (m.local(posted_at) - m.local(payable_at)).days
        waits[provider].append({"claim": reference, "days": days})
    return waits


def _held(m: Month) -> dict[str, Decimal]:
    """By provider: what the month's payment runs held because funds fell short."""
    held: dict[str, Decimal] = defaultdict(lambda: ZERO)
    runs = PaymentRun.objects.filter(pilot=m.pilot, month=m.first)
    for summary in runs.values_list("summary", flat=True):
        for item in summary.get("held", []):
            held[item["provider"]] += Decimal(item["amount"])
    return held


def _money(m: Month) -> dict[str, dict[str, Decimal]]:
    """By kind, by provider: held, recouped, payable unpaid, in verification, drafts and
    recurring (PMPM and episodes paid for the month)."""
    claims = Claim.objects.filter(pilot=m.pilot)
    paid_before_end = Exists(
        Transaction.objects.filter(
            basis_key=OuterRef("basis_key"), kind=Transaction.PAYMENT, posted_at__lt=m.end
        )
    )
    rejected_before_end = Exists(
        Verification.objects.filter(
            claim=OuterRef("pk"), outcome=Verification.REJECTED, decided_at__lt=m.end
        )
    )
    not_payable = Q(payable_at__isnull=True) | Q(payable_at__gte=m.end)
    not_submitted = Q(submitted_at__isnull=True) | Q(submitted_at__gte=m.end)
    recurring = Transaction.objects.filter(pilot=m.pilot, kind=Transaction.PAYMENT).filter(
        basis_q(PMPM) | basis_q(EPISODE), in_month(m.first)
    )
    cents = _sum_by_provider(recurring, "amount_cents")
    return {
        "held": _held(m),
        "recouped": _sum_by_provider(
            Recoupment.objects.filter(pilot=m.pilot, created_at__gte=m.start, created_at__lt=m.end),
            "amount",
        ),
        "payable_unpaid": _sum_by_provider(
            claims.filter(payable_at__lt=m.end, basis_key__isnull=False).exclude(paid_before_end),
            "payable_amount",
        ),
        "in_verification": _sum_by_provider(
            claims.filter(not_payable, submitted_at__lt=m.end).exclude(rejected_before_end),
            "amount",
        ),
        "drafts": _sum_by_provider(
            claims.filter(not_payable, not_submitted, drafted_at__lt=m.end).exclude(
                status=Claim.REJECTED
            ),
            "amount",
        ),
        "recurring": defaultdict(lambda: ZERO, {k: money(int(v)) for k, v in cents.items()}),
    }


def _providers_equity(m: Month) -> list[dict[str, Any]]:
    verdicts, pass_rates = _verdicts(m)
    waits = _payment_waits(m)
    amounts = _money(m)
    staff = _staff(m.pilot, m.providers)
    roster: dict[str, int] = defaultdict(int)
    for person in m.people.values():
        roster[person.provider] += int(person.on_roster(m.end))
    by_size = sorted(m.providers, key=lambda p: (-roster[p.code], p.code))
    rows = []
    for rank, org in enumerate(by_size, 1):
        code, rate = org.code, pass_rates[org.code]
        days = [w["days"] for w in waits[code]]
        pipeline = (
            amounts["payable_unpaid"][code],
            quantize(amounts["in_verification"][code] * rate),
            quantize(amounts["drafts"][code] * rate),
        )
        rows.append(
            {
                "provider": code,
                "name": org.name,
                "size": {"roster": roster[code], "staff": staff.get(code, 0), "rank": rank},
                "rejections": proportion(*verdicts[code]),
                "time_to_payment": {
                    "paid": len(days),
                    "median_days": _dec(Decimal(str(median(days))), _DAYS) if days else None,
                    "mean_days": _dec(Decimal(sum(days)) / len(days), _DAYS) if days else None,
                    "max_days": max(days) if days else None,
                },
                "withheld": {
                    k: str(quantize(amounts[k][code]))
                    for k in ("held", "recouped", "payable_unpaid")
                },
                "forecast": {
                    "pass_rate": _dec(rate),
                    "months": _forecast(m.first, pipeline, amounts["recurring"][code]),
                },
                RECORDS: {"paid": waits[code]},
            }
        )
    return rows


PIPELINE = ("payable_unpaid", "in_verification", "drafts")  # paid 1, 2 and 3 months ahead


def _forecast(first: date, pipeline: Sequence[Decimal], recurring: Decimal) -> list[dict[str, str]]:
    """The next months' expected payments: each pipeline stage in its month, plus the
    recurring payments every month."""
    months, month = [], first
    for ahead in range(FORECAST_MONTHS):
        month = next_month(month)
        stages = {name: pipeline[i] if i == ahead else ZERO for i, name in enumerate(PIPELINE)}
        total = sum(stages.values(), recurring)
        months.append(
            {"month": f"{month:%Y-%m}", "amount": str(quantize(total))}
            | {name: str(quantize(a)) for name, a in stages.items()}
            | {"recurring": str(quantize(recurring))}
        )
    return months


def _staff(pilot: Pilot, providers: list[Organisation]) -> dict[str, int]:
    """People of each provider organisation holding a role in the pilot."""
    found: dict[str, set[int]] = defaultdict(set)
    for code, user in (
        User.objects.filter(organisation__in=providers, memberships__pilot=pilot)
        .values_list("organisation__code", "pk")
        .distinct()
    ):
        found[code].add(user)
    return {code: len(users) for code, users in found.items()}


# --- the month -------------------------------------------------------------------------


def _signals(figures: dict[str, Any], units: list[AttainmentUnit]) -> list[dict[str, Any]]:
    """Everything listed for review, each {kind, subject, providers, data}."""
    signals: list[dict[str, Any]] = []

    def add(kind: str, subject: str, providers: list[str], data: dict[str, Any]) -> None:
        signals.append({"kind": kind, "subject": subject, "providers": providers, "data": data})

    for floor in figures["floors"]:
        if floor["status"] == "shortfall":
            add(FLOOR, floor["cohort"], floor["providers"], floor)
    for g in figures["oe"]["providers"]:
        if g["excludes_one"]:
            own = [
                {
                    "participant": u.person.pid,
                    "milestone": u.milestone,
                    "stratum": u.person.stratum(u.milestone),
                    "window_end": str(u.window_end),
                    "attained": u.attained,
                    "claim": u.claim,
                }
                for u in units
                if u.person.provider == g["provider"]
            ]
            add(OE, g["provider"], [g["provider"]], g | {RECORDS: own})
    for c in figures["cherry_picking"]:
        if c["falling_with_acuity"]:
            add(CHERRY, c["provider"], [c["provider"]], c)
    for b in figures["bursts"]:
        if b["flagged"]:
            add(BURST, b["provider"], [b["provider"]], b)
    for r in figures["reuse"]:
        add(REUSE, f"sha256:{r['sha256'][:16]}", r["providers"], r)
    for f in figures["fast"]:
        for item in f[RECORDS]:
            summary = {k: f[k] for k in ("milestone", "observations", "percentile", "cutoff_days")}
            add(FAST, item["claim"], [item["provider"]], summary | {RECORDS: [item]})
    return signals


def compute(pilot: Pilot, month: date) -> dict[str, Any]:
    """The month's equity figures (JSON-ready; see the module docstring)."""
    rb = pilot.rulebook
    first = month.replace(day=1)
    m = Month(
        pilot=pilot,
        rb=rb,
        first=first,
        last=last_day(first),
        start=start_of(pilot, first),
        end=month_end_instant(pilot, first),
        people=_people(pilot),
        providers=_providers(pilot),
    )
    units = _units(m)
    decisions = _final_decisions(m, m.start)
    tables = _tables(m, decisions, units)
    reengaged = _reengaged(pilot)
    figures: dict[str, Any] = {
        "month": f"{first:%Y-%m}",
        "parameters": {
            "confidence": _dec(CONFIDENCE),
            "alpha": _dec(ALPHA),
            "fast_percentile": FAST_PERCENTILE,
            "fast_minimum": FAST_MINIMUM,
            "forecast_months": FORECAST_MONTHS,
        },
        "bands": [b.code for b in rb.acuity.bands] if rb.acuity else [],
        "flags": [f.code for f in rb.acuity.subpopulation_flags] if rb.acuity else [],
        "provider_codes": [p.code for p in m.providers],
        "tables": tables,
        "table_names": list(tables),  # their order (a JSON object's keys may lose it)
        "floors": _floors(m, tables["acceptance"], decisions),
        "oe": _oe(m, units),
        "cherry_picking": _cherry_picking(m),
        "bursts": _bursts(m, reengaged),
        "reuse": _reuse(m),
        "fast": _fast(m, reengaged),
        "providers": _providers_equity(m),
        "complaints": {
            "recorded": False,
            "note": "fundpilot records no complaints; the safety signals it holds are the"
            " C6 escalations by threshold and disengagements, shown by group above",
        },
    }
    figures["signals"] = _signals(figures, units)
    return figures


def redacted(value: Any) -> Any:
    """The figures without participant-identifying detail (every "records" key)."""
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items() if k != RECORDS}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def csv_rows(figures: dict[str, Any]) -> list[list[str]]:
    """Header and rows: every table, the acceptance floors, O/E by provider and the
    providers' rejection rates, time to payment and amounts withheld. No record ids."""

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    def row(
        table: str, kind: str, group: str, provider: str, r: dict[str, Any], detail: str
    ) -> list[str]:
        cells = [r.get(k) for k in ("count", "of", "rate", "low", "high")]
        return [table, kind, group, provider, *(text(c) for c in cells), detail]

    out = [list(CSV_HEADER)]
    for table in figures["table_names"]:
        rows = figures["tables"][table]
        out += [row(table, r["group_kind"], r["group"], r["provider"], r, "") for r in rows]
    for f in figures["floors"]:
        detail = f"minimum {f['minimum_rate']}%: {f['status']}"
        out.append(row("acceptance_floor", f["group_kind"], f["cohort"], PILOT_WIDE, f, detail))
    for g in figures["oe"]["providers"]:
        r = {"count": g["observed"], "of": g["units"], "rate": g["ratio"]}
        r |= {"low": g["low"], "high": g["high"]}
        detail = f"expected {g['expected']}" + (f"; {g['reason']}" if g["reason"] else "")
        out.append(row("oe", "provider", g["provider"], g["provider"], r, detail))
    for p in figures["providers"]:
        size = p["size"]
        pay, held = p["time_to_payment"], p["withheld"]
        out.append(
            row(
                "provider_rejections",
                "provider",
                p["provider"],
                p["provider"],
                p["rejections"],
                f"roster {size['roster']}; staff {size['staff']}; size rank {size['rank']};"
                f" paid {pay['paid']}, median {text(pay['median_days'])} days to payment;"
                f" held {held['held']}; recouped {held['recouped']};"
                f" payable unpaid {held['payable_unpaid']}",
            )
        )
    return out
