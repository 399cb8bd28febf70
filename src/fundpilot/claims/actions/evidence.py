"""C7 evidence upload: a document stored with its kind, date, uploader and SHA-256."""

from datetime import date, datetime

from django.db import transaction

from fundpilot.audit import log
from fundpilot.claims import evidence as files
from fundpilot.claims.models import Evidence
from fundpilot.participants.models import Participant
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import EvidenceKind
from fundpilot.rules.vocabulary import Role


def _authorise(by: User, pilot: Pilot, participant: Participant | None) -> Role | None:
    if participant is None:  # contract-scope evidence: the pilot office's (C10)
        return policy.require(by, "contract.claim", pilot)
    return policy.require_for_provider(by, "evidence.upload", pilot, participant.provider_id)


def _kind(pilot: Pilot, code: str) -> EvidenceKind:
    kinds = pilot.rulebook.evidence_kinds
    found = next((k for k in kinds if k.code == code), None)
    if found is None:
        listing = ", ".join(k.code for k in kinds) or "none"
        raise Refused(
            "unknown_kind",
            f"'{code}' is not an evidence kind of this pilot (it has: {listing})",
            "kind",
        )
    return found


def upload_evidence(
    *,
    pilot: Pilot,
    participant: Participant | None,
    kind: str,
    filename: str,
    content: bytes,
    document_date: date,
    note: str = "",
    by: User,
    at: datetime,
) -> Evidence:
    """C7 evidence upload. The file's type is read from its content and must be one the
    rulebook allows for the kind; it is stored once under its SHA-256. The same content
    already attached to another participant flags both pieces as reused, which readiness
    reviewers and verifiers then see. `participant=None` is contract-scope evidence,
    uploaded by a `contract.claim` holder of the pilot office."""
    role = _authorise(by, pilot, participant)
    if participant is not None and participant.pilot_id != pilot.pk:
        raise Refused("other_pilot", f"{participant} is not in pilot {pilot.slug}", "participant")
    evidence_kind = _kind(pilot, kind)
    if not content:
        raise Refused("empty", "the file is empty", "file")
    limit = files.max_bytes()
    if len(content) > limit:
        raise Refused(
            "too_large",
            f"the file is {len(content):,} bytes; evidence files may be at most {limit:,} bytes",
            "file",
        )
    media_type = files.media_type_of(content)
    if media_type not in evidence_kind.media_types:
        seen = files.describe([media_type]) if media_type != files.UNKNOWN else "not a known type"
        raise Refused(
            "type_not_allowed",
            f"{kind} evidence must be {files.describe(evidence_kind.media_types)};"
            f" this file's content is {seen}",
            "file",
        )
    today = pilot.calendar.local_date(at)
    if document_date > today:
        raise Refused(
            "future_date",
            f"the document date {document_date} is after today ({today})",
            "document_date",
        )
    sha256 = files.sha256_of(content)
    name = files.clean_filename(filename)
    version = pilot.current
    with transaction.atomic(durable=True):
        # One upload at a time per pilot, so two copies of a file uploaded at once for
        # two participants still see each other and are both flagged.
        Pilot.objects.select_for_update().get(pk=pilot.pk)
        if participant is not None:
            p = Participant.objects.select_for_update().get(pk=participant.pk)
            if p.status != Participant.ACTIVATED:
                raise Refused(
                    "not_on_roster",
                    f"{p.participant_id} is not on the activation roster (status {p.status})",
                    "participant",
                )
        same = Evidence.objects.filter(pilot=pilot, sha256=sha256)
        if same.filter(participant=participant, kind=kind).exists():
            raise Refused(
                "already_uploaded",
                f"this file is already {kind} evidence"
                + (f" of {participant.participant_id}" if participant else " of the pilot"),
                "file",
            )
        others = (
            list(
                same.exclude(participant=participant)
                .filter(participant__isnull=False)
                .order_by("pk")
                .values_list("pk", "participant__participant_id")
            )
            if participant is not None
            else []
        )
        stored = files.store(pilot.slug, sha256, content)
        evidence = Evidence.objects.create(
            pilot=pilot,
            participant=participant,
            organisation_id=participant.provider_id if participant else by.organisation_id,
            kind=kind,
            document_date=document_date,
            filename=name,
            media_type=media_type,
            size=len(content),
            sha256=sha256,
            file=stored,
            reused=bool(others),
            note=note.strip(),
            uploaded_by=by,
            uploaded_at=at,
            rulebook_version=version.number,
        )
        if others:
            Evidence.objects.filter(pk__in=[pk for pk, _ in others], reused=False).update(
                reused=True
            )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="evidence.upload",
            subject=f"evidence:{evidence.pk}",
            payload={
                "participant": participant.participant_id if participant else None,
                "kind": kind,
                "document_date": document_date,
                "filename": name,
                "media_type": media_type,
                "size": len(content),
                "sha256": sha256,
                "reused": evidence.reused,
                "reused_with": sorted({pid for _, pid in others}),
            },
            at=at,
            rulebook_version=version.number,
        )
    return evidence
