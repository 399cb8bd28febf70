"""C12 spend requests: central validation when asked, approval only under a covering
decision right and within the funds, nobody deciding on their own request, the
exception route by the senior role, and its retrospective review by someone else.

The pooled pilot's matrix (examples/multi-payer.toml), approve_spend: supervisor fund
transport/flexible_supports ≤ 500; finance any ≤ 25,000; executive sponsor any ≤
100,000; payer_rep medicaid care_coordination/behavioral_health ≤ 250,000.
approve_exception: executive sponsor any ≤ 50,000; reviewed within 10 business days.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.money import ledger
from fundpilot.money.actions.spending import (
    approve_spend,
    available_for,
    decline_spend,
    review_exception,
    spend_requests_for,
)
from fundpilot.money.ledger import Leg, Posting
from fundpilot.money.models import SpendRequest, Transaction
from fundpilot.participants.queues import work_queue
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW
from tests.money.spending_fixtures import admit, ask, fund, refused_without_writing

LATER = NOW + timedelta(hours=1)
TODAY = date(2026, 3, 2)
REVIEW_DUE = date(2026, 3, 16)  # 10 Colorado business days after Monday 2 March


@pytest.fixture
def staff(money_staff: dict[str, User], pooled: Pilot) -> dict[str, User]:
    """The money staff, with the community fund's transport budget at 1,000 and the
    Medicaid plan's care coordination at 20,000."""
    fund(pooled, money_staff, "fund", {"transport": "1000.00", "flexible_supports": "400.00"})
    fund(pooled, money_staff, "medicaid", {"care_coordination": "20000.00"})
    return money_staff


def approve(request: SpendRequest, by: User, **kwargs: object) -> SpendRequest:
    return approve_spend(request=request, by=by, at=LATER, **kwargs)


# --- asking ---------------------------------------------------------------------------


def test_frontline_asks_for_their_own_organisation(pooled: Pilot, staff: dict[str, User]) -> None:
    # given
    audit = AuditRecord.objects.count()
    # when
    first = ask(pooled, staff)
    second = ask(pooled, staff, amount="120.50")
    # then
    assert (first.reference, second.reference) == ("SR-0001", "SR-0002")
    assert (first.payer, first.use, first.amount, first.status) == (
        "fund",
        "transport",
        Decimal("300.00"),
        "requested",
    )
    assert first.payee == staff["rs-frontline"].organisation
    assert first.basis_key == "spend:pooled-2026:SR-0001"
    assert first.rulebook_version == 1
    assert AuditRecord.objects.count() == audit + 2
    assert AuditRecord.objects.order_by("-pk").first().action == "spend.request"


def test_the_pilot_office_asks_for_any_provider(
    pooled: Pilot, staff: dict[str, User], other_provider: Organisation
) -> None:
    made = ask(pooled, staff, by="po-finance", payee=other_provider)
    assert made.payee == other_provider


def test_a_request_may_name_the_payees_participant(pooled: Pilot, staff: dict[str, User]) -> None:
    admit(pooled, staff)
    made = ask(pooled, staff, participant_id="FR-0001")
    assert made.participant_id == "FR-0001"


@pytest.mark.parametrize(
    ("overrides", "code", "named"),
    [
        ({"payer": "state"}, "unknown_payer", "medicaid, county, fund"),
        ({"use": "outreach"}, "use_not_allowed", "housing_deposits, transport"),
        ({"amount": "0"}, "invalid_amount", "positive"),
        ({"amount": "-1.00"}, "invalid_amount", "positive"),
        ({"amount": "10.001"}, "invalid_amount", "2 decimal"),
        ({"participant_id": "FR-9999"}, "unknown_participant", "FR-9999"),
    ],
)
def test_central_validation_refuses_and_writes_nothing(
    pooled: Pilot,
    staff: dict[str, User],
    overrides: dict[str, str],
    code: str,
    named: str,
) -> None:
    refusal = refused_without_writing(code, ask, pilot=pooled, staff=staff, **overrides)
    assert named in refusal.message


