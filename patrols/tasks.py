"""The monthly cycle's Celery tasks: thin (load by id, run the registered job through `common.jobs`,
which keeps its JobRun), idempotent, safe to retry. Each also runs as a management command
(`patrol_plans`, `patrol_reports`) and from the admin's job runs."""

from celery import shared_task
from django.core.exceptions import ValidationError

from common import jobs
from grid.models import GridNode

from .models import Job

RETRY = {"autoretry_for": (Exception,), "dont_autoretry_for": (ValidationError, GridNode.DoesNotExist),
         "retry_backoff": 60, "retry_backoff_max": 3600, "max_retries": 5, "retry_jitter": True}


def _run(task, job, month, node_id, trigger):
    node = GridNode.objects.get(pk=node_id) if node_id else None
    run = jobs.run(job, trigger=trigger, attempt=task.request.retries + 1, month=month, node=node)
    return {"run": run.pk, **run.result}


@shared_task(bind=True, **RETRY)
def monthly_plans(self, month=None, node_id=None, trigger="beat"):
    """On the 1st: this month's plans; last month's plans without a record become `missed`."""
    return _run(self, Job.PLANS.value, month, node_id, trigger)


@shared_task(bind=True, **RETRY)
def monthly_reports(self, month=None, node_id=None, trigger="beat"):
    """On the 1st: last month's report of every community and each street's roll-up."""
    return _run(self, Job.REPORTS.value, month, node_id, trigger)
