"""Helpers for payment runs (C13), built through the real actions where they exist.

    from tests.money.payment_fixtures import blended_world, fund, level, episode

`blended_world` is blended-2026 (PMPM and episodes, payer php) with riverside staff
("bl-<role>"), a pilot-office finance officer ("bl-finance", release_payment up to
$400,000) and two participants activated on Tuesday 3 March 2026 (12:00 in North
Carolina): B-0001 and B-0002. Service levels, removals and episodes are set per test
with `level`, `remove` and `episode`, at the instants the test names.

Funds: `fund` commits a payer's contribution and receives cash for its uses with
`ledger.post` directly (the chart of accounts' commitment and receipt postings).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import transaction

from fundpilot.money import ledger
from fundpilot.money.ledger import Leg, Posting
from fundpilot.money.models import Transaction
from fundpilot.participants.actions import care, intake
from fundpilot.participants.models import Activity, Participant, ServiceLevelRequest
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation
from tests.participants.care_fixtures import BLENDED_PAYER, admit_blended, blended_staff

D = Decimal
MARCH = date(2026, 3, 1)
APRIL = date(2026, 4, 1)
# Runs happen after the month they pay for, in the pilot's time zone.
RUN_AT = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


def at_noon(day: date) -> datetime:
    """Noon in North Carolina (16:00/17:00 UTC): the same local day whatever DST says."""
    return datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)


def fund(
    pilot: Pilot, payer: str, by_use: dict[str, str], *, ref: str = "R1", on: date = MARCH
) -> None:
    """Commit the payer's rulebook contribution (once) and receive cash for its uses."""
    contribution = next(p.contribution for p in pilot.rulebook.payers if p.id == payer)
    total = sum((D(v) for v in by_use.values()), D(0))
    with transaction.atomic():
        commit = f"commit:{pilot.slug}:{payer}"
        if not ledger.basis_posted([commit]):
            ledger.post(
                pilot,
                Posting(
                    kind=Transaction.COMMITMENT,
                    basis_key=commit,
                    legs=[
                        Leg(f"receivable:{payer}", contribution),
                        Leg(f"contribution:{payer}", -contribution),
                    ],
                    effective_on=on,
                ),
                by=None,
                at=NOW,
            )
        ledger.post(
            pilot,
            Posting(
                kind=Transaction.RECEIPT,
                basis_key=f"receipt:{pilot.slug}:{payer}:{ref}",
                legs=[
                    *(Leg(f"fund:{payer}:{use}", D(v)) for use, v in by_use.items()),
                    Leg(f"receivable:{payer}", -total),
                ],
                effective_on=on,
            ),
            by=None,
            at=NOW,
        )


@dataclass
class Blended:
    pilot: Pilot
    staff: dict[Role, User]
    finance: User
    b1: Participant
    b2: Participant


def blended_world(
    admin: User,
    provider: Organisation,
    other_provider: Organisation,
    *,
    document: str | None = None,
) -> Blended:
    """blended-2026 (or `document`, a variant of it) with B-0001 and B-0002 activated."""
    pilot = actions.create_pilot(document=document or example("blended-rate"), by=admin, at=NOW)
    payer = organisation("php-health", OrgKind.PAYER, admin)
    for org, payer_id in ((provider, ""), (other_provider, ""), (payer, BLENDED_PAYER)):
        actions.add_party(pilot=pilot, organisation=org, payer_id=payer_id, by=admin, at=NOW)
    staff = blended_staff(pilot, admin, provider)
    finance = make_person("bl-finance", admin.organisation, admin, Role.FINANCE, pilot)
    b1 = admit_blended(pilot, staff)
    b2 = admit_blended(pilot, staff, participant_id="B-0002", member_id="PHP-0002")
    return Blended(pilot, staff, finance, b1, b2)


SECOND_PAYER = """[[payers]]
id = "county"
name = "Guilford County Health"
kind = "public_health"
contribution = "200000.00"
reporting_cadence = "quarterly"
allowable_uses = [{ code = "care_management", label = "PMPM care management" }]

"""


def blended_document(proration: str = "daily", pmpm_split: str = "") -> str:
    """blended-rate.toml with its proration rule and, optionally, its PMPM split changed
    (then a second payer, county, with a care_management use, joins)."""
    text = example("blended-rate").replace('proration = "daily"', f'proration = "{proration}"')
    if pmpm_split:
        text = text.replace("[payment_split]", SECOND_PAYER + "[payment_split]")
        text = text.replace(  # finance releases payments of both payers
            'role = "finance"\npayers = ["php"]', 'role = "finance"\npayers = "*"'
        )
        text = text.replace(
            'pmpm = [{ payer = "php", use = "care_management", share = 100 }]', pmpm_split
        )
    return text


def level(
    world: Blended, participant: Participant, code: str, approved_on: date
) -> ServiceLevelRequest:
    """The level requested the day before and approved by the clinical lead at noon
    (pilot time) on `approved_on`: initial when the participant has none, else upgrade."""
    participant = Participant.objects.get(pk=participant.pk)
    kind = "upgrade" if participant.service_level else "initial"
    request = care.request_service_level(
        participant=participant,
        level=code,
        kind=kind,
        evidence="LOCUS level 4",
        triggers=("safeguarding",) if kind == "upgrade" else (),
        by=world.staff[Role.FRONTLINE],
        at=at_noon(approved_on) - timedelta(hours=2),
    )
    return care.decide_service_level(
        request=request,
        approve=True,
        rationale="meets the level's criteria",
        expected_duration_days=90,
        by=world.staff[Role.CLINICAL_LEAD],
        at=at_noon(approved_on),
    )


def remove(world: Blended, participant: Participant, on: date) -> None:
    intake.remove_from_roster(
        participant=Participant.objects.get(pk=participant.pk),
        reason_code="RM-MOVED",
        note="moved away",
        by=world.staff[Role.ACTIVATION_APPROVER],
        at=at_noon(on),
    )


def episode(world: Blended, participant: Participant, code: str, on: date) -> Activity:
    """An episode activity recorded by frontline at noon on `on` (billable if its
    criteria hold)."""
    return care.record_activity(
        participant=Participant.objects.get(pk=participant.pk),
        activity_type=code,
        occurred_at=at_noon(on),
        by=world.staff[Role.FRONTLINE],
        at=at_noon(on) + timedelta(hours=1),
    )


def days_pay(rate: Decimal, days: int, days_in_month: int) -> Decimal:
    """The daily proration, computed independently of the code under test."""
    return rate * days / days_in_month


def cents(amount: Decimal) -> Decimal:
    from decimal import ROUND_HALF_EVEN

    return amount.quantize(D("0.01"), rounding=ROUND_HALF_EVEN)
