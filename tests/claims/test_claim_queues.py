"""Claims in the work queues (C8, C9, C10), contributed by the claims app through the
queue's source registry: exact items, buckets, due dates and business days late.

recovery-2026 counts Oregon business days. P-0001's M3 is submitted on Tuesday 10
March 2026 and due Tuesday 17 March. discharge-2026's T1 is rejected on Friday 13
March and may be cured until Sunday 12 April (30 calendar days).
"""

from datetime import UTC, date, datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext

from fundpilot.claims.actions.claims import review_readiness
from fundpilot.claims.actions.contract import draft_contract_claim
from fundpilot.claims.actions.verification import verify_claim
from fundpilot.participants import queries
from fundpilot.participants.queries import QueueItem
from fundpilot.pilots.models import User
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import draft, submitted_claim
from tests.claims.test_verification import (
    C1_AT,
    C1_DECIDED,
    LATE,
    M3_MET,
    ON_TIME,
    SUBMITTED,
    contract_claim,
)
from tests.conftest import make_person

VERIFY_M3 = "/pilots/recovery-2026/claims/P-0001/M3/1/verification/"


def claim_items(queue, control: str) -> dict[str, list[QueueItem]]:
    """A queue's items of one control, per bucket."""
    return {
        bucket: [i for i in getattr(queue, bucket) if i.control == control]
        for bucket in ("overdue", "due_today", "waiting", "upcoming")
    }


def test_the_verifier_sees_a_submitted_claim_by_its_due_date(
    pathway_participant, staff, verifier, pilot
):
    # given P-0001's M3 submitted Tuesday 10 March, due Tuesday 17 March
    submitted_claim(pathway_participant, "M3", staff, SUBMITTED)
    item = QueueItem("C9", "P-0001", "Verify M3 claim P-0001/M3/1", date(2026, 3, 17), 0, VERIFY_M3)
    # when the verifier looks on Thursday 12, Tuesday 17 and Thursday 19 March
    thursday = queries.work_queue(verifier, pilot, today=date(2026, 3, 12))
    due_day = queries.work_queue(verifier, pilot, today=date(2026, 3, 17))
    late = queries.work_queue(verifier, pilot, today=date(2026, 3, 19))
    # then it is upcoming, then due today, then overdue by two business days
    assert (thursday.upcoming, thursday.due_today, thursday.overdue) == ([item], [], [])
    assert (due_day.upcoming, due_day.due_today, due_day.overdue) == ([], [item], [])
    assert late.overdue == [QueueItem(**(item.__dict__ | {"late_days": 2}))]
    assert late.totals == {"overdue": 1, "due_today": 0, "waiting": 0, "upcoming": 0}


def test_a_decided_claim_leaves_the_verifiers_queue(pathway_participant, staff, verifier, pilot):
    # given M3 submitted, then verified late on Thursday 19 March
    claim = submitted_claim(pathway_participant, "M3", staff, SUBMITTED)
    verify_claim(claim=claim, outcome="verified", checklist=M3_MET, by=verifier, at=LATE)
    # when the verifier looks that day, then nothing is left
    assert queries.work_queue(verifier, pilot, today=date(2026, 3, 19)).empty


def test_a_verifier_does_not_see_their_own_organisations_claims(
    pathway_participant, staff, verifier, pilot, provider
):
    # given M3 submitted, and the verifier since moved to riverside, which delivered it
    submitted_claim(pathway_participant, "M3", staff, SUBMITTED)
    User.objects.filter(pk=verifier.pk).update(organisation=provider)
    moved = User.objects.get(pk=verifier.pk)
    # when they look at their queue, then M3 is not theirs to verify
    assert claim_items(queries.work_queue(moved, pilot, today=date(2026, 3, 12)), "C9") == {
        "overdue": [],
        "due_today": [],
        "waiting": [],
        "upcoming": [],
    }


def test_the_claimant_sees_their_claim_waiting_on_the_verifier_and_its_breach(
    pathway_participant, staff, pilot
):
    # given M3 drafted and submitted by the frontline lead
    submitted_claim(pathway_participant, "M3", staff, SUBMITTED)
    # when the frontline lead looks on Thursday 19 March, past the due date
    queue = queries.work_queue(staff[Role.FRONTLINE], pilot, today=date(2026, 3, 19))
    # then M3 waits on the independent verifier, two business days late
    assert claim_items(queue, "C9")["waiting"] == [
        QueueItem(
            "C9",
            "P-0001",
            "Your M3 claim P-0001/M3/1 awaits verification",
            date(2026, 3, 17),
            2,
            "/pilots/recovery-2026/claims/P-0001/M3/1/",
            "independent verifier",
        )
    ]


