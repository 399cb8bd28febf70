"""How HTTP views and API operations ask the policy.

Every view and operation is tagged with the permission it needs (`@permission`),
so the policy walk test can ask the policy what each role should get and compare
it with what the endpoint actually answers.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted
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


def page(perm: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Sign-in, then the policy: a pilot page gets the Pilot and the viewer's role."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @permission(perm)
        @wraps(view)
        def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                if "pilot" in kwargs:
                    kwargs["pilot"], _ = pilot_for(request.user, kwargs["pilot"], perm)
                elif not policy.allowed(request.user, perm):
                    raise NotPermitted("not_permitted", f"you may not {perm}")
                return view(request, **kwargs)
            except NotPermitted as exc:  # also organisation scoping refused inside the view
                return render(request, "web/forbidden.html", {"reason": exc.message}, status=403)

        return wrapped

    return decorate


def pilot_context(request: HttpRequest, pilot: Any, section: str) -> dict[str, Any]:
    return {
        "pilot": pilot,
        "section": section,
        "roles": sorted(r.label for r in policy.roles_in(request.user, pilot)),
        "can_audit": policy.allowed(request.user, "audit.view", pilot),
    }
