"""Celery tasks: thin, idempotent, safe to retry. Each also runs as a management command."""

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from . import notifications, services
from .models import Notification


@shared_task(autoretry_for=(notifications.DeliveryError,), retry_backoff=30, retry_backoff_max=3600,
             max_retries=notifications.MAX_ATTEMPTS, retry_jitter=False)  # in step with Notification.next_attempt_at
def send_notification(notification_id):
    notifications.deliver(notification_id)


@shared_task
def flush_outbox():
    """Deliver what is still pending a minute after it was queued (a lost enqueue, a worker restart)
    and failed messages whose back-off has passed."""
    now = timezone.now()
    stale = Notification.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        status=Notification.Status.PENDING, created_at__lt=now - timezone.timedelta(minutes=1),
    ).values_list("pk", flat=True)[:1000]
    for pk in stale:
        try:
            notifications.deliver(pk)
        except notifications.DeliveryError:
            continue


@shared_task
def mark_overdue():
    return services.issues_mark_overdue()
