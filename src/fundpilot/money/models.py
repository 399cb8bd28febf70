"""The ledger and the records money moves on.

Ledger rows (Transaction, Entry) are append-only: database triggers refuse UPDATE and
DELETE, refuse a transaction whose legs do not sum to zero, and refuse a leg added to a
transaction already posted (see `money/ledger_sql.py`). Amounts in the ledger are whole
cents (exact in SQLite and PostgreSQL alike); the code reads and writes Decimal dollars.
"""

import uuid
from decimal import Decimal

from django.db import models

from fundpilot.pilots.models import Organisation, Pilot, User


class Period(models.Model):
    """An accounting month: open → locked → closed. Nothing posts to a locked or
    closed month; a late item posts to the current month as an adjustment naming it."""

    OPEN, LOCKED, CLOSED = "open", "locked", "closed"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    month = models.DateField()  # the first day of the month
    status = models.CharField(max_length=10, default=OPEN)
    changed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    changed_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "month"], name="one_period_per_month"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} ({self.status})"


class LedgerHead(models.Model):
    """Per pilot: the next transaction number. Posting locks this row, so postings
    (and payment runs) of one pilot are serialised."""

    pilot = models.OneToOneField(Pilot, on_delete=models.PROTECT, related_name="+")
    next_number = models.PositiveBigIntegerField(default=1)

    def __str__(self) -> str:
        return f"ledger of {self.pilot_id}: next T{self.next_number}"


class Account(models.Model):
    """A ledger account of one pilot, named `kind[:payer[:use]]` or `kind:provider`."""

    RECEIVABLE = "receivable"  # a payer's contribution committed, not yet received
    CONTRIBUTION = "contribution"  # what a payer committed (credit)
    FUND = "fund"  # cash received from a payer for one allowable use
    PAID = "paid"  # what a payer's fund has paid for one use
    PAYABLE = "payable"  # owed to a provider, not yet remitted
    RECOUPMENT = "recoupment"  # owed back by a provider
    RESERVE = "reserve"  # a payer's funds held for committed obligations at exit
    RETURNED = "returned"  # funds given back to a payer at exit
    KINDS = (RECEIVABLE, CONTRIBUTION, FUND, PAID, PAYABLE, RECOUPMENT, RESERVE, RETURNED)

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)
    payer = models.CharField(max_length=40, blank=True)
    use = models.CharField(max_length=40, blank=True)
    provider = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "code"], name="one_account_code"),
        ]

    def __str__(self) -> str:
        return self.code


class PaymentRun(models.Model):
    """One posted payment run of a month (dry runs write nothing)."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField()
    month = models.DateField()  # the month paid for (first day)
    run_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    run_at = models.DateTimeField()
    total = models.DecimalField(max_digits=16, decimal_places=2)
    summary = models.JSONField(default=dict)  # counts and amounts by basis kind, held items
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "number"], name="one_run_number"),
        ]

    def __str__(self) -> str:
        return f"run {self.number} ({self.month:%Y-%m})"


class Transaction(models.Model):
    """One balanced ledger transaction on one basis. Append-only.

    `basis_key` is unique: a basis (a payable claim, a PMPM month, a spend request, a
    contribution receipt, a remittance, a reversal …) posts at most once. The header is
    inserted after its legs; the database refuses it unless they sum to zero.
    """

    COMMITMENT = "commitment"
    RECEIPT = "receipt"
    PAYMENT = "payment"
    REMITTANCE = "remittance"
    RECOUPMENT = "recoupment"
    REALLOCATION = "reallocation"
    REVERSAL = "reversal"
    EXIT = "exit"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=20)
    basis_key = models.CharField(max_length=200, unique=True)
    period = models.DateField()  # the accounting month it posted to (first day)
    adjusts = models.DateField(null=True)  # a late item's own month, when that was locked
    effective_on = models.DateField()
    posted_at = models.DateTimeField()
    posted_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    provider = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, related_name="+"
    )
    participant_id = models.CharField(max_length=64, blank=True)
    run = models.ForeignKey(PaymentRun, on_delete=models.PROTECT, null=True, related_name="+")
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, related_name="reversed_by"
    )
    amount_cents = models.BigIntegerField()  # the sum of the debit legs
    memo = models.CharField(max_length=300, blank=True)
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "number"], name="one_transaction_number"),
        ]
        indexes = [models.Index(fields=["pilot", "period"]), models.Index(fields=["run"])]

    def __str__(self) -> str:
        return f"T{self.number} {self.basis_key}"

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_cents).scaleb(-2)


class Entry(models.Model):
    """One leg: debit positive, credit negative, in cents. Append-only."""

    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="legs")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount_cents = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["account", "transaction"])]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount_cents=0), name="entry_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount_cents:+d}c"

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_cents).scaleb(-2)


class SpendRequest(models.Model):
    """C12: a request to spend one payer's funds on one of its allowable uses."""

    REQUESTED, APPROVED, DECLINED = "requested", "approved", "declined"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(max_length=40)
    payer = models.CharField(max_length=40)
    use = models.CharField(max_length=40)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    payee = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    participant_id = models.CharField(max_length=64, blank=True)
    purpose = models.TextField()
    status = models.CharField(max_length=20, default=REQUESTED)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    decided_at = models.DateTimeField(null=True)
    decided_role = models.CharField(max_length=40, blank=True)
    decision_right = models.CharField(max_length=200, blank=True)  # the matrix row applied
    decision_note = models.TextField(blank=True)
    exception = models.BooleanField(default=False)  # approved outside the matrix
    review_due = models.DateField(null=True)  # retrospective review of an exception
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True)
    review_note = models.TextField(blank=True)
    review_late_days = models.PositiveIntegerField(default=0)
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "reference"], name="one_spend_reference"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def basis_key(self) -> str:
        return f"spend:{self.pilot.slug}:{self.reference}"


