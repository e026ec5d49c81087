"""The job runs in the admin (common/admin.py): every registered job's last run with its outcome, the
runs scoped through the registry (runs over every place, and those on a node of the user's scope;
another place's run answers 404), and the button that starts a monthly job by its registered task
(moved here from the patrols' admin, whose two monthly jobs it runs), a failed enqueue said in a
message, never a 500; bad filter values and ids never a 500 either."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from common import jobs
from common.models import JobRun
from common.periods import current_month, previous_month
from patrols.models import Job, MonthlyReport, PatrolPlan
from tests.factories import plan, scenario
from tests.support import grant, messages_of, rows, shared_fixture

pytestmark = pytest.mark.usefixtures("english")

CHANGELIST = "admin:common_jobrun_changelist"
RUN = "admin:common_jobrun_run"


def url(name=CHANGELIST, *args):
    return reverse(name, args=args)


@shared_fixture
def street(world):
    """`world` with this month's joint patrol planned at both compounds."""
    world.scenario = scenario()
    world.a.plan, world.b.plan = plan(world.a.compound, world.scenario), plan(world.b.compound, world.scenario)
    return world


@shared_fixture
def staff(street):
    return grant(street.staff, "street_staff")


@shared_fixture
def secretary(street):
    return grant(street.a.secretary, "secretary")


@shared_fixture
def secretary_b(street):
    return grant(street.b.secretary, "secretary")


class BrokenTask:
    """A task whose broker is down."""

    calls = 0

    @classmethod
    def delay(cls, **kwargs):
        cls.calls += 1
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


broken_task = BrokenTask()


def test_the_job_button_runs_the_plans_job(client, street, staff, django_capture_on_commit_callbacks):
    w = street
    client.force_login(staff)
    html = client.get(url()).content.decode()
    assert 'id="job-run-form"' in html and 'id="job-last-runs"' in html
    month = current_month()
    PatrolPlan.objects.filter(period=month).exclude(pk__in=[w.a.plan.pk, w.b.plan.pk]).delete()
    before = PatrolPlan.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(RUN), {"job": Job.PLANS, "month": month, "node": "ST"})
    assert response.status_code == 302 and response["Location"] == url()
    run = JobRun.objects.get()
    assert (run.job, run.month, run.node_id, run.node_name, run.trigger, run.outcome) == (
        "patrols.plans", month, w.street.pk, w.street.name, "admin:staff", "ok")
    assert run.result["created"] == PatrolPlan.objects.count() - before > 0
    assert any(level == "success" and "is started" in text for level, text in messages_of(response))
    # The changelist tells the last run and outcome of every registered job, by its label.
    response = client.get(url())
    last = {row["job"]: row for row in response.context["last_runs"]}
    assert set(last) == set(jobs.JOBS)
    assert last["patrols.plans"]["run"] == run and last["patrols.reports"]["run"] is None
    assert last["patrols.plans"]["label"] == Job.PLANS.label and "created: " in last["patrols.plans"]["result"]
    assert rows(response) == {run.pk}
    html = response.content.decode()
    assert str(Job.PLANS.label) in html and w.street.name in html and "Not run yet." in html
    assert client.get(url("admin:common_jobrun_change", run.pk)).status_code == 200
    # Running it again creates nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(RUN), {"job": Job.PLANS, "month": month, "node": "ST"})
    assert JobRun.objects.order_by("-id").first().result["created"] == 0


def test_the_reports_job_defaults_to_last_month_and_the_users_street(client, street, staff,
                                                                      django_capture_on_commit_callbacks):
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(RUN), {"job": Job.REPORTS, "month": "", "node": ""})
    assert response.status_code == 302
    run = JobRun.objects.get()
    assert (run.job, run.month, run.node_id, run.outcome) == ("patrols.reports", previous_month(), street.street.pk, "ok")
    assert MonthlyReport.objects.filter(month=previous_month()).count() == 3  # A, B and the street


@pytest.mark.parametrize("data, field, message", [
    ({"job": Job.PLANS, "month": "2026-13"}, "month", "Enter a month such as 2026-11."),
    ({"job": Job.PLANS, "month": "0000-01"}, "month", "Enter a month such as 2026-11."),
    ({"job": Job.PLANS, "month": "2026-11", "node": "NOPE"}, "node", "No street or community with this code in your area."),
    ({"job": Job.PLANS, "month": "2026-11", "node": "CA-R1"}, "node", "No street or community with this code in your area."),
    ({"job": Job.PLANS, "month": "2026-11", "node": "C\x00A"}, "node", "Null characters are not allowed."),
    ({"job": "cleanup", "month": "2026-11"}, "job", "Select a valid choice. cleanup is not one of the available choices."),
])
def test_a_wrong_job_request_is_a_field_error(client, street, staff, django_capture_on_commit_callbacks,
                                              data, field, message):
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url(RUN), data)
    assert response.status_code == 200
    assert response.context["form"].errors == {field: [message]}
    assert callbacks == [] and not JobRun.objects.exists()


