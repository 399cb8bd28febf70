"""Pilots, their immutable rulebook versions, organisations, people and roles."""

from django.contrib.auth.models import AbstractUser
from django.db import models

from fundpilot.rules.calendar import BusinessCalendar
from fundpilot.rules.rulebook import Rulebook, parse_rulebook
from fundpilot.rules.vocabulary import OrgKind, Role


class Organisation(models.Model):
    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=[(k.value, k.value) for k in OrgKind])

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person; belongs to exactly one organisation (DOMAIN.md §2)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, related_name="people"
    )


class Pilot(models.Model):
    """A pilot; its rules are its rulebook versions, never columns here."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name

    @property
    def current(self) -> "RulebookVersion":
        """The version in force: the latest approved one."""
        # The document loads only when its parse is not cached yet (see `rulebook`).
        return self.versions.defer("document").order_by("-number").first()  # type: ignore[return-value]

    @property
    def rulebook(self) -> Rulebook:
        return self.current.rulebook

    @property
    def calendar(self) -> BusinessCalendar:
        p = self.rulebook.pilot
        return BusinessCalendar(p.holiday_calendar, p.timezone)


_PARSED: dict[str, Rulebook] = {}  # by document SHA-256; a handful of versions per pilot


class RulebookVersion(models.Model):
    """An approved rulebook. Immutable: database triggers refuse UPDATE and DELETE."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.TextField()
    sha256 = models.CharField(max_length=64)
    approved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    changes = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "number"], name="one_version_number"),
        ]

    def __str__(self) -> str:
        return f"{self.pilot.slug} v{self.number}"

    @property
    def rulebook(self) -> Rulebook:
        """Versions are immutable and rulebooks frozen: one parse per version serves all."""
        parsed = _PARSED.get(self.sha256)
        if parsed is None:
            parsed = _PARSED[self.sha256] = parse_rulebook(self.document)
        return parsed


class RulebookProposal(models.Model):
    """A rulebook amendment one administrator proposes against the version then in force;
    it becomes a version only when a second person (another administrator or the pilot's
    executive sponsor) approves it. Several may be open; approving one makes the others
    stale (their base is no longer current), and a stale one is proposed again."""

    OPEN, APPROVED, REJECTED, WITHDRAWN = "open", "approved", "rejected", "withdrawn"
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="proposals")
    base = models.ForeignKey(RulebookVersion, on_delete=models.PROTECT, related_name="+")
    document = models.TextField()
    sha256 = models.CharField(max_length=64)
    reason = models.TextField()
    changes = models.JSONField(default=list)
    status = models.CharField(max_length=20, default=OPEN)
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    decided_at = models.DateTimeField(null=True)
    decision_note = models.TextField(blank=True)
    version = models.OneToOneField(
        RulebookVersion, on_delete=models.PROTECT, null=True, related_name="proposal"
    )

    def __str__(self) -> str:
        return f"{self.pilot.slug} proposal {self.pk} ({self.status})"

    @property
    def stale(self) -> bool:
        """Open, but another version came into force since it was proposed."""
        return self.status == self.OPEN and self.base_id != self.pilot.current.pk


class Party(models.Model):
    """An organisation taking part in a pilot; a payer party names its rulebook payer."""

    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, related_name="parties")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    payer_id = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pilot", "organisation"], name="one_party_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} in {self.pilot}"


class Membership(models.Model):
    """A role a person holds in a pilot; pilot NULL means system-wide (administrator, auditor)."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    pilot = models.ForeignKey(Pilot, on_delete=models.PROTECT, null=True, related_name="members")
    role = models.CharField(max_length=40, choices=[(r.value, r.label) for r in Role])
    caseload_capacity = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "pilot", "role"], name="one_role_per_pilot"),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(pilot__isnull=True),
                name="one_system_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} in {self.pilot or 'every pilot'}"


class ApiToken(models.Model):
    """A machine client's bearer token; only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="tokens")
    label = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.label})"
