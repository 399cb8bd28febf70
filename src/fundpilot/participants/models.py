"""The participant lifecycle, C1–C6: referral → eligibility file → activation →
service level → pathway → activity and barriers → 14-day progression reviews.

Tables hold what was decided; `actions` decide. Every decision row names the
rulebook version it followed, its due date and how late it was, so breaches stay
visible instead of being dropped.
"""

from django.db import models

from fundpilot.pilots.models import Organisation, Pilot, User


class ImportBatch(models.Model):
    """One imported file. The same content imported again is recognised and ignored."""

    ELIGIBILITY, REFERRALS = "eligibility", "referrals"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(
        max_length=20, choices=[(ELIGIBILITY, ELIGIBILITY), (REFERRALS, REFERRALS)]
    )
    payer_id = models.CharField(max_length=40, blank=True)
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField()
    imported_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pilot", "kind", "payer_id", "sha256"], name="import_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.filename} ({self.rows} rows)"


class EligibilityEntry(models.Model):
    """A row of a payer's eligibility register, as loaded (never edited)."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="+")
    payer_id = models.CharField(max_length=40)
    member_id = models.CharField(max_length=64)
    coverage_start = models.DateField()
    coverage_end = models.DateField(null=True)
    status = models.CharField(max_length=20)

    class Meta:
        indexes = [models.Index(fields=["pilot", "payer_id", "member_id"])]

    def __str__(self) -> str:
        return f"{self.payer_id}:{self.member_id} {self.status}"


class Referral(models.Model):
    """A referral received from any source ("no wrong door"): it must be answered."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="referrals")
    reference = models.CharField(max_length=64)
    participant_id = models.CharField(max_length=64)
    payer_id = models.CharField(max_length=40)
    member_id = models.CharField(max_length=64)
    source = models.CharField(max_length=40)
    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    service_category = models.CharField(max_length=40)
    geography = models.CharField(max_length=40, blank=True)
    referred_at = models.DateTimeField()
    received_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, null=True, related_name="+")
    file_due = models.DateField()  # C1: eligibility file due

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "reference"], name="one_referral_reference"),
        ]

    def __str__(self) -> str:
        return self.reference


class Assessment(models.Model):
    """A signed assessment: baseline, screening (with barriers found) or reassessment."""

    BASELINE, SCREENING, REASSESSMENT = "baseline", "screening", "reassessment"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    participant_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=20)
    tool = models.CharField(max_length=40)
    tool_version = models.CharField(max_length=20)
    approved_tool = models.BooleanField()  # recorded even when not, but cannot support eligibility
    score = models.DecimalField(max_digits=7, decimal_places=2)
    acuity_band = models.CharField(max_length=40, blank=True)
    flags = models.JSONField(default=list)
    barriers = models.JSONField(default=list)
    signed_by = models.CharField(max_length=150)
    signed_at = models.DateTimeField()
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["pilot", "participant_id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.tool} {self.tool_version} = {self.score}"


class Participant(models.Model):
    """A pilot-eligible referral (C1 passed) and where it stands now."""

    ELIGIBLE, PENDING, ACTIVATED, REJECTED, REMOVED = (
        "eligible",
        "pending",
        "activated",
        "rejected",
        "removed",
    )
    STATUSES = [(s, s) for s in (ELIGIBLE, PENDING, ACTIVATED, REJECTED, REMOVED)]
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="participants")
    participant_id = models.CharField(max_length=64)
    referral = models.OneToOneField(Referral, on_delete=models.PROTECT, related_name="participant")
    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=STATUSES)
    acuity_band = models.CharField(max_length=40, blank=True)
    flags = models.JSONField(default=list)
    baseline_score = models.DecimalField(max_digits=7, decimal_places=2)
    activated_at = models.DateTimeField(null=True)
    engaged = models.BooleanField(default=True)
    service_level = models.CharField(max_length=40, blank=True)
    lead = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="caseload")
    next_review_due = models.DateField(null=True)  # C6 clock

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "participant_id"], name="one_participant_id"),
        ]
        indexes = [
            models.Index(fields=["pilot", "status"]),
            models.Index(fields=["pilot", "provider"]),
        ]

    def __str__(self) -> str:
        return self.participant_id


class Decision(models.Model):
    """Common to every decision row: who, when, under which rulebook, due when, how late."""

    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()
    rulebook_version = models.PositiveIntegerField()
    due = models.DateField(null=True)
    late_days = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class EligibilityFile(Decision):
    """C1: the eligibility file that makes a referral pilot-eligible (or excluded)."""

    referral = models.OneToOneField(
        Referral, on_delete=models.PROTECT, related_name="eligibility_file"
    )
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="+")
    participant_id = models.CharField(max_length=64)
    referral_date = models.DateField()
    payer_status = models.CharField(max_length=20)
    baseline_score = models.DecimalField(max_digits=7, decimal_places=2)
    service_category = models.CharField(max_length=40)
    exclusion_code = models.CharField(max_length=40, blank=True)
    proposed_start = models.DateField()

    def __str__(self) -> str:
        return f"eligibility file {self.participant_id}"


