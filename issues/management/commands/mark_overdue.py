from django.core.management.base import BaseCommand

from common import jobs


class Command(BaseCommand):
    help = "Give yellow and red cards to overdue issues (what the beat runs every 15 minutes)."

    def handle(self, *args, **options):
        given = jobs.run("issues.mark_overdue", trigger="command").result
        self.stdout.write(f"yellow cards: {given['yellow_card']}, red cards: {given['red_card']}, "
                          f"failed: {given['failed']}")
