"""Pages. Thin: ask the policy, call one query or action, render."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from fundpilot.audit import log
from fundpilot.participants import queries as participant_queries
from fundpilot.pilots import policy, queries
from fundpilot.pilots.access import page, pilot_context

# (control, what is due, rulebook field, unit) — the clocks every work queue runs on.
DEADLINES = [
    ("C1", "Eligibility file, after the referral", "eligibility_file", "business days"),
    (
        "C2",
        "Activation decision, after the eligibility file",
        "activation_decision",
        "business days",
    ),
    ("C3", "Service level decision, after the request", "service_level_decision", "business days"),
    ("C4", "Pathway release, after activation", "pathway_release", "business days"),
    ("C6", "Progression review, every", "progression_review_calendar_days", "calendar days"),
    ("C9", "Verification, after submission", "verification", "business days"),
    ("C11", "Dispute resolution, after it is raised", "dispute_resolution", "business days"),
]


@require_GET
@page(policy.AUTHENTICATED)
def home(request: HttpRequest) -> HttpResponse:
    """Each person's home is their work queue: what is overdue, due today and waiting,
    in every pilot they work in; then the pilots themselves."""
    now = timezone.now()
    pilots = []
    for p in policy.visible_pilots(request.user).prefetch_related("versions"):
        queue = None
        if policy.allowed(request.user, "queue.view", p):
            today = p.calendar.local_date(now)
            queue = participant_queries.work_queue(request.user, p, today=today, limit=10)
        pilots.append(
            {
                "pilot": p,
                "roles": sorted(r.label for r in policy.roles_in(request.user, p)),
                "queue": queue,
            }
        )
    busy = [row for row in pilots if row["queue"] is not None and not row["queue"].empty]
    return render(request, "web/home.html", {"pilots": pilots, "busy": busy})


@require_GET
@page("pilot.view")
def pilot_overview(request: HttpRequest, pilot: Any) -> HttpResponse:
    rulebook = pilot.rulebook
    calendar = pilot.calendar
    today = calendar.local_date(timezone.now())
    deadlines = [
        {
            "control": control,
            "what": what,
            "days": days,
            "unit": unit,
            "due": calendar.add_business_days(today, days) if unit == "business days" else None,
        }
        for control, what, field, unit in DEADLINES
        if (days := getattr(rulebook.deadlines, field)) is not None
    ]
    context = pilot_context(request, pilot, "overview") | {
        "rulebook": rulebook,
        "version": pilot.current,
        "parties": queries.parties(pilot),
        "deadlines": deadlines,
        "today": today,
        "audit_size": queries.audit_size(pilot),
    }
    return render(request, "web/pilot_overview.html", context)


@require_GET
@page("rulebook.view")
def rulebook_page(request: HttpRequest, pilot: Any) -> HttpResponse:
    versions = list(queries.versions(pilot))
    wanted = request.GET.get("version", "")
    version = next((v for v in versions if str(v.number) == wanted), versions[0])
    rulebook = version.rulebook
    kinds = {k.code: k.label for k in rulebook.evidence_kinds}
    milestones = [
        {"m": m, "evidence": [(kinds.get(e.kind, e.kind), e.minimum, e.note) for e in m.evidence]}
        for m in rulebook.milestones
    ]
    context = pilot_context(request, pilot, "rulebook") | {
        "version": version,
        "versions": versions,
        "rulebook": rulebook,
        "milestones": milestones,
    }
    return render(request, "web/rulebook.html", context)


@require_GET
@page("rulebook.view")
def rulebook_download(request: HttpRequest, pilot: Any, number: int) -> HttpResponse:
    version = queries.versions(pilot).filter(number=number).first()
    if version is None:
        return render(request, "web/forbidden.html", {"reason": "no such version"}, status=404)
    response = HttpResponse(version.document, content_type="application/toml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{pilot.slug}-v{number}.toml"'
    return response


@require_GET
@page("audit.view")
def audit_page(request: HttpRequest, pilot: Any) -> HttpResponse:
    before = request.GET.get("before", "")
    records = list(
        queries.audit_page(pilot, limit=50, before=int(before) if before.isdigit() else None)
    )
    context = pilot_context(request, pilot, "audit") | {
        "records": records,
        "next_before": records[-1].seq if len(records) == 50 else None,
        "size": queries.audit_size(pilot),
    }
    return render(request, "web/audit.html", context)


@require_GET
@page("audit.verify")
def audit_verify(request: HttpRequest, pilot: Any) -> HttpResponse:
    verdict = log.verify(log.pilot_chain(pilot.slug))
    return render(request, "web/audit_verdict.html", {"verdict": verdict, "pilot": pilot})
