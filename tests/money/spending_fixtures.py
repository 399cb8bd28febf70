"""Helpers for C12 tests on the pooled pilot (tests/money/conftest.py), through the real
actions: contributions committed and received by finance, spend requests asked by
riverside frontline (or whoever is named), and a riverside participant admitted through
the real intake actions.

    from tests.money.spending_fixtures import fund, ask, admit

Times: NOW is Monday 2 March 2026, 08:00 in Denver; exception reviews fall due 10
Colorado business days after the approval (Monday 16 March for an approval at NOW).
"""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fundpilot.money import ledger
from fundpilot.money.actions.contributions import commit_basis, commit_contribution
from fundpilot.money.actions.contributions import receive_contribution as receive
from fundpilot.money.actions.spending import request_spend
from fundpilot.money.models import SpendRequest
from fundpilot.participants.actions import intake
from fundpilot.participants.models import Participant
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from tests.conftest import NOW
from tests.money.conftest import money_snapshot

_receipts = iter(range(1, 10_000))


def fund(
    pilot: Pilot,
    staff: dict[str, User],
    payer: str,
    parts: dict[str, str],
    *,
    at: datetime = NOW,
    received_on: date | None = None,
) -> None:
    """Finance commits the payer's contribution (once) and receives `parts` by use."""
    finance = staff["po-finance"]
    if not ledger.basis_posted([commit_basis(pilot, payer)]):
        commit_contribution(pilot=pilot, payer=payer, by=finance, at=at)
    receive(
        pilot=pilot,
        payer=payer,
        reference=f"RCPT-{next(_receipts)}",
        allocations={use: Decimal(amount) for use, amount in parts.items()},
        received_on=received_on or pilot.calendar.local_date(at),
        by=finance,
        at=at,
    )


def ask(
    pilot: Pilot,
    staff: dict[str, User],
    *,
    by: str = "rs-frontline",
    payer: str = "fund",
    use: str = "transport",
    amount: str = "300.00",
    payee: Organisation | None = None,
    participant_id: str = "",
    at: datetime = NOW,
) -> SpendRequest:
    """A spend request; riverside (`by`'s organisation) is paid unless `payee` is named."""
    person = staff[by]
    return request_spend(
        pilot=pilot,
        payer=payer,
        use=use,
        amount=Decimal(amount),
        payee=payee or person.organisation,
        purpose="Bus passes to primary care appointments",
        participant_id=participant_id,
        by=person,
        at=at,
    )


def admit(pilot: Pilot, staff: dict[str, User], participant_id: str = "FR-0001") -> Participant:
    """An eligible riverside participant of the pooled pilot (Medicaid member)."""
    manager = staff["rs-enrollment_manager"]
    referral = intake.receive_referral(
        pilot=pilot,
        reference=f"REF-{participant_id}",
        participant_id=participant_id,
        payer_id="medicaid",
        member_id=f"M-{participant_id}",
        source="OUTREACH",
        provider=manager.organisation,
        service_category="HOMELESS-HU",
        referred_at=NOW,
        by=manager,
        at=NOW,
    )
    common = {"pilot": pilot, "participant_id": participant_id, "by": manager}
    baseline = intake.record_assessment(
        **common,
        kind="baseline",
        tool="ssm",
        tool_version="2.0",
        score=Decimal("30"),
        signed_by="Dr. Lee",
        signed_at=NOW,
        at=NOW + timedelta(minutes=5),
    )
    intake.file_eligibility(
        referral=referral,
        assessment=baseline,
        participant_id=participant_id,
        payer_status="not_in_register",  # the pooled pilot does not require one
        baseline_score=Decimal("30"),
        service_category="HOMELESS-HU",
        proposed_start=NOW.date() + timedelta(days=7),
        by=manager,
        at=NOW + timedelta(minutes=10),
    )
    return Participant.objects.get(pilot=pilot, participant_id=participant_id)


def refused_without_writing(code: str, action: Callable[..., Any], **kwargs: Any) -> Refused:
    """Call the action; assert it is refused with `code` and that nothing was written."""
    before = money_snapshot()
    with pytest.raises(Refused) as refusal:
        action(**kwargs)
    assert refusal.value.code == code, refusal.value
    assert money_snapshot() == before
    return refusal.value
