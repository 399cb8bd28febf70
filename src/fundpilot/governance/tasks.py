"""Background work of governance: C19 findings are escalated automatically when their
deadline passes. `fundpilot worker` schedules the task; each run escalates what is
overdue (once per finding) and schedules the next run."""

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from fundpilot.governance.actions.assurance import escalate_overdue_findings

DEFAULT_INTERVAL_HOURS = 1


@task()
def escalate_findings(interval_hours: int = DEFAULT_INTERVAL_HOURS) -> list[int]:
    """Run by `fundpilot worker`; re-enqueues itself `interval_hours` later."""
    escalated = escalate_overdue_findings(at=timezone.now())
    schedule_escalation(interval_hours, delay=timedelta(hours=interval_hours))
    return [f.pk for f in escalated]


def schedule_escalation(interval_hours: int, delay: timedelta = timedelta(0)) -> None:
    escalate_findings.using(run_after=timezone.now() + delay).enqueue(interval_hours)
