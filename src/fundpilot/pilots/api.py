"""API operations on pilots, their rulebooks and their audit chains."""

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.audit import log
from fundpilot.audit.models import AuditRecord
from fundpilot.pilots import actions, policy, queries
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.models import RulebookProposal
from fundpilot.rules.errors import Refused

router = Router(tags=["pilots"])


class Error(Schema):
    """Every refusal: a stable code, a sentence for people, the field at fault."""

    code: str
    message: str
    field: str | None = None


# Declared on every operation so the published schema is honest about refusals.
E = {401: Error, 403: Error, 404: Error, 422: Error}


class PilotOut(Schema):
    id: str
    name: str
    kind: str
    rulebook_version: int
    roles: list[str]


class VersionOut(Schema):
    number: int
    sha256: str
    approved_by: str
    approved_at: datetime
    reason: str
    changes: list[str]


class RulebookOut(VersionOut):
    rulebook: dict[str, Any]


class NewPilot(Schema):
    document: str


class Amendment(Schema):
    document: str
    reason: str


class RecordOut(Schema):
    seq: int
    at: datetime
    actor: str
    role: str
    organisation: str
    action: str
    subject: str
    payload: dict[str, Any]
    rulebook_version: int | None
    prev_hash: str
    hash: str


class VerificationOut(Schema):
    chain: str
    checked: int
    ok: bool
    first_bad: int | None
    problem: str


class InclusionOut(Schema):
    chain: str
    seq: int
    tree_size: int
    leaf_hash: str
    root: str
    proof: list[str]


class ConsistencyOut(Schema):
    chain: str
    old_size: int
    new_size: int
    new_root: str
    proof: list[str]


def _pilot_out(user: Any, pilot: Any) -> PilotOut:
    return PilotOut(
        id=pilot.slug,
        name=pilot.name,
        kind=pilot.kind,
        rulebook_version=pilot.current.number,
        roles=sorted(r.value for r in policy.roles_in(user, pilot)),
    )


@router.get("", response={200: list[PilotOut], **E}, summary="Pilots you take part in")
@permission(policy.AUTHENTICATED)
def list_pilots(request: HttpRequest) -> list[PilotOut]:
    return [_pilot_out(request.auth, p) for p in policy.visible_pilots(request.auth)]


@router.post("", response={201: PilotOut, **E}, summary="Create a pilot from its rulebook")
@permission("pilot.create")
def create_pilot(request: HttpRequest, body: NewPilot) -> Status[PilotOut]:
    pilot = actions.create_pilot(document=body.document, by=request.auth, at=timezone.now())
    return Status(201, _pilot_out(request.auth, pilot))


@router.get("/{pilot}", response={200: PilotOut, **E}, summary="One pilot")
@permission("pilot.view")
def get_pilot(request: HttpRequest, pilot: str) -> PilotOut:
    p, _ = pilot_for(request.auth, pilot, "pilot.view")
    return _pilot_out(request.auth, p)


def _version_out(v: Any) -> dict[str, Any]:
    return {
        "number": v.number,
        "sha256": v.sha256,
        "approved_by": v.approved_by.username,
        "approved_at": v.approved_at,
        "reason": v.reason,
        "changes": v.changes,
    }


@router.get(
    "/{pilot}/rulebook", response={200: RulebookOut, **E}, summary="The rulebook version in force"
)
@permission("rulebook.view")
def get_rulebook(request: HttpRequest, pilot: str) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "rulebook.view")
    v = p.current
    return {**_version_out(v), "rulebook": v.rulebook.as_json()}


@router.get(
    "/{pilot}/rulebook/versions",
    response={200: list[VersionOut], **E},
    summary="Every approved rulebook version, newest first, with what changed",
)
@permission("rulebook.view")
def list_versions(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "rulebook.view")
    return [_version_out(v) for v in queries.versions(p)]


class ProposalOut(Schema):
    id: int
    status: str = Field(description="open, approved, rejected or withdrawn")
    base_version: int = Field(description="the version it amends")
    stale: bool = Field(description="open, but its base is no longer in force: propose again")
    reason: str
    changes: list[str] = Field(description="what changes, rule by rule")
    sha256: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    version: int | None = Field(description="the version it became, once approved")


class ProposalDetail(ProposalOut):
    document: str
    text_diff: list[str] = Field(description="unified diff of the TOML against the base")


class Decline(Schema):
    reason: str


class Withdrawal(Schema):
    reason: str = ""


def _proposal_out(p: RulebookProposal) -> dict[str, Any]:
    return {
        "id": p.pk,
        "status": p.status,
        "base_version": p.base.number,
        "stale": p.stale,
        "reason": p.reason,
        "changes": p.changes,
        "sha256": p.sha256,
        "proposed_by": p.proposed_by.username,
        "proposed_at": p.proposed_at,
        "decided_by": p.decided_by.username if p.decided_by else None,
        "decided_at": p.decided_at,
        "decision_note": p.decision_note,
        "version": p.version.number if p.version else None,
    }


def _proposal(request: HttpRequest, pilot: str, proposal_id: int, perm: str) -> RulebookProposal:
    """The policy first (403), then the proposal (404)."""
    p, _ = pilot_for(request.auth, pilot, perm)
    found = queries.proposals(p).filter(pk=proposal_id).first()
    if found is None:
        raise Http404(f"no rulebook proposal {proposal_id}")
    return found


