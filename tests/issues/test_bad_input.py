"""Every URL of the ledger (API, admin, mobile pages, public pages, boards) answers a bad id or filter
value with 400 or 404 — or, for a filter, a normal page that matches nothing — never with a 500:
`abc`, `0`, `-1`, a number too big for any column, and a NUL byte (which PostgreSQL refuses in text).

Each test tries every bad value in turn. Run on PostgreSQL too (DATABASE_URL): only a real PostgreSQL
refuses the NUL byte."""

from urllib.parse import quote

import pytest
from django.urls import get_resolver

from issues.models import Issue, State
from tests.factories import UserFactory
from tests.support import client_for, field_errors

pytestmark = pytest.mark.django_db

BAD = ["abc", "0", "-1", "99999999999999999999999", "\x00", "CA\x00G1"]
TEXTS = ("description", "note", "phone", "reporter_phone")  # any text but a NUL is a text


def refused(field, bad):
    """Whether `bad` is a wrong value for `field` (for a free text only a NUL byte is)."""
    return field not in TEXTS or "\x00" in bad


def path(value):
    return quote(value, safe="")


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


# --- the API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method, template", [
    ("get", "/api/v1/issues/{}/"),
    ("get", "/api/v1/issues/{}/events/"),
    ("post", "/api/v1/issues/{}/actions/record/"),
    ("post", "/api/v1/issues/{}/actions/teleport/"),
    ("get", "/api/v1/issues/categories/{}/"),
])
def test_api_bad_ids_are_404(ledger, method, template):
    c = client_for(ledger.staff)
    for bad in BAD:
        r = getattr(c, method)(template.format(path(bad)), format="json")
        assert r.status_code == 404, (bad, r.content)


@pytest.mark.parametrize("param", ["state", "category", "source", "ancestor", "grid", "priority", "common",
                                   "overdue", "supervision", "reported_after", "reported_before", "search",
                                   "ordering", "page", "page_size"])
def test_api_bad_filter_values_are_400_or_an_empty_answer(ledger, param):
    c = client_for(ledger.staff)
    for bad in BAD:
        r = c.get("/api/v1/issues/", {param: bad})
        assert r.status_code in (200, 400, 404), (bad, r.content)
        if r.status_code == 400:
            assert set(field_errors(r)) == {param}, bad
        if "\x00" in bad:
            assert r.status_code == 400 and set(r.json()["codes"]) == {param}


def test_api_bad_ancestor_is_a_field_error(ledger):
    c = client_for(ledger.staff)
    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        r = c.get("/api/v1/issues/", {"ancestor": bad})
        assert r.status_code == 400 and "ancestor" in r.json(), bad


@pytest.mark.parametrize("param", ["group", "active", "handler_kind", "search", "ordering"])
def test_api_category_filters(ledger, param):
    c = client_for(ledger.worker)
    for bad in BAD:
        assert c.get("/api/v1/issues/categories/", {param: bad}).status_code in (200, 400), bad


@pytest.mark.parametrize("field", ["grid", "category", "source", "priority", "description", "reporter_phone"])
def test_api_bad_report_fields_are_400(ledger, field):
    c = client_for(ledger.a.leader)
    for bad in BAD:
        body = {"description": "楼道灯不亮", "category": ledger.category.pk, "grid": ledger.a.mg1.pk,
                "source": "visit", field: bad}
        r = c.post("/api/v1/issues/", body, format="json")
        if refused(field, bad) or field == "reporter_phone":
            assert r.status_code == 400 and field in r.json(), (bad, r.content)
        else:
            assert r.status_code == 201, bad


@pytest.mark.parametrize("field", ["handler_org", "handler_user", "due", "version", "note"])
def test_api_bad_action_fields_are_400(ledger, field):
    c = client_for(ledger.a.secretary)
    for bad in BAD:
        issue = Issue.objects.get(pk=ledger.recorded.pk)
        body = {"handler_org": ledger.property.pk, field: bad}
        r = c.post(f"/api/v1/issues/{issue.pk}/actions/assign/", body, format="json")
        if field == "version" and bad.isdigit() and bad != "0":
            assert r.status_code == 409, bad  # a well-formed version, but not the issue's
        elif not refused(field, bad):
            assert r.status_code == 200, bad  # any text is a note
            break
        else:
            assert r.status_code == 400 and field in r.json(), (bad, r.content)


