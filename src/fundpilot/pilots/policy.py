"""The one permission policy: every view, endpoint and command asks here.

A permission is granted to roles. A role is held in a pilot (Membership.pilot) or
system-wide (pilot NULL: administrators and auditors of the whole installation).
Predicates come from `rules`, so separation-of-duties checks compose with roles.
"""

from typing import Any

from django.db.models import QuerySet

import rules
from fundpilot.pilots.models import Membership, Pilot, User
from fundpilot.rules.errors import NotPermitted
from fundpilot.rules.vocabulary import OrgKind, Role

EVERY_ROLE = frozenset(Role)
OVERSIGHT = frozenset(
    {
        Role.AUDITOR,
        Role.ADMINISTRATOR,
        Role.COMPLIANCE,
        Role.FINANCE,
        Role.ASSURANCE_REVIEWER,
        Role.BOARD_CHAIR,
        Role.EXECUTIVE_SPONSOR,
        Role.PAYER_REP,
    }
)

PROVIDER_STAFF = frozenset(
    {
        Role.ENROLLMENT_MANAGER,
        Role.RECOVERY_LEAD,
        Role.FRONTLINE,
        Role.SUPERVISOR,
        Role.CLINICAL_LEAD,
        Role.QUALITY_REVIEWER,
        Role.ACTIVATION_APPROVER,
    }
)
# Who may see participants at all; organisation scoping (see `participants_scope`) then
# narrows provider staff to their own organisation's participants. Payers see funds.
PARTICIPANT_READERS = PROVIDER_STAFF | frozenset(
    {Role.COMPLIANCE, Role.AUDITOR, Role.ADMINISTRATOR, Role.ASSURANCE_REVIEWER}
)

# Who records care and drafts participant milestone claims (C5, C7).
CARE_STAFF = frozenset({Role.FRONTLINE, Role.SUPERVISOR, Role.RECOVERY_LEAD})
# The pilot office claims the pilot's own contract milestones (C10).
CONTRACT_CLAIMANTS = frozenset({Role.COMPLIANCE, Role.EXECUTIVE_SPONSOR})
# Who may see claims and their evidence; provider staff only their organisation's.
CLAIM_READERS = PARTICIPANT_READERS | frozenset({Role.VERIFIER, Role.FINANCE})

# Who sees the pilot's money: funds, payment runs, reconciliation, variance. Payer
# representatives see only their own payer's (see `payer_scope`).
MONEY_READERS = OVERSIGHT
# Who may ask to spend a payer's funds (C12): frontline staff and the pilot office.
SPEND_REQUESTERS = CARE_STAFF | frozenset({Role.COMPLIANCE, Role.FINANCE, Role.EXECUTIVE_SPONSOR})
# Roles a decision-rights matrix may name for money decisions; the matrix itself then
# decides who may approve what, for which payer, use and amount.
MONEY_DECIDERS = frozenset(
    {
        Role.SUPERVISOR,
        Role.FINANCE,
        Role.EXECUTIVE_SPONSOR,
        Role.BOARD_CHAIR,
        Role.PAYER_REP,
        Role.COMPLIANCE,
    }
)

# C16: finance, compliance and the executive sponsor each review the settlement file.
SETTLEMENT_REVIEWERS = frozenset({Role.FINANCE, Role.COMPLIANCE, Role.EXECUTIVE_SPONSOR})

