"""C13 on PostgreSQL with real commits and a real second process: `fundpilot pay` is
killed (SIGKILL) in the middle of posting its run — after its payment transactions were
inserted, before its remittances — and the database keeps none of it; the re-run pays
each basis exactly once.

To catch the process midway, a trigger added only here makes the database pause on the
run's first remittance insert; the test waits until the other process's connection is
sleeping there, kills the process, and ends its connection as the server does when a
client is gone.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import date

import pytest
from django.db import connection

from fundpilot.money.actions.payments import run_payments
from fundpilot.money.models import PaymentRun, Transaction
from tests.money.payment_fixtures import MARCH, RUN_AT, blended_world, episode, fund, level

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("committed_db")]


@pytest.fixture
def world(admin, provider, other_provider):
    made = blended_world(admin, provider, other_provider)
    fund(made.pilot, "php", {"care_management": "50000.00", "episodes": "20000.00"})
    level(made, made.b1, "SL1", date(2026, 3, 4))
    level(made, made.b2, "SL2", date(2026, 3, 9))
    episode(made, made.b1, "EP-TRANSITION", date(2026, 3, 12))
    return made


@pytest.fixture
def paused_remittances():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_pause_run() RETURNS trigger AS $$ BEGIN"
            " IF NEW.basis_key LIKE 'remit:%' THEN PERFORM pg_sleep(600); END IF;"
            " RETURN NEW; END; $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER test_pause_run BEFORE INSERT ON money_transaction"
            " FOR EACH ROW EXECUTE FUNCTION test_pause_run()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS test_pause_run ON money_transaction")
        cursor.execute("DROP FUNCTION IF EXISTS test_pause_run()")


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def sleeping_backend() -> int | None:
    """The other process's connection, when it is paused inside the trigger."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event = 'PgSleep'"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_pay_process_killed_midway_keeps_nothing_and_the_rerun_pays_once(
    world, paused_remittances
):
    # given: `fundpilot pay` for March running in its own process, paused midway
    env = {**os.environ, "DATABASE_URL": database_url()}
    command = [sys.executable, "-m", "fundpilot.cli", "pay", "--pilot", world.pilot.slug]
    command += ["--period", "2026-03", "--by", world.finance.username]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    backend = None
    while backend is None and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        backend = sleeping_backend()
    assert backend is not None, process.communicate(timeout=5)
    # when: the process is killed, and its connection ends
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
        while True:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend])
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.1)
        cursor.execute("DROP TRIGGER test_pause_run ON money_transaction")
    # then: nothing of the run was kept
    assert PaymentRun.objects.count() == 0
    assert not Transaction.objects.filter(kind__in=("payment", "remittance")).exists()
    # when: finance runs March again
    result = run_payments(pilot=world.pilot, month=MARCH, by=world.finance, at=RUN_AT)
    # then: every basis is paid once (two PMPM months and the episode)
    keys = list(Transaction.objects.filter(kind="payment").values_list("basis_key", flat=True))
    assert len(keys) == len(set(keys)) == 3
    assert sorted(keys) == sorted(item.basis_key for item in result.paid)
    assert PaymentRun.objects.count() == 1
