"""The decision-rights matrix applied to people (C12, invariant 1 and 5).

A money decision counts only when one of the decider's roles in the pilot holds a
matrix row covering the action, payer, use and amount. The row applied is recorded
with the decision (`DecisionRight.key`).
"""

from decimal import Decimal

from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import format_usd
from fundpilot.rules.rulebook import DecisionAction, DecisionRight
from fundpilot.rules.vocabulary import Role


def covering_right(
    pilot: Pilot,
    user: User,
    action: DecisionAction,
    *,
    payer: str,
    use: str,
    amount: Decimal | None,
) -> tuple[Role, DecisionRight]:
    """The decider's role and the matrix row that lets them decide; refused (coded
    `no_decision_right`, naming the limit when one applies) otherwise."""
    roles = policy.roles_in(user, pilot)
    rows = pilot.rulebook.decision_rights
    for row in rows:
        if row.role in roles and row.covers(action=action, payer=payer, use=use, amount=amount):
            return row.role, row
    within_scope = [
        r
        for r in rows
        if r.role in roles and r.covers(action=action, payer=payer, use=use, amount=None)
    ]
    what = f"{action.value} for {payer}/{use}"
    if within_scope and amount is not None:
        limit = max(r.max_amount for r in within_scope if r.max_amount is not None)
        raise Refused(
            "over_limit",
            f"{format_usd(amount)} is above your limit of {format_usd(limit)} to {what}",
            "amount",
        )
    raise Refused(
        "no_decision_right", f"the decision-rights matrix gives none of your roles {what}", "by"
    )