@router.post(
    "/{pilot}/rulebook/proposals",
    response={201: ProposalOut, **E},
    summary="Propose an amended rulebook; a second person approves it",
)
@permission("rulebook.propose")
def propose_rulebook(request: HttpRequest, pilot: str, body: Amendment) -> Status[Any]:
    p, _ = pilot_for(request.auth, pilot, "rulebook.propose")
    made = actions.propose_rulebook(
        pilot=p, document=body.document, reason=body.reason, by=request.auth, at=timezone.now()
    )
    return Status(201, _proposal_out(made))


@router.get(
    "/{pilot}/rulebook/proposals",
    response={200: list[ProposalOut], **E},
    summary="Rulebook amendment proposals, newest first",
)
@permission("rulebook.view")
def list_proposals(request: HttpRequest, pilot: str, status: str = "") -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "rulebook.view")
    return [_proposal_out(r) for r in queries.proposals(p, status or None)]


@router.get(
    "/{pilot}/rulebook/proposals/{proposal_id}",
    response={200: ProposalDetail, **E},
    summary="One proposal with its diff: rule by rule and line by line",
)
@permission("rulebook.view")
def get_proposal(request: HttpRequest, pilot: str, proposal_id: int) -> dict[str, Any]:
    found = _proposal(request, pilot, proposal_id, "rulebook.view")
    return _proposal_out(found) | {
        "document": found.document,
        "text_diff": queries.document_diff(found),
    }


@router.post(
    "/{pilot}/rulebook/proposals/{proposal_id}/approve",
    response={200: ProposalOut, **E},
    summary="Approve someone else's proposal: it becomes the version in force",
)
@permission("rulebook.approve")
def approve_proposal(request: HttpRequest, pilot: str, proposal_id: int) -> dict[str, Any]:
    found = _proposal(request, pilot, proposal_id, "rulebook.approve")
    done = actions.approve_rulebook(proposal=found, by=request.auth, at=timezone.now())
    return _proposal_out(done)


@router.post(
    "/{pilot}/rulebook/proposals/{proposal_id}/reject",
    response={200: ProposalOut, **E},
    summary="Reject someone else's proposal, saying why",
)
@permission("rulebook.approve")
def reject_proposal(
    request: HttpRequest, pilot: str, proposal_id: int, body: Decline
) -> dict[str, Any]:
    found = _proposal(request, pilot, proposal_id, "rulebook.approve")
    done = actions.reject_rulebook(
        proposal=found, reason=body.reason, by=request.auth, at=timezone.now()
    )
    return _proposal_out(done)


@router.post(
    "/{pilot}/rulebook/proposals/{proposal_id}/withdraw",
    response={200: ProposalOut, **E},
    summary="Withdraw your own open proposal",
)
@permission("rulebook.propose")
def withdraw_proposal(
    request: HttpRequest, pilot: str, proposal_id: int, body: Withdrawal
) -> dict[str, Any]:
    found = _proposal(request, pilot, proposal_id, "rulebook.propose")
    done = actions.withdraw_rulebook(
        proposal=found, reason=body.reason, by=request.auth, at=timezone.now()
    )
    return _proposal_out(done)


@router.get(
    "/{pilot}/audit",
    response={200: list[RecordOut], **E},
    summary="The pilot's decision log, newest first",
)
@permission("audit.view")
def list_audit(
    request: HttpRequest, pilot: str, limit: int = 100, before: int | None = None
) -> list[AuditRecord]:
    p, _ = pilot_for(request.auth, pilot, "audit.view")
    return list(queries.audit_page(p, limit=min(max(limit, 1), 1000), before=before))


@router.get(
    "/{pilot}/audit/verify",
    response={200: VerificationOut, **E},
    summary="Recompute the pilot's hash chain",
)
@permission("audit.verify")
def verify_audit(request: HttpRequest, pilot: str) -> log.Verification:
    p, _ = pilot_for(request.auth, pilot, "audit.verify")
    return log.verify(log.pilot_chain(p.slug))


@router.get(
    "/{pilot}/audit/{seq}/proof",
    response={200: InclusionOut, **E},
    summary="Inclusion proof (RFC 6962) of one record in the tree of `tree_size` records",
)
@permission("audit.view")
def inclusion_proof(
    request: HttpRequest, pilot: str, seq: int, tree_size: int | None = None
) -> dict[str, object]:
    p, _ = pilot_for(request.auth, pilot, "audit.view")
    try:
        return log.inclusion(log.pilot_chain(p.slug), seq, tree_size)
    except ValueError as exc:
        raise Refused("not_in_tree", str(exc), "seq") from exc


@router.get(
    "/{pilot}/audit/consistency",
    response={200: ConsistencyOut, **E},
    summary="Consistency proof (RFC 6962) from a checkpointed size to the current log",
)
@permission("audit.view")
def consistency_proof(request: HttpRequest, pilot: str, old_size: int) -> dict[str, object]:
    p, _ = pilot_for(request.auth, pilot, "audit.view")
    return log.consistency(log.pilot_chain(p.slug), old_size)
