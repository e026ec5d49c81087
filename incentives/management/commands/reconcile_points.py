from django.core.management.base import BaseCommand, CommandError

from common import jobs
from incentives import services


class Command(BaseCommand):
    help = "Prove that every points balance equals the sum of its entries; list and fail on any difference."

    def handle(self, *args, **options):
        try:
            jobs.run(services.RECONCILE_JOB, trigger="command")
        except services.BooksDiffer as e:
            for d in e.differences:
                self.stdout.write(f"{d['user']}: balance {d['balance']}, entries {d['entries']}")
            raise CommandError(f"{len(e.differences)} account(s) differ.") from None
        self.stdout.write(self.style.SUCCESS("Every balance equals the sum of its entries."))
