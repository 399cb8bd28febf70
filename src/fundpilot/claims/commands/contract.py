"""`fundpilot tranche list|claim|submit`: the tranche board and the pilot office's
contract claims (C10)."""

from datetime import date
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
from fundpilot.rules.errors import Refused

tranche_app = typer.Typer(no_args_is_help=True, help="Staged contract tranches (C10).")
TrancheArg = Annotated[str, typer.Argument(help="The tranche's code, e.g. T2.")]


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.add_typer(tranche_app, name="tranche")


def _measures(pairs: list[str]) -> dict[str, dict[str, str]]:
    found = {}
    for pair in pairs:
        name, _, figures = pair.partition("=")
        value, at, volume = figures.partition("@")
        if not name or not value or not at or not volume:
            fail(f"--measure {pair!r}: write it as MEASURE=PERCENT@CASES, e.g. med-rec-48h=92@150")
        found[name] = {"value": value, "volume": volume}
    return found


def _claim_document(claim: Any) -> dict[str, Any]:
    return {
        "reference": claim.reference,
        "tranche": claim.tranche,
        "milestone": claim.milestone,
        "status": claim.status,
        "amount": str(claim.amount),
        "reached_on": claim.reached_on,
        "resubmission_of": claim.resubmission_of.reference if claim.resubmission_of else None,
        "measures": claim.measures,
        "live_use": claim.live_use,
        "verification_due": claim.verification_due,
    }


def _tranche(target: Any, code: str) -> Any:
    found = next((t for t in target.rulebook.tranches if t.code == code), None)
    if found is None:
        fail(f"no tranche '{code}' in {target.slug}")
    return found


@tranche_app.command("list")
def list_tranches(pilot: PilotOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """The tranche board: status, live use against its requirement, cure, release."""
    setup_django()
    from django.utils import timezone
    from rich.table import Table

    from fundpilot.claims.live_use import tranche_board

    target, user = pilot_named(pilot), user_named(by)
    require(user, "pilot.view", target)
    rows = tranche_board(target, at=timezone.now())
    if as_json:
        emit(
            {
                "pilot": pilot,
                "tranches": [
                    {
                        "code": r.code,
                        "milestone": r.tranche.milestone,
                        "amount": str(r.tranche.amount),
                        "predecessors": list(r.predecessors),
                        "status": r.status,
                        "claim": r.claim.reference if r.claim else None,
                        "live_use": r.live_use,
                        "live_use_short": r.live_use_short,
                        "cure_until": r.cure_until,
                        "released": None if r.released is None else str(r.released),
                        "payer_split": r.payer_split,
                    }
                    for r in rows
                ],
            }
        )
        return
    table = Table(
        "tranche", "milestone", "amount", "after", "status", "live use", "cure", "released"
    )
    for r in rows:
        use = f"{r.live_use['real_cases']} cases, {r.live_use['referral_closure_rate'] or '—'}%"
        table.add_row(
            r.code,
            r.tranche.milestone,
            str(r.tranche.amount),
            ", ".join(r.predecessors) or "—",
            r.status + (f" ({r.claim.reference})" if r.claim else ""),
            use + (f" — short: {r.live_use_short}" if r.live_use_short else ""),
            str(r.cure_until or "—"),
            str(r.released if r.released is not None else "—"),
        )
    out.print(f"{pilot}: tranches")
    out.print(table)


@tranche_app.command("claim")
def claim(
    tranche: TrancheArg,
    pilot: PilotOpt,
    reached_on: Annotated[str, typer.Option(help="The day the milestone was reached, YYYY-MM-DD.")],
    by: ByOpt,
    measure: Annotated[
        list[str] | None,
        typer.Option("--measure", help="MEASURE=PERCENT@CASES, an attested measure (repeat)."),
    ] = None,
    resubmit: Annotated[
        str | None, typer.Option(help="The rejected claim this cures (default: the latest).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draft the pilot's claim of a tranche's contract milestone (or its cure)."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.contract import draft_contract_claim
    from fundpilot.claims.models import Claim

    target, user = pilot_named(pilot), user_named(by)
    try:
        day = date.fromisoformat(reached_on)
    except ValueError:
        fail(f"--reached-on {reached_on!r} is not a date as YYYY-MM-DD")
    found = _tranche(target, tranche)
    earlier = None
    if resubmit:
        earlier = Claim.objects.filter(pilot=target, reference=resubmit).first()
        if earlier is None:
            fail(f"no claim '{resubmit}' in {pilot}")
    try:
        made = draft_contract_claim(
            pilot=target,
            milestone=found.milestone,
            reached_on=day,
            measures=_measures(measure or []),
            resubmission_of=earlier,
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    if as_json:
        emit(_claim_document(made))
        return
    again = f", resubmitting {earlier.reference}" if (earlier := made.resubmission_of) else ""
    out.print(f"{made.reference}: drafted for {made.amount}{again}", highlight=False)


@tranche_app.command("submit")
def submit(tranche: TrancheArg, pilot: PilotOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Submit the tranche's drafted claim: evidence, live use and quality are checked."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.contract import submit_contract_claim
    from fundpilot.claims.models import Claim

    target, user = pilot_named(pilot), user_named(by)
    found = _tranche(target, tranche)
    draft = Claim.objects.filter(
        pilot=target, scope="contract", tranche=found.code, status=Claim.DRAFT
    ).first()
    if draft is None:
        fail(f"tranche {found.code} has no drafted claim")
    try:
        made = submit_contract_claim(claim=draft, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    if as_json:
        emit(_claim_document(made))
        return
    use = made.live_use
    out.print(
        f"{made.reference}: submitted; verification due {made.verification_due};"
        f" live use {use['real_cases']} cases, {use['referral_closure_rate'] or '—'}% closed",
        highlight=False,
    )
