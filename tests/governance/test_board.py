"""C17 board decisions on recovery-2026's six simulated months (conftest `history`),
settled through the settlement actions (C16): March with its reassessments recorded
(so its payment trigger is met), April as simulated (not met: no reassessment was
recorded), May a draft, June finalised but reviewed by finance only.

The board decides on a settlement that is finalised and reviewed by finance,
compliance and the executive sponsor; it notes integrity risks, denominator disputes
and definition issues; a supportable position needs the payment trigger met; the
approved amount is at most the settlement's milestone amount; restrictions have
follow-up owners; external statements never exceed the approved position.
"""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from fundpilot.audit.models import AuditRecord
from fundpilot.governance.actions.board import (
    close_restriction,
    decide,
    record_external_statement,
)
from fundpilot.governance.actions.settlement import (
    document_reconciliation,
    finalise_settlement,
    prepare_settlement,
    raise_methodology_question,
    review_settlement,
)
from fundpilot.governance.board import open_restrictions
from fundpilot.governance.models import BoardDecision, ExternalStatement, Restriction, Settlement
from fundpilot.participants.actions.intake import record_assessment
from fundpilot.participants.models import Notification, Referral
from fundpilot.participants.queues import work_queue
from fundpilot.pilots import actions as pilot_actions
from fundpilot.pilots.models import User
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import Role
from tests.governance.conftest import refused, snapshot
from tests.money.conftest import signed_in
from tests.test_cli import run

MARCH, APRIL, MAY, JUNE = (date(2026, m, 1) for m in (3, 4, 5, 6))
SETTLED = datetime(2026, 7, 2, 17, 0, tzinfo=UTC)  # Thursday 10:00 in Los Angeles
DECIDED = datetime(2026, 7, 6, 17, 0, tzinfo=UTC)  # the next Monday
TODAY = date(2026, 7, 6)
NOTES = {
    "integrity_risks": "none identified",
    "denominator_disputes": "none identified",
    "definition_issues": "M2 window for complex cases under question",
}


def _reassess_march(history) -> None:
    """Record, for every reassessment due in March, a reassessment signed the day after
    the milestone was reached (before the settlement is prepared)."""
    pilot = history.pilot
    from fundpilot.governance.settlement import compute

    due = compute(pilot, MARCH, SETTLED - timedelta(days=1))["trace"]["reassessment"]
    assert due, "March has reassessments due"
    assessors = {
        u.organisation_id: u
        for u in (history.people["clinical"], history.people["clinical-northstar"])
    }
    for item in due:
        provider = (
            Referral.objects.filter(pilot=pilot, participant_id=item["participant"])
            .values_list("provider_id", flat=True)
            .first()
        )
        signed = datetime.combine(
            date.fromisoformat(item["reached_on"]) + timedelta(days=1),
            datetime.min.time(),
            UTC,
        ) + timedelta(hours=20)
        record_assessment(
            pilot=pilot,
            participant_id=item["participant"],
            kind="reassessment",
            tool="whodas-12",
            tool_version="2.0",
            score=Decimal("40.00"),
            signed_by="Dr Lena Kowalski",
            signed_at=signed,
            by=assessors[provider],
            at=SETTLED - timedelta(hours=2),
        )


def _settle(history, month: date, *, reviewers=("finance", "compliance", "sponsor")):
    people = history.people
    made = prepare_settlement(pilot=history.pilot, month=month, by=people["finance"], at=SETTLED)
    if reviewers is None:
        return made
    document_reconciliation(
        settlement=made,
        note="Milestone reporting agrees with the reassessment integrity log.",
        by=people["finance"],
        at=SETTLED,
    )
    made = finalise_settlement(settlement=made, by=people["finance"], at=SETTLED)
    for who in reviewers:
        review_settlement(settlement=made, note="Reviewed.", by=people[who], at=SETTLED)
    return Settlement.objects.get(pk=made.pk)


