"""Database triggers that keep the ledger honest whatever code writes to it.

A transaction's legs are inserted first and its header last (the legs' foreign key is
checked at commit). Inserting the header is refused unless it has at least two legs
summing to zero and its recorded amount is the sum of the debits; a leg for a header
already posted is refused. Installed by the money migrations; the append-only
triggers (no UPDATE, no DELETE) come from `fundpilot.audit.append_only`.
"""

from typing import Any

from django.db import migrations

# One pass over the header's legs (a payment run inserts hundreds of thousands).
# Built from constants only (no input reaches these statements).
_UNBALANCED = (
    "(SELECT COUNT(*) < 2 OR COALESCE(SUM(amount_cents), 0) <> 0"
    " OR COALESCE(SUM(CASE WHEN amount_cents > 0 THEN amount_cents ELSE 0 END), 0)"
    " <> NEW.amount_cents"
    " FROM money_entry WHERE transaction_id = NEW.id)"
)
_UNBALANCED_MESSAGE = "ledger transaction refused: its legs must be two or more and sum to zero"
_POSTED_MESSAGE = "ledger transaction already posted: legs cannot be added"

_SQLITE = [
    f"""CREATE TRIGGER money_transaction_balanced BEFORE INSERT ON money_transaction
    WHEN {_UNBALANCED}
    BEGIN SELECT RAISE(ABORT, '{_UNBALANCED_MESSAGE}'); END;""",
    f"""CREATE TRIGGER money_entry_before_header BEFORE INSERT ON money_entry
    WHEN EXISTS (SELECT 1 FROM money_transaction WHERE id = NEW.transaction_id)
    BEGIN SELECT RAISE(ABORT, '{_POSTED_MESSAGE}'); END;""",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS money_transaction_balanced",
    "DROP TRIGGER IF EXISTS money_entry_before_header",
]

_POSTGRESQL = [
    f"""CREATE OR REPLACE FUNCTION money_transaction_balanced() RETURNS trigger AS $$
    BEGIN
      IF {_UNBALANCED} THEN RAISE EXCEPTION '{_UNBALANCED_MESSAGE}'; END IF;
      RETURN NEW;
    END; $$ LANGUAGE plpgsql;""",
    """CREATE TRIGGER money_transaction_balanced BEFORE INSERT ON money_transaction
    FOR EACH ROW EXECUTE FUNCTION money_transaction_balanced();""",
    f"""CREATE OR REPLACE FUNCTION money_entry_before_header() RETURNS trigger AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM money_transaction WHERE id = NEW.transaction_id) THEN
        RAISE EXCEPTION '{_POSTED_MESSAGE}';
      END IF;
      RETURN NEW;
    END; $$ LANGUAGE plpgsql;""",
    """CREATE TRIGGER money_entry_before_header BEFORE INSERT ON money_entry
    FOR EACH ROW EXECUTE FUNCTION money_entry_before_header();""",
]
_POSTGRESQL_DROP = [
    "DROP FUNCTION IF EXISTS money_transaction_balanced() CASCADE",
    "DROP FUNCTION IF EXISTS money_entry_before_header() CASCADE",
]


def _run(connection: Any, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def install(connection: Any) -> None:
    _run(connection, {"sqlite": _SQLITE, "postgresql": _POSTGRESQL}[connection.vendor])


def remove(connection: Any) -> None:
    _run(connection, {"sqlite": _SQLITE_DROP, "postgresql": _POSTGRESQL_DROP}[connection.vendor])


def _reinstall(connection: Any) -> None:
    remove(connection)
    install(connection)


def reinstalled_ledger() -> migrations.RunPython:
    """A migration operation replacing the balance triggers with the current ones."""
    return migrations.RunPython(
        lambda apps, schema_editor: _reinstall(schema_editor.connection),
        lambda apps, schema_editor: _reinstall(schema_editor.connection),
    )


def balanced_ledger() -> migrations.RunPython:
    """The migration operation installing the balance triggers."""
    return migrations.RunPython(
        lambda apps, schema_editor: install(schema_editor.connection),
        lambda apps, schema_editor: remove(schema_editor.connection),
    )
