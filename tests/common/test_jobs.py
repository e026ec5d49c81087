"""The job registry (common/jobs.py): a registered job run through `jobs.run` leaves a JobRun with its
outcome, on success and on failure, whoever starts it; a monthly job gets its default month."""

import logging

import pytest
from django.core.exceptions import ValidationError

from common import jobs
from common.models import JobRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered(monkeypatch):
    """A fresh registry holding the jobs each test registers (the apps' own are put back afterwards)."""
    monkeypatch.setattr(jobs, "JOBS", {})
    return jobs.JOBS


class Place:
    pk, name = 42, "社区A"


def test_a_job_that_succeeds_leaves_its_run_with_the_result(registered):
    calls = []
    jobs.register("test.sweep", "sweep", lambda **kw: calls.append(kw) or {"swept": 3})
    run = jobs.run("test.sweep", trigger="beat", attempt=2)
    assert calls == [{}]
    run = JobRun.objects.get(pk=run.pk)
    assert (run.job, run.outcome, run.result, run.error, run.trigger, run.attempt) == (
        "test.sweep", JobRun.Outcome.OK, {"swept": 3}, "", "beat", 2)
    assert run.month == "" and run.node_id is None and run.finished_at >= run.started_at
    assert run.job_label == "sweep"


def test_a_job_that_fails_leaves_a_failed_run_and_raises(registered, caplog):
    def boom(**kw):
        raise RuntimeError("disk full")

    jobs.register("test.boom", "boom", boom)
    with caplog.at_level(logging.ERROR, logger="common.jobs"), pytest.raises(RuntimeError, match="disk full"):
        jobs.run("test.boom", trigger="command")
    run = JobRun.objects.get()
    assert (run.job, run.outcome, run.trigger) == ("test.boom", JobRun.Outcome.FAILED, "command")
    assert "RuntimeError('disk full')" in run.error and "Traceback" in run.error
    assert run.finished_at is not None
    assert any("failed (attempt 1)" in r.getMessage() for r in caplog.records if r.name == "common.jobs")


def test_a_monthly_job_takes_its_default_month_and_its_place(registered):
    seen = []
    jobs.register("test.monthly", "monthly", lambda **kw: seen.append(kw) or {}, monthly=True,
                  default_month=lambda: "2026-09")
    run = jobs.run("test.monthly", node=Place())
    assert seen == [{"month": "2026-09", "node": seen[0]["node"]}] and seen[0]["node"].pk == 42
    assert (run.month, run.node_id, run.node_name) == ("2026-09", 42, "社区A")
    jobs.run("test.monthly", month="2026-11")
    assert seen[-1]["month"] == "2026-11"


@pytest.mark.parametrize("month", ["2026-13", "0000-01", "9999-12", "September", "\x00"])
def test_a_bad_month_or_an_unknown_job_runs_nothing(registered, month):
    jobs.register("test.monthly", "monthly", lambda **kw: pytest.fail("ran"), monthly=True,
                  default_month=lambda: "2026-09")
    with pytest.raises(ValidationError) as e:
        jobs.run("test.monthly", month=month)
    assert e.value.error_dict["month"][0].code == "invalid_month"
    with pytest.raises(ValidationError) as e:
        jobs.run("test.nothing")
    assert e.value.error_dict["job"][0].code == "unknown_job"
    assert not JobRun.objects.exists()


def test_the_patrols_register_their_monthly_jobs():
    from patrols import tasks
    from patrols.selectors import job_place

    plans, reports = jobs.JOBS["patrols.plans"], jobs.JOBS["patrols.reports"]
    assert plans.monthly and reports.monthly
    assert (plans.task, reports.task) == (tasks.monthly_plans.name, tasks.monthly_reports.name)
    assert plans.options["place"] is job_place and reports.options["place"] is job_place
    assert ("patrols.plans", plans.label) in jobs.choices()
