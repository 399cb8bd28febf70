"""Milestones, evidence and verification, C7–C11: evidence → claim → readiness review
→ submission → independent verification or post-payment sample audit → payable;
staged contract milestones release tranches; any decision can be disputed.

Tables hold what was decided; `actions` decide. A claim ends at "payable" with its
amount, payer split and basis key (the ledger pays each basis key at most once).
Decisions are never edited: a dispute's outcome is a new decision that names the
one it supersedes.
"""

from django.db import models

from fundpilot.participants.models import ActivationDecision, Decision, Participant
from fundpilot.pilots.models import Organisation, Pilot, User


class Evidence(models.Model):
    """A stored document (C7). Content is addressed by SHA-256; the same content
    attached to another participant is flagged as reused."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    # None for contract-scope evidence (infrastructure, live operation, performance).
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, null=True, related_name="evidence"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=40)
    document_date = models.DateField()
    filename = models.CharField(max_length=255)
    media_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.FileField(max_length=255)
    reused = models.BooleanField(default=False)  # same content on another participant
    note = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["pilot", "sha256"]),
            models.Index(fields=["participant", "kind"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.filename}"


class Claim(models.Model):
    """A claim that a milestone was reached: a participant's (priced by the milestone,
    after risk adjustment) or the pilot's contract milestone (priced by its tranche)."""

    DRAFT, READY, SUBMITTED, PAYABLE, REJECTED = (
        "draft",
        "ready",  # readiness review passed (C8)
        "submitted",  # awaiting independent verification (C9)
        "payable",
        "rejected",
    )
    STATUSES = [(s, s) for s in (DRAFT, READY, SUBMITTED, PAYABLE, REJECTED)]
    OPEN = (DRAFT, READY, SUBMITTED)
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="claims")
    reference = models.CharField(max_length=64)  # e.g. P-0001/M1/1 or CONTRACT/C2/1
    milestone = models.CharField(max_length=40)
    scope = models.CharField(max_length=20)  # participant | contract
    tier = models.CharField(max_length=20)  # independent | sampled
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, null=True, related_name="claims"
    )
    tranche = models.CharField(max_length=40, blank=True)  # contract scope
    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    # The n-th time this participant earns this milestone (re-earning after relapse).
    attempt = models.PositiveSmallIntegerField(default=1)
    resubmission_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, related_name="resubmissions"
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    variant = models.CharField(max_length=40, blank=True)  # risk-adjusted variant applied
    reached_on = models.DateField()
    status = models.CharField(max_length=20, choices=STATUSES, default=DRAFT)
    drafted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    drafted_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()
    submitted_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    submitted_at = models.DateTimeField(null=True)
    verification_due = models.DateField(null=True)  # independent tier (C9)
    # Contract scope: figures attested at submission (quality measures) and the
    # live-use figures computed from the lifecycle data (real cases, closure rate).
    measures = models.JSONField(default=dict)
    live_use = models.JSONField(default=dict)
    cure_until = models.DateField(null=True)  # a rejected tranche may be cured until then
    payable_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    payable_at = models.DateTimeField(null=True)
    # [{"payer", "use", "share", "amount"}], parts summing exactly to payable_amount.
    payer_split = models.JSONField(default=list)
    # NULL until payable: unique among the claims that have one.
    basis_key = models.CharField(max_length=200, null=True, unique=True)  # noqa: DJ001

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "reference"], name="one_claim_reference"),
        ]
        indexes = [
            models.Index(fields=["pilot", "status"]),
            models.Index(fields=["pilot", "provider"]),
            models.Index(fields=["participant", "milestone"]),
        ]

    def __str__(self) -> str:
        return self.reference


class ClaimEvidence(models.Model):
    """A piece of evidence offered for one of the milestone's evidence requirements."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="evidence_links")
    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["claim", "evidence"], name="evidence_once_per_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.claim} {self.kind}"


class ReadinessReview(Decision):
    """C8: a supervisor confirmed every required piece of evidence is present."""

    claim = models.OneToOneField(Claim, on_delete=models.PROTECT, related_name="readiness")
    note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.claim} ready"


class Verification(Decision):
    """C9 independent verification, one checklist answer per evidence requirement.
    A dispute's outcome is a new Verification that supersedes the disputed one."""

    VERIFIED, PARTIAL, REJECTED = "verified", "partially_verified", "rejected"
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="verifications")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=20)
    reason_codes = models.JSONField(default=list)
    checklist = models.JSONField(default=list)  # [{"kind", "met", "note"}]
    criteria_met = models.JSONField(default=list)  # tranche criteria codes met
    amount = models.DecimalField(max_digits=14, decimal_places=2)  # what it makes payable
    note = models.TextField(blank=True)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, related_name="superseded_by"
    )

    def __str__(self) -> str:
        return f"{self.claim} {self.outcome}"


