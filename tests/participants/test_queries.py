"""Read models: each role's work queue (exact items, buckets and business days late),
the monthly breach report (exact figures), a participant's timeline, and organisation
scoping. State is built through the real actions.

recovery-2026 counts Oregon business days; March 2026 has no Oregon holiday. NOW is
Monday 2 March 2026, 07:00 in Oregon.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fundpilot.participants import queries
from fundpilot.participants.actions import care, intake
from fundpilot.participants.models import Participant, Referral
from fundpilot.participants.queries import BreachRow, QueueItem
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, make_person
from tests.participants.care_fixtures import (
    admit_blended,
    blended_pilot,
    blended_staff,
)
from tests.participants.conftest import BASELINE_SCORE, activate, admit, reviewed

SLUG = "/pilots/recovery-2026"


def utc(day: int, hour: int = 18, month: int = 3) -> datetime:
    """A March 2026 instant; 18:00 UTC is 10:00 or 11:00 in Oregon, the same day."""
    return datetime(2026, month, day, hour, tzinfo=UTC)


def refer(
    pilot: Pilot, manager: User, participant_id: str, member_id: str, at: datetime
) -> Referral:
    return intake.receive_referral(
        pilot=pilot,
        reference=f"REF-{participant_id}",
        participant_id=participant_id,
        payer_id="wvch",
        member_id=member_id,
        source="ED",
        provider=manager.organisation,
        service_category="SMI-OP",
        referred_at=at,
        by=manager,
        at=at,
    )


def file(referral: Referral, manager: User, at: datetime) -> Participant:
    """A signed baseline when the referral came in, then the C1 file at `at`."""
    baseline = intake.record_assessment(
        pilot=referral.pilot,
        participant_id=referral.participant_id,
        kind="baseline",
        tool="whodas-12",
        tool_version="2.0",
        score=BASELINE_SCORE,
        signed_by="Dr. Rosa Diaz",
        signed_at=referral.referred_at,
        by=manager,
        at=referral.referred_at,
    )
    intake.file_eligibility(
        referral=referral,
        assessment=baseline,
        participant_id=referral.participant_id,
        payer_status="active",
        baseline_score=BASELINE_SCORE,
        service_category="SMI-OP",
        proposed_start=date(2026, 3, 16),
        by=manager,
        at=at,
    )
    return Participant.objects.get(pilot=referral.pilot, participant_id=referral.participant_id)


def release(participant: Participant, staff: dict[Role, User], at: datetime) -> None:
    reviewed(participant, staff, at=at - timedelta(minutes=5))
    today = participant.pilot.calendar.local_date(at)
    care.release_pathway(
        participant=participant,
        stage="S2",
        barrier_category="housing",
        lead=staff[Role.FRONTLINE],
        target_review_date=today + timedelta(days=10),
        escalation_code="ESC-CRISIS",
        by=staff[Role.RECOVERY_LEAD],
        at=at,
    )


def pend(participant: Participant, staff: dict[Role, User], owner: User, at: datetime) -> None:
    intake.decide_activation(
        participant=participant,
        outcome="pending",
        decision_code="P1",
        reason_code="P-REGISTER",
        review_date=participant.pilot.calendar.local_date(at),
        control_status="open",
        clarification_owner=owner,
        clarification_due=date(2026, 3, 6),
        by=staff[Role.ACTIVATION_APPROVER],
        at=at,
    )


def item(control: str, pid: str, what: str, due: date | None, late: int, link: str, who: str = ""):
    return QueueItem(control, pid, what, due, late, link, who)


@pytest.fixture
def northstar(pilot: Pilot, admin: User, other_provider: Organisation, staff) -> dict[Role, User]:
    """Northstar's enrollment manager, activation approver and supervisor ("ns-<role>")."""
    roles = (Role.ENROLLMENT_MANAGER, Role.ACTIVATION_APPROVER, Role.SUPERVISOR)
    return {r: make_person(f"ns-{r.value}", other_provider, admin, r, pilot) for r in roles}


# --- work queues --------------------------------------------------------------------