def test_a_request_needs_a_purpose(pooled: Pilot, staff: dict[str, User]) -> None:
    from fundpilot.money.actions.spending import request_spend

    person = staff["rs-frontline"]
    refused_without_writing(
        "purpose_required",
        request_spend,
        pilot=pooled,
        payer="fund",
        use="transport",
        amount=Decimal("10.00"),
        payee=person.organisation,
        purpose="  ",
        by=person,
        at=NOW,
    )


def test_the_payee_must_be_a_provider_of_the_pilot(pooled: Pilot, staff: dict[str, User]) -> None:
    payer_org = staff["pr-county"].organisation
    refused_without_writing(
        "payee_not_provider", ask, pilot=pooled, staff=staff, by="po-finance", payee=payer_org
    )


def test_frontline_may_not_ask_for_another_organisation(
    pooled: Pilot, staff: dict[str, User], other_provider: Organisation
) -> None:
    refusal = refused_without_writing(
        "other_organisation", ask, pilot=pooled, staff=staff, payee=other_provider
    )
    assert isinstance(refusal, NotPermitted)


def test_the_participant_must_be_the_payees(pooled: Pilot, staff: dict[str, User]) -> None:
    # given: FR-0001 is riverside's
    admit(pooled, staff)
    # when / then: northstar asks for it
    refused_without_writing(
        "participant_not_payee",
        ask,
        pilot=pooled,
        staff=staff,
        by="ns-frontline",
        participant_id="FR-0001",
    )


def test_payer_representatives_do_not_ask(pooled: Pilot, staff: dict[str, User]) -> None:
    refusal = refused_without_writing(
        "not_permitted",
        ask,
        pilot=pooled,
        staff=staff,
        by="pr-county",
        payee=staff["rs-frontline"].organisation,
    )
    assert isinstance(refusal, NotPermitted)


# --- approving ------------------------------------------------------------------------


def test_a_supervisor_approves_within_their_right(pooled: Pilot, staff: dict[str, User]) -> None:
    # given
    made = ask(pooled, staff)
    audit = AuditRecord.objects.count()
    # when
    decided = approve(made, staff["rs-supervisor"], note="in the care plan")
    # then
    decided.refresh_from_db()
    assert (decided.status, decided.decided_by, decided.decided_role) == (
        "approved",
        staff["rs-supervisor"],
        "supervisor",
    )
    assert decided.decision_right == "approve_spend/supervisor/fund/flexible_supports+transport"
    assert (decided.exception, decided.review_due, decided.decision_note) == (
        False,
        None,
        "in the care plan",
    )
    assert AuditRecord.objects.count() == audit + 1
    record = AuditRecord.objects.order_by("-pk").first()
    assert (record.action, record.subject) == ("spend.approve", "spend:SR-0001")
    # the approval holds its amount against the fund until the payment run pays it
    assert available_for(pooled, "fund", "transport") == Decimal("700.00")
    assert Transaction.objects.filter(basis_key=made.basis_key).count() == 0


def test_nobody_approves_their_own_request(pooled: Pilot, staff: dict[str, User]) -> None:
    made = ask(pooled, staff, by="po-finance", payee=staff["rs-frontline"].organisation)
    refused_without_writing("own_request", approve, request=made, by=staff["po-finance"])
    approve(made, staff["po-finance-2"])
    assert SpendRequest.objects.get(pk=made.pk).status == "approved"


