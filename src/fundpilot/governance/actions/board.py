"""C17 board decisions: the board chair's position on a finalised, reviewed settlement;
the restrictions it imposes, each with a named follow-up owner; and the external
payment statements made on it, never more than the board approved.

- `decide`: supportable, provisional or restricted, with decision code, review date,
  executive owner, residual risk, next checkpoint, and the three notes the board must
  make (reassessment integrity risks, denominator disputes, unresolved milestone
  definition issues: "none identified" is a statement, blank is not). Supportable only
  when the settlement's payment trigger is met; the approved amount is at most the
  settlement's milestone amount. Restriction owners are notified.
- `close_restriction`: the board chair lifts a restriction, saying why.
- `record_external_statement`: what was said to a payer or the public.
"""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.urls import reverse

from fundpilot.audit import log
from fundpilot.governance.actions.settlement import reviews_missing
from fundpilot.governance.board import EXECUTIVE_ROLES, PERMISSIVENESS, RESIDUAL_RISKS
from fundpilot.governance.models import (
    BoardDecision,
    ExternalStatement,
    Restriction,
    Settlement,
)
from fundpilot.money.monthly import owner_may
from fundpilot.participants.models import Notification
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import CENT, MAX_AMOUNT, to_decimal

NOTES = {
    "integrity_risks": "reassessment integrity risks",
    "denominator_disputes": "denominator disputes",
    "definition_issues": "unresolved milestone definition issues",
}
RestrictionIn = tuple[str, User, date]
CODE_LENGTH = BoardDecision._meta.get_field("decision_code").max_length
AUDIENCE_LENGTH = ExternalStatement._meta.get_field("audience").max_length


def decision_link(pilot: Pilot, month: date) -> str:
    return reverse(
        "governance:board-decision", kwargs={"pilot": pilot.slug, "month": f"{month:%Y-%m}"}
    )


def _amount(value: object, field: str) -> Decimal:
    """Dollars and cents, zero or more."""
    try:
        amount = to_decimal(value)
    except ValueError as exc:
        raise Refused("invalid_amount", f"{value!r}: {exc}", field) from None
    if amount != amount.quantize(CENT) or amount >= MAX_AMOUNT:
        raise Refused("invalid_amount", f"{amount} is not an amount in cents", field)
    if amount < 0:
        raise Refused("amount_negative", f"{amount} is below zero", field)
    return amount.quantize(CENT)


def _position(position: str) -> None:
    if position not in BoardDecision.POSITIONS:
        raise Refused(
            "unknown_position",
            f"{position!r} is not one of {', '.join(BoardDecision.POSITIONS)}",
            "position",
        )


def _in_pilot(pilot: Pilot, person: User, field: str) -> None:
    if not policy.roles_in(person, pilot):
        raise Refused(
            "owner_not_in_pilot", f"{person.username} holds no role in {pilot.slug}", field
        )


def _ready(settlement: Settlement) -> None:
    """Finalised, reviewed by finance, compliance and the executive sponsor, and not
    decided on yet."""
    month = f"{settlement.month:%Y-%m}"
    if BoardDecision.objects.filter(settlement=settlement).exists():
        raise Refused(
            "already_decided", f"the board has decided on the {month} settlement", "month"
        )
    if settlement.status != Settlement.FINALISED:
        raise Refused(
            "settlement_not_final", f"the {month} settlement file is not finalised", "month"
        )
    missing = reviews_missing(settlement)
    if missing:
        raise Refused(
            "reviews_missing",
            f"the {month} settlement still needs the review of:"
            f" {', '.join(r.label for r in missing)}",
            "month",
        )


def _restrictions(
    pilot: Pilot, restrictions: Sequence[RestrictionIn], today: date
) -> list[RestrictionIn]:
    checked = []
    for description, owner, due in restrictions:
        description = description.strip()
        if not description:
            raise Refused(
                "restriction_description_required", "say what is restricted", "restrictions"
            )
        _in_pilot(pilot, owner, "restrictions")
        owner_may(pilot, owner, "board.view")  # an owner sees what they follow up
        if due < today:
            raise Refused("due_in_past", f"restriction due {due} is already past", "restrictions")
        checked.append((description, owner, due))
    return checked


