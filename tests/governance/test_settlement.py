"""C16 settlement file on the six-month history (recovery-2026, January–June 2026):
figures against an independent reading of the rows, the file's life (prepare,
reconcile, finalise, review), reproducibility after later activity, adjustments in the
next month, every refusal (nothing written), separation of duties, due dates."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from fundpilot.claims.models import Claim
from fundpilot.governance import settlement as figures
from fundpilot.governance.actions import settlement as actions
from fundpilot.governance.models import MethodologyQuestion, Settlement
from fundpilot.participants.models import ActivationDecision, Participant
from fundpilot.participants.queues import work_queue
from fundpilot.pilots import actions as pilot_actions
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.governance.conftest import snapshot
from tests.governance.settlement_fixtures import (
    activate_newcomer,
    expected,
    flat,
    reassess,
    reassessments_due,
    remove,
    roster,
    verify,
)

MAY, JUNE, JULY = date(2026, 5, 1), date(2026, 6, 1), date(2026, 7, 1)
CUTOFF = datetime(2026, 7, 6, 14, 0, tzinfo=UTC)  # Monday 6 July, 07:00 in Oregon
LATER = datetime(2026, 7, 8, 17, 0, tzinfo=UTC)
AUGUST = datetime(2026, 8, 4, 16, 0, tzinfo=UTC)


def refused(code: str, call) -> Refused:
    """The call is refused with `code` and writes nothing."""
    before = snapshot()
    with pytest.raises(Refused) as caught:
        call()
    assert caught.value.code == code, caught.value
    assert snapshot() == before
    return caught.value


def _finalised(history, month: date = JUNE, at: datetime = CUTOFF) -> Settlement:
    finance = history.people["finance"]
    made = actions.prepare_settlement(pilot=history.pilot, month=month, by=finance, at=at)
    actions.document_reconciliation(
        settlement=made,
        note="Milestone reporting file and reassessment log agree claim by claim.",
        by=finance,
        at=at,
    )
    return actions.finalise_settlement(settlement=made, by=finance, at=at)


# --- the figures ---------------------------------------------------------------------------


def test_the_figures_follow_the_methodology_from_the_records(history, db):
    pilot, people = history.pilot, history.people
    # given: some of June's reassessments in the log — in time, signed after their
    # window, and recorded after the cut-off; a removal from the roster in June; and
    # methodology questions raised and resolved around the cut-off
    due = reassessments_due(pilot, JUNE, CUTOFF)
    one_each = list({c.participant_id: c for c in reversed(due)}.values())
    assert len(one_each) >= 6
    for claim in one_each[:3]:
        reassess(pilot, people, claim, claim.reached_on + timedelta(days=20), CUTOFF)
    late, logged_late = one_each[3], one_each[4]
    reassess(pilot, people, late, late.reached_on + timedelta(days=31), CUTOFF)
    reassess(pilot, people, logged_late, logged_late.reached_on + timedelta(days=5), LATER)
    leaver = sorted(roster(pilot, JUNE) - {c.participant.participant_id for c in due})[0]
    remove(pilot, people, leaver, datetime(2026, 6, 10, 18, tzinfo=UTC))
    ask = actions.raise_methodology_question
    open_q = ask(
        pilot=pilot, question="Does a relapse reset M1?", by=people["frontline"], at=CUTOFF
    )
    answered = ask(
        pilot=pilot, question="Is M3 counted by signature?", milestone="M3",
        by=people["sponsor"], at=CUTOFF - timedelta(days=3),
    )  # fmt: skip
    actions.resolve_methodology_question(
        question=answered, answer="Yes.", by=people["compliance"], at=CUTOFF - timedelta(days=1)
    )
    ask(pilot=pilot, question="Raised after the cut-off", by=people["sponsor"], at=LATER)
    # when
    made = actions.prepare_settlement(pilot=pilot, month=JUNE, by=people["finance"], at=CUTOFF)
    # then: every figure is what the rows say
    assert flat(made.figures) == expected(pilot, JUNE, CUTOFF, unresolved=1)
    f = made.figures
    assert f["reassessment"]["due"] == len(due)
    assert 3 <= f["reassessment"]["completed"] < len(due)
    missing = {r["claim"] for r in f["trace"]["reassessment"] if r["assessment"] is None}
    assert {late.reference, logged_late.reference} <= missing
    assert f["month"] == "2026-06" and f["pilot_month"] == 6
    assert leaver not in f["trace"]["activated"]
    assert set(f["trace"]["activated"]) == roster(pilot, JUNE)
    assert f["trace"]["unresolved_questions"] == [open_q.pk]
    assert f["payment_trigger"]["rule"] == pilot.rulebook.settlement.payment_trigger
    assert not f["payment_trigger"]["met"]  # reassessment completion is far below 85%
    # the trace names the records: every window, every claim behind the amount
    reached = [w for w in f["trace"]["attainment"] if w["claim"]]
    assert len(reached) == f["attainment"]["numerator"]
    for w in reached:
        claim = Claim.objects.get(pilot=pilot, reference=w["claim"])
        assert claim.participant.participant_id == w["participant"]
        assert claim.milestone == w["milestone"] and claim.status == Claim.PAYABLE
    behind = Claim.objects.filter(
        reference__in=[c["claim"] for c in f["trace"]["milestone_amount"]]
    )
    assert str(sum(c.payable_amount for c in behind)) == f["milestone_amount"]
    assert made.figures_sha256 == figures.figures_sha256(made.figures)
    assert made.cutoff == CUTOFF and made.status == Settlement.DRAFT


def test_a_risk_adjusted_window_is_the_one_that_counts(history, db):
    f = figures.compute(history.pilot, JUNE, CUTOFF)
    rb = history.pilot.rulebook
    adjusted = [
        w
        for w in f["trace"]["attainment"]
        if w["window_days"] != rb.milestone(w["milestone"]).window_days
    ]
    assert adjusted  # the homeless and high-acuity participants' longer windows
    for w in adjusted:
        p = Participant.objects.get(pilot=history.pilot, participant_id=w["participant"])
        m = rb.milestone(w["milestone"])
        assert w["window_days"] == m.terms_for(acuity_band=p.acuity_band, flags=p.flags).window_days
        assert date.fromisoformat(w["window_closed"]) - date.fromisoformat(
            w["window_start"]
        ) == timedelta(days=w["window_days"])


# --- the file's life -----------------------------------------------------------------------


def test_prepare_reconcile_finalise_and_three_reviews_each_write_one_audit_record(history, db):
    pilot, people = history.pilot, history.people
    finance = people["finance"]
    before = snapshot()["AuditRecord"]
    made = actions.prepare_settlement(pilot=pilot, month=JUNE, by=finance, at=CUTOFF)
    actions.document_reconciliation(settlement=made, note="Reconciled.", by=finance, at=CUTOFF)
    # a refresh that changes the figures clears the reconciliation of the old ones
    due = reassessments_due(pilot, JUNE, CUTOFF)[0]
    reassess(pilot, people, due, due.reached_on + timedelta(days=2), CUTOFF + timedelta(hours=1))
    refreshed = actions.prepare_settlement(
        pilot=pilot, month=JUNE, by=finance, at=CUTOFF + timedelta(hours=2)
    )
    assert refreshed.pk == made.pk and refreshed.reconciliation_note == ""
    assert refreshed.figures["reassessment"]["completed"] == 1
    actions.document_reconciliation(settlement=refreshed, note="Again.", by=finance, at=CUTOFF)
    done = actions.finalise_settlement(settlement=refreshed, by=finance, at=LATER)
    assert done.status == Settlement.FINALISED and done.finalised_by == finance
    for who in ("finance", "compliance", "sponsor"):
        actions.review_settlement(settlement=done, note="Seen.", by=people[who], at=LATER)
    assert actions.reviews_missing(done) == []
    assert set(done.reviews.values_list("role", flat=True)) == {
        "finance",
        "compliance",
        "executive_sponsor",
    }
    # 2 prepares, 2 reconciliations, 1 finalisation, 3 reviews (+ the reassessment)
    assert snapshot()["AuditRecord"] - before == 9
    assert figures.latest_finalised(pilot) == done
    assert figures.latest_finalised(pilot, MAY) is None


def test_a_finalised_month_recomputes_identically_after_later_activity(history, db):
    pilot, people = history.pilot, history.people
    june = _finalised(history)
    stored = dict(june.figures)
    # later activity: a verification of a June window's claim, a reassessment of a June
    # due, a new activation and a removal from the roster — all after the cut-off
    waiting = Claim.objects.get(pilot=pilot, reference="SIM7-00047/M3/1")
    assert waiting.status == Claim.SUBMITTED
    verify(people, waiting, LATER)
    due = reassessments_due(pilot, JUNE, CUTOFF)[0]
    reassess(pilot, people, due, due.reached_on + timedelta(days=10), LATER)
    activate_newcomer(pilot, people, LATER)
    remove(pilot, people, sorted(stored["trace"]["activated"])[0], LATER)
    # then: recomputed at its cut-off, June gives its stored figures, byte for byte
    june.refresh_from_db()
    check = figures.recompute_check(june)
    assert check["matches"] and check["differences"] == []
    assert figures.compute(pilot, JUNE, june.cutoff) == stored
    # and July's file lists June's changes as adjustments, as the rows now say
    july = actions.prepare_settlement(pilot=pilot, month=JULY, by=people["finance"], at=AUGUST)
    now = expected(pilot, JUNE, AUGUST, unresolved=0)
    was = flat(stored)
    changes = [{"figure": k, "stored": was[k], "now": now[k]} for k in was if was[k] != now[k]]
    assert {c["figure"] for c in changes} >= {
        "attainment.numerator",
        "reassessment.completed",
    }
    assert now["activated"] == was["activated"]  # later activations and removals: not June's
    assert july.figures["adjustments"] == [
        {"month": "2026-06", "differences": [c | {"difference": _minus(c)} for c in changes]}
    ]
    assert "P-LATE" in july.figures["trace"]["activated"]
    # once July's file is final, August's reports no June change again: each change
    # appears once, in the first file after it
    july = _finalised(history, JULY, AUGUST)
    september = datetime(2026, 9, 8, 16, 0, tzinfo=UTC)
    august = actions.prepare_settlement(
        pilot=pilot, month=date(2026, 8, 1), by=people["finance"], at=september
    )
    assert august.figures["adjustments"] == []


def _minus(change: dict) -> object:
    now, was = change["now"], change["stored"]
    if isinstance(now, bool) or now is None or was is None:
        return None
    return now - was if isinstance(now, int) else str(Decimal(now) - Decimal(was))


def test_no_adjustment_when_nothing_changed_and_only_finalised_months_count(history, db):
    finance = history.people["finance"]
    actions.prepare_settlement(pilot=history.pilot, month=MAY, by=finance, at=CUTOFF)  # draft
    _finalised(history)
    july = actions.prepare_settlement(pilot=history.pilot, month=JULY, by=finance, at=AUGUST)
    assert july.figures["adjustments"] == []


def test_the_work_queues_hold_drafts_to_finalise_and_files_awaiting_each_review(history, db):
    pilot, people = history.pilot, history.people

    def queued(who: str) -> list[tuple[str, str]]:
        queue = work_queue(people[who], pilot, today=date(2026, 7, 7), limit=100_000)
        return sorted((i.what, i.link) for i in queue.upcoming if i.control == "C16")

    page = "/pilots/recovery-2026/governance/settlements/2026-06/"
    draft = actions.prepare_settlement(pilot=pilot, month=JUNE, by=people["finance"], at=CUTOFF)
    assert queued("finance") == [("Document and finalise the 2026-06 settlement file", page)]
    assert queued("compliance") == queued("sponsor") == queued("board") == []
    actions.document_reconciliation(
        settlement=draft, note="Agreed.", by=people["finance"], at=CUTOFF
    )
    final = actions.finalise_settlement(settlement=draft, by=people["finance"], at=LATER)
    review = [("Review the 2026-06 settlement file", page)]
    assert queued("finance") == queued("compliance") == queued("sponsor") == review
    actions.review_settlement(settlement=final, note="Seen.", by=people["compliance"], at=LATER)
    assert queued("compliance") == [] and queued("sponsor") == review


# --- refusals: each with its code, nothing written -----------------------------------------


def test_prepare_refuses_a_month_not_ended_in_the_future_or_outside_the_period(history, db):
    pilot, finance = history.pilot, history.people["finance"]

    def prepare(month: date):
        return lambda: actions.prepare_settlement(pilot=pilot, month=month, by=finance, at=CUTOFF)

    refused("month_not_ended", prepare(JULY))
    refused("month_in_future", prepare(date(2026, 8, 1)))
    refused("outside_pilot_period", prepare(date(2025, 12, 1)))


def test_a_pilot_whose_rulebook_has_no_methodology_cannot_settle(history, db):
    blended = Pilot.objects.get(slug="blended-2026")
    assert blended.rulebook.settlement is None
    refused(
        "no_methodology",
        lambda: actions.prepare_settlement(
            pilot=blended, month=JUNE, by=history.people["finance"], at=CUTOFF
        ),
    )


def test_a_finalised_month_is_not_prepared_reconciled_or_finalised_again(history, db):
    pilot, finance = history.pilot, history.people["finance"]
    june = _finalised(history)
    refused(
        "already_finalised",
        lambda: actions.prepare_settlement(pilot=pilot, month=JUNE, by=finance, at=LATER),
    )
    refused(
        "already_finalised",
        lambda: actions.document_reconciliation(settlement=june, note="x", by=finance, at=LATER),
    )
    refused(
        "already_finalised",
        lambda: actions.finalise_settlement(settlement=june, by=finance, at=LATER),
    )


def test_finalising_needs_the_documented_reconciliation(history, db):
    finance = history.people["finance"]
    made = actions.prepare_settlement(pilot=history.pilot, month=JUNE, by=finance, at=CUTOFF)
    refused(
        "note_required",
        lambda: actions.document_reconciliation(settlement=made, note="  ", by=finance, at=CUTOFF),
    )
    refused(
        "reconciliation_missing",
        lambda: actions.finalise_settlement(settlement=made, by=finance, at=CUTOFF),
    )


def test_figures_that_no_longer_recompute_at_the_cutoff_are_stale(history, db):
    pilot, people, finance = history.pilot, history.people, history.people["finance"]
    made = actions.prepare_settlement(pilot=pilot, month=JUNE, by=finance, at=CUTOFF)
    actions.document_reconciliation(settlement=made, note="Reconciled.", by=finance, at=CUTOFF)
    # a question recorded afterwards but dated before the cut-off
    actions.raise_methodology_question(
        pilot=pilot, question="Backdated", by=people["sponsor"], at=CUTOFF - timedelta(days=2)
    )
    error = refused(
        "stale_figures", lambda: actions.finalise_settlement(settlement=made, by=finance, at=LATER)
    )
    assert "unresolved_questions" in error.message


def test_an_activated_count_off_the_locked_roster_is_refused(history, db):
    pilot, finance = history.pilot, history.people["finance"]
    # an activation written into the table, not decided through the audited action
    rejected = Participant.objects.filter(pilot=pilot, status=Participant.REJECTED).first()
    ActivationDecision.objects.create(
        participant=rejected,
        outcome=ActivationDecision.ACTIVATED,
        decision_code="A1",
        review_date=date(2026, 6, 2),
        control_status="passed",
        decided_by=history.people["approver"],
        decided_at=datetime(2026, 6, 2, 17, tzinfo=UTC),
        rulebook_version=1,
    )
    made = actions.prepare_settlement(pilot=pilot, month=JUNE, by=finance, at=CUTOFF)
    assert rejected.participant_id in made.figures["trace"]["activated"]
    actions.document_reconciliation(settlement=made, note="Reconciled.", by=finance, at=CUTOFF)
    error = refused(
        "roster_mismatch",
        lambda: actions.finalise_settlement(settlement=made, by=finance, at=CUTOFF),
    )
    assert rejected.participant_id in error.message


def test_reassessment_completion_must_reflect_the_live_log(history, db):
    pilot, people, finance = history.pilot, history.people, history.people["finance"]
    made = actions.prepare_settlement(pilot=pilot, month=JUNE, by=finance, at=CUTOFF)
    actions.document_reconciliation(settlement=made, note="Reconciled.", by=finance, at=CUTOFF)
    due = reassessments_due(pilot, JUNE, CUTOFF)[0]
    reassess(pilot, people, due, due.reached_on + timedelta(days=3), LATER)  # logged late
    refused(
        "reassessment_mismatch",
        lambda: actions.finalise_settlement(settlement=made, by=finance, at=LATER),
    )
    # prepared again, the draft reflects the log and finalises
    again = actions.prepare_settlement(pilot=pilot, month=JUNE, by=finance, at=LATER)
    actions.document_reconciliation(settlement=again, note="Reconciled.", by=finance, at=LATER)
    assert actions.finalise_settlement(settlement=again, by=finance, at=LATER).status == "finalised"


def test_review_refusals(history, db):
    pilot, people = history.pilot, history.people
    finance = people["finance"]
    draft = actions.prepare_settlement(pilot=pilot, month=JUNE, by=finance, at=CUTOFF)

    def review(by, note="Seen.", role=None, settlement=draft):
        return lambda: actions.review_settlement(
            settlement=settlement, note=note, role=role, by=by, at=LATER
        )

    refused("not_finalised", review(people["compliance"]))
    june = _finalised(history, at=CUTOFF)
    refused("note_required", review(people["compliance"], note=" ", settlement=june))
    refused("not_your_role", review(people["compliance"], role="finance", settlement=june))
    actions.review_settlement(settlement=june, note="Seen.", by=people["compliance"], at=LATER)
    refused("already_reviewed", review(people["compliance"], settlement=june))
    # a second compliance officer may not add a second compliance review
    other = pilot_actions.create_user(
        username="compliance-2", organisation=people["compliance"].organisation,
        password="a-long-passphrase", by=people["admin"], at=CUTOFF,
    )  # fmt: skip
    pilot_actions.grant_role(
        user=other, role=Role.COMPLIANCE, pilot=pilot, by=people["admin"], at=CUTOFF
    )
    refused("already_reviewed", review(other, settlement=june))
    # someone holding two reviewing roles names one, and reviews once
    pilot_actions.grant_role(
        user=other, role=Role.EXECUTIVE_SPONSOR, pilot=pilot, by=people["admin"], at=CUTOFF
    )
    refused("role_required", review(other, settlement=june))
    actions.review_settlement(
        settlement=june, note="Seen.", role="executive_sponsor", by=other, at=LATER
    )
    refused("already_reviewed", review(people["sponsor"], settlement=june))


def test_methodology_question_refusals(history, db):
    pilot, people = history.pilot, history.people
    ask = actions.raise_methodology_question
    refused(
        "question_required", lambda: ask(pilot=pilot, question=" ", by=people["board"], at=LATER)
    )
    refused(
        "unknown_milestone",
        lambda: ask(pilot=pilot, question="?", milestone="M9", by=people["board"], at=LATER),
    )
    mine = ask(pilot=pilot, question="Own?", by=people["compliance"], at=LATER)
    resolve = actions.resolve_methodology_question
    refused(
        "own_question",
        lambda: resolve(question=mine, answer="x", by=people["compliance"], at=LATER),
    )
    theirs = ask(pilot=pilot, question="Theirs?", by=people["board"], at=LATER)
    refused(
        "answer_required",
        lambda: resolve(question=theirs, answer="", by=people["compliance"], at=LATER),
    )
    resolve(question=theirs, answer="Yes.", by=people["compliance"], at=LATER)
    refused(
        "already_resolved",
        lambda: resolve(question=theirs, answer="No.", by=people["compliance"], at=LATER),
    )
    assert MethodologyQuestion.objects.get(pk=theirs.pk).answer == "Yes."


# --- separation of duties -------------------------------------------------------------------


def test_only_finance_prepares_and_finalises_and_only_reviewers_review(history, db):
    pilot, people = history.pilot, history.people
    for who in ("frontline", "payer-wvch", "compliance", "board"):
        error = refused(
            "not_permitted",
            lambda who=who: actions.prepare_settlement(
                pilot=pilot, month=JUNE, by=people[who], at=CUTOFF
            ),
        )
        assert isinstance(error, NotPermitted)
    made = actions.prepare_settlement(pilot=pilot, month=JUNE, by=people["finance"], at=CUTOFF)
    actions.document_reconciliation(
        settlement=made, note="Reconciled.", by=people["finance"], at=CUTOFF
    )
    refused(
        "not_permitted",
        lambda: actions.finalise_settlement(settlement=made, by=people["compliance"], at=CUTOFF),
    )
    refused(
        "not_permitted",
        lambda: actions.document_reconciliation(
            settlement=made, note="x", by=people["sponsor"], at=CUTOFF
        ),
    )
    june = actions.finalise_settlement(settlement=made, by=people["finance"], at=CUTOFF)
    for who in ("frontline", "payer-wvch", "board", "auditor"):
        refused(
            "not_permitted",
            lambda who=who: actions.review_settlement(
                settlement=june, note="x", by=people[who], at=LATER
            ),
        )
    question = actions.raise_methodology_question(
        pilot=pilot, question="Who counts?", by=people["frontline"], at=LATER
    )
    refused(
        "not_permitted",
        lambda: actions.resolve_methodology_question(
            question=question, answer="x", by=people["finance"], at=LATER
        ),
    )


# --- due dates ----------------------------------------------------------------------------


def test_the_file_is_due_on_the_rulebook_day_or_the_next_business_day(history, db):
    pilot = history.pilot
    assert pilot.rulebook.deadlines.settlement_day_of_month == 10
    assert figures.due_on(pilot, JUNE) == date(2026, 7, 10)  # a Friday
    assert figures.due_on(pilot, date(2026, 4, 1)) == date(2026, 5, 11)  # 10 May is a Sunday
    assert figures.is_overdue(None, pilot, JUNE, date(2026, 7, 13))
    assert not figures.is_overdue(None, pilot, JUNE, date(2026, 7, 10))
    june = _finalised(history)
    assert not figures.is_overdue(june, pilot, JUNE, date(2026, 7, 13))
