"""The monthly jobs as Celery tasks (inline, as in the embedded mode) and as management commands:
idempotence, `missed`, the default months, retries with their job runs (common's JobRun, through the
job registry `common.jobs`), and the beat schedule."""

import datetime
import io
import logging
import zoneinfo

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from common import jobs
from common.models import JobRun
from grid.models import GridNode
from patrols import services, tasks
from patrols.models import Job, MonthlyReport, PatrolPlan, PlanState
from tests.factories import checklist, scenario
from tests.support import shared_fixture

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
MONTH, NEXT = "2026-09", "2026-10"  # past months: a patrol may be recorded in them
PLANS_PER_MONTH = 4  # `world`: the monthly patrol at 2 compounds, the care visit at 2 communities
REPORTS_PER_MONTH = 3  # `world`: 2 communities and the street's roll-up


@shared_fixture
def scenarios(world):
    """The two shipped scenarios (a flushing test elsewhere may have removed the migration's rows)."""
    monthly = scenario()
    care = scenario("care_visit", levels=(2,), categories=("errand",), items=(("生活状况", "居住环境安全"),))
    assert sorted(monthly.levels + care.levels) == [2, 3]
    return world


def runs(job, month):
    return list(JobRun.objects.filter(job=job, month=month).order_by("id"))


def patch_job(monkeypatch, job, fn):
    """The registered job's work replaced (the registry keeps the function, not its name)."""
    monkeypatch.setattr(jobs.JOBS[job], "fn", fn)


def flaky(real, error, times=1):
    """`real`, failing with `error` on its first `times` calls; the calls are counted in `.calls`."""
    def call(**kw):
        call.calls += 1
        if call.calls <= times:
            raise error
        return real(**kw)
    call.calls = 0
    return call


@pytest.fixture
def retrying():
    """Inline tasks that retry the way a worker does. With `task_eager_propagates` (the embedded mode's
    setting) Celery raises the Retry to the caller instead of running the next attempt; without it,
    `apply()` runs the attempts one after another (the backoff countdown is skipped)."""
    from config.celery import app

    old, app.conf.task_eager_propagates = app.conf.task_eager_propagates, False
    yield app
    app.conf.task_eager_propagates = old


@pytest.fixture
def frozen(monkeypatch):
    """Shanghai's clock at 00:05 on 1 March 2026, when beat fires the plans job; in UTC it is still
    28 February, so a job reading the UTC date would pick the wrong months."""
    moment = datetime.datetime(2026, 3, 1, 0, 5, tzinfo=SHANGHAI)
    monkeypatch.setattr(timezone, "now", lambda: moment.astimezone(datetime.timezone.utc))
    assert timezone.now().date() == datetime.date(2026, 2, 28)
    return moment


# --- the plans job ------------------------------------------------------------------------------


def test_plans_job_twice_creates_the_plans_once(scenarios):
    first = tasks.monthly_plans.apply(kwargs={"month": MONTH})
    assert first.successful()
    plans = set(PatrolPlan.objects.filter(period=MONTH).values_list("id", flat=True))
    assert len(plans) == PLANS_PER_MONTH
    assert first.result["created"] == PLANS_PER_MONTH and first.result["missed"] == 0

    second = tasks.monthly_plans.delay(month=MONTH)
    assert second.successful()
    assert second.result["created"] == 0 and second.result["missed"] == 0
    assert set(PatrolPlan.objects.values_list("id", flat=True)) == plans
    assert set(PatrolPlan.objects.values_list("state", flat=True)) == {PlanState.PLANNED}

    one, two = runs(Job.PLANS, MONTH)
    assert (one.outcome, two.outcome) == (JobRun.Outcome.OK, JobRun.Outcome.OK)
    assert one.result == {"month": MONTH, "created": PLANS_PER_MONTH, "missed": 0}
    assert two.result == {"month": MONTH, "created": 0, "missed": 0}
    assert first.result["run"] == one.pk and second.result["run"] == two.pk
    assert one.trigger == "beat" and one.attempt == 1 and one.error == ""
    assert one.finished_at is not None and one.finished_at >= one.started_at


