"""C19 independent assurance on the pooled multi-payer pilot (pooled-2026: medicaid,
county and fund, each with its representative; medicaid has two): quarterly reviews by
the assurance body, findings sent to every payer, closing them, and their automatic
escalation when a deadline passes (America/Denver: UTC−6 in April)."""

import json
from datetime import UTC, date, datetime

import pytest
import time_machine
from django_tasks_db.models import DBTaskResult

from fundpilot.audit.models import AuditRecord
from fundpilot.governance.actions.assurance import (
    close_finding,
    escalate_overdue_findings,
    record_assurance_review,
)
from fundpilot.governance.assurance import open_findings
from fundpilot.governance.models import AssuranceReview, Finding
from fundpilot.governance.tasks import escalate_findings
from fundpilot.participants.models import Notification
from fundpilot.participants.queues import work_queue
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import Role
from tests.conftest import make_person
from tests.governance.conftest import refused, snapshot
from tests.money.conftest import money_staff, payer_orgs, pooled, signed_in  # noqa: F401
from tests.test_cli import run

APR_6 = datetime(2026, 4, 6, 16, 0, tzinfo=UTC)  # Monday 10:00 in Denver
Q1 = "2026-Q1"
API = "/api/v1/pilots/pooled-2026"
PAGES = "/pilots/pooled-2026/governance"
REPS = ("pr-county", "pr-fund", "pr-medicaid", "pr-medicaid-2")


@pytest.fixture
def staff(money_staff, admin: User, payer_orgs: dict[str, Organisation], pooled: Pilot):  # noqa: F811
    """The money staff, a second medicaid representative and a second assurance
    reviewer (to own a finding)."""
    people = dict(money_staff)
    people["pr-medicaid-2"] = make_person(
        "pr-medicaid-2", payer_orgs["medicaid"], admin, Role.PAYER_REP, pooled
    )
    assurers = people["ar-assurance"].organisation
    people["ar-assurance-2"] = make_person(
        "ar-assurance-2", assurers, admin, Role.ASSURANCE_REVIEWER, pooled
    )
    return people


def finding(owner: User, **changes) -> dict:
    return {
        "area": "compliance",
        "severity": "high",
        "title": "Activation register reviewed late",
        "action_plan": "Review the register weekly; report lateness to the board.",
        "owner": owner,
        "deadline": date(2026, 4, 20),
    } | changes


def review(pilot: Pilot, people: dict[str, User], findings=(), **changes) -> AssuranceReview:
    kwargs = {
        "pilot": pilot,
        "quarter": Q1,
        "compliance": "Activation register reviewed, two weeks late in March.",
        "outcomes": "Attainment follows the methodology.",
        "equity": "Acceptance of high-need referrals above the floor.",
        "findings": list(findings),
        "by": people["ar-assurance"],
        "at": APR_6,
    }
    return record_assurance_review(**(kwargs | changes))


def two_findings(pooled: Pilot, staff) -> AssuranceReview:  # noqa: F811
    return review(
        pooled,
        staff,
        [
            finding(staff["po-compliance"]),
            finding(
                staff["po-finance"],
                area="outcomes",
                severity="medium",
                title="Reassessment log not reconciled",
                action_plan="Reconcile monthly before the settlement.",
                deadline=date(2026, 5, 15),
            ),
        ],
    )


# --- recording a review ---------------------------------------------------------------------


def test_a_review_sends_its_findings_to_every_payer_and_each_owner(pooled, staff):  # noqa: F811
    # given
    before = AuditRecord.objects.count()
    # when
    made = two_findings(pooled, staff)
    # then
    assert (made.quarter, made.reviewed_by, made.rulebook_version) == (
        Q1,
        staff["ar-assurance"],
        1,
    )
    assert made.equity == "Acceptance of high-need referrals above the floor."
    rows = list(made.findings.order_by("pk").values_list("title", "owner__username", "status"))
    assert rows == [
        ("Activation register reviewed late", "po-compliance", "open"),
        ("Reassessment log not reconciled", "po-finance", "open"),
    ]
    told = sorted(Notification.objects.values_list("user__username", flat=True))
    assert told == sorted([*REPS, "po-compliance", "po-finance"])
    assert all(n.link == f"{PAGES}/assurance/{Q1}/" for n in Notification.objects.all())
    record = AuditRecord.objects.get(seq__gt=0, action="assurance_review.record")
    assert AuditRecord.objects.count() == before + 1
    assert record.subject == f"assurance_review:{Q1}"
    assert record.payload["sent_to"] == {
        "medicaid": ["pr-medicaid", "pr-medicaid-2"],
        "county": ["pr-county"],
        "fund": ["pr-fund"],
    }
    assert [f["owner"] for f in record.payload["findings"]] == ["po-compliance", "po-finance"]
    assert record.rulebook_version == 1


