"""C12 where the contract provides less: a pilot whose rulebook has no exception route
(a request above every decision right stays refused) and a payer that contributes
nothing (there is no contribution to commit)."""

import pytest

from fundpilot.money.actions.contributions import commit_contribution
from fundpilot.money.actions.spending import approve_spend
from fundpilot.pilots import actions
from fundpilot.pilots.models import Pilot, User
from tests.conftest import NOW, example
from tests.money.spending_fixtures import ask, fund, refused_without_writing

FUND = 'contribution = "400000.00"'
ROUTE = '[exception_route]\nsenior_role = "executive_sponsor"\nretrospective_review_days = 10\n'


@pytest.fixture
def pooled(admin: User) -> Pilot:
    document = example("multi-payer")
    assert ROUTE in document
    assert document.count(FUND) == 1  # the community fund's
    document = document.replace(ROUTE, "").replace(FUND, 'contribution = "0.00"')
    return actions.create_pilot(document=document, by=admin, at=NOW)


def test_nothing_to_commit_for_a_payer_contributing_nothing(
    pooled: Pilot, money_staff: dict[str, User]
) -> None:
    refused_without_writing(
        "no_contribution",
        commit_contribution,
        pilot=pooled,
        payer="fund",
        by=money_staff["po-finance"],
        at=NOW,
    )


def test_an_exception_is_refused_when_the_rulebook_has_no_route(
    pooled: Pilot, money_staff: dict[str, User]
) -> None:
    fund(pooled, money_staff, "medicaid", {"care_coordination": "20000.00"})
    made = ask(pooled, money_staff, payer="medicaid", use="care_coordination", amount="15000.00")
    refusal = refused_without_writing(
        "no_exception_route",
        approve_spend,
        request=made,
        by=money_staff["po-executive_sponsor"],
        at=NOW,
        exception=True,
    )
    assert refusal.field == "exception"
