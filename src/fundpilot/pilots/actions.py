"""The only code that changes pilots, organisations, people and roles.

Each action checks the policy, validates, writes, and appends exactly one audit
record, all in one durable transaction.
"""

import hashlib
import secrets
from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from fundpilot.audit import log
from fundpilot.pilots import policy
from fundpilot.pilots.models import (
    ApiToken,
    Membership,
    Organisation,
    Party,
    Pilot,
    RulebookProposal,
    RulebookVersion,
    User,
)
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import Rulebook, RulebookInvalid, parse_rulebook
from fundpilot.rules.rulebook_diff import diff_rulebooks
from fundpilot.rules.vocabulary import ROLE_ORG_KINDS, OrgKind, Role

BOOTSTRAP = "bootstrap"


def actor(user: User | None, role: Role | None) -> log.Actor:
    if user is None:
        return log.Actor(BOOTSTRAP, "", "")
    org = user.organisation.code if user.organisation else ""
    return log.Actor(user.username, role.value if role else "", org)


def _authorise(by: User | None, perm: str, pilot: Pilot | None = None) -> Role | None:
    """The policy's answer; `by=None` is the bootstrap of an empty installation only."""
    if by is None:
        if Membership.objects.filter(role=Role.ADMINISTRATOR).exists():
            raise Refused("bootstrap_done", "an administrator exists; ask them to do this")
        return None
    return policy.require(by, perm, pilot)


def _parse(document: str) -> Rulebook:
    try:
        return parse_rulebook(document)
    except RulebookInvalid as exc:
        first = exc.errors[0]
        listing = "; ".join(str(e) for e in exc.errors[:20])
        more = f" (and {len(exc.errors) - 20} more)" if len(exc.errors) > 20 else ""
        raise Refused(
            "rulebook_invalid", f"the rulebook is not valid: {listing}{more}", first.path
        ) from exc


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def create_pilot(*, document: str, by: User, at: datetime) -> Pilot:
    """Create a pilot from its first rulebook version (approved by an administrator)."""
    role = policy.require(by, "pilot.create")
    rulebook = _parse(document)
    slug = rulebook.pilot.id
    with transaction.atomic(durable=True):
        if Pilot.objects.filter(slug=slug).exists():
            raise Refused("pilot_exists", f"a pilot with id '{slug}' already exists", "pilot.id")
        pilot = Pilot.objects.create(
            slug=slug, name=rulebook.pilot.name, kind=rulebook.pilot.kind, created_at=at
        )
        version = RulebookVersion.objects.create(
            pilot=pilot,
            number=1,
            document=document,
            sha256=_sha256(document),
            approved_by=by,
            approved_at=at,
            reason="initial rulebook",
        )
        log.append(
            chain=log.pilot_chain(slug),
            actor=actor(by, role),
            action="pilot.create",
            subject=f"pilot:{slug}",
            at=at,
            rulebook_version=1,
            payload={"name": pilot.name, "kind": pilot.kind, "rulebook_sha256": version.sha256},
        )
    return pilot


def propose_rulebook(
    *, pilot: Pilot, document: str, reason: str, by: User, at: datetime
) -> RulebookProposal:
    """Propose a new rulebook version against the one in force; the diff is recorded
    for the second person who approves it (two-person rule)."""
    role = policy.require(by, "rulebook.propose", pilot)
    reason = reason.strip()
    if not reason:
        raise Refused("reason_required", "say why the rulebook is amended", "reason")
    new = _parse(document)
    if new.pilot.id != pilot.slug:
        raise Refused(
            "rulebook_pilot_mismatch",
            f"the rulebook is for pilot '{new.pilot.id}', not '{pilot.slug}'",
            "pilot.id",
        )
    base = pilot.current
    changes = diff_rulebooks(base.rulebook, new)
    if not changes:
        raise Refused("rulebook_unchanged", "the new rulebook states the same rules", "document")
    with transaction.atomic(durable=True):
        proposal = RulebookProposal.objects.create(
            pilot=pilot,
            base=base,
            document=document,
            sha256=_sha256(document),
            reason=reason,
            changes=changes,
            proposed_by=by,
            proposed_at=at,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="rulebook.propose",
            subject=f"rulebook-proposal:{proposal.pk}",
            at=at,
            rulebook_version=base.number,
            payload={"rulebook_sha256": proposal.sha256, "reason": reason, "changes": changes},
        )
    return proposal


def _open(proposal: RulebookProposal) -> None:
    if proposal.status != RulebookProposal.OPEN:
        raise Refused(
            "proposal_closed", f"proposal {proposal.pk} is already {proposal.status}", "proposal"
        )


def _not_own(proposal: RulebookProposal, by: User) -> None:
    if proposal.proposed_by_id == by.pk:
        raise Refused(
            "self_approval",
            "a rulebook amendment needs a second person: another administrator or the "
            "pilot's executive sponsor decides it",
            "by",
        )


