"""The HTTP API, /api/v1/ (OpenAPI at /api/v1/openapi.json).

Refused actions answer 422 with {code, message, field}; the policy's refusals 403.
Machine clients send `Authorization: Bearer <token>`; the pages' session works too.
"""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import APIKeyCookie, HttpBearer

from fundpilot.claims.api import routers as claims_routers
from fundpilot.governance.api import routers as governance_routers
from fundpilot.money.api import routers as money_routers
from fundpilot.participants.api import router as participants_router
from fundpilot.pilots.actions import token_digest
from fundpilot.pilots.api import router as pilots_router
from fundpilot.pilots.models import ApiToken
from fundpilot.rules.errors import NotPermitted, Refused


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        row = (
            ApiToken.objects.select_related("user")
            .filter(digest=token_digest(token), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        return row.user if row else None


class Session(APIKeyCookie):
    """The pages' login session (CSRF-checked by ninja for unsafe methods)."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        return user if user.is_authenticated else None


api = NinjaAPI(
    title="fundpilot",
    version="1",
    description="Integrated funding pilots: controls, evidence and money on one audited record.",
    auth=[BearerToken(), Session()],
    urls_namespace="api",
)
api.add_router("/pilots", pilots_router)
api.add_router("/pilots", participants_router)
for _router in (*claims_routers, *money_routers, *governance_routers):
    api.add_router("/pilots", _router)


def _error(
    request: HttpRequest, status: int, code: str, message: str, field: str | None = None
) -> HttpResponse:
    return api.create_response(
        request, {"code": code, "message": message, "field": field}, status=status
    )


@api.exception_handler(NotPermitted)
def not_permitted(request: HttpRequest, exc: NotPermitted) -> HttpResponse:
    return _error(request, 403, exc.code, exc.message, exc.field)


@api.exception_handler(Refused)
def refused(request: HttpRequest, exc: Refused) -> HttpResponse:
    return _error(request, 422, exc.code, exc.message, exc.field)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", str(exc) or "not found")


@api.exception_handler(ValidationError)
def invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "payload")]
    listing = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}" for e in exc.errors
    )
    return _error(request, 422, "invalid_input", listing, ".".join(loc) or None)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "unauthenticated", "sign in or send a bearer token")
