"""The one permission policy: every view, endpoint and command asks here.

A permission is granted to roles. A role is held in a pilot (Membership.pilot) or
system-wide (pilot NULL: administrators and auditors of the whole installation).
Predicates come from `rules`, so separation-of-duties checks compose with roles.
"""

from typing import Any

from django.db.models import QuerySet

import rules
from fundpilot.pilots.models import Membership, Pilot, User
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import Role

EVERY_ROLE = frozenset(Role)
OVERSIGHT = frozenset(
    {
        Role.AUDITOR,
        Role.ADMINISTRATOR,
        Role.COMPLIANCE,
        Role.FINANCE,
        Role.ASSURANCE_REVIEWER,
        Role.BOARD_CHAIR,
        Role.EXECUTIVE_SPONSOR,
        Role.PAYER_REP,
    }
)

# Permissions within a pilot: which roles hold them.
PILOT_PERMISSIONS: dict[str, frozenset[Role]] = {
    "pilot.view": EVERY_ROLE,
    "rulebook.view": EVERY_ROLE,
    "audit.view": OVERSIGHT,
    "audit.verify": OVERSIGHT,
    "audit.checkpoint": frozenset({Role.ADMINISTRATOR}),
    "rulebook.amend": frozenset({Role.ADMINISTRATOR}),
    "party.manage": frozenset({Role.ADMINISTRATOR}),
    "role.grant": frozenset({Role.ADMINISTRATOR}),
}
# Permissions over the installation: held through a system-wide membership.
SYSTEM_PERMISSIONS: dict[str, frozenset[Role]] = {
    "pilot.create": frozenset({Role.ADMINISTRATOR}),
    "organisation.manage": frozenset({Role.ADMINISTRATOR}),
    "user.manage": frozenset({Role.ADMINISTRATOR}),
    "system.audit.view": frozenset({Role.ADMINISTRATOR, Role.AUDITOR}),
}
PUBLIC = "public"  # declared by views anyone may open (login, health)
AUTHENTICATED = "authenticated"  # any signed-in person (home, own tokens)


def roles_in(user: Any, pilot: Pilot | None) -> frozenset[Role]:
    """The roles a user holds in a pilot (system-wide roles count everywhere)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cache: dict[int | None, frozenset[Role]] = user.__dict__.setdefault("_fp_roles", {})
    key = pilot.pk if pilot else None
    if key not in cache:
        rows = Membership.objects.filter(user=user).values_list("role", "pilot_id")
        cache[key] = frozenset(Role(role) for role, pid in rows if pid is None or pid == key)
    return cache[key]


def _has_permission(perm: str) -> rules.Predicate:
    table = SYSTEM_PERMISSIONS if perm in SYSTEM_PERMISSIONS else PILOT_PERMISSIONS

    @rules.predicate(name=perm)
    def check(user: Any, pilot: Pilot | None) -> bool:
        return bool(roles_in(user, pilot) & table[perm])

    return check


policy = rules.RuleSet()
for _perm in (*PILOT_PERMISSIONS, *SYSTEM_PERMISSIONS):
    policy.add_rule(_perm, _has_permission(_perm))


def allowed(user: Any, perm: str, pilot: Pilot | None = None) -> bool:
    if perm == PUBLIC:
        return True
    if perm == AUTHENTICATED:
        return bool(getattr(user, "is_authenticated", False) and user.is_active)
    if perm in PILOT_PERMISSIONS and pilot is None:
        raise ValueError(f"{perm} is decided per pilot")
    return bool(policy.test_rule(perm, user, pilot))


def require(user: Any, perm: str, pilot: Pilot | None = None) -> Role | None:
    """Refuse unless permitted; return the role the user acts in (for the audit record)."""
    if not allowed(user, perm, pilot):
        where = f" in pilot {pilot.slug}" if pilot else ""
        raise NotPermitted("not_permitted", f"you may not {perm}{where}")
    table = SYSTEM_PERMISSIONS.get(perm) or PILOT_PERMISSIONS.get(perm)
    if table is None:
        return None
    return min(roles_in(user, pilot) & table, key=list(Role).index)


def visible_pilots(user: User) -> QuerySet[Pilot]:
    """Pilots in which the user holds any role; all of them for system-wide roles."""
    if roles_in(user, None):
        return Pilot.objects.order_by("name")
    return Pilot.objects.filter(members__user=user).distinct().order_by("name")
