"""Money work in the work queues, contributed to `participants.queues`."""

from collections.abc import Iterable
from typing import Any

from fundpilot.participants.queues import Clock, Source, register_sources
from fundpilot.pilots.models import Pilot


def sources(user: Any, pilot: Pilot, clock: Clock) -> Iterable[Source]:
    return []


def register() -> None:
    register_sources(sources)