def test_the_enrollment_managers_queue_is_referrals_without_a_file(
    pilot, staff, eligible_participant
):
    # given P-0001 filed on Monday (its activation due Wednesday), and three referrals
    # still without a file: due Tuesday, Thursday and Friday
    manager = staff[Role.ENROLLMENT_MANAGER]
    refer(pilot, manager, "P-0002", "WV-0002", NOW)
    refer(pilot, manager, "P-0003", "WV-0003", utc(4))
    refer(pilot, manager, "P-0004", "WV-0004", utc(5))
    # when the manager opens their queue on Thursday 5 March
    queue = queries.work_queue(manager, pilot, today=date(2026, 3, 5))
    # then Tuesday's file is 2 business days late, Thursday's due today, Friday's coming
    # up, and the filed participant waits on the activation approver (1 day late)
    eligibility = SLUG + "/referrals/REF-{}/eligibility/"
    assert queue.overdue == [
        item(
            "C1",
            "P-0002",
            "Eligibility file for referral REF-P-0002",
            date(2026, 3, 3),
            2,
            eligibility.format("P-0002"),
        ),
    ]
    assert queue.due_today == [
        item(
            "C1",
            "P-0003",
            "Eligibility file for referral REF-P-0003",
            date(2026, 3, 5),
            0,
            eligibility.format("P-0003"),
        ),
    ]
    assert queue.upcoming == [
        item(
            "C1",
            "P-0004",
            "Eligibility file for referral REF-P-0004",
            date(2026, 3, 6),
            0,
            eligibility.format("P-0004"),
        ),
    ]
    assert queue.waiting == [
        item(
            "C2",
            "P-0001",
            "Activation decision",
            date(2026, 3, 4),
            1,
            SLUG + "/participants/P-0001/",
            "activation approver",
        ),
    ]
    assert queue.totals == {"overdue": 1, "due_today": 1, "waiting": 1, "upcoming": 1}


def test_the_approvers_queue_counts_two_business_days_from_the_file_and_awaits_pendings(
    pilot, staff, eligible_participant
):
    # given P-0001 filed Monday 17:00 UTC (activation due Wednesday 4 March), and P-0002
    # pended on Tuesday with a clarification owned by the frontline lead, due Friday
    p2 = admit(pilot, staff, participant_id="P-0002", member_id="WV-0002")
    pend(p2, staff, staff[Role.FRONTLINE], utc(3, 17))
    approver = staff[Role.ACTIVATION_APPROVER]
    # when the approver looks on Wednesday, then on Thursday
    wednesday = queries.work_queue(approver, pilot, today=date(2026, 3, 4))
    thursday = queries.work_queue(approver, pilot, today=date(2026, 3, 5))
    # then P-0001 is due on Wednesday and a business day late on Thursday; P-0002 waits
    # on the frontline lead
    decide = item(
        "C2",
        "P-0001",
        "Activation decision",
        date(2026, 3, 4),
        0,
        SLUG + "/participants/P-0001/activation/",
    )
    assert wednesday.due_today == [decide]
    assert wednesday.overdue == []
    assert thursday.due_today == []
    assert thursday.overdue == [QueueItem(**{**decide.__dict__, "late_days": 1})]
    assert thursday.waiting == [
        item(
            "C2",
            "P-0002",
            "Pending clarification, then the final activation decision",
            date(2026, 3, 6),
            0,
            SLUG + "/participants/P-0002/activation/",
            "rs-frontline",
        ),
    ]
    assert thursday.upcoming == []


def test_a_clarification_is_its_owners_work_and_waits_on_them_for_their_supervisor(
    pilot, staff, eligible_participant
):
    # given P-0001 pended with a clarification owned by the frontline lead, due Friday 6
    pend(eligible_participant, staff, staff[Role.FRONTLINE], utc(3, 17))
    friday = date(2026, 3, 6)
    # when the owner and the supervisor look on Friday
    owner = queries.work_queue(staff[Role.FRONTLINE], pilot, today=friday)
    supervisor = queries.work_queue(staff[Role.SUPERVISOR], pilot, today=friday)
    # then it is due today for the owner, and waiting on the owner for the supervisor
    page = SLUG + "/participants/P-0001/"
    assert owner.due_today == [
        item("C2", "P-0001", "Clarification you own, for a pending activation", friday, 0, page)
    ]
    assert owner.overdue == owner.waiting == owner.upcoming == []
    assert supervisor.waiting == [
        item("C2", "P-0001", "Pending clarification", friday, 0, page, "rs-frontline")
    ]
    assert supervisor.overdue == supervisor.due_today == supervisor.upcoming == []


