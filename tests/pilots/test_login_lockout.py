"""Login throttling (django-axes): repeated failures lock the account for that address,
the right password is refused during the lock, the lock is audited, and only an
administrator lifts it."""

import pytest
from django.conf import settings
from django.test import Client
from typer.testing import CliRunner

from fundpilot.audit.models import AuditRecord
from fundpilot.cli import app
from fundpilot.pilots.lockouts import lift_lockout
from fundpilot.rules.errors import NotPermitted, Refused
from tests.conftest import NOW, make_person, row_counts

PASSWORD = "a-long-passphrase"


def attempt(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def lock(client: Client, username: str) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, username, "wrong-password-123")


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_failures_below_the_limit_do_not_lock(admin):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "admin", "wrong-password-123").status_code == 200
    assert attempt(client, "admin", PASSWORD).status_code == 302
    assert signed_in(client)


def test_the_right_password_is_refused_during_a_lock(admin):
    client = Client()
    lock(client, "admin")
    response = attempt(client, "admin", PASSWORD)
    assert response.status_code == 429
    assert b"Account locked" in response.content
    assert not signed_in(client)


def test_the_lock_is_audited_once(admin):
    client = Client()
    lock(client, "admin")
    attempt(client, "admin", PASSWORD)
    attempt(client, "admin", "wrong-again-123")
    records = AuditRecord.objects.filter(action="login.locked", subject="user:admin")
    assert records.count() == 1
    assert records.get().payload["failures"] == settings.AXES_FAILURE_LIMIT


def test_another_address_is_not_locked_out(admin):
    lock(Client(REMOTE_ADDR="10.0.0.1"), "admin")
    client = Client(REMOTE_ADDR="10.0.0.2")
    assert attempt(client, "admin", PASSWORD).status_code == 302


def test_an_administrator_lifts_the_lock(admin):
    client = Client()
    lock(client, "admin")
    other_admin = make_person("admin-two", admin.organisation, admin)
    from fundpilot.pilots import actions
    from fundpilot.rules.vocabulary import Role

    actions.grant_role(user=other_admin, role=Role.ADMINISTRATOR, pilot=None, by=admin, at=NOW)
    assert lift_lockout(username="admin", by=other_admin, at=NOW) == 1
    assert AuditRecord.objects.filter(action="login.unlock", subject="user:admin").exists()
    assert attempt(client, "admin", PASSWORD).status_code == 302


def test_lifting_is_refused_to_others_and_for_an_unlocked_account(admin, provider):
    lock(Client(), "admin")
    frontline = make_person("frontline", provider, admin)
    before = row_counts()
    with pytest.raises(NotPermitted):
        lift_lockout(username="admin", by=frontline, at=NOW)
    with pytest.raises(Refused) as refused:
        lift_lockout(username="frontline", by=admin, at=NOW)
    assert refused.value.code == "not_locked"
    assert row_counts() == before


def test_the_cli_lifts_a_lock(admin, provider):
    lock(Client(), "frontline-x")
    make_person("frontline-x", provider, admin)
    result = CliRunner().invoke(app, ["unlock", "frontline-x", "--by", "admin", "--json"])
    assert result.exit_code == 0, result.output
    assert '"locks_lifted": 1' in result.stdout
    again = CliRunner().invoke(app, ["unlock", "frontline-x", "--by", "admin"])
    assert again.exit_code == 2
    assert "not_locked" in again.stderr
