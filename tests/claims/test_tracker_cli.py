"""`fundpilot evidence add`, `fundpilot milestones` and `fundpilot claim
draft|ready|submit|show`, run in-process; time is frozen at AT (Tuesday 10 March 2026)."""

import json
from datetime import UTC, datetime

import pytest
import time_machine
from typer.testing import CliRunner

from fundpilot.claims.models import Claim, Evidence
from fundpilot.cli import app
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import (
    claims_snapshot,
    evidence_for,
    media,  # noqa: F401 (fixture)
    pdf_bytes,
    png_bytes,
)

AT = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
P = ("--pilot", "recovery-2026")
pytestmark = pytest.mark.usefixtures("media")
runner = CliRunner()


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(AT, tick=False):
        yield


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_evidence_add_stores_the_file(pathway_participant, tmp_path):
    # given
    document = tmp_path / "crisis plan.pdf"
    document.write_bytes(pdf_bytes("cli crisis plan"))
    # when
    result = run(
        "evidence", "add", str(document), *P, "--participant", "P-0001",
        "--kind", "crisis_plan", "--date", "2026-03-09", "--by", "rs-frontline", "--json",
    )  # fmt: skip
    # then
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["kind"], body["document_date"], body["filename"], body["reused"]) == (
        "crisis_plan",
        "2026-03-09",
        "crisis plan.pdf",
        False,
    )
    assert Evidence.objects.get().sha256 == body["sha256"]


def test_evidence_add_refuses_a_type_the_kind_does_not_allow(pathway_participant, tmp_path):
    document = tmp_path / "log.csv"
    document.write_bytes(png_bytes())
    before = claims_snapshot()
    result = run(
        "evidence", "add", str(document), *P, "--participant", "P-0001",
        "--kind", "contact_log", "--date", "2026-03-09", "--by", "rs-frontline",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "type_not_allowed" in result.stderr
    assert claims_snapshot() == before


def test_evidence_add_refuses_a_bad_date(pathway_participant, tmp_path):
    document = tmp_path / "plan.pdf"
    document.write_bytes(pdf_bytes())
    result = run(
        "evidence", "add", str(document), *P, "--participant", "P-0001",
        "--kind", "crisis_plan", "--date", "10/03/2026", "--by", "rs-frontline",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.stderr


def test_milestones_shows_the_tracker(pathway_participant, staff):
    evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT, skip=("med_rec",))
    # when
    result = run("milestones", *P, "--participant", "P-0001", "--by", "rs-frontline", "--json")
    # then
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["milestones"]
    assert [(r["code"], r["status"], r["missing_text"]) for r in rows[:2]] == [
        ("M1", "in_progress", "med_rec"),
        ("M2", "not_started", "3 contact_log"),
    ]
    table = run("milestones", *P, "--participant", "P-0001", "--by", "rs-frontline")
    assert table.exit_code == 0
    assert "med_rec" in table.stdout


def test_milestones_refuses_another_providers_participant(
    pathway_participant, pilot, admin, other_provider
):
    from tests.conftest import make_person

    make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    result = run("milestones", *P, "--participant", "P-0001", "--by", "ns-frontline")
    assert result.exit_code == 2
    assert "other_organisation" in result.stderr


def test_a_claim_is_drafted_reviewed_submitted_and_shown(pathway_participant, staff):
    # given
    evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT)
    # when
    drafted = run(
        "claim", "draft", *P, "--participant", "P-0001", "--milestone", "M1",
        "--reached", "2026-03-10", "--by", "rs-frontline", "--json",
    )  # fmt: skip
    assert drafted.exit_code == 0, drafted.stderr
    assert json.loads(drafted.stdout)["reference"] == "P-0001/M1/1"
    early = run("claim", "submit", "P-0001/M1/1", *P, "--by", "rs-frontline")
    assert (early.exit_code, "not_ready" in early.stderr) == (2, True)
    ready = run("claim", "ready", "P-0001/M1/1", *P, "--by", "rs-supervisor", "--note", "ok")
    assert ready.exit_code == 0, ready.stderr
    submitted = run("claim", "submit", "P-0001/M1/1", *P, "--by", "rs-frontline", "--json")
    # then
    assert submitted.exit_code == 0, submitted.stderr
    body = json.loads(submitted.stdout)
    assert (body["status"], body["payable_amount"], body["basis_key"]) == (
        "payable",
        "900.00",
        "milestone:recovery-2026:P-0001:M1:1",
    )
    shown = run("claim", "show", "P-0001/M1/1", *P, "--by", "rs-supervisor")
    assert shown.exit_code == 0
    assert "basis milestone:recovery-2026:P-0001:M1:1" in shown.stdout
    assert "evidence crisis_plan" in shown.stdout


def test_claim_ready_refuses_the_drafters_own_claim(pathway_participant, staff):
    evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT)
    run(
        "claim", "draft", *P, "--participant", "P-0001", "--milestone", "M1",
        "--reached", "2026-03-10", "--by", "rs-supervisor",
    )  # fmt: skip
    before = claims_snapshot()
    result = run("claim", "ready", "P-0001/M1/1", *P, "--by", "rs-supervisor")
    assert result.exit_code == 2
    assert "own_draft" in result.stderr
    assert claims_snapshot() == before
    assert Claim.objects.get().status == Claim.DRAFT


def test_claim_show_of_an_unknown_claim_fails(pathway_participant):
    result = run("claim", "show", "P-0001/M9/1", *P, "--by", "rs-frontline")
    assert result.exit_code == 2
    assert "no claim 'P-0001/M9/1'" in result.stderr
