"""Dashboards per role (issue 6): the figures behind the four panels, as one viewer may
see them, each with a link to the records it was computed from.

- **Attainment over time**, per month. A month with a finalised settlement file (C16)
  shows its stored attainment (the rulebook's methodology, as settled). Any other month,
  and every month for a viewer who sees one provider only (settlements are pilot-wide),
  shows live counts, labelled "live, not settled": of the participant milestone claims
  reached in the month and submitted for payment, the share now payable (verified, or
  paid on submission in the sampled tier). A rejected claim that was resubmitted counts
  once, as its resubmission.
- **Verification turnaround**, per month of the decision: the median and 90th
  percentile of *business* days (the pilot's calendar, as the verification deadline
  counts them) from the local day a claim was submitted to the local day of its first
  verification decision — the verification report's measure, so a point matches the
  page it links to. The median of an even count is the mean of the two middle values;
  the 90th percentile is the nearest rank (the smallest value at least 90% are at or
  below).
- **Spend vs plan by payer**, per month: the C14 reconciliation's spend to date and
  straight-line plan to date, as stored for reconciled months and computed live
  (labelled "live, not reconciled") for the others.
- **Acceptance by acuity band**: eligible referrals with a final activation decision
  (C2), accepted (activated, including those later removed from the roster) over
  decided (accepted or rejected), per band, with the rulebook's minimum acceptance rate
  where it names a band.

Who sees what (the policy decides; see `Viewer`): the pilot office, assurance and
auditors see all four panels pilot-wide; a payer representative sees spend vs plan for
its own payer and pilot-wide attainment; provider staff see attainment, turnaround and
acceptance for their own organisation only; a verifier sees attainment and turnaround.
Everything is grouped in the database; Python only walks the few grouped rows.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate, TruncMonth
from django.urls import reverse

from fundpilot.claims.models import Claim, Verification
from fundpilot.governance.models import Settlement
from fundpilot.money import reconciliation
from fundpilot.money.ledger import month_of
from fundpilot.money.models import Reconciliation
from fundpilot.money.monthly import check_month, next_month
from fundpilot.participants.models import Participant
from fundpilot.participants.queues import start_of
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot
from fundpilot.rules.money import quantize
from fundpilot.rules.vocabulary import OrgKind

ATTAINMENT, TURNAROUND, SPEND, ACCEPTANCE = "attainment", "turnaround", "spend", "acceptance"
SETTLED, LIVE = "settled", "live, not settled"
RECONCILED, LIVE_MONEY = "reconciled", "live, not reconciled"
ACCEPTED = (Participant.ACTIVATED, Participant.REMOVED)


@dataclass(frozen=True)
class Viewer:
    """One person looking at one pilot's dashboard."""

    user: Any
    pilot: Pilot

    def may(self, perm: str) -> bool:
        return policy.allowed(self.user, perm, self.pilot)

    @property
    def payer(self) -> str | None:
        """None: every payer's money; a payer id: only its own; "": no payer's money."""
        return policy.payer_scope(self.user, self.pilot)

    @property
    def own_organisation(self) -> bool:
        """Provider staff see their own organisation's cases only."""
        org = getattr(self.user, "organisation", None)
        return (
            not policy.sees_every_provider(self.user, self.pilot)
            and org is not None
            and org.kind == OrgKind.PROVIDER
        )

    def whom(self) -> str:
        return self.user.organisation.name if self.own_organisation else "all providers"

    def claim_rows(
        self, rows: QuerySet[Any], field: str = "provider", payers: bool = False
    ) -> QuerySet[Any] | None:
        """Claim-linked rows narrowed as the claim pages narrow them; pilot-wide for the
        oversight roles that read no claims (board, sponsor; payer representatives too
        with `payers`); None: not for this viewer."""
        if self.may("claim.view"):
            return policy.claims_scope(self.user, self.pilot, rows, field)
        return rows if payers or self.payer is None else None

    def participant_rows(self, rows: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.may("participant.view"):
            return policy.participants_scope(self.user, self.pilot, rows)
        return rows if self.payer is None else None

    def link(self, perm: str, name: str, query: dict[str, str] | None = None, **kw: str) -> str:
        """The address of a page of records, or "" when the viewer may not open it."""
        if not self.may(perm):
            return ""
        url = reverse(name, kwargs={"pilot": self.pilot.slug, **kw})
        return f"{url}?{urlencode(query)}" if query else url


def months_until(pilot: Pilot, until: date | None, now: datetime) -> list[date]:
    """The pilot's months from its first to `until` (checked: begun, in the period) or,
    by default, to the current month (none before the pilot begins)."""
    period = pilot.rulebook.pilot
    first, last = month_of(period.period_start), month_of(period.period_end)
    if until is not None:
        check_month(pilot, until, now)
    else:
        until = min(month_of(pilot.calendar.local_date(now)), last)
    months = []
    month = first
    while month <= until:
        months.append(month)
        month = next_month(month)
    return months


def _rate(numerator: int, denominator: int) -> str | None:
    if denominator == 0:
        return None
    return str(quantize(Decimal(numerator) * 100 / denominator))


# --- attainment ---------------------------------------------------------------------


def _live_attainment(rows: QuerySet[Claim], months: list[date]) -> dict[date, tuple[int, int]]:
    """Month → (payable, submitted) over participant claims reached in the month."""
    resubmitted = Claim.objects.filter(resubmission_of=OuterRef("pk"))
    grouped = (
        rows.filter(
            scope="participant",
            submitted_at__isnull=False,
            reached_on__gte=months[0],
            reached_on__lt=next_month(months[-1]),
        )
        .exclude(Exists(resubmitted))
        .annotate(month=TruncMonth("reached_on"))
        .values("month")
        .annotate(due=Count("pk"), verified=Count("pk", filter=Q(status=Claim.PAYABLE)))
        .order_by()
    )
    return {r["month"]: (r["verified"], r["due"]) for r in grouped}


def attainment(viewer: Viewer, months: list[date]) -> dict[str, Any] | None:
    pilot = viewer.pilot
    rows = viewer.claim_rows(Claim.objects.filter(pilot=pilot), payers=True)
    if rows is None:
        return None
    settled: dict[date, tuple[int, dict[str, Any]]] = {}
    if months and not viewer.own_organisation:
        found = Settlement.objects.filter(
            pilot=pilot, status=Settlement.FINALISED, month__in=months
        ).values_list("month", "pk", "figures")
        settled = {month: (pk, figures) for month, pk, figures in found}
    live = _live_attainment(rows, months) if months else {}
    claims = viewer.link("claim.view", "claims:claims", {"status": Claim.PAYABLE})
    points = []
    for month in months:
        if month in settled:
            pk, figures = settled[month]
            share = figures["attainment"]
            points.append(
                {
                    "month": f"{month:%Y-%m}",
                    "numerator": share["numerator"],
                    "denominator": share["denominator"],
                    "rate": None if share["rate"] is None else str(share["rate"]),
                    "source": SETTLED,
                    "settlement": pk,
                    "url": viewer.link(
                        "settlement.view", "governance:settlement", month=f"{month:%Y-%m}"
                    ),
                }
            )
            continue
        verified, due = live.get(month, (0, 0))
        points.append(
            {
                "month": f"{month:%Y-%m}",
                "numerator": verified,
                "denominator": due,
                "rate": _rate(verified, due),
                "source": LIVE,
                "settlement": None,
                "url": claims,
            }
        )
    method = pilot.rulebook.settlement
    explained = (
        "Live months (open points): participant milestone claims reached in the month and"
        " submitted for payment, the share now payable."
    )
    if viewer.own_organisation:
        explained += " Settlement files are pilot-wide: your organisation's months are live."
    elif method:
        explained += (
            " Settled months: the finalised settlement file's attainment"
            f" ({method.numerator} ÷ {method.denominator})."
        )
    return {
        "title": f"Milestone attainment over time — {viewer.whom()}",
        "whom": viewer.whom(),
        "method": explained,
        "minimum_rate": str(method.minimum_attainment_rate) if method else None,
        "points": points,
    }


# --- verification turnaround --------------------------------------------------------


def _quantile(histogram: list[tuple[int, int]], share: Decimal) -> int:
    """Nearest rank: the smallest value with at least `share` of the counts at or below."""
    rank = math.ceil(share * sum(n for _, n in histogram))
    seen = 0
    for value, n in sorted(histogram):
        seen += n
        if seen >= rank:
            return value
    raise ValueError("empty histogram")


def _median(histogram: list[tuple[int, int]]) -> Decimal:
    """The middle value; the mean of the two middle ones for an even count."""
    size = sum(n for _, n in histogram)
    values, seen = [], 0
    for value, n in sorted(histogram):
        values += [value for index in {(size - 1) // 2, size // 2} if seen <= index < seen + n]
        seen += n
    return (Decimal(sum(values)) / len(values)).quantize(Decimal("0.1"))


def turnaround(viewer: Viewer, months: list[date]) -> dict[str, Any] | None:
    pilot = viewer.pilot
    rows = viewer.claim_rows(
        Verification.objects.filter(claim__pilot=pilot, supersedes__isnull=True),
        "claim__provider",
    )
    if rows is None:
        return None
    days: dict[date, list[tuple[int, int]]] = defaultdict(list)
    if months:
        zone = ZoneInfo(pilot.rulebook.pilot.timezone)
        grouped = (
            rows.filter(
                decided_at__gte=start_of(pilot, months[0]),
                decided_at__lt=start_of(pilot, next_month(months[-1])),
                claim__submitted_at__isnull=False,
            )
            .annotate(
                sent=TruncDate("claim__submitted_at", tzinfo=zone),
                made=TruncDate("decided_at", tzinfo=zone),
            )
            .values("sent", "made")
            .annotate(n=Count("pk"))
            .order_by()
        )
        calendar = pilot.calendar
        for r in grouped:
            span = calendar.business_days_between(r["sent"], r["made"])
            days[month_of(r["made"])].append((span, r["n"]))
    points = []
    for month in months:
        histogram = days.get(month, [])
        decided = sum(n for _, n in histogram)
        points.append(
            {
                "month": f"{month:%Y-%m}",
                "decisions": decided,
                "median": str(_median(histogram)) if decided else None,
                "p90": _quantile(histogram, Decimal("0.9")) if decided else None,
                "url": viewer.link(
                    "verification.report", "claims:verification-report", {"month": f"{month:%Y-%m}"}
                ),
            }
        )
    return {
        "title": f"Verification turnaround — {viewer.whom()}",
        "whom": viewer.whom(),
        "days": "business",
        "method": (
            "Business days in the pilot's calendar from the day a claim was submitted to"
            " the day of its first verification decision, by the month of the decision:"
            " the median and the 90th percentile (nearest rank)."
        ),
        "deadline_days": pilot.rulebook.deadlines.verification,
        "points": points,
    }


# --- spend vs plan by payer ---------------------------------------------------------


def spend(viewer: Viewer, months: list[date]) -> dict[str, Any] | None:
    pilot = viewer.pilot
    scope = viewer.payer
    if not viewer.may("reconciliation.view") or scope == "":
        return None
    stored = dict(
        Reconciliation.objects.filter(pilot=pilot, month__in=months).values_list("month", "figures")
    )
    by_payer: dict[str, dict[str, Any]] = {}
    for month in months:
        source = RECONCILED if month in stored else LIVE_MONEY
        figures = stored.get(month) or reconciliation.compute(pilot, month)
        for p in reconciliation.scoped(figures, scope)["payers"]:
            payer = by_payer.setdefault(
                p["payer"], {"payer": p["payer"], "name": p["name"], "points": []}
            )
            payer["points"].append(
                {
                    "month": f"{month:%Y-%m}",
                    "plan": p["plan"]["to_date"],
                    "spend": p["plan"]["actual"],
                    "variance_percent": p["plan"]["percent"],
                    "over_threshold": p["plan"]["over_threshold"],
                    "source": source,
                    "url": (
                        viewer.link(
                            "reconciliation.view", "money:reconciliation", month=f"{month:%Y-%m}"
                        )
                        if source == RECONCILED
                        else viewer.link("fund.view", "money:statement", payer=p["payer"])
                    ),
                }
            )
    whom = "every payer" if scope is None else f"payer {scope} only"
    return {
        "title": f"Spend vs plan by payer — {whom}",
        "whom": whom,
        "method": reconciliation.METHOD
        + " Reconciled months as stored (C14); the others computed live from the ledger.",
        "payers": list(by_payer.values()),
    }


# --- acceptance by acuity band ------------------------------------------------------


def acceptance(viewer: Viewer) -> dict[str, Any] | None:
    pilot = viewer.pilot
    rows = viewer.participant_rows(Participant.objects.filter(pilot=pilot))
    if rows is None:
        return None
    grouped = {
        r["acuity_band"]: r
        for r in rows.values("acuity_band")
        .annotate(
            accepted=Count("pk", filter=Q(status__in=ACCEPTED)),
            decided=Count("pk", filter=Q(status__in=(*ACCEPTED, Participant.REJECTED))),
        )
        .order_by()
    }
    rb = pilot.rulebook
    equity = rb.equity.minimum_acceptance_rates if rb.equity else ()
    floors = {f.cohort: f.minimum_rate for f in equity}
    labels = [(b.code, b.label) for b in rb.acuity.bands] if rb.acuity else []
    if "" in grouped:
        labels.append(("", "no band recorded"))
    # The participants list for those who may read participants (it has no band filter);
    # the equity page's acceptance by band for the pilot office that may not.
    records = viewer.link("participant.view", "participants:list") or viewer.link(
        "equity.view", "governance:equity"
    )
    bands = []
    for code, label in labels:
        counts = grouped.get(code, {"accepted": 0, "decided": 0})
        bands.append(
            {
                "band": code,
                "label": label,
                "accepted": counts["accepted"],
                "decided": counts["decided"],
                "rate": _rate(counts["accepted"], counts["decided"]),
                "floor": str(floors[code]) if code in floors else None,
                "url": records,
            }
        )
    return {
        "title": f"Acceptance by acuity band — {viewer.whom()}",
        "whom": viewer.whom(),
        "method": (
            "Eligible referrals with a final activation decision (C2), to date: accepted"
            " (activated, including those later removed from the roster) ÷ decided"
            " (accepted or rejected), by the acuity band of the screening assessment."
            " The rulebook's minimum acceptance rate is shown where it names a band."
        ),
        "bands": bands,
    }


def dashboard(
    pilot: Pilot, *, user: Any, now: datetime, until: date | None = None
) -> dict[str, Any]:
    """The panels `user` may see, JSON-ready (rates and money as decimal strings).
    Refused when `until` is not a begun month of the pilot period."""
    policy.require(user, "dashboard.view", pilot)
    viewer = Viewer(user, pilot)
    months = months_until(pilot, until, now)
    found = {
        ATTAINMENT: attainment(viewer, months),
        TURNAROUND: turnaround(viewer, months),
        SPEND: spend(viewer, months),
        ACCEPTANCE: acceptance(viewer),
    }
    return {
        "pilot": pilot.slug,
        "months": [f"{m:%Y-%m}" for m in months],
        "panels": {name: panel for name, panel in found.items() if panel is not None},
    }
