from django.core.management.base import BaseCommand, CommandError

from grid.checks import tree_faults


class Command(BaseCommand):
    help = "Verify the grid tree (nested-set numbers and invariants); exit non-zero on any fault."

    def handle(self, *args, **options):
        faults = tree_faults()
        for fault in faults:
            self.stderr.write(fault)
        if faults:
            raise CommandError(f"{len(faults)} fault(s) in the grid tree.")
        self.stdout.write(self.style.SUCCESS("The grid tree is consistent."))
