"""Records of governance: what finance settled, what the board decided, what equity
monitoring found and what independent assurance asked to be fixed.

A finalised settlement keeps its figures and their SHA-256 and the cut-off instant they
were computed to; recomputing the month from stored records up to the cut-off gives the
same figures, and later activity shows as adjustments in the next month's file.
"""

from django.db import models

from fundpilot.pilots.models import Pilot, User


class MethodologyQuestion(models.Model):
    """An open question about how a milestone or the denominator is counted (C16/C17);
    unresolved ones are counted in the settlement file and noted by the board."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    milestone = models.CharField(max_length=40, blank=True)
    question = models.TextField()
    raised_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField()
    answer = models.TextField(blank=True)
    resolved_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    resolved_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"question {self.pk}: {self.question[:40]}"


class Settlement(models.Model):
    """C16: one month's settlement file."""

    DRAFT, FINALISED = "draft", "finalised"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    month = models.DateField()
    cutoff = models.DateTimeField()  # records up to this instant make the figures
    figures = models.JSONField()
    figures_sha256 = models.CharField(max_length=64)
    reconciliation_note = models.TextField(blank=True)  # milestone reporting vs integrity log
    status = models.CharField(max_length=20, default=DRAFT)
    prepared_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    prepared_at = models.DateTimeField()
    finalised_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    finalised_at = models.DateTimeField(null=True)
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "month"], name="one_settlement_month"),
        ]

    def __str__(self) -> str:
        return f"settlement {self.month:%Y-%m} ({self.status})"


class SettlementReview(models.Model):
    """Finance, compliance and the executive sponsor each review before the board."""

    settlement = models.ForeignKey(Settlement, on_delete=models.PROTECT, related_name="reviews")
    role = models.CharField(max_length=40)
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField()
    note = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["settlement", "role"], name="one_review_per_role"),
        ]

    def __str__(self) -> str:
        return f"{self.role} review of {self.settlement}"


class BoardDecision(models.Model):
    """C17: the board's position on a settlement."""

    SUPPORTABLE, PROVISIONAL, RESTRICTED = "supportable", "provisional", "restricted"
    POSITIONS = (SUPPORTABLE, PROVISIONAL, RESTRICTED)  # most to least permissive
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    settlement = models.OneToOneField(
        Settlement, on_delete=models.PROTECT, related_name="board_decision"
    )
    position = models.CharField(max_length=20)
    decision_code = models.CharField(max_length=40)
    review_date = models.DateField()
    executive_owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    residual_risk = models.CharField(max_length=20)
    next_checkpoint = models.DateField()
    integrity_risks = models.TextField()
    denominator_disputes = models.TextField()
    definition_issues = models.TextField()
    approved_amount = models.DecimalField(max_digits=16, decimal_places=2)
    # The settlement's unresolved methodology questions the board decided with (C17).
    unresolved_questions = models.PositiveIntegerField(default=0)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"board: {self.position} ({self.decision_code})"


class Restriction(models.Model):
    """A restriction of a board decision, with its named follow-up owner."""

    decision = models.ForeignKey(
        BoardDecision, on_delete=models.PROTECT, related_name="restrictions"
    )
    description = models.TextField()
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    due = models.DateField()
    closed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    closed_at = models.DateTimeField(null=True)
    closing_note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"restriction {self.pk}: {self.description[:40]}"


class ExternalStatement(models.Model):
    """What the pilot told a payer or the public about milestone payment; never more
    than the board approved."""

    decision = models.ForeignKey(BoardDecision, on_delete=models.PROTECT, related_name="statements")
    audience = models.CharField(max_length=200)
    position = models.CharField(max_length=20)
    amount = models.DecimalField(max_digits=16, decimal_places=2)
    text = models.TextField()
    made_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    made_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"statement to {self.audience}"


class EquityCheck(models.Model):
    """C18: one month's equity figures, stored as computed so the equity report of a
    month reads the same later; its findings are the signals listed for review."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    month = models.DateField()
    figures = models.JSONField()
    run_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    run_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "month"], name="one_equity_check_month"),
        ]

    def __str__(self) -> str:
        return f"equity check {self.month:%Y-%m}"


class EquityFinding(models.Model):
    """C18: a signal for review (acceptance floor missed, cherry-picking, bursts of
    evidence before deadlines, reused evidence, implausibly fast milestones, risk-adjusted
    attainment outside its interval), with the data behind it."""

    OPEN, REVIEWED = "open", "reviewed"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    equity_check = models.ForeignKey(EquityCheck, on_delete=models.PROTECT, related_name="findings")
    month = models.DateField()
    kind = models.CharField(max_length=40)
    subject = models.CharField(max_length=200)  # provider, cohort, participant …
    data = models.JSONField()
    status = models.CharField(max_length=20, default=OPEN)
    review_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}"


class AssuranceReview(models.Model):
    """C19: a quarterly review of compliance, outcomes and equity by the assurance body."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    quarter = models.CharField(max_length=7)  # e.g. 2026-Q3
    compliance = models.TextField()  # what the review found in each area
    outcomes = models.TextField()
    equity = models.TextField()
    summary = models.TextField(blank=True)  # an overall conclusion, if any
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "quarter"], name="one_review_per_quarter"),
        ]

    def __str__(self) -> str:
        return f"assurance {self.quarter}"


class Finding(models.Model):
    """An assurance finding with its action plan; escalated when its deadline passes."""

    OPEN, CLOSED = "open", "closed"
    AREAS = ("compliance", "outcomes", "equity")
    SEVERITIES = ("low", "medium", "high")
    review = models.ForeignKey(AssuranceReview, on_delete=models.PROTECT, related_name="findings")
    area = models.CharField(max_length=20)  # compliance, outcomes, equity
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=20)
    action_plan = models.TextField()
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    deadline = models.DateField()
    status = models.CharField(max_length=20, default=OPEN)
    escalated_at = models.DateTimeField(null=True)
    closed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    closed_at = models.DateTimeField(null=True)
    closing_note = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.title
