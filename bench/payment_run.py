"""A payment run for 100,000 participants (PMPM + episodes + milestones); print its time.

    uv run python -m bench payment_run [--participants N] [--seed S] [--keep]

The database is fresh (SQLite in a temporary FUNDPILOT_HOME, or with
DATABASE_URL=postgres://… a new schema dropped afterwards). The pilot is blended-2026
with its contribution and finance's release_payment limit raised to fit a state-wide
programme ($60M, $100M), created through the real actions with its parties, a finance
officer and the payer's cash received through the ledger. The lifecycle data is
bulk-inserted (not through actions — they are not what is measured): N participants of
four providers activated in February 2026, each at SL1 from 1 February (15% upgraded to
SL2 in mid-March, 2% removed from the roster in mid-March), billable EP-TRANSITION
episodes in March for 30% of them, and payable milestone claims in March for 20%
(a made-up participant milestone, $450, charged to php's care management), 1% of them
with a recoupment.

Measured: `run_payments` for March 2026 — due, hold, rights, one database transaction
posting every basis, recoupment and remittance — then the same run again, which must
find nothing. Target: under 60 s on SQLite for 100,000 participants.
"""

import argparse
import random
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.import_register import drop_schema, fresh_database

ROOT = Path(__file__).resolve().parents[1]
PROVIDERS = ("riverside", "northstar", "eastgate", "harbor")
ACTIVATED = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
SL1_AT = datetime(2026, 2, 1, 17, 0, tzinfo=UTC)
UPGRADED = datetime(2026, 3, 16, 17, 0, tzinfo=UTC)
REMOVED = datetime(2026, 3, 17, 17, 0, tzinfo=UTC)
RUN_AT = datetime(2026, 4, 6, 15, 0, tzinfo=UTC)
MILESTONE_PRICE = Decimal("450.00")
BATCH = 5000


def setup_pilot() -> tuple[Any, Any, dict[str, Any]]:
    """blended-2026 (limits raised), its parties, a finance officer; the payer's cash."""
    from django.db import transaction

    from fundpilot.money import ledger
    from fundpilot.money.ledger import Leg, Posting
    from fundpilot.money.models import Transaction
    from fundpilot.pilots import actions
    from fundpilot.rules.vocabulary import OrgKind, Role

    at = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    office = actions.create_organisation(
        code="pilot-office", name="Pilot Office", kind=OrgKind.PILOT_OFFICE, by=None, at=at
    )
    admin = actions.create_user(
        username="admin", organisation=office, password="bench-passphrase-2026", by=None, at=at
    )
    actions.grant_role(user=admin, role=Role.ADMINISTRATOR, pilot=None, by=None, at=at)
    document = (
        (ROOT / "examples" / "blended-rate.toml")
        .read_text()
        .replace('contribution = "3600000.00"', 'contribution = "60000000.00"')
        .replace('max_amount = "400000.00"', 'max_amount = "100000000.00"')
    )
    pilot = actions.create_pilot(document=document, by=admin, at=at)
    orgs = {}
    for code in PROVIDERS:
        orgs[code] = actions.create_organisation(
            code=code, name=code.title(), kind=OrgKind.PROVIDER, by=admin, at=at
        )
        actions.add_party(pilot=pilot, organisation=orgs[code], by=admin, at=at)
    payer = actions.create_organisation(
        code="php-health", name="PHP", kind=OrgKind.PAYER, by=admin, at=at
    )
    actions.add_party(pilot=pilot, organisation=payer, payer_id="php", by=admin, at=at)
    finance = actions.create_user(
        username="finance", organisation=office, password="bench-passphrase-2026", by=admin, at=at
    )
    actions.grant_role(user=finance, role=Role.FINANCE, pilot=pilot, by=admin, at=at)
    staff = actions.create_user(
        username="frontline",
        organisation=orgs["riverside"],
        password="bench-passphrase-2026",
        by=admin,
        at=at,
    )
    cash = {"care_management": Decimal("45000000.00"), "episodes": Decimal("15000000.00")}
    total = sum(cash.values(), Decimal(0))
    with transaction.atomic():
        ledger.post(
            pilot,
            Posting(
                kind=Transaction.COMMITMENT,
                basis_key=f"commit:{pilot.slug}:php",
                legs=[Leg("receivable:php", total), Leg("contribution:php", -total)],
                effective_on=at.date(),
            ),
            by=finance,
            at=at,
        )
        ledger.post(
            pilot,
            Posting(
                kind=Transaction.RECEIPT,
                basis_key=f"receipt:{pilot.slug}:php:BENCH",
                legs=[
                    *(Leg(f"fund:php:{use}", amount) for use, amount in cash.items()),
                    Leg("receivable:php", -total),
                ],
                effective_on=at.date(),
            ),
            by=finance,
            at=at,
        )
    return pilot, finance, {"orgs": orgs, "admin": admin, "staff": staff}


