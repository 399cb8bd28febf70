"""Pages. Thin: ask the policy, call one query or action, render."""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.audit import log
from fundpilot.participants import queries as participant_queries
from fundpilot.pilots import actions, policy, queries
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot, RulebookProposal
from fundpilot.rules.errors import NotPermitted, Refused

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
        "proposals": queries.proposals(pilot, RulebookProposal.OPEN),
        "may_propose": policy.allowed(request.user, "rulebook.propose", pilot),
    }
    return render(request, "web/rulebook.html", context)


class ProposeForm(forms.Form):
    document = forms.CharField(
        label="Amended rulebook (TOML)",
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "spellcheck": "false"}),
        strip=False,
        help_text="Starts as the version in force: edit it, or paste the amended file.",
    )
    reason = forms.CharField(label="Why (e.g. the board minute)", max_length=500)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(d, d) for d in ("approve", "reject", "withdraw")])
    reason = forms.CharField(required=False, max_length=500)


def _proposal_url(pilot: Pilot, proposal: RulebookProposal) -> str:
    return reverse("rulebook-proposal", kwargs={"pilot": pilot.slug, "proposal_id": proposal.pk})


@require_http_methods(["GET", "POST"])
@page("rulebook.propose")
def rulebook_propose(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """An administrator proposes an amendment; it waits for a second person."""
    form = ProposeForm(request.POST or None, initial={"document": pilot.current.document})
    if request.method == "POST" and form.is_valid():
        try:
            proposal = actions.propose_rulebook(
                pilot=pilot, by=request.user, at=timezone.now(), **form.cleaned_data
            )
        except Refused as exc:
            field = exc.field if exc.field in form.fields else "document"
            form.add_error(field, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, f"Proposal {proposal.pk} waits for a second person.")
            return redirect(_proposal_url(pilot, proposal))
    context = pilot_context(request, pilot, "rulebook") | {"form": form}
    status = 422 if form.errors else 200
    return render(request, "web/rulebook_propose.html", context, status=status)


# Which permission each decision on a proposal needs, and its action.
DECISIONS = {
    "approve": ("rulebook.approve", actions.approve_rulebook),
    "reject": ("rulebook.approve", actions.reject_rulebook),
    "withdraw": ("rulebook.propose", actions.withdraw_rulebook),
}


@require_http_methods(["GET", "POST"])
@page("rulebook.view")
def rulebook_proposal(request: HttpRequest, pilot: Pilot, proposal_id: int) -> HttpResponse:
    """One proposal with its diff, rule by rule and line by line; the second person
    approves or rejects it here, the proposer may withdraw it."""
    proposal = queries.proposals(pilot).filter(pk=proposal_id).first()
    if proposal is None:
        raise Http404(f"no rulebook proposal {proposal_id}")
    error = None
    if request.method == "POST":
        form = DecisionForm(request.POST)
        if not form.is_valid():
            error = Refused("invalid_decision", "choose approve, reject or withdraw", "decision")
        else:
            decision = form.cleaned_data["decision"]
            perm, act = DECISIONS[decision]
            policy.require(request.user, perm, pilot)
            extra = {} if decision == "approve" else {"reason": form.cleaned_data["reason"]}
            try:
                act(proposal=proposal, by=request.user, at=timezone.now(), **extra)
            except NotPermitted:
                raise
            except Refused as exc:
                error = exc
            else:
                messages.success(request, f"Proposal {proposal.pk}: {decision} recorded.")
                return redirect(_proposal_url(pilot, proposal))
    user = request.user
    own = proposal.proposed_by_id == user.pk
    is_open = proposal.status == RulebookProposal.OPEN
    context = pilot_context(request, pilot, "rulebook") | {
        "proposal": proposal,
        "text_diff": queries.document_diff(proposal),
        "current": pilot.current,
        "may_decide": is_open and not own and policy.allowed(user, "rulebook.approve", pilot),
        "may_withdraw": is_open and own and policy.allowed(user, "rulebook.propose", pilot),
        "error": error,
    }
    status = 422 if error else 200
    return render(request, "web/rulebook_proposal.html", context, status=status)


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