def test_after_activation_the_pathway_compliance_and_review_clocks_run(
    pilot, staff, activated_participant
):
    # given P-0001 activated on Tuesday 3 March: pathway due Friday 6 (3 business days),
    # progression review due Tuesday 17 (14 calendar days)
    # when the recovery lead, compliance and the supervisor look
    lead = queries.work_queue(staff[Role.RECOVERY_LEAD], pilot, today=date(2026, 3, 10))
    compliance = queries.work_queue(staff[Role.COMPLIANCE], pilot, today=date(2026, 3, 10))
    review_day = queries.work_queue(staff[Role.SUPERVISOR], pilot, today=date(2026, 3, 17))
    late_review = queries.work_queue(staff[Role.SUPERVISOR], pilot, today=date(2026, 3, 19))
    # then
    page = SLUG + "/participants/P-0001/"
    assert lead.overdue == [
        item("C4", "P-0001", "Pathway release", date(2026, 3, 6), 2, page + "pathway/")
    ]
    assert compliance.upcoming == [
        item(
            "C2",
            "P-0001",
            "Compliance review of the activation register",
            None,
            0,
            page + "compliance/",
        )
    ]
    assert compliance.overdue == compliance.due_today == []
    review = item("C6", "P-0001", "Progression review", date(2026, 3, 17), 0, page + "review/")
    assert review_day.due_today == [review]
    assert late_review.overdue == [QueueItem(**{**review.__dict__, "late_days": 2})]


def test_done_work_leaves_the_queue(pilot, staff, activated_participant):
    # given P-0001's activation reviewed by compliance and its pathway released
    intake.review_compliance(
        participant=activated_participant, by=staff[Role.COMPLIANCE], at=utc(4)
    )
    release(activated_participant, staff, utc(5))
    # when compliance and the recovery lead look
    today = date(2026, 3, 10)
    # then neither has anything left for P-0001
    assert queries.work_queue(staff[Role.COMPLIANCE], pilot, today=today).empty
    assert queries.work_queue(staff[Role.RECOVERY_LEAD], pilot, today=today).empty


def test_an_open_barrier_stays_with_its_owner_and_waits_for_the_supervisor(
    pilot, staff, activated_participant
):
    # given a housing barrier owned by the frontline lead
    barrier = care.open_barrier(
        participant=activated_participant,
        category="housing",
        description="Eviction notice",
        owner=staff[Role.FRONTLINE],
        by=staff[Role.FRONTLINE],
        at=utc(4),
    )
    today = date(2026, 3, 10)
    # when the owner and the supervisor look
    owner = queries.work_queue(staff[Role.FRONTLINE], pilot, today=today)
    supervisor = queries.work_queue(staff[Role.SUPERVISOR], pilot, today=today)
    # then the owner holds it (no deadline) and the supervisor sees it waiting on them
    page = SLUG + "/participants/P-0001/"
    assert owner.upcoming == [
        item("C5", "P-0001", "Open barrier you own: housing", None, 0, page + "barriers/")
    ]
    assert supervisor.waiting == [
        item("C5", "P-0001", "Open barrier: housing", None, 0, page, "rs-frontline")
    ]
    # and once resolved it is gone from both
    care.resolve_barrier(barrier=barrier, by=staff[Role.FRONTLINE], at=utc(5))
    assert queries.work_queue(staff[Role.FRONTLINE], pilot, today=today).empty
    assert queries.work_queue(staff[Role.SUPERVISOR], pilot, today=today).waiting == []


