"""One participant through every control via the HTTP API, as machine clients would:
bearer tokens, JSON bodies, coded refusals that write nothing.

The server takes `at` from its clock, so the walk travels in time (time_machine):
NOW is Monday 2 March 2026, 07:00 in Oregon.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from fundpilot.participants.models import Participant
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, make_person
from tests.participants.care_fixtures import admit_blended, blended_pilot, blended_staff
from tests.participants.conftest import snapshot

API = "/api/v1/pilots/recovery-2026"
ONE = f"{API}/participants/P-API-1"


def client_for(user: User) -> Client:
    secret = actions.issue_api_token(user=user, label="lifecycle", by=user, at=NOW)
    return Client(headers={"Authorization": f"Bearer {secret}"})


def post(client: Client, url: str, body: dict) -> tuple[int, dict]:
    response = client.post(url, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def assert_refused_without_writing(client: Client, url: str, body: dict, code: str) -> None:
    before = snapshot()
    status, answer = post(client, url, body)
    assert (status, answer["code"]) == (422, code), answer
    assert snapshot() == before


@pytest.fixture
def clients(staff: dict[Role, User]) -> dict[Role, Client]:
    return {role: client_for(user) for role, user in staff.items()}


def test_one_participant_walks_every_control_through_the_api(
    pilot: Pilot,
    staff: dict[Role, User],
    register: object,
    clients: dict[Role, Client],
    admin: User,
    other_provider: Organisation,
):
    enrollment, approver = clients[Role.ENROLLMENT_MANAGER], clients[Role.ACTIVATION_APPROVER]
    frontline, supervisor = clients[Role.FRONTLINE], clients[Role.SUPERVISOR]
    with time_machine.travel(NOW, tick=False) as clock:
        # C1: referral (no wrong door), assessments, eligibility file
        referral = {
            "reference": "REF-API-1",
            "participant_id": "P-API-1",
            "payer_id": "wvch",
            "member_id": "WV-0002",
            "source": "CRISIS",
            "provider": "riverside",
            "service_category": "SMI-OP",
            "referred_at": "2026-03-02T14:30:00Z",
            "geography": "polk",
        }
        assert_refused_without_writing(
            enrollment, f"{API}/referrals", {**referral, "source": "FAX"}, "unknown_source"
        )
        status, received = post(enrollment, f"{API}/referrals", referral)
        assert status == 201
        assert received["file_due"] == "2026-03-03"
        assert (received["received_by"], received["filed"]) == ("rs-enrollment_manager", False)

        clock.move_to(NOW + timedelta(hours=1))
        signed = {"signed_by": "Dr. Rosa Diaz", "signed_at": "2026-03-02T15:45:00Z"}
        status, baseline = post(
            enrollment,
            f"{API}/assessments",
            {
                "participant_id": "P-API-1",
                "kind": "baseline",
                "tool": "whodas-12",
                "tool_version": "2.0",
                "score": "62.50",
                "acuity_band": "moderate",
                "flags": ["smi", "homeless"],
                **signed,
            },
        )
        assert (status, baseline["score"], baseline["approved_tool"]) == (201, "62.50", True)
        status, floated = post(
            enrollment,
            f"{API}/assessments",
            {"participant_id": "P-API-1", "kind": "baseline", "tool": "whodas-12",
             "tool_version": "2.0", "score": 62.5, **signed},
        )  # fmt: skip
        assert (status, floated["code"], floated["field"]) == (422, "invalid_input", "score")
        status, screening = post(
            enrollment,
            f"{API}/assessments",
            {
                "participant_id": "P-API-1",
                "kind": "screening",
                "tool": "locus",
                "tool_version": "2020",
                "score": "18",
                "barriers": ["housing", "transport"],
                **signed,
            },
        )
        assert (status, screening["barriers"]) == (201, ["housing", "transport"])

        clock.move_to(NOW + timedelta(hours=2))
        file = {
            "referral": "REF-API-1",
            "assessment": baseline["id"],
            "participant_id": "P-API-1",
            "payer_status": "active",
            "baseline_score": "62.50",
            "service_category": "SMI-OP",
            "proposed_start": "2026-03-09",
        }
        assert_refused_without_writing(
            enrollment,
            f"{API}/eligibility-files",
            {**file, "baseline_score": "60.00"},
            "score_mismatch",
        )
        status, filed = post(enrollment, f"{API}/eligibility-files", file)
        assert (status, filed["due"], filed["late_days"]) == (201, "2026-03-03", 0)
        assert enrollment.get(ONE).json()["status"] == "eligible"

        # C2: pending clarification with an owner and a deadline, then activated
        clock.move_to(NOW + timedelta(days=1, hours=2))
        status, pending = post(
            approver,
            f"{ONE}/activation",
            {
                "outcome": "pending",
                "decision_code": "P1",
                "reason_code": "P-REGISTER",
                "review_date": "2026-03-03",
                "control_status": "open",
                "next_checkpoint": "2026-03-05",
                "clarification_owner": "rs-enrollment_manager",
                "clarification_due": "2026-03-05",
            },
        )
        assert (status, pending["clarification_owner"]) == (201, "rs-enrollment_manager")
        clock.move_to(NOW + timedelta(days=2, hours=2))
        activation = {
            "outcome": "activated",
            "decision_code": "A1",
            "review_date": "2026-03-04",
            "control_status": "passed",
        }
        status, activated = post(approver, f"{ONE}/activation", activation)
        assert (status, activated["due"], activated["late_days"]) == (201, "2026-03-04", 0)
        participant = enrollment.get(ONE).json()
        assert (participant["status"], participant["next_review_due"]) == (
            "activated",
            "2026-03-18",
        )
        status, reviewed = post(
            clients[Role.COMPLIANCE], f"{ONE}/compliance-review", {"note": "register matches"}
        )
        assert (status, reviewed["decided_by"]) == (201, "po-compliance")

        # C4: the pathway, to a lead with the role and room in their caseload
        clock.move_to(NOW + timedelta(days=3))
        pathway = {
            "stage": "S2",
            "barrier_category": "housing",
            "lead": "rs-frontline",
            "target_review_date": "2026-03-16",
            "escalation_code": "ESC-NOCONTACT",
        }
        assert_refused_without_writing(
            clients[Role.RECOVERY_LEAD],
            f"{ONE}/pathways",
            {**pathway, "stage": "S1"},
            "stage_mismatch",
        )
        status, released = post(clients[Role.RECOVERY_LEAD], f"{ONE}/pathways", pathway)
        assert (status, released["lead"], released["due"]) == (201, "rs-frontline", "2026-03-09")

        # C5: activity log and barrier tracker
        clock.move_to(NOW + timedelta(days=3, hours=5))
        status, activity = post(
            frontline,
            f"{ONE}/activities",
            {"activity_type": "home_visit", "occurred_at": "2026-03-05T18:00:00Z", "note": "met"},
        )
        assert (status, activity["billable"], activity["baseline"]) == (201, False, False)
        status, barrier = post(
            frontline,
            f"{ONE}/barriers",
            {"category": "housing", "description": "eviction notice", "owner": "rs-frontline"},
        )
        assert (status, barrier["resolved_at"]) == (201, None)
        clock.move_to(NOW + timedelta(days=9))
        status, resolved = post(frontline, f"{API}/barriers/{barrier['id']}/resolve", {})
        assert (status, resolved["resolved_by"]) == (201, "rs-frontline")

        # C6: the 14-day progression review
        clock.move_to(datetime(2026, 3, 18, 17, 0, tzinfo=UTC))
        assert_refused_without_writing(
            supervisor,
            f"{ONE}/reviews",
            {"outcome": "stalled", "review_date": "2026-03-18"},
            "stall_code_required",
        )
        status, review = post(
            supervisor, f"{ONE}/reviews", {"outcome": "progressed", "review_date": "2026-03-18"}
        )
        assert (status, review["late_days"], review["unresolved_dependencies"]) == (201, 0, 0)

        # Relapse and re-engagement keep the history
        clock.move_to(datetime(2026, 3, 24, 17, 0, tzinfo=UTC))
        status, gone = post(frontline, f"{ONE}/disengagement", {"reason": "no contact"})
        assert (status, gone["kind"]) == (201, "disengaged")
        clock.move_to(datetime(2026, 4, 7, 17, 0, tzinfo=UTC))
        status, back = post(frontline, f"{ONE}/reengagement", {"reason": "called back"})
        assert (status, back["kind"]) == (201, "reengaged")

        # The queue and the breach report: the review of 1 April is overdue
        queue = supervisor.get(f"{API}/queue").json()
        assert [
            (i["control"], i["participant_id"], i["due"], i["late_days"]) for i in queue["overdue"]
        ] == [("C6", "P-API-1", "2026-04-01", 4)]
        report = supervisor.get(f"{API}/breaches", {"month": "2026-03"}).json()
        assert {(r["control"], r["count"]) for r in report if r["provider"] == "Riverside"} >= {
            ("C1", 0),
            ("C2", 0),
        }

        # The locked roster: removal is its own coded decision
        clock.move_to(datetime(2026, 4, 8, 17, 0, tzinfo=UTC))
        status, removal = post(approver, f"{ONE}/removal", {"reason_code": "RM-MOVED"})
        assert (status, removal["reason_code"]) == (201, "RM-MOVED")
        assert enrollment.get(ONE).json()["status"] == "removed"

    # Another provider's staff may not see the participant
    stranger = client_for(
        make_person("ns-supervisor", other_provider, admin, Role.SUPERVISOR, pilot)
    )
    assert stranger.get(ONE).json()["code"] == "other_organisation"
    assert stranger.get(ONE).status_code == 403
    timeline = enrollment.get(f"{ONE}/timeline").json()
    assert [(e["control"], e["kind"]) for e in timeline] == [
        ("C1", "referral"),
        ("C1", "assessment"),
        ("C1", "assessment"),
        ("C1", "eligibility_file"),
        ("C2", "activation"),
        ("C2", "activation"),
        ("C2", "compliance_review"),
        ("C4", "pathway"),
        ("C4", "notification"),
        ("C4", "notification"),
        ("C4", "notification"),
        ("C5", "activity"),
        ("C5", "barrier_opened"),
        ("C5", "barrier_resolved"),
        ("C6", "progression_review"),
        ("", "disengaged"),
        ("", "reengaged"),
        ("C2", "roster_removal"),
    ]
    assert Participant.objects.get(participant_id="P-API-1").status == "removed"
    registers = {
        "referrals": ["REF-API-1"],
        "activations": ["activated", "pending"],
        "pathways": ["S2"],
        "barriers": ["housing"],
        "reviews": ["progressed"],
        "engagement": ["reengaged", "disengaged"],
        "removals": ["RM-MOVED"],
    }
    fields = {"referrals": "reference", "activations": "outcome", "pathways": "stage"}
    fields |= {"barriers": "category", "reviews": "outcome", "engagement": "kind"}
    for name, expected in registers.items():
        rows = supervisor.get(f"{API}/{name}", {"participant_id": "P-API-1"}).json()
        assert [row[fields.get(name, "reason_code")] for row in rows] == expected, name


def test_an_import_refused_through_the_api_lists_every_bad_row(
    pilot: Pilot, staff: dict[Role, User], clients: dict[Role, Client]
):
    compliance = clients[Role.COMPLIANCE]
    url = f"{API}/imports/eligibility?payer=wvch"
    bad = (
        b"member_id,payer,coverage_start,coverage_end,status\n"
        b"WV-0100,wvch,2026-01-01,,active\n"
        b"WV-0101,wvch,2026-02-30,,active\n"
        b"WV-0102,php,2026-01-01,,gone\n"
    )
    before = snapshot()
    response = compliance.post(url, {"file": _upload("register.csv", bad)})
    assert response.status_code == 422
    answer = response.json()
    assert answer["code"] == "import_invalid"
    assert [(p["line"], p["column"]) for p in answer["problems"]] == [
        (3, "coverage_start"),
        (4, "payer"),
        (4, "status"),
    ]
    assert snapshot() == before
    good = bad.split(b"WV-0101")[0]
    first = compliance.post(url, {"file": _upload("register.csv", good)})
    assert (first.status_code, first.json()["rows"]) == (201, 1)
    again = compliance.post(url, {"file": _upload("register.csv", good)})
    assert (again.status_code, again.json()["already_imported"]) == (200, True)


def test_service_levels_and_episodes_through_the_api(
    admin: User, provider: Organisation, other_provider: Organisation
):
    pilot = blended_pilot(admin, provider, other_provider)
    staff = blended_staff(pilot, admin, provider)
    admit_blended(pilot, staff)
    clients = {role: client_for(user) for role, user in staff.items()}
    one = "/api/v1/pilots/blended-2026/participants/B-0001"
    with time_machine.travel(datetime(2026, 3, 4, 15, 0, tzinfo=UTC), tick=False) as clock:
        status, asked = post(
            clients[Role.ENROLLMENT_MANAGER],
            f"{one}/service-levels",
            {"level": "SL1", "kind": "initial", "evidence": "DLA-20 3.20, LOCUS 14"},
        )
        assert (status, asked["status"], asked["due"]) == (201, "requested", "2026-03-06")
        clock.move_to(datetime(2026, 3, 5, 15, 0, tzinfo=UTC))
        decision = {"approve": True, "rationale": "meets SL1", "expected_duration_days": 180}
        url = f"/api/v1/pilots/blended-2026/service-levels/{asked['id']}/decision"
        status, decided = post(clients[Role.CLINICAL_LEAD], url, decision)
        assert (status, decided["status"], decided["approver"]) == (
            201,
            "approved",
            "bl-clinical_lead",
        )
        status, upgrade = post(
            clients[Role.FRONTLINE],
            f"{one}/service-levels",
            {
                "level": "SL2",
                "kind": "upgrade",
                "evidence": "two ED visits",
                "triggers": ["banana"],
            },
        )
        assert (status, upgrade["code"]) == (422, "unknown_trigger")
        status, episode = post(
            clients[Role.FRONTLINE],
            f"{one}/activities",
            {"activity_type": "EP-TRANSITION", "occurred_at": "2026-03-05T14:00:00Z"},
        )
        assert (status, episode["episode"], episode["billable"]) == (201, "EP-TRANSITION", True)
    register = clients[Role.SUPERVISOR].get("/api/v1/pilots/blended-2026/service-levels").json()
    assert [(r["kind"], r["level"], r["status"]) for r in register] == [
        ("initial", "SL1", "approved")
    ]


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")