def test_plans_of_every_scenario_and_node(scenarios):
    tasks.monthly_plans.apply(kwargs={"month": MONTH})
    w = scenarios
    got = set(PatrolPlan.objects.filter(period=MONTH).values_list("scenario__code", "node__code"))
    assert got == {("monthly_joint_patrol", w.a.compound.code), ("monthly_joint_patrol", w.b.compound.code),
                   ("care_visit", w.a.community.code), ("care_visit", w.b.community.code)}


def test_last_months_plans_without_a_record_become_missed(scenarios):
    w = scenarios
    tasks.monthly_plans.apply(kwargs={"month": MONTH})
    done = PatrolPlan.objects.get(period=MONTH, node=w.a.compound)
    services.patrol_record(actor=w.a.secretary, plan_id=done.pk, date=datetime.date(2026, 9, 15),
                           items=checklist(done))

    result = tasks.monthly_plans.apply(kwargs={"month": NEXT}).result
    assert result["created"] == PLANS_PER_MONTH and result["missed"] == PLANS_PER_MONTH - 1
    states = dict(PatrolPlan.objects.filter(period=MONTH).values_list("node__code", "state"))
    assert states == {w.a.compound.code: PlanState.DONE, w.b.compound.code: PlanState.MISSED,
                      w.a.community.code: PlanState.MISSED, w.b.community.code: PlanState.MISSED}
    assert set(PatrolPlan.objects.filter(period=NEXT).values_list("state", flat=True)) == {PlanState.PLANNED}

    again = tasks.monthly_plans.apply(kwargs={"month": NEXT}).result
    assert again["created"] == 0 and again["missed"] == 0
    assert PatrolPlan.objects.filter(state=PlanState.MISSED).count() == PLANS_PER_MONTH - 1


# --- the reports job ----------------------------------------------------------------------------


def test_reports_job_twice_replaces_the_reports(scenarios):
    w = scenarios
    first = tasks.monthly_reports.apply(kwargs={"month": MONTH})
    assert first.successful() and first.result["reports"] == REPORTS_PER_MONTH
    before = {r.pk: r.generated_at for r in MonthlyReport.objects.filter(month=MONTH)}
    assert set(MonthlyReport.objects.values_list("node__code", flat=True)) == {
        w.street.code, w.a.community.code, w.b.community.code}

    second = tasks.monthly_reports.delay(month=MONTH)
    assert second.successful() and second.result["reports"] == REPORTS_PER_MONTH
    after = {r.pk: r.generated_at for r in MonthlyReport.objects.all()}
    assert after.keys() == before.keys()  # the same rows, replaced, not duplicated
    assert all(after[pk] > before[pk] for pk in before)

    one, two = runs(Job.REPORTS, MONTH)
    assert one.outcome == two.outcome == JobRun.Outcome.OK
    assert one.result == two.result == {"month": MONTH, "reports": REPORTS_PER_MONTH}
    assert (first.result["run"], second.result["run"]) == (one.pk, two.pk)


# --- the default months, read in Shanghai ---------------------------------------------------------


def test_default_months_plans_this_month_reports_last_month(scenarios, frozen):
    assert tasks.monthly_plans.apply().result["month"] == "2026-03"
    assert tasks.monthly_reports.apply().result["month"] == "2026-02"
    assert set(PatrolPlan.objects.values_list("period", flat=True)) == {"2026-03"}
    assert set(MonthlyReport.objects.values_list("month", flat=True)) == {"2026-02"}
    assert [(r.job, r.month) for r in JobRun.objects.order_by("id")] == [(Job.PLANS, "2026-03"), (Job.REPORTS, "2026-02")]


