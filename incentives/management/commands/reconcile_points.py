from django.core.management.base import BaseCommand, CommandError

from incentives import services


class Command(BaseCommand):
    help = "Prove that every points balance equals the sum of its entries; list and fail on any difference."

    def handle(self, *args, **options):
        differences = services.reconcile_points()
        for d in differences:
            self.stdout.write(f"{d['user']}: balance {d['balance']}, entries {d['entries']}")
        if differences:
            raise CommandError(f"{len(differences)} account(s) differ.")
        self.stdout.write(self.style.SUCCESS("Every balance equals the sum of its entries."))
