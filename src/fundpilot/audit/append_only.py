"""Database triggers that make a table append-only, on SQLite and PostgreSQL alike.

Installed by migrations; a table joins TABLES in the same commit as its migration.
"""

from typing import Any

from django.db import migrations

TABLES = ["audit_auditrecord", "pilots_rulebookversion", "money_transaction", "money_entry"]


def _sqlite_drop(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for op in ("update", "delete")]


def _postgresql_drop(table: str) -> list[str]:
    return [f"DROP FUNCTION IF EXISTS {table}_append_only() CASCADE"]


def _sqlite(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;"
        for op in ("UPDATE", "DELETE")
    ]


def _postgresql(table: str) -> list[str]:
    return [
        f"""CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END;
        $$ LANGUAGE plpgsql;""",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only();",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();",
    ]


def _run(connection: Any, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def install(connection: Any, table: str) -> None:
    _run(connection, {"sqlite": _sqlite, "postgresql": _postgresql}[connection.vendor](table))


def remove(connection: Any, table: str) -> None:
    """Lift the triggers (tests' flush and deliberate-tampering tests only)."""
    drop = {"sqlite": _sqlite_drop, "postgresql": _postgresql_drop}[connection.vendor]
    _run(connection, drop(table))


def install_all(connection: Any) -> None:
    for table in TABLES:
        remove(connection, table)
        install(connection, table)


def remove_all(connection: Any) -> None:
    for table in TABLES:
        remove(connection, table)


def append_only(table: str) -> migrations.RunPython:
    """A migration operation installing the triggers for the connection's vendor."""

    def forwards(apps: object, schema_editor: Any) -> None:
        install(schema_editor.connection, table)

    return migrations.RunPython(
        forwards, lambda apps, schema_editor: remove(schema_editor.connection, table)
    )