def _fresh(proposal: RulebookProposal, current: RulebookVersion) -> None:
    if proposal.base_id != current.pk:
        raise Refused(
            "proposal_stale",
            f"proposal {proposal.pk} amends version {proposal.base.number}, but version "
            f"{current.number} is in force now; propose it again against version "
            f"{current.number}",
            "proposal",
        )


def approve_rulebook(*, proposal: RulebookProposal, by: User, at: datetime) -> RulebookProposal:
    """Approve someone else's proposal: it becomes the pilot's next version, the old one
    stays, and the diff is recorded. Refused if another version came into force since."""
    pilot = proposal.pilot
    role = policy.require(by, "rulebook.approve", pilot)
    _open(proposal)
    _not_own(proposal, by)
    _fresh(proposal, pilot.current)
    with transaction.atomic(durable=True):
        current = RulebookVersion.objects.select_for_update().filter(pilot=pilot).latest("number")
        locked = RulebookProposal.objects.select_for_update().get(pk=proposal.pk)
        _open(locked)
        _fresh(locked, current)
        version = RulebookVersion.objects.create(
            pilot=pilot,
            number=current.number + 1,
            document=locked.document,
            sha256=locked.sha256,
            approved_by=by,
            approved_at=at,
            reason=locked.reason,
            changes=locked.changes,
        )
        locked.status, locked.version = RulebookProposal.APPROVED, version
        locked.decided_by, locked.decided_at = by, at
        locked.save(update_fields=["status", "version", "decided_by", "decided_at"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="rulebook.approve",
            subject=f"pilot:{pilot.slug}",
            at=at,
            rulebook_version=version.number,
            payload={
                "proposal": locked.pk,
                "proposed_by": locked.proposed_by.username,
                "from_version": current.number,
                "rulebook_sha256": version.sha256,
                "reason": version.reason,
                "changes": version.changes,
            },
        )
    return locked


def _close(
    proposal: RulebookProposal, status: str, note: str, by: User, role: Role | None, at: datetime
) -> RulebookProposal:
    """Reject or withdraw: the proposal closes without a version (one audit record)."""
    with transaction.atomic(durable=True):
        locked = RulebookProposal.objects.select_for_update().get(pk=proposal.pk)
        _open(locked)
        locked.status, locked.decision_note = status, note
        locked.decided_by, locked.decided_at = by, at
        locked.save(update_fields=["status", "decision_note", "decided_by", "decided_at"])
        verb = "reject" if status == RulebookProposal.REJECTED else "withdraw"
        log.append(
            chain=log.pilot_chain(locked.pilot.slug),
            actor=actor(by, role),
            action=f"rulebook.{verb}",
            subject=f"rulebook-proposal:{locked.pk}",
            at=at,
            rulebook_version=locked.pilot.current.number,
            payload={"reason": note, "base_version": locked.base.number},
        )
    return locked


def reject_rulebook(
    *, proposal: RulebookProposal, reason: str, by: User, at: datetime
) -> RulebookProposal:
    """Someone who may approve it turns the proposal down, saying why."""
    role = policy.require(by, "rulebook.approve", proposal.pilot)
    _open(proposal)
    _not_own(proposal, by)
    if not reason.strip():
        raise Refused("reason_required", "say why the amendment is rejected", "reason")
    return _close(proposal, RulebookProposal.REJECTED, reason.strip(), by, role, at)


def withdraw_rulebook(
    *, proposal: RulebookProposal, reason: str = "", by: User, at: datetime
) -> RulebookProposal:
    """The proposer takes their proposal back (e.g. to propose it again on a newer base)."""
    role = policy.require(by, "rulebook.propose", proposal.pilot)
    _open(proposal)
    if proposal.proposed_by_id != by.pk:
        raise Refused("not_proposer", "only the proposer withdraws a proposal", "by")
    return _close(proposal, RulebookProposal.WITHDRAWN, reason.strip(), by, role, at)


def create_organisation(
    *, code: str, name: str, kind: str, by: User | None, at: datetime
) -> Organisation:
    role = _authorise(by, "organisation.manage")
    if kind not in OrgKind.__members__.values():
        raise Refused("unknown_org_kind", f"unknown organisation kind '{kind}'", "kind")
    with transaction.atomic(durable=True):
        if Organisation.objects.filter(code=code).exists():
            raise Refused("organisation_exists", f"organisation '{code}' already exists", "code")
        org = Organisation.objects.create(code=code, name=name, kind=kind)
        log.append(
            chain=log.SYSTEM_CHAIN,
            at=at,
            action="organisation.create",
            actor=actor(by, role),
            subject=f"organisation:{code}",
            payload={"name": name, "kind": kind},
        )
    return org


def create_user(
    *,
    username: str,
    organisation: Organisation,
    password: str,
    full_name: str = "",
    by: User | None,
    at: datetime,
) -> User:
    """Create a person. `by=None` is only for the very first administrator (bootstrap)."""
    role = _authorise(by, "user.manage")
    try:
        validate_password(password)
    except ValidationError as exc:
        raise Refused("weak_password", " ".join(exc.messages), "password") from exc
    first, _, last = full_name.partition(" ")
    with transaction.atomic(durable=True):
        if User.objects.filter(username=username).exists():
            raise Refused("user_exists", f"user '{username}' already exists", "username")
        user = User(username=username, organisation=organisation, first_name=first, last_name=last)
        user.set_password(password)
        user.save()
        log.append(
            chain=log.SYSTEM_CHAIN,
            at=at,
            action="user.create",
            actor=actor(by, role),
            subject=f"user:{username}",
            payload={"organisation": organisation.code, "name": full_name},
        )
    return user


def grant_role(
    *,
    user: User,
    role: Role,
    pilot: Pilot | None,
    by: User | None,
    at: datetime,
    caseload_capacity: int | None = None,
) -> Membership:
    """Give a person a role in a pilot (or system-wide); the role must fit their organisation."""
    if by is None and (role != Role.ADMINISTRATOR or pilot is not None):
        raise Refused("bootstrap_done", "only the first administrator may be bootstrapped")
    acting = _authorise(by, "role.grant" if pilot else "user.manage", pilot)
    kinds = ROLE_ORG_KINDS.get(role)
    org = user.organisation
    if kinds and (org is None or org.kind not in kinds):
        allowed = ", ".join(sorted(kinds))
        raise Refused(
            "role_org_mismatch", f"{role.label} must belong to a {allowed} organisation", "role"
        )
    if (
        pilot
        and role == Role.PAYER_REP
        and not Party.objects.filter(pilot=pilot, organisation=org).exclude(payer_id="").exists()
    ):
        raise Refused("not_a_payer_party", f"{org} is not a payer in {pilot.slug}", "role")
    with transaction.atomic(durable=True):
        if Membership.objects.filter(user=user, pilot=pilot, role=role).exists():
            raise Refused("role_held", f"{user.username} already holds {role.value}", "role")
        membership = Membership.objects.create(
            user=user, pilot=pilot, role=role, caseload_capacity=caseload_capacity
        )
        log.append(
            chain=log.pilot_chain(pilot.slug) if pilot else log.SYSTEM_CHAIN,
            at=at,
            actor=actor(by, acting),
            action="role.grant",
            subject=f"user:{user.username}",
            payload={"role": role.value, "caseload_capacity": caseload_capacity},
            rulebook_version=pilot.current.number if pilot else None,
        )
    user.__dict__.pop("_fp_roles", None)
    return membership


def add_party(
    *, pilot: Pilot, organisation: Organisation, payer_id: str = "", by: User, at: datetime
) -> Party:
    """Join an organisation to a pilot; a payer joins as one of the rulebook's payers."""
    role = policy.require(by, "party.manage", pilot)
    payers = {p.id for p in pilot.rulebook.payers}
    if payer_id and payer_id not in payers:
        raise Refused("unknown_payer", f"the rulebook has no payer '{payer_id}'", "payer_id")
    if payer_id and organisation.kind != OrgKind.PAYER:
        raise Refused("not_a_payer", f"{organisation} is not a payer organisation", "payer_id")
    with transaction.atomic(durable=True):
        if Party.objects.filter(pilot=pilot, organisation=organisation).exists():
            raise Refused("party_exists", f"{organisation} already takes part", "organisation")
        if payer_id and Party.objects.filter(pilot=pilot, payer_id=payer_id).exists():
            raise Refused("payer_taken", f"payer '{payer_id}' is already represented", "payer_id")
        party = Party.objects.create(pilot=pilot, organisation=organisation, payer_id=payer_id)
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="party.add",
            subject=f"organisation:{organisation.code}",
            at=at,
            payload={"kind": organisation.kind, "payer_id": payer_id},
            rulebook_version=pilot.current.number,
        )
    return party


def issue_api_token(*, user: User, label: str, by: User, at: datetime) -> str:
    """Issue a bearer token for a machine client; the secret is returned once, never stored."""
    role = None if by.pk == user.pk else policy.require(by, "user.manage")
    secret = "fp_" + secrets.token_urlsafe(32)
    with transaction.atomic(durable=True):
        ApiToken.objects.create(
            user=user, label=label, digest=token_digest(secret), prefix=secret[:8], created_at=at
        )
        log.append(
            chain=log.SYSTEM_CHAIN,
            actor=actor(by, role),
            action="token.issue",
            subject=f"user:{user.username}",
            payload={"label": label, "prefix": secret[:8]},
            at=at,
        )
    return secret


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
