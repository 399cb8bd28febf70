"""Import a payer eligibility register of 1,000,000 rows and print how fast it went.

    uv run python -m bench import_register [--rows N] [--seed S] [--keep]

The register is generated deterministically from the seed into a temporary folder.
The database is fresh: SQLite in a temporary FUNDPILOT_HOME by default; with
DATABASE_URL=postgres://… a new schema in that database, dropped afterwards. The
recovery-2026 example pilot is created with an administrator through the real
actions, and the register is imported as one `import_eligibility` action, then
imported again (which must change nothing). Target: 1,000,000 rows in under 30 s
on SQLite.
"""

import argparse
import csv
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAYER = "wvch"
STATUSES = ["active"] * 80 + ["inactive"] * 12 + ["terminated"] * 8
PLANS = ["OHP-PLUS", "OHP-BASIC", "CAWEM", "QMB"]
FIRST_START = date(2023, 1, 1)
SPAN_DAYS = (date(2026, 12, 31) - FIRST_START).days


def generate(path: Path, rows: int, seed: int) -> None:
    """A payer's register: one coverage period per row, in the payer's own column order
    with an extra column, member IDs in no particular order; about a third open-ended."""
    rng = random.Random(seed)
    members = rng.sample(range(10**8, 10**9), rows)
    with path.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file, lineterminator="\n")
        out.writerow(["member_id", "plan", "payer", "coverage_start", "coverage_end", "status"])
        for member in members:
            start = FIRST_START + timedelta(days=rng.randrange(SPAN_DAYS))
            end = "" if rng.random() < 0.33 else start + timedelta(days=rng.randrange(30, 731))
            out.writerow(
                [f"WV{member}", rng.choice(PLANS), PAYER, start, end, rng.choice(STATUSES)]
            )


def fresh_database(home: Path) -> str:
    """Point Django at a fresh database and return a description of it."""
    os.environ["FUNDPILOT_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "fundpilot.settings"
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return f"SQLite in {home}"
    import psycopg
    from django.conf import settings

    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    # Before django.setup(): the connection opens with the new schema first in its path.
    settings.DATABASES["default"].setdefault("OPTIONS", {})["options"] = f"-c search_path={schema}"
    os.environ["FUNDPILOT_BENCH_SCHEMA"] = schema
    return f"PostgreSQL {url.rsplit('@', 1)[-1]}, schema {schema}"


def drop_schema() -> None:
    schema = os.environ.get("FUNDPILOT_BENCH_SCHEMA")
    if schema:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def load_pilot() -> tuple[Any, Any]:
    """The recovery-2026 example pilot and its administrator, through the real actions."""
    from fundpilot.pilots import actions
    from fundpilot.rules.vocabulary import OrgKind, Role

    at = datetime.now(UTC)
    office = actions.create_organisation(
        code="pilot-office", name="Pilot Office", kind=OrgKind.PILOT_OFFICE, by=None, at=at
    )
    admin = actions.create_user(
        username="admin", organisation=office, password="bench-passphrase-2026", by=None, at=at
    )
    actions.grant_role(user=admin, role=Role.ADMINISTRATOR, pilot=None, by=None, at=at)
    document = (ROOT / "examples" / "functional-recovery.toml").read_text()
    return actions.create_pilot(document=document, by=admin, at=at), admin


class Phases:
    """Times the validation and insertion halves from the action's progress reports."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.validated: float | None = None
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.validated is None and total and done * 2 >= total:
            self.validated = now - self.start
        if sys.stdout.isatty() and (now - self.last >= 1 or done == total):
            self.last = now
            print(f"  {done:>9,} / {total:,}", end="\r", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench import_register")
    parser.add_argument("--rows", type=int, default=1_000_000, help="register rows (1,000,000)")
    parser.add_argument("--seed", type=int, default=2026, help="generator seed (2026)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="fundpilot-bench-"))
    try:
        register = tmp / "register.csv"
        started = time.perf_counter()
        generate(register, args.rows, args.seed)
        content = register.read_bytes()
        print(
            f"generated {args.rows:,} rows ({len(content) / 1e6:.1f} MB) in"
            f" {time.perf_counter() - started:.1f} s (seed {args.seed})"
        )
        where = fresh_database(tmp / "home")
        from fundpilot.cli_kit import setup_django

        setup_django()
        pilot, admin = load_pilot()
        print(f"database: {where}")

        from fundpilot.participants.imports import import_eligibility
        from fundpilot.participants.models import EligibilityEntry

        phases = Phases()
        started = time.perf_counter()
        result = import_eligibility(
            pilot=pilot,
            payer_id=PAYER,
            filename=register.name,
            content=content,
            by=admin,
            at=datetime.now(UTC),
            progress=phases,
        )
        seconds = time.perf_counter() - started
        if sys.stdout.isatty():
            print(" " * 40, end="\r")
        stored = EligibilityEntry.objects.filter(batch=result.batch).count()
        assert stored == result.rows == args.rows, (stored, result.rows)
        validated = phases.validated or 0.0
        print(
            f"import_eligibility: {result.rows:,} rows in {seconds:.2f} s ="
            f" {result.rows / seconds:,.0f} rows/s"
            f" (read and validate {validated:.2f} s, store {seconds - validated:.2f} s)"
        )
        started = time.perf_counter()
        again = import_eligibility(
            pilot=pilot,
            payer_id=PAYER,
            filename=register.name,
            content=content,
            by=admin,
            at=datetime.now(UTC),
        )
        assert again.already_imported and again.batch == result.batch
        print(f"import again (no change): {time.perf_counter() - started:.3f} s")
    finally:
        drop_schema()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
