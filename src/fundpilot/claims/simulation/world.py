"""The claims pass's world: how often things happen, who acts, and the synthetic
documents (see fundpilot.claims.simulate)."""

from __future__ import annotations

import csv
import io
import random
import struct
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from fundpilot.claims import evidence as files
from fundpilot.claims.models import Claim, ClaimEvidence, Dispute, Evidence
from fundpilot.participants.simulation.world import Clock, members_by_role
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.rulebook import EvidenceKind, Rulebook
from fundpilot.rules.vocabulary import OrgKind, Role

Progress = Callable[[int, int], None]

# How likely a participant reaches a milestone once its prerequisites are reached (by type).
P_REACH = {
    "stabilisation": 0.85,
    "engagement": 0.85,
    "care_plan": 0.7,
    "housing_step": 0.5,
    "sustained_follow_up": 0.6,
}
P_PARTIAL_EVIDENCE = 0.5  # not reached: some of its evidence is uploaded all the same
P_REUSE = 0.03  # a document copied from another participant's file (the reuse flag)
P_EARLY_DRAFT = 0.12  # drafted before the last piece of evidence is uploaded
REVIEW_DAYS, SLOW_REVIEW_DAYS = 4, 15  # readiness review backlog (business days)
P_SLOW_REVIEW = 0.15
SUBMIT_DAYS, HELD_DAYS = 2, 10  # ready claims wait for the lead to submit them
P_HELD = 0.1
P_REJECT = 0.15  # independent verification rejects (first claim of an attempt)
P_REJECT_AGAIN = 0.05  # …a corrected claim
P_REJECT_REUSED = 0.85  # …a claim resting on a reused document
P_LATE_VERIFICATION = 0.12
P_REDO = 0.5  # after a rejection the provider corrects the evidence and claims again
P_DISPUTE = 0.12  # …or disputes the verification
P_ESCALATE = 0.35
P_OVERTURN = 0.5
P_LATE_DISPUTE = 0.15
P_AUDIT_FAIL = 0.12  # a sampled claim the evidence does not (fully) support
P_LATE_AUDIT = 0.08
P_DISPUTE_AUDIT = 0.25
# Activities the delivery log records face to face (a contact log extract lists them).
FACE_TO_FACE = frozenset(
    {"face_to_face", "home_visit", "follow_up", "care_planning", "assessment", "outreach"}
)
CONTACT_KINDS = ("contact", "case_log")  # evidence kinds that are extracts of the log


# What people write: verifiers' findings by reason code, providers' grounds for a
# dispute, and the resolution and learning of a decided one.
FINDINGS = {
    "VR-DEFINITION": "does not meet the milestone definition as written",
    "VR-UNSIGNED": "the copy on file is not signed",
    "VR-WINDOW": "dated outside the milestone window",
    "VR-REUSED": "the same document is on file for another participant",
    "VR-MISSING": "the document named is not the one required",
}
GROUNDS = [
    "The signed page was uploaded with the claim; the verifier read the draft copy.",
    "The definition is met: the guidance allows this case, see the note on the claim.",
    "The document is dated inside the window once the risk-adjusted variant is applied.",
]
REUSE_GROUNDS = "The document is ours, uploaded first; another participant's file holds a copy."
REUSE_RESOLUTION = (
    "The document was on this participant's file first; the copy is on the other"
    " participant's file.",
    "Verifiers compare upload dates before rejecting a claim for reuse.",
)
RESOLUTIONS = {
    Dispute.OVERTURNED: (
        "On review the evidence meets the definition; the rejection is replaced by a verification.",
        "Verifiers open every page of a multi-page upload before finding it unsigned.",
    ),
    Dispute.UPHELD: (
        "The evidence does not meet the definition; the rejection stands.",
        "Providers attach the signed final version, not the working draft.",
    ),
}


# --- people -----------------------------------------------------------------------------


@dataclass
class People:
    """Who acts in the claims pass, by role (users of the pilot, sorted by username)."""

    verifiers: list[User]
    compliance: list[User]
    claimants: list[User]  # contract.claim holders (compliance, executive sponsor)
    supervisors: dict[int, list[User]]  # by organisation
    enrollment: dict[int, list[User]]  # by organisation

    def verifier_for(self, provider_id: int, rng: random.Random) -> User | None:
        """An independent verifier: one not of the delivering organisation."""
        found = [u for u in self.verifiers if u.organisation_id != provider_id]
        return rng.choice(found) if found else None

    def resolver(self, provider_id: int, decided_by: int, raised_by: int) -> User | None:
        """Who decides a dispute: another verifier of an independent body, else compliance."""
        for user in (*self.verifiers, *self.compliance):
            if user.pk not in (decided_by, raised_by) and user.organisation_id != provider_id:
                return user
        return None


def people_of(pilot: Pilot) -> People:
    """The pilot's people; verifiers only of organisations that deliver no care."""
    members = members_by_role(pilot)
    body = lambda u: u.organisation is not None and u.organisation.kind != OrgKind.PROVIDER  # noqa: E731
    by_org: dict[Role, dict[int, list[User]]] = {}
    for role in (Role.SUPERVISOR, Role.ENROLLMENT_MANAGER):
        grouped: dict[int, list[User]] = defaultdict(list)
        for user in members[role]:
            if user.organisation_id is not None:
                grouped[user.organisation_id].append(user)
        by_org[role] = grouped
    claimants = members[Role.COMPLIANCE] + members[Role.EXECUTIVE_SPONSOR]
    return People(
        verifiers=[u for u in members[Role.VERIFIER] if body(u)],
        compliance=members[Role.COMPLIANCE],
        claimants=[u for u in claimants if u.organisation_id is not None],
        supervisors=by_org[Role.SUPERVISOR],
        enrollment=by_org[Role.ENROLLMENT_MANAGER],
    )