@pytest.fixture(scope="module")
def settled_months(history, django_db_blocker):
    """March (trigger met), April (not met), May (a draft), June (finance review only),
    with one unresolved methodology question raised before they were prepared; made
    once per module and committed (the history's end flushes them)."""
    with django_db_blocker.unblock():
        return _settle_all(history)


@pytest.fixture
def settled(settled_months, db):
    return settled_months


def _settle_all(history) -> dict[str, Settlement]:
    raise_methodology_question(
        pilot=history.pilot,
        question="Does the M2 window of a complex case start at activation?",
        milestone="M2",
        by=history.people["compliance"],
        at=SETTLED - timedelta(hours=3),
    )
    _reassess_march(history)
    return {
        "march": _settle(history, MARCH),
        "april": _settle(history, APRIL),
        "may": _settle(history, MAY, reviewers=None),
        "june": _settle(history, JUNE, reviewers=("finance",)),
    }


def kwargs(history, settlement: Settlement, **changes) -> dict:
    people = history.people
    return {
        "settlement": settlement,
        "position": BoardDecision.PROVISIONAL,
        "decision_code": "BD-2026-04",
        "review_date": date(2026, 7, 20),
        "executive_owner": people["sponsor"],
        "residual_risk": "medium",
        "next_checkpoint": date(2026, 8, 10),
        "approved_amount": Decimal("5000.00"),
        "restrictions": [],
        "by": people["board"],
        "at": DECIDED,
        **NOTES,
    } | changes


# --- deciding -------------------------------------------------------------------------------


def test_the_preconditions_of_the_settled_months(history, settled):
    march, april = settled["march"].figures, settled["april"].figures
    assert march["payment_trigger"]["met"] is True
    assert april["payment_trigger"]["met"] is False
    assert (march["unresolved_questions"], april["unresolved_questions"]) == (1, 1)
    assert settled["may"].status == Settlement.DRAFT


def test_a_restricted_decision_names_its_restrictions_and_tells_their_owners(history, settled):
    # given
    people = history.people
    april = settled["april"]
    before = AuditRecord.objects.count()
    restrictions = [
        ("Hold M3 payments until reassessments are logged", people["compliance"], date(2026, 8, 1)),
        ("Reconcile the reassessment log monthly", people["finance"], date(2026, 7, 31)),
    ]
    # when
    made = decide(
        **kwargs(
            history,
            april,
            position="restricted",
            approved_amount="2700.00",
            residual_risk="high",
            restrictions=restrictions,
        )
    )
    # then
    made.refresh_from_db()
    assert (made.position, made.approved_amount, made.residual_risk) == (
        "restricted",
        Decimal("2700.00"),
        "high",
    )
    assert made.unresolved_questions == april.figures["unresolved_questions"] == 1
    assert (made.decided_by, made.executive_owner, made.rulebook_version) == (
        people["board"],
        people["sponsor"],
        history.pilot.current.number,
    )
    rows = list(made.restrictions.order_by("due").values_list("owner__username", "due"))
    assert rows == [("finance", date(2026, 7, 31)), ("compliance", date(2026, 8, 1))]
    told = Notification.objects.filter(created_at=DECIDED).order_by("user__username")
    assert [(n.user.username, n.link) for n in told] == [
        ("compliance", "/pilots/recovery-2026/governance/board/2026-04/"),
        ("finance", "/pilots/recovery-2026/governance/board/2026-04/"),
    ]
    assert AuditRecord.objects.count() == before + 1
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject) == ("board_decision.decide", f"board_decision:{made.pk}")
    assert record.payload["settlement_sha256"] == april.figures_sha256
    assert record.payload["approved_amount"] == "2700.00"
    assert record.payload["definition_issues"] == NOTES["definition_issues"]
    assert [r["owner"] for r in record.payload["restrictions"]] == ["compliance", "finance"]
    assert list(open_restrictions(history.pilot).values_list("owner__username", flat=True)) == [
        "finance",
        "compliance",
    ]


