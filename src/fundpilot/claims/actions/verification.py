"""C9 independent verification: a verifier who is not from the delivering organisation
checks each evidence requirement against the milestone's definition, with a checklist,
before any payment; rejections carry reason codes. Contract claims (C10) are verified
the same way and release their tranche, in part where the rulebook allows it.

`verify_claim` is the one way a submitted independent-tier claim becomes payable or
rejected. It records the verification's due date (set at submission) and how many of
the pilot's business days late the decision was.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from fundpilot.audit import log
from fundpilot.claims.models import Claim, Verification
from fundpilot.claims.payable import make_payable
from fundpilot.participants.deadlines import late_by
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import Milestone, PartialRelease, Rulebook, Tranche

OUTCOMES = (Verification.VERIFIED, Verification.PARTIAL, Verification.REJECTED)
MEASURE = "measure:"  # checklist kinds of a tranche's attested quality floors


@dataclass(frozen=True)
class ChecklistItem:
    """One thing the verifier must answer: an evidence requirement of the milestone, or
    (contract claims) an attested quality measure against its floor."""

    kind: str
    label: str
    minimum: int = 0  # documents the requirement asks for (0 for a measure)
    note: str = ""  # the requirement's own note, or the attested figure


def milestone_of(claim: Claim, rulebook: Rulebook) -> Milestone:
    found = next((m for m in rulebook.milestones if m.code == claim.milestone), None)
    if found is None:
        raise Refused(
            "unknown_milestone",
            f"milestone {claim.milestone} is not in the rulebook in force",
            "claim",
        )
    return found


def tranche_of(claim: Claim, rulebook: Rulebook) -> Tranche | None:
    """The tranche a contract claim releases (None for a participant claim)."""
    if claim.scope != "contract":
        return None
    found = next((t for t in rulebook.tranches if t.code == claim.tranche), None)
    if found is None:
        raise Refused(
            "unknown_tranche", f"tranche {claim.tranche} is not in the rulebook in force", "claim"
        )
    return found


def checklist_for(claim: Claim, rulebook: Rulebook) -> list[ChecklistItem]:
    """The checklist for this claim, in the rulebook's order: every evidence requirement
    of the milestone, then each quality floor the claim's tranche attests to."""
    labels = {k.code: k.label for k in rulebook.evidence_kinds}
    items = [
        ChecklistItem(r.kind, labels.get(r.kind, r.kind), r.minimum, r.note or "")
        for r in milestone_of(claim, rulebook).evidence
    ]
    tranche = tranche_of(claim, rulebook)
    if tranche is not None and tranche.live_use is not None:
        for floor in tranche.live_use.quality_floors:
            attested = claim.measures.get(floor.measure) or {}
            items.append(
                ChecklistItem(
                    f"{MEASURE}{floor.measure}",
                    f"{floor.label}: at least {floor.floor}% at {floor.at_volume} cases",
                    note=(
                        f"attested {attested.get('value', '—')}% at "
                        f"{attested.get('volume', '—')} cases"
                    ),
                )
            )
    return items


def _answers(expected: list[ChecklistItem], checklist: Sequence[Mapping[str, Any]]) -> list[dict]:
    """The checklist as stored, in the expected order: one answer per item, each a
    kind, whether it is met (a real boolean) and a note."""
    kinds = [item.kind for item in expected]
    given: dict[str, dict[str, Any]] = {}
    for answer in checklist:
        kind = str(answer.get("kind", ""))
        if kind not in kinds:
            raise Refused(
                "checklist_incomplete",
                f"'{kind}' is not on this claim's checklist (expected {', '.join(kinds)})",
                "checklist",
            )
        if kind in given:
            raise Refused("checklist_incomplete", f"'{kind}' is answered twice", "checklist")
        met = answer.get("met")
        if not isinstance(met, bool):
            raise Refused(
                "checklist_incomplete", f"say whether '{kind}' is met (true or false)", "checklist"
            )
        given[kind] = {"kind": kind, "met": met, "note": str(answer.get("note") or "").strip()}
    missing = [k for k in kinds if k not in given]
    if missing:
        raise Refused(
            "checklist_incomplete",
            f"every evidence requirement needs an answer; missing: {', '.join(missing)}",
            "checklist",
        )
    return [given[k] for k in kinds]


def _criteria(
    claim: Claim, tranche: Tranche | None, outcome: str, criteria_met: Sequence[str]
) -> list[str]:
    """The tranche criteria the verifier found met, in the tranche's order."""
    codes = [c.code for c in tranche.criteria] if tranche else []
    unknown = [c for c in criteria_met if c not in codes]
    if tranche is None and criteria_met:
        raise Refused(
            "partial_not_allowed", "criteria belong to contract (tranche) claims", "criteria_met"
        )
    if unknown:
        raise Refused(
            "unknown_criterion",
            f"not a criterion of tranche {claim.tranche}: {', '.join(unknown)}",
            "criteria_met",
        )
    proportional = tranche is not None and tranche.partial_release is PartialRelease.PROPORTIONAL
    if outcome == Verification.PARTIAL and not proportional:
        where = f"tranche {claim.tranche}" if tranche else "a participant milestone"
        raise Refused(
            "partial_not_allowed",
            f"the rulebook allows no partial release for {where}",
            "outcome",
        )
    met = [c for c in codes if c in set(criteria_met)]
    if outcome == Verification.VERIFIED:
        if criteria_met and len(met) != len(codes):
            raise Refused(
                "unmet_items",
                "verified means every criterion is met; decide partially verified instead",
                "criteria_met",
            )
        return codes
    if criteria_met and not proportional:
        raise Refused(
            "partial_not_allowed",
            f"tranche {claim.tranche} is all or nothing; criteria met release nothing",
            "criteria_met",
        )
    return met