class ReferralDecline(Decision):
    """No wrong door: a referral that cannot become pilot-eligible still gets a coded answer."""

    referral = models.OneToOneField(Referral, on_delete=models.PROTECT, related_name="decline")
    reason_code = models.CharField(max_length=40)
    note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.referral} declined ({self.reason_code})"


class ActivationDecision(Decision):
    """C2: activated, pending clarification, or rejected — each with its code."""

    ACTIVATED, PENDING, REJECTED = "activated", "pending", "rejected"
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="activations"
    )
    outcome = models.CharField(max_length=20)
    decision_code = models.CharField(max_length=40)
    reason_code = models.CharField(max_length=40, blank=True)
    review_date = models.DateField()
    control_status = models.CharField(max_length=40)
    next_checkpoint = models.DateField(null=True)
    clarification_owner = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, related_name="+"
    )
    clarification_due = models.DateField(null=True)

    def __str__(self) -> str:
        return f"{self.participant} {self.outcome}"


class RosterRemoval(Decision):
    """Removal from the locked activation roster: explicit, coded, audited."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="removals")
    reason_code = models.CharField(max_length=40)
    note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.participant} removed ({self.reason_code})"


class ComplianceReview(Decision):
    """Compliance / payer relations reviewed the activation register for a participant."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="compliance_reviews"
    )
    note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"compliance review of {self.participant}"


class ServiceLevelRequest(Decision):
    """C3: an initial level or an upgrade, requested with evidence; decided by the clinical lead.

    decided_by/decided_at hold the request until the decision (then `approver`, `approved_at`).
    """

    INITIAL, UPGRADE = "initial", "upgrade"
    REQUESTED, APPROVED, REFUSED = "requested", "approved", "refused"
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="service_levels"
    )
    kind = models.CharField(max_length=20)
    level = models.CharField(max_length=40)
    evidence = models.TextField()
    triggers = models.JSONField(default=list)
    status = models.CharField(max_length=20, default=REQUESTED)
    approver = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    approved_at = models.DateTimeField(null=True)
    rationale = models.TextField(blank=True)
    expected_duration_days = models.PositiveIntegerField(null=True)

    def __str__(self) -> str:
        return f"{self.participant} {self.kind} {self.level} {self.status}"


class Pathway(Decision):
    """C4: the participant's milestone pathway as released by the recovery lead."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="pathways")
    stage = models.CharField(max_length=40)
    barrier_category = models.CharField(max_length=40)
    lead = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    target_review_date = models.DateField()
    escalation_code = models.CharField(max_length=40)

    def __str__(self) -> str:
        return f"{self.participant} pathway {self.stage}"


class Notification(models.Model):
    """A message routed to a person (e.g. a pathway release to lead, supervisor, quality)."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="notifications")
    subject = models.CharField(max_length=200)
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.subject


class Activity(models.Model):
    """C5: ordinary work recorded against a participant."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="activities"
    )
    activity_type = models.CharField(max_length=40)
    occurred_at = models.DateTimeField()
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    baseline = models.BooleanField()  # in the PMPM baseline package: visible, never billable
    episode = models.CharField(max_length=40, blank=True)  # billable only under its criteria
    billable = models.BooleanField()
    note = models.TextField(blank=True)
    rulebook_version = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["participant", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.participant} {self.activity_type}"


class Barrier(models.Model):
    """C5: a barrier or dependency with an owner; visible until resolved."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="barriers")
    category = models.CharField(max_length=40)
    description = models.TextField()
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()
    resolved_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    resolved_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.participant} {self.category}"


class ProgressionReview(Decision):
    """C6: the 14-day progression reconciliation."""

    PROGRESSED, STALLED, ESCALATED = "progressed", "stalled", "escalated"
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="reviews")
    outcome = models.CharField(max_length=20)
    unresolved_dependencies = models.PositiveIntegerField()
    escalation_status = models.CharField(max_length=40, blank=True)
    stall_code = models.CharField(max_length=40, blank=True)
    escalation_owner = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, related_name="+"
    )
    review_date = models.DateField()
    next_checkpoint = models.DateField(null=True)

    def __str__(self) -> str:
        return f"{self.participant} {self.outcome} on {self.review_date}"


class EngagementEvent(Decision):
    """Relapse and re-engagement are first-class: history kept, work continues."""

    DISENGAGED, REENGAGED = "disengaged", "reengaged"
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="engagement"
    )
    kind = models.CharField(max_length=20)
    reason = models.TextField()

    def __str__(self) -> str:
        return f"{self.participant} {self.kind}"