def test_an_approver_without_a_right_for_the_payer_is_refused(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    # given: the supervisor's right covers only the fund's transport and flexible supports
    made = ask(pooled, staff, payer="medicaid", use="care_coordination", amount="100.00")
    # when / then
    refused_without_writing("no_decision_right", approve, request=made, by=staff["rs-supervisor"])


def test_a_payer_representative_approves_only_its_own_payers_spend(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    # given
    county = ask(pooled, staff, payer="county", use="outreach", amount="100.00")
    medicaid = ask(pooled, staff, payer="medicaid", use="care_coordination", amount="100.00")
    # then: the county's representative has no approve_spend right at all
    refused_without_writing("no_decision_right", approve, request=county, by=staff["pr-county"])
    # and it may not even see (so not decide on) the Medicaid plan's request
    refused_without_writing("not_visible", approve, request=medicaid, by=staff["pr-county"])
    # while the Medicaid plan's representative may
    approve(medicaid, staff["pr-medicaid"])
    assert SpendRequest.objects.get(pk=medicaid.pk).decided_role == "payer_rep"


def test_above_the_limit_is_refused_then_approved_as_an_exception(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    # given: 800 is above the supervisor's 500
    made = ask(pooled, staff, amount="800.00")
    refusal = refused_without_writing(
        "over_limit", approve, request=made, by=staff["rs-supervisor"]
    )
    assert "$500.00" in refusal.message
    # when: the executive sponsor takes the exception route
    decided = approve(made, staff["po-executive_sponsor"], exception=True, note="urgent")
    # then
    decided.refresh_from_db()
    assert (decided.status, decided.exception, decided.decided_role) == (
        "approved",
        True,
        "executive_sponsor",
    )
    assert decided.decision_right == "approve_exception/executive_sponsor/*"
    assert decided.review_due == REVIEW_DUE


def test_approval_is_refused_beyond_the_available_funds(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    # given: 1,000 of transport; 600 already approved and unpaid
    first = ask(pooled, staff, amount="450.00")
    approve(first, staff["rs-supervisor"])
    second = ask(pooled, staff, amount="450.00")
    approve(second, staff["po-finance"])
    third = ask(pooled, staff, amount="100.01")
    # when / then
    refusal = refused_without_writing(
        "insufficient_funds", approve, request=third, by=staff["po-finance"]
    )
    assert "$100.00 available in fund/transport" in refusal.message
    # unless the senior role approves it as an exception
    approve(third, staff["po-executive_sponsor"], exception=True)
    assert SpendRequest.objects.get(pk=third.pk).exception is True


def test_a_paid_request_no_longer_holds_funds(pooled: Pilot, staff: dict[str, User]) -> None:
    # given: an approved request, then paid on its basis by a payment run
    made = approve(ask(pooled, staff, amount="300.00"), staff["rs-supervisor"])
    assert available_for(pooled, "fund", "transport") == Decimal("700.00")
    from django.db import transaction

    with transaction.atomic():
        ledger.post(
            pooled,
            Posting(
                kind=Transaction.PAYMENT,
                basis_key=made.basis_key,
                legs=[
                    Leg("paid:fund:transport", Decimal("300.00")),
                    Leg("payable:riverside", Decimal("-300.00"), made.payee),
                ],
                effective_on=TODAY,
            ),
            by=staff["po-finance"],
            at=LATER,
        )
    # then: the hold is gone (the fund account itself is credited at remittance)
    assert available_for(pooled, "fund", "transport") == Decimal("1000.00")


def test_only_the_senior_role_takes_the_exception_route(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    made = ask(pooled, staff, amount="5000.00")
    refusal = refused_without_writing(
        "not_senior_role", approve, request=made, by=staff["po-finance"], exception=True
    )
    assert "Executive sponsor" in refusal.message or "executive" in refusal.message.lower()


def test_the_exception_route_has_its_own_limit(pooled: Pilot, staff: dict[str, User]) -> None:
    made = ask(pooled, staff, payer="medicaid", use="care_coordination", amount="60000.00")
    refusal = refused_without_writing(
        "over_limit", approve, request=made, by=staff["po-executive_sponsor"], exception=True
    )
    assert "$50,000.00" in refusal.message


def test_a_decided_request_is_not_decided_again(pooled: Pilot, staff: dict[str, User]) -> None:
    made = approve(ask(pooled, staff), staff["rs-supervisor"])
    refused_without_writing("not_pending", approve, request=made, by=staff["po-finance"])
    refused_without_writing(
        "not_pending",
        decline_spend,
        request=made,
        reason="late",
        by=staff["po-finance"],
        at=LATER,
    )


def test_people_without_spend_approve_are_not_permitted(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    made = ask(pooled, staff)
    for name in ("ns-frontline", "ar-assurance", "auditor"):
        refused_without_writing("not_permitted", approve, request=made, by=staff[name])


# --- declining ------------------------------------------------------------------------


def test_a_decider_declines_with_a_reason(pooled: Pilot, staff: dict[str, User]) -> None:
    made = ask(pooled, staff, amount="5000.00")
    audit = AuditRecord.objects.count()
    decided = decline_spend(
        request=made, reason="not in the care plan", by=staff["po-finance"], at=LATER
    )
    decided.refresh_from_db()
    assert (decided.status, decided.decision_note, decided.decision_right) == (
        "declined",
        "not in the care plan",
        "approve_spend/finance/*",
    )
    assert AuditRecord.objects.count() == audit + 1
    assert AuditRecord.objects.order_by("-pk").first().action == "spend.decline"


def test_decline_refusals_write_nothing(pooled: Pilot, staff: dict[str, User]) -> None:
    made = ask(pooled, staff, by="po-finance", payee=staff["rs-frontline"].organisation)
    common = {"request": made, "at": LATER}
    refused_without_writing(
        "own_request", decline_spend, reason="no", by=staff["po-finance"], **common
    )
    refused_without_writing(
        "reason_required", decline_spend, reason=" ", by=staff["po-finance-2"], **common
    )
    medicaid = ask(pooled, staff, payer="medicaid", use="care_coordination", amount="10.00")
    refused_without_writing(
        "no_decision_right",
        decline_spend,
        request=medicaid,
        reason="no",
        by=staff["rs-supervisor"],
        at=LATER,
    )


# --- the retrospective review of exceptions --------------------------------------------


@pytest.fixture
def exception(pooled: Pilot, staff: dict[str, User]) -> SpendRequest:
    made = ask(pooled, staff, amount="800.00")
    return approve(made, staff["po-executive_sponsor"], exception=True)


def test_an_exception_is_reviewed_by_someone_else(
    pooled: Pilot, staff: dict[str, User], exception: SpendRequest
) -> None:
    audit = AuditRecord.objects.count()
    reviewed = review_exception(
        request=exception,
        note="urgent and documented",
        by=staff["ar-assurance"],
        at=NOW + timedelta(days=3),
    )
    reviewed.refresh_from_db()
    assert (reviewed.reviewed_by, reviewed.review_note, reviewed.review_late_days) == (
        staff["ar-assurance"],
        "urgent and documented",
        0,
    )
    assert AuditRecord.objects.count() == audit + 1
    assert AuditRecord.objects.order_by("-pk").first().action == "spend.exception_review"


def test_a_late_review_records_how_late(
    pooled: Pilot, staff: dict[str, User], exception: SpendRequest
) -> None:
    # when: reviewed on Wednesday 18 March, due Monday 16 March
    reviewed = review_exception(
        request=exception, note="ok", by=staff["po-compliance"], at=NOW + timedelta(days=16)
    )
    # then
    assert reviewed.review_late_days == 2


def test_the_approver_does_not_review_their_own_exception(
    pooled: Pilot, staff: dict[str, User], admin: User, exception: SpendRequest
) -> None:
    # given: the executive sponsor also holds the compliance role
    sponsor = staff["po-executive_sponsor"]
    actions.grant_role(user=sponsor, role=Role.COMPLIANCE, pilot=pooled, by=admin, at=NOW)
    sponsor = User.objects.get(pk=sponsor.pk)
    # when / then
    refused_without_writing(
        "own_approval", review_exception, request=exception, note="fine", by=sponsor, at=LATER
    )


def test_review_refusals_write_nothing(
    pooled: Pilot, staff: dict[str, User], exception: SpendRequest
) -> None:
    ordinary = approve(ask(pooled, staff, amount="100.00"), staff["rs-supervisor"])
    reviewer = staff["po-compliance"]
    common = {"by": reviewer, "at": LATER}
    refused_without_writing("not_exception", review_exception, request=ordinary, note="x", **common)
    refused_without_writing("note_required", review_exception, request=exception, note="", **common)
    refused_without_writing(
        "not_permitted",
        review_exception,
        request=exception,
        note="x",
        by=staff["po-finance"],
        at=LATER,
    )
    review_exception(request=exception, note="fine", **common)
    exception.refresh_from_db()
    refused_without_writing(
        "already_reviewed", review_exception, request=exception, note="again", **common
    )


def test_the_requester_does_not_review_the_exception_on_their_request(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    made = ask(pooled, staff, by="po-compliance", payee=staff["rs-frontline"].organisation)
    made = approve(made, staff["po-executive_sponsor"], exception=True)
    refused_without_writing(
        "own_request",
        review_exception,
        request=made,
        note="fine",
        by=staff["po-compliance"],
        at=LATER,
    )


# --- who sees what ------------------------------------------------------------------------


def test_requests_are_scoped_by_payer_and_provider(
    pooled: Pilot, staff: dict[str, User], other_provider: Organisation
) -> None:
    # given
    ask(pooled, staff, payer="medicaid", use="care_coordination", amount="10.00")
    ask(pooled, staff, payer="county", use="outreach", amount="10.00")
    ask(pooled, staff, by="ns-frontline", amount="10.00")

    def seen(name: str) -> list[str]:
        return sorted(spend_requests_for(staff[name], pooled).values_list("reference", flat=True))

    # then
    assert seen("pr-county") == ["SR-0002"]
    assert seen("pr-medicaid") == ["SR-0001"]
    assert seen("rs-frontline") == ["SR-0001", "SR-0002"]
    assert seen("ns-frontline") == ["SR-0003"]
    assert seen("po-finance") == seen("auditor") == ["SR-0001", "SR-0002", "SR-0003"]
    assert seen("po-activation_approver") == []  # no spend.view


# --- the work queues ----------------------------------------------------------------------


def _items(
    user: User, pilot: Pilot, today: date = TODAY, starting: str = ""
) -> list[tuple[str, str, str]]:
    queue = work_queue(user, pilot, today=today)
    found = queue.overdue + queue.due_today + queue.waiting + queue.upcoming
    mine = [i for i in found if i.control == "C12" and i.what.startswith(starting)]
    return sorted((i.control, i.what, str(i.due)) for i in mine)


def _decisions(user: User, pilot: Pilot) -> list[str]:
    return [what for _, what, _ in _items(user, pilot, starting="Decide on")]


def test_pending_requests_queue_for_the_deciders_whose_right_covers_them(
    pooled: Pilot, staff: dict[str, User]
) -> None:
    # given
    small = ask(pooled, staff, amount="300.00")
    ask(pooled, staff, amount="800.00")
    ask(
        pooled,
        staff,
        by="po-finance",
        payer="medicaid",
        use="care_coordination",
        amount="30000.00",
        payee=small.payee,
    )
    # then: the supervisor only the small transport request
    assert _decisions(staff["rs-supervisor"], pooled) == [
        "Decide on spend request SR-0001: 300.00 from fund/transport"
    ]
    # finance both transport requests (≤ 25,000), not its own
    assert len(_decisions(staff["po-finance"], pooled)) == 2
    assert len(_decisions(staff["po-finance-2"], pooled)) == 2
    # the executive sponsor all three; the Medicaid plan's representative its own payer's
    assert len(_decisions(staff["po-executive_sponsor"], pooled)) == 3
    assert _decisions(staff["pr-medicaid"], pooled) == [
        "Decide on spend request SR-0003: 30000.00 from medicaid/care_coordination"
    ]
    assert _items(staff["pr-county"], pooled) == []
    # whoever asked sees theirs waiting on a decision
    waiting = "Your spend request"
    assert len(_items(staff["rs-frontline"], pooled, starting=waiting)) == 2
    assert len(_items(staff["po-finance"], pooled, starting=waiting)) == 1


def test_exceptions_queue_for_review_and_stay_visible_when_overdue(
    pooled: Pilot, staff: dict[str, User], exception: SpendRequest
) -> None:
    what = "Retrospective review of the exception approved for spend request SR-0001:"
    reviewer = staff["ar-assurance"]
    assert _items(reviewer, pooled) == [("C12", f"{what} 800.00 from fund/transport", "2026-03-16")]
    later = work_queue(reviewer, pooled, today=date(2026, 3, 18))
    assert [(i.what.startswith("Retrospective"), i.late_days) for i in later.overdue] == [(True, 2)]
    # the approver is no reviewer of their own exception
    assert _items(staff["po-executive_sponsor"], pooled) == []
