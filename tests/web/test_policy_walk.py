"""Walk every page and API operation with every role and compare with the policy.

Each view and operation declares the permission it enforces; this test fails if one
declares none, or answers differently from what the policy says for that role.
"""

import json
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from fundpilot.api import api
from fundpilot.participants import imports
from fundpilot.participants.actions import intake
from fundpilot.pilots import actions, policy
from fundpilot.rules.vocabulary import ROLE_ORG_KINDS, OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation

KWARGS = {
    "pilot": "recovery-2026",
    "number": 1,
    "seq": 1,
    "participant_id": "P-WALK",  # made in `people` through the real intake actions
    "reference": "REF-WALK",
    "request_id": 1,  # a service level request and a barrier: absent in recovery-2026,
    "barrier_id": 1,  # so the operation answers 404 once the policy has let the role in
    # Claims, samples and tranches the walk does not hold: 404 past the policy.
    "claimref:reference": "P-WALK/M1/1",
    "period": "2026-03",
    "tranche": "T1",
}


def _pages() -> list[tuple[str, object]]:
    found = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith("api/"):
                    continue  # the API is walked operation by operation below
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                for key, value in KWARGS.items():
                    for converter in ("slug", "int", "str", "claimref"):
                        route = route.replace(f"<{converter}:{key}>", str(value))
                route = route.replace("<claimref:reference>", KWARGS["claimref:reference"])
                found.append(("/" + route, p.callback))

    walk(get_resolver().url_patterns, "")
    return found


def _operations() -> list[tuple[str, str, object]]:
    found = []
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                url = "/api/v1" + prefix + path
                for key, value in KWARGS.items():
                    url = url.replace("{" + key + "}", str(value))
                found.extend((method, url, op.view_func) for method in op.methods)
    return found


