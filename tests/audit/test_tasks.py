import json

from django.db import transaction
from django_tasks_db.models import DBTaskResult

from fundpilot.audit import log, tasks
from fundpilot.rules.signing import checkpoint_from_json
from tests.conftest import NOW
from tests.test_cli import run

ACTOR = log.Actor("tester", "administrator", "office")


def _append(n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            log.append(chain="pilot:t", actor=ACTOR, action="t", subject=str(i), payload={}, at=NOW)


def test_it_signs_only_chains_that_grew(db, settings, tmp_path):
    # given
    settings.FUNDPILOT_CHECKPOINTS_DIR = tmp_path
    _append(3)
    # when
    first = tasks.sign_grown_chains()
    again = tasks.sign_grown_chains()
    _append(2)
    grown = tasks.sign_grown_chains()
    # then
    assert [p.name for p in first] == ["3.json"]
    assert again == []
    assert [p.name for p in grown] == ["5.json"]
    assert log.verify_against(checkpoint_from_json(first[0].read_text())).ok


def test_the_worker_runs_due_work_and_schedules_the_next_checkpoint(
    committed_db, settings, tmp_path
):
    # The worker closes stale connections between jobs, so it needs real commits.
    # given
    settings.FUNDPILOT_CHECKPOINTS_DIR = tmp_path
    _append(4)
    # when
    result = run("worker", "--batch", "--checkpoint-hours", "6")
    # then
    assert result.exit_code == 0
    assert (tmp_path / "pilot--t" / "4.json").exists()
    signing = DBTaskResult.objects.filter(task_path=tasks.sign_checkpoints.module_path)
    done = signing.get(status="SUCCESSFUL")
    assert json.loads(json.dumps(done.return_value)) == [str(tmp_path / "pilot--t" / "4.json")]
    upcoming = signing.get(status="READY")
    assert upcoming.args_kwargs["args"] == [6]
    assert upcoming.run_after > done.finished_at
