"""Celery tasks: thin, idempotent, safe to retry. Each also runs as a management command."""

from celery import shared_task
from django.utils import timezone

from . import notifications, services
from .models import Notification


@shared_task(autoretry_for=(notifications.DeliveryError,), retry_backoff=30, retry_backoff_max=3600,
             max_retries=notifications.MAX_ATTEMPTS, retry_jitter=True)
def send_notification(notification_id):
    notifications.deliver(notification_id)


@shared_task
def flush_outbox():
    """Deliver what is still pending a minute after it was queued (a lost enqueue, a worker restart)."""
    stale = Notification.objects.filter(
        status=Notification.Status.PENDING, created_at__lt=timezone.now() - timezone.timedelta(minutes=1)
    ).values_list("pk", flat=True)[:1000]
    for pk in stale:
        try:
            notifications.deliver(pk)
        except notifications.DeliveryError:
            continue


@shared_task
def mark_overdue():
    return services.issues_mark_overdue()
