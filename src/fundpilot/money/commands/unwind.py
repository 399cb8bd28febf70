"""`fundpilot exit` (C20).

    fundpilot exit --pilot P --as-of DATE --dry-run      compute the unwind, write nothing
    fundpilot exit --pilot P --as-of DATE                propose it (finance)
    fundpilot exit approve --pilot P --plan ID           approve and post it
    fundpilot exit list --pilot P                        the proposals

Each takes --by (or FUNDPILOT_USER) and --json; a refusal exits 2. A payer
representative sees only its own payer's figures.
"""

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
    require,
    setup_django,
    user_named,
)
from fundpilot.rules.errors import Refused

exit_app = typer.Typer(
    invoke_without_command=True,
    help="C20 exit: compute (--dry-run) or propose the unwind as of a date; approve; list.",
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.add_typer(exit_app, name="exit")


def print_figures(figures: dict[str, Any], title: str) -> None:
    """The unwind for people: obligations, funds, what each payer gets back."""
    out.print(f"{title} — rule {figures['rule']}, as of {figures['as_of']}", highlight=False)
    owed = Table("basis", "kind", "provider", "payer", "use", "amount", title="obligations")
    for o in figures["obligations"]:
        owed.add_row(o["basis"], o["kind"], o["provider"], o["payer"], o["use"], o["amount"])
    out.print(owed)
    funds = Table("payer", "use", "available", "obligations", "reserved", "shortfall", "remaining")
    for f in figures["funds"]:
        funds.add_row(
            f["payer"],
            f["use"],
            f["available"],
            f["obligations"],
            f["reserved"],
            f["shortfall"],
            f["remaining"],
        )
    out.print(funds)
    back = Table("payer", "contribution", "reserved", "remaining", "returned", title="returned")
    for p in figures["payers"]:
        back.add_row(p["payer"], p["contribution"], p["reserved"], p["remaining"], p["returned"])
    out.print(back)


@exit_app.callback()
def exit_(
    ctx: typer.Context,
    pilot: Annotated[str | None, typer.Option("--pilot", help="The pilot's id.")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day the pilot stops, YYYY-MM-DD.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compute and print only; write nothing.")
    ] = False,
    by: Annotated[
        str | None, typer.Option("--by", envvar="FUNDPILOT_USER", help="Who acts (username).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute the unwind as of a date (--dry-run) or propose it for approval."""
    if ctx.invoked_subcommand is not None:
        return
    if pilot is None or as_of is None or by is None:
        fail("give --pilot, --as-of and --by; or a command: approve, list (see --help)")
    setup_django()
    from django.utils import timezone

    from fundpilot.money import unwind
    from fundpilot.money.actions import unwind as actions
    from fundpilot.money.api.unwind import plan_out
    from fundpilot.pilots import policy

    target, user = pilot_named(pilot), user_named(by)
    require(user, "exit.propose", target)
    try:
        if dry_run:
            figures = actions.preview_exit(pilot=target, as_of=as_of, by=user, at=timezone.now())
            figures = unwind.scoped(figures, policy.payer_scope(user, target))
            if as_json:
                emit({"pilot": pilot, "dry_run": True, "figures": figures})
            else:
                print_figures(figures, f"{pilot}: exit (dry run, nothing recorded)")
            return
        plan = actions.propose_exit(pilot=target, as_of=as_of, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    document = plan_out(plan, user)
    if as_json:
        emit(document)
    else:
        print_figures(document["figures"], f"{pilot}: exit plan {plan.pk} proposed")


@exit_app.command("approve")
def approve(
    pilot: PilotOpt,
    plan: Annotated[int, typer.Option("--plan", help="The exit plan's id.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Approve a proposed exit and post it: reserves for obligations, returns per the rule."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions import unwind as actions
    from fundpilot.money.api.unwind import plan_out
    from fundpilot.money.models import ExitPlan

    target, user = pilot_named(pilot), user_named(by)
    require(user, "exit.approve", target)
    found = ExitPlan.objects.filter(pilot=target, pk=plan).first()
    if found is None:
        fail(f"no exit plan {plan} in {pilot}")
    try:
        done = actions.approve_exit(plan=found, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    document = plan_out(done, user)
    if as_json:
        emit(document)
    else:
        print_figures(document["figures"], f"{pilot}: exit plan {plan} approved and posted")


@exit_app.command("list")
def list_plans(pilot: PilotOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """The exit proposals, newest first."""
    setup_django()
    from fundpilot.money.api.unwind import plan_out
    from fundpilot.money.models import ExitPlan

    target, user = pilot_named(pilot), user_named(by)
    require(user, "fund.view", target)
    rows = ExitPlan.objects.filter(pilot=target).order_by("-proposed_at", "-pk")
    documents = [plan_out(p, user) for p in rows]
    if as_json:
        emit({"pilot": pilot, "plans": documents})
        return
    table = Table("id", "as of", "status", "proposed by", "decided by")
    for d in documents:
        table.add_row(
            str(d["id"]), str(d["as_of"]), d["status"], d["proposed_by"], d["decided_by"] or "—"
        )
    out.print(table)
