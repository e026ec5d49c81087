"""End to end, not eager: a real Celery worker process on the real Redis and the test database runs the
monthly jobs that beat sends; running them again changes nothing.

PostgreSQL only: the worker is another process and must see the test's committed data (the SQLite
test database lives in memory)."""

import os
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest
from celery.exceptions import AlwaysEagerIgnored
from django.conf import settings
from django.db import connection, connections

from common.models import JobRun
from common.periods import add_months, current_month, month_label, parse_month
from patrols.models import Job, MonthlyReport, PatrolPlan, PlanState
from tests.factories import scenario

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
TIMEOUT = 60


def worker_database_url():
    """The URL of the test database (test_…), not the one DATABASE_URL names."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s["HOST"] or "127.0.0.1"
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{auth}{'@' if auth else ''}{host}{port}/{quote(s['NAME'], safe='')}"


class Worker:
    """`celery -A config worker` on a queue of its own, logging to a file (a pipe could fill up and stall it)."""

    def __init__(self):
        self.queue = f"test-monthly-{uuid.uuid4().hex[:12]}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="celery-worker-", suffix=".log", delete=False)
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_MODE", "CELERY_TASK_ALWAYS_EAGER")}
        env.update(DATABASE_URL=worker_database_url(), REDIS_URL=REDIS_URL, CELERY_WORKER="1",
                   DJANGO_SETTINGS_MODULE="config.settings", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--concurrency=1",
             "-Q", self.queue, "-n", f"{self.queue}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel=INFO"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def output(self):
        return Path(self.log.name).read_text(errors="replace")

    def wait(self, what, check, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the worker exited ({self.proc.returncode}) while waiting for {what}")
            if check():
                return
            time.sleep(0.3)
        pytest.fail(f"timed out after {timeout} s waiting for {what}")

    def send(self, name, **options):
        """Publish to the worker's queue on the worker's Redis, as beat does (beat sends by task name)."""
        from config.celery import app

        with app.connection_for_write(REDIS_URL) as conn, warnings.catch_warnings():
            # The test process itself runs tasks inline; what it sends here goes to the broker all the same.
            warnings.simplefilter("ignore", AlwaysEagerIgnored)
            return app.send_task(name, queue=self.queue, connection=conn, **options)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # warm shutdown: finishes the task in hand, closes its connections
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self._purge()

    def _purge(self):
        """Drop the queue, its bindings and any leftover message (a failed run) from the shared Redis."""
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"*{self.queue}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def worker(postgres_only):
    w = Worker()
    try:
        w.wait("the worker to start", lambda: " ready." in w.output())
        yield w
    finally:
        w.stop()
        # Shown by pytest only when the test fails.
        print(f"--- celery worker log ({w.log.name}) ---\n{w.output()}")
        os.unlink(w.log.name)
        # No connection of ours may linger either: PostgreSQL refuses to drop a database in use.
        connections.close_all()


@pytest.fixture
def street(world):
    """`world` with the two shipped scenarios (a flushing test may have removed the migration's rows)."""
    scenario()
    scenario("care_visit", levels=(2,), categories=("errand",), items=(("生活状况", "居住环境安全"),))
    return world


def ok_runs(job, month=None):
    runs = JobRun.objects.filter(job=job, outcome=JobRun.Outcome.OK)
    return runs.filter(month=month) if month else runs


def test_beat_jobs_on_a_real_worker_create_plans_and_reports_once(street, worker):
    w = street
    plans_entry = settings.CELERY_BEAT_SCHEDULE["patrol-plans"]
    reports_entry = settings.CELERY_BEAT_SCHEDULE["patrol-reports"]
    months = {current_month()}

    # As beat sends them: the task name with the entry's (empty) arguments; the jobs pick their months.
    worker.send(plans_entry["task"], args=plans_entry.get("args", ()), kwargs=plans_entry.get("kwargs", {}))
    worker.wait("the plans job", lambda: ok_runs(Job.PLANS).exists() or JobRun.objects.filter(
        outcome=JobRun.Outcome.FAILED).exists())
    months.add(current_month())  # the month may turn while the job runs
    run = JobRun.objects.get(job=Job.PLANS)
    assert run.outcome == JobRun.Outcome.OK, run.error
    assert run.month in months and run.trigger == "beat" and run.attempt == 1
    month = run.month
    assert run.result == {"month": month, "created": 4, "missed": 0}
    plans = dict(PatrolPlan.objects.filter(period=month).values_list("id", "node__code"))
    assert sorted(plans.values()) == sorted([w.a.community.code, w.b.community.code, w.a.compound.code,
                                             w.b.compound.code])
    assert set(PatrolPlan.objects.values_list("state", flat=True)) == {PlanState.PLANNED}

    worker.send(reports_entry["task"], args=reports_entry.get("args", ()), kwargs=reports_entry.get("kwargs", {}))
    worker.wait("the reports job", lambda: JobRun.objects.filter(job=Job.REPORTS).exclude(
        outcome=JobRun.Outcome.RUNNING).exists())
    run = JobRun.objects.get(job=Job.REPORTS)
    assert run.outcome == JobRun.Outcome.OK, run.error
    last_month = month_label(add_months(parse_month(month)[0], -1))
    assert run.month == last_month and run.trigger == "beat"
    assert run.result == {"month": last_month, "reports": 3}
    reports = {r.pk: (r.node.code, r.month, r.generated_at, r.data)
               for r in MonthlyReport.objects.select_related("node")}
    assert sorted(code for code, *_rest in reports.values()) == sorted(
        [w.street.code, w.a.community.code, w.b.community.code])
    assert {m for _code, m, *_rest in reports.values()} == {last_month}

    # Again, as an operator re-runs them for the same months: nothing new, the reports replaced in place.
    worker.send(plans_entry["task"], kwargs={"month": month})
    worker.send(reports_entry["task"], kwargs={"month": last_month})
    worker.wait("both jobs to run again", lambda: JobRun.objects.exclude(outcome=JobRun.Outcome.RUNNING).count() == 4)
    assert ok_runs(Job.PLANS, month).count() == 2 and ok_runs(Job.REPORTS, last_month).count() == 2, list(
        JobRun.objects.values_list("job", "outcome", "error"))
    again = ok_runs(Job.PLANS, month).order_by("-id").first()
    assert again.result == {"month": month, "created": 0, "missed": 0}
    assert ok_runs(Job.REPORTS, last_month).order_by("-id").first().result == {"month": last_month, "reports": 3}

    assert dict(PatrolPlan.objects.values_list("id", "node__code")) == plans
    assert set(PatrolPlan.objects.values_list("state", flat=True)) == {PlanState.PLANNED}
    after = {r.pk: (r.node.code, r.month, r.generated_at, r.data)
             for r in MonthlyReport.objects.select_related("node")}
    assert after.keys() == reports.keys()
    for pk, (code, m, generated_at, data) in after.items():
        assert (code, m, data) == (reports[pk][0], reports[pk][1], reports[pk][3])
        assert generated_at > reports[pk][2]
    assert not JobRun.objects.filter(outcome=JobRun.Outcome.FAILED).exists()
