"""Shared words of the domain (DOMAIN.md §2): roles and organisation kinds.

Pure enumerations so the rulebook schema, the permission policy and the pages all
spell a role the same way.
"""

from enum import StrEnum


class Role(StrEnum):
    ENROLLMENT_MANAGER = "enrollment_manager"
    ACTIVATION_APPROVER = "activation_approver"
    COMPLIANCE = "compliance"
    RECOVERY_LEAD = "recovery_lead"
    FRONTLINE = "frontline"
    SUPERVISOR = "supervisor"
    QUALITY_REVIEWER = "quality_reviewer"
    CLINICAL_LEAD = "clinical_lead"
    VERIFIER = "verifier"
    FINANCE = "finance"
    EXECUTIVE_SPONSOR = "executive_sponsor"
    BOARD_CHAIR = "board_chair"
    PAYER_REP = "payer_rep"
    ASSURANCE_REVIEWER = "assurance_reviewer"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.ENROLLMENT_MANAGER: "Enrollment manager",
    Role.ACTIVATION_APPROVER: "Activation approver",
    Role.COMPLIANCE: "Compliance / payer relations",
    Role.RECOVERY_LEAD: "Recovery lead",
    Role.FRONTLINE: "Frontline lead / care coordinator",
    Role.SUPERVISOR: "Supervisor",
    Role.QUALITY_REVIEWER: "Quality reviewer",
    Role.CLINICAL_LEAD: "Clinical lead",
    Role.VERIFIER: "Verifier",
    Role.FINANCE: "Finance (CFO)",
    Role.EXECUTIVE_SPONSOR: "Executive sponsor",
    Role.BOARD_CHAIR: "Board chair",
    Role.PAYER_REP: "Payer representative",
    Role.ASSURANCE_REVIEWER: "Assurance reviewer",
    Role.AUDITOR: "Auditor",
    Role.ADMINISTRATOR: "Administrator",
}


class OrgKind(StrEnum):
    PROVIDER = "provider"
    VERIFICATION_BODY = "verification_body"
    PAYER = "payer"
    ASSURANCE_BODY = "assurance_body"
    PILOT_OFFICE = "pilot_office"


# Which kind of organisation a role's holder belongs to (DOMAIN.md §2). The auditor
# may sit in any organisation, so it is absent here.
ROLE_ORG_KINDS: dict[Role, frozenset[OrgKind]] = {
    Role.ENROLLMENT_MANAGER: frozenset({OrgKind.PROVIDER}),
    Role.ACTIVATION_APPROVER: frozenset({OrgKind.PROVIDER, OrgKind.PILOT_OFFICE}),
    Role.COMPLIANCE: frozenset({OrgKind.PILOT_OFFICE}),
    Role.RECOVERY_LEAD: frozenset({OrgKind.PROVIDER}),
    Role.FRONTLINE: frozenset({OrgKind.PROVIDER}),
    Role.SUPERVISOR: frozenset({OrgKind.PROVIDER}),
    Role.QUALITY_REVIEWER: frozenset({OrgKind.PROVIDER, OrgKind.PILOT_OFFICE}),
    Role.CLINICAL_LEAD: frozenset({OrgKind.PROVIDER}),
    Role.VERIFIER: frozenset({OrgKind.VERIFICATION_BODY}),
    Role.FINANCE: frozenset({OrgKind.PILOT_OFFICE}),
    Role.EXECUTIVE_SPONSOR: frozenset({OrgKind.PILOT_OFFICE}),
    Role.BOARD_CHAIR: frozenset({OrgKind.PILOT_OFFICE}),
    Role.PAYER_REP: frozenset({OrgKind.PAYER}),
    Role.ASSURANCE_REVIEWER: frozenset({OrgKind.ASSURANCE_BODY}),
    Role.ADMINISTRATOR: frozenset({OrgKind.PILOT_OFFICE}),
}
