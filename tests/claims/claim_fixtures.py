"""Helpers that build evidence and participant claims through the real Area A actions
(C7 evidence, claim drafting, C8 readiness review, submission), for every claims test.

    from tests.claims.claim_fixtures import upload, ready_claim, submitted_claim

All take the recovery-2026 `staff` dict (tests/participants/conftest.py) where people
act: frontline ("rs-frontline") uploads and drafts, the supervisor ("rs-supervisor")
reviews readiness, frontline submits. Times default to small steps after `at`;
document dates and `reached_on` default to the pilot-local date of `at`.

The standing participant P-0001 (`pathway_participant`) is activated on 3 March 2026,
so attempt 1 of every milestone starts that day: M1 (sampled, 45 days), M2 (sampled,
60 days, after M1), M3 (independent, 90 days, after M2), M4 (independent, after M2),
M5 (independent, after M3).
"""

import itertools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.claims import models
from fundpilot.claims.actions.claims import draft_claim, review_readiness, submit_claim
from fundpilot.claims.actions.evidence import upload_evidence
from fundpilot.claims.models import Claim, Evidence
from fundpilot.participants.actions import care
from fundpilot.participants.models import Participant
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import Role
from tests.claims.conftest import ACTIVATED, RELEASED
from tests.participants.conftest import activate, admit, reviewed, snapshot

_serial = itertools.count(1)
STEP = timedelta(minutes=1)


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> Any:
    """Evidence files in a folder of this test's own (import it, then use it or
    `pytestmark = pytest.mark.usefixtures("media")`)."""
    settings.MEDIA_ROOT = tmp_path / "files"
    return settings.MEDIA_ROOT


# --- more participants ------------------------------------------------------------


def release(participant: Participant, staff: dict[Role, User], at: datetime) -> Participant:
    """Compliance review and pathway release (S2, lead rs-frontline) for a freshly
    activated participant of riverside."""
    reviewed(participant, staff, at=at)
    care.release_pathway(
        participant=participant,
        stage="S2",
        barrier_category="housing",
        lead=staff[Role.FRONTLINE],
        target_review_date=participant.pilot.calendar.local_date(at) + timedelta(days=7),
        escalation_code="ESC-CRISIS",
        by=staff[Role.RECOVERY_LEAD],
        at=at + timedelta(minutes=5),
    )
    return Participant.objects.get(pk=participant.pk)


def pathway_participant_like(
    pilot: Pilot,
    staff: dict[Role, User],
    participant_id: str,
    member_id: str,
    *,
    flags: tuple[str, ...] = ("smi",),
    acuity_band: str = "moderate",
) -> Participant:
    """Another riverside participant in P-0001's state: admitted, activated at
    ACTIVATED, pathway released at RELEASED. `member_id` must be active in the `register`
    fixture's register (WV-0002, WV-0003)."""
    p = admit(
        pilot,
        staff,
        participant_id=participant_id,
        member_id=member_id,
        flags=flags,
        acuity_band=acuity_band,
    )
    return release(activate(p, staff, at=ACTIVATED), staff, RELEASED)


# --- file contents -----------------------------------------------------------------


def pdf_bytes(label: str = "") -> bytes:
    """A small PDF whose content is unique per call unless `label` is given."""
    text = label or f"evidence {next(_serial)}"
    return f"%PDF-1.4\n% {text}\n1 0 obj << >> endobj\n%%EOF\n".encode()


def png_bytes(label: str = "") -> bytes:
    """PNG signature and a tEXt-like tail: enough for the content sniffing."""
    text = label or f"scan {next(_serial)}"
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + text.encode()


def jpeg_bytes(label: str = "") -> bytes:
    text = label or f"photo {next(_serial)}"
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + text.encode()


def csv_bytes(label: str = "") -> bytes:
    """A contact log as CSV (allowed for contact_log in recovery-2026)."""
    text = label or f"contact {next(_serial)}"
    return f"date,contact,note\n2026-03-04,face_to_face,{text}\n".encode()


# --- evidence ----------------------------------------------------------------------


def upload(
    participant: Participant | None,
    kind: str,
    by: User,
    at: datetime,
    *,
    content: bytes | None = None,
    document_date: date | None = None,
    filename: str | None = None,
    note: str = "",
    pilot: Pilot | None = None,
) -> Evidence:
    """Upload one piece of evidence through `upload_evidence`. Content defaults to a
    unique PDF (so nothing is flagged as reused); `participant=None` uploads
    contract-scope evidence (then pass `pilot`, and a `contract.claim` holder as `by`)."""
    target = pilot or (participant.pilot if participant is not None else None)
    assert target is not None, "contract-scope evidence needs pilot="
    return upload_evidence(
        pilot=target,
        participant=participant,
        kind=kind,
        filename=filename or f"{kind}-{next(_serial)}.pdf",
        content=pdf_bytes() if content is None else content,
        document_date=document_date or target.calendar.local_date(at),
        note=note,
        by=by,
        at=at,
    )


