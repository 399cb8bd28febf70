"""The monthly verification report (C9 "rejection themes are reported to providers
monthly"): per pilot and provider, the independent-tier claims submitted, the
verification decisions made (verified, rejected, partially verified), time from
submission to decision in the pilot's business days (median and worst), breaches of
the verification deadline, rejection reasons ranked, and the month's post-payment
sample with its audit results and appraisal.

Set-based: the database groups each figure by provider (decisions by provider,
outcome, local submission day, local decision day and lateness: a histogram a few
rows long), so nothing here loads the month's claims one by one. Business days
between two days need the pilot calendar, so they are counted per distinct pair of
days. Only first decisions count: a dispute's superseding verification is C11's.
"""

import csv
import io
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from fundpilot.claims.models import Appraisal, Claim, Sample, SampleAudit, SampleItem, Verification
from fundpilot.participants.queries import month_bounds
from fundpilot.participants.queues import start_of
from fundpilot.pilots import policy
from fundpilot.pilots.models import Organisation, Pilot
from fundpilot.rules.vocabulary import OrgKind

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class ProviderRow:
    """One provider's month (provider_id None: every provider the viewer may see).

    Days to decision are business days from the local day of submission to the local
    day of the decision (None when nothing was decided). Breaches: decisions made
    after their due date, plus claims still undecided and past due at the month's end
    (as of `today` for the month in progress)."""

    provider_id: int | None
    provider: str
    submitted: int
    verified: int
    rejected: int
    partially_verified: int
    median_days_to_decision: Decimal | None
    worst_days_to_decision: int | None
    late_decisions: int
    worst_late_days: int
    open_overdue: int

    @property
    def decided(self) -> int:
        return self.verified + self.rejected + self.partially_verified

    @property
    def breaches(self) -> int:
        return self.late_decisions + self.open_overdue


@dataclass(frozen=True)
class ReasonRow:
    """A rejection reason's rank and count among the month's rejections and partial
    verifications (provider_id None: all providers the viewer may see)."""

    rank: int
    provider_id: int | None
    provider: str
    code: str
    label: str
    count: int


@dataclass(frozen=True)
class SampleRow:
    """Audit results of the sampled claims of one provider (None: all)."""

    provider_id: int | None
    provider: str
    sampled: int
    audited: int
    failed: int  # supported less than paid
    paid: Decimal
    supported: Decimal

    @property
    def overpayment(self) -> Decimal:
        return self.paid - self.supported


@dataclass(frozen=True)
class SampleSummary:
    period: str
    seed: int
    design: str
    universe_size: int
    universe_amount: Decimal
    rows: list[SampleRow]
    appraisal: Appraisal | None  # the latest; None until appraised or when not shown
    appraisal_hidden: bool = False  # pilot-wide: shown to those who see every provider


@dataclass(frozen=True)
class VerificationReport:
    pilot: Pilot
    month: str
    own_only: bool  # provider staff: their own organisation's rows only
    rows: list[ProviderRow]  # the total first, then each provider by name
    reasons: list[ReasonRow]  # the total's ranking first, then each provider's
    sample: SampleSummary | None  # None: no sample drawn for the month


