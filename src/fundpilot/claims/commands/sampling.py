"""`fundpilot sample` (C9 post-payment sample audit).

    fundpilot sample --pilot P --period YYYY-MM --seed N       draw, print the items
    fundpilot sample show --pilot P --period YYYY-MM           the sample as it stands
    fundpilot sample audit --pilot P --period M --claim REF --supported 450.00 [--finding C]
    fundpilot sample appraise --pilot P --period YYYY-MM       extrapolate the findings
    fundpilot sample list --pilot P                            every sample of the pilot

Each takes --by (or FUNDPILOT_USER) and --json; a refusal exits 2.
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

PeriodOpt = Annotated[str, typer.Option("--period", help="The month, YYYY-MM (pilot time).")]
sample_app = typer.Typer(
    invoke_without_command=True,
    help="C9 post-payment audit samples: draw (with --pilot, --period and --seed), show,"
    " audit, appraise, list.",
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.add_typer(sample_app, name="sample")


def _sample(target: Any, period: str) -> Any:
    from fundpilot.claims.models import Sample

    found = Sample.objects.filter(pilot=target, period=period).first()
    if found is None:
        fail(f"no sample of '{period}' in {target.slug}")
    return found


def _print(document: dict[str, Any], slug: str) -> None:
    """A sample for people: universe, strata, items, appraisal."""
    out.print(
        f"{slug}: sample of {document['period']} ({document['design']}, seed {document['seed']})"
        f" — {document['size']} of {document['universe_size']} claims paid"
        f" ({document['universe_amount']}); {document['audited']} audited",
        highlight=False,
        soft_wrap=True,
    )
    out.print(f"universe digest {document['universe_digest']}", highlight=False)
    strata = Table("stratum", "N_h", "n_h")
    for s in document["strata"]:
        strata.add_row(s["stratum"] or "(all claims)", str(s["population"]), str(s["sample"]))
    out.print(strata)
    items = Table("#", "stratum", "claim", "provider", "paid", "supported", "findings")
    for i in document.get("items") or []:
        audit = i["audit"]
        supported = str(audit["supported_amount"]) if audit else "—"
        findings = " ".join(audit["finding_codes"]) if audit else ""
        items.add_row(
            str(i["position"]),
            i["stratum"] or "—",
            i["reference"],
            i["provider"],
            str(i["paid_amount"]),
            supported,
            findings,
        )
    out.print(items)
    appraisal = document.get("appraisal")
    if appraisal:
        out.print(appraisal["explanation"], highlight=False, soft_wrap=True)


@sample_app.callback()
def sample(
    ctx: typer.Context,
    pilot: Annotated[str | None, typer.Option("--pilot", help="The pilot's id.")] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="The month, YYYY-MM (pilot time).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="The draw's seed, 0 or more.")] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", envvar="FUNDPILOT_USER", help="Who acts (username)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw the audit sample of a month that has ended and print the items in draw
    order; the same seed and universe always give the same sample."""
    if ctx.invoked_subcommand is not None:
        return
    if pilot is None or period is None or seed is None or by is None:
        fail(
            "to draw, give --pilot, --period, --seed and --by;"
            " or a command: show, audit, appraise, list (see --help)"
        )
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.sampling import draw_sample
    from fundpilot.claims.api.sampling import sample_out

    target, user = pilot_named(pilot), user_named(by)
    try:
        drawn = draw_sample(pilot=target, period=period, seed=seed, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    document = sample_out(drawn, user)
    emit(document) if as_json else _print(document, pilot)


@sample_app.command("show")
def show(pilot: PilotOpt, period: PeriodOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """A sample as it stands: universe, strata, items with their audits, the appraisal."""
    setup_django()
    from fundpilot.claims.api.sampling import sample_out

    target, user = pilot_named(pilot), user_named(by)
    require(user, "claim.view", target)
    document = sample_out(_sample(target, period), user)
    emit(document) if as_json else _print(document, pilot)


@sample_app.command("list")
def list_samples(pilot: PilotOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Every sample of the pilot, newest period first."""
    setup_django()
    from fundpilot.claims.actions.sampling import samples_of
    from fundpilot.claims.api.sampling import sample_out

    target, user = pilot_named(pilot), user_named(by)
    require(user, "claim.view", target)
    documents = [sample_out(s, user, with_items=False) for s in samples_of(target)]
    if as_json:
        emit({"pilot": pilot, "samples": documents})
        return
    table = Table("period", "design", "universe", "paid", "sampled", "audited", "recovery")
    for d in documents:
        recovery = str(d["appraisal"]["recovery"]) if d["appraisal"] else "—"
        table.add_row(
            d["period"],
            d["design"],
            str(d["universe_size"]),
            str(d["universe_amount"]),
            str(d["size"]),
            str(d["audited"]),
            recovery,
        )
    out.print(table)


@sample_app.command("audit")
def audit(
    pilot: PilotOpt,
    period: PeriodOpt,
    claim: Annotated[str, typer.Option("--claim", help="The sampled claim's reference.")],
    supported: Annotated[
        str, typer.Option("--supported", help="The amount its evidence supports, e.g. 450.00.")
    ],
    by: ByOpt,
    finding: Annotated[
        list[str] | None,
        typer.Option("--finding", help="A finding code (repeat); needed when supported < paid."),
    ] = None,
    note: Annotated[str, typer.Option(help="A note on the audit.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Audit one sampled claim after payment; a failure is marked for recoupment."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.sampling import audit_sampled_claim
    from fundpilot.claims.api.sampling import audit_out
    from fundpilot.claims.models import SampleItem

    target, user = pilot_named(pilot), user_named(by)
    require(user, "sample.audit", target)
    item = SampleItem.objects.filter(sample=_sample(target, period), claim__reference=claim).first()
    if item is None:
        fail(f"{claim} is not in the sample of {period}")
    try:
        made = audit_sampled_claim(
            item=item,
            supported_amount=supported,  # type: ignore[arg-type]  # the action checks the text
            finding_codes=finding or [],
            note=note,
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    document = audit_out(made)
    if as_json:
        emit(document)
        return
    verdict = "failed" if document["failed"] else "passed"
    recoup = document["recoupment"]
    said = f"{claim}: {verdict}, {made.supported_amount} of {made.paid_amount} supported"
    if recoup:
        said += f"; {recoup['amount']} marked for recoupment ({recoup['basis_key']})"
    out.print(said, highlight=False, soft_wrap=True)


@sample_app.command("appraise")
def appraise(pilot: PilotOpt, period: PeriodOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Appraise a fully audited sample: extrapolate the overpayment to its universe."""
    setup_django()
    from django.utils import timezone

    from fundpilot.claims.actions.sampling import appraise_sample
    from fundpilot.claims.api.sampling import appraisal_out

    target, user = pilot_named(pilot), user_named(by)
    require(user, "sample.audit", target)
    try:
        made = appraise_sample(sample=_sample(target, period), by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    document = appraisal_out(made)
    if as_json:
        emit(document)
        return
    table = Table("stratum", "N_h", "n_h", "mean", "sd", "estimate")
    for s in document["strata"]:
        table.add_row(
            s["stratum"] or "(all claims)",
            str(s["population"]),
            str(s["sample"]),
            s["mean"],
            s["sd"],
            s["estimate"],
        )
    out.print(table)
    out.print(document["explanation"], highlight=False, soft_wrap=True)
