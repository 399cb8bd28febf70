"""`fundpilot spend request|approve|decline|review|list` and `fundpilot contribution
commit|receive` (C12). Exit 2 when refused; `--json` prints one JSON document."""

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

spend_app = typer.Typer(no_args_is_help=True, help="Spend requests and their approval (C12).")
contribution_app = typer.Typer(
    no_args_is_help=True, help="Payer contributions: committed, then received (C12)."
)
ReferenceArg = Annotated[str, typer.Argument(help="The spend request, e.g. SR-0001.")]
PayerOpt = Annotated[str, typer.Option("--payer", help="The payer's id in the rulebook.")]


def register(app: typer.Typer) -> None:
    """Add this area's commands to `fundpilot`."""
    app.add_typer(spend_app, name="spend")
    app.add_typer(contribution_app, name="contribution")


def _document(s: Any) -> dict[str, Any]:
    from fundpilot.money.api.common import username_of as name

    return {
        "reference": s.reference,
        "payer": s.payer,
        "use": s.use,
        "amount": str(s.amount),
        "payee": s.payee.code,
        "participant_id": s.participant_id,
        "purpose": s.purpose,
        "status": s.status,
        "requested_by": s.requested_by.username,
        "requested_at": s.requested_at,
        "decided_by": name(s.decided_by),
        "decided_at": s.decided_at,
        "decided_role": s.decided_role,
        "decision_right": s.decision_right,
        "decision_note": s.decision_note,
        "exception": s.exception,
        "review_due": s.review_due,
        "reviewed_by": name(s.reviewed_by),
        "review_late_days": s.review_late_days,
        "basis_key": s.basis_key,
    }


def _say(s: Any, as_json: bool) -> None:
    if as_json:
        emit(_document(s))
        return
    state = s.status + (" as an exception" if s.exception else "")
    out.print(
        f"{s.reference}: {s.amount} from {s.payer}/{s.use} to {s.payee.code}, {state}",
        highlight=False,
    )
    if s.decision_right:
        out.print(f"decided by {s.decided_by.username} under {s.decision_right}", highlight=False)
    if s.exception:
        reviewed = f"reviewed by {s.reviewed_by.username}" if s.reviewed_by else "not yet reviewed"
        out.print(f"retrospective review due {s.review_due}: {reviewed}", highlight=False)


def _find(target: Any, user: Any, reference: str) -> Any:
    from fundpilot.money.actions.spending import spend_requests_for

    found = spend_requests_for(user, target).filter(reference=reference).first()
    if found is None:
        fail(f"no spend request '{reference}' in {target.slug} that you may see")
    return found