BODIES = {
    ("POST", "/api/v1/pilots"): {"document": example("multi-payer")},
    # The administrator proposes for real (proposal 1); their own approval and rejection
    # are refused (self_approval), the sponsor's land on a withdrawn or decided proposal.
    ("POST", "/api/v1/pilots/recovery-2026/rulebook/proposals"): {
        "document": example("functional-recovery").replace('name = "', 'name = "Amended ', 1),
        "reason": "walk",
    },
    ("POST", "/api/v1/pilots/recovery-2026/rulebook/proposals/1/approve"): {},
    ("POST", "/api/v1/pilots/recovery-2026/rulebook/proposals/1/reject"): {"reason": "walk"},
    ("POST", "/api/v1/pilots/recovery-2026/rulebook/proposals/1/withdraw"): {"reason": "walk"},
}
KWARGS["proposal_id"] = 1
P = f"/api/v1/pilots/{KWARGS['pilot']}"
WALK_PARTICIPANT = f"{P}/participants/{KWARGS['participant_id']}"
BODIES |= {
    ("POST", f"{P}/referrals/{KWARGS['reference']}/decline"): {"reason_code": "R-DECLINED"},
    ("POST", f"{P}/imports/eligibility"): {
        "file": (
            "walk-register.csv",
            b"member_id,payer,coverage_start,coverage_end,status\n"
            b"WV-WALK-2,wvch,2026-01-01,,active\n",
        )
    },
    ("POST", f"{P}/imports/referrals"): {
        "file": (
            "walk-referrals.csv",
            b"reference,participant_id,payer,member_id,source,provider,service_category,"
            b"referred_at\nREF-WALK-3,P-WALK-3,wvch,WV-WALK-2,PCP,org-provider,SMI-OP,2026-03-02\n",
        )
    },
    ("POST", f"{P}/referrals"): {
        "reference": "REF-WALK-2",
        "participant_id": "P-WALK-2",
        "payer_id": "wvch",
        "member_id": "WV-WALK",
        "source": "ED",
        "provider": "org-provider",
        "service_category": "SMI-OP",
        "referred_at": "2026-03-02T15:00:00Z",
        "geography": "marion",
    },
    ("POST", f"{P}/assessments"): {
        "participant_id": "P-WALK",
        "kind": "screening",
        "tool": "locus",
        "tool_version": "2020",
        "score": "18",
        "acuity_band": "moderate",
        "flags": ["smi"],
        "barriers": ["housing"],
        "signed_by": "Dr. Rosa Diaz",
        "signed_at": "2026-03-02T15:00:00Z",
    },
    ("POST", f"{P}/eligibility-files"): {
        "referral": "REF-WALK-2",
        "assessment": 1,
        "participant_id": "P-WALK-2",
        "payer_status": "active",
        "baseline_score": "62.50",
        "service_category": "SMI-OP",
        "proposed_start": "2026-03-09",
    },
    ("POST", f"{WALK_PARTICIPANT}/activation"): {
        "outcome": "activated",
        "decision_code": "A1",
        "review_date": "2026-03-03",
        "control_status": "passed",
    },
    ("POST", f"{WALK_PARTICIPANT}/removal"): {"reason_code": "RM-MOVED", "note": "walk"},
    ("POST", f"{WALK_PARTICIPANT}/compliance-review"): {"note": "walk"},
    ("POST", f"{WALK_PARTICIPANT}/service-levels"): {
        "level": "SL1",
        "kind": "initial",
        "evidence": "walk",
    },
    ("POST", f"{P}/service-levels/{KWARGS['request_id']}/decision"): {
        "approve": True,
        "rationale": "walk",
        "expected_duration_days": 90,
    },
    ("POST", f"{WALK_PARTICIPANT}/pathways"): {
        "stage": "S2",
        "barrier_category": "housing",
        "lead": "frontline",
        "target_review_date": "2026-03-10",
        "escalation_code": "ESC-CRISIS",
    },
    ("POST", f"{WALK_PARTICIPANT}/activities"): {
        "activity_type": "outreach",
        "occurred_at": "2026-03-04T17:00:00Z",
    },
    ("POST", f"{WALK_PARTICIPANT}/barriers"): {
        "category": "housing",
        "description": "walk",
        "owner": "frontline",
    },
    ("POST", f"{P}/barriers/{KWARGS['barrier_id']}/resolve"): {},
    ("POST", f"{WALK_PARTICIPANT}/reviews"): {"outcome": "progressed", "review_date": "2026-03-17"},
    ("POST", f"{WALK_PARTICIPANT}/disengagement"): {"reason": "walk"},
    ("POST", f"{WALK_PARTICIPANT}/reengagement"): {"reason": "walk"},
}
WALK_CLAIM = f"{P}/claims/{KWARGS['claimref:reference']}"
WALK_SAMPLE = f"{P}/samples/{KWARGS['period']}"
BODIES |= {
    ("POST", f"{P}/evidence"): {"file": ("walk.csv", b"date,contact\n2026-03-02,phone\n")},
    ("POST", f"{P}/claims"): {
        "participant_id": KWARGS["participant_id"],
        "milestone": "M1",
        "reached_on": "2026-03-02",
    },
    ("POST", f"{WALK_CLAIM}/readiness"): {"note": "walk"},
    ("POST", f"{WALK_CLAIM}/submit"): {},
    ("POST", f"{WALK_CLAIM}/verification"): {"outcome": "verified", "checklist": []},
    ("POST", f"{P}/samples"): {"period": KWARGS["period"], "seed": 1},
    ("POST", f"{WALK_SAMPLE}/items/{KWARGS['claimref:reference']}/audit"): {
        "supported_amount": "0.00",
        "finding_codes": ["VR-MISSING"],
    },
    ("POST", f"{WALK_SAMPLE}/appraisal"): {},
    ("POST", f"{P}/tranches/{KWARGS['tranche']}/claims"): {"reached_on": "2026-03-02"},
    ("POST", f"{P}/tranches/{KWARGS['tranche']}/submission"): {},
    ("POST", f"{P}/disputes"): {"subject_kind": "verification", "subject_id": 1, "grounds": "walk"},
    ("POST", f"{P}/disputes/{KWARGS['reference']}/escalation"): {"note": "walk"},
    ("POST", f"{P}/disputes/{KWARGS['reference']}/resolution"): {
        "outcome": "upheld",
        "resolution": "walk",
        "learning": "walk",
    },
}
# Money, C12 spend requests and contributions: spend request REF-WALK does not exist (404
# past the policy); the walk's spend request and contribution are wvch's.
KWARGS |= {"payer": "wvch"}
BODIES |= {
    ("POST", f"{P}/spend-requests"): {
        "payer": "wvch",
        "use": "verification",
        "amount": "100.00",
        "payee": "org-provider",
        "purpose": "walk",
    },
    ("POST", f"{P}/spend-requests/{KWARGS['reference']}/approve"): {"note": "walk"},
    ("POST", f"{P}/spend-requests/{KWARGS['reference']}/decline"): {"reason": "walk"},
    ("POST", f"{P}/spend-requests/{KWARGS['reference']}/review"): {"note": "walk"},
    ("POST", f"{P}/contributions/wvch/commit"): {},
    ("POST", f"{P}/contributions/wvch/receipts"): {
        "reference": "WALK-1",
        "received_on": "2026-03-02",
        "allocations": {"verification": "100.00"},
    },
}
# Money, the books (ledger, periods, reversal) and C20 exit: the walk's pilot has no
# transaction, account or exit plan (404 past the policy); finance may lock March.
KWARGS |= {"account": "fund:wvch:verification", "plan": 1}
KWARGS.setdefault("month", "2026-03")
BODIES |= {
    ("POST", f"{P}/periods/{KWARGS['month']}/lock"): {},
    ("POST", f"{P}/periods/{KWARGS['month']}/close"): {},
    ("POST", f"{P}/periods/{KWARGS['month']}/reopen"): {},
    ("POST", f"{P}/ledger/{KWARGS['number']}/reverse"): {"reason": "walk"},
    ("POST", f"{P}/exit-plans"): {"as_of": "2026-03-02"},
    ("POST", f"{P}/exit-plans/{KWARGS['plan']}/approve"): {},
}
# Money, C14 reconciliation and C15 variance: the walk reconciles and runs the cycle of
# March for real (once; later roles are refused already_reconciled/already_run); the
# investigation, reallocation and case review 1 do not exist (404 past the policy).
KWARGS |= {"month": "2026-03", "investigation_id": 1, "reallocation_id": 1, "review_id": 1}
BODIES |= {
    ("POST", f"{P}/reconciliations"): {"month": KWARGS["month"]},
    ("POST", f"{P}/investigations/1/assignment"): {"owner": "finance", "due": "2026-12-31"},
    ("POST", f"{P}/investigations/1/resolution"): {"resolution": "walk"},
    ("POST", f"{P}/reallocations"): {
        "payer": "wvch",
        "from_use": "recovery_milestones",
        "to_use": "verification",
        "amount": "1.00",
        "reason": "walk",
    },
    ("POST", f"{P}/reallocations/1/approve"): {},
    ("POST", f"{P}/reallocations/1/decline"): {"reason": "walk"},
    ("POST", f"{P}/variance-cycles"): {"month": KWARGS["month"]},
    ("POST", f"{P}/case-reviews/1/assignment"): {"owner": "finance", "due": "2026-12-31"},
    ("POST", f"{P}/case-reviews/1/corrective-actions"): {
        "owner": "finance",
        "due": "2026-12-31",
        "description": "walk",
    },
    ("POST", f"{P}/case-reviews/1/closure"): {"findings": "walk"},
}
QUERY = {
    "/api/v1/pilots/recovery-2026/audit/consistency": {"old_size": 1},
    f"{P}/breaches": {"month": "2026-03"},
    f"{P}/imports/eligibility": {"payer": "wvch"},
    f"{P}/evidence": {
        "participant_id": KWARGS["participant_id"],
        "kind": "contact_log",
        "document_date": "2026-03-02",
    },
}


