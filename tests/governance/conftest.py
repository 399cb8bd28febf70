"""A pilot with six simulated months (January–June 2026) of referrals, claims and money,
made once per test module through the real actions and committed, so each test reads it
(and its own writes roll back); the module's end flushes the database."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection

from fundpilot import demo
from fundpilot.audit import append_only
from fundpilot.claims.simulate import simulate_claims
from fundpilot.governance import models
from fundpilot.money.simulate import simulate_money
from fundpilot.participants.simulate import simulate
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from tests.conftest import row_counts

UNTIL = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
SEED = 7


@dataclass(frozen=True)
class History:
    pilot: Pilot
    people: dict[str, User]  # the demo's people by username (payer reps: payer-<initials>)
    until: datetime


def make_history(
    slug: str = "recovery-2026", participants: int = 60, until: datetime = UNTIL
) -> History:
    demo.load(history=False)
    pilot = Pilot.objects.get(slug=slug)
    sim = simulate(pilot=pilot, participants=participants, months=6, seed=SEED, until=until)
    simulate_claims(pilot=pilot, seed=SEED, until=sim.until)
    simulate_money(pilot=pilot, seed=SEED, since=sim.start.date(), until=sim.until)
    return History(pilot, {u.username: u for u in User.objects.all()}, sim.until)


def snapshot() -> dict[str, int]:
    """Row counts of every governance table, notifications and the audit log."""
    return row_counts(models)


def refused(code: str, action: Callable[..., object], **kwargs: object) -> Refused:
    """`action(**kwargs)` is refused with `code` and writes nothing."""
    before = snapshot()
    with pytest.raises(Refused) as caught:
        action(**kwargs)
    assert caught.value.code == code, caught.value
    assert snapshot() == before
    return caught.value


def flush_committed() -> None:
    """Empty the database the module committed to (the append-only triggers would refuse
    it, so they are lifted for the flush and put back)."""
    append_only.remove_all(connection)
    call_command("flush", interactive=False, verbosity=0)
    append_only.install_all(connection)


@pytest.fixture(scope="module")
def history(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> Iterator[History]:
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        made = make_history()
    yield made
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        flush_committed()
