"""Property tests of the ledger (hypothesis): for any sequence of contributions
(commitments and receipts), payments, reversals, recoupments and reallocations,

- every transaction balances (the legs of each sum to zero);
- a payer is charged (paid:<payer>:<use>) only for its allowable uses, and no fund
  balance ever goes below zero;
- no basis is posted twice: a repeat is refused and leaves the ledger as it was.

Driven through the real actions where they exist (contributions, spend requests,
reallocations, reversals); payments and recoupments are posted as the payment run
posts them (payment, remittance and recoupment transactions through `ledger.post`).

Each example runs in its own database transaction (hypothesis's Django TestCase),
on a pooled pilot made once for the class.
"""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from fundpilot.money import ledger
from fundpilot.money.actions.contributions import commit_contribution, receive_contribution
from fundpilot.money.actions.ledger import reverse_transaction
from fundpilot.money.actions.reconciliation import approve_reallocation, propose_reallocation
from fundpilot.money.actions.spending import approve_spend, request_spend
from fundpilot.money.ledger import Leg, Posting
from fundpilot.money.models import Account, Entry, Transaction
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, example

D = Decimal
PAYERS = ("medicaid", "county", "fund")
# Every use of any payer: drawing one for a payer may pick a use it does not allow.
USES = (
    "care_coordination",
    "behavioral_health",
    "outreach",
    "health_education",
    "housing_deposits",
    "transport",
    "flexible_supports",
    "milestones",
)
ALLOWED = {
    "medicaid": ("care_coordination", "behavioral_health", "milestones"),
    "county": ("outreach", "health_education", "milestones"),
    "fund": ("housing_deposits", "transport", "flexible_supports", "milestones"),
}
# Mostly a payer with one of its own uses; now and then any use (refused unless allowed).
pairs = st.one_of(
    st.sampled_from([(p, u) for p, uses in ALLOWED.items() for u in uses]),
    st.tuples(st.sampled_from(PAYERS), st.sampled_from(USES)),
)
cents = st.integers(min_value=1, max_value=3_000_000).map(lambda c: D(c).scaleb(-2))
small = st.integers(min_value=1, max_value=500_000).map(lambda c: D(c).scaleb(-2))
index = st.integers(min_value=0, max_value=50)
steps = st.one_of(
    st.tuples(st.just("receive"), pairs, cents),
    st.tuples(st.just("spend"), pairs, small),
    st.tuples(st.just("reverse"), index),
    st.tuples(st.just("recoup"), index, small),
    st.tuples(st.just("reallocate"), st.sampled_from(PAYERS), index, index, small),
    st.tuples(st.just("repeat"), index),
    st.tuples(st.just("commit"), st.sampled_from(PAYERS)),
)