@pytest.fixture
def people(pilot, admin):
    """One person per role in the pilot, an outsider, and nobody signed in."""
    orgs = {
        kind: organisation(f"org-{kind.value.replace('_', '-')}", kind, admin) for kind in OrgKind
    }
    payer_id = pilot.rulebook.payers[0].id
    actions.add_party(
        pilot=pilot, organisation=orgs[OrgKind.PAYER], payer_id=payer_id, by=admin, at=NOW
    )
    users = {"admin": admin}
    for role in Role:
        if role == Role.ADMINISTRATOR:
            continue
        kind = min(ROLE_ORG_KINDS.get(role, {OrgKind.PILOT_OFFICE}), key=list(OrgKind).index)
        users[role.value] = make_person(
            role.value, orgs[kind], admin, role, None if role == Role.AUDITOR else pilot
        )
    users["outsider"] = make_person("outsider", orgs[OrgKind.PROVIDER], admin)
    users["anonymous"] = None
    _participant(pilot, admin, orgs[OrgKind.PROVIDER], users)
    return users


def _participant(pilot, admin, provider, users):
    """P-WALK of the provider organisation: referred, assessed and filed (eligible)."""
    actions.add_party(pilot=pilot, organisation=provider, payer_id="", by=admin, at=NOW)
    imports.import_eligibility(
        pilot=pilot,
        payer_id="wvch",
        filename="walk.csv",
        content=b"member_id,payer,coverage_start,coverage_end,status\nWV-WALK,wvch,2026-01-01,,active\n",
        by=admin,
        at=NOW,
    )
    manager = users[Role.ENROLLMENT_MANAGER.value]
    referral = intake.receive_referral(
        pilot=pilot,
        reference=KWARGS["reference"],
        participant_id=KWARGS["participant_id"],
        payer_id="wvch",
        member_id="WV-WALK",
        source="ED",
        provider=provider,
        service_category="SMI-OP",
        referred_at=NOW,
        by=manager,
        at=NOW,
    )
    baseline = intake.record_assessment(
        pilot=pilot,
        participant_id=KWARGS["participant_id"],
        kind="baseline",
        tool="whodas-12",
        tool_version="2.0",
        score=Decimal("62.50"),
        signed_by="Dr. Rosa Diaz",
        signed_at=NOW,
        by=manager,
        at=NOW,
    )
    intake.file_eligibility(
        referral=referral,
        assessment=baseline,
        participant_id=KWARGS["participant_id"],
        payer_status="active",
        baseline_score=Decimal("62.50"),
        service_category="SMI-OP",
        proposed_start=NOW.date(),
        by=manager,
        at=NOW,
    )


