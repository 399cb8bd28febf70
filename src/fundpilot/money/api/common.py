"""What the money API modules share: the month and assignment bodies, a month path
parameter that 404s when it is not a month, the owner named in a body, and a
username or None."""

from datetime import date

from django.http import Http404
from ninja import Schema
from pydantic import Field

from fundpilot.money.ledger import parse_month
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused


class MonthIn(Schema):
    month: str = Field(description="YYYY-MM", examples=["2026-03"])


class AssignmentIn(Schema):
    owner: str = Field(description="the owner's username")
    due: date


def username_of(user: User | None) -> str | None:
    return user.username if user is not None else None


def month_or_404(text: str) -> date:
    try:
        return parse_month(text)
    except Refused:
        raise Http404(f"no month '{text}'") from None


def person_in(pilot: Pilot, username: str) -> User:
    """The active user `username`, if they hold a role in the pilot (to own work)."""
    found = User.objects.filter(username=username, is_active=True).first()
    if found is None or not policy.roles_in(found, pilot):
        raise Refused("unknown_person", f"nobody '{username}' holds a role here", "owner")
    return found
