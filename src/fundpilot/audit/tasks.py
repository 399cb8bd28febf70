"""Background work of the audit log: periodic signed checkpoints.

The pilot "periodically signs a checkpoint" (ARCHITECTURE.md): each run signs every
chain that grew since its last checkpoint, writes the file payers collect, and
schedules the next run.
"""

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from fundpilot.audit import log
from fundpilot.audit.models import AuditChain
from fundpilot.rules.signing import checkpoint_to_json

DEFAULT_INTERVAL_HOURS = 24


def _folder(chain: str) -> Path:
    return Path(settings.FUNDPILOT_CHECKPOINTS_DIR) / chain.replace(":", "--")


def _last_signed_size(chain: str) -> int:
    sizes = [int(p.stem) for p in _folder(chain).glob("*.json") if p.stem.isdigit()]
    return max(sizes, default=0)


def sign_grown_chains() -> list[Path]:
    """Sign a checkpoint for each chain that grew; return the files written."""
    written = []
    for name, size in AuditChain.objects.order_by("name").values_list("name", "size"):
        if size == 0 or size <= _last_signed_size(name):
            continue
        cp = log.checkpoint(name, at=timezone.now())
        path = _folder(name) / f"{cp.size}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(checkpoint_to_json(cp), encoding="utf-8")
        written.append(path)
    return written


@task()
def sign_checkpoints(interval_hours: int = DEFAULT_INTERVAL_HOURS) -> list[str]:
    """Run by `fundpilot worker`; re-enqueues itself `interval_hours` later."""
    written = sign_grown_chains()
    schedule_checkpoints(interval_hours, delay=timedelta(hours=interval_hours))
    return [str(p) for p in written]


def schedule_checkpoints(interval_hours: int, delay: timedelta = timedelta(0)) -> None:
    sign_checkpoints.using(run_after=timezone.now() + delay).enqueue(interval_hours)