def test_api_bad_merge_target_is_400(ledger):
    c = client_for(ledger.a.leader)
    for bad in BAD:
        r = c.post(f"/api/v1/issues/{ledger.reported.pk}/actions/merge/", {"into": bad}, format="json")
        assert r.status_code == 400 and "into" in r.json(), bad


# --- the admin --------------------------------------------------------------------------------


@pytest.mark.parametrize("template", [
    "/admin/issues/issue/{}/change/",
    "/admin/issues/issue/{}/act/assign/",
    "/admin/issues/notification/{}/change/",
    "/admin/issues/category/{}/change/",
    "/admin/issues/calendaroverride/{}/change/",
])
def test_admin_bad_ids_are_404(client, ledger, root, template):
    client.force_login(root)
    for bad in BAD:
        assert client.get(template.format(path(bad))).status_code == 404, bad


@pytest.mark.parametrize("view", ["/admin/issues/issue/", "/admin/issues/issue/export/"])
def test_admin_bad_filter_values_never_fail(client, ledger, root, view):
    client.force_login(root)
    for param in ("ancestor", "state__exact", "category__id__exact", "source__exact", "supervision__exact",
                  "common__exact", "priority__exact", "overdue", "q", "o", "p"):
        for bad in BAD:
            r = client.get(view, {param: bad})
            # 302: the admin's own "?e=1" page for a lookup it cannot use; a NUL byte is that or a 400.
            assert r.status_code in ((302, 400) if "\x00" in bad else (200, 302)), (param, bad, r.status_code)
            if r.status_code == 302:
                assert r["Location"].endswith("?e=1")


def test_admin_bad_ancestor_answers_a_normal_page(client, ledger, root):
    """`?ancestor=abc` answered 500 before the ledger's subtree filter was grid's: now a page listing
    nothing (as for a node outside the user's scope)."""
    client.force_login(root)
    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        r = client.get("/admin/issues/issue/", {"ancestor": bad})
        assert r.status_code == 200, bad
        assert list(r.context["cl"].result_list) == []
    good = client.get("/admin/issues/issue/", {"ancestor": ledger.a.community.pk})
    assert {i.pk for i in good.context["cl"].result_list} == {ledger.reported.pk, ledger.recorded.pk, ledger.handling.pk}


@pytest.mark.parametrize("view, param", [
    ("/admin/issues/notification/", "q"), ("/admin/issues/notification/", "status__exact"),
    ("/admin/issues/category/", "q"), ("/admin/issues/calendaroverride/", "date__year"),
    ("/admin/issues/calendaroverride/", "date__month"),
])
def test_admin_other_changelists(client, ledger, root, view, param):
    client.force_login(root)
    for bad in BAD:
        r = client.get(view, {param: bad})
        assert r.status_code in ((302, 400) if "\x00" in bad else (200, 302)), (bad, r.status_code)


# --- the mobile pages -------------------------------------------------------------------------


@pytest.mark.parametrize("method, template", [
    ("get", "/m/issues/{}/"),
    ("get", "/m/issues/{}/record/"),
    ("post", "/m/issues/{}/record/"),
    ("get", "/m/issues/queue/{}/"),
])
def test_mobile_bad_ids_are_404(client, ledger, method, template):
    client.force_login(ledger.a.leader)
    for bad in BAD:
        assert getattr(client, method)(template.format(path(bad))).status_code == 404, bad


@pytest.mark.parametrize("url", ["/m/issues/queue/leader/?section={}", "/m/issues/queue/secretary/?page={}",
                                 "/m/issues/report/?grid={}"])
def test_mobile_bad_query_values_answer_the_page(client, ledger, url):
    client.force_login(ledger.a.secretary)
    for bad in BAD:
        assert client.get(url.format(path(bad))).status_code == 200, bad


