import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from grid import demo, services
from grid.models import GridNode


class Command(BaseCommand):
    help = "Build the Jinyuan demo street (the reference figures, exactly) and its demo accounts."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="remove the demo street first, then build it again")
        parser.add_argument("--code", default="JY", help="street code (benchmarks build more streets)")
        parser.add_argument("--name", default="晋原街道")

    def handle(self, *args, rebuild, code, name, **options):
        started = time.monotonic()
        existing = GridNode.objects.filter(code=code).first()
        if existing is not None and not rebuild:
            self.stdout.write(f"The street {code} exists already; nothing was changed (use --rebuild to build it anew).")
            self.print_accounts(code)
            return
        if existing is not None and existing.parent_id is not None:
            raise CommandError(f"{code} is not a street.")
        with transaction.atomic():
            if existing is not None:
                services.street_purge(street=existing)
                # The demo's people go too, unless they hold a role in another street.
                get_user_model().objects.filter(username__startswith=f"{code.lower()}_", roles__isnull=True).delete()
            street = demo.build_street(code=code, name=name)
            for step in demo.DEMO_STEPS:
                step(street)
            User = get_user_model()
            if not User.objects.filter(username="admin").exists():
                User.objects.create_superuser("admin", password=demo.DEMO_PASSWORD, name="系统管理员")
        self.stdout.write(self.style.SUCCESS(
            f"Built {street.name} ({code}) in {time.monotonic() - started:.1f} s."
        ))
        self.print_accounts(code)

    def print_accounts(self, code):
        self.stdout.write(f"Demo accounts (password for all: {demo.DEMO_PASSWORD}):")
        for username, what in demo.demo_accounts(code):
            self.stdout.write(f"  {username:<16} {what}")