def _past_the_policy(response) -> bool:
    """A write the policy let through but the control refused (the walk's participant is
    not in every state each control needs) or whose record the walk does not hold (404).
    Malformed input is still a mismatch: the example body must fit the operation."""
    return response.status_code in (404, 422) and response.json()["code"] != "invalid_input"


def _expected(user, perm, pilot) -> bool:
    if user is None:
        return perm == policy.PUBLIC
    return policy.allowed(user, perm, pilot if perm in policy.PILOT_PERMISSIONS else None)


def test_every_page_and_operation_declares_its_permission():
    undeclared = [url for url, view in _pages() if not hasattr(view, "fundpilot_permission")]
    undeclared += [
        f"{m} {url}" for m, url, view in _operations() if not hasattr(view, "fundpilot_permission")
    ]
    assert undeclared == []
    assert {(m, u) for m, u, _ in _operations() if m != "GET"} == set(BODIES)


def test_every_page_answers_each_role_as_the_policy_says(people, pilot):
    mismatches = []
    for name, user in people.items():
        client = Client()
        if user is not None:
            client.force_login(user)
        for url, view in _pages():
            perm = view.fundpilot_permission
            response = client.get(url)
            denied = response.status_code == 403 or (
                response.status_code == 302
                and "/login/" in response["Location"]
                and perm != policy.PUBLIC
            )
            if denied == _expected(user, perm, pilot):
                mismatches.append((name, url, response.status_code))
    assert mismatches == []