def test_a_supportable_position_needs_the_payment_trigger_met(history, settled):
    march = settled["march"]
    refused(
        "trigger_not_met",
        decide,
        **kwargs(history, settled["april"], position="supportable", approved_amount="0.00"),
    )
    whole = Decimal(march.figures["milestone_amount"])
    made = decide(**kwargs(history, march, position="supportable", approved_amount=whole))
    assert (made.position, made.approved_amount) == ("supportable", whole)


@pytest.mark.parametrize(
    ("code", "changes"),
    [
        ("integrity_risks_required", {"integrity_risks": "  "}),
        ("denominator_disputes_required", {"denominator_disputes": ""}),
        ("definition_issues_required", {"definition_issues": "\n"}),
        ("decision_code_required", {"decision_code": " "}),
        ("invalid_decision_code", {"decision_code": "B" * 41}),
        ("unknown_position", {"position": "approved"}),
        ("amount_negative", {"approved_amount": "-0.01"}),
        ("invalid_amount", {"approved_amount": "1.005"}),
        ("amount_above_settlement", {"approved_amount": "5400.01"}),  # April: 5400.00
        ("restriction_required", {"position": "restricted"}),
        ("date_before_decision", {"review_date": date(2026, 7, 5)}),
        ("date_before_decision", {"next_checkpoint": date(2026, 7, 5)}),
        ("unknown_residual_risk", {"residual_risk": "severe"}),
        ("executive_owner_not_executive", {"executive_owner": "finance"}),
        ("owner_not_permitted", {"restrictions": [("Hold", "frontline", date(2026, 8, 1))]}),
        ("due_in_past", {"restrictions": [("Hold", "compliance", date(2026, 7, 3))]}),
        (
            "restriction_description_required",
            {"restrictions": [(" ", "compliance", date(2026, 8, 1))]},
        ),
    ],
)
def test_a_decision_is_refused_unless_complete(history, settled, code, changes):
    people = history.people
    if isinstance(changes.get("executive_owner"), str):
        changes = changes | {"executive_owner": people[changes["executive_owner"]]}
    if "restrictions" in changes:
        changes = changes | {
            "restrictions": [(d, people[o], due) for d, o, due in changes["restrictions"]]
        }
    assert Decimal(settled["april"].figures["milestone_amount"]) == Decimal("5400.00")
    refused(code, decide, **kwargs(history, settled["april"], **changes))


def test_a_restriction_owner_holds_a_role_in_the_pilot(history, settled):
    stranger = pilot_actions.create_user(
        username="stranger",
        organisation=history.people["board"].organisation,
        password="a-long-passphrase",
        by=history.people["admin"],
        at=DECIDED,
    )
    stranger = User.objects.get(pk=stranger.pk)
    restrictions = [("Hold", stranger, date(2026, 8, 1))]
    refused(
        "owner_not_in_pilot",
        decide,
        **kwargs(history, settled["april"], position="restricted", restrictions=restrictions),
    )


def test_the_board_decides_only_on_a_finalised_fully_reviewed_settlement(history, settled):
    refused("settlement_not_final", decide, **kwargs(history, settled["may"]))
    caught = refused("reviews_missing", decide, **kwargs(history, settled["june"]))
    assert "Compliance" in caught.message and "Executive sponsor" in caught.message


def test_one_decision_per_settlement(history, settled):
    decide(**kwargs(history, settled["april"]))
    refused("already_decided", decide, **kwargs(history, settled["april"]))


def test_the_board_does_not_decide_on_a_settlement_it_reviewed(history, settled):
    # given: the executive sponsor, who reviewed April, is made board chair too
    sponsor = history.people["sponsor"]
    pilot_actions.grant_role(
        user=sponsor,
        role=Role.BOARD_CHAIR,
        pilot=history.pilot,
        by=history.people["admin"],
        at=DECIDED,
    )
    sponsor = User.objects.get(pk=sponsor.pk)
    refused("own_settlement", decide, **kwargs(history, settled["april"], by=sponsor))


@pytest.mark.parametrize("who", ["payer-wvch", "finance", "sponsor", "assurance", "auditor"])
def test_only_the_board_chair_decides(history, settled, who):
    before = snapshot()
    with pytest.raises(NotPermitted):
        decide(**kwargs(history, settled["april"], by=history.people[who]))
    assert snapshot() == before