def test_commands_default_to_the_jobs_months(scenarios, frozen):
    call_command("patrol_plans", stdout=(out := io.StringIO()))
    call_command("patrol_reports", stdout=out)
    assert [(r.job, r.month, r.trigger) for r in JobRun.objects.order_by("id")] == [
        (Job.PLANS, "2026-03", "command"), (Job.REPORTS, "2026-02", "command")]
    assert "2026-03" in out.getvalue() and "2026-02" in out.getvalue()


# --- the management commands ------------------------------------------------------------------


def test_plans_command_for_a_month_and_a_node(scenarios):
    w = scenarios
    out = io.StringIO()
    call_command("patrol_plans", month=MONTH, node=w.a.community.code, stdout=out)
    assert set(PatrolPlan.objects.values_list("node__code", flat=True)) == {w.a.community.code, w.a.compound.code}
    assert "'created': 2" in out.getvalue() and MONTH in out.getvalue()
    call_command("patrol_plans", "--month", MONTH, "--node", w.a.community.code, stdout=out)
    assert PatrolPlan.objects.count() == 2

    one, two = runs(Job.PLANS, MONTH)
    assert (one.node_id, one.node_name, one.trigger, one.result["created"]) == (
        w.a.community.pk, w.a.community.name, "command", 2)
    assert (two.node_id, two.result["created"]) == (w.a.community.pk, 0)


def test_reports_command_for_a_month_and_a_node(scenarios):
    w = scenarios
    call_command("patrol_reports", month=MONTH, node=w.b.community.code, stdout=io.StringIO())
    call_command("patrol_reports", month=MONTH, node=w.b.community.code, stdout=io.StringIO())
    assert list(MonthlyReport.objects.values_list("node__code", "month")) == [(w.b.community.code, MONTH)]
    assert [r.result["reports"] for r in runs(Job.REPORTS, MONTH)] == [1, 1]


@pytest.mark.parametrize("command", ["patrol_plans", "patrol_reports"])
def test_command_refuses_a_bad_month(scenarios, english, command):
    with pytest.raises(CommandError, match="Enter a month such as 2026-11"):
        call_command(command, month="2026-13", stdout=io.StringIO())
    with pytest.raises(CommandError, match="Enter a month such as 2026-11"):
        call_command(command, month="September", stdout=io.StringIO())
    assert not JobRun.objects.exists()
    assert not PatrolPlan.objects.exists() and not MonthlyReport.objects.exists()


@pytest.mark.parametrize("command", ["patrol_plans", "patrol_reports"])
def test_command_refuses_an_unknown_node(scenarios, command):
    with pytest.raises(CommandError, match="No node with code 'NOPE'"):
        call_command(command, month=MONTH, node="NOPE", stdout=io.StringIO())
    assert not JobRun.objects.exists()
    assert not PatrolPlan.objects.exists() and not MonthlyReport.objects.exists()


def test_reports_command_refuses_a_node_below_a_community(scenarios, english):
    with pytest.raises(CommandError, match="Monthly reports are made for communities and streets"):
        call_command("patrol_reports", month=MONTH, node=scenarios.a.compound.code, stdout=io.StringIO())
    assert not MonthlyReport.objects.exists()


# --- retries ------------------------------------------------------------------------------------


def test_plans_job_is_retried_after_a_database_error(scenarios, retrying, monkeypatch, caplog):
    job = flaky(services.plans_create, OperationalError("server closed the connection unexpectedly"))
    patch_job(monkeypatch, Job.PLANS, job)
    with caplog.at_level(logging.ERROR, logger="common.jobs"):
        result = tasks.monthly_plans.apply(kwargs={"month": MONTH})

    assert result.successful() and job.calls == 2
    assert result.result["created"] == PLANS_PER_MONTH
    assert PatrolPlan.objects.count() == PLANS_PER_MONTH
    failed, ok = runs(Job.PLANS, MONTH)
    assert (failed.attempt, failed.outcome) == (1, JobRun.Outcome.FAILED)
    assert "OperationalError" in failed.error and "server closed the connection unexpectedly" in failed.error
    assert failed.finished_at is not None
    assert (ok.attempt, ok.outcome, ok.error) == (2, JobRun.Outcome.OK, "")
    assert result.result["run"] == ok.pk
    logged = [r for r in caplog.records if r.name == "common.jobs" and r.levelno == logging.ERROR]
    assert len(logged) == 1
    assert "failed (attempt 1)" in logged[0].getMessage() and MONTH in logged[0].getMessage()
    assert logged[0].exc_info and logged[0].exc_info[0] is OperationalError