@pytest.mark.parametrize("field", ["grid", "category", "priority", "source", "description"])
def test_mobile_bad_report_fields_are_form_errors(client, ledger, field):
    client.force_login(ledger.a.leader)
    for bad in BAD:
        data = {"grid": ledger.a.mg1.code, "category": ledger.category.pk, "description": "楼道灯不亮",
                "priority": "normal", "source": "visit", field: bad}
        r = client.post("/m/issues/report/", data)
        if refused(field, bad):
            assert r.status_code == 200 and field in r.context["form"].errors, bad
        else:
            assert r.status_code == 302, bad


@pytest.mark.parametrize("field", ["handler_org", "handler_user", "due", "version", "note"])
def test_mobile_bad_action_fields_change_nothing(client, ledger, field):
    client.force_login(ledger.a.secretary)
    for bad in BAD:
        data = {"version": ledger.recorded.version, "handler_org": ledger.property.pk, field: bad}
        r = client.post(f"/m/issues/{ledger.recorded.pk}/assign/", data)
        assert r.status_code in (200, 302), bad
        if refused(field, bad):
            assert Issue.objects.get(pk=ledger.recorded.pk).state == State.RECORDED, bad
        else:
            break  # a note (or a username) is any text: the issue was assigned


# --- the public pages and the boards ------------------------------------------------------------


@pytest.mark.parametrize("method, template", [
    ("get", "/r/{}/"),
    ("post", "/r/{}/"),
    ("get", "/r/CA-G1/sent/{}/"),
    ("get", "/r/{}/sent/abc/"),
    ("get", "/track/{}/"),
    ("get", "/announcements/{}/"),
])
def test_public_bad_codes_are_404(client, ledger, method, template):
    for bad in BAD:
        assert getattr(client, method)(template.format(path(bad))).status_code == 404, bad


def test_public_bad_query_values(client, ledger):
    for bad in BAD:
        assert client.get("/track/", {"code": bad}).status_code == 404, bad  # no such report
        assert client.get(f"/announcements/{ledger.a.community.code}/", {"page": bad}).status_code == 200, bad


@pytest.mark.parametrize("field", ["category", "description", "phone"])
def test_public_bad_report_fields_are_form_errors(client, ledger, field):
    for bad in BAD:
        data = {"category": ledger.category.pk, "description": "楼道灯不亮", "name": "", "phone": "",
                "website": "", field: bad}
        r = client.post(f"/r/{ledger.a.mg1.code}/", data)
        if refused(field, bad) or field == "phone":
            assert r.status_code == 200 and field in r.context["form"].errors, bad
        else:
            assert r.status_code == 302, bad


@pytest.mark.parametrize("template", ["/boards/{}/", "/boards/community/{}/"])
def test_boards_bad_codes_are_404(client, ledger, template):
    client.force_login(ledger.staff)
    for bad in BAD:
        assert client.get(template.format(path(bad))).status_code == 404, bad


# --- nothing left out -------------------------------------------------------------------------

COVERED = {
    "issue-list", "issue-detail", "issue-events", "issue-other-action", "issue-category-list",
    "issue-category-detail", "report", "sent", "track", "track_lookup", "announcements", "board",
    "board_community", "index", "queue", "detail", "act", "issues_issue_act", "issues_issue_export",
}


def test_every_url_of_the_ledger_has_its_case_here():
    """A new URL of the ledger needs its bad-input case in this module (and its name in COVERED)."""
    names = set()

    def walk(patterns, namespace=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, p.namespace or namespace)
            elif p.name and (namespace in ("public", "mobile_issues") or p.name.startswith(("issue-", "issues_"))):
                names.add(p.name)

    walk(get_resolver().url_patterns)
    actions = {n for n in names if n.startswith("issue-action-")}  # one per workflow action, like `record`
    admin_defaults = {n for n in names if n.startswith("issues_") and n.rsplit("_", 1)[1] in
                      ("changelist", "add", "change", "delete", "history")}
    assert actions and admin_defaults
    assert names - actions - admin_defaults - COVERED == set()
