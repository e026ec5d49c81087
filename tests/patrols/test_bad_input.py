"""No URL of the patrols app answers 500 to a bad id or filter value: the API (lists with every filter,
details, the profile), the admin (changelists with their filters, search, ordering and pages, change
pages, the meeting form, the work-log export) and the phone pages (/m/patrols/...). Each value below is
tried in every place; on PostgreSQL a NUL byte and a huge number reach the database if nothing stops
them, so the suite is run there too."""

import pytest
from django.urls import reverse
from django.utils import timezone

from common.periods import current_month
from patrols import services
from tests.factories import checklist, plan, scenario
from tests.support import client_for, grant

BAD = ["abc", "0", "-1", str(2**63), str(2**70), "\x00", "1\x00", "0000-01", "9999-13", "x" * 300]
BAD_IDS = ["abc", "0", "-1", str(2**63), str(2**70), "%00", "1%00"]
API = "/api/v1/patrols/"
API_LISTS = {
    API: ["plan", "scenario", "ancestor", "since", "until"],
    f"{API}scenarios/": ["active", "cadence"],
    f"{API}plans/": ["state", "period", "ancestor", "scenario", "node"],
    f"{API}worklogs/": ["leader", "kind", "grid", "since", "until", "ancestor"],
    f"{API}worklogs/profile/": ["leader", "since", "until"],
    f"{API}reports/": ["node", "month"],
}
COMMON_PARAMS = ["search", "ordering", "page", "page_size"]
ADMIN_LISTS = {
    "patrolplan": ["state", "scenario__id__exact", "period", "ancestor"],
    "patrol": ["plan__scenario__id__exact", "date__gte", "date__lt", "ancestor"],
    "worklog": ["kind__exact", "date__gte", "ancestor"],
    "monthlyreport": ["month", "ancestor"],
    "meeting": ["held_on__gte", "ancestor"],
    "scenario": ["active__exact", "cadence__exact"],
    "checklisttemplate": [],
}
ADMIN_PARAMS = ["q", "o", "p", "e", "_changelist_filters"]


@pytest.fixture
def data(ledger):
    """One of everything the pages show: a plan with its record, a work log, a report, a meeting."""
    w = ledger
    w.scenario = scenario()
    w.plan = plan(w.a.compound, w.scenario)
    w.patrol = services.patrol_record(actor=w.a.leader, plan_id=w.plan.pk, date=timezone.localdate(),
                                      items=checklist(w.plan))
    w.worklog = services.worklog_create(actor=w.a.leader, kind="home_visit", grid=w.a.mg1)
    w.report = services.report_generate(node=w.a.community, month=current_month())
    w.meeting = services.meeting_record(actor=w.a.secretary, report_id=w.report.pk, held_on=timezone.localdate(),
                                        minutes="分析")
    return w


def status(client, url, params=None, method="get"):
    """The answer's status; a view that raised (the test client re-raises it) counts as a 500."""
    try:
        return getattr(client, method)(url, params or {}).status_code
    except Exception as e:  # noqa: BLE001 — the point is to name every place that fails
        return f"500 ({type(e).__name__}: {e})"


def check(answers, allowed):
    failed = {place: code for place, code in answers.items() if code not in allowed}
    assert not failed, failed


def test_api_lists_and_details(data):
    c = client_for(data.staff)
    answers = {}
    for url, params in API_LISTS.items():
        for param in params + COMMON_PARAMS:
            for value in BAD:
                answers[(url, param, value)] = status(c, url, {param: value})
        answers[(url, "NUL key")] = status(c, url, {"\x00": "1"})
    for url in API_LISTS:
        if url.endswith("profile/"):
            continue
        for bad in BAD_IDS:
            answers[(url, bad)] = status(c, f"{url}{bad}/")
    check(answers, {200, 400, 404})
    assert answers[(f"{API}reports/", "month", "9999-13")] == 400
    assert answers[(f"{API}reports/", "month", "0000-01")] == 400
    assert answers[(f"{API}plans/", "ancestor", str(2**70))] == 400
    assert answers[(f"{API}plans/", "search", "\x00")] == 400