def test_a_review_without_findings_notifies_nobody(pooled, staff):  # noqa: F811
    review(pooled, staff)
    assert Notification.objects.count() == 0
    assert AssuranceReview.objects.get().findings.count() == 0


def test_open_findings_are_every_payers_and_none_of_a_stranger(pooled, staff):  # noqa: F811
    made = two_findings(pooled, staff)
    every = set(made.findings.values_list("pk", flat=True))
    for payer in ("medicaid", "county", "fund", None):
        assert set(open_findings(pooled, payer).values_list("pk", flat=True)) == every
    assert not open_findings(pooled, "nobody").exists()


@pytest.mark.parametrize(
    ("code", "changes"),
    [
        ("invalid_quarter", {"quarter": "2026-Q5"}),
        ("quarter_not_ended", {"quarter": "2026-Q2"}),
        ("outside_pilot_period", {"quarter": "2025-Q4"}),
        ("compliance_required", {"compliance": "  "}),
        ("outcomes_required", {"outcomes": ""}),
        ("equity_required", {"equity": " \n"}),
    ],
)
def test_a_review_is_refused_without_its_quarter_or_summaries(pooled, staff, code, changes):  # noqa: F811
    refused(code, review, pilot=pooled, people=staff, **changes)


@pytest.mark.parametrize(
    ("code", "changes"),
    [
        ("unknown_area", {"area": "finance"}),
        ("unknown_severity", {"severity": "critical"}),
        ("finding_title_required", {"title": " "}),
        ("invalid_finding_title", {"title": "T" * 201}),
        ("action_plan_required", {"action_plan": ""}),
        ("owner_required", {"owner": None}),
        ("owner_not_in_pilot", {"owner": "outsider"}),
        ("owner_not_permitted", {"owner": "rs-frontline"}),  # may not see findings
        ("owner_is_reviewer", {"owner": "ar-assurance"}),
        ("deadline_not_after_review", {"deadline": date(2026, 4, 6)}),
    ],
)
def test_each_finding_needs_area_severity_plan_owner_and_deadline(
    pooled,  # noqa: F811
    staff,
    outsider,
    code,
    changes,
):
    people = staff | {"outsider": outsider}
    if isinstance(changes.get("owner"), str):
        changes = changes | {"owner": people[changes["owner"]]}
    good = finding(staff["po-finance"])
    findings = [good, finding(staff["po-compliance"]) | changes]
    refused(code, review, pilot=pooled, people=staff, findings=findings)


def test_one_review_per_quarter(pooled, staff):  # noqa: F811
    review(pooled, staff)
    refused("already_reviewed", review, pilot=pooled, people=staff)


@pytest.mark.parametrize("who", ["po-board_chair", "pr-county", "po-compliance"])
def test_only_the_assurance_body_records_a_review(pooled, staff, who):  # noqa: F811
    before = snapshot()
    with pytest.raises(NotPermitted):
        review(pooled, staff, by=staff[who])
    assert snapshot() == before


# --- closing findings -----------------------------------------------------------------------


def test_the_assurance_reviewer_closes_a_finding(pooled, staff):  # noqa: F811
    made = two_findings(pooled, staff)
    first = made.findings.order_by("pk").first()
    before = AuditRecord.objects.count()
    done = close_finding(
        finding=first,
        note="Weekly review in place since April.",
        by=staff["ar-assurance"],
        at=datetime(2026, 4, 15, 16, tzinfo=UTC),
    )
    assert (done.status, done.closed_by, done.closing_note) == (
        Finding.CLOSED,
        staff["ar-assurance"],
        "Weekly review in place since April.",
    )
    assert AuditRecord.objects.count() == before + 1
    assert AuditRecord.objects.order_by("-pk").first().action == "finding.close"
    assert list(open_findings(pooled).values_list("title", flat=True)) == [
        "Reassessment log not reconciled"
    ]
    refused(
        "finding_closed",
        close_finding,
        finding=first,
        note="again",
        by=staff["ar-assurance"],
        at=APR_6,
    )


