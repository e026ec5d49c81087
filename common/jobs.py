"""The registry of periodic jobs, and the record every run leaves (`JobRun`).

An app registers each job in its `ready()`: `jobs.register("issues.mark_overdue", label, fn)`;
`fn(**kwargs)` does the work and returns a small JSON-able result. `jobs.run(name, …)` runs it,
recording the outcome (ok with its result, or failed with the error, then re-raised) whether it
was started by the beat, a command or the admin."""

import logging
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import JobRun

log = logging.getLogger("common.jobs")


@dataclass
class JobSpec:
    name: str
    label: object
    fn: object
    monthly: bool = False  # takes `month` (and `node`) and defaults to `default_month()`
    default_month: object = None
    task: str = ""  # the Celery task's name, for the admin's run button
    options: dict = field(default_factory=dict)


JOBS = {}


def register(name, label, fn, *, monthly=False, default_month=None, task=""):
    JOBS[name] = JobSpec(name, label, fn, monthly, default_month, task)
    return JOBS[name]


def choices():
    return [(name, spec.label) for name, spec in JOBS.items()]


def monthly_choices():
    return [(name, spec.label) for name, spec in JOBS.items() if spec.monthly]


@contextmanager
def recorded(job, *, month="", node=None, trigger="command", attempt=1):
    """Keep a JobRun for the work done inside the block; set `run.result` there."""
    run = JobRun.objects.create(job=job, month=month or "", node_id=getattr(node, "pk", None),
                                node_name=getattr(node, "name", "")[:100], trigger=str(trigger)[:30], attempt=attempt)
    try:
        yield run
    except Exception as e:
        log.exception("Job %s %s failed (attempt %s)", job, month, attempt)
        run.outcome, run.finished_at = JobRun.Outcome.FAILED, timezone.now()
        run.error = f"{e!r}\n{traceback.format_exc()}"[:5000]
        run.save(update_fields=["outcome", "error", "finished_at", "result"])
        raise
    run.outcome, run.finished_at = JobRun.Outcome.OK, timezone.now()
    run.save(update_fields=["outcome", "result", "finished_at"])


def run(name, *, trigger="command", attempt=1, month=None, node=None, **kwargs):
    """Run a registered job and keep its record; returns the JobRun."""
    spec = JOBS.get(name)
    if spec is None:
        raise ValidationError({"job": ValidationError(_("Unknown job."), code="unknown_job")})
    if spec.monthly:
        from .periods import parse_month

        month = month or spec.default_month()
        parse_month(month)
        kwargs.update(month=month, node=node)
    with recorded(name, month=month or "", node=node, trigger=trigger, attempt=attempt) as job_run:
        job_run.result = spec.fn(**kwargs) or {}
    return job_run


def last_runs(queryset=None):
    """The last run of each registered job (from `queryset`, for scope), in registry order."""
    qs = queryset if queryset is not None else JobRun.objects.all()
    out = []
    for name, spec in JOBS.items():
        out.append({"job": name, "label": spec.label, "run": qs.filter(job=name).order_by("-started_at", "-id").first()})
    return out


def place_picker(name, fn):
    """How the admin's run form reads the place typed for job `name`: `fn(user, code)` returns the node
    to run it for (None: every place, for an administrator) or raises a ValidationError on `node`. The
    job's app registers it, since it knows the tree and common does not."""
    JOBS[name].options["place"] = fn
    return JOBS[name]
