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
from fundpilot.pilots.models import Pilot
from tests.conftest import EXAMPLES

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