def test_the_supervisor_reviews_others_drafts_for_readiness(pathway_participant, staff, pilot):
    # given an M1 draft by the frontline lead
    m1 = draft(pathway_participant, "M1", staff, SUBMITTED)
    # when the supervisor looks
    queue = queries.work_queue(staff[Role.SUPERVISOR], pilot, today=date(2026, 3, 10))
    # then it is theirs to review, with no deadline
    assert claim_items(queue, "C8")["upcoming"] == [
        QueueItem(
            "C8",
            "P-0001",
            "Readiness review of M1 claim P-0001/M1/1",
            None,
            0,
            "/pilots/recovery-2026/claims/P-0001/M1/1/readiness/",
        )
    ]
    # and once reviewed it leaves the queue
    review_readiness(claim=m1, by=staff[Role.SUPERVISOR], at=ON_TIME)
    after = queries.work_queue(staff[Role.SUPERVISOR], pilot, today=date(2026, 3, 12))
    assert claim_items(after, "C8")["upcoming"] == []


def test_nobody_reviews_their_own_draft(pathway_participant, staff, pilot):
    # given an M1 draft by the supervisor themself
    draft(pathway_participant, "M1", {Role.FRONTLINE: staff[Role.SUPERVISOR]}, SUBMITTED)
    # when they look, then it is not theirs to review
    queue = queries.work_queue(staff[Role.SUPERVISOR], pilot, today=date(2026, 3, 10))
    assert claim_items(queue, "C8")["upcoming"] == []


def test_another_providers_supervisor_sees_no_draft(
    pathway_participant, staff, pilot, admin, other_provider
):
    # given riverside's M1 draft and a northstar supervisor
    draft(pathway_participant, "M1", staff, SUBMITTED)
    northstar = make_person("ns-supervisor", other_provider, admin, Role.SUPERVISOR, pilot)
    # when they look, then riverside's draft is not in their queue
    assert queries.work_queue(northstar, pilot, today=date(2026, 3, 10)).empty


def test_a_rejected_tranche_stays_in_the_queue_through_its_cure_period(
    contract_pilot, contract_staff
):
    # given T1 (C1) rejected on Friday 13 March, curable until Sunday 12 April
    claim = contract_claim(contract_pilot, contract_staff, C1_AT)
    verify_claim(
        claim=claim,
        outcome="rejected",
        checklist=[{"kind": "protocol", "met": False}, {"kind": "governance", "met": True}],
        reason_codes=["VR-PAPER"],
        by=contract_staff[Role.VERIFIER],
        at=C1_DECIDED,
    )
    compliance = contract_staff[Role.COMPLIANCE]
    item = QueueItem(
        "C10",
        "",
        "Cure and resubmit tranche T1 (claim T1/1)",
        date(2026, 4, 12),
        0,
        "/pilots/discharge-2026/claims/T1/1/",
    )
    # when compliance looks in March, on the last day, and the day after
    march = queries.work_queue(compliance, contract_pilot, today=date(2026, 3, 16))
    last_day = queries.work_queue(compliance, contract_pilot, today=date(2026, 4, 12))
    after = queries.work_queue(compliance, contract_pilot, today=date(2026, 4, 13))
    # then the cure is upcoming, then due today, then no longer open to them
    assert claim_items(march, "C10")["upcoming"] == [item]
    assert claim_items(last_day, "C10")["due_today"] == [item]
    assert claim_items(after, "C10") == {
        "overdue": [],
        "due_today": [],
        "waiting": [],
        "upcoming": [],
    }


def test_a_resubmitted_tranche_leaves_the_cure_queue(contract_pilot, contract_staff):
    # given T1 rejected on Friday 13 March and drafted again the Monday after
    claim = contract_claim(contract_pilot, contract_staff, C1_AT)
    verify_claim(
        claim=claim,
        outcome="rejected",
        checklist=[{"kind": "protocol", "met": False}, {"kind": "governance", "met": True}],
        reason_codes=["VR-PAPER"],
        by=contract_staff[Role.VERIFIER],
        at=C1_DECIDED,
    )
    compliance = contract_staff[Role.COMPLIANCE]
    draft_contract_claim(
        pilot=contract_pilot,
        milestone="C1",
        reached_on=date(2026, 3, 16),
        by=compliance,
        at=datetime(2026, 3, 16, 15, tzinfo=UTC),
    )
    # when compliance looks, then there is no cure left to do
    queue = queries.work_queue(compliance, contract_pilot, today=date(2026, 3, 16))
    assert claim_items(queue, "C10")["upcoming"] == []


def test_the_verifiers_queue_is_a_few_queries_whatever_the_number_of_claims(
    pathway_participant, staff, verifier, pilot
):
    # given one submitted claim, then two (the verifier's roles already looked up)
    def queries_to_read() -> int:
        with CaptureQueriesContext(connection) as captured:
            queries.work_queue(verifier, pilot, today=date(2026, 3, 12))
        return len(captured.captured_queries)

    submitted_claim(pathway_participant, "M3", staff, SUBMITTED)
    queries.work_queue(verifier, pilot, today=date(2026, 3, 12))
    one = queries_to_read()
    submitted_claim(pathway_participant, "M4", staff, SUBMITTED)
    # when the queue is read, then it takes as many queries for two as for one
    assert queries_to_read() == one
    assert queries.work_queue(verifier, pilot, today=date(2026, 3, 12)).totals["upcoming"] == 2