def decide(
    *,
    settlement: Settlement,
    position: str,
    decision_code: str,
    review_date: date,
    executive_owner: User,
    residual_risk: str,
    next_checkpoint: date,
    integrity_risks: str,
    denominator_disputes: str,
    definition_issues: str,
    approved_amount: Decimal | str,
    restrictions: Sequence[RestrictionIn] = (),
    by: User,
    at: datetime,
) -> BoardDecision:
    """C17: the board's position on a month's settlement."""
    pilot = settlement.pilot
    role = policy.require(by, "board.decide", pilot)
    today = pilot.calendar.local_date(at)
    _ready(settlement)
    if by.pk in {settlement.prepared_by_id, settlement.finalised_by_id} or (
        settlement.reviews.filter(reviewed_by=by).exists()
    ):
        raise Refused(
            "own_settlement", "the board does not decide on a settlement it prepared or reviewed"
        )
    notes = {
        "integrity_risks": integrity_risks.strip(),
        "denominator_disputes": denominator_disputes.strip(),
        "definition_issues": definition_issues.strip(),
    }
    for name, text in notes.items():
        if not text:
            raise Refused(
                f"{name}_required",
                f"note the {NOTES[name]}; write 'none identified' if there are none",
                name,
            )
    decision_code = decision_code.strip()
    if not decision_code:
        raise Refused("decision_code_required", "give the decision code", "decision_code")
    if len(decision_code) > CODE_LENGTH:
        raise Refused(
            "invalid_decision_code",
            f"a decision code has at most {CODE_LENGTH} characters",
            "decision_code",
        )
    _position(position)
    figures = settlement.figures
    if position == BoardDecision.SUPPORTABLE and not figures["payment_trigger"]["met"]:
        raise Refused(
            "trigger_not_met",
            "the payment trigger is not met, so the evidence cannot carry a supportable"
            f" position ({figures['payment_trigger']['rule']})",
            "position",
        )
    amount = _amount(approved_amount, "approved_amount")
    ceiling = Decimal(figures["milestone_amount"])
    if amount > ceiling:
        raise Refused(
            "amount_above_settlement",
            f"{amount} is above the settlement's milestone amount {ceiling}",
            "approved_amount",
        )
    if position == BoardDecision.RESTRICTED and not restrictions:
        raise Refused(
            "restriction_required", "a restricted position names its restrictions", "restrictions"
        )
    restricting = _restrictions(pilot, restrictions, today)
    for field, day in (("review_date", review_date), ("next_checkpoint", next_checkpoint)):
        if day < today:
            raise Refused("date_before_decision", f"{day} is before the decision ({today})", field)
    if residual_risk not in RESIDUAL_RISKS:
        raise Refused(
            "unknown_residual_risk",
            f"{residual_risk!r} is not one of {', '.join(RESIDUAL_RISKS)}",
            "residual_risk",
        )
    if not policy.roles_in(executive_owner, pilot) & EXECUTIVE_ROLES:
        raise Refused(
            "executive_owner_not_executive",
            f"{executive_owner.username} is not the executive sponsor or board chair here",
            "executive_owner",
        )
    with transaction.atomic(durable=True):
        locked = Settlement.objects.select_for_update().get(pk=settlement.pk)
        _ready(locked)
        decision = BoardDecision.objects.create(
            pilot=pilot,
            settlement=locked,
            position=position,
            decision_code=decision_code,
            review_date=review_date,
            executive_owner=executive_owner,
            residual_risk=residual_risk,
            next_checkpoint=next_checkpoint,
            approved_amount=amount,
            unresolved_questions=figures["unresolved_questions"],
            decided_by=by,
            decided_at=at,
            rulebook_version=pilot.current.number,
            **notes,
        )
        made = Restriction.objects.bulk_create(
            Restriction(decision=decision, description=d, owner=o, due=due)
            for d, o, due in restricting
        )
        link = decision_link(pilot, locked.month)
        Notification.objects.bulk_create(
            Notification(
                pilot=pilot,
                user=r.owner,
                subject=f"Board restriction for {locked.month:%Y-%m} to follow up by {r.due}:"
                f" {r.description}"[:200],
                link=link,
                created_at=at,
            )
            for r in made
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="board_decision.decide",
            subject=f"board_decision:{decision.pk}",
            payload={
                "month": f"{locked.month:%Y-%m}",
                "settlement_sha256": locked.figures_sha256,
                "position": position,
                "decision_code": decision_code,
                "review_date": review_date,
                "executive_owner": executive_owner.username,
                "residual_risk": residual_risk,
                "next_checkpoint": next_checkpoint,
                "approved_amount": amount,
                "unresolved_questions": decision.unresolved_questions,
                **notes,
                "restrictions": [
                    {"id": r.pk, "description": r.description}
                    | {"owner": r.owner.username, "due": r.due}
                    for r in made
                ],
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return decision


def close_restriction(
    *, restriction: Restriction, note: str, by: User, at: datetime
) -> Restriction:
    """C17: the board chair lifts a restriction once its follow-up is done."""
    pilot = restriction.decision.pilot
    role = policy.require(by, "restriction.close", pilot)
    note = note.strip()
    if not note:
        raise Refused("note_required", "say why the restriction can be lifted", "note")
    if restriction.owner_id == by.pk:
        raise Refused("own_restriction", "the follow-up owner does not lift their own restriction")
    with transaction.atomic(durable=True):
        locked = Restriction.objects.select_for_update().get(pk=restriction.pk)
        if locked.closed_at is not None:
            raise Refused("restriction_closed", f"restriction {locked.pk} is already lifted")
        locked.closed_by, locked.closed_at, locked.closing_note = by, at, note
        locked.save(update_fields=["closed_by", "closed_at", "closing_note"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="restriction.close",
            subject=f"restriction:{locked.pk}",
            payload={"decision": locked.decision_id, "owner": locked.owner.username, "note": note},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


def record_external_statement(
    *,
    decision: BoardDecision,
    audience: str,
    position: str,
    amount: Decimal | str,
    text: str,
    by: User,
    at: datetime,
) -> ExternalStatement:
    """C17: an external payment statement, refused if it says more than the board
    approved (a more permissive position, or a larger amount)."""
    pilot = decision.pilot
    role = policy.require(by, "statement.record", pilot)
    audience, text = audience.strip(), text.strip()
    if not audience:
        raise Refused("audience_required", "say who the statement is to", "audience")
    if len(audience) > AUDIENCE_LENGTH:
        raise Refused(
            "invalid_audience", f"name the audience in {AUDIENCE_LENGTH} characters", "audience"
        )
    if not text:
        raise Refused("text_required", "record what was said", "text")
    _position(position)
    said = _amount(amount, "amount")
    if PERMISSIVENESS[position] > PERMISSIVENESS[decision.position]:
        raise Refused(
            "exceeds_approved_position",
            f"a {position} statement says more than the board's {decision.position} position",
            "position",
        )
    if said > decision.approved_amount:
        raise Refused(
            "exceeds_approved_position",
            f"{said} is more than the {decision.approved_amount} the board approved",
            "amount",
        )
    with transaction.atomic(durable=True):
        made = ExternalStatement.objects.create(
            decision=decision,
            audience=audience,
            position=position,
            amount=said,
            text=text,
            made_by=by,
            made_at=at,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="statement.record",
            subject=f"statement:{made.pk}",
            payload={
                "decision": decision.pk,
                "month": f"{decision.settlement.month:%Y-%m}",
                "audience": audience,
                "position": position,
                "amount": said,
                "text": text,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return made