def test_the_clinical_leads_queue_holds_open_service_level_requests(
    admin, provider, other_provider
):
    # given a blended-rate participant and an initial level requested on Wednesday 4
    # March (North Carolina): the decision is due Friday 6 (2 business days)
    blended = blended_pilot(admin, provider, other_provider)
    people = blended_staff(blended, admin, provider)
    participant = admit_blended(blended, people)
    care.request_service_level(
        participant=participant,
        level="SL1",
        kind="initial",
        evidence="DLA-20 3.20, LOCUS moderate",
        by=people[Role.FRONTLINE],
        at=utc(4, 15),
    )
    monday = date(2026, 3, 9)
    # when the clinical lead and the requester look on Monday
    lead = queries.work_queue(people[Role.CLINICAL_LEAD], blended, today=monday)
    requester = queries.work_queue(people[Role.FRONTLINE], blended, today=monday)
    # then it is a business day late for the lead, and waits on the lead for the requester
    page = "/pilots/blended-2026/participants/B-0001/"
    assert lead.overdue == [
        item(
            "C3",
            "B-0001",
            "Service level decision: initial request for SL1",
            date(2026, 3, 6),
            1,
            page + "service-level/decision/",
        )
    ]
    assert requester.waiting == [
        item(
            "C3",
            "B-0001",
            "Your initial request for SL1",
            date(2026, 3, 6),
            1,
            page,
            "clinical lead",
        )
    ]


def test_a_pilot_without_milestone_stages_asks_for_no_pathway(admin, provider, other_provider):
    # given an activated participant of the blended-rate pilot, which plans no stages
    blended = blended_pilot(admin, provider, other_provider)
    people = blended_staff(blended, admin, provider)
    admit_blended(blended, people)
    # when the recovery lead looks a month later
    queue = queries.work_queue(people[Role.RECOVERY_LEAD], blended, today=date(2026, 4, 6))
    # then there is no pathway release to do, due or overdue
    assert [i for i in queue.due_today + queue.overdue + queue.upcoming if i.control == "C4"] == []


def test_another_providers_staff_see_none_of_it(pilot, staff, northstar, eligible_participant):
    # given riverside's eligible P-0001 and unfiled referral, and northstar's own referral
    refer(pilot, staff[Role.ENROLLMENT_MANAGER], "P-0002", "WV-0002", NOW)
    refer(pilot, northstar[Role.ENROLLMENT_MANAGER], "N-0001", "WV-0003", NOW)
    today = date(2026, 3, 5)
    # when each provider's staff look
    ns_manager = queries.work_queue(northstar[Role.ENROLLMENT_MANAGER], pilot, today=today)
    rs_manager = queries.work_queue(staff[Role.ENROLLMENT_MANAGER], pilot, today=today)
    # then each sees only their own organisation's work
    assert [i.participant_id for i in ns_manager.overdue] == ["N-0001"]
    assert ns_manager.waiting == ns_manager.due_today == ns_manager.upcoming == []
    assert [i.participant_id for i in rs_manager.overdue] == ["P-0002"]
    assert [i.participant_id for i in rs_manager.waiting] == ["P-0001"]
    assert queries.work_queue(northstar[Role.ACTIVATION_APPROVER], pilot, today=today).empty
    assert queries.work_queue(northstar[Role.SUPERVISOR], pilot, today=today).empty
    assert list(queries.participants_for(northstar[Role.SUPERVISOR], pilot)) == []
    assert [p.participant_id for p in queries.participants_for(staff[Role.SUPERVISOR], pilot)] == [
        "P-0001"
    ]


def test_a_queue_returns_the_newest_items_and_counts_them_all(pilot, staff):
    # given three referrals due Tuesday, Wednesday and Thursday, none filed
    manager = staff[Role.ENROLLMENT_MANAGER]
    for pid, at in (("P-0002", NOW), ("P-0003", utc(3, 17)), ("P-0004", utc(4, 17))):
        refer(pilot, manager, pid, "WV-0002", at)
    # when the manager's queue on Monday 9 March is cut at two items
    queue = queries.work_queue(manager, pilot, today=date(2026, 3, 9), limit=2)
    # then the two most recently due come first, with how late, and all three are counted
    assert [(i.participant_id, i.due, i.late_days) for i in queue.overdue] == [
        ("P-0004", date(2026, 3, 5), 2),
        ("P-0003", date(2026, 3, 4), 3),
    ]
    assert queue.totals["overdue"] == 3


def test_a_queue_is_a_few_queries_whatever_the_caseload(pilot, staff):
    # given one referral without a file, then twelve
    manager = staff[Role.ENROLLMENT_MANAGER]
    today = date(2026, 3, 9)

    def queries_to_read() -> int:
        with CaptureQueriesContext(connection) as captured:
            queries.work_queue(manager, pilot, today=today)
        return len(captured.captured_queries)

    refer(pilot, manager, "P-1000", "WV-0002", NOW)
    one = queries_to_read()
    for n in range(1, 12):
        refer(pilot, manager, f"P-1{n:03}", "WV-0002", NOW + timedelta(minutes=n))
    # when the queue is read, then it takes as many queries for twelve as for one
    assert queries_to_read() == one
    assert queries.work_queue(manager, pilot, today=today).totals["overdue"] == 12