def evidence_for(
    participant: Participant,
    milestone: str,
    by: User,
    at: datetime,
    *,
    document_date: date | None = None,
    skip: tuple[str, ...] = (),
) -> list[Evidence]:
    """Every piece the milestone requires (its minimum of each kind), except kinds in
    `skip`: one upload per piece, each a unique PDF."""
    requirements = participant.pilot.rulebook.milestone(milestone).evidence
    return [
        upload(participant, r.kind, by, at, document_date=document_date)
        for r in requirements
        if r.kind not in skip
        for _ in range(r.minimum)
    ]


# --- claims ------------------------------------------------------------------------


def draft(
    participant: Participant,
    milestone: str,
    staff: dict[Role, User],
    at: datetime,
    *,
    reached_on: date | None = None,
    with_evidence: bool = True,
) -> Claim:
    """Upload the milestone's evidence (unless `with_evidence=False`) and draft the
    claim, both by frontline; the claim is drafted one STEP after `at`."""
    frontline = staff[Role.FRONTLINE]
    if with_evidence:
        evidence_for(participant, milestone, frontline, at)
    return draft_claim(
        participant=participant,
        milestone=milestone,
        reached_on=reached_on or participant.pilot.calendar.local_date(at),
        by=frontline,
        at=at + STEP,
    )


def ready_claim(
    participant: Participant,
    milestone: str,
    staff: dict[Role, User],
    at: datetime,
    *,
    reached_on: date | None = None,
) -> Claim:
    """Evidence, draft (frontline), readiness review (supervisor): a claim in `ready`."""
    claim = draft(participant, milestone, staff, at, reached_on=reached_on)
    review_readiness(claim=claim, note="all there", by=staff[Role.SUPERVISOR], at=at + 2 * STEP)
    return Claim.objects.get(pk=claim.pk)


def submitted_claim(
    participant: Participant,
    milestone: str,
    staff: dict[Role, User],
    at: datetime,
    *,
    reached_on: date | None = None,
    with_prerequisites: bool = True,
) -> Claim:
    """A submitted claim (frontline submits): a sampled-tier milestone is then
    `payable`, an independent-tier one `submitted` with its verification due date.

    With `with_prerequisites`, prerequisites not yet reached are earned first (same
    `at` and `reached_on`), which works while they are sampled-tier (M1, M2 of
    recovery-2026): an independent prerequisite (M3 before M5) must be verified first.
    """
    if with_prerequisites:
        reach_prerequisites(participant, milestone, staff, at, reached_on=reached_on)
    claim = ready_claim(participant, milestone, staff, at, reached_on=reached_on)
    submit_claim(claim=claim, by=staff[Role.FRONTLINE], at=at + 3 * STEP)
    return Claim.objects.get(pk=claim.pk)


def reach_prerequisites(
    participant: Participant,
    milestone: str,
    staff: dict[Role, User],
    at: datetime,
    *,
    reached_on: date | None = None,
) -> list[Claim]:
    """Make every prerequisite of `milestone` (transitively) payable, earliest first."""
    rulebook = participant.pilot.rulebook
    made: list[Claim] = []
    for code in rulebook.milestone(milestone).prerequisites:
        made += reach_prerequisites(participant, code, staff, at, reached_on=reached_on)
        if Claim.objects.filter(
            participant=participant, milestone=code, status=Claim.PAYABLE
        ).exists():
            continue
        claim = submitted_claim(
            participant, code, staff, at, reached_on=reached_on, with_prerequisites=False
        )
        assert claim.status == Claim.PAYABLE, (
            f"prerequisite {code} is independent-tier: verify {claim.reference} first"
        )
        made.append(claim)
    return made


# --- refusals ----------------------------------------------------------------------


def claims_snapshot() -> dict[str, object]:
    """Row counts of every participant and claims table, the audit log, each claim's
    state and each piece of evidence's reuse flag: a refused action leaves this alone."""
    state = snapshot()
    tables = [
        m
        for m in vars(models).values()
        if isinstance(m, type)
        and issubclass(m, models.models.Model)
        and m.__module__ == models.__name__
        and not m._meta.abstract
    ]
    state |= {f"claims.{m.__name__}": m.objects.count() for m in tables}
    state["AuditRecord"] = AuditRecord.objects.count()
    state["claims"] = list(
        Claim.objects.order_by("pk").values_list(
            "reference", "status", "submitted_at", "verification_due", "basis_key"
        )
    )
    state["evidence"] = list(Evidence.objects.order_by("pk").values_list("pk", "reused"))
    return state


def assert_refused(code: str, action: Callable[..., Any], **kwargs: Any) -> Refused:
    """Call the action; expect `code`, and that nothing at all was written."""
    before = claims_snapshot()
    with pytest.raises(Refused) as refused:
        action(**kwargs)
    assert refused.value.code == code, refused.value
    assert claims_snapshot() == before
    return refused.value
