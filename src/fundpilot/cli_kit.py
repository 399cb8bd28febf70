"""What every `fundpilot` command shares: output, errors, options, Django set-up,
looking up the acting user and pilot, and asking the permission policy."""

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from fundpilot.rules.errors import Refused

out = Console()
err = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
ByOpt = Annotated[
    str,
    typer.Option(
        "--by", envvar="FUNDPILOT_USER", help="Who acts (username); or set FUNDPILOT_USER."
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def emit(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def setup_django(home: Path | None = None) -> None:
    """Configure Django and bring the database schema up to date."""
    if home is not None:
        os.environ["FUNDPILOT_HOME"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fundpilot.settings")
    import django
    from django.apps import apps
    from django.core.management import call_command

    if apps.ready:  # already configured by the caller (tests run commands in-process)
        return
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def user_named(username: str) -> Any:
    from fundpilot.pilots.models import User

    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        fail(f"no active user '{username}'")
    return user


def pilot_named(slug: str) -> Any:
    from fundpilot.pilots.models import Pilot

    pilot = Pilot.objects.filter(slug=slug).first()
    if pilot is None:
        fail(f"no pilot '{slug}'")
    return pilot


def refused(exc: Refused) -> NoReturn:
    where = f" [{exc.field}]" if exc.field else ""
    fail(f"{exc.code}: {exc.message}{where}")


def read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")


def require(user: Any, perm: str, pilot: Any) -> None:
    from fundpilot.pilots import policy

    try:
        policy.require(user, perm, pilot)
    except Refused as exc:
        refused(exc)


PilotOpt = Annotated[str, typer.Option("--pilot", help="The pilot's id.")]


def progress(label: str, unit: str = "") -> Any:
    """A progress bar on stderr (stdout stays clean for --json): done/total `unit`, or a
    percentage without a unit (an import counts each row twice: checked, then stored)."""
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TimeElapsedColumn,
    )

    count = [MofNCompleteColumn(), unit] if unit else [TaskProgressColumn()]
    return Progress(escape(label), BarColumn(), *count, TimeElapsedColumn(), console=err)