def _median(histogram: list[tuple[int, int]]) -> Decimal | None:
    """The median of (value, how many) pairs; None for none."""
    pairs = sorted(histogram)
    size = sum(n for _, n in pairs)
    if size == 0:
        return None
    middle = sorted({(size - 1) // 2, size // 2})
    picked: list[int] = []
    seen = 0
    for value, n in pairs:
        picked += [value for index in middle if seen <= index < seen + n]
        seen += n
    return Decimal(sum(picked)) / len(picked)


def _own_only(user: Any, pilot: Pilot) -> bool:
    return (
        not policy.sees_every_provider(user, pilot)
        and getattr(getattr(user, "organisation", None), "kind", None) == OrgKind.PROVIDER
    )


def verification_report(
    pilot: Pilot, *, month: str, user: Any, today: date | None = None
) -> VerificationReport:
    """The verification report of `month` ("YYYY-MM", pilot time) as `user` may see it.

    Refused when the user may not `verification.report` (NotPermitted) or the month is
    not YYYY-MM (invalid_month). Provider staff see their own organisation's rows."""
    policy.require(user, "verification.report", pilot)
    first, following = month_bounds(month)
    today = today or pilot.calendar.local_date(timezone.now())
    start, end = start_of(pilot, first), start_of(pilot, following)
    cut = min(following, max(today, first))
    own_only = _own_only(user, pilot)

    def scoped(rows: QuerySet[Any], provider: str) -> QuerySet[Any]:
        return rows.filter(**{provider: user.organisation_id}) if own_only else rows

    independent = Claim.objects.filter(pilot=pilot, tier="independent")
    submitted = dict(
        scoped(independent, "provider")
        .filter(submitted_at__gte=start, submitted_at__lt=end)
        .values_list("provider")
        .annotate(n=Count("pk"))
        .order_by()
    )
    decided_before_end = Verification.objects.filter(claim=OuterRef("pk"), decided_at__lt=end)
    still_open = dict(
        scoped(independent, "provider")
        .filter(submitted_at__lt=end, verification_due__lt=cut)
        .exclude(Exists(decided_before_end))
        .values_list("provider")
        .annotate(n=Count("pk"))
        .order_by()
    )
    decisions = scoped(
        Verification.objects.filter(
            claim__pilot=pilot, supersedes__isnull=True, decided_at__gte=start, decided_at__lt=end
        ),
        "claim__provider",
    )
    zone = ZoneInfo(pilot.rulebook.pilot.timezone)
    grouped = (
        decisions.annotate(
            provider=F("claim__provider"),
            sent=TruncDate("claim__submitted_at", tzinfo=zone),
            made=TruncDate("decided_at", tzinfo=zone),
        )
        .values("provider", "outcome", "sent", "made", "late_days")
        .annotate(n=Count("pk"))
        .order_by()
    )
    calendar = pilot.calendar
    outcomes: dict[int, Counter[str]] = defaultdict(Counter)
    days: dict[int, list[tuple[int, int]]] = defaultdict(list)
    late: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for row in grouped:
        provider = row["provider"]
        outcomes[provider][row["outcome"]] += row["n"]
        if row["sent"] is not None:
            days[provider].append(
                (calendar.business_days_between(row["sent"], row["made"]), row["n"])
            )
        if row["late_days"] > 0:
            late[provider].append((row["late_days"], row["n"]))

    reason_groups = list(
        decisions.exclude(outcome=Verification.VERIFIED)
        .values("claim__provider", "reason_codes")
        .annotate(n=Count("pk"))
        .order_by()
    )
    sample = _sample(pilot, month, scoped, own_only)
    providers = set(submitted) | set(still_open) | set(outcomes)
    providers |= {g["claim__provider"] for g in reason_groups}
    if sample is not None:
        providers |= {r.provider_id for r in sample.rows if r.provider_id is not None}
    names = dict(Organisation.objects.filter(pk__in=providers).values_list("pk", "name"))
    order = sorted(providers, key=lambda pk: (names[pk], pk))
    everyone = "Your organisation" if own_only else "All providers"

    def row(pid: int | None, name: str, keys: list[int]) -> ProviderRow:
        counts: Counter[str] = sum((outcomes[k] for k in keys), Counter())
        spans = [pair for k in keys for pair in days[k]]
        lates = [pair for k in keys for pair in late[k]]
        return ProviderRow(
            provider_id=pid,
            provider=name,
            submitted=sum(submitted.get(k, 0) for k in keys),
            verified=counts[Verification.VERIFIED],
            rejected=counts[Verification.REJECTED],
            partially_verified=counts[Verification.PARTIAL],
            median_days_to_decision=_median(spans),
            worst_days_to_decision=max((d for d, _ in spans), default=None),
            late_decisions=sum(n for _, n in lates),
            worst_late_days=max((d for d, _ in lates), default=0),
            open_overdue=sum(still_open.get(k, 0) for k in keys),
        )

    rows = [row(None, everyone, order)] + [row(pk, names[pk], [pk]) for pk in order]
    labels = {c.code: c.label for c in pilot.rulebook.codes.verification_rejection_reasons}
    return VerificationReport(
        pilot=pilot,
        month=month,
        own_only=own_only,
        rows=rows,
        reasons=_ranked(reason_groups, names, order, everyone, labels),
        sample=sample,
    )


def _ranked(
    groups: list[dict[str, Any]],
    names: dict[int, str],
    order: list[int],
    everyone: str,
    labels: dict[str, str],
) -> list[ReasonRow]:
    """Reasons by how often they were given, most first (ties by code)."""
    per: dict[int, Counter[str]] = defaultdict(Counter)
    for group in groups:
        for code in group["reason_codes"] or []:
            per[group["claim__provider"]][code] += group["n"]
    found: list[ReasonRow] = []
    every: Counter[str] = sum(per.values(), Counter())
    for pid, name, counts in [(None, everyone, every)] + [(pk, names[pk], per[pk]) for pk in order]:
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        found += [
            ReasonRow(rank, pid, name, code, labels.get(code, code), n)
            for rank, (code, n) in enumerate(ranked, start=1)
        ]
    return found


def _sample(pilot: Pilot, month: str, scoped: Any, own_only: bool) -> SampleSummary | None:
    """The month's sample: per provider, claims sampled and their current audits
    (an audit a dispute superseded no longer counts)."""
    sample = Sample.objects.filter(pilot=pilot, period=month).first()
    if sample is None:
        return None
    items = scoped(SampleItem.objects.filter(sample=sample), "claim__provider")
    sampled = dict(items.values_list("claim__provider").annotate(n=Count("pk")).order_by())
    audits = (
        scoped(
            SampleAudit.objects.filter(item__sample=sample, superseded_by__isnull=True),
            "item__claim__provider",
        )
        .values("item__claim__provider")
        .annotate(
            n=Count("pk"),
            failed=Count("pk", filter=Q(supported_amount__lt=F("paid_amount"))),
            paid=Sum("paid_amount"),
            supported=Sum("supported_amount"),
        )
        .order_by()
    )
    audited = {a["item__claim__provider"]: a for a in audits}
    names = dict(
        Organisation.objects.filter(pk__in=set(sampled) | set(audited)).values_list("pk", "name")
    )
    order = sorted(names, key=lambda pk: (names[pk], pk))

    def row(pid: int | None, name: str, keys: list[int]) -> SampleRow:
        done = [audited[k] for k in keys if k in audited]
        return SampleRow(
            provider_id=pid,
            provider=name,
            sampled=sum(sampled.get(k, 0) for k in keys),
            audited=sum(a["n"] for a in done),
            failed=sum(a["failed"] for a in done),
            paid=sum((a["paid"] for a in done), ZERO),
            supported=sum((a["supported"] for a in done), ZERO),
        )

    everyone = "Your organisation" if own_only else "All providers"
    appraisal = None
    if not own_only:
        appraisal = sample.appraisals.order_by("-decided_at", "-pk").first()
    return SampleSummary(
        period=sample.period,
        seed=sample.seed,
        design=sample.design,
        universe_size=sample.universe_size,
        universe_amount=sample.universe_amount,
        rows=[row(None, everyone, order)] + [row(pk, names[pk], [pk]) for pk in order],
        appraisal=appraisal,
        appraisal_hidden=own_only,
    )


# --- renderings -----------------------------------------------------------------------

PROVIDER_COLUMNS = (
    "provider",
    "submitted",
    "verified",
    "rejected",
    "partially_verified",
    "median_days_to_decision",
    "worst_days_to_decision",
    "late_decisions",
    "worst_late_days",
    "open_overdue",
    "breaches",
)
APPRAISAL_FIELDS = (
    "point_estimate",
    "standard_error",
    "lower",
    "upper",
    "confidence",
    "sided",
    "distribution",
    "degrees_of_freedom",
    "critical_value",
    "sample_overpayment",
    "recovery",
)


def _provider(row: ProviderRow) -> dict[str, Any]:
    return {c: getattr(row, c) for c in PROVIDER_COLUMNS} | {"provider_id": row.provider_id}


def as_document(report: VerificationReport) -> dict[str, Any]:
    """The report as plain data (money and medians as decimal strings in JSON)."""
    sample: dict[str, Any] | None = None
    if report.sample is not None:
        s = report.sample
        appraisal = s.appraisal
        sample = {
            "period": s.period,
            "seed": s.seed,
            "design": s.design,
            "universe_size": s.universe_size,
            "universe_amount": s.universe_amount,
            "rows": [asdict(r) | {"overpayment": r.overpayment} for r in s.rows],
            "appraisal": (
                {f: getattr(appraisal, f) for f in APPRAISAL_FIELDS} if appraisal else None
            ),
            "appraisal_hidden": s.appraisal_hidden,
        }
    return {
        "pilot": report.pilot.slug,
        "month": report.month,
        "own_organisation_only": report.own_only,
        "providers": [_provider(r) for r in report.rows],
        "rejection_reasons": [asdict(r) for r in report.reasons],
        "sample": sample,
    }


def as_csv(report: VerificationReport) -> str:
    """Three tables, each with its own header, separated by a blank line: providers,
    rejection reasons ranked, and the sample's audit results with the appraisal."""
    buffer = io.StringIO()
    write = csv.writer(buffer, lineterminator="\n").writerow
    write(["month", *PROVIDER_COLUMNS])
    for r in report.rows:
        write([report.month, *(_blank(getattr(r, c)) for c in PROVIDER_COLUMNS)])
    write([])
    write(["month", "provider", "rank", "code", "label", "count"])
    for reason in report.reasons:
        write([report.month, reason.provider, reason.rank, reason.code, reason.label, reason.count])
    write([])
    if report.sample is None:
        write(["month", "sample"])
        write([report.month, "no sample drawn"])
        return buffer.getvalue()
    s = report.sample
    write(["month", "provider", "sampled", "audited", "failed", "paid", "supported", "overpayment"])
    for sr in s.rows:
        write(
            [
                report.month,
                sr.provider,
                sr.sampled,
                sr.audited,
                sr.failed,
                sr.paid,
                sr.supported,
                sr.overpayment,
            ]
        )
    write([])
    write(["month", "seed", "design", "universe_size", "universe_amount", *APPRAISAL_FIELDS])
    appraisal = s.appraisal
    figures = [_blank(getattr(appraisal, f)) if appraisal else "" for f in APPRAISAL_FIELDS]
    write([report.month, s.seed, s.design, s.universe_size, s.universe_amount, *figures])
    return buffer.getvalue()


def _blank(value: Any) -> Any:
    return "" if value is None else value
