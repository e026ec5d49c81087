"""The reconcile job: registered in common.jobs, run by the monthly task and the command, each run
leaving a JobRun with its outcome; a difference in the books fails the run and names the accounts."""

import logging

import pytest
from celery.exceptions import Retry
from django.core.management import CommandError, call_command

from common import jobs
from common.models import JobRun
from incentives import services, tasks
from incentives.models import Account

pytestmark = pytest.mark.django_db

JOB = "incentives.reconcile_points"


def award(user, n=1):
    for i in range(n):
        services.points_award(user=user, rule="patrol_attended", source=f"t:{user.pk}:{i}")


def runs():
    return list(JobRun.objects.filter(job=JOB).order_by("id"))


def test_the_job_is_registered_with_its_task():
    spec = jobs.JOBS[JOB]
    assert spec.task == "incentives.tasks.reconcile_points" and not spec.monthly
    assert JOB in dict(jobs.choices())


def test_the_monthly_task_leaves_a_run(world):
    award(world.a.leader, 2)
    result = tasks.reconcile_points.apply().get()
    (run,) = runs()
    assert result == {"run": run.pk, "differences": 0}
    assert (run.outcome, run.result, run.trigger, run.attempt) == (JobRun.Outcome.OK, {"differences": 0}, "beat", 1)
    assert run.finished_at is not None


def test_a_difference_fails_the_run_names_the_account_and_is_logged(world, caplog):
    award(world.a.leader, 2)
    Account.objects.filter(user=world.a.leader).update(balance=99)
    with caplog.at_level(logging.ERROR, logger="incentives.services"):
        result = tasks.reconcile_points.apply().get()
    assert result == {"differences": 1}
    (run,) = runs()  # not retried: a second run would find the same
    assert run.outcome == JobRun.Outcome.FAILED
    assert "leader_a" in run.error and "balance 99, entries 10" in run.error
    assert any("leader_a" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_a_crash_fails_the_run_and_asks_for_a_retry(world, monkeypatch):
    def crash():
        raise RuntimeError("database gone")

    monkeypatch.setattr(services, "reconcile_points", crash)
    with pytest.raises(Retry):  # eager tasks raise what a worker would act on
        tasks.reconcile_points.apply(throw=True)
    (run,) = runs()
    assert run.outcome == JobRun.Outcome.FAILED and "database gone" in run.error


def test_the_command_runs_the_job_and_fails_on_a_difference(world, capsys):
    award(world.a.leader)
    call_command("reconcile_points")
    assert "Every balance equals" in capsys.readouterr().out
    Account.objects.filter(user=world.a.leader).update(balance=7)
    with pytest.raises(CommandError, match="1 account"):
        call_command("reconcile_points")
    assert "leader_a: balance 7, entries 5" in capsys.readouterr().out
    assert [(r.trigger, r.outcome) for r in runs()] == [("command", JobRun.Outcome.OK), ("command", JobRun.Outcome.FAILED)]
