"""The ledger's periodic jobs (supervision cards, the outbox sweep) run through common.jobs: every run,
from the beat's task or the command, leaves a JobRun with its result."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from common import jobs
from common.models import JobRun
from issues import services, tasks
from issues.models import Issue, Notification, Supervision
from tests.issues.clock import make_overdue

pytestmark = pytest.mark.django_db


def test_both_jobs_are_registered():
    assert {"issues.mark_overdue", "issues.flush_outbox"} <= set(jobs.JOBS)
    assert jobs.JOBS["issues.mark_overdue"].task == "issues.tasks.mark_overdue"
    assert jobs.JOBS["issues.flush_outbox"].task == "issues.tasks.flush_outbox"


def test_mark_overdue_task_leaves_a_job_run(ledger):
    make_overdue(ledger.handling, days_late=1)
    out = tasks.mark_overdue.delay().get()
    run = JobRun.objects.get(job="issues.mark_overdue")
    assert (run.outcome, run.trigger, run.attempt) == (JobRun.Outcome.OK, "beat", 1)
    assert run.result == {"yellow_card": 1, "red_card": 0, "failed": 0}
    assert out == {"run": run.pk, **run.result}
    assert run.finished_at is not None
    assert Issue.objects.get(pk=ledger.handling.pk).supervision == Supervision.YELLOW


def test_a_failing_card_is_counted_in_the_job_run(ledger, monkeypatch):
    make_overdue(ledger.handling, days_late=1)

    def broken(**kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "issue_transition", broken)
    tasks.mark_overdue.delay()
    run = JobRun.objects.get(job="issues.mark_overdue")
    assert run.outcome == JobRun.Outcome.OK  # the round finished; one issue waits for the next one
    assert run.result == {"yellow_card": 0, "red_card": 0, "failed": 1}


def test_the_command_leaves_a_job_run_too(ledger):
    make_overdue(ledger.handling, days_late=1)
    out = io.StringIO()
    call_command("mark_overdue", stdout=out)
    assert "yellow cards: 1" in out.getvalue()
    assert JobRun.objects.get(job="issues.mark_overdue").trigger == "command"


def test_flush_outbox_task_leaves_a_job_run(settings):
    settings.SMS_GATEWAY_URL = ""
    old = timezone.now() - timezone.timedelta(minutes=5)
    Notification.objects.create(key="console", channel="console", address="someone", text="x", created_at=old)
    Notification.objects.create(key="sms", channel="sms", address="13800000000", text="x", created_at=old)
    Notification.objects.create(key="fresh", channel="console", address="someone", text="x")  # its task will send it
    out = tasks.flush_outbox.delay().get()
    run = JobRun.objects.get(job="issues.flush_outbox")
    assert (run.outcome, run.trigger) == (JobRun.Outcome.OK, "beat")
    assert run.result == {"sent": 1, "retry": 1, "failed": 0}
    assert out["run"] == run.pk
    assert Notification.objects.get(key="fresh").status == Notification.Status.PENDING


def test_a_job_that_fails_leaves_its_error(monkeypatch):
    def down(limit=1000):
        raise ConnectionError("database gone")

    monkeypatch.setitem(jobs.JOBS, "issues.flush_outbox",
                        jobs.JobSpec("issues.flush_outbox", "sweep", down, task="issues.tasks.flush_outbox"))
    with pytest.raises(ConnectionError):
        tasks.flush_outbox.delay()
    run = JobRun.objects.get(job="issues.flush_outbox")
    assert run.outcome == JobRun.Outcome.FAILED and "database gone" in run.error
