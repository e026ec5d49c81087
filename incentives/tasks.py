"""Celery tasks of the incentives app: thin, idempotent, safe to retry. Each run leaves a JobRun."""

from celery import shared_task

from common import jobs

from . import services


@shared_task(bind=True, autoretry_for=(Exception,), retry_backoff=60, max_retries=3)
def reconcile_points(self, trigger="beat"):
    """Monthly proof that every balance equals the sum of its entries. A difference fails the run
    (logged, and named in its JobRun) but is not retried: running again would find the same."""
    try:
        run = jobs.run(services.RECONCILE_JOB, trigger=trigger, attempt=self.request.retries + 1)
    except services.BooksDiffer as e:
        return {"differences": len(e.differences)}
    return {"run": run.pk, **run.result}
