"""Login lockouts (django-axes): the lock is written to the audit log, and an
administrator can lift it.

The lock itself is django-axes' (failures per username and address, see settings); a
failed login is no decision, so it is not an action. The moment an account becomes
locked is, for the security record, so the signal appends it to the system chain in its
own transaction.
"""

from datetime import datetime
from typing import Any

from axes.models import AccessAttempt
from axes.signals import user_locked_out
from axes.utils import reset
from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from fundpilot.audit import log
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import User
from fundpilot.rules.errors import Refused


@receiver(user_locked_out)
def record_lock(sender: Any, request: Any, username: str | None, ip_address: str, **_: Any) -> None:
    failures = getattr(request, "axes_failures_since_start", None)
    if failures != settings.AXES_FAILURE_LIMIT:
        return  # a further attempt during the lock: already recorded when it began
    with transaction.atomic():
        log.append(
            chain=log.SYSTEM_CHAIN,
            actor=log.Actor(username or "", "", ""),
            action="login.locked",
            subject=f"user:{username}",
            at=timezone.now(),
            payload={"ip_address": ip_address, "failures": failures},
        )


def locked(username: str) -> list[AccessAttempt]:
    """The current lock records of a username (one per address)."""
    return list(
        AccessAttempt.objects.filter(
            username=username, failures_since_start__gte=settings.AXES_FAILURE_LIMIT
        )
    )


def lift_lockout(*, username: str, by: User, at: datetime) -> int:
    """An administrator lifts a lock; returns how many address locks were lifted."""
    role = policy.require(by, "user.manage")
    addresses = sorted(a.ip_address or "" for a in locked(username))
    if not addresses:
        raise Refused("not_locked", f"'{username}' is not locked out", "username")
    with transaction.atomic(durable=True):
        reset(username=username)
        log.append(
            chain=log.SYSTEM_CHAIN,
            actor=actor(by, role),
            action="login.unlock",
            subject=f"user:{username}",
            at=at,
            payload={"ip_addresses": addresses},
        )
    return len(addresses)
