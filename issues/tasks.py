"""Celery tasks: thin, idempotent, safe to retry. Each also runs as a management command.

The periodic ones run through `common.jobs`, so every run leaves a JobRun row with its result."""

from celery import shared_task

from common import jobs

from . import notifications


@shared_task(autoretry_for=(notifications.DeliveryError,), retry_backoff=30, retry_backoff_max=3600,
             max_retries=notifications.MAX_ATTEMPTS, retry_jitter=False)  # in step with Notification.next_attempt_at
def send_notification(notification_id):
    notifications.deliver(notification_id)


@shared_task(bind=True)
def flush_outbox(self, trigger="beat"):
    """Deliver what is still pending a minute after it was queued (a lost enqueue, a worker restart)
    and failed messages whose back-off has passed."""
    run = jobs.run("issues.flush_outbox", trigger=trigger, attempt=self.request.retries + 1)
    return {"run": run.pk, **run.result}


@shared_task(bind=True)
def mark_overdue(self, trigger="beat"):
    """Yellow and red cards for overdue issues (every 15 minutes)."""
    run = jobs.run("issues.mark_overdue", trigger=trigger, attempt=self.request.retries + 1)
    return {"run": run.pk, **run.result}
