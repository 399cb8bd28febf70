"""Helpers for the C9 post-payment sample audit: many sampled-tier claims paid in one
month, built through the real participant and claims actions.

    from tests.claims.sampling_fixtures import enrol, pay, MONTH, DRAWN

`enrol` admits, activates, reviews and releases the pathway of several recovery-2026
participants of riverside (P-0101, P-0102, … with members WV-0101, …); `pay` takes each
through evidence, draft, readiness review and submission of a sampled-tier milestone
(M1, or M2 after M1), so each claim is payable at once. Claims are submitted from
CLAIMED (Tuesday 10 March 2026) on, ten minutes apart: all payable in March 2026 in
Oregon, the period MONTH, which has ended by DRAWN (1 April 2026, 10:00 in Oregon).
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from fundpilot.claims.models import Claim, Sample, SampleAudit
from fundpilot.participants.actions import care
from fundpilot.participants.models import Participant
from fundpilot.pilots import actions
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import submitted_claim
from tests.conftest import NOW, example
from tests.participants.conftest import PAYER, activate, admit, load_register, reviewed

MONTH = "2026-03"
CLAIMED = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
DRAWN = datetime(2026, 4, 1, 17, 0, tzinfo=UTC)
AUDITED = DRAWN + timedelta(days=1)
APPRAISED = AUDITED + timedelta(days=1)
GAP = timedelta(minutes=10)
FIRST = 101
# The frontline lead may hold 25 active participants (caseload); the recovery lead 40.
FRONTLINE_CASELOAD = 25


def recovery_document(**changes: str) -> str:
    """functional-recovery.toml with its [sampling] lines changed, e.g. rate="50",
    design='"simple"'; a value of None-like "" removes the line."""
    text = example("functional-recovery")
    head, _, tail = text.partition("[sampling]\n")
    body, sep, rest = tail.partition("\n\n")
    lines = dict(line.split(" = ", 1) for line in body.splitlines())
    for key, value in changes.items():
        if value:
            lines[key] = value
        else:
            lines.pop(key, None)
    body = "\n".join(f"{k} = {v}" for k, v in lines.items())
    return f"{head}[sampling]\n{body}{sep}{rest}"


def recovery_pilot(admin: User, **changes: str) -> Pilot:
    """recovery-2026 with its sampling rule changed (see `recovery_document`)."""
    return actions.create_pilot(document=recovery_document(**changes), by=admin, at=NOW)


def register_csv(count: int, first: int = FIRST) -> str:
    rows = [f"WV-{n:04d},{PAYER},2026-01-01,2026-12-31,active" for n in range(first, first + count)]
    return "member_id,payer,coverage_start,coverage_end,status\n" + "\n".join(rows) + "\n"


def enrol(
    pilot: Pilot, staff: dict[Role, User], count: int, *, first: int = FIRST
) -> list[Participant]:
    """`count` riverside participants with their pathway released, ready to earn
    milestones from their activation (Tuesday 3 March 2026)."""
    load_register(pilot, staff[Role.COMPLIANCE], register_csv(count, first))
    made = []
    for n in range(first, first + count):
        participant = admit(
            pilot,
            staff,
            participant_id=f"P-{n:04d}",
            member_id=f"WV-{n:04d}",
            at=NOW + timedelta(minutes=n - first),
        )
        participant = activate(participant, staff)
        reviewed(participant, staff)
        lead = Role.FRONTLINE if n - first < FRONTLINE_CASELOAD - 1 else Role.RECOVERY_LEAD
        assert participant.activated_at is not None
        care.release_pathway(
            participant=participant,
            stage="S2",
            barrier_category="housing",
            lead=staff[lead],
            target_review_date=date(2026, 3, 13),
            escalation_code="ESC-CRISIS",
            by=staff[Role.RECOVERY_LEAD],
            at=participant.activated_at + timedelta(hours=1),
        )
        made.append(Participant.objects.get(pk=participant.pk))
    return made


def pay(
    participants: list[Participant],
    staff: dict[Role, User],
    milestone: str = "M1",
    *,
    at: datetime = CLAIMED,
) -> list[Claim]:
    """Each participant's `milestone` claimed and submitted (prerequisites first):
    payable at once, GAP apart from `at`."""
    return [submitted_claim(p, milestone, staff, at + n * GAP) for n, p in enumerate(participants)]


def differences(sample: Sample) -> dict[str, list[Decimal]]:
    """paid − supported of each item's current audit, by stratum, in draw order."""
    found: dict[str, list[Decimal]] = {}
    for item in sample.items.order_by("position"):
        audit = SampleAudit.objects.get(item=item, superseded_by__isnull=True)
        found.setdefault(item.stratum, []).append(audit.paid_amount - audit.supported_amount)
    return found
