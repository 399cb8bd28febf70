"""Standing fixtures: an installation with an administrator, one pilot from the
examples, and people of the owner organisation, another organisation and outside."""

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Model

from fundpilot.audit import append_only
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, RulebookVersion, User
from fundpilot.rules.vocabulary import OrgKind, Role

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests skip on SQLite with a reason (the PostgreSQL pass runs them)."""
    on_postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL: runs in the PostgreSQL pass")
            )


@pytest.fixture
def admin(db: None) -> User:
    office = actions.create_organisation(
        code="office", name="Pilot Office", kind=OrgKind.PILOT_OFFICE, by=None, at=NOW
    )
    user = actions.create_user(
        username="admin",
        organisation=office,
        password="a-long-passphrase",
        full_name="Avery Admin",
        by=None,
        at=NOW,
    )
    actions.grant_role(user=user, role=Role.ADMINISTRATOR, pilot=None, by=None, at=NOW)
    return User.objects.get(pk=user.pk)


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.toml").read_text()


@pytest.fixture
def pilot(admin: User) -> Pilot:
    return actions.create_pilot(document=example("functional-recovery"), by=admin, at=NOW)


def make_person(
    username: str,
    org: Organisation,
    admin: User,
    role: Role | None = None,
    pilot: Pilot | None = None,
) -> User:
    user = actions.create_user(
        username=username, organisation=org, password="a-long-passphrase", by=admin, at=NOW
    )
    if role is not None:
        actions.grant_role(user=user, role=role, pilot=pilot, by=admin, at=NOW)
    return User.objects.get(pk=user.pk)


def second_admin(admin: User) -> User:
    """Another administrator of the first one's office: the second person a rulebook
    amendment needs (made once per test database)."""
    found = User.objects.filter(username="admin2").first()
    return found or make_person("admin2", admin.organisation, admin, Role.ADMINISTRATOR)


@pytest.fixture
def admin2(admin: User) -> User:
    return second_admin(admin)


def amend(
    pilot: Pilot, document: str, reason: str, *, by: User, approver: User, at: datetime = NOW
) -> RulebookVersion:
    """Amend a rulebook as people do: `by` proposes, `approver` approves."""
    proposal = actions.propose_rulebook(pilot=pilot, document=document, reason=reason, by=by, at=at)
    version = actions.approve_rulebook(proposal=proposal, by=approver, at=at).version
    assert version is not None
    return version


def organisation(code: str, kind: OrgKind, admin: User) -> Organisation:
    return actions.create_organisation(code=code, name=code.title(), kind=kind, by=admin, at=NOW)


@pytest.fixture
def provider(admin: User) -> Organisation:
    return organisation("riverside", OrgKind.PROVIDER, admin)


@pytest.fixture
def other_provider(admin: User) -> Organisation:
    return organisation("northstar", OrgKind.PROVIDER, admin)


@pytest.fixture
def outsider(admin: User, other_provider: Organisation) -> User:
    """Signed in, but holding no role in any pilot."""
    return make_person("outsider", other_provider, admin)


@pytest.fixture
def _restore_append_only(django_db_blocker: pytest.FixtureRequest) -> Iterator[None]:
    yield
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        append_only.install_all(connection)


@pytest.fixture
def committed_db(_restore_append_only: None, transactional_db: None) -> Iterator[None]:
    """Real commits (for threads). The append-only triggers would refuse the test
    database's flush afterwards, so they are lifted for it and put back after."""
    yield
    append_only.remove_all(connection)


def row_counts(*modules: object) -> dict[str, int]:
    """Row counts of every model defined in `modules`, the notifications and the audit
    log: a refused action leaves them unchanged."""
    from fundpilot.audit.models import AuditRecord
    from fundpilot.participants.models import Notification

    counts = {
        m.__name__: m.objects.count()
        for module in modules
        for m in vars(module).values()
        if isinstance(m, type) and issubclass(m, Model) and m.__module__ == module.__name__
    }
    return counts | {
        "Notification": Notification.objects.count(),
        "AuditRecord": AuditRecord.objects.count(),
    }