def test_api_writes_with_bad_ids(data):
    c = client_for(data.a.leader)
    answers = {}
    for value in ["abc", 0, -1, 2**63, 2**70, "\x00", None, True, [], {}]:
        body = {"plan": value, "date": timezone.localdate().isoformat(), "items": []}
        answers[("patrol", repr(value))] = c.post(API, body, format="json").status_code
        for field in ("grid", "household", "issue"):
            body = {"kind": "home_visit", "grid": data.a.mg1.pk, field: value}
            answers[("worklog", field, repr(value))] = c.post(f"{API}worklogs/", body, format="json").status_code
    check(answers, {201, 400, 404, 415})  # 201: null for an optional link is no link


def test_admin_changelists_change_pages_and_forms(client, data):
    client.force_login(grant(data.staff, "street_staff"))
    answers = {}
    for model, params in ADMIN_LISTS.items():
        url = reverse(f"admin:patrols_{model}_changelist")
        for param in params + ADMIN_PARAMS:
            for value in BAD:
                answers[(model, param, value)] = status(client, url, {param: value})
        for bad in BAD_IDS:
            answers[(model, bad)] = status(client, f"/admin/patrols/{model}/{bad}/change/")
    answers[("scenario add", "categories")] = status(client, reverse("admin:patrols_scenario_add"), {
        "name": "x", "code": "x", "categories": [str(2**70), "abc"], "cadence": "monthly", "levels": ["2"],
        "planned_day": "10"}, "post")
    for value in BAD:
        answers[("meeting add", value)] = status(client, reverse("admin:patrols_meeting_add"), {"report": value})
        answers[("export", value)] = status(client, reverse("admin:patrols_worklog_export"), {"ancestor": value})
        answers[("export q", value)] = status(client, reverse("admin:patrols_worklog_export"), {"q": value})
        answers[("meeting post", value)] = status(client, reverse("admin:patrols_meeting_add"), {
            "report": value, "held_on": value, "minutes": "x", "attendees": value,
            "decisions-TOTAL_FORMS": "1", "decisions-INITIAL_FORMS": "0", "decisions-0-text": "x",
            "decisions-0-issue": value}, "post")
    check(answers, {200, 302, 404})


def test_mobile_pages(client, data):
    client.force_login(data.a.leader)
    answers = {}
    for name in ("plan", "record", "report", "report_print", "report_xlsx"):
        for bad in BAD_IDS:
            path = reverse(f"mobile_patrols:{name}", args=[1]).replace("/1/", f"/{bad}/").replace("/1", f"/{bad}")
            answers[(name, bad)] = status(client, path)
        answers[(name, "0")] = status(client, reverse(f"mobile_patrols:{name}", args=[0]))
        answers[(name, "huge")] = status(client, reverse(f"mobile_patrols:{name}", args=[2**70]))
    for value in BAD:
        answers[("profile of", value)] = status(client, f"/m/patrols/profile/{value.replace(chr(0), '%00')}/")
        answers[("index", value)] = status(client, reverse("mobile_patrols:index"), {"page": value})
        answers[("log", value)] = status(client, reverse("mobile_patrols:log"), {"grid": value})
        answers[("log pick", value)] = status(client, reverse("mobile_patrols:log"), {"pick": "1", "grid": value}, "post")
        answers[("log post", value)] = status(client, reverse("mobile_patrols:log"), {
            "kind": value, "grid": value, "household": value, "date": value}, "post")
        for param in ("period", "since", "until"):
            answers[("profile", param, value)] = status(client, reverse("mobile_patrols:profile"), {param: value})
        answers[("plan post", value)] = status(client, reverse("mobile_patrols:plan", args=[data.plan.pk]), {
            "date": value, "roster": value, "note": value}, "post")
    check(answers, {200, 302, 404})