def _check_partial(tranche: Tranche, met: list[str]) -> Decimal:
    total = len(tranche.criteria)
    if not met:
        raise Refused(
            "criteria_required", "name the criteria met for a partial release", "criteria_met"
        )
    if len(met) == total:
        raise Refused(
            "not_partial", "every criterion is met: decide verified instead", "criteria_met"
        )
    amount = tranche.release_amount(len(met))
    if amount <= 0:
        raise Refused(
            "below_minimum_criteria",
            f"tranche {tranche.code} releases nothing below"
            f" {tranche.minimum_criteria_met or 1} criteria met; reject it instead",
            "criteria_met",
        )
    return amount


def _reasons(rulebook: Rulebook, outcome: str, reason_codes: Sequence[str]) -> list[str]:
    known = {c.code for c in rulebook.codes.verification_rejection_reasons}
    if outcome == Verification.REJECTED and not reason_codes:
        raise Refused(
            "reason_required", "a rejection needs at least one reason code", "reason_codes"
        )
    unknown = [c for c in reason_codes if c not in known]
    if unknown:
        raise Refused(
            "unknown_reason",
            f"not a verification rejection reason: {', '.join(unknown)}",
            "reason_codes",
        )
    return list(dict.fromkeys(reason_codes))


def verify_claim(
    *,
    claim: Claim,
    outcome: str,
    checklist: Sequence[Mapping[str, Any]],
    reason_codes: Sequence[str] = (),
    criteria_met: Sequence[str] = (),
    note: str = "",
    by: User,
    at: datetime,
) -> Verification:
    """C9 independent verification of a submitted claim (participant or contract).

    Refused (nothing written) when: the verifier's organisation delivered the claim
    (not_independent); the claim was already decided (already_decided) or is not
    awaiting verification (not_submitted); the outcome is unknown (unknown_outcome);
    an evidence requirement has no answer or an answer names an unknown kind
    (checklist_incomplete); a criterion is not the tranche's (unknown_criterion);
    partial release or criteria where the rulebook allows none (partial_not_allowed);
    `verified` with an item not met (unmet_items); a partial release naming no
    criteria, all of them, or too few to release anything (criteria_required,
    not_partial, below_minimum_criteria); a rejection without a reason code
    (reason_required) or with an unknown one (unknown_reason).

    `verified` makes the claim payable (participant: its amount; contract: the
    tranche); `partially_verified` releases the tranche in proportion to the criteria
    met; `rejected` rejects it, and a rejected tranche may be cured until
    `cure_until` (the decision date plus the tranche's cure period, calendar days).
    """
    pilot = claim.pilot
    role = policy.require(by, "claim.verify", pilot)
    if by.organisation_id == claim.provider_id:
        raise Refused(
            "not_independent",
            "a verifier may not verify a claim from their own organisation",
            "claim",
        )
    rulebook = pilot.rulebook
    with transaction.atomic(durable=True):
        locked = Claim.objects.select_for_update().select_related("pilot").get(pk=claim.pk)
        if Verification.objects.filter(claim=locked).exists():
            raise Refused(
                "already_decided",
                f"{locked.reference} was already verified; dispute the decision instead",
                "claim",
            )
        if locked.status != Claim.SUBMITTED:
            raise Refused(
                "not_submitted",
                f"{locked.reference} is not awaiting verification (status {locked.status})",
                "claim",
            )
        if outcome not in OUTCOMES:
            raise Refused(
                "unknown_outcome", f"outcome must be one of {', '.join(OUTCOMES)}", "outcome"
            )
        answers = _answers(checklist_for(locked, rulebook), checklist)
        tranche = tranche_of(locked, rulebook)
        met = _criteria(locked, tranche, outcome, criteria_met)
        if outcome == Verification.VERIFIED and not all(a["met"] for a in answers):
            unmet = [a["kind"] for a in answers if not a["met"]]
            raise Refused(
                "unmet_items",
                f"verified means every item is met; not met: {', '.join(unmet)}",
                "checklist",
            )
        reasons = _reasons(rulebook, outcome, reason_codes)
        amount = Decimal("0.00")
        if outcome == Verification.PARTIAL:
            assert tranche is not None
            amount = _check_partial(tranche, met)
        elif outcome == Verification.VERIFIED:
            amount = tranche.release_amount(len(met)) if tranche else locked.amount
        changed = ["status"]
        if outcome == Verification.REJECTED:
            locked.status = Claim.REJECTED
            if tranche is not None and tranche.cure_period_days:
                decided_on = pilot.calendar.local_date(at)
                locked.cure_until = decided_on + timedelta(days=tranche.cure_period_days)
                changed.append("cure_until")
        else:
            make_payable(locked, amount, at)
            changed += ["payable_amount", "payable_at", "payer_split", "basis_key"]
        locked.save(update_fields=changed)
        verification = Verification.objects.create(
            claim=locked,
            organisation=by.organisation,
            outcome=outcome,
            reason_codes=reasons,
            checklist=answers,
            criteria_met=met,
            amount=amount,
            note=note.strip(),
            decided_by=by,
            decided_at=at,
            rulebook_version=pilot.current.number,
            due=locked.verification_due,
            late_days=late_by(pilot, locked.verification_due, at),
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="claim.verify",
            subject=f"claim:{locked.reference}",
            payload={
                "outcome": outcome,
                "checklist": answers,
                "reason_codes": reasons,
                "criteria_met": met,
                "amount": amount,
                "cure_until": locked.cure_until,
                "due": locked.verification_due,
                "late_days": verification.late_days,
                "note": verification.note,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return verification
