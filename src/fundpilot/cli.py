"""The `fundpilot` command.

Results go to stdout (one JSON document with --json); errors go to stderr with exit
code 2 for bad input or a refused action and 1 for a failed verification.
"""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fundpilot.claims.commands import register as register_claims_commands
from fundpilot.cli_kit import (
    ByOpt,
    JsonOpt,
    PilotOpt,
    emit,
    err,
    fail,
    out,
    pilot_named,
    progress,
    read_text,
    refused,
    require,
    setup_django,
    user_named,
)
from fundpilot.governance.commands import register as register_governance_commands
from fundpilot.money.commands import register as register_money_commands
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import RulebookInvalid, load_rulebook
from fundpilot.rules.rulebook_diff import diff_rulebooks

app = typer.Typer(no_args_is_help=True, help="fundpilot: integrated funding pilots, controlled.")
rulebook_app = typer.Typer(no_args_is_help=True, help="Check and compare rulebook files.")
pilot_app = typer.Typer(no_args_is_help=True, help="Create and amend pilots.")
audit_app = typer.Typer(no_args_is_help=True, help="Verify and checkpoint the decision log.")
app.add_typer(rulebook_app, name="rulebook")
app.add_typer(pilot_app, name="pilot")
app.add_typer(audit_app, name="audit")
token_app = typer.Typer(no_args_is_help=True, help="API tokens for machine clients.")
app.add_typer(token_app, name="token")
import_app = typer.Typer(no_args_is_help=True, help="Load payer registers and referral files.")
app.add_typer(import_app, name="import")
register_claims_commands(app)
register_money_commands(app)
register_governance_commands(app)

# --- rulebook -----------------------------------------------------------------------------


@rulebook_app.command("check")
def rulebook_check(files: list[Path], as_json: JsonOpt = False) -> None:
    """Validate rulebook files; every error with its dotted path. Exit 2 on any error."""
    results, bad = [], False
    for path in files:
        try:
            rb = load_rulebook(path)
        except RulebookInvalid as exc:
            bad = True
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "errors": [{"path": e.path, "message": e.message} for e in exc.errors],
                }
            )
            if not as_json:
                for e in exc.errors:
                    err.print(f"{path}: {e}", markup=False, highlight=False)
            continue
        summary = (
            f"{rb.pilot.id} ({rb.pilot.kind}): {len(rb.milestones)} milestones, "
            f"{len(rb.payers)} payers, {len(rb.decision_rights)} decision rights"
        )
        results.append({"file": str(path), "valid": True, "pilot": rb.pilot.id, "summary": summary})
        if not as_json:
            out.print(f"{path}: ok — {summary}", markup=False, highlight=False)
    if as_json:
        emit({"valid": not bad, "files": results})
    if bad:
        raise typer.Exit(2)


@rulebook_app.command("diff")
def rulebook_diff(old: Path, new: Path, as_json: JsonOpt = False) -> None:
    """What changed between two rulebook files, rule by rule."""
    try:
        changes = diff_rulebooks(load_rulebook(old), load_rulebook(new))
    except RulebookInvalid as exc:
        fail("; ".join(str(e) for e in exc.errors))
    if as_json:
        emit({"old": str(old), "new": str(new), "changes": changes})
        return
    for line in changes or ["no changes"]:
        out.print(line, markup=False, highlight=False)


# --- pilots -------------------------------------------------------------------------------


