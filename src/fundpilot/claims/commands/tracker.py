"""`fundpilot evidence add`, `fundpilot milestones` and `fundpilot claim
draft|ready|submit|show`: C7 evidence and tracker, claims and the C8 readiness review.

Exit 2 when refused (the code and reason on stderr); `--json` prints one document.
"""

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fundpilot.cli_kit import (
    ByOpt,
    JsonOpt,
    PilotOpt,
    emit,
    fail,
    out,
    pilot_named,
    refused,
    setup_django,
    user_named,
)
from fundpilot.rules.errors import Refused

evidence_app = typer.Typer(no_args_is_help=True, help="Evidence documents (C7).")
claim_app = typer.Typer(no_args_is_help=True, help="Participant milestone claims (C7, C8).")
ParticipantOpt = Annotated[str, typer.Option("--participant", help="The participant ID.")]
Reference = Annotated[str, typer.Argument(help="The claim's reference, e.g. P-0001/M1/1.")]


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.add_typer(evidence_app, name="evidence")
    app.command()(milestones)
    app.add_typer(claim_app, name="claim")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r}: write the date as YYYY-MM-DD")


def _participant(pilot: Any, participant_id: str, user: Any, perm: str) -> Any:
    """The participant, if `user` may `perm` on them (exit 2 otherwise)."""
    from django.http import Http404

    from fundpilot.claims.views.tracker import visible_participant

    try:
        return visible_participant(user, pilot, participant_id, perm)
    except Http404:
        fail(f"no participant '{participant_id}' in {pilot.slug}")
    except Refused as exc:
        refused(exc)


def _claim(pilot: Any, reference: str, user: Any, perm: str) -> Any:
    from django.http import Http404

    from fundpilot.claims.views.tracker import visible_claim
    from fundpilot.pilots import policy

    try:
        policy.require(user, perm, pilot)
        return visible_claim(user, pilot, reference, perm)
    except Http404:
        fail(f"no claim '{reference}' in {pilot.slug}")
    except Refused as exc:
        refused(exc)


def _json(schema: Any, obj: Any) -> Any:
    return schema.from_orm(obj).model_dump(mode="json")


# --- evidence ------------------------------------------------------------------------


