"""Simulate 10,000 participants over 12 months through the real actions; print how fast.

    uv run python -m bench simulate [--participants N] [--months M] [--seed S]
                                    [--pilot recovery-2026|blended-2026] [--keep]

The database is fresh (SQLite in a temporary FUNDPILOT_HOME, or with
DATABASE_URL=postgres://… a new schema dropped afterwards) and holds the demo
installation without its history: the example pilots, their parties and one person
per role. The history then runs up to the end of the pilot period (31 December 2026),
so 12 months are the whole of 2026. Every step is a real action with its audit record;
when every lead is at caseload capacity the simulator hires coordinators through the
real actions too. Printed: audited actions per second, rows written per second, and
the total time.
"""

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.import_register import drop_schema, fresh_database


def rows_written() -> int:
    """Rows in the participant tables and the audit log."""
    from django.apps import apps

    from fundpilot.audit.models import AuditRecord

    tables = apps.get_app_config("participants").get_models()
    return sum(model.objects.count() for model in tables) + AuditRecord.objects.count()


class Report:
    """Prints the simulated day now and then (on a terminal only)."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if sys.stdout.isatty() and (now - self.last >= 2 or done == total):
            self.last = now
            print(f"  day {done:>3} / {total}  {now - self.started:7.0f} s", end="\r", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench simulate")
    parser.add_argument("--participants", type=int, default=10_000, help="referrals (10,000)")
    parser.add_argument("--months", type=int, default=12, help="months of history (12)")
    parser.add_argument("--seed", type=int, default=2026, help="simulation seed (2026)")
    parser.add_argument("--pilot", default="recovery-2026", help="recovery-2026 or blended-2026")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="fundpilot-bench-"))
    try:
        where = fresh_database(tmp / "home")
        from fundpilot.cli_kit import setup_django

        setup_django()
        from fundpilot import demo
        from fundpilot.participants.simulate import simulate
        from fundpilot.pilots.models import Pilot

        started = time.perf_counter()
        demo.load(history=False)
        pilot = Pilot.objects.get(slug=args.pilot)
        print(f"database: {where}; demo people loaded in {time.perf_counter() - started:.1f} s")
        before = rows_written()
        end = pilot.rulebook.pilot.period_end
        until = datetime(end.year, end.month, end.day, 23, 0, tzinfo=UTC)
        result = simulate(
            pilot=pilot,
            participants=args.participants,
            months=args.months,
            seed=args.seed,
            until=until,
            progress=Report(),
        )
        if sys.stdout.isatty():
            print(" " * 40, end="\r")
        rows = rows_written() - before
        print(
            f"simulate {args.pilot}: {result.participants:,} referrals,"
            f" {result.start:%Y-%m-%d} to {result.until:%Y-%m-%d} (seed {args.seed})"
        )
        print(
            f"  {result.actions:,} audited actions in {result.seconds:.1f} s ="
            f" {result.rate:,.0f} actions/s; {rows:,} rows written ="
            f" {rows / result.seconds:,.0f} rows/s; {result.hired} coordinators hired"
        )
        for action, count in result.by_action.items():
            print(f"    {action:<24} {count:>9,}")
    finally:
        drop_schema()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