def bulk_world(pilot: Any, people: dict[str, Any], count: int, seed: int) -> dict[str, int]:
    """The lifecycle rows a payment run reads, bulk-inserted."""
    from fundpilot.claims.models import Claim, Recoupment
    from fundpilot.participants.models import (
        Activity,
        Participant,
        Referral,
        RosterRemoval,
        ServiceLevelRequest,
    )

    rng = random.Random(seed)
    admin, staff, orgs = people["admin"], people["staff"], list(people["orgs"].values())
    version = pilot.current.number
    ids = [f"B-{n:06d}" for n in range(count)]
    providers = [orgs[n % len(orgs)] for n in range(count)]
    Referral.objects.bulk_create(
        (
            Referral(
                pilot=pilot,
                reference=f"REF-{pid}",
                participant_id=pid,
                payer_id="php",
                member_id=f"PHP-{pid}",
                source="PCP",
                provider=org,
                service_category="COMPLEX-CM",
                referred_at=ACTIVATED - timedelta(days=3),
                received_by=admin,
                file_due=date(2026, 1, 30),
            )
            for pid, org in zip(ids, providers, strict=True)
        ),
        batch_size=BATCH,
    )
    referrals = dict(Referral.objects.filter(pilot=pilot).values_list("participant_id", "pk"))
    upgraded = set(rng.sample(ids, count * 15 // 100))
    Participant.objects.bulk_create(
        (
            Participant(
                pilot=pilot,
                participant_id=pid,
                referral_id=referrals[pid],
                provider=org,
                status=Participant.ACTIVATED,
                baseline_score=Decimal("3.20"),
                activated_at=ACTIVATED,
                service_level="SL2" if pid in upgraded else "SL1",
            )
            for pid, org in zip(ids, providers, strict=True)
        ),
        batch_size=BATCH,
    )
    pks = dict(Participant.objects.filter(pilot=pilot).values_list("participant_id", "pk"))

    def level(pid: str, code: str, kind: str, at: datetime) -> ServiceLevelRequest:
        return ServiceLevelRequest(
            participant_id=pks[pid],
            kind=kind,
            level=code,
            evidence="bench",
            status=ServiceLevelRequest.APPROVED,
            approver=admin,
            approved_at=at,
            expected_duration_days=90,
            decided_by=staff,
            decided_at=at - timedelta(hours=2),
            rulebook_version=version,
        )

    ServiceLevelRequest.objects.bulk_create(
        [level(pid, "SL1", "initial", SL1_AT) for pid in ids]
        + [level(pid, "SL2", "upgrade", UPGRADED) for pid in sorted(upgraded)],
        batch_size=BATCH,
    )
    removed = rng.sample(ids, count * 2 // 100)
    RosterRemoval.objects.bulk_create(
        (
            RosterRemoval(
                participant_id=pks[pid],
                reason_code="RM-MOVED",
                decided_by=admin,
                decided_at=REMOVED,
                rulebook_version=version,
            )
            for pid in removed
        ),
        batch_size=BATCH,
    )
    Participant.objects.filter(pilot=pilot, participant_id__in=removed).update(
        status=Participant.REMOVED
    )
    episodes = rng.sample(ids, count * 30 // 100)
    Activity.objects.bulk_create(
        (
            Activity(
                participant_id=pks[pid],
                activity_type="EP-TRANSITION",
                occurred_at=datetime(2026, 3, 1 + rng.randrange(28), 16, 0, tzinfo=UTC),
                recorded_by=staff,
                baseline=False,
                episode="EP-TRANSITION",
                billable=True,
                rulebook_version=version,
            )
            for pid in episodes
        ),
        batch_size=BATCH,
    )
    earned = rng.sample(ids, count * 20 // 100)
    org_of = dict(zip(ids, providers, strict=True))
    split = [{"payer": "php", "use": "care_management", "share": "100", "amount": "450.00"}]
    Claim.objects.bulk_create(
        (
            Claim(
                pilot=pilot,
                reference=f"{pid}/M1/1",
                milestone="M1",
                scope="participant",
                tier="sampled",
                participant_id=pks[pid],
                provider=org_of[pid],
                amount=MILESTONE_PRICE,
                reached_on=date(2026, 3, 9),
                status=Claim.PAYABLE,
                drafted_by=staff,
                drafted_at=datetime(2026, 3, 9, 15, 0, tzinfo=UTC),
                rulebook_version=version,
                payable_amount=MILESTONE_PRICE,
                payable_at=datetime(2026, 3, 10 + rng.randrange(15), 15, 0, tzinfo=UTC),
                payer_split=split,
                basis_key=f"milestone:{pilot.slug}:{pid}:M1:1",
            )
            for pid in earned
        ),
        batch_size=BATCH,
    )
    recouped = list(Claim.objects.filter(pilot=pilot).order_by("pk")[: count // 100])
    Recoupment.objects.bulk_create(
        (
            Recoupment(
                pilot=pilot,
                claim=claim,
                provider_id=claim.provider_id,
                amount=Decimal("150.00"),
                reason=Recoupment.SAMPLE_AUDIT,
                basis_key=f"recoup:bench:{claim.pk}",
                created_by=admin,
                created_at=datetime(2026, 3, 27, 15, 0, tzinfo=UTC),
                rulebook_version=version,
            )
            for claim in recouped
        ),
        batch_size=BATCH,
    )
    return {
        "participants": count,
        "upgraded": len(upgraded),
        "removed": len(removed),
        "episodes": len(episodes),
        "claims": len(earned),
        "recoupments": len(recouped),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench payment_run")
    parser.add_argument("--participants", type=int, default=100_000, help="(100,000)")
    parser.add_argument("--seed", type=int, default=2026, help="generator seed (2026)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="fundpilot-bench-"))
    try:
        where = fresh_database(tmp / "home")
        from fundpilot.cli_kit import setup_django

        setup_django()
        print(f"database: {where}")
        started = time.perf_counter()
        pilot, finance, people = setup_pilot()
        made = bulk_world(pilot, people, args.participants, args.seed)
        print(
            f"set up in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{v:,} {k}" for k, v in made.items())
        )

        from fundpilot.money.actions.payments import run_payments
        from fundpilot.money.models import Entry, Transaction

        started = time.perf_counter()
        result = run_payments(pilot=pilot, month=date(2026, 3, 1), by=finance, at=RUN_AT)
        seconds = time.perf_counter() - started
        transactions = Transaction.objects.filter(run=result.run).count()
        legs = Entry.objects.filter(transaction__run=result.run).count()
        kinds = ", ".join(f"{r['count']:,} {k}" for k, r in result.by_kind().items())
        print(
            f"run_payments 2026-03: {seconds:.2f} s — {kinds}; {transactions:,} transactions,"
            f" {legs:,} legs; gross {result.gross:,}, total {result.total:,},"
            f" {len(result.held)} held"
        )
        started = time.perf_counter()
        again = run_payments(pilot=pilot, month=date(2026, 3, 1), by=finance, at=RUN_AT)
        assert again.nothing_due and again.total == 0, again.as_dict()
        print(f"run again (nothing due): {time.perf_counter() - started:.2f} s")
    finally:
        drop_schema()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