@spend_app.command("list")
def list_requests(
    pilot: PilotOpt,
    by: ByOpt,
    status: Annotated[str | None, typer.Option(help="requested, approved or declined.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Spend requests you may see, newest first."""
    setup_django()
    from rich.table import Table

    from fundpilot.money.actions.spending import spend_requests_for

    target, user = pilot_named(pilot), user_named(by)
    require(user, "spend.view", target)
    rows = spend_requests_for(user, target).select_related("payee", "requested_by")
    if status:
        rows = rows.filter(status=status)
    found = list(rows[:500])
    if as_json:
        emit({"pilot": pilot, "spend_requests": [_document(s) for s in found]})
        return
    table = Table("request", "payer/use", "amount", "pay to", "asked by", "status")
    for s in found:
        table.add_row(
            s.reference,
            f"{s.payer}/{s.use}",
            str(s.amount),
            s.payee.code,
            s.requested_by.username,
            s.status + (" (exception)" if s.exception else ""),
        )
    out.print(f"{pilot}: spend requests")
    out.print(table)


@spend_app.command("request")
def request_one(
    pilot: PilotOpt,
    payer: PayerOpt,
    use: Annotated[str, typer.Option(help="One of the payer's allowable uses.")],
    amount: Annotated[str, typer.Option(help="Dollars, e.g. 250.00.")],
    payee: Annotated[str, typer.Option(help="The provider organisation's code.")],
    purpose: Annotated[str, typer.Option(help="What the money is for.")],
    by: ByOpt,
    participant: Annotated[str, typer.Option(help="A participant ID, when for one.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Ask to spend one payer's funds on one of its allowable uses."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.spending import request_spend
    from fundpilot.pilots.models import Organisation

    target, user = pilot_named(pilot), user_named(by)
    org = Organisation.objects.filter(code=payee).first()
    if org is None:
        fail(f"no organisation '{payee}'")
    try:
        made = request_spend(
            pilot=target,
            payer=payer,
            use=use,
            amount=amount,  # type: ignore[arg-type]  # checked and converted by the action
            payee=org,
            purpose=purpose,
            participant_id=participant,
            by=user,
            at=timezone.now(),
        )
    except Refused as exc:
        refused(exc)
    _say(made, as_json)


@spend_app.command("approve")
def approve(
    reference: ReferenceArg,
    pilot: PilotOpt,
    by: ByOpt,
    note: Annotated[str, typer.Option(help="A note on the decision.")] = "",
    exception: Annotated[
        bool, typer.Option("--exception", help="The exception route (senior role only).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Approve a spend request under your decision right."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.spending import approve_spend

    target, user = pilot_named(pilot), user_named(by)
    require(user, "spend.approve", target)
    found = _find(target, user, reference)
    try:
        decided = approve_spend(
            request=found, note=note, exception=exception, by=user, at=timezone.now()
        )
    except Refused as exc:
        refused(exc)
    _say(decided, as_json)


@spend_app.command("decline")
def decline(
    reference: ReferenceArg,
    pilot: PilotOpt,
    reason: Annotated[str, typer.Option(help="Why it is declined.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Decline a pending spend request."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.spending import decline_spend

    target, user = pilot_named(pilot), user_named(by)
    require(user, "spend.approve", target)
    found = _find(target, user, reference)
    try:
        decided = decline_spend(request=found, reason=reason, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    _say(decided, as_json)


@spend_app.command("review")
def review(
    reference: ReferenceArg,
    pilot: PilotOpt,
    note: Annotated[str, typer.Option(help="What the retrospective review found.")],
    by: ByOpt,
    as_json: JsonOpt = False,
) -> None:
    """Record the retrospective review of a spend approved as an exception."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.spending import review_exception

    target, user = pilot_named(pilot), user_named(by)
    require(user, "exception.review", target)
    found = _find(target, user, reference)
    try:
        reviewed = review_exception(request=found, note=note, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    _say(reviewed, as_json)


def _say_contribution(txn: Any, payer: str, as_json: bool) -> None:
    from fundpilot.money.api.spending import contribution_out

    document = contribution_out(txn, payer)
    if as_json:
        emit(document)
        return
    out.print(
        f"{payer}: T{txn.number} {txn.basis_key} {txn.amount}; committed {document['committed']},"
        f" received {document['received']}, outstanding {document['outstanding']}",
        highlight=False,
    )


@contribution_app.command("commit")
def commit(pilot: PilotOpt, payer: PayerOpt, by: ByOpt, as_json: JsonOpt = False) -> None:
    """Record the payer's defined contribution (from the rulebook) as committed."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.contributions import commit_contribution

    target, user = pilot_named(pilot), user_named(by)
    try:
        txn = commit_contribution(pilot=target, payer=payer, by=user, at=timezone.now())
    except Refused as exc:
        refused(exc)
    _say_contribution(txn, payer, as_json)


@contribution_app.command("receive")
def receive(
    pilot: PilotOpt,
    payer: PayerOpt,
    reference: Annotated[str, typer.Option(help="The remittance or transfer reference.")],
    allocate: Annotated[
        list[str],
        typer.Option("--allocate", help="use=amount, one per allowable use (repeat)."),
    ],
    by: ByOpt,
    received_on: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD; today (the pilot's) when omitted.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record contribution cash received, allocated to the payer's allowable uses."""
    setup_django()
    from django.utils import timezone

    from fundpilot.money.actions.contributions import receive_contribution

    target, user = pilot_named(pilot), user_named(by)
    allocations: dict[str, Any] = {}
    for item in allocate:
        use, sep, amount = item.partition("=")
        if not sep or not use.strip():
            fail(f"--allocate {item!r}: write use=amount, e.g. outreach=25000.00")
        if use.strip() in allocations:
            fail(f"--allocate names {use.strip()} twice")
        allocations[use.strip()] = amount.strip()
    now = timezone.now()
    try:
        day = date.fromisoformat(received_on) if received_on else target.calendar.local_date(now)
    except ValueError:
        fail(f"--received-on {received_on!r} is not a date (YYYY-MM-DD)")
    try:
        txn = receive_contribution(
            pilot=target,
            payer=payer,
            reference=reference,
            allocations=allocations,
            received_on=day,
            by=user,
            at=now,
        )
    except Refused as exc:
        refused(exc)
    _say_contribution(txn, payer, as_json)
