"""The hash-chained decision log. A leaf: it knows chains by name, not pilots."""

from django.db import models


class AuditChain(models.Model):
    """One chain per pilot ("pilot:<id>") and one for system-wide records ("system").

    The row is the chain's head: appends lock it, so the chain cannot fork. The
    signing key's private half lives in FUNDPILOT_KEYS_DIR, not in the database, so
    whoever can rewrite the database cannot also sign a checkpoint.
    """

    name = models.CharField(max_length=80, unique=True)
    size = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64)
    public_key = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


class AuditRecord(models.Model):
    """One decision. Append-only: database triggers refuse UPDATE and DELETE."""

    chain = models.CharField(max_length=80)
    seq = models.PositiveBigIntegerField()
    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    role = models.CharField(max_length=40)
    organisation = models.CharField(max_length=80)
    action = models.CharField(max_length=80)
    subject = models.CharField(max_length=200)
    payload = models.JSONField()
    rulebook_version = models.PositiveIntegerField(null=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_one_record_per_seq"),
        ]
        indexes = [models.Index(fields=["chain", "action"]), models.Index(fields=["subject"])]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"

    def body(self) -> dict[str, object]:
        """The fields the hash covers, in the form they were hashed."""
        return {
            "chain": self.chain,
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "role": self.role,
            "organisation": self.organisation,
            "action": self.action,
            "subject": self.subject,
            "payload": self.payload,
            "rulebook_version": self.rulebook_version,
        }
