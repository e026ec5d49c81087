from patrols.models import Job

from ._job import JobCommand


class Command(JobCommand):
    help = "Generate a month's reports (default: last month) for every community and each street's roll-up."
    job = Job.REPORTS.value
