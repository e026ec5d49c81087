"""The shared shape of the monthly jobs' commands: --month YYYY-MM and --node CODE."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from grid.models import GridNode
from patrols import services


class JobCommand(BaseCommand):
    job = None

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
            run = services.job_run(job=self.job, month=month, node=target, trigger="command")
        except ValidationError as e:
            raise CommandError("; ".join(e.messages))
        self.stdout.write(self.style.SUCCESS(f"{run.get_job_display()} {run.month}: {run.result}"))