class Reconciliation(models.Model):
    """C14: one month's multi-payer reconciliation as computed and recorded."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    month = models.DateField()
    figures = models.JSONField()
    prepared_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    prepared_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "month"], name="one_reconciliation_month"),
        ]

    def __str__(self) -> str:
        return f"reconciliation {self.month:%Y-%m}"


class Investigation(models.Model):
    """C14: a variance above threshold, with an owner, until resolved."""

    OPEN, RESOLVED = "open", "resolved"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    reconciliation = models.ForeignKey(
        Reconciliation, on_delete=models.PROTECT, related_name="investigations"
    )
    payer = models.CharField(max_length=40)
    measure = models.CharField(max_length=60)
    variance = models.JSONField()  # plan, actual, percent, threshold
    owner = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    due = models.DateField(null=True)
    status = models.CharField(max_length=20, default=OPEN)
    resolution = models.TextField(blank=True)
    resolved_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    resolved_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"investigation {self.pk}: {self.payer} {self.measure}"


class Reallocation(models.Model):
    """C14: moving funds between one payer's uses, proposed then approved under the
    decision-rights matrix by somebody else, posted as a journal transaction."""

    PROPOSED, APPROVED, DECLINED = "proposed", "approved", "declined"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    investigation = models.ForeignKey(
        Investigation, on_delete=models.PROTECT, null=True, related_name="reallocations"
    )
    payer = models.CharField(max_length=40)
    from_use = models.CharField(max_length=40)
    to_use = models.CharField(max_length=40)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    reason = models.TextField()
    status = models.CharField(max_length=20, default=PROPOSED)
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    decided_at = models.DateTimeField(null=True)
    decision_right = models.CharField(max_length=200, blank=True)
    transaction = models.OneToOneField(
        Transaction, on_delete=models.PROTECT, null=True, related_name="+"
    )
    rulebook_version = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"reallocation {self.pk}: {self.payer} {self.from_use}→{self.to_use} {self.amount}"


class VarianceCycle(models.Model):
    """C15: one month's cost and utilisation variance by cohort, geography and level."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    month = models.DateField()
    figures = models.JSONField()
    run_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    run_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "month"], name="one_variance_cycle_month"),
        ]

    def __str__(self) -> str:
        return f"variance cycle {self.month:%Y-%m}"


class CaseReview(models.Model):
    """C15: a structured review opened by a stop-loss trigger or a variance."""

    OPEN, CLOSED = "open", "closed"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    cycle = models.ForeignKey(VarianceCycle, on_delete=models.PROTECT, related_name="reviews")
    trigger = models.CharField(max_length=60)  # e.g. episode_cost_above, cohort_variance
    subject = models.CharField(max_length=200)  # participant id, cohort, level …
    figures = models.JSONField()
    owner = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    due = models.DateField(null=True)
    status = models.CharField(max_length=20, default=OPEN)
    findings = models.TextField(blank=True)
    closed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    closed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"case review {self.pk}: {self.trigger} {self.subject}"


class CorrectiveAction(models.Model):
    """C15: what a case review decided to change, re-tested in the next cycle."""

    OPEN, PASSED, FAILED = "open", "passed", "failed"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    review = models.ForeignKey(CaseReview, on_delete=models.PROTECT, related_name="actions")
    description = models.TextField()
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    due = models.DateField()
    status = models.CharField(max_length=20, default=OPEN)
    retest_cycle = models.ForeignKey(
        VarianceCycle, on_delete=models.PROTECT, null=True, related_name="retests"
    )
    retest_result = models.TextField(blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"corrective action {self.pk} ({self.status})"


class ExitPlan(models.Model):
    """C20: the unwind as computed at `as_of`, proposed, then approved and posted."""

    PROPOSED, POSTED, DECLINED = "proposed", "posted", "declined"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    as_of = models.DateField()
    figures = models.JSONField()
    status = models.CharField(max_length=20, default=PROPOSED)
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    decided_at = models.DateTimeField(null=True)
    decision_right = models.CharField(max_length=200, blank=True)
    rulebook_version = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"exit as of {self.as_of} ({self.status})"
