"""`{% may "perm" pilot as name %}`: ask the policy from a template (navigation)."""

from typing import Any

from django import template

from fundpilot.pilots import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def may(context: dict[str, Any], perm: str, pilot: Any) -> bool:
    request = context.get("request")
    user = getattr(request, "user", None)
    return user is not None and policy.allowed(user, perm, pilot)