@pilot_app.command("create")
def pilot_create(file: Path, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Create a pilot from its first rulebook (administrators only)."""
    setup_django()
    from django.utils import timezone

    from fundpilot.pilots import actions

    document = read_text(file)
    try:
        pilot = actions.create_pilot(document=document, by=user_named(by), at=timezone.now())
    except Refused as exc:
        refused(exc)
    result = {"pilot": pilot.slug, "name": pilot.name, "rulebook_version": 1}
    emit(result) if as_json else out.print(f"created pilot {pilot.slug}: {pilot.name}")


ProposalArg = Annotated[int, typer.Argument(help="The proposal's number.")]


def _proposal_named(pilot: Any, number: int, user: Any) -> Any:
    """The pilot's proposal, once the user may read its rulebook."""
    require(user, "rulebook.view", pilot)
    found = pilot.proposals.filter(pk=number).first()
    if found is None:
        fail(f"no rulebook proposal {number} in pilot {pilot.slug}")
    return found


def _print_proposal(proposal: Any, as_json: bool, text_diff: bool = False) -> None:
    from fundpilot.pilots import queries

    row = {
        "pilot": proposal.pilot.slug,
        "proposal": proposal.pk,
        "status": proposal.status,
        "base_version": proposal.base.number,
        "stale": proposal.stale,
        "proposed_by": proposal.proposed_by.username,
        "reason": proposal.reason,
        "changes": proposal.changes,
        "rulebook_version": proposal.version.number if proposal.version else None,
    }
    if text_diff:
        row["text_diff"] = queries.document_diff(proposal)
    if as_json:
        emit(row)
        return
    stale = " (stale: its base is no longer in force)" if proposal.stale else ""
    out.print(
        f"{row['pilot']}: proposal {proposal.pk} against version {row['base_version']}, "
        f"{proposal.status}{stale}, by {row['proposed_by']}: {proposal.reason}",
        markup=False,
        highlight=False,
    )
    for line in [*proposal.changes, *row.get("text_diff", [])]:
        out.print(f"  {line}", markup=False, highlight=False)


@pilot_app.command("amend")
def pilot_amend(
    pilot: str,
    file: Path,
    reason: Annotated[str, typer.Option()],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Propose an amended rulebook; it takes effect when a second person approves it."""
    setup_django()
    from django.utils import timezone

    from fundpilot.pilots import actions

    document = read_text(file)
    try:
        proposal = actions.propose_rulebook(
            pilot=pilot_named(pilot),
            document=document,
            reason=reason,
            by=user_named(by),
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    _print_proposal(proposal, as_json)
    if not as_json:
        out.print("it waits for another administrator or the executive sponsor to approve it:")
        command = f"  fundpilot pilot approve {pilot} {proposal.pk} --by USER"
        out.print(command, markup=False, highlight=False, soft_wrap=True)


@pilot_app.command("proposals")
def pilot_proposals(
    pilot: str,
    by: ByOpt,
    status: Annotated[str, typer.Option(help="open, approved, rejected or withdrawn")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Rulebook amendment proposals, newest first."""
    setup_django()
    from fundpilot.pilots import queries

    found = pilot_named(pilot)
    require(user_named(by), "rulebook.view", found)
    rows = list(queries.proposals(found, status or None))
    if as_json:
        emit(
            [
                {
                    "proposal": p.pk,
                    "status": p.status,
                    "base_version": p.base.number,
                    "stale": p.stale,
                    "proposed_by": p.proposed_by.username,
                    "reason": p.reason,
                    "changes": len(p.changes),
                }
                for p in rows
            ]
        )
        return
    table = Table("proposal", "status", "against", "by", "changes", "reason")
    for p in rows:
        state = f"{p.status} (stale)" if p.stale else p.status
        table.add_row(
            str(p.pk),
            state,
            f"v{p.base.number}",
            p.proposed_by.username,
            str(len(p.changes)),
            p.reason,
        )
    out.print(table)


@pilot_app.command("proposal")
def pilot_proposal(pilot: str, proposal: ProposalArg, by: ByOpt, as_json: JsonOpt = False) -> None:
    """One proposal with its diff: rule by rule, then the TOML line by line."""
    setup_django()
    _print_proposal(_proposal_named(pilot_named(pilot), proposal, user_named(by)), as_json, True)


@pilot_app.command("approve")
def pilot_approve(pilot: str, proposal: ProposalArg, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Approve someone else's proposal: it becomes the pilot's next rulebook version."""
    setup_django()
    from django.utils import timezone

    from fundpilot.pilots import actions

    user = user_named(by)
    found = _proposal_named(pilot_named(pilot), proposal, user)
    try:
        done = actions.approve_rulebook(proposal=found, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    _print_proposal(done, as_json)
    if not as_json:
        out.print(f"{pilot}: rulebook version {done.version.number} approved and in force")


@pilot_app.command("reject")
def pilot_reject(
    pilot: str,
    proposal: ProposalArg,
    reason: Annotated[str, typer.Option()],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Reject someone else's proposal, saying why."""
    setup_django()
    from django.utils import timezone

    from fundpilot.pilots import actions

    user = user_named(by)
    found = _proposal_named(pilot_named(pilot), proposal, user)
    try:
        done = actions.reject_rulebook(proposal=found, reason=reason, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    _print_proposal(done, as_json)


@pilot_app.command("withdraw")
def pilot_withdraw(
    pilot: str,
    proposal: ProposalArg,
    by: ByOpt,
    reason: Annotated[str, typer.Option()] = "",
    as_json: JsonOpt = False,
) -> None:
    """Withdraw your own open proposal."""
    setup_django()
    from django.utils import timezone

    from fundpilot.pilots import actions

    user = user_named(by)
    found = _proposal_named(pilot_named(pilot), proposal, user)
    try:
        done = actions.withdraw_rulebook(proposal=found, reason=reason, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    _print_proposal(done, as_json)


@pilot_app.command("list")
def pilot_list(by: ByOpt, as_json: JsonOpt = False) -> None:
    """Pilots the user takes part in."""
    setup_django()
    from fundpilot.pilots import policy

    user = user_named(by)
    rows = [
        {"id": p.slug, "name": p.name, "kind": p.kind, "rulebook_version": p.current.number}
        for p in policy.visible_pilots(user)
    ]
    if as_json:
        emit(rows)
        return
    table = Table("id", "name", "kind", "version")
    for r in rows:
        table.add_row(r["id"], r["name"], r["kind"], str(r["rulebook_version"]))
    out.print(table)


# --- audit --------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    by: ByOpt,
    pilot: Annotated[
        str | None, typer.Option(help="One pilot's chain (default: every chain).")
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="A checkpoint file a payer kept.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the hash chains; with --checkpoint, prove the log only grew since it."""
    setup_django()
    from fundpilot.audit import log
    from fundpilot.rules.signing import checkpoint_from_json

    user = user_named(by)
    if checkpoint is not None:
        try:
            cp = checkpoint_from_json(read_text(checkpoint))
        except ValueError as exc:
            fail(f"{checkpoint}: {exc}")
        chain_pilot = (
            pilot_named(cp.chain.removeprefix("pilot:")) if cp.chain != log.SYSTEM_CHAIN else None
        )
        require(user, "audit.verify" if chain_pilot else "system.audit.view", chain_pilot)
        verdicts = [log.verify_against(cp)]
    else:
        names = [log.pilot_chain(pilot)] if pilot else log.chains()
        for name in names:
            target = None if name == log.SYSTEM_CHAIN else pilot_named(name.removeprefix("pilot:"))
            require(user, "audit.verify" if target else "system.audit.view", target)
        verdicts = [log.verify(name) for name in names]
    ok = all(v.ok for v in verdicts)
    if as_json:
        emit(
            {
                "ok": ok,
                "checked": sum(v.checked for v in verdicts),
                "chains": [v.__dict__ for v in verdicts],
            }
        )
    else:
        for v in verdicts:
            if v.ok:
                out.print(f"{v.chain}: ok, {v.checked} records checked", highlight=False)
            else:
                bad = f"record #{v.first_bad}: " if v.first_bad else ""
                err.print(f"{v.chain}: FAILED at {bad}{v.problem}", markup=False, highlight=False)
    if not ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    by: ByOpt,
    pilot: Annotated[str, typer.Option(help="The pilot whose log is signed.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Where to write it.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign (size, root, time) of the pilot's log with its Ed25519 key; payers keep the file."""
    setup_django()
    from django.utils import timezone

    from fundpilot.audit import log
    from fundpilot.rules.signing import checkpoint_to_json

    target = pilot_named(pilot)
    require(user_named(by), "audit.checkpoint", target)
    try:
        cp = log.checkpoint(log.pilot_chain(target.slug), at=timezone.now())
    except ValueError as exc:
        fail(str(exc), 1)
    path = out_file or Path(f"{target.slug}-checkpoint-{cp.size}.json")
    path.write_text(checkpoint_to_json(cp), encoding="utf-8")
    if as_json:
        emit({"file": str(path), "chain": cp.chain, "size": cp.size, "root": cp.root})
    else:
        out.print(
            f"{cp.chain}: signed checkpoint of {cp.size} records, root {cp.root} → {path}",
            highlight=False,
        )


# --- logins -------------------------------------------------------------------------------


@app.command("unlock")
def unlock(
    username: Annotated[str, typer.Argument(help="Whose sign-in lock to lift.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Lift a sign-in lock left by repeated failed logins (administrators)."""
    setup_django()
    from django.utils import timezone

    from fundpilot.pilots.lockouts import lift_lockout

    try:
        lifted = lift_lockout(username=username, by=user_named(by), at=timezone.now())
    except Refused as exc:
        refused(exc)
    if as_json:
        emit({"username": username, "locks_lifted": lifted})
    else:
        out.print(f"{username}: {lifted} sign-in lock(s) lifted")


# --- tokens -------------------------------------------------------------------------------


@token_app.command("issue")
def token_issue(
    by: ByOpt,
    label: Annotated[str, typer.Option(help="What the token is for.")],
    user: Annotated[
        str | None, typer.Option("--for", help="Whose token (default: yourself).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a bearer token; it is shown once and only its hash is kept."""
    setup_django()
    from django.utils import timezone

    from fundpilot.pilots import actions

    actor = user_named(by)
    try:
        secret = actions.issue_api_token(
            user=user_named(user) if user else actor, label=label, by=actor, at=timezone.now()
        )
    except Refused as exc:
        refused(exc)
    emit({"token": secret, "label": label}) if as_json else out.print(secret, highlight=False)


# --- participants: imports, work queues, breaches, synthetic history ---------------------


def _import(kind: str, file: Path, pilot: str, by: str, as_json: bool, **extra: Any) -> None:
    """Run one import with a progress bar; on refusal print every row problem as
    FILE:LINE: column: reason on stderr and exit 2."""
    setup_django()
    from django.utils import timezone

    from fundpilot.participants import imports

    target, user = pilot_named(pilot), user_named(by)
    try:
        content = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    action = imports.import_eligibility if kind == "eligibility" else imports.import_referrals
    try:
        with progress(f"{kind} {file.name}") as bar:
            task = bar.add_task("rows", total=None)
            result = action(
                pilot=target,
                filename=file.name,
                content=content,
                by=user,
                at=timezone.now(),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                **extra,
            )
    except imports.ImportRefused as exc:
        if as_json:
            problems = [p.__dict__ for p in exc.problems]
            emit({"ok": False, "code": exc.code, "message": exc.message, "problems": problems})
        for problem in exc.problems:
            column = f" {problem.column}:" if problem.column else ""
            line = f"{file}:{problem.line}:{column} {problem.reason}"
            err.print(line, markup=False, highlight=False, soft_wrap=True)
        fail(f"{exc.code}: {exc.message}")
    except Refused as exc:
        refused(exc)
    batch = result.batch
    document = {
        "ok": True,
        "kind": kind,
        "file": str(file),
        "rows": result.rows,
        "already_imported": result.already_imported,
        "sha256": batch.sha256 if batch else None,
    }
    if as_json:
        emit(document)
    elif result.already_imported:
        said = f"{file}: already imported ({result.rows} rows); nothing changed"
        out.print(said, highlight=False, soft_wrap=True)
    else:
        said = f"{file}: imported {result.rows} {kind} rows into {pilot}"
        out.print(said, highlight=False, soft_wrap=True)


@import_app.command("eligibility")
def import_eligibility(
    file: Path,
    pilot: PilotOpt,
    payer: Annotated[str, typer.Option(help="The rulebook's id of the payer who sent it.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Load a payer eligibility register (CSV: member_id,payer,coverage_start,coverage_end,
    status). All rows or none; the same file again changes nothing."""
    _import("eligibility", file, pilot, by, as_json, payer_id=payer)


@import_app.command("referrals")
def import_referrals(file: Path, pilot: PilotOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Load a file of referrals (CSV). All rows or none; the same file again changes nothing."""
    _import("referrals", file, pilot, by, as_json)


@app.command()
def queue(pilot: PilotOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Your work queue in a pilot: overdue, due today, waiting on someone else, upcoming."""
    setup_django()
    from django.utils import timezone

    from fundpilot.participants import queries

    target, user = pilot_named(pilot), user_named(by)
    require(user, "queue.view", target)
    work = queries.work_queue(user, target, today=target.calendar.local_date(timezone.now()))
    buckets = [
        ("overdue", "Overdue", work.overdue),
        ("due_today", "Due today", work.due_today),
        ("waiting", "Waiting on someone else", work.waiting),
        ("upcoming", "Upcoming", work.upcoming),
    ]
    if as_json:
        emit(
            {
                "pilot": pilot,
                "today": work.today,
                "totals": work.totals,
                **{key: [item.__dict__ for item in items] for key, _, items in buckets},
            }
        )
        return
    out.print(f"{pilot}: work queue of {user.username} on {work.today}", highlight=False)
    for key, title, items in buckets:
        shown = f" (first {len(items)})" if work.totals.get(key, 0) > len(items) else ""
        out.print(f"\n{title}: {work.totals.get(key, len(items))}{shown}", highlight=False)
        if not items:
            continue
        table = Table("control", "participant", "what", "due", "late", "who")
        for item in items:
            late = f"{item.late_days} bd" if item.late_days else ""
            due = str(item.due or "")
            table.add_row(item.control, item.participant_id, item.what, due, late, item.who)
        out.print(table)


@app.command()
def breaches(
    pilot: PilotOpt,
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (pilot time).")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Deadline breaches in a month: count, median and worst lateness per control and provider."""
    setup_django()
    from fundpilot.participants import queries

    target, user = pilot_named(pilot), user_named(by)
    try:
        rows = queries.breach_report(target, month=month, user=user)
    except Refused as exc:
        refused(exc)
    if as_json:
        emit({"pilot": pilot, "month": month, "rows": [r.__dict__ for r in rows]})
        return
    table = Table("control", "what", "provider", "decisions", "late", "median", "worst", "open")
    for r in rows:
        table.add_row(
            r.control,
            r.what,
            r.provider or "all providers",
            str(r.decisions),
            str(r.count),
            str(r.median_late_days),
            str(r.worst_late_days),
            str(r.open_overdue),
        )
    out.print(f"{pilot}: deadline breaches in {month} (lateness in business days)")
    out.print(table)


@app.command()
def simulate(
    pilot: PilotOpt,
    by: ByOpt,
    participants: Annotated[int, typer.Option(help="How many referrals.")] = 120,
    months: Annotated[int, typer.Option(help="Over how many months, up to --until.")] = 6,
    seed: Annotated[int, typer.Option(help="Same seed, same history.")] = 2026,
    until: Annotated[
        str | None, typer.Option(help="End of the history, YYYY-MM-DD (default: now).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate a deterministic synthetic history through the real actions (administrators):
    the participants' lifecycle, then their claims, evidence, verifications, samples and
    disputes (a staged contract pilot, which enrols no participants, gets its tranches),
    then the money: contributions, spend requests, and each ended month's payment run,
    reconciliation and variance cycle; then the governance: the reassessment log, each
    month's settlement file, equity check and board decision, and quarterly assurance."""
    setup_django()
    from datetime import date, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from fundpilot.claims.simulate import simulate_claims
    from fundpilot.governance.simulate import simulate_governance
    from fundpilot.money.simulate import simulate_money
    from fundpilot.participants.simulate import simulate as run
    from fundpilot.rules.money import format_usd

    target = pilot_named(pilot)
    require(user_named(by), "role.grant", target)
    end = None
    if until is not None:
        try:
            day = date.fromisoformat(until)
        except ValueError:
            fail(f"--until {until!r} is not a date as YYYY-MM-DD")
        zone = ZoneInfo(target.rulebook.pilot.timezone)
        end = datetime.combine(day + timedelta(days=1), time(), zone) - timedelta(seconds=1)
    lifecycle = target.rulebook.eligibility is not None or not target.rulebook.tranches
    document: dict[str, Any] = {"pilot": target.slug, "seed": seed}
    try:
        if lifecycle:
            with progress(f"{pilot}: {participants} referrals, {months} months", "days") as bar:
                task = bar.add_task("days", total=None)
                result = run(
                    pilot=target,
                    participants=participants,
                    months=months,
                    seed=seed,
                    until=end,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            end = result.until
            document |= {
                "participants": result.participants,
                "months": result.months,
                "start": result.start,
                "until": result.until,
                "actions": result.actions,
                "seconds": round(result.seconds, 2),
                "actions_per_second": round(result.rate, 1),
                "hired": result.hired,
                "by_action": result.by_action,
            }
        with progress(f"{pilot}: claims", "days") as bar:
            task = bar.add_task("days", total=None)
            claims = simulate_claims(
                pilot=target,
                seed=seed,
                until=end,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        with progress(f"{pilot}: money", "months") as bar:
            task = bar.add_task("months", total=None)
            money = simulate_money(
                pilot=target,
                seed=seed,
                since=result.start.date() if lifecycle else target.rulebook.pilot.period_start,
                until=end or datetime.now(ZoneInfo(target.rulebook.pilot.timezone)),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        with progress(f"{pilot}: governance", "months") as bar:
            task = bar.add_task("months", total=None)
            governance = simulate_governance(
                pilot=target,
                seed=seed,
                since=result.start.date() if lifecycle else target.rulebook.pilot.period_start,
                until=end or datetime.now(ZoneInfo(target.rulebook.pilot.timezone)),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except Refused as exc:
        refused(exc)
    document["governance"] = {
        "months": governance.months,
        "by_action": dict(governance.actions),
        "refused": governance.refused,
        "seconds": round(governance.seconds, 2),
    }
    document["money"] = {
        "months": money.months,
        "by_action": dict(money.actions),
        "paid": money.paid,
        "refused": money.refused,
        "seconds": round(money.seconds, 2),
    }
    document["claims"] = {
        "participants": claims.participants,
        "until": claims.until,
        "actions": claims.actions,
        "seconds": round(claims.seconds, 2),
        "by_action": claims.by_action,
        "by_status": claims.claims,
        "tranches": claims.tranches,
    }
    if as_json:
        emit(document)
        return
    if lifecycle:
        out.print(
            f"{pilot}: {result.participants} referrals from {result.start:%Y-%m-%d} to"
            f" {result.until:%Y-%m-%d}: {result.actions} audited actions in {result.seconds:.1f} s"
            f" ({result.rate:.0f}/s)",
            highlight=False,
            soft_wrap=True,
        )
        for action, count in result.by_action.items():
            out.print(f"  {action:<24} {count}", highlight=False)
    out.print(
        f"{pilot}: claims of {claims.participants} participants up to {claims.until:%Y-%m-%d}:"
        f" {claims.actions} audited actions in {claims.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    for action, count in claims.by_action.items():
        out.print(f"  {action:<24} {count}", highlight=False)
    statuses = ", ".join(f"{n} {status}" for status, n in claims.claims.items()) or "none"
    out.print(f"  claims: {statuses}", highlight=False)
    if claims.tranches:
        tranches = ", ".join(f"{code} {status}" for code, status in claims.tranches.items())
        out.print(f"  tranches: {tranches}", highlight=False)
    out.print(
        f"{pilot}: money of {len(money.months)} months: paid {format_usd(money.paid)}"
        f" in {money.seconds:.1f} s",
        highlight=False,
    )
    for action, count in sorted(money.actions.items()):
        out.print(f"  {action:<24} {count}", highlight=False)
    for problem in money.refused:
        out.print(f"  refused: {problem}", highlight=False, soft_wrap=True)
    out.print(f"{pilot}: governance of {len(governance.months)} months", highlight=False)
    for action, count in sorted(governance.actions.items()):
        out.print(f"  {action:<24} {count}", highlight=False)
    for problem in governance.refused:
        out.print(f"  refused: {problem}", highlight=False, soft_wrap=True)


# --- running it ---------------------------------------------------------------------------


@app.command()
def demo(
    home: Annotated[
        Path | None, typer.Option(help="Data folder (default $FUNDPILOT_HOME or ./var).")
    ] = None,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load, then stop.")] = False,
) -> None:
    """Load the example pilots with their parties and one demo user per role, then serve."""
    setup_django(home)
    from fundpilot import demo as demo_data

    logins = demo_data.load(progress=out)
    width = max(len(row.username) for row in logins)
    out.print(f"\nDemo logins (password for all: {demo_data.PASSWORD})\n", highlight=False)
    for row in logins:
        out.print(
            f"  {row.username:<{width}}  {row.roles}  ({row.organisation})",
            highlight=False,
            soft_wrap=True,
        )
    if not no_serve:
        _serve("127.0.0.1", port)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Serve the web app and API (a single process; use gunicorn for several)."""
    setup_django()
    _serve(host, port)


@app.command()
def worker(
    checkpoint_hours: Annotated[
        int, typer.Option(help="Sign a checkpoint of every grown chain this often.")
    ] = 24,
    escalation_hours: Annotated[
        int, typer.Option(help="Escalate assurance findings past their deadline this often.")
    ] = 1,
    batch: Annotated[bool, typer.Option("--batch", help="Run what is due, then stop.")] = False,
) -> None:
    """Run background work from the database queue (start one or more per installation)."""
    setup_django()
    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    from fundpilot.audit import tasks
    from fundpilot.governance import tasks as governance_tasks

    pending = DBTaskResult.objects.filter(
        task_path=tasks.sign_checkpoints.module_path, status="READY"
    )
    if not pending.exists():
        tasks.schedule_checkpoints(checkpoint_hours)
    escalation = governance_tasks.escalate_findings.module_path
    if not DBTaskResult.objects.filter(task_path=escalation, status="READY").exists():
        governance_tasks.schedule_escalation(escalation_hours)
    call_command("db_worker", batch=batch, startup_delay=False, queue_name="*")


def _serve(host: str, port: int) -> None:
    from django.core.management import call_command

    out.print(f"fundpilot at http://{host}:{port}/  (API: /api/v1/docs)")
    call_command("runserver", f"{host}:{port}", use_reloader=False, insecure_serving=True)


if __name__ == "__main__":
    app()
