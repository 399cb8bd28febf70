"""The command line, in-process against the test database, and once for real."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fundpilot.audit import append_only
from fundpilot.cli import app
from fundpilot.pilots import actions
from fundpilot.pilots.models import Pilot
from fundpilot.rules.vocabulary import Role
from tests.conftest import EXAMPLES, NOW

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_rulebook_check_passes_every_example():
    result = run("rulebook", "check", *map(str, sorted(EXAMPLES.glob("*.toml"))))
    assert result.exit_code == 0
    assert result.stdout.count(": ok — ") == 4


def test_rulebook_check_names_every_error_with_its_path(tmp_path):
    # given: a prerequisite that does not exist
    text = (EXAMPLES / "functional-recovery.toml").read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace('prerequisites = ["', 'prerequisites = ["NOPE", "', 1))
    # when
    result = run("rulebook", "check", str(broken))
    # then
    assert result.exit_code == 2
    assert "prerequisites[0]: unknown milestone 'NOPE'" in result.stderr


def test_rulebook_check_json_reports_each_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    result = run("rulebook", "check", "--json", str(EXAMPLES / "multi-payer.toml"), str(bad))
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert [f["valid"] for f in document["files"]] == [True, False]
    assert document["files"][1]["errors"]


def test_rulebook_diff_says_what_changed(tmp_path):
    old = EXAMPLES / "blended-rate.toml"
    new = tmp_path / "new.toml"
    new.write_text(old.read_text().replace('name = "', 'name = "Renamed ', 1))
    result = run("rulebook", "diff", "--json", str(old), str(new))
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["changes"]) >= 1
    same = run("rulebook", "diff", str(old), str(old))
    assert same.stdout.strip() == "no changes"


def test_pilot_create_and_amend_through_the_cli(admin, tmp_path):
    created = run("pilot", "create", "--by", "admin", "--json", str(EXAMPLES / "multi-payer.toml"))
    assert created.exit_code == 0
    assert json.loads(created.stdout)["rulebook_version"] == 1
    again = run("pilot", "create", "--by", "admin", str(EXAMPLES / "multi-payer.toml"))
    assert again.exit_code == 2
    assert "pilot_exists" in again.stderr
    assert Pilot.objects.count() == 1


def test_commands_refuse_people_without_the_right(pilot, outsider):
    result = run("pilot", "create", "--by", "outsider", str(EXAMPLES / "multi-payer.toml"))
    assert result.exit_code == 2
    assert "not_permitted" in result.stderr
    verify = run("audit", "verify", "--by", "outsider", "--pilot", "recovery-2026")
    assert verify.exit_code == 2


def test_audit_verify_exit_codes(pilot, admin, django_db_blocker):
    from django.db import connection

    ok = run("audit", "verify", "--by", "admin", "--json")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["ok"] is True
    append_only.remove(connection, "audit_auditrecord")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditrecord SET subject = 'forged' WHERE seq = 1 "
            "AND chain = 'pilot:recovery-2026'"
        )
    bad = run("audit", "verify", "--by", "admin", "--pilot", "recovery-2026")
    assert bad.exit_code == 1
    assert "record #1" in bad.stderr


def test_checkpoint_file_round_trip(pilot, admin, tmp_path):
    file = tmp_path / "cp.json"
    signed = run(
        "audit", "checkpoint", "--by", "admin", "--pilot", "recovery-2026", "--out", str(file)
    )
    assert signed.exit_code == 0
    verified = run("audit", "verify", "--by", "admin", "--checkpoint", str(file))
    assert verified.exit_code == 0
    file.write_text("{not json")
    broken = run("audit", "verify", "--by", "admin", "--checkpoint", str(file))
    assert broken.exit_code == 2


@pytest.mark.slow
def test_demo_loads_twice_and_verifies_from_a_fresh_home(tmp_path):
    """The real command, as a user runs it: a fresh data folder, twice, then verify."""
    env = {**os.environ, "FUNDPILOT_HOME": str(tmp_path / "home")}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    cmd = [sys.executable, "-m", "fundpilot.cli"]
    first = subprocess.run([*cmd, "demo", "--no-serve"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "admin" in first.stdout
    second = subprocess.run([*cmd, "demo", "--no-serve"], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    verify = subprocess.run(
        [*cmd, "audit", "verify", "--by", "auditor", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    report = json.loads(verify.stdout)
    assert report["ok"] is True
    assert {c["chain"] for c in report["chains"]} >= {"system", "pilot:recovery-2026"}
    assert Path(tmp_path / "home" / "fundpilot.sqlite3").exists()


# --- participants: imports, queue, breaches, simulate ---------------------------------------

REGISTER_HEADER = "member_id,payer,coverage_start,coverage_end,status\n"


def test_import_eligibility_shows_progress_and_a_second_run_changes_nothing(pilot, tmp_path):
    # given: a register large enough to report progress along the way
    from fundpilot.participants.models import EligibilityEntry, ImportBatch

    file = tmp_path / "wvch-2026-03.csv"
    rows = (f"WV-{i:06d},wvch,2026-01-01,,active\n" for i in range(25_000))
    file.write_text(REGISTER_HEADER + "".join(rows))
    args = ("import", "eligibility", str(file), "--pilot", "recovery-2026", "--payer", "wvch")
    # when
    first = run(*args, "--by", "admin")
    again = run(*args, "--by", "admin", "--json")
    # then
    assert first.exit_code == 0, first.stderr
    assert first.stdout == f"{file}: imported 25000 eligibility rows into recovery-2026\n"
    assert "wvch-2026-03.csv" in first.stderr and "100%" in first.stderr  # the progress bar
    assert json.loads(again.stdout)["already_imported"] is True
    assert (ImportBatch.objects.count(), EligibilityEntry.objects.count()) == (1, 25_000)


def test_a_refused_import_names_every_bad_row_and_exits_2(pilot, tmp_path):
    # given
    from fundpilot.audit.models import AuditRecord
    from fundpilot.participants.models import EligibilityEntry

    file = tmp_path / "register.csv"
    file.write_text(
        REGISTER_HEADER + "WV-1,wvch,2026-01-01,,active\n"
        "WV-2,wvch,2026-02-30,,active\n"
        "WV-3,php,2026-01-01,2025-01-01,gone\n"
    )
    audited = AuditRecord.objects.count()
    # when
    result = run(
        "import", "eligibility", str(file), "--pilot", "recovery-2026", "--payer", "wvch",
        "--by", "admin",
    )  # fmt: skip
    # then
    assert result.exit_code == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith(str(file))]
    assert problems == [
        f"{file}:3: coverage_start: 2026-02-30 is not a real date: February 2026 has 28 days",
        f"{file}:4: payer: is 'php', but the register is for wvch",
        f"{file}:4: coverage_end: 2025-01-01 is before coverage_start 2026-01-01",
        f"{file}:4: status: 'gone' is not one of active, inactive, terminated",
    ]
    assert "import_invalid" in result.stderr
    assert (EligibilityEntry.objects.count(), AuditRecord.objects.count()) == (0, audited)


def test_import_referrals_refuses_someone_without_the_right(pilot, outsider, tmp_path):
    file = tmp_path / "referrals.csv"
    file.write_text("reference,participant_id\n")
    result = run("import", "referrals", str(file), "--pilot", "recovery-2026", "--by", "outsider")
    assert result.exit_code == 2
    assert "not_permitted" in result.stderr


def test_simulate_then_queue_and_breaches_from_the_cli(pilot, admin, provider):
    # given: a provider team in the pilot
    from tests.conftest import make_person

    actions.add_party(pilot=pilot, organisation=provider, by=admin, at=NOW)
    for role in (Role.ENROLLMENT_MANAGER, Role.RECOVERY_LEAD, Role.FRONTLINE, Role.SUPERVISOR):
        make_person(f"rs-{role.value}", provider, admin, role, pilot)
    for role in (Role.ACTIVATION_APPROVER, Role.COMPLIANCE):
        make_person(f"po-{role.value}", admin.organisation, admin, role, pilot)
    # when
    simulated = run(
        "simulate", "--pilot", "recovery-2026", "--participants", "12", "--months", "2",
        "--seed", "4", "--until", "2026-04-30", "--by", "admin", "--json",
    )  # fmt: skip
    refused = run("simulate", "--pilot", "recovery-2026", "--by", "rs-supervisor")
    queue = run("queue", "--pilot", "recovery-2026", "--by", "rs-supervisor", "--json")
    report = run(
        "breaches", "--pilot", "recovery-2026", "--month", "2026-04", "--by", "admin", "--json"
    )
    # then
    assert simulated.exit_code == 0, simulated.stderr
    summary = json.loads(simulated.stdout)
    assert (summary["participants"], summary["seed"]) == (12, 4)
    assert summary["actions"] == sum(summary["by_action"].values())
    assert "days" in simulated.stderr  # the progress bar
    assert (refused.exit_code, "not_permitted" in refused.stderr) == (2, True)
    assert queue.exit_code == 0
    assert set(json.loads(queue.stdout)) >= {"overdue", "due_today", "waiting", "upcoming"}
    assert report.exit_code == 0
    rows = json.loads(report.stdout)["rows"]
    assert {r["control"] for r in rows} >= {"C1", "C2", "C4", "C6"}
