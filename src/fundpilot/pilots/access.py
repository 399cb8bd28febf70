"""How HTTP views and API operations ask the policy.

Every view and operation is tagged with the permission it needs (`@permission`),
so the policy walk test can ask the policy what each role should get and compare
it with what the endpoint actually answers.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from django.http import Http404

from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot
from fundpilot.rules.vocabulary import Role

F = TypeVar("F", bound=Callable[..., Any])


def permission(perm: str) -> Callable[[F], F]:
    """Tag a view or API operation with the permission it enforces."""

    def tag(func: F) -> F:
        func.fundpilot_permission = perm  # type: ignore[attr-defined]
        return func

    return tag


def pilot_for(user: Any, slug: str, perm: str) -> tuple[Pilot, Role | None]:
    """The pilot, if the user may `perm` in it; 404 for a pilot that does not exist."""
    pilot = Pilot.objects.filter(slug=slug).first()
    if pilot is None:
        raise Http404(f"no pilot '{slug}'")
    return pilot, policy.require(user, perm, pilot)