# --- breach report ------------------------------------------------------------------


@pytest.fixture
def march(pilot, staff, northstar, register) -> None:
    """A month of decisions, some late (business days late in brackets):

    C1 files: riverside P-0001 on time (0), P-0002 (2), P-0003 (3); P-0004 never filed;
              northstar N-0001 (5).
    C2 decisions: P-0001 on time (0), P-0002 (2); P-0003 never decided (due 10 March);
              N-0001 pended on time (0).
    C4 pathways: P-0001 (1); P-0002, activated 11 March, never released (due 16 March).
    C6 reviews: P-0001 (3), its next due 3 April; P-0002 never reviewed (due 25 March).
    """
    manager, ns_manager = staff[Role.ENROLLMENT_MANAGER], northstar[Role.ENROLLMENT_MANAGER]
    p1 = admit(pilot, staff)  # referred and filed on Monday 2 March
    p2 = file(refer(pilot, manager, "P-0002", "WV-0002", NOW), manager, utc(5))
    file(refer(pilot, manager, "P-0003", "WV-0003", NOW), manager, utc(6))
    refer(pilot, manager, "P-0004", "WV-0002", NOW)
    n1 = file(refer(pilot, ns_manager, "N-0001", "WV-0003", NOW), ns_manager, utc(10))
    activate(p1, staff, at=utc(3, 17))
    activate(p2, staff, at=utc(11))
    intake.decide_activation(
        participant=n1,
        outcome="pending",
        decision_code="P1",
        reason_code="P-REGISTER",
        review_date=date(2026, 3, 12),
        control_status="open",
        clarification_owner=ns_manager,
        clarification_due=date(2026, 3, 20),
        by=northstar[Role.ACTIVATION_APPROVER],
        at=utc(12),
    )
    release(Participant.objects.get(pk=p1.pk), staff, utc(9))
    care.review_progression(
        participant=Participant.objects.get(pk=p1.pk),
        outcome="stalled",
        stall_code="ST-CONTACT",
        review_date=date(2026, 3, 20),
        by=staff[Role.SUPERVISOR],
        at=utc(20),
    )


def row(control, what, provider, decisions, count, median, worst, still_open, provider_id=None):
    return BreachRow(
        control, what, provider_id, provider, decisions, count, Decimal(median), worst, still_open
    )


def test_the_breach_report_counts_late_decisions_and_what_was_still_overdue(
    pilot, staff, provider, other_provider, march
):
    # when compliance reads March once April has begun
    report = queries.breach_report(
        pilot, month="2026-03", user=staff[Role.COMPLIANCE], today=date(2026, 4, 15)
    )
    # then per control and provider: decisions, late ones, median and worst lateness, and
    # what was undone and overdue when March ended
    rs, ns = provider.pk, other_provider.pk
    assert report == [
        row("C1", "Eligibility file", "All providers", 4, 3, 3, 5, 1),
        row("C1", "Eligibility file", "Northstar", 1, 1, 5, 5, 0, ns),
        row("C1", "Eligibility file", "Riverside", 3, 2, "2.5", 3, 1, rs),
        row("C2", "Activation decision", "All providers", 3, 1, 2, 2, 1),
        row("C2", "Activation decision", "Northstar", 1, 0, 0, 0, 0, ns),
        row("C2", "Activation decision", "Riverside", 2, 1, 2, 2, 1, rs),
        row("C3", "Service level decision", "All providers", 0, 0, 0, 0, 0),
        row("C4", "Pathway release", "All providers", 1, 1, 1, 1, 1),
        row("C4", "Pathway release", "Riverside", 1, 1, 1, 1, 1, rs),
        row("C6", "Progression review", "All providers", 1, 1, 3, 3, 1),
        row("C6", "Progression review", "Riverside", 1, 1, 3, 3, 1, rs),
    ]


