"""Helpers for staged contract milestones (C10) and disputes (C11), through the real
actions: evidence upload, contract claims, verification, referrals and declines.

    from tests.claims.contract_fixtures import receiving_referrals, referrals, claim_tranche

The discharge-2026 example has no eligibility section, so no referral can be received
in it (`receive_referral` and `import_referrals` refuse with `no_eligibility_rules`)
and its live use is always zero. `receiving_referrals` therefore amends its rulebook — the way
rules change — adding an eligibility section, a referral source and a decline reason,
and joins a community provider ("riverbend-home", staff "rh-<role>") whose enrollment
manager receives referrals and whose activation approver declines them.

Times: NOW is Monday 2 March 2026, 09:00 in Chicago.
"""

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from fundpilot.claims.actions.contract import draft_contract_claim, submit_contract_claim
from fundpilot.claims.actions.verification import checklist_for, verify_claim
from fundpilot.claims.models import Claim, Evidence, Verification
from fundpilot.participants.actions.referrals import decline_referral
from fundpilot.participants.imports import import_referrals
from fundpilot.participants.models import Referral
from fundpilot.pilots import actions
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.claims.claim_fixtures import upload
from tests.conftest import NOW, amend, example, make_person, organisation, second_admin

STEP = timedelta(minutes=1)
# What the amendment adds to discharge-2026 so that referrals can be received.
INTAKE = """[eligibility]
require_active_payer_eligibility = false
score_scale = "LACE readmission risk index, 0-19; higher means a higher risk of readmission"
baseline_score = { min = 0, max = 19 }
qualifying_service_categories = [
  { code = "DISCHARGE", label = "Adult leaving hospital with complex needs" },
]
approved_tools = [{ code = "lace", name = "LACE index", versions = ["1"] }]

[codes]
referral_sources = [{ code = "WARD", label = "Hospital ward discharge team" }]
rejection_reasons = [{ code = "R-HOME", label = "Discharged home without partner services" }]
"""
PAYER = "northstar"


def live_document() -> str:
    return example("discharge-pathway").replace("[codes]\n", INTAKE, 1)


def receiving_referrals(
    contract_pilot: Pilot, contract_staff: dict[Role, User], admin: User
) -> Pilot:
    """discharge-2026, amended so referrals can be received, with the riverbend-home
    provider's enrollment manager and activation approver (added to `contract_staff`
    under their roles). Test modules wrap it in a `live_pilot` fixture."""
    amend(
        contract_pilot,
        live_document(),
        "receive referrals so live use is measured",
        by=admin,
        approver=second_admin(admin),
    )
    home = organisation("riverbend-home", OrgKind.PROVIDER, admin)
    actions.add_party(pilot=contract_pilot, organisation=home, by=admin, at=NOW)
    for role in (Role.ENROLLMENT_MANAGER, Role.ACTIVATION_APPROVER):
        contract_staff[role] = make_person(f"rh-{role.value}", home, admin, role, contract_pilot)
    return Pilot.objects.get(pk=contract_pilot.pk)


def referrals(
    pilot: Pilot, staff: dict[Role, User], count: int, at: datetime, *, answered: int = 0
) -> list[Referral]:
    """`count` new referrals received at `at` (one import), the first `answered` of them
    declined with a coded reason a minute later (closing them)."""
    start = Referral.objects.filter(pilot=pilot).count()
    stamp = at.isoformat()
    rows = [
        f"REF-{n:04d},DC-{n:04d},{PAYER},NS-{n:04d},WARD,riverbend-home,DISCHARGE,{stamp}"
        for n in range(start + 1, start + count + 1)
    ]
    header = "reference,participant_id,payer,member_id,source,provider,service_category,referred_at"
    import_referrals(
        pilot=pilot,
        filename=f"referrals-{start}.csv",
        content="\n".join([header, *rows]).encode(),
        by=staff[Role.ENROLLMENT_MANAGER],
        at=at,
    )
    received = list(Referral.objects.filter(pilot=pilot).order_by("pk")[start:])
    for referral in received[:answered]:
        decline_referral(
            referral=referral,
            reason_code="R-HOME",
            by=staff[Role.ACTIVATION_APPROVER],
            at=at + STEP,
        )
    return received


def evidence(
    pilot: Pilot,
    milestone: str,
    by: User,
    at: datetime,
    *,
    document_date: date | None = None,
    skip: tuple[str, ...] = (),
) -> list[Evidence]:
    """The contract evidence `milestone` requires (its minimum of each kind)."""
    return [
        upload(None, r.kind, by, at, pilot=pilot, document_date=document_date)
        for r in pilot.rulebook.milestone(milestone).evidence
        if r.kind not in skip
        for _ in range(r.minimum)
    ]


def claim_tranche(
    pilot: Pilot,
    milestone: str,
    staff: dict[Role, User],
    at: datetime,
    *,
    measures: Mapping[str, Mapping[str, Any]] | None = None,
    submit: bool = True,
) -> Claim:
    """Compliance uploads the milestone's evidence, drafts the claim (reached the day of
    `at`) and, unless `submit=False`, the executive sponsor submits it."""
    compliance = staff[Role.COMPLIANCE]
    evidence(pilot, milestone, compliance, at)
    claim = draft_contract_claim(
        pilot=pilot,
        milestone=milestone,
        reached_on=pilot.calendar.local_date(at),
        measures=measures or {},
        by=compliance,
        at=at + STEP,
    )
    if submit:
        submit_contract_claim(claim=claim, by=staff[Role.EXECUTIVE_SPONSOR], at=at + 2 * STEP)
    return Claim.objects.get(pk=claim.pk)


def checklist(claim: Claim, *, unmet: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """An answer for every item of the claim's checklist; kinds in `unmet` not met."""
    return [
        {"kind": item.kind, "met": item.kind not in unmet, "note": "checked"}
        for item in checklist_for(claim, claim.pilot.rulebook)
    ]


def verify(
    claim: Claim,
    staff: dict[Role, User],
    at: datetime,
    outcome: str = Verification.VERIFIED,
    **decision: Any,
) -> Verification:
    """The independent verifier ("dc-verifier") decides; a rejection gives VR-PAPER and
    one unmet item unless `reason_codes` / `checklist` say otherwise."""
    if outcome == Verification.REJECTED:
        decision.setdefault("reason_codes", ["VR-PAPER"])
        first = checklist_for(claim, claim.pilot.rulebook)[0].kind
        decision.setdefault("checklist", checklist(claim, unmet=(first,)))
    decision.setdefault("checklist", checklist(claim))
    return verify_claim(claim=claim, outcome=outcome, by=staff[Role.VERIFIER], at=at, **decision)


def released(pilot: Pilot, milestone: str, staff: dict[Role, User], at: datetime) -> Claim:
    """The milestone's tranche claimed, submitted and verified in full (no live use:
    for C1, or once `referrals` has made enough)."""
    claim = claim_tranche(pilot, milestone, staff, at)
    verify(claim, staff, at + timedelta(hours=1))
    return Claim.objects.get(pk=claim.pk)