class LedgerProperties(TestCase):
    pilot: Pilot
    staff: dict[str, User]
    riverside: Organisation

    @classmethod
    def setUpTestData(cls) -> None:
        office = actions.create_organisation(
            code="office", name="Office", kind=OrgKind.PILOT_OFFICE, by=None, at=NOW
        )
        admin = actions.create_user(
            username="admin", organisation=office, password="a-long-passphrase", by=None, at=NOW
        )
        actions.grant_role(user=admin, role=Role.ADMINISTRATOR, pilot=None, by=None, at=NOW)
        admin = User.objects.get(pk=admin.pk)
        cls.pilot = actions.create_pilot(document=example("multi-payer"), by=admin, at=NOW)
        cls.riverside = actions.create_organisation(
            code="riverside", name="Riverside", kind=OrgKind.PROVIDER, by=admin, at=NOW
        )
        actions.add_party(
            pilot=cls.pilot, organisation=cls.riverside, payer_id="", by=admin, at=NOW
        )
        people = {
            "po-finance": (office, Role.FINANCE),
            "po-finance-2": (office, Role.FINANCE),
            "rs-frontline": (cls.riverside, Role.FRONTLINE),
        }
        cls.staff = {}
        for name, (org, role) in people.items():
            user = actions.create_user(
                username=name, organisation=org, password="a-long-passphrase", by=admin, at=NOW
            )
            actions.grant_role(user=user, role=role, pilot=cls.pilot, by=admin, at=NOW)
            cls.staff[name] = User.objects.get(pk=user.pk)

    # --- one step of a sequence ------------------------------------------------------

    def _spend(self, payer: str, use: str, amount: Decimal, at) -> None:
        """C12 request and approval, then paid as the payment run pays a spend basis:
        Dr paid / Cr payable, and the remittance Dr payable / Cr fund."""
        request = request_spend(
            pilot=self.pilot,
            payer=payer,
            use=use,
            amount=amount,
            payee=self.riverside,
            purpose="property",
            by=self.staff["rs-frontline"],
            at=at,
        )
        approve_spend(request=request, by=self.staff["po-finance-2"], at=at)
        payable = ledger.provider_account(Account.PAYABLE, self.riverside)
        fund = ledger.payer_account(Account.FUND, payer, use)
        paid = ledger.payer_account(Account.PAID, payer, use)
        run = Transaction.objects.filter(kind=Transaction.REMITTANCE).count() + 1
        with transaction.atomic():
            ledger.post_many(
                self.pilot,
                [
                    Posting(
                        kind=Transaction.PAYMENT,
                        basis_key=request.basis_key,
                        legs=[Leg(paid, amount), Leg(payable, -amount, self.riverside)],
                        effective_on=at.date(),
                        provider=self.riverside,
                    ),
                    Posting(
                        kind=Transaction.REMITTANCE,
                        basis_key=f"remit:{self.pilot.slug}:{run}:riverside",
                        legs=[Leg(payable, amount, self.riverside), Leg(fund, -amount)],
                        effective_on=at.date(),
                        provider=self.riverside,
                    ),
                ],
                by=self.staff["po-finance"],
                at=at,
            )

    def _recoup(self, index: int, amount: Decimal, at) -> None:
        """A recoupment of part of a payment: Dr recoupment / Cr paid, its own basis."""
        payments = list(
            Transaction.objects.filter(kind=Transaction.PAYMENT, reversed_by__isnull=True).order_by(
                "number"
            )
        )
        if not payments:
            return
        payment = payments[index % len(payments)]
        leg = payment.legs.select_related("account").get(account__kind=Account.PAID)
        recouped = -sum(
            (
                e.amount
                for e in Entry.objects.filter(
                    account=leg.account, transaction__kind=Transaction.RECOUPMENT
                )
            ),
            D(0),
        )
        amount = min(amount, leg.amount - recouped)
        if amount <= 0:
            return
        number = Transaction.objects.filter(kind=Transaction.RECOUPMENT).count() + 1
        with transaction.atomic():
            ledger.post(
                self.pilot,
                Posting(
                    kind=Transaction.RECOUPMENT,
                    basis_key=f"recoup:{self.pilot.slug}:{number}",
                    legs=[
                        Leg("recoupment:riverside", amount, self.riverside),
                        Leg(leg.account.code, -amount),
                    ],
                    effective_on=at.date(),
                    provider=self.riverside,
                ),
                by=self.staff["po-finance"],
                at=at,
            )

    def _repeat(self, index: int, at) -> None:
        """Posting any basis again is refused and changes nothing."""
        txns = list(Transaction.objects.order_by("number"))
        if not txns:
            return
        basis = txns[index % len(txns)].basis_key
        before = (Transaction.objects.count(), Entry.objects.count())
        try:
            with transaction.atomic():
                ledger.post(
                    self.pilot,
                    Posting(
                        kind=Transaction.PAYMENT,
                        basis_key=basis,
                        legs=[
                            Leg("paid:fund:transport", D("1.00")),
                            Leg("payable:riverside", D("-1.00"), self.riverside),
                        ],
                        effective_on=at.date(),
                    ),
                    by=self.staff["po-finance"],
                    at=at,
                )
        except Refused as exc:
            assert exc.code == "already_posted"
        else:
            raise AssertionError(f"{basis} was posted twice")
        assert (Transaction.objects.count(), Entry.objects.count()) == before

    def _step(self, step: tuple, at) -> None:
        finance = self.staff["po-finance"]
        match step:
            case ("commit", payer):
                commit_contribution(pilot=self.pilot, payer=payer, by=finance, at=at)
            case ("receive", (payer, use), amount):
                receive_contribution(
                    pilot=self.pilot,
                    payer=payer,
                    reference=f"R-{Transaction.objects.count()}",
                    allocations={use: amount},
                    received_on=at.date(),
                    by=finance,
                    at=at,
                )
            case ("spend", (payer, use), amount):
                self._spend(payer, use, amount, at)
            case ("reverse", index):
                txns = list(Transaction.objects.order_by("number").values_list("number", flat=True))
                if txns:
                    reverse_transaction(
                        pilot=self.pilot,
                        number=txns[index % len(txns)],
                        reason="property",
                        by=finance,
                        at=at,
                    )
            case ("recoup", index, amount):
                self._recoup(index, amount, at)
            case ("reallocate", payer, source, target, amount):
                uses = ALLOWED[payer]
                source, target = uses[source % len(uses)], uses[target % len(uses)]
                proposal = propose_reallocation(
                    pilot=self.pilot,
                    payer=payer,
                    from_use=source,
                    to_use=target,
                    amount=amount,
                    reason="property",
                    by=finance,
                    at=at,
                )
                approve_reallocation(reallocation=proposal, by=self.staff["po-finance-2"], at=at)
            case ("repeat", index):
                self._repeat(index, at)

    # --- the properties --------------------------------------------------------------

    def _assert_invariants(self) -> None:
        pilot = self.pilot
        assert ledger.unbalanced_transactions(pilot) == []
        sums = Entry.objects.values("transaction").annotate(
            cents=Sum("amount_cents"), legs=Count("id")
        )
        assert all(row["cents"] == 0 and row["legs"] >= 2 for row in sums)
        allowed = {(p.id, u.code) for p in pilot.rulebook.payers for u in p.allowable_uses}
        charged = set(
            Account.objects.filter(pilot=pilot, kind__in=[Account.PAID, Account.FUND]).values_list(
                "payer", "use"
            )
        )
        assert charged <= allowed, charged - allowed
        negative = {k: v for k, v in ledger.funds_by_payer_and_use(pilot).items() if v < 0}
        assert negative == {}
        keys = Transaction.objects.values("basis_key").annotate(n=Count("id")).filter(n__gt=1)
        assert list(keys) == []

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        st.lists(st.sampled_from(PAYERS), unique=True, min_size=2),
        st.lists(steps, min_size=1, max_size=14),
    )
    def test_any_sequence_keeps_the_ledger_sound(
        self, committed: list[str], sequence: list[tuple]
    ) -> None:
        at = NOW
        finance = self.staff["po-finance"]
        for payer in committed:  # committed and funded with $10,000 for each of its uses
            commit_contribution(pilot=self.pilot, payer=payer, by=finance, at=at)
            receive_contribution(
                pilot=self.pilot,
                payer=payer,
                reference="R-START",
                allocations=dict.fromkeys(ALLOWED[payer], D("10000.00")),
                received_on=at.date(),
                by=finance,
                at=at,
            )
        for step in sequence:
            at += timedelta(minutes=1)
            before = (Transaction.objects.count(), Entry.objects.count(), Account.objects.count())
            try:
                self._step(step, at)
            except Refused as exc:  # a refused step writes nothing to the ledger
                event(f"{step[0]} refused: {exc.code}")
                after = (
                    Transaction.objects.count(),
                    Entry.objects.count(),
                    Account.objects.count(),
                )
                assert after == before, step
            else:
                event(f"{step[0]} done")
            self._assert_invariants()