def test_a_month_in_progress_counts_overdue_as_of_today(pilot, staff, march):
    # when compliance reads March on Monday 16 March
    report = queries.breach_report(
        pilot, month="2026-03", user=staff[Role.COMPLIANCE], today=date(2026, 3, 16)
    )
    # then what was overdue as the day began: P-0004's file, P-0003's activation (due 10),
    # not P-0002's pathway (due today) nor P-0002's review (due 25)
    totals = {r.control: (r.decisions, r.open_overdue) for r in report if r.provider_id is None}
    assert totals == {"C1": (4, 1), "C2": (3, 1), "C3": (0, 0), "C4": (1, 0), "C6": (1, 0)}


def test_provider_staff_see_their_own_organisations_breaches(pilot, staff, provider, march):
    # when riverside's supervisor reads March
    report = queries.breach_report(
        pilot, month="2026-03", user=staff[Role.SUPERVISOR], today=date(2026, 4, 1)
    )
    # then only riverside's figures appear
    c1 = [r for r in report if r.control == "C1"]
    assert c1 == [
        row("C1", "Eligibility file", "Your organisation", 3, 2, "2.5", 3, 1),
        row("C1", "Eligibility file", "Riverside", 3, 2, "2.5", 3, 1, provider.pk),
    ]


def test_the_breach_report_refuses_a_malformed_month(pilot, staff):
    with pytest.raises(Refused) as refused:
        queries.breach_report(pilot, month="2026-13", user=staff[Role.COMPLIANCE])
    assert refused.value.code == "invalid_month"


# --- timeline -----------------------------------------------------------------------


def test_the_timeline_shows_the_whole_history_in_time_order(pilot, staff, activated_participant):
    # given P-0001 through compliance review, pathway, an activity, a barrier, a relapse
    # and re-engagement, and a progression review
    p = activated_participant
    frontline = staff[Role.FRONTLINE]
    intake.review_compliance(
        participant=p, note="Register matches", by=staff[Role.COMPLIANCE], at=utc(4)
    )
    release(p, staff, utc(5))
    barrier = care.open_barrier(
        participant=p,
        category="housing",
        description="Eviction notice",
        owner=frontline,
        by=frontline,
        at=utc(6, 19),
    )
    care.record_activity(
        participant=p, activity_type="outreach", occurred_at=utc(6), by=frontline, at=utc(6, 20)
    )
    care.record_disengagement(participant=p, reason="Lost contact", by=frontline, at=utc(9))
    care.record_reengagement(participant=p, reason="Back in touch", by=frontline, at=utc(10))
    care.resolve_barrier(barrier=barrier, by=frontline, at=utc(11))
    care.review_progression(
        participant=p,
        outcome="progressed",
        review_date=date(2026, 3, 17),
        by=staff[Role.SUPERVISOR],
        at=utc(17),
    )
    # when the timeline is read
    events = queries.timeline(Participant.objects.get(pk=p.pk))
    # then every event is there, oldest first, with who did it
    assert [(e.kind, e.control, e.by) for e in events] == [
        ("referral", "C1", "rs-enrollment_manager"),
        ("assessment", "C1", "Dr. Rosa Diaz"),
        ("assessment", "C1", "Dr. Rosa Diaz"),
        ("eligibility_file", "C1", "rs-enrollment_manager"),
        ("activation", "C2", "rs-activation_approver"),
        ("compliance_review", "C2", "po-compliance"),
        ("pathway", "C4", "rs-recovery_lead"),
        ("notification", "C4", "rs-frontline"),
        ("notification", "C4", "rs-supervisor"),
        ("notification", "C4", "rs-quality_reviewer"),
        ("activity", "C5", "rs-frontline"),  # occurred before it was recorded
        ("barrier_opened", "C5", "rs-frontline"),
        ("disengaged", "", "rs-frontline"),
        ("reengaged", "", "rs-frontline"),
        ("barrier_resolved", "C5", "rs-frontline"),
        ("progression_review", "C6", "rs-supervisor"),
    ]
    assert events[6].summary == (
        "Pathway released: stage S2, barrier housing, lead rs-frontline, review by 2026-03-15,"
        " escalation ESC-CRISIS"
    )
    assert events[-1].summary == "Progression review of 2026-03-17: progressed, 0 unresolved"
    assert [e.at for e in events] == sorted(e.at for e in events)
