"""The monthly cycle's Celery tasks: thin (load by id, call a service), idempotent, safe to retry.
Each also runs as a management command (`patrol_plans`, `patrol_reports`)."""

from celery import shared_task
from django.core.exceptions import ValidationError

from grid.models import GridNode

from . import services
from .models import Job

RETRY = {"autoretry_for": (Exception,), "dont_autoretry_for": (ValidationError, GridNode.DoesNotExist),
         "retry_backoff": 60, "retry_backoff_max": 3600, "max_retries": 5, "retry_jitter": True}


def _run(task, job, month, node_id, trigger):
    node = GridNode.objects.get(pk=node_id) if node_id else None
    run = services.job_run(job=job, month=month, node=node, trigger=trigger, attempt=task.request.retries + 1)
    return {"run": run.pk, **run.result}


@shared_task(bind=True, **RETRY)
def monthly_plans(self, month=None, node_id=None, trigger="beat"):
    """On the 1st: this month's plans; last month's plans without a record become `missed`."""
    return _run(self, Job.PLANS, month, node_id, trigger)


@shared_task(bind=True, **RETRY)
def monthly_reports(self, month=None, node_id=None, trigger="beat"):
    """On the 1st: last month's report of every community and each street's roll-up."""
    return _run(self, Job.REPORTS, month, node_id, trigger)


TASKS = {Job.PLANS: monthly_plans, Job.REPORTS: monthly_reports}