# --- the world --------------------------------------------------------------------------


@dataclass
class World:
    pilot: Pilot
    rb: Rulebook
    clock: Clock
    seed: int
    until: datetime
    people: People
    # Documents that may be copied into another participant's file, by kind.
    pool: dict[str, list[tuple[str, bytes]]] = field(default_factory=lambda: defaultdict(list))
    verifications: int = 0  # independent verifications decided so far
    rejections: int = 0  # …of which rejected
    audit_failures: int = 0
    serial: int = 0

    @property
    def today(self) -> date:
        return self.clock.local(self.until)

    def rng(self, *parts: object) -> random.Random:
        stream = "/".join(["fundpilot-simulate-claims", str(self.seed), *map(str, parts)])
        return random.Random(stream)  # noqa: S311 (a simulation, not secrets)

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def codes(
        self, preferred: tuple[str, ...], rng: random.Random, *, avoid: tuple[str, ...] = ()
    ) -> list[str]:
        """One verification rejection reason: the first preferred code the rulebook has,
        else any of its codes but those to avoid."""
        known = [c.code for c in self.rb.codes.verification_rejection_reasons]
        for code in preferred:
            if code in known:
                return [code]
        usable = [c for c in known if c not in avoid] or known
        return [rng.choice(usable)] if usable else []

    def kind(self, code: str) -> EvidenceKind:
        return next(k for k in self.rb.evidence_kinds if k.code == code)

    def after(self, moment: datetime, rng: random.Random, *, slack: int = 2) -> datetime:
        """Someone acts on it within `slack` business days (soon, mostly), in working hours."""
        return self.clock.act(moment, None, rng, slack=slack)

    def within(self, moment: datetime, rng: random.Random, business_days: int) -> datetime:
        """A working moment after `moment`, on any of the next `business_days` business
        days alike (a backlog worked through in no particular order)."""
        day = self.clock.bdays(self.clock.local(moment), rng.randint(0, max(business_days, 0)))
        found = self.clock.work_time(day, rng, moment)
        while found is None:
            day = self.clock.bdays(day, 1)
            found = self.clock.work_time(day, rng, moment)
        return found

    def by_due(
        self, moment: datetime, due: date | None, rng: random.Random, late: float
    ) -> datetime:
        """A decision due on `due`: mostly in its last days (people use the time they
        have), or 1–4 business days late."""
        if due is None or rng.random() < late:
            return self.clock.act(moment, due, rng, late=due is not None)
        first = self.clock.bdays(self.clock.local(moment), 0)
        allowed = self.clock.calendar.business_days_between(first, due)
        day = self.clock.bdays(first, max(allowed - int(rng.expovariate(0.7)), 0))
        found = self.clock.work_time(day, rng, moment)
        while found is None:
            day = self.clock.bdays(day, 1)
            found = self.clock.work_time(day, rng, moment)
        return found

    def morning(self, day: date) -> datetime:
        return self.clock.on(self.clock.bdays(day, 0), 8.0)


def reuse_in(claim: Claim) -> tuple[list[str], list[str]]:
    """Kinds of the claim's evidence whose content is on file for another participant
    too: (copies of another participant's document, originals another file copied)."""
    copies: list[str] = []
    originals: list[str] = []
    links = ClaimEvidence.objects.filter(claim=claim, evidence__reused=True)
    for link in links.select_related("evidence").order_by("pk"):
        first = (
            Evidence.objects.filter(pilot_id=claim.pilot_id, sha256=link.evidence.sha256)
            .order_by("uploaded_at", "pk")
            .values_list("pk", flat=True)
            .first()
        )
        (originals if first == link.evidence_id else copies).append(link.kind)
    return copies, originals


def is_log_extract(kind: str) -> bool:
    return any(word in kind for word in CONTACT_KINDS)


# --- documents --------------------------------------------------------------------------


def _pdf_text(line: str) -> str:
    safe = line.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf(lines: list[str]) -> bytes:
    """A minimal, valid one-page PDF showing `lines` (correct cross-reference table)."""
    text = " T* ".join(f"({_pdf_text(line)}) Tj" for line in lines)
    stream = f"BT /F1 11 Tf 72 740 Td 15 TL {text} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def png(lines: list[str]) -> bytes:
    """A 1×1 grey PNG carrying `lines` as its description (for image-only kinds)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    text = b"Description\x00" + " / ".join(lines).encode("latin-1", "replace")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", text)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def csv_extract(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def document(
    kind: EvidenceKind, lines: list[str], rows: list[list[str]] | None = None
) -> tuple[str, bytes] | None:
    """(extension, content) of a document of this kind, in a type the kind allows: a CSV
    extract of the log when rows are given (or when CSV is all it allows), else a PDF,
    else a PNG; None when the kind takes none of these."""
    allowed = kind.media_types
    if files.CSV in allowed and (rows is not None or files.PDF not in allowed):
        table = rows if rows is not None else [["", "", line, ""] for line in lines]
        return "csv", csv_extract(["date", "subject", "what", "by"], table)
    if files.PDF in allowed:
        return "pdf", pdf(lines)
    if files.PNG in allowed:
        return "png", png(lines)
    return None


def within(day: date, start: date, end: date) -> date:
    return min(max(day, start), end)


def days(n: float) -> timedelta:
    return timedelta(days=round(n))
