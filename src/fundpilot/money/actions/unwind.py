"""C20 exit: finance proposes the unwind computed as of a date (`unwind.compute`); a
different person whose decision right covers `approve_exit` for every payer and use
approves it, which posts the reserve and return transactions. The approval recomputes
the figures and refuses when the books moved since the proposal.
"""

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction

from fundpilot.audit import log
from fundpilot.money import ledger, rights, unwind
from fundpilot.money.models import ExitPlan
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import DecisionAction
from fundpilot.rules.vocabulary import Role


def _as_of(pilot: Pilot, as_of: date | str, at: datetime) -> date:
    if isinstance(as_of, str):
        try:
            as_of = date.fromisoformat(as_of.strip())
        except ValueError:
            raise Refused(
                "invalid_date", f"{as_of!r} is not a date: write YYYY-MM-DD", "as_of"
            ) from None
    if as_of > pilot.calendar.local_date(at):
        raise Refused("as_of_in_future", f"{as_of} is after today", "as_of")
    if as_of < pilot.rulebook.pilot.period_start:
        raise Refused(
            "before_pilot",
            f"{as_of} is before the pilot began on {pilot.rulebook.pilot.period_start}",
            "as_of",
        )
    return as_of


def _not_exited(pilot: Pilot) -> None:
    done = unwind.posted_exit(pilot)
    if done is not None:
        raise Refused("already_exited", f"the exit as of {done.as_of} is already posted", "as_of")


def preview_exit(*, pilot: Pilot, as_of: date | str, by: User, at: datetime) -> dict[str, object]:
    """The unwind as it would be proposed (a dry run: writes nothing)."""
    policy.require(by, "exit.propose", pilot)
    return unwind.compute(pilot, _as_of(pilot, as_of, at))


def propose_exit(*, pilot: Pilot, as_of: date | str, by: User, at: datetime) -> ExitPlan:
    """C20: propose the unwind as of `as_of`, storing its figures for approval."""
    role = policy.require(by, "exit.propose", pilot)
    day = _as_of(pilot, as_of, at)
    _not_exited(pilot)
    with transaction.atomic(durable=True):
        ledger.lock(pilot)  # the books do not move while they are read
        figures = unwind.compute(pilot, day)
        plan = ExitPlan.objects.create(
            pilot=pilot,
            as_of=day,
            figures=figures,
            proposed_by=by,
            proposed_at=at,
            rulebook_version=pilot.current.number,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="exit.propose",
            subject=f"exit_plan:{plan.pk}",
            payload={"as_of": day, "rule": figures["rule"], "totals": figures["totals"]},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return plan


def _rights(pilot: Pilot, by: User, figures: dict[str, object]) -> tuple[Role, list[str]]:
    """The matrix must let the approver unwind every fund the exit touches: each payer
    and use is checked with what leaves that fund (a "*" row covers them all)."""
    found: list[str] = []
    role: Role | None = None
    funds = figures["funds"]
    assert isinstance(funds, list)
    for fund in funds:
        amount = Decimal(fund["reserved"]) + Decimal(fund["remaining"])
        role, row = rights.covering_right(
            pilot,
            by,
            DecisionAction.APPROVE_EXIT,
            payer=fund["payer"],
            use=fund["use"],
            amount=amount,
        )
        if row.key not in found:
            found.append(row.key)
    if role is None:  # no fund at all: the matrix must still name the approver
        role, row = rights.covering_right(
            pilot, by, DecisionAction.APPROVE_EXIT, payer="*", use="*", amount=None
        )
        found.append(row.key)
    return role, found


def approve_exit(*, plan: ExitPlan, by: User, at: datetime) -> ExitPlan:
    """C20: approve a proposed exit and carry it out: Dr reserve:<payer> / Cr fund for
    committed obligations, Dr returned:<payer> / Cr fund per the unwind rule."""
    pilot = plan.pilot
    policy.require(by, "exit.approve", pilot)
    if plan.status != ExitPlan.PROPOSED:
        raise Refused("not_proposed", f"this exit plan is {plan.status}", "plan")
    if plan.proposed_by_id == by.pk:
        raise Refused("own_proposal", "somebody else must approve the exit you proposed", "by")
    role, keys = _rights(pilot, by, plan.figures)
    with transaction.atomic(durable=True):
        ledger.lock(pilot)
        locked = ExitPlan.objects.select_for_update().get(pk=plan.pk)
        if locked.status != ExitPlan.PROPOSED:
            raise Refused("not_proposed", f"this exit plan is {locked.status}", "plan")
        _not_exited(pilot)
        figures = unwind.compute(pilot, locked.as_of)
        if figures != locked.figures:
            raise Refused(
                "exit_stale",
                "the books changed since the exit was proposed; propose it again",
                "plan",
            )
        posted = ledger.post_many(pilot, unwind.postings(pilot, figures), by=by, at=at)
        locked.status = ExitPlan.POSTED
        locked.decided_by = by
        locked.decided_at = at
        locked.decision_right = ", ".join(keys)[:200]
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_right"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="exit.approve",
            subject=f"exit_plan:{locked.pk}",
            payload={
                "as_of": locked.as_of,
                "decision_right": locked.decision_right,
                "transactions": posted,
                "returned": {p["payer"]: p["returned"] for p in figures["payers"]},
                "reserved": {p["payer"]: p["reserved"] for p in figures["payers"]},
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    for name in ("status", "decided_by", "decided_at", "decision_right"):
        setattr(plan, name, getattr(locked, name))
    return plan