@evidence_app.command("add")
def evidence_add(
    file: Annotated[Path, typer.Argument(help="The document to upload.")],
    pilot: PilotOpt,
    kind: Annotated[str, typer.Option("--kind", help="An evidence kind of the rulebook.")],
    document_date: Annotated[str, typer.Option("--date", help="The document's date.")],
    by: ByOpt,
    participant: Annotated[
        str | None,
        typer.Option("--participant", help="The participant ID; leave out for contract scope."),
    ] = None,
    note: Annotated[str, typer.Option(help="A note on the document.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Upload a piece of evidence (C7): stored under its SHA-256; the same content on
    another participant is flagged as reused."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims import evidence as files
    from fundpilot.claims.actions.evidence import upload_evidence
    from fundpilot.claims.api.tracker import EvidenceOut

    target, user = pilot_named(pilot), user_named(by)
    day = _day(document_date, "--date")
    try:
        with file.open("rb") as handle:
            content = handle.read(files.max_bytes() + 1)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    who = _participant(target, participant, user, "evidence.upload") if participant else None
    try:
        evidence = upload_evidence(
            pilot=target,
            participant=who,
            kind=kind,
            filename=file.name,
            content=content,
            document_date=day,
            note=note,
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    if as_json:
        emit(_json(EvidenceOut, evidence))
        return
    flag = " [red]REUSED: the same file is attached to another participant[/red]"
    out.print(
        f"evidence #{evidence.pk} {evidence.kind} {evidence.filename} ({evidence.media_type},"
        f" {evidence.size} bytes) sha256 {evidence.sha256}" + (flag if evidence.reused else ""),
        highlight=False,
    )


# --- tracker -------------------------------------------------------------------------


def milestones(
    pilot: PilotOpt, participant: ParticipantOpt, by: ByOpt, as_json: JsonOpt = False
) -> None:
    """A participant's milestone tracker (C7): status, window, prerequisites, and for
    the next milestones the evidence still missing."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims import tracker
    from fundpilot.claims.api.tracker import TrackerRowOut
    from fundpilot.pilots import policy

    target, user = pilot_named(pilot), user_named(by)
    try:
        policy.require(user, "claim.view", target)
    except Refused as exc:
        refused(exc)
    who = _participant(target, participant, user, "claim.view")
    rows = tracker.milestone_tracker(who, today=target.calendar.local_date(timezone.now()))
    if as_json:
        emit({"participant": participant, "milestones": [_json(TrackerRowOut, r) for r in rows]})
        return
    table = Table(title=f"Milestones of {participant}")
    for column in ("milestone", "status", "window ends", "after", "still missing", "claim"):
        table.add_column(column)
    for r in rows:
        status = r.status_label + (f" (attempt {r.attempt})" if r.attempt > 1 else "")
        status += " · next" if r.is_next else ""
        window = f"{r.window_end}{' (passed)' if r.window_closed else ''}" if r.window_end else "—"
        after = ", ".join(
            f"{p.code}{'' if p.reached else ' (not reached)'}" for p in r.prerequisites
        )
        missing = "—" if r.status == tracker.REACHED else r.missing_text or "complete"
        claim = f"{r.claim.reference} {r.claim.status}" if r.claim else "—"
        table.add_row(f"{r.code} {r.name}", status, window, after or "—", missing, claim)
    out.print(table)


# --- claims --------------------------------------------------------------------------


def _show(claim: Any, as_json: bool) -> None:
    from fundpilot.claims.api.tracker import ClaimDetailOut

    document = _json(ClaimDetailOut, claim)
    if as_json:
        emit(document)
        return
    lines = [
        f"claim {claim.reference}: {claim.status} ({claim.tier} tier, amount {claim.amount})",
        f"  reached on {claim.reached_on}, attempt {claim.attempt}"
        + (f", variant {claim.variant}" if claim.variant else ""),
    ]
    for e in document["evidence"]:
        reused = " REUSED" if e["reused"] else ""
        lines.append(f"  evidence {e['linked_as']}: {e['filename']} sha256 {e['sha256']}{reused}")
    if document["missing_text"]:
        lines.append(f"  still missing: {document['missing_text']}")
    if claim.verification_due:
        lines.append(f"  verification due {claim.verification_due}")
    if claim.basis_key:
        lines.append(f"  payable {claim.payable_amount}, basis {claim.basis_key}")
        lines += [f"    {p['payer']} {p['use']} {p['amount']}" for p in claim.payer_split]
    out.print("\n".join(lines), highlight=False)


@claim_app.command("draft")
def claim_draft(
    pilot: PilotOpt,
    participant: ParticipantOpt,
    milestone: Annotated[str, typer.Option("--milestone", help="The milestone's code.")],
    reached: Annotated[str, typer.Option("--reached", help="The day it was reached.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Draft a milestone claim; the participant's qualifying evidence is linked."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.claims import draft_claim

    target, user = pilot_named(pilot), user_named(by)
    who = _participant(target, participant, user, "claim.draft")
    try:
        claim = draft_claim(
            participant=who,
            milestone=milestone,
            reached_on=_day(reached, "--reached"),
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    _show(claim, as_json)


@claim_app.command("ready")
def claim_ready(
    reference: Reference,
    pilot: PilotOpt,
    by: ByOpt,
    note: Annotated[str, typer.Option(help="What the review found.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """C8 readiness review (a supervisor who did not draft it): every required piece of
    evidence is present, or the refusal names what is missing."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.claims import review_readiness

    target, user = pilot_named(pilot), user_named(by)
    claim = _claim(target, reference, user, "claim.readiness")
    try:
        review_readiness(claim=claim, note=note, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    claim.refresh_from_db()
    _show(claim, as_json)


@claim_app.command("submit")
def claim_submit(
    reference: Reference, pilot: PilotOpt, by: ByOpt, as_json: JsonOpt = False
) -> None:
    """Submit a ready claim: sampled tier payable at once, independent tier to verification."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.claims import submit_claim

    target, user = pilot_named(pilot), user_named(by)
    claim = _claim(target, reference, user, "claim.submit")
    try:
        claim = submit_claim(claim=claim, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    _show(claim, as_json)


@claim_app.command("show")
def claim_show(reference: Reference, pilot: PilotOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """One claim: evidence with hash and reuse flag, readiness, status, payable amount."""
    setup_django()
    target, user = pilot_named(pilot), user_named(by)
    _show(_claim(target, reference, user, "claim.view"), as_json)