class Sample(models.Model):
    """C9: a post-payment audit sample of one period's sampled-tier claims. The draw is
    reproducible from (seed, universe, design); the universe digest lets anyone check it."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="samples")
    period = models.CharField(max_length=7)  # YYYY-MM of payable_at
    seed = models.BigIntegerField()
    design = models.CharField(max_length=20)
    universe_size = models.PositiveIntegerField()
    universe_amount = models.DecimalField(max_digits=16, decimal_places=2)
    universe_digest = models.CharField(max_length=64)
    strata = models.JSONField(default=list)  # [{"stratum", "population", "sample"}]
    confidence = models.DecimalField(max_digits=4, decimal_places=3)
    sided = models.CharField(max_length=10)
    drawn_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    drawn_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "period"], name="one_sample_per_period"),
        ]

    def __str__(self) -> str:
        return f"sample {self.period} seed {self.seed}"


class SampleItem(models.Model):
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="items")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="+")
    stratum = models.CharField(max_length=120, blank=True)
    position = models.PositiveIntegerField()  # draw order

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sample", "claim"], name="claim_once_per_sample"),
        ]
        ordering = ["sample", "position"]

    def __str__(self) -> str:
        return f"{self.sample} #{self.position} {self.claim}"


class SampleAudit(Decision):
    """The after-payment audit of one sampled claim: what was paid, what the evidence
    supports. A dispute's outcome is a new audit that supersedes this one."""

    item = models.ForeignKey(SampleItem, on_delete=models.PROTECT, related_name="audits")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    paid_amount = models.DecimalField(max_digits=14, decimal_places=2)
    supported_amount = models.DecimalField(max_digits=14, decimal_places=2)
    finding_codes = models.JSONField(default=list)
    note = models.TextField(blank=True)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, related_name="superseded_by"
    )

    def __str__(self) -> str:
        return f"{self.item} supported {self.supported_amount} of {self.paid_amount}"


class Appraisal(models.Model):
    """Variable appraisal of a fully audited sample (RAT-STATS conventions). A later
    appraisal of the same sample (after a disputed finding) supersedes the earlier."""

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="appraisals")
    point_estimate = models.DecimalField(max_digits=16, decimal_places=2)
    standard_error = models.DecimalField(max_digits=16, decimal_places=2)
    lower = models.DecimalField(max_digits=16, decimal_places=2)
    upper = models.DecimalField(max_digits=16, decimal_places=2, null=True)
    critical_value = models.DecimalField(max_digits=10, decimal_places=6)
    distribution = models.CharField(max_length=10)  # t | z
    degrees_of_freedom = models.PositiveIntegerField(null=True)
    confidence = models.DecimalField(max_digits=4, decimal_places=3)
    sided = models.CharField(max_length=10)
    sample_overpayment = models.DecimalField(max_digits=16, decimal_places=2)
    recovery = models.DecimalField(max_digits=16, decimal_places=2)  # extrapolated demand
    detail = models.JSONField(default=dict)  # per-stratum rows, warnings, explanation
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.sample} recovery {self.recovery}"


class Recoupment(models.Model):
    """Money to take back from a provider for one claim (a failed sample audit, an
    overturned verification). The ledger posts it once, by basis key."""

    SAMPLE_AUDIT, DISPUTE = "sample_audit", "dispute"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="recoupments")
    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    reason = models.CharField(max_length=20)
    audit = models.ForeignKey(SampleAudit, on_delete=models.PROTECT, null=True, related_name="+")
    basis_key = models.CharField(max_length=200, unique=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"recoup {self.amount} for {self.claim}"


class Dispute(models.Model):
    """C11: a challenge to a verification, activation or sample-audit decision. It moves
    through the rulebook's stages by its deadline; the outcome is a new decision."""

    VERIFICATION, ACTIVATION, SAMPLE_AUDIT = "verification", "activation", "sample_audit"
    OPEN, RESOLVED = "open", "resolved"
    UPHELD, OVERTURNED, VARIED = "upheld", "overturned", "varied"  # the original decision…
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="disputes")
    reference = models.CharField(max_length=64)
    subject_kind = models.CharField(max_length=20)
    verification = models.ForeignKey(
        Verification, on_delete=models.PROTECT, null=True, related_name="disputes"
    )
    activation = models.ForeignKey(
        ActivationDecision, on_delete=models.PROTECT, null=True, related_name="+"
    )
    sample_audit = models.ForeignKey(
        SampleAudit, on_delete=models.PROTECT, null=True, related_name="disputes"
    )
    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    grounds = models.TextField()
    raised_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField()
    stage = models.CharField(max_length=40)  # current stage code (rulebook dispute_stages)
    due = models.DateField()  # resolution deadline (deadlines.dispute_resolution)
    status = models.CharField(max_length=20, default=OPEN)
    outcome = models.CharField(max_length=20, blank=True)
    resolution = models.TextField(blank=True)
    learning = models.TextField(blank=True)  # fed back to providers and verifiers
    new_decision = models.CharField(max_length=80, blank=True)  # e.g. verification:42
    resolved_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    resolved_at = models.DateTimeField(null=True)
    late_days = models.PositiveIntegerField(default=0)
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "reference"], name="one_dispute_reference"),
        ]
        indexes = [models.Index(fields=["pilot", "status"])]

    def __str__(self) -> str:
        return self.reference


class DisputeStep(models.Model):
    """One stage of a dispute's history (raised, escalated, resolved)."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="steps")
    stage = models.CharField(max_length=40)
    action = models.CharField(max_length=20)  # raised | escalated | resolved
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["dispute", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.dispute} {self.action} {self.stage}"
