"""The shared shape of the monthly jobs' commands: --month YYYY-MM and --node CODE."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from common import jobs
from grid.models import GridNode


class JobCommand(BaseCommand):
    job = None  # a name in common.jobs

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM; by default the job's own month")
        parser.add_argument("--node", help="the code of a street or community to limit the job to")

    def handle(self, *args, month=None, node=None, **options):
        target = None
        if node:
            target = GridNode.objects.filter(code=node).first()
            if target is None:
                raise CommandError(f"No node with code {node!r}.")
        try:
            run = jobs.run(self.job, month=month, node=target, trigger="command")
        except ValidationError as e:
            raise CommandError("; ".join(e.messages))
        self.stdout.write(self.style.SUCCESS(f"{run.job_label} {run.month}: {run.result}"))