# Permissions within a pilot: which roles hold them.
PILOT_PERMISSIONS: dict[str, frozenset[Role]] = {
    "pilot.view": EVERY_ROLE,
    "rulebook.view": EVERY_ROLE,
    "audit.view": OVERSIGHT,
    "audit.verify": OVERSIGHT,
    "audit.checkpoint": frozenset({Role.ADMINISTRATOR}),
    # Two-person rule: one administrator proposes, a different one or the sponsor approves.
    "rulebook.propose": frozenset({Role.ADMINISTRATOR}),
    "rulebook.approve": frozenset({Role.ADMINISTRATOR, Role.EXECUTIVE_SPONSOR}),
    "party.manage": frozenset({Role.ADMINISTRATOR}),
    "role.grant": frozenset({Role.ADMINISTRATOR}),
    # Participant lifecycle (C1–C6)
    "participant.view": PARTICIPANT_READERS,
    "queue.view": EVERY_ROLE,
    "eligibility.import": frozenset({Role.COMPLIANCE, Role.ADMINISTRATOR}),
    "referral.receive": frozenset({Role.ENROLLMENT_MANAGER}),
    "assessment.record": frozenset(
        {Role.ENROLLMENT_MANAGER, Role.FRONTLINE, Role.CLINICAL_LEAD, Role.SUPERVISOR}
    ),
    "eligibility.file": frozenset({Role.ENROLLMENT_MANAGER}),
    "activation.decide": frozenset({Role.ACTIVATION_APPROVER}),
    "roster.remove": frozenset({Role.ACTIVATION_APPROVER}),
    "compliance.review": frozenset({Role.COMPLIANCE}),
    "service_level.request": frozenset({Role.ENROLLMENT_MANAGER, Role.FRONTLINE, Role.SUPERVISOR}),
    "service_level.decide": frozenset({Role.CLINICAL_LEAD}),
    "pathway.release": frozenset({Role.RECOVERY_LEAD}),
    "activity.record": CARE_STAFF,
    "barrier.manage": CARE_STAFF,
    "progression.review": frozenset({Role.SUPERVISOR}),
    "engagement.record": CARE_STAFF,
    "breaches.view": OVERSIGHT | frozenset({Role.SUPERVISOR, Role.QUALITY_REVIEWER}),
    # Milestones, evidence and verification (C7–C11)
    "claim.view": CLAIM_READERS,
    "evidence.upload": CARE_STAFF | CONTRACT_CLAIMANTS,
    "claim.draft": CARE_STAFF,
    "claim.readiness": frozenset({Role.SUPERVISOR}),
    "claim.submit": CARE_STAFF,
    "contract.claim": CONTRACT_CLAIMANTS,
    "claim.verify": frozenset({Role.VERIFIER}),
    "sample.draw": frozenset({Role.VERIFIER}),
    "sample.audit": frozenset({Role.VERIFIER}),
    "dispute.view": CLAIM_READERS | OVERSIGHT,
    "dispute.raise": PROVIDER_STAFF | CONTRACT_CLAIMANTS | frozenset({Role.PAYER_REP}),
    "dispute.decide": frozenset({Role.COMPLIANCE, Role.VERIFIER}),
    "verification.report": CLAIM_READERS | OVERSIGHT,
    # Money (C12–C15, C20)
    "fund.view": MONEY_READERS,
    "ledger.view": MONEY_READERS - {Role.PAYER_REP},
    "ledger.reverse": frozenset({Role.FINANCE}),
    "period.manage": frozenset({Role.FINANCE}),
    "contribution.record": frozenset({Role.FINANCE}),
    "spend.view": SPEND_REQUESTERS | MONEY_READERS | MONEY_DECIDERS,
    "spend.request": SPEND_REQUESTERS,
    "spend.approve": MONEY_DECIDERS,
    "exception.review": frozenset({Role.ASSURANCE_REVIEWER, Role.COMPLIANCE}),
    "payment.view": MONEY_READERS - {Role.PAYER_REP},
    "payment.run": frozenset({Role.FINANCE}),
    "remittance.view": (MONEY_READERS - {Role.PAYER_REP}) | PROVIDER_STAFF,
    "reconciliation.view": MONEY_READERS,
    "reconciliation.run": frozenset({Role.FINANCE}),
    "investigation.manage": frozenset({Role.FINANCE, Role.COMPLIANCE}),
    "reallocation.propose": frozenset({Role.FINANCE, Role.COMPLIANCE}),
    "reallocation.approve": MONEY_DECIDERS,
    "variance.view": MONEY_READERS - {Role.PAYER_REP},
    "variance.run": frozenset({Role.FINANCE}),
    "case_review.manage": frozenset({Role.FINANCE, Role.COMPLIANCE, Role.CLINICAL_LEAD}),
    "exit.propose": frozenset({Role.FINANCE}),
    "exit.approve": MONEY_DECIDERS,
    # Governance (C16–C19) and the reports people read
    "settlement.view": MONEY_READERS,
    "settlement.prepare": frozenset({Role.FINANCE}),  # build, document, finalise
    "settlement.review": SETTLEMENT_REVIEWERS,  # each in their own role
    "methodology.raise": MONEY_READERS | PROVIDER_STAFF | frozenset({Role.VERIFIER}),
    "methodology.resolve": frozenset({Role.COMPLIANCE}),
    "board.view": MONEY_READERS,
    "board.decide": frozenset({Role.BOARD_CHAIR}),
    "restriction.close": frozenset({Role.BOARD_CHAIR}),
    "statement.record": frozenset({Role.BOARD_CHAIR, Role.EXECUTIVE_SPONSOR, Role.COMPLIANCE}),
    "equity.view": MONEY_READERS,
    "equity.run": frozenset({Role.COMPLIANCE}),
    "equity.review": frozenset({Role.COMPLIANCE, Role.ASSURANCE_REVIEWER}),
    "assurance.view": MONEY_READERS,
    "assurance.review": frozenset({Role.ASSURANCE_REVIEWER}),
    "finding.close": frozenset({Role.ASSURANCE_REVIEWER}),
    "report.board": MONEY_READERS - {Role.PAYER_REP},
    "report.payer": MONEY_READERS,  # a payer representative: its own payer only
    "dashboard.view": EVERY_ROLE,
}
# Permissions over the installation: held through a system-wide membership.
SYSTEM_PERMISSIONS: dict[str, frozenset[Role]] = {
    "pilot.create": frozenset({Role.ADMINISTRATOR}),
    "organisation.manage": frozenset({Role.ADMINISTRATOR}),
    "user.manage": frozenset({Role.ADMINISTRATOR}),
    "system.audit.view": frozenset({Role.ADMINISTRATOR, Role.AUDITOR}),
}
PUBLIC = "public"  # declared by views anyone may open (login, health)
AUTHENTICATED = "authenticated"  # any signed-in person (home, own tokens)


