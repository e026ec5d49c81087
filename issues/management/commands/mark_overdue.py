from django.core.management.base import BaseCommand

from issues.services import issues_mark_overdue


class Command(BaseCommand):
    help = "Give yellow and red cards to overdue issues (what the beat runs every 15 minutes)."

    def handle(self, *args, **options):
        given = issues_mark_overdue()
        self.stdout.write(f"yellow cards: {given['yellow_card']}, red cards: {given['red_card']}")
