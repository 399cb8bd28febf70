"""`fundpilot settle`, `fundpilot settle-review` and `fundpilot methodology …` (C16)."""

from typing import Annotated, Any

import typer

from fundpilot.cli_kit import (
    ByOpt,
    JsonOpt,
    PilotOpt,
    emit,
    fail,
    out,
    pilot_named,
    refused,
    require,
    setup_django,
    user_named,
)
from fundpilot.money.commands.common import MonthOpt
from fundpilot.rules.errors import Refused

methodology_app = typer.Typer(
    no_args_is_help=True, help="Methodology questions counted in the settlement file (C16)."
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.command("settle")(settle)
    app.command("settle-review")(settle_review)
    app.add_typer(methodology_app, name="methodology")


def _document(s: Any) -> dict[str, Any]:
    from fundpilot.governance.actions.settlement import reviews_missing
    from fundpilot.governance.settlement import due_on

    return {
        "pilot": s.pilot.slug,
        "month": f"{s.month:%Y-%m}",
        "status": s.status,
        "due": str(due_on(s.pilot, s.month)),
        "cutoff": s.cutoff.isoformat(),
        "figures_sha256": s.figures_sha256,
        "reconciliation_note": s.reconciliation_note,
        "figures": s.figures,
        "reviews": [
            {"role": r.role, "by": r.reviewed_by.username, "note": r.note}
            for r in s.reviews.select_related("reviewed_by").order_by("pk")
        ],
        "reviews_missing": [r.value for r in reviews_missing(s)],
    }


def settle(
    pilot: PilotOpt,
    month: MonthOpt,
    by: ByOpt,
    reconciliation: Annotated[
        str | None,
        typer.Option(
            "--reconciliation",
            help="Document the reconciliation between milestone reporting and the"
            " reassessment integrity log.",
        ),
    ] = None,
    finalise: Annotated[
        bool, typer.Option("--finalise", help="Finalise the file once it is validated.")
    ] = False,
    show: Annotated[
        bool, typer.Option("--show", help="Show the stored file; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Prepare (or refresh the draft of) an ended month's settlement file; with
    --reconciliation document the reconciliation between milestone reporting and the
    reassessment integrity log, with --finalise finalise it once validated. A finalised
    month is not prepared again (its later changes show in the next month's
    adjustments): read it with --show."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance.actions import settlement as actions
    from fundpilot.governance.models import Settlement
    from fundpilot.money.ledger import parse_month

    target, user = pilot_named(pilot), user_named(by)
    try:
        first = parse_month(month)
        if show:
            require(user, "settlement.view", target)
            found = Settlement.objects.filter(pilot=target, month=first).first()
            if found is None:
                fail(f"no settlement file for {month}")
        else:
            require(user, "settlement.prepare", target)
            found = actions.prepare_settlement(
                pilot=target, month=first, by=user, at=timezone.now()
            )
            if reconciliation is not None:
                found = actions.document_reconciliation(
                    settlement=found, note=reconciliation, by=user, at=timezone.now()
                )
            if finalise:
                found = actions.finalise_settlement(settlement=found, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    document = _document(found)
    if as_json:
        emit(document)
        return
    _print(document)


def _print(d: dict[str, Any]) -> None:
    f = d["figures"]
    a, r, t = f["attainment"], f["reassessment"], f["payment_trigger"]
    lines = [
        f"settlement {d['month']} (pilot month {f['pilot_month']}): {d['status']},"
        f" due {d['due']}, cut-off {d['cutoff']}",
        f"activated (locked roster): {f['activated']}",
        f"milestone attainment: {a['numerator']}/{a['denominator']} = {a['rate'] or '—'}%"
        f" (minimum {a['minimum_rate']}%)",
        f"reassessment completion: {r['completed']}/{r['due']} = {r['rate'] or '—'}%"
        f" (within {r['window_days']} days)",
        f"payment trigger: {'met' if t['met'] else 'not met'} — {'; '.join(t['reasons'])}",
        f"unresolved methodology questions: {f['unresolved_questions']}",
        f"milestone amount: {f['milestone_amount']}",
        f"reconciliation: {d['reconciliation_note'] or '(not documented)'}",
        f"figures sha256: {d['figures_sha256']}",
    ]
    for adj in f["adjustments"]:
        for x in adj["differences"]:
            lines.append(f"adjustment {adj['month']} {x['figure']}: {x['stored']} → {x['now']}")
    for rv in d["reviews"]:
        lines.append(f"review ({rv['role']}) by {rv['by']}: {rv['note']}")
    if d["status"] == "finalised" and d["reviews_missing"]:
        lines.append(f"reviews still to record: {', '.join(d['reviews_missing'])}")
    for line in lines:
        out.print(line, highlight=False)


def settle_review(
    pilot: PilotOpt,
    month: MonthOpt,
    by: ByOpt,
    note: Annotated[str, typer.Option("--note", help="What your review found.")],
    role: Annotated[
        str | None,
        typer.Option(
            "--role", help="finance, compliance or executive_sponsor (if you hold several)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record your review of a finalised settlement file (finance, compliance, executive
    sponsor: one each)."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance.actions.settlement import review_settlement
    from fundpilot.governance.models import Settlement
    from fundpilot.money.ledger import parse_month

    target, user = pilot_named(pilot), user_named(by)
    require(user, "settlement.review", target)
    try:
        found = Settlement.objects.filter(pilot=target, month=parse_month(month)).first()
        if found is None:
            fail(f"no settlement file for {month}")
        made = review_settlement(settlement=found, note=note, role=role, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    if as_json:
        emit({"pilot": pilot, "month": month, "role": made.role, "by": user.username})
        return
    out.print(f"{made.role} review of {month} recorded", highlight=False)


def _question(q: Any) -> dict[str, Any]:
    return {
        "id": q.pk,
        "milestone": q.milestone,
        "question": q.question,
        "raised_by": q.raised_by.username,
        "answer": q.answer,
        "resolved_by": q.resolved_by.username if q.resolved_by else None,
    }


@methodology_app.command("list")
def methodology_list(pilot: PilotOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Every methodology question, open ones first."""
    setup_django()
    from fundpilot.governance.models import MethodologyQuestion

    target, user = pilot_named(pilot), user_named(by)
    require(user, "methodology.raise", target)
    rows = MethodologyQuestion.objects.filter(pilot=target).select_related(
        "raised_by", "resolved_by"
    )
    found = [_question(q) for q in sorted(rows, key=lambda q: (bool(q.answer), q.pk))]
    if as_json:
        emit(found)
        return
    for q in found:
        state = f"answered by {q['resolved_by']}: {q['answer']}" if q["answer"] else "open"
        out.print(f"{q['id']} [{q['milestone'] or '—'}] {q['question']} — {state}", highlight=False)


@methodology_app.command("raise")
def methodology_raise(
    pilot: PilotOpt,
    by: ByOpt,
    question: Annotated[str, typer.Option("--question", help="The question.")],
    milestone: Annotated[str, typer.Option("--milestone", help="Its milestone code.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Raise a methodology question (counted in the settlement file until resolved)."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance.actions.settlement import raise_methodology_question

    target, user = pilot_named(pilot), user_named(by)
    try:
        made = raise_methodology_question(
            pilot=target, question=question, milestone=milestone, by=user, at=timezone.now()
        )
    except Refused as exc:
        refused(exc)
    if as_json:
        emit(_question(made))
        return
    out.print(f"methodology question {made.pk} raised", highlight=False)


@methodology_app.command("resolve")
def methodology_resolve(
    pilot: PilotOpt,
    by: ByOpt,
    question_id: Annotated[int, typer.Option("--id", help="The question's number.")],
    answer: Annotated[str, typer.Option("--answer", help="The answer.")],
    as_json: JsonOpt = False,
) -> None:
    """Resolve a methodology question (compliance; not the person who raised it)."""
    setup_django()
    from django.utils import timezone

    from fundpilot.governance.actions.settlement import resolve_methodology_question
    from fundpilot.governance.models import MethodologyQuestion

    target, user = pilot_named(pilot), user_named(by)
    found = MethodologyQuestion.objects.filter(pilot=target, pk=question_id).first()
    if found is None:
        fail(f"no methodology question {question_id} in {pilot}")
    try:
        done = resolve_methodology_question(
            question=found, answer=answer, by=user, at=timezone.now()
        )
    except Refused as exc:
        refused(exc)
    if as_json:
        emit(_question(done))
        return
    out.print(f"methodology question {done.pk} resolved", highlight=False)