def test_a_finding_is_closed_with_a_note_by_the_reviewer_who_does_not_own_it(pooled, staff):  # noqa: F811
    made = review(pooled, staff, [finding(staff["ar-assurance-2"])])
    owned = made.findings.get()
    at = datetime(2026, 4, 15, 16, tzinfo=UTC)
    refused(
        "note_required", close_finding, finding=owned, note=" ", by=staff["ar-assurance"], at=at
    )
    refused(
        "own_finding", close_finding, finding=owned, note="done", by=staff["ar-assurance-2"], at=at
    )
    before = snapshot()
    for who in ("po-board_chair", "pr-fund"):
        with pytest.raises(NotPermitted):
            close_finding(finding=owned, note="done", by=staff[who], at=at)
    assert snapshot() == before


# --- escalation -----------------------------------------------------------------------------


def test_a_missed_deadline_is_escalated_once_in_the_pilots_calendar(pooled, staff):  # noqa: F811
    # given: deadlines 2026-04-20 and 2026-05-15; the second is closed later
    made = two_findings(pooled, staff)
    first, second = made.findings.order_by("pk")
    Notification.objects.all().delete()
    before = AuditRecord.objects.count()
    # when: the last minute of 2026-04-21 UTC-wise is still the 20th in Denver
    assert escalate_overdue_findings(at=datetime(2026, 4, 21, 5, 59, tzinfo=UTC)) == []
    # then: the 21st in Denver escalates the first finding only
    at = datetime(2026, 4, 21, 6, 0, tzinfo=UTC)
    escalated = escalate_overdue_findings(at=at)
    assert [f.pk for f in escalated] == [first.pk]
    first.refresh_from_db()
    assert first.escalated_at == at and first.status == Finding.OPEN
    told = sorted(Notification.objects.values_list("user__username", flat=True))
    assert told == sorted([*REPS, "po-board_chair", "po-executive_sponsor", "po-compliance"])
    record = AuditRecord.objects.get(action="finding.escalate")
    assert AuditRecord.objects.count() == before + 1
    assert (record.actor, record.subject) == ("system:escalation", f"finding:{first.pk}")
    assert record.payload["days_late"] == 1
    # and a second run escalates nothing new, however late
    again = snapshot()
    assert escalate_overdue_findings(at=datetime(2026, 5, 1, tzinfo=UTC)) == []
    assert snapshot() == again
    # a closed finding is never escalated
    close_finding(
        finding=second, note="done", by=staff["ar-assurance"], at=datetime(2026, 5, 2, tzinfo=UTC)
    )
    assert escalate_overdue_findings(at=datetime(2026, 6, 1, tzinfo=UTC)) == []


def test_the_worker_task_escalates_and_schedules_its_next_run(pooled, staff):  # noqa: F811
    made = two_findings(pooled, staff)
    first = made.findings.order_by("pk").first()
    at = datetime(2026, 4, 22, 12, 0, tzinfo=UTC)
    with time_machine.travel(at, tick=False):
        assert escalate_findings.call() == [first.pk]
        assert escalate_findings.call(2) == []  # idempotent: escalated once
    scheduled = DBTaskResult.objects.filter(
        task_path=escalate_findings.module_path, status="READY"
    ).order_by("run_after")
    assert [r.run_after for r in scheduled] == [
        datetime(2026, 4, 22, 13, 0, tzinfo=UTC),
        datetime(2026, 4, 22, 14, 0, tzinfo=UTC),
    ]
    assert AuditRecord.objects.filter(action="finding.escalate").count() == 1


def test_the_owner_has_the_finding_in_their_work_queue(pooled, staff):  # noqa: F811
    two_findings(pooled, staff)
    mine = work_queue(staff["po-compliance"], pooled, today=date(2026, 4, 10))
    items = [i for i in mine.upcoming if i.control == "C19"]
    assert [(i.what, i.due) for i in items] == [
        (
            "Assurance finding of 2026-Q1 (high): Activation register reviewed late",
            date(2026, 4, 20),
        )
    ]
    assert items[0].link == f"{PAGES}/assurance/{Q1}/"
    late = work_queue(staff["po-compliance"], pooled, today=date(2026, 4, 23))
    assert [(i.control, i.late_days) for i in late.overdue if i.control == "C19"] == [("C19", 3)]
    assert not [
        i
        for i in work_queue(staff["pr-fund"], pooled, today=date(2026, 4, 23)).overdue
        if i.control == "C19"
    ]