# --- external statements --------------------------------------------------------------------


@pytest.fixture
def provisional(history, settled) -> BoardDecision:
    restriction = [("Reconcile the log monthly", history.people["compliance"], date(2026, 8, 1))]
    return decide(
        **kwargs(history, settled["april"], approved_amount="3000.00", restrictions=restriction)
    )


def statement(history, decision, **changes):
    return record_external_statement(
        **{
            "decision": decision,
            "audience": "Willamette Valley Community Health",
            "position": "provisional",
            "amount": "3000.00",
            "text": "April milestone payments are provisionally supportable up to 3,000.00.",
            "by": history.people["sponsor"],
            "at": DECIDED + timedelta(days=1),
        }
        | changes
    )


def test_a_statement_within_the_approved_position_is_recorded(history, provisional):
    before = AuditRecord.objects.count()
    made = statement(history, provisional)
    assert (made.position, made.amount, made.made_by) == (
        "provisional",
        Decimal("3000.00"),
        history.people["sponsor"],
    )
    less = statement(history, provisional, position="restricted", amount="100.00")
    assert less.position == "restricted"
    assert AuditRecord.objects.count() == before + 2
    assert AuditRecord.objects.order_by("-pk").first().action == "statement.record"


@pytest.mark.parametrize(
    ("code", "changes"),
    [
        ("exceeds_approved_position", {"position": "supportable"}),
        ("exceeds_approved_position", {"amount": "3000.01"}),
        ("unknown_position", {"position": "fine"}),
        ("amount_negative", {"amount": "-1.00"}),
        ("audience_required", {"audience": " "}),
        ("invalid_audience", {"audience": "A" * 201}),
        ("text_required", {"text": ""}),
    ],
)
def test_a_statement_may_not_exceed_the_approved_position(history, provisional, code, changes):
    refused(code, statement, history=history, decision=provisional, **changes)


def test_a_payer_representative_records_no_statement(history, provisional):
    before = snapshot()
    with pytest.raises(NotPermitted):
        statement(history, provisional, by=history.people["payer-wvch"])
    assert snapshot() == before
    assert not ExternalStatement.objects.exists()


# --- restrictions ---------------------------------------------------------------------------


def test_the_board_chair_lifts_a_restriction_once(history, provisional):
    restriction = provisional.restrictions.get()
    refused(
        "note_required",
        close_restriction,
        restriction=restriction,
        note=" ",
        by=history.people["board"],
        at=DECIDED,
    )
    with pytest.raises(NotPermitted):  # the owner follows up; the chair lifts
        close_restriction(
            restriction=restriction, note="done", by=history.people["compliance"], at=DECIDED
        )
    done = close_restriction(
        restriction=restriction,
        note="The log is reconciled monthly since July.",
        by=history.people["board"],
        at=DECIDED + timedelta(days=10),
    )
    assert (done.closed_by, done.closed_at) == (
        history.people["board"],
        DECIDED + timedelta(days=10),
    )
    assert not open_restrictions(history.pilot).exists()
    refused(
        "restriction_closed",
        close_restriction,
        restriction=restriction,
        note="again",
        by=history.people["board"],
        at=DECIDED,
    )


def test_the_chair_does_not_lift_a_restriction_they_own(history, settled):
    mine = [("Brief the payers", history.people["board"], date(2026, 8, 1))]
    made = decide(**kwargs(history, settled["april"], restrictions=mine))
    refused(
        "own_restriction",
        close_restriction,
        restriction=made.restrictions.get(),
        note="done",
        by=history.people["board"],
        at=DECIDED,
    )