def test_reports_job_retried_after_a_partial_failure_leaves_one_report_each(scenarios, retrying, monkeypatch, caplog):
    # The second report fails once: the first is stored already; the retry replaces it.
    real = services._report_store
    calls = []

    def second_fails_once(node, first, data):
        calls.append(node.code)
        if len(calls) == 2:
            raise OperationalError("deadlock detected")
        return real(node, first, data)

    monkeypatch.setattr(services, "_report_store", second_fails_once)
    with caplog.at_level(logging.ERROR, logger="common.jobs"):
        result = tasks.monthly_reports.apply(kwargs={"month": MONTH})

    assert result.successful() and result.result["reports"] == REPORTS_PER_MONTH
    assert len(calls) == 2 + REPORTS_PER_MONTH
    assert MonthlyReport.objects.filter(month=MONTH).count() == REPORTS_PER_MONTH
    failed, ok = runs(Job.REPORTS, MONTH)
    assert (failed.attempt, failed.outcome) == (1, JobRun.Outcome.FAILED) and "deadlock detected" in failed.error
    assert (ok.attempt, ok.outcome) == (2, JobRun.Outcome.OK)
    assert ok.result == {"month": MONTH, "reports": REPORTS_PER_MONTH}
    assert any("failed (attempt 1)" in r.getMessage() for r in caplog.records if r.name == "common.jobs")


@pytest.mark.parametrize("job, task", [(Job.PLANS, tasks.monthly_plans), (Job.REPORTS, tasks.monthly_reports)])
def test_a_job_that_keeps_failing_gives_up_after_max_retries(scenarios, retrying, monkeypatch, job, task):
    failing = flaky(jobs.JOBS[job].fn, OperationalError("could not connect to server"), times=100)
    patch_job(monkeypatch, job, failing)
    result = task.apply(kwargs={"month": MONTH})
    assert result.failed() and isinstance(result.result, OperationalError)
    assert "could not connect to server" in str(result.result)
    assert failing.calls == task.max_retries + 1 == 6
    assert [(r.attempt, r.outcome) for r in runs(job, MONTH)] == [(n, JobRun.Outcome.FAILED) for n in range(1, 7)]


@pytest.mark.parametrize("job, task", [(Job.PLANS, tasks.monthly_plans), (Job.REPORTS, tasks.monthly_reports)])
def test_a_validation_error_is_not_retried(scenarios, monkeypatch, caplog, job, task):
    refusing = flaky(jobs.JOBS[job].fn, ValidationError({"node": "no"}), times=100)
    patch_job(monkeypatch, job, refusing)
    with caplog.at_level(logging.ERROR, logger="common.jobs"), pytest.raises(ValidationError):
        task.apply(kwargs={"month": MONTH})
    assert refusing.calls == 1
    assert [(r.attempt, r.outcome) for r in runs(job, MONTH)] == [(1, JobRun.Outcome.FAILED)]
    assert len([r for r in caplog.records if r.name == "common.jobs"]) == 1  # logged once, not retried