# --- API, pages and command line ------------------------------------------------------------


@pytest.fixture
def clock():
    with time_machine.travel(APR_6, tick=False) as traveller:
        yield traveller


def _post(client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


BODY = {
    "quarter": Q1,
    "compliance": "Register reviewed late in March.",
    "outcomes": "Attainment as reported.",
    "equity": "No acceptance floor missed.",
    "findings": [
        {
            "area": "equity",
            "severity": "low",
            "title": "Acuity bands recorded inconsistently",
            "action_plan": "Train intake staff.",
            "owner": "po-compliance",
            "deadline": "2026-05-01",
        }
    ],
}


def test_the_api_records_a_review_that_every_payer_reads(pooled, staff, clock):  # noqa: F811
    # when
    made = _post(signed_in(staff["ar-assurance"]), f"{API}/assurance-reviews", BODY)
    # then
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["quarter"] == Q1 and body["reviewed_by"] == "ar-assurance"
    [item] = body["findings"]
    assert (item["owner"], item["deadline"], item["status"]) == (
        "po-compliance",
        "2026-05-01",
        "open",
    )
    for rep in REPS:
        client = signed_in(staff[rep])
        listed = client.get(f"{API}/findings", {"status": "open"})
        assert [f["title"] for f in listed.json()] == ["Acuity bands recorded inconsistently"]
        assert client.get(f"{API}/assurance-reviews/{Q1}").json()["equity"] == BODY["equity"]


def test_the_api_refuses_with_a_code_and_forbids_the_board_chair(pooled, staff, clock):  # noqa: F811
    before = snapshot()
    bad = BODY | {"findings": [BODY["findings"][0] | {"deadline": "2026-04-01"}]}
    answer = _post(signed_in(staff["ar-assurance"]), f"{API}/assurance-reviews", bad)
    assert answer.status_code == 422
    assert answer.json()["code"] == "deadline_not_after_review"
    unknown = BODY | {"findings": [BODY["findings"][0] | {"owner": "nobody"}]}
    answer = _post(signed_in(staff["ar-assurance"]), f"{API}/assurance-reviews", unknown)
    assert (answer.status_code, answer.json()["code"]) == (422, "unknown_person")
    answer = _post(signed_in(staff["po-board_chair"]), f"{API}/assurance-reviews", BODY)
    assert answer.status_code == 403
    assert snapshot() == before


def test_the_api_closes_a_finding(pooled, staff, clock):  # noqa: F811
    two_findings(pooled, staff)
    first = Finding.objects.order_by("pk").first()
    url = f"{API}/findings/{first.pk}/closure"
    assert _post(signed_in(staff["pr-fund"]), url, {"note": "done"}).status_code == 403
    done = _post(signed_in(staff["ar-assurance"]), url, {"note": "Weekly review in place."})
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["closed_by"]) == ("closed", "ar-assurance")


def test_the_pages_record_a_review_and_show_findings_to_payers(pooled, staff, clock):  # noqa: F811
    reviewer = signed_in(staff["ar-assurance"])
    form = {
        "quarter": Q1,
        "compliance": "Register late.",
        "outcomes": "As reported.",
        "equity": "Fine.",
        "findings": "compliance | high | Register late | Review weekly | po-compliance |"
        " 2026-04-30\n",
    }
    # a refusal re-renders the form with its reason, nothing written
    before = snapshot()
    page = reviewer.post(f"{PAGES}/assurance/record/", form | {"quarter": "2026-Q2"})
    assert page.status_code == 422 and "quarter_not_ended" in page.content.decode()
    page = reviewer.post(f"{PAGES}/assurance/record/", form | {"findings": "compliance | high"})
    assert page.status_code == 422 and "invalid_finding" in page.content.decode()
    assert snapshot() == before
    # recorded
    done = reviewer.post(f"{PAGES}/assurance/record/", form)
    assert done.status_code == 302 and done["Location"] == f"{PAGES}/assurance/{Q1}/"
    finding_ = Finding.objects.get()
    for rep in REPS:
        text = signed_in(staff[rep]).get(f"{PAGES}/assurance/").content.decode()
        assert "Register late" in text and "po-compliance" in text
        assert "2026-04-30" in text
    text = reviewer.get(f"{PAGES}/assurance/{Q1}/").content.decode()
    assert f"/governance/findings/{finding_.pk}/close/" in text
    assert signed_in(staff["po-board_chair"]).get(f"{PAGES}/assurance/record/").status_code == 403
    closed = reviewer.post(f"{PAGES}/findings/{finding_.pk}/close/", {"note": "Weekly review."})
    assert closed.status_code == 302
    finding_.refresh_from_db()
    assert finding_.status == Finding.CLOSED


