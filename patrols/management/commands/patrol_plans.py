from patrols.models import Job

from ._job import JobCommand


class Command(JobCommand):
    help = "Create a month's patrol plans (default: this month) and mark earlier plans without a record missed."
    job = Job.PLANS.value