def test_every_api_operation_answers_each_role_as_the_policy_says(people, pilot):
    mismatches = []
    for name, user in people.items():
        client = Client()
        if user is not None:
            client.force_login(user)
        for method, url, view in _operations():
            perm = view.fundpilot_permission
            body = BODIES.get((method, url), {})
            if method == "GET":
                response = client.get(url, QUERY.get(url, {}))
            elif "file" in body:  # a CSV upload: multipart, its options in the query
                name_, content = body["file"]
                query = urlencode(QUERY.get(url, {}))
                upload = SimpleUploadedFile(name_, content, content_type="text/csv")
                response = client.post(f"{url}?{query}", {"file": upload})
            else:
                response = client.generic(
                    method, url, content_type="application/json", data=json.dumps(body)
                )
            allowed = _expected(user, perm, pilot)
            expected = {False: {401} if user is None else {403}, True: {200, 201}}[allowed]
            # A GET of a record the walk does not hold answers 404 once past the policy.
            past = _past_the_policy(response) and (method != "GET" or response.status_code == 404)
            if response.status_code not in expected and not (allowed and past):
                mismatches.append((name, method, url, response.status_code))
    assert mismatches == []


# Money, C13 payment runs: a dry run of the walk's March (nothing due); run 1 and its
# remittances do not exist (404 past the policy).
BODIES |= {("POST", f"{P}/payment-runs"): {"month": "2026-03", "dry_run": True}}

# Governance, C18 equity: compliance runs the walk's March check for real (once; later
# roles are refused already_run); equity finding 1 does not exist (404 past the policy).
KWARGS.update({"finding_id": 1})
BODIES |= {
    ("POST", f"{P}/equity-checks"): {"month": "2026-03"},
    ("POST", f"{P}/equity-findings/{KWARGS['finding_id']}/review"): {"note": "walk"},
}

# Governance, C16 settlement: finance prepares, reconciles and finalises the walk's March
# for real (later prepares are refused already_finalised); reviewers review it once each;
# methodology question 1 is raised in the walk (resolving your own: own_question).
KWARGS.update({"question_id": 1})
SETTLEMENT = f"{P}/settlements/{KWARGS['month']}"
BODIES |= {
    ("POST", f"{P}/settlements"): {"month": KWARGS["month"]},
    ("POST", f"{SETTLEMENT}/reconciliation"): {"note": "walk"},
    ("POST", f"{SETTLEMENT}/finalise"): {},
    ("POST", f"{SETTLEMENT}/reviews"): {"note": "walk"},
    ("POST", f"{P}/methodology-questions"): {"question": "walk"},
    ("POST", f"{P}/methodology-questions/{KWARGS['question_id']}/resolution"): {"answer": "walk"},
}

# Governance, C17 board decisions and C19 assurance: the walk has no settlement, board
# decision or restriction 1 (404 past the policy); the assurance reviewer records the
# ended 2026-Q1 for real (without findings, so finding 1 stays absent: 404).
KWARGS.update({"restriction_id": 1, "quarter": "2026-Q1"})
BODIES |= {
    ("POST", f"{P}/board-decisions"): {
        "month": KWARGS["month"],
        "position": "provisional",
        "decision_code": "BD-WALK",
        "review_date": "2026-12-31",
        "executive_owner": "executive_sponsor",
        "residual_risk": "low",
        "next_checkpoint": "2026-12-31",
        "integrity_risks": "none identified",
        "denominator_disputes": "none identified",
        "definition_issues": "none identified",
        "approved_amount": "0.00",
    },
    ("POST", f"{P}/board-decisions/{KWARGS['month']}/statements"): {
        "audience": "walk",
        "position": "restricted",
        "amount": "0.00",
        "text": "walk",
    },
    ("POST", f"{P}/restrictions/{KWARGS['restriction_id']}/closure"): {"note": "walk"},
    ("POST", f"{P}/assurance-reviews"): {
        "quarter": KWARGS["quarter"],
        "compliance": "walk",
        "outcomes": "walk",
        "equity": "walk",
    },
    ("POST", f"{P}/findings/{KWARGS['finding_id']}/closure"): {"note": "walk"},
}