def test_an_escalated_finding_shows_as_escalated(pooled, staff):  # noqa: F811
    two_findings(pooled, staff)
    escalate_overdue_findings(at=datetime(2026, 4, 22, tzinfo=UTC))
    with time_machine.travel(datetime(2026, 4, 22, 16, tzinfo=UTC), tick=False):
        text = signed_in(staff["pr-county"]).get(f"{PAGES}/assurance/").content.decode()
    assert "escalated 2026-04-22" in text and "missed" in text


def test_the_command_line_records_lists_closes_and_escalates(pooled, staff, clock):  # noqa: F811
    # a finding that does not parse is refused (exit 2), nothing written
    before = snapshot()
    args = [
        "assurance-review", "--pilot", "pooled-2026", "--quarter", Q1,
        "--compliance", "Register late.", "--outcomes", "As reported.", "--equity", "Fine.",
        "--by", "ar-assurance", "--json",
    ]  # fmt: skip
    bad = run(*args, "--finding", "compliance|high|Register late|Weekly|po-compliance|soon")
    assert bad.exit_code == 2 and "invalid_finding" in bad.stderr
    assert snapshot() == before
    # recorded
    good = "compliance|high|Register late|Review weekly|po-compliance|2026-04-20"
    made = run(*args, "--finding", good, "--finding", good.replace("high", "low"))
    assert made.exit_code == 0, made.stderr
    rows = json.loads(made.stdout)["findings"]
    assert [(r["severity"], r["owner"], r["deadline"]) for r in rows] == [
        ("high", "po-compliance", "2026-04-20"),
        ("low", "po-compliance", "2026-04-20"),
    ]
    # a payer lists them
    listed = run("findings", "--pilot", "pooled-2026", "--open", "--by", "pr-county", "--json")
    assert [r["title"] for r in json.loads(listed.stdout)["findings"]] == ["Register late"] * 2
    # the reviewer closes one
    closed = run(
        "finding-close", "--pilot", "pooled-2026", "--finding", str(rows[1]["id"]),
        "--note", "Done.", "--by", "ar-assurance", "--json",
    )  # fmt: skip
    assert closed.exit_code == 0 and json.loads(closed.stdout)["status"] == "closed"
    # escalation, once, after the deadline
    clock.move_to(datetime(2026, 4, 21, 16, tzinfo=UTC))
    first = run("escalate-findings", "--pilot", "pooled-2026", "--json")
    assert [r["id"] for r in json.loads(first.stdout)["escalated"]] == [rows[0]["id"]]
    again = run("escalate-findings", "--json")
    assert json.loads(again.stdout)["escalated"] == []


def test_the_worker_escalates_and_schedules_the_next_run(committed_db, pooled, staff):  # noqa: F811
    # The worker closes stale connections between jobs, so it needs real commits.
    made = two_findings(pooled, staff)  # both deadlines long past by now
    result = run("worker", "--batch", "--escalation-hours", "2")
    assert result.exit_code == 0
    runs = DBTaskResult.objects.filter(task_path=escalate_findings.module_path)
    done = runs.get(status="SUCCESSFUL")
    assert sorted(done.return_value) == sorted(made.findings.values_list("pk", flat=True))
    upcoming = runs.get(status="READY")
    assert upcoming.args_kwargs["args"] == [2]
    assert upcoming.run_after > done.finished_at
    assert AuditRecord.objects.filter(action="finding.escalate").count() == 2