def test_work_queues_hold_restrictions_and_settlements_awaiting_the_board(history, settled):
    pilot, people = history.pilot, history.people
    chair = work_queue(people["board"], pilot, today=TODAY)
    awaiting = sorted(i.what for i in chair.upcoming if i.control == "C17")
    assert awaiting == [
        "Decide the board's position on the 2026-03 settlement",
        "Decide the board's position on the 2026-04 settlement",
    ]
    restriction = [("Reconcile the log monthly", people["compliance"], date(2026, 7, 8))]
    decide(**kwargs(history, settled["april"], restrictions=restriction))
    owner = work_queue(people["compliance"], pilot, today=date(2026, 7, 9))
    [item] = [i for i in owner.overdue if i.control == "C17"]
    assert item.what == "Board restriction of 2026-04: Reconcile the log monthly"
    assert (item.due, item.link) == (
        date(2026, 7, 8),
        "/pilots/recovery-2026/governance/board/2026-04/",
    )
    chair = work_queue(people["board"], pilot, today=TODAY)
    assert [i.what for i in chair.upcoming if i.control == "C17"] == [
        "Decide the board's position on the 2026-03 settlement"
    ]


# --- API, pages and command line ------------------------------------------------------------

API = "/api/v1/pilots/recovery-2026"
PAGES = "/pilots/recovery-2026/governance"


@pytest.fixture
def clock():
    with time_machine.travel(DECIDED, tick=False) as traveller:
        yield traveller


def _post(client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


DECISION = {
    "month": "2026-04",
    "position": "restricted",
    "decision_code": "BD-2026-04",
    "review_date": "2026-07-20",
    "executive_owner": "sponsor",
    "residual_risk": "high",
    "next_checkpoint": "2026-08-10",
    "approved_amount": "2700.00",
    "restrictions": [
        {"description": "Hold M3 payments", "owner": "compliance", "due": "2026-08-01"}
    ],
    **NOTES,
}


def test_the_api_decides_and_payers_read_the_decision(history, settled, clock):
    chair = signed_in(history.people["board"])
    # refused: a payer representative may not decide; a blank note is refused with its code
    before = snapshot()
    payer = signed_in(history.people["payer-wvch"])
    assert _post(payer, f"{API}/board-decisions", DECISION).status_code == 403
    blank = _post(chair, f"{API}/board-decisions", DECISION | {"denominator_disputes": ""})
    assert (blank.status_code, blank.json()["code"]) == (422, "denominator_disputes_required")
    assert (blank.json()["field"]) == "denominator_disputes"
    missing = _post(chair, f"{API}/board-decisions", DECISION | {"month": "2026-08"})
    assert missing.status_code == 404
    assert snapshot() == before
    # decided
    made = _post(chair, f"{API}/board-decisions", DECISION)
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["position"], body["approved_amount"], body["unresolved_questions"]) == (
        "restricted",
        "2700.00",
        1,
    )
    assert [(r["owner"], r["status"]) for r in body["restrictions"]] == [("compliance", "open")]
    # a payer representative reads it
    read = payer.get(f"{API}/board-decisions/2026-04")
    assert read.status_code == 200 and read.json()["decision_code"] == "BD-2026-04"
    # a statement beyond the position is refused; within it, recorded
    url = f"{API}/board-decisions/2026-04/statements"
    said = {"audience": "WVCH", "position": "provisional", "amount": "100.00", "text": "t"}
    sponsor = signed_in(history.people["sponsor"])
    too_much = _post(sponsor, url, said)
    assert (too_much.status_code, too_much.json()["code"]) == (422, "exceeds_approved_position")
    done = _post(sponsor, url, said | {"position": "restricted"})
    assert done.status_code == 201 and done.json()["amount"] == "100.00"
    # the restriction is lifted by the chair
    rid = body["restrictions"][0]["id"]
    lifted = _post(chair, f"{API}/restrictions/{rid}/closure", {"note": "Payments released."})
    assert lifted.status_code == 200 and lifted.json()["status"] == "lifted"
    listed = payer.get(f"{API}/restrictions", {"status": "open"})
    assert listed.json() == []