def roles_in(user: Any, pilot: Pilot | None) -> frozenset[Role]:
    """The roles a user holds in a pilot (system-wide roles count everywhere)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cache: dict[int | None, frozenset[Role]] = user.__dict__.setdefault("_fp_roles", {})
    key = pilot.pk if pilot else None
    if key not in cache:
        rows = Membership.objects.filter(user=user).values_list("role", "pilot_id")
        cache[key] = frozenset(Role(role) for role, pid in rows if pid is None or pid == key)
    return cache[key]


def _has_permission(perm: str) -> rules.Predicate:
    table = SYSTEM_PERMISSIONS if perm in SYSTEM_PERMISSIONS else PILOT_PERMISSIONS

    @rules.predicate(name=perm)
    def check(user: Any, pilot: Pilot | None) -> bool:
        return bool(roles_in(user, pilot) & table[perm])

    return check


policy = rules.RuleSet()
for _perm in (*PILOT_PERMISSIONS, *SYSTEM_PERMISSIONS):
    policy.add_rule(_perm, _has_permission(_perm))


def allowed(user: Any, perm: str, pilot: Pilot | None = None) -> bool:
    if perm == PUBLIC:
        return True
    if perm == AUTHENTICATED:
        return bool(getattr(user, "is_authenticated", False) and user.is_active)
    if perm in PILOT_PERMISSIONS and pilot is None:
        raise ValueError(f"{perm} is decided per pilot")
    return bool(policy.test_rule(perm, user, pilot))


def require(user: Any, perm: str, pilot: Pilot | None = None) -> Role | None:
    """Refuse unless permitted; return the role the user acts in (for the audit record)."""
    if not allowed(user, perm, pilot):
        where = f" in pilot {pilot.slug}" if pilot else ""
        raise NotPermitted("not_permitted", f"you may not {perm}{where}")
    table = SYSTEM_PERMISSIONS.get(perm) or PILOT_PERMISSIONS.get(perm)
    if table is None:
        return None
    return min(roles_in(user, pilot) & table, key=list(Role).index)


def sees_every_provider(user: Any, pilot: Pilot) -> bool:
    """Pilot-office staff, auditors and assurance see all providers' participants."""
    if roles_in(user, pilot) & {Role.AUDITOR, Role.ADMINISTRATOR, Role.ASSURANCE_REVIEWER}:
        return True
    org = getattr(user, "organisation", None)
    return org is not None and org.kind == OrgKind.PILOT_OFFICE


def participants_scope(
    user: Any, pilot: Pilot, rows: QuerySet[Any], provider_field: str = "provider"
) -> QuerySet[Any]:
    """Narrow a queryset of participant-linked rows to what the user may see."""
    if not allowed(user, "participant.view", pilot):
        return rows.none()
    if sees_every_provider(user, pilot):
        return rows
    return rows.filter(**{provider_field: user.organisation_id})


def claims_scope(
    user: Any, pilot: Pilot, rows: QuerySet[Any], provider_field: str = "provider"
) -> QuerySet[Any]:
    """Narrow claim-linked rows (claims, evidence, samples, disputes) to what the user
    may see: verifiers and finance see every provider's, provider staff their own."""
    if not allowed(user, "claim.view", pilot):
        return rows.none()
    if sees_every_provider(user, pilot) or roles_in(user, pilot) & {Role.VERIFIER, Role.FINANCE}:
        return rows
    return rows.filter(**{provider_field: user.organisation_id})


def payer_scope(user: Any, pilot: Pilot) -> str | None:
    """Which payer's money the user may see: None for all of them; a payer
    representative only its own organisation's payer ("" when it is no payer party)."""
    roles = roles_in(user, pilot)
    if not roles & MONEY_READERS:
        return ""
    if roles & (MONEY_READERS - {Role.PAYER_REP}):
        return None
    party = pilot.parties.filter(organisation_id=user.organisation_id).first()
    return party.payer_id if party else ""


def require_for_provider(user: Any, perm: str, pilot: Pilot, provider_id: int) -> Role | None:
    """`require`, plus organisation scoping: provider staff act only on their own cases."""
    role = require(user, perm, pilot)
    if not sees_every_provider(user, pilot) and user.organisation_id != provider_id:
        raise NotPermitted(
            "other_organisation", "this participant belongs to another provider organisation"
        )
    return role


def visible_pilots(user: User) -> QuerySet[Pilot]:
    """Pilots in which the user holds any role; all of them for system-wide roles."""
    if roles_in(user, None):
        return Pilot.objects.order_by("name")
    return Pilot.objects.filter(members__user=user).distinct().order_by("name")
