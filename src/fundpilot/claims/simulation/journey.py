"""One participant's milestones, as a generator of the moments it acts at (see
fundpilot.claims.simulate): the evidence, the claims, the readiness reviews, the
submissions, the independent verifications and what follows a rejection.

Every step reads the participant's history as the claim actions will (the same
`tracker` functions), so a step the actions would refuse is never taken: a milestone
whose prerequisite was lost to a relapse waits for the re-earned prerequisite, a
window that closed leaves the milestone unreached.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fundpilot.claims import tracker
from fundpilot.claims.actions.claims import (
    claim_requirements,
    draft_claim,
    review_readiness,
    submit_claim,
)
from fundpilot.claims.actions.disputes import escalate_dispute, raise_dispute, resolve_dispute
from fundpilot.claims.actions.evidence import upload_evidence
from fundpilot.claims.actions.verification import verify_claim
from fundpilot.claims.evidence import sha256_of
from fundpilot.claims.models import Claim, Dispute, Verification
from fundpilot.claims.simulation.world import (
    FINDINGS,
    GROUNDS,
    HELD_DAYS,
    P_DISPUTE,
    P_EARLY_DRAFT,
    P_ESCALATE,
    P_HELD,
    P_LATE_DISPUTE,
    P_LATE_VERIFICATION,
    P_OVERTURN,
    P_PARTIAL_EVIDENCE,
    P_REACH,
    P_REDO,
    P_REJECT,
    P_REJECT_AGAIN,
    P_REJECT_REUSED,
    P_REUSE,
    P_SLOW_REVIEW,
    RESOLUTIONS,
    REUSE_GROUNDS,
    REUSE_RESOLUTION,
    REVIEW_DAYS,
    SLOW_REVIEW_DAYS,
    SUBMIT_DAYS,
    World,
    days,
    document,
    is_log_extract,
    reuse_in,
)
from fundpilot.participants.models import Participant
from fundpilot.pilots.models import User
from fundpilot.rules.rulebook import Milestone


@dataclass
class Case:
    """One participant the claims pass works for, with what it needs of their history."""

    index: int
    participant: Participant
    lead: User
    supervisors: list[User]
    released_at: datetime
    # Disengaged spells: (from, until re-engaged; None if still away).
    away: list[tuple[datetime, datetime | None]]
    # Face-to-face contacts in the delivery log, oldest first: (day, activity, by).
    contacts: list[tuple[date, str, str]]


@dataclass
class Doc:
    kind: str
    day: date
    filename: str
    content: bytes
    note: str = ""
    contact: int | None = None  # index of the contact the extract lists
    shared: bool = False  # an original others may copy once it is uploaded


@dataclass
class Attempt:
    """A claim in the making: one milestone, one attempt, its evidence and its date."""

    milestone: Milestone
    attempt: int
    start: date
    window_end: date
    reached_on: date
    docs: list[Doc]
    claim: Claim | None = None
    resubmission: bool = False
    reviews: int = 0


@dataclass(order=True)
class _Step:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: Any = field(compare=False, default=None)


class ParticipantClaims:
    """The agenda of one participant's claim work: dated steps, each a method named
    after its kind; a step may plan further steps."""

    def __init__(self, w: World, case: Case) -> None:
        self.w, self.case, self.p = w, case, case.participant
        self.rb, self.clock = w.rb, w.clock
        self.rng: random.Random = w.rng("participant", self.p.participant_id)
        self.agenda: list[_Step] = []
        self.counter = iter(range(10**9))
        self.handled: set[tuple[str, int]] = set()  # (milestone, attempt) already planned
        self.used: set[int] = set()  # contacts already listed in an extract
        self.shas: set[tuple[str, str]] = set()  # (kind, sha256) uploaded or planned
        self.documents = 0
        self.now = case.released_at
        self.plan(w.after(case.released_at, self.rng, slack=3), "plan")
        for _, back in case.away:
            if back is not None:
                self.plan(w.after(back, self.rng, slack=1), "plan")

    def plan(self, at: datetime, kind: str, data: Any = None) -> None:
        at = max(at, self.now)
        if at <= self.w.until:
            heapq.heappush(self.agenda, _Step(at, next(self.counter), kind, data))

    def run(self) -> Generator[datetime, None, None]:
        while self.agenda:
            step = heapq.heappop(self.agenda)
            yield step.at
            self.now = step.at
            getattr(self, f"_{step.kind}")(step.at, step.data)

    # --- when the participant is around --------------------------------------------

    def _away_at(self, moment: datetime) -> tuple[datetime, datetime | None] | None:
        return next(
            (s for s in self.case.away if s[0] <= moment and (s[1] is None or moment < s[1])), None
        )

    def engaged_from(self, moment: datetime) -> datetime | None:
        """`moment`, or the first working moment after the participant came back."""
        spell = self._away_at(moment)
        if spell is None:
            return moment
        return None if spell[1] is None else self.w.after(spell[1], self.rng, slack=1)

    def _away_on(self, day: date) -> tuple[date, date | None] | None:
        for start, back in self.case.away:
            first = self.clock.local(start)
            last = self.clock.local(back) if back is not None else None
            if first <= day and (last is None or day < last):
                return first, last
        return None

    # --- planning a milestone --------------------------------------------------------

    def _plan(self, at: datetime, _: Any) -> None:
        """Take up every milestone whose attempt can start now (prerequisites reached)."""
        history = tracker.load_history(self.p, self.rb)
        for m in tracker.participant_milestones(self.rb):
            state = tracker.milestone_state(history, m)
            key = (m.code, state.attempt)
            if key in self.handled or state.reached is not None or state.start is None:
                continue
            if state.attempt_claims or not all(
                tracker.reached_by(history, c, date.max) for c in m.prerequisites
            ):
                continue
            self.handled.add(key)
            self.attempt(at, history, m, state)

    def attempt(
        self, at: datetime, history: tracker.History, m: Milestone, state: tracker.MilestoneState
    ) -> None:
        w, rng = self.w, self.rng
        assert state.start is not None
        prior = [
            reached.reached_on
            for c in m.prerequisites
            if (reached := tracker.milestone_state(history, self.rb.milestone(c)).reached)
        ]
        lower = max([state.start, *prior])
        window_end = state.window_end or w.today
        last = min(window_end, w.today)
        if lower > last:
            return
        reaches = rng.random() < P_REACH.get(m.type.value, 0.6)
        span = max((window_end - lower).days, 1)
        target = lower + days(span * rng.uniform(0.1, 0.75))
        target = max(target, min(self.clock.local(at) + days(rng.uniform(0, 10)), window_end))
        reached_on, docs = target, []
        for req in m.evidence:
            have = sum(
                1
                for e in history.evidence
                if e.kind == req.kind and state.start <= e.document_date <= target
            )
            for _ in range(max(req.minimum - have, 0)):
                if is_log_extract(req.kind):
                    doc = self.contact_doc(req.kind, state.start, last)
                else:
                    day = target - days(rng.uniform(0, min(30, (target - state.start).days)))
                    spell = self._away_on(day)
                    doc = self.new_doc(req.kind, spell[1] if spell and spell[1] else day)
                if doc is None:
                    reaches = False
                    break
                docs.append(doc)
                reached_on = max(reached_on, doc.day)
        spell = self._away_on(reached_on)
        if spell is not None and spell[1] is not None:
            reached_on = spell[1]
        if not reaches or reached_on > window_end or reached_on > w.today:
            # Not reached (yet): some of the evidence is on file all the same.
            if reaches and reached_on <= window_end:
                keep = [d for d in docs if d.day <= w.today]  # still in progress
            elif rng.random() < P_PARTIAL_EVIDENCE:
                keep = [d for d in docs if d.day <= last]
                keep = keep[: max(len(keep) // 2, 1)]
            else:
                keep = []
            kept = {id(d) for d in keep}
            for doc in docs:
                if id(doc) not in kept:
                    self.forget(doc)
            self.upload_all(at, keep)
            return
        att = Attempt(m, state.attempt, state.start, window_end, reached_on, docs)
        docs.sort(key=lambda d: d.day)
        early = len(docs) >= 2 and rng.random() < P_EARLY_DRAFT
        first, late = (docs[:-1], docs[-1:]) if early else (docs, [])
        cursor = self.upload_all(at, first)
        draft_at = self.engaged_from(w.after(max(cursor, w.morning(reached_on)), rng, slack=3))
        if draft_at is None:
            return
        self.plan(draft_at, "draft", att)
        self.upload_all(draft_at, late)

    def upload_all(self, at: datetime, docs: list[Doc]) -> datetime:
        """Upload the documents in date order, each once it exists: a log extract the
        day after the contact (once the day's log is complete), others from their date."""
        cursor = at
        for doc in sorted(docs, key=lambda d: d.day):
            ready = doc.day + timedelta(days=1) if doc.contact is not None else doc.day
            cursor = self.w.after(max(cursor, self.w.morning(ready)), self.rng, slack=3)
            self.plan(cursor, "upload", doc)
        return cursor

    def new_doc(self, kind: str, day: date, *, note: str = "") -> Doc | None:
        """A document of `kind` dated `day`: now and then a copy of another participant's."""
        w, rng = self.w, self.rng
        pool = [
            (pid, content)
            for pid, content in w.pool.get(kind, [])
            if pid != self.p.participant_id and (kind, sha256_of(content)) not in self.shas
        ]
        if pool and not note and rng.random() < P_REUSE:
            _, content = rng.choice(pool)
            self.shas.add((kind, sha256_of(content)))
            label = kind.replace("_", "-")
            return Doc(kind, day, f"{label}-{day:%Y%m%d}.pdf", content)
        self.documents += 1
        evidence_kind = w.kind(kind)
        lead, provider = self.case.lead, self.p.provider
        lines = [
            w.rb.pilot.name,
            evidence_kind.label,
            f"Participant {self.p.participant_id}",
            f"Document date {day.isoformat()}",
            f"Prepared by {lead.get_full_name() or lead.username}, {provider.name}",
            f"Document {self.p.participant_id}-{self.documents:03d}"
            + (f" ({note})" if note else ""),
        ]
        made = document(evidence_kind, lines)
        if made is None:
            return None
        extension, content = made
        self.shas.add((kind, sha256_of(content)))
        label = kind.replace("_", "-")
        shared = extension == "pdf" and not note
        return Doc(kind, day, f"{label}-{day:%Y%m%d}.{extension}", content, note, shared=shared)

    def forget(self, doc: Doc) -> None:
        """A planned document that will not be uploaded after all."""
        if doc.contact is not None:
            self.used.discard(doc.contact)
        self.shas.discard((doc.kind, sha256_of(doc.content)))

    def contact_doc(self, kind: str, start: date, last: date) -> Doc | None:
        """An extract of the delivery log listing one face-to-face contact in [start, last]."""
        found = next(
            (
                (i, c)
                for i, c in enumerate(self.case.contacts)
                if i not in self.used and start <= c[0] <= last
            ),
            None,
        )
        if found is None:
            return None
        i, (day, activity, by) = found
        made = document(
            self.w.kind(kind),
            [f"Contact {activity} with {self.p.participant_id} on {day}, recorded by {by}"],
            rows=[[day.isoformat(), self.p.participant_id, activity, by]],
        )
        if made is None:
            return None
        self.used.add(i)
        extension, content = made
        self.shas.add((kind, sha256_of(content)))
        return Doc(kind, day, f"contact-log-{day:%Y%m%d}.{extension}", content, contact=i)

    # --- the steps -------------------------------------------------------------------

    def _upload(self, at: datetime, doc: Doc) -> None:
        upload_evidence(
            pilot=self.w.pilot,
            participant=self.p,
            kind=doc.kind,
            filename=doc.filename,
            content=doc.content,
            document_date=doc.day,
            note=doc.note,
            by=self.case.lead,
            at=at,
        )
        if doc.shared:
            self.w.pool[doc.kind].append((self.p.participant_id, doc.content))

    def draftable(self, att: Attempt, at: datetime) -> bool:
        """What draft_claim checks of the milestone, read the same way."""
        history = tracker.load_history(self.p, self.rb)
        state = tracker.milestone_state(history, att.milestone)
        return (
            state.reached is None
            and state.open_claim is None
            and state.price is not None
            and state.attempt == att.attempt
            and state.start is not None
            and state.start <= att.reached_on <= self.clock.local(at)
            and (state.window_end is None or att.reached_on <= state.window_end)
            and all(
                tracker.reached_by(history, c, att.reached_on) for c in att.milestone.prerequisites
            )
        )

    def _draft(self, at: datetime, att: Attempt) -> None:
        if not self.draftable(att, at):
            return
        att.claim = draft_claim(
            participant=self.p,
            milestone=att.milestone.code,
            reached_on=att.reached_on,
            by=self.case.lead,
            at=at,
        )
        slow = self.rng.random() < P_SLOW_REVIEW
        backlog = SLOW_REVIEW_DAYS if slow else REVIEW_DAYS
        self.plan(self.w.within(at, self.rng, backlog), "review", att)

    def _review(self, at: datetime, att: Attempt) -> None:
        """C8: a supervisor confirms the evidence; with something missing they look again."""
        claim = att.claim
        assert claim is not None
        if tracker.missing_text(claim_requirements(claim)):
            att.reviews += 1
            if att.reviews < 6:
                self.plan(self.w.after(at + timedelta(hours=20), self.rng, slack=2), "review", att)
            return
        supervisors = [u for u in self.case.supervisors if u.pk != claim.drafted_by_id]
        if not supervisors:
            return
        review_readiness(
            claim=claim,
            note=self.rng.choice(
                ["", "All required evidence present", "Checked against the tracker"]
            ),
            by=self.rng.choice(supervisors),
            at=at,
        )
        held = self.rng.random() < P_HELD
        self.plan(self.w.within(at, self.rng, HELD_DAYS if held else SUBMIT_DAYS), "submit", att)

    def _submit(self, at: datetime, att: Attempt) -> None:
        claim = att.claim
        assert claim is not None
        submit_claim(claim=claim, by=self.case.lead, at=at)
        if claim.status == Claim.PAYABLE:
            self.plan(at + timedelta(minutes=2), "plan")
        else:
            moment = self.w.by_due(at, claim.verification_due, self.rng, P_LATE_VERIFICATION)
            self.plan(moment, "verify", att)

    # --- C9 independent verification, and what follows a rejection --------------------

    def _verify(self, at: datetime, att: Attempt) -> None:
        w, rng, claim = self.w, self.rng, att.claim
        assert claim is not None
        verifier = w.people.verifier_for(claim.provider_id, rng)
        if verifier is None:
            return
        # The verifier sees the reuse flag, not who copied whom.
        copies, originals = reuse_in(claim)
        reused = copies + originals
        chance = P_REJECT_REUSED if reused else P_REJECT
        chance = P_REJECT_AGAIN if att.resubmission else chance
        kinds = [r.kind for r in att.milestone.evidence]
        failing, codes = "", []
        w.verifications += 1
        # The first and third decisions of a pilot reject (while fewer than two have), so
        # even a short history shows a rejection overturned and one that stands.
        forced = w.verifications in (1, 3) and w.rejections < 2
        if rng.random() < chance or forced:
            if reused and not att.resubmission:
                failing, codes = reused[0], w.codes(("VR-REUSED",), rng)
            else:
                failing = rng.choice(kinds)
                codes = w.codes((), rng, avoid=("VR-MISSING", "VR-REUSED"))
        checklist = [
            {
                "kind": kind,
                "met": kind != failing,
                "note": f"{FINDINGS.get(codes[0], 'not acceptable')}"
                if kind == failing and codes
                else "seen and checked against the definition",
            }
            for kind in kinds
        ]
        verification = verify_claim(
            claim=claim,
            outcome=Verification.REJECTED if codes else Verification.VERIFIED,
            checklist=checklist,
            reason_codes=codes,
            note="" if codes else rng.choice(["", "Meets the definition"]),
            by=verifier,
            at=at,
        )
        if not codes:
            self.plan(at + timedelta(minutes=2), "plan")
            return
        w.rejections += 1
        if codes and failing in originals and failing not in copies:
            # The provider shows the document is theirs (the other file holds the copy).
            self.dispute(at, verification, overturn=True, escalate=False, reuse=True)
            return
        if not reused and w.rejections <= 2:  # the first two: one overturned, one upheld
            self.dispute(at, verification, overturn=w.rejections == 1, escalate=w.rejections == 2)
            return
        draw = rng.random()
        if not reused and draw < P_DISPUTE:
            self.dispute(
                at,
                verification,
                overturn=rng.random() < P_OVERTURN,
                escalate=rng.random() < P_ESCALATE,
            )
        elif draw < P_DISPUTE + P_REDO:
            self.redo(at, att, failing)

    def redo(self, at: datetime, att: Attempt, failing: str) -> None:
        """The provider corrects the failing evidence and claims the milestone again."""
        w, rng = self.w, self.rng
        last = min(att.window_end, w.today)
        day = self.clock.local(at) + days(rng.uniform(1, 12))
        if day > last:
            return
        if is_log_extract(failing):
            doc = self.contact_doc(failing, att.start, last)
        else:
            doc = self.new_doc(failing, day, note="corrected and signed")
        if doc is None:
            return
        again = Attempt(
            att.milestone,
            att.attempt,
            att.start,
            att.window_end,
            max(att.reached_on, doc.day),
            [doc],
        )
        again.resubmission = True
        cursor = self.upload_all(at, [doc])
        draft_at = self.engaged_from(
            w.after(max(cursor, w.morning(again.reached_on)), rng, slack=3)
        )
        if draft_at is not None:
            self.plan(draft_at, "draft", again)

    def dispute(
        self,
        at: datetime,
        verification: Verification,
        *,
        overturn: bool,
        escalate: bool,
        reuse: bool = False,
    ) -> None:
        self.plan(
            self.w.after(at, self.rng, slack=4), "raise", (verification, overturn, escalate, reuse)
        )

    def _raise(self, at: datetime, data: tuple[Verification, bool, bool, bool]) -> None:
        verification, overturn, escalate, reuse = data
        supervisor = self.rng.choice(self.case.supervisors)
        dispute = raise_dispute(
            subject=verification,
            grounds=REUSE_GROUNDS if reuse else self.rng.choice(GROUNDS),
            by=supervisor,
            at=at,
        )
        if escalate and len(self.rb.codes.dispute_stages) > 1:
            self.plan(self.w.after(at, self.rng, slack=4), "escalate", (dispute, overturn, reuse))
        else:
            self.plan(
                self.w.by_due(at, dispute.due, self.rng, P_LATE_DISPUTE),
                "resolve",
                (dispute, overturn, reuse),
            )

    def _escalate(self, at: datetime, data: tuple[Dispute, bool, bool]) -> None:
        dispute = data[0]
        escalate_dispute(
            dispute=dispute,
            note="The reconsideration did not address the grounds; we ask for the panel.",
            by=dispute.raised_by,
            at=at,
        )
        self.plan(self.w.by_due(at, dispute.due, self.rng, P_LATE_DISPUTE), "resolve", data)

    def _resolve(self, at: datetime, data: tuple[Dispute, bool, bool]) -> None:
        dispute, overturn, reuse = data
        verification = dispute.verification
        assert verification is not None
        by = self.w.people.resolver(
            dispute.provider_id, verification.decided_by_id, dispute.raised_by_id
        )
        if by is None:
            return
        outcome = Dispute.OVERTURNED if overturn else Dispute.UPHELD
        resolution, learning = REUSE_RESOLUTION if reuse else RESOLUTIONS[outcome]
        decision: dict[str, Any] = {}
        if overturn:
            decision = {
                "verification_outcome": Verification.VERIFIED,
                "checklist": [
                    {"kind": a["kind"], "met": True, "note": "met on review"}
                    for a in verification.checklist
                ],
                "note": "Verified on review of the dispute",
            }
        resolve_dispute(
            dispute=dispute,
            outcome=outcome,
            resolution=resolution,
            learning=learning,
            by=by,
            at=at,
            **decision,
        )
        if overturn:
            self.plan(at + timedelta(minutes=2), "plan")
