from django.core.management.base import BaseCommand

from issues import notifications
from issues.models import Notification


class Command(BaseCommand):
    help = "Deliver every pending message of the outbox now."

    def handle(self, *args, **options):
        sent = failed = 0
        for pk in Notification.objects.filter(status=Notification.Status.PENDING).values_list("pk", flat=True):
            try:
                n = notifications.deliver(pk)
            except notifications.DeliveryError:
                failed += 1
                continue
            sent += n is not None and n.status == Notification.Status.SENT
        self.stdout.write(f"sent: {sent}, to retry: {failed}")