def test_the_pages_show_decisions_and_take_the_chairs_decision(history, settled, clock):
    chair = signed_in(history.people["board"])
    listing = chair.get(f"{PAGES}/board/").content.decode()
    assert "/governance/board/2026-04/decide/" in listing
    assert "/governance/settlements/2026-04/" in listing
    form = {k: v for k, v in DECISION.items() if k not in ("month", "restrictions")} | {
        "restrictions": "Hold M3 payments | compliance | 2026-08-01\n"
    }
    # refusals re-render the form with the reason; nothing written
    before = snapshot()
    page = chair.post(f"{PAGES}/board/2026-04/decide/", form | {"position": "supportable"})
    assert page.status_code == 422 and "trigger_not_met" in page.content.decode()
    page = chair.post(f"{PAGES}/board/2026-04/decide/", form | {"restrictions": "Hold | x"})
    assert page.status_code == 422 and "invalid_restriction" in page.content.decode()
    assert snapshot() == before
    assert (
        signed_in(history.people["payer-wvch"]).get(f"{PAGES}/board/2026-04/decide/").status_code
        == 403
    )
    # decided
    done = chair.post(f"{PAGES}/board/2026-04/decide/", form)
    assert done.status_code == 302 and done["Location"] == f"{PAGES}/board/2026-04/"
    text = signed_in(history.people["payer-wvch"]).get(f"{PAGES}/board/2026-04/").content.decode()
    assert "Hold M3 payments" in text and "2700.00" in text
    assert NOTES["definition_issues"] in text
    statement_page = f"{PAGES}/board/2026-04/statements/"
    sponsor = signed_in(history.people["sponsor"])
    said = {"audience": "WVCH", "position": "restricted", "amount": "2700.01", "text": "t"}
    assert sponsor.post(statement_page, said).status_code == 422
    assert sponsor.post(statement_page, said | {"amount": "2700.00"}).status_code == 302
    restriction = Restriction.objects.get()
    close = chair.post(f"{PAGES}/restrictions/{restriction.pk}/close/", {"note": "Released."})
    assert close.status_code == 302
    restriction.refresh_from_db()
    assert restriction.closed_by == history.people["board"]


def test_the_command_line_decides_states_and_lifts(history, settled, clock):
    args = [
        "board-decide", "--pilot", "recovery-2026", "--month", "2026-04",
        "--position", "restricted", "--code", "BD-2026-04", "--approved-amount", "2700.00",
        "--executive-owner", "sponsor", "--residual-risk", "high",
        "--review-date", "2026-07-20", "--next-checkpoint", "2026-08-10",
        "--integrity-risks", "none identified", "--denominator-disputes", "none identified",
        "--definition-issues", NOTES["definition_issues"], "--by", "board", "--json",
    ]  # fmt: skip
    before = snapshot()
    bare = run(*args)
    assert bare.exit_code == 2 and "restriction_required" in bare.stderr
    payer = run(*args[:-3], "--by", "payer-wvch", "--restriction", "Hold|compliance|2026-08-01")
    assert payer.exit_code == 2 and "not_permitted" in payer.stderr
    assert snapshot() == before
    made = run(
        *args,
        "--restriction", "Hold M3 payments|compliance|2026-08-01",
        "--restriction", "Reconcile the log|finance|2026-07-31",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    shown = json.loads(made.stdout)
    assert (shown["position"], shown["approved_amount"]) == ("restricted", "2700.00")
    assert [r["owner"] for r in shown["restrictions"]] == ["compliance", "finance"]
    said = [
        "statement", "--pilot", "recovery-2026", "--month", "2026-04", "--audience", "WVCH",
        "--position", "restricted", "--text", "Restricted to 2,700.00.", "--by", "sponsor",
    ]  # fmt: skip
    too_much = run(*said, "--amount", "2800.00")
    assert too_much.exit_code == 2 and "exceeds_approved_position" in too_much.stderr
    assert run(*said, "--amount", "2700.00", "--json").exit_code == 0
    rid = shown["restrictions"][0]["id"]
    lifted = run(
        "restriction-close", "--pilot", "recovery-2026", "--restriction", str(rid),
        "--note", "Released.", "--by", "board", "--json",
    )  # fmt: skip
    assert lifted.exit_code == 0 and json.loads(lifted.stdout)["status"] == "lifted"