@pytest.mark.parametrize("task", [tasks.monthly_plans, tasks.monthly_reports])
def test_a_bad_month_is_refused_at_once(scenarios, monkeypatch, task):
    retried = []
    # (with the embedded mode's propagating eager tasks a retry would also surface as celery's Retry)
    monkeypatch.setattr(type(task._get_current_object()), "retry", lambda self, *a, **kw: retried.append(kw))
    with pytest.raises(ValidationError) as e:
        task.apply(kwargs={"month": "2026-13"})
    assert "month" in e.value.message_dict
    assert retried == [] and not JobRun.objects.exists()
    assert not PatrolPlan.objects.exists() and not MonthlyReport.objects.exists()


def test_an_unknown_node_is_not_retried(scenarios):
    missing = GridNode.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    with pytest.raises(GridNode.DoesNotExist):
        tasks.monthly_plans.apply(kwargs={"month": MONTH, "node_id": missing})
    assert not JobRun.objects.exists() and not PatrolPlan.objects.exists()


def test_a_task_limited_to_a_node(scenarios):
    w = scenarios
    result = tasks.monthly_plans.apply(kwargs={"month": MONTH, "node_id": w.b.community.pk, "trigger": "admin:staff"})
    assert result.result["created"] == 2
    assert set(PatrolPlan.objects.values_list("community_id", flat=True)) == {w.b.community.pk}
    run = JobRun.objects.get()
    assert (run.job, run.node_id, run.node_name, run.trigger) == (Job.PLANS, w.b.community.pk, w.b.community.name,
                                                                  "admin:staff")


def test_retry_policy_backs_off():
    for task in (tasks.monthly_plans, tasks.monthly_reports):
        assert task.autoretry_for == (Exception,)
        assert set(task.dont_autoretry_for) == {ValidationError, GridNode.DoesNotExist}
        assert task.retry_backoff == 60 and task.retry_backoff_max == 3600 and task.retry_jitter
        assert task.max_retries == 5
    assert settings.CELERY_TASK_ACKS_LATE  # a worker lost mid-job leaves the message to be run again


# --- the beat schedule ------------------------------------------------------------------------


def test_beat_runs_the_monthly_jobs_on_the_first_in_shanghai():
    from celery.beat import ScheduleEntry

    from config.celery import app

    assert settings.CELERY_TIMEZONE == "Asia/Shanghai" and str(app.conf.timezone) == "Asia/Shanghai"
    plans, reports = settings.CELERY_BEAT_SCHEDULE["patrol-plans"], settings.CELERY_BEAT_SCHEDULE["patrol-reports"]
    assert plans["task"] == tasks.monthly_plans.name == "patrols.tasks.monthly_plans"
    assert reports["task"] == tasks.monthly_reports.name == "patrols.tasks.monthly_reports"
    # No arguments: each job picks its own month when it runs (plans: this month, reports: last month).
    assert not plans.get("args") and not plans.get("kwargs")
    assert not reports.get("args") and not reports.get("kwargs")
    for entry, hour, minute in ((plans, 0, 5), (reports, 1, 30)):
        cron = entry["schedule"]
        assert cron.day_of_month == {1} and cron.hour == {hour} and cron.minute == {minute}
        assert cron.month_of_year == set(range(1, 13)) and cron.day_of_week == set(range(7))

    # The next runs after a day in February fall on 1 March, Shanghai time (still 28 February in UTC).
    last = datetime.datetime(2026, 2, 10, 12, 0, tzinfo=SHANGHAI)
    due = {}
    for name in ("patrol-plans", "patrol-reports"):
        entry = ScheduleEntry(name=name, app=app, **settings.CELERY_BEAT_SCHEDULE[name])
        assert str(entry.schedule.tz) == "Asia/Shanghai"
        start, delta, _now = entry.schedule.remaining_delta(last)
        due[name] = start + delta
    assert due["patrol-plans"] == datetime.datetime(2026, 3, 1, 0, 5, tzinfo=SHANGHAI)
    assert due["patrol-reports"] == datetime.datetime(2026, 3, 1, 1, 30, tzinfo=SHANGHAI)
    assert due["patrol-plans"].astimezone(datetime.timezone.utc).day == 28