def test_a_secretary_of_one_community_names_it(client, street, secretary, django_capture_on_commit_callbacks):
    """Without run_jobs nobody starts a job; with it, a place outside one's area is a field error."""
    secretary.user_permissions.add(Permission.objects.get(codename="run_jobs", content_type__app_label="common"))
    client.force_login(secretary)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(RUN), {"job": Job.REPORTS, "month": "2026-10", "node": "CB"})
    assert response.context["form"].errors == {"node": ["No street or community with this code in your area."]}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(RUN), {"job": Job.REPORTS, "month": "2026-10", "node": ""})
    assert response.status_code == 302
    assert list(JobRun.objects.values_list("job", "node_id")) == [("patrols.reports", street.a.community.pk)]


def test_the_job_button_is_refused_without_run_jobs(client, street, secretary, secretary_b,
                                                    django_capture_on_commit_callbacks):
    client.force_login(secretary)
    response = client.get(url())
    assert response.status_code == 200
    assert 'id="job-run-form"' not in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(RUN), {"job": Job.PLANS, "month": "2026-11", "node": "CA"})
    assert response.status_code == 403
    assert not JobRun.objects.exists()
    # Runs on another community are not listed to a secretary; runs over every street are.
    b_run = jobs.run(Job.REPORTS, month="2026-10", node=street.b.community, trigger="command")
    all_run = jobs.run(Job.PLANS, month="2026-10", trigger="beat")
    assert rows(client.get(url())) == {all_run.pk}
    assert client.get(url("admin:common_jobrun_change", b_run.pk)).status_code == 404
    last = {row["job"]: row["run"] for row in client.get(url()).context["last_runs"]}
    assert last["patrols.plans"] == all_run and last["patrols.reports"] is None
    client.force_login(secretary_b)
    assert rows(client.get(url())) == {all_run.pk, b_run.pk}


def test_leaders_without_the_admin_are_sent_to_the_login(client, street):
    client.force_login(street.a.leader)
    response = client.get(url())
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_runs_are_read_only(client, street, staff):
    run = jobs.run(Job.PLANS, month="2026-10", trigger="beat")
    client.force_login(staff)
    assert client.get(url("admin:common_jobrun_add")).status_code == 403
    assert client.post(url("admin:common_jobrun_change", run.pk), {"outcome": "failed"}).status_code == 403
    assert client.post(url("admin:common_jobrun_delete", run.pk), {"post": "yes"}).status_code == 403
    assert JobRun.objects.get(pk=run.pk).outcome == JobRun.Outcome.OK


@pytest.mark.django_db(transaction=True)
def test_a_failed_enqueue_is_a_message_not_a_500(client, street, staff, monkeypatch, caplog):
    """Outside a test's transaction the hook runs at the commit, inside the request: the broker's
    error is logged and said on the page."""
    monkeypatch.setitem(jobs.JOBS, "test.broken", jobs.JobSpec(
        "test.broken", "broken job", lambda **kw: {}, monthly=True, default_month=current_month,
        task="tests.common.test_jobrun_admin.broken_task"))
    client.force_login(staff)
    response = client.post(url(RUN), {"job": "test.broken", "month": "2026-11", "node": ""})
    assert response.status_code == 302 and response["Location"] == url()
    assert BrokenTask.calls == 1
    assert [level for level, _text in messages_of(response)] == ["error"]
    assert "failed; the run below says why" in messages_of(response)[0][1]
    assert any("could not be run from the admin" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("query", [
    {"job": "abc"}, {"job": "\x00"}, {"outcome": "bogus"}, {"month": "\x00"}, {"month": "9999-13"},
    {"q": "\x00"}, {"q": "x" * 300}, {"o": "abc"}, {"o": "99"}, {"p": "abc"}, {"p": "-1"}, {"p": str(2**70)},
    {"node_id": "abc"}, {"started_at__gte": "abc"},
])
def test_bad_filter_values_never_answer_500(client, street, staff, query):
    jobs.run(Job.PLANS, month="2026-10", trigger="beat")
    client.force_login(staff)
    assert client.get(url(), query).status_code in (200, 302)


@pytest.mark.parametrize("bad", ["abc", "0", "-1", str(2**63), str(2**70), "%00", "1%00"])
def test_bad_ids_never_answer_500(client, street, staff, bad):
    client.force_login(staff)
    response = client.get(f"/admin/common/jobrun/{bad}/change/")
    assert response.status_code == 404
