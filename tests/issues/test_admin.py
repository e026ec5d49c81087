"""The ledger's admin (issues/admin.py): scope, filters, the read-only change page with its timeline
and action buttons, every action form through `issue_transition`, reporting through `issue_report`,
the Excel export of the filtered ledger, and the reference-data and outbox admins.

Messages are asserted in English: the tests use conftest's `english` (English in the test and in the
requests it makes), so the assertions hold whatever the zh-hans catalogue says.
"""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import constants as levels
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from grid import access
from grid import services as grid_services
from issues import calendar, services
from issues.models import CalendarOverride, Category, Issue, IssueEvent, IssuePhoto, Notification, State, Supervision
from tests.factories import act, category, issue
from tests.support import image, message_levels, shared_fixture, workbook

User = get_user_model()


# Messages and headers are read in English here (the default language is zh-hans).
pytestmark = pytest.mark.usefixtures("english")


def url(model, view="changelist", *args):
    return reverse(f"admin:issues_{model}_{view}", args=args)


def act_url(issue_obj, action):
    return reverse("admin:issues_issue_act", args=[issue_obj.pk, action])


def numbers(response):
    return {i.number for i in response.context["cl"].result_list}


def action_buttons(html):
    section = html.split('id="issue-actions"', 1)[1].split("</div>", 1)[0]
    return set(re.findall(r'data-action="(\w+)"', section))


def state_and_log(issue_obj):
    fresh = Issue.objects.get(pk=issue_obj.pk)
    return fresh.state, fresh.version, IssueEvent.objects.filter(issue=issue_obj).count()


def local_minute(dt):
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


@shared_fixture
def worker(ledger):
    """The property company's worker: not in an admin group; given the ledger's permissions by hand."""
    user = ledger.worker
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="issues",
                                                         codename__in=["view_issue", "change_issue"]))
    return User.objects.get(pk=user.pk)


@shared_fixture
def rich(ledger):
    """`ledger` plus an issue for every filter: overdue with a yellow card, common, difficult, urgent,
    a hotline report, another category in community B, and one with a searchable title."""
    w = ledger
    now = timezone.now()
    # The handling issue ran out of time: due yesterday after ten days → yellow card, not yet red.
    Issue.objects.filter(pk=w.handling.pk).update(assigned_at=now - datetime.timedelta(days=11),
                                                  due_at=now - datetime.timedelta(days=1))
    assert services.issues_mark_overdue() == {"yellow_card": 1, "red_card": 0, "failed": 0}
    w.handling.refresh_from_db()
    assert w.handling.supervision == Supervision.YELLOW
    w.common = act(act(issue(w.a.mg2, w.a.secretary), "record", w.a.secretary), "refer_analysis", w.a.secretary,
                   note="多个小区都有", common=True)
    w.difficult = act(act(issue(w.a.mg2, w.a.secretary), "record", w.a.secretary), "refer_analysis", w.a.secretary,
                      note="产权不清", difficult=True)
    w.urgent = issue(w.a.mg1, w.a.leader, priority="urgent")
    w.hotline = issue(w.a.mg2, w.a.secretary, source="hotline")
    w.litter = category("env_litter", name="垃圾堆放", group="environment", handler_kind="community")
    w.other_cat = issue(w.b.mg2, w.b.secretary, category=w.litter)
    w.lamp = issue(w.a.mg1, w.a.leader, title="楼道灯不亮")
    return w


ALL_A = ("reported", "recorded", "handling", "common", "difficult", "urgent", "hotline", "lamp")
ALL_B = ("other", "other_cat")


def pick(w, *names):
    return {getattr(w, n).number for n in names}


# --- the changelist ------------------------------------------------------------------------------


@pytest.mark.parametrize("who, sees", [
    ("superuser", ALL_A + ALL_B),
    ("staff", ALL_A + ALL_B),
    ("secretary", ALL_A),
    ("branch", ALL_A),
    ("secretary_b", ALL_B),
])
def test_the_ledger_opens_scoped(client, rich, request, who, sees):
    client.force_login(request.getfixturevalue(who))
    response = client.get(url("issue"))
    assert response.status_code == 200
    assert numbers(response) == pick(rich, *sees)


def test_list_columns_and_the_supervision_card(client, rich, staff):
    client.force_login(staff)
    html = client.get(url("issue")).content.decode()
    for column in ("number", "title", "state", "category", "grid", "handler", "due", "card"):
        assert re.search(rf'<th scope="col" class="[^"]*column-{column}\b', html), column
    # The overdue issue carries a yellow card and a red due time; its handler is the company.
    assert html.count('class="supervision-card supervision-1"') == 1
    assert "supervision-2" not in html.split("</style>", 1)[1]
    assert 'class="issue-overdue"' in html
    assert rich.property.name in html


@pytest.mark.parametrize("params, expected", [
    ({"state__exact": "recorded"}, ("recorded", "other")),
    ({"state__exact": "analysis"}, ("common", "difficult")),
    ({"category__id__exact": "litter"}, ("other_cat",)),
    ({"source__exact": "resident"}, ("reported",)),
    ({"source__exact": "hotline"}, ("hotline",)),
    ({"supervision__exact": "1"}, ("handling",)),
    ({"supervision__exact": "2"}, ()),
    ({"common__exact": "1"}, ("common",)),
    ({"difficult__exact": "1"}, ("difficult",)),
    ({"priority__exact": "urgent"}, ("urgent",)),
    ({"overdue": "1"}, ("handling",)),
    ({"overdue": "0"}, tuple(n for n in ALL_A + ALL_B if n != "handling")),
    ({"ancestor": "b.community"}, ALL_B),
    ({"ancestor": "street"}, ALL_A + ALL_B),
    ({"ancestor": "a.mg2"}, ("common", "difficult", "hotline")),  # a deeper node of the user's works too
    ({"q": "楼道灯"}, ("lamp",)),
    ({"q": "number:reported"}, ("reported",)),
    ({"state__exact": "recorded", "ancestor": "a.community"}, ("recorded",)),
])
def test_each_filter(client, rich, superuser, params, expected):
    w = rich
    params = dict(params)
    if params.get("category__id__exact") == "litter":
        params["category__id__exact"] = w.litter.pk
    if "ancestor" in params:
        target = w
        for part in params["ancestor"].split("."):
            target = getattr(target, part)
        params["ancestor"] = target.pk
    if params.get("q", "").startswith("number:"):
        params["q"] = getattr(w, params["q"].split(":")[1]).number
    client.force_login(superuser)
    response = client.get(url("issue"), params)
    assert response.status_code == 200
    assert numbers(response) == pick(w, *expected)


def test_subtree_filter_offers_only_the_users_communities(client, rich, secretary):
    client.force_login(secretary)
    response = client.get(url("issue"))
    [spec] = [f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "ancestor"]
    assert [pk for pk, _label in spec.lookup_choices] == [rich.a.community.pk]
    assert numbers(client.get(url("issue"), {"ancestor": rich.b.community.pk})) == set()


# --- scope ---------------------------------------------------------------------------------------


def test_another_communitys_secretary_sees_nothing_of_a(client, ledger, secretary_b):
    w = ledger
    client.force_login(secretary_b)
    html = client.get(url("issue")).content.decode()
    for i in (w.reported, w.recorded, w.handling):
        assert i.number not in html
    response = client.get(url("issue", "change", w.recorded.pk))
    assert response.status_code == 404
    assert w.recorded.number not in response.content.decode()
    # Its action form and a posted action answer 404 too, and change nothing.
    assert client.get(act_url(w.recorded, "assign")).status_code == 404
    before = state_and_log(w.recorded)
    response = client.post(act_url(w.recorded, "assign"), {"version": w.recorded.version,
                                                           "handler_org": w.property.pk})
    assert response.status_code == 404
    assert state_and_log(w.recorded) == before
    # Nor does the export of a "filter" on community A hold anything.
    sheet = workbook(client.get(url("issue", "export"), {"ancestor": w.a.community.pk}))
    assert list(sheet.active.iter_rows(values_only=True))[1:] == []


def test_property_staff_see_their_companys_issues(client, ledger, worker):
    w = ledger
    # grid's scope alone gives property staff nothing: the ledger adds what their company handles.
    assert not access.restrict(Issue.objects.all(), worker, via="grid").exists()
    client.force_login(worker)
    response = client.get(url("issue"))
    assert response.status_code == 200
    assert numbers(response) == {w.handling.number}
    assert client.get(url("issue", "change", w.handling.pk)).status_code == 200
    assert client.get(url("issue", "change", w.recorded.pk)).status_code == 404


def test_a_user_without_the_ledger_permission_is_refused(client, ledger):
    # Staff status alone does not open the ledger; the role's group (grid and ledger permissions) does.
    secretary = User.objects.get(pk=ledger.a.secretary.pk)
    secretary.is_staff = True
    secretary.save()
    client.force_login(secretary)
    assert client.get(url("issue")).status_code == 403
    grid_services.user_grant_admin(user=secretary, role="secretary")
    assert client.get(url("issue")).status_code == 200


def test_existing_role_groups_gain_new_permissions(ledger):
    from django.contrib.auth.models import Group, Permission

    group = grid_services.admin_group_sync("secretary")
    group.permissions.remove(Permission.objects.get(codename="view_issue"))
    grid_services.admin_group_sync("secretary", create=False)  # what post_migrate runs
    assert Group.objects.get(name="role:secretary").permissions.filter(codename="view_issue").exists()


# Street staff pay one query more: visible_issues names what is theirs outside their scope.
@pytest.mark.parametrize("who, budget", [("superuser", 6), ("staff", 11), ("worker", 10)])
def test_changelist_query_budget_does_not_grow_with_rows(client, ledger, request, who, budget):
    w = ledger
    user = request.getfixturevalue(who)
    client.force_login(user)

    def measure():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url("issue"))
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.context["cl"].result_list)

    small, shown_small = measure()
    for i in range(12):  # more rows, each with a category, grid, company and handler to show
        act(act(issue(w.a.mg2 if i % 2 else w.a.mg1, w.a.secretary), "record", w.a.secretary), "assign",
            w.a.secretary, handler_org=w.property.pk, handler_user="worker")
    big, shown_big = measure()
    assert shown_big == shown_small + 12
    assert small == big
    assert big <= budget, big


# --- the read-only change page -------------------------------------------------------------------


def test_change_page_is_read_only_with_the_timeline(client, ledger, secretary):
    w = ledger
    client.force_login(secretary)
    response = client.get(url("issue", "change", w.handling.pk))
    assert response.status_code == 200
    html = response.content.decode()
    # No editable field of the issue, no save button.
    assert 'name="title"' not in html and 'name="_save"' not in html
    assert w.handling.title in html and w.handling.number in html
    timeline = [(row["event"].action, row["from"], row["to"], row["actor"]) for row in response.context["timeline"]]
    assert timeline == [
        ("report", "", "reported", str(w.a.leader)),
        ("record", "reported", "recorded", str(w.a.leader)),
        ("assign", "recorded", "handling", str(w.a.secretary)),
    ]
    assert html.count('class="issue-event"') == 3
    # The assignment's data names the company and shows the due time in local time.
    assign = dict(response.context["timeline"][2]["data"])
    assert assign["handling organisation"] == w.property.name
    assert assign["due"] == timezone.localtime(w.handling.due_at).strftime("%Y-%m-%d %H:%M")
    # A merge names the issue by its ledger number; an assignment to a person, by their name.
    second = act(act(issue(w.a.mg1, w.a.leader), "record", w.a.leader), "assign", w.a.secretary,
                 handler_user="worker")
    act(w.recorded, "merge", w.a.secretary, into=second.pk)
    merged = dict(client.get(url("issue", "change", w.recorded.pk)).context["timeline"][-1]["data"])
    assert merged["merged into"] == second.number
    assigned = dict(client.get(url("issue", "change", second.pk)).context["timeline"][-1]["data"])
    assert assigned["handler"] == str(w.worker)


def test_posting_to_the_change_page_changes_nothing(client, ledger, staff):
    w = ledger
    client.force_login(staff)
    before = state_and_log(w.recorded)
    response = client.post(url("issue", "change", w.recorded.pk), {"title": "改掉", "state": "closed"})
    assert response.status_code == 403
    fresh = Issue.objects.get(pk=w.recorded.pk)
    assert fresh.title != "改掉"
    assert state_and_log(w.recorded) == before


@pytest.mark.parametrize("who, which, expected", [
    ("secretary", "recorded", {"assign", "return", "refer_analysis", "merge"}),
    ("branch", "recorded", {"refer_analysis"}),
    ("worker", "handling", {"submit_done", "return", "request_extension"}),
    # No extension was requested, so there is nothing to decide.
    ("secretary", "handling", {"return", "refer_analysis", "escalate", "merge"}),
    ("secretary", "extension_asked", {"return", "refer_analysis", "escalate", "decide_extension", "merge"}),
    ("staff", "reported", {"resolve_on_spot", "record", "merge"}),
])
def test_only_the_allowed_actions_are_buttons(client, ledger, request, who, which, expected):
    user = request.getfixturevalue(who)
    target = STARTS[which](ledger) if which in STARTS else getattr(ledger, which)
    client.force_login(user)
    html = client.get(url("issue", "change", target.pk)).content.decode()
    assert action_buttons(html) == expected == set(services.allowed_actions(user, target))
    # Each button opens its form and carries the version shown, for the conflict check.
    hrefs = re.findall(r'class="button issue-action" data-action="(\w+)" href="([^"]+)"', html)
    assert {a: h for a, h in hrefs} == {a: f"{act_url(target, a)}?version={target.version}" for a in expected}


def test_no_buttons_without_the_change_permission(client, ledger, secretary):
    group = Group.objects.get(name="role:secretary")
    group.permissions.remove(Permission.objects.get(content_type__app_label="issues", codename="change_issue"))
    user = User.objects.get(pk=secretary.pk)
    client.force_login(user)
    html = client.get(url("issue", "change", ledger.recorded.pk)).content.decode()
    assert action_buttons(html) == set()
    assert "No action is open to you" in html
    assert client.get(act_url(ledger.recorded, "assign")).status_code == 403


def test_the_photos_are_shown(client, ledger, staff, media):
    reported = issue(ledger.a.mg1, ledger.a.leader, photos=[image("door.png", size=(10, 10), colour="white")])
    photo = IssuePhoto.objects.get(issue=reported)
    client.force_login(staff)
    html = client.get(url("issue", "change", reported.pk)).content.decode()
    assert 'id="issue-photos"' in html
    assert f'src="{photo.image.url}"' in html


def test_reporter_phone_masked_without_the_phone_right(client, ledger, secretary, staff):
    client.force_login(secretary)
    html = client.get(url("issue", "change", ledger.reported.pk)).content.decode()
    assert "139****0000" in html and "13912340000" not in html
    client.force_login(staff)  # street staff hold grid.view_full_phone
    html = client.get(url("issue", "change", ledger.reported.pk)).content.decode()
    assert "13912340000" in html


# --- the action forms ------------------------------------------------------------------------------


def test_assign_through_the_form_computes_the_due_time_from_the_category(client, ledger, secretary):
    w = ledger
    client.force_login(secretary)
    form_page = client.get(act_url(w.recorded, "assign"), {"version": w.recorded.version})
    assert form_page.status_code == 200
    form = form_page.context["form"]
    assert set(form.fields) == {"version", "handler_org", "handler_user", "due", "note"}
    assert form.initial["version"] == w.recorded.version
    assert "5 working days" in form.fields["due"].help_text
    response = client.post(act_url(w.recorded, "assign"), {"version": w.recorded.version,
                                                           "handler_org": w.property.pk, "note": "请尽快"})
    assert response.status_code == 302
    assert response["Location"] == url("issue", "change", w.recorded.pk)
    fresh = Issue.objects.get(pk=w.recorded.pk)
    assert fresh.state == State.HANDLING
    assert fresh.handler_org == w.property and fresh.handler_user is None
    assert fresh.version == w.recorded.version + 1
    assert fresh.due_at == calendar.due_after(fresh.assigned_at, w.category.deadline, w.category.deadline_unit)
    event = fresh.events.order_by("-id").first()
    assert (event.action, event.actor, event.note) == ("assign", secretary, "请尽快")
    assert [level for level, _m in message_levels(response)] == [levels.SUCCESS]


@pytest.mark.parametrize("data, field", [
    ({"handler_user": "nobody"}, "handler_user"),  # refused by the service
    ({"handler_org": "999999"}, "handler_org"),  # not a company of this street: refused by the form
    ({"handler_org": "", "handler_user": ""}, "handler_org"),  # nobody named
    ({"handler_user": "worker", "due": "not a date"}, "due"),
    ({"handler_user": "worker", "due": "2020-01-01T09:00"}, "due"),  # in the past
    ({"handler_user": "worker", "due": "2020-01-01"}, "due"),
])
def test_a_bad_field_is_a_form_error_and_changes_nothing(client, ledger, secretary, data, field):
    w = ledger
    client.force_login(secretary)
    before = state_and_log(w.recorded)
    response = client.post(act_url(w.recorded, "assign"), {"version": w.recorded.version, **data})
    assert response.status_code == 200
    assert field in response.context["form"].errors, response.context["form"].errors
    assert 'class="errornote"' in response.content.decode()
    assert state_and_log(w.recorded) == before


def test_merge_into_an_unknown_or_the_same_issue_is_a_form_error(client, ledger, secretary):
    w = ledger
    client.force_login(secretary)
    before = state_and_log(w.recorded)
    unknown = "No issue with that number in your grid."
    for into, message in [(w.other.number, unknown),  # community B's: not visible to A's secretary
                          (str(w.handling.pk), unknown),  # an id is not a ledger number
                          (w.recorded.number, "An issue cannot be a duplicate of itself.")]:
        response = client.post(act_url(w.recorded, "merge"), {"version": w.recorded.version, "into": into})
        assert response.status_code == 200
        assert response.context["form"].errors["into"] == [message]
    assert state_and_log(w.recorded) == before


def test_a_bare_due_date_means_the_close_of_that_working_day(client, ledger, secretary):
    w = ledger
    day = timezone.localdate() + datetime.timedelta(days=20)
    client.force_login(secretary)
    response = client.post(act_url(w.recorded, "assign"), {"version": w.recorded.version, "handler_user": "worker",
                                                           "due": day.isoformat()})
    assert response.status_code == 302
    due = timezone.localtime(Issue.objects.get(pk=w.recorded.pk).due_at)
    assert (due.date(), due.hour, due.minute) == (day, 17, 30)


def test_a_missing_required_field_is_a_form_error(client, ledger, secretary):
    w = ledger
    client.force_login(secretary)
    before = state_and_log(w.recorded)
    response = client.post(act_url(w.recorded, "refer_analysis"), {"version": w.recorded.version, "note": "x"})
    # Neither common nor difficult: the service's rule, shown on the form.
    assert response.status_code == 200
    assert "common" in response.context["form"].errors
    response = client.post(act_url(w.recorded, "return"), {"version": w.recorded.version, "note": ""})
    assert "note" in response.context["form"].errors
    assert state_and_log(w.recorded) == before


def test_a_wrong_role_is_an_error_message_and_changes_nothing(client, ledger, branch):
    w = ledger
    client.force_login(branch)
    before = state_and_log(w.recorded)
    response = client.post(act_url(w.recorded, "assign"), {"version": w.recorded.version,
                                                           "handler_org": w.property.pk})
    assert response.status_code == 302
    assert response["Location"] == url("issue", "change", w.recorded.pk)
    assert message_levels(response) == [(levels.ERROR, "Your role does not allow this action on this issue.")]
    assert state_and_log(w.recorded) == before


def test_an_action_not_open_to_the_user_is_not_offered_as_a_form(client, ledger, branch):
    client.force_login(branch)
    response = client.get(act_url(ledger.recorded, "assign"))
    assert response.status_code == 302
    [(level, message)] = message_levels(response)
    assert level == levels.ERROR and "not open to you" in message


def test_a_stale_version_is_a_conflict_and_changes_nothing(client, ledger, secretary, staff):
    w = ledger
    client.force_login(secretary)
    shown = w.recorded.version
    page = client.get(url("issue", "change", w.recorded.pk)).content.decode()
    assert f"act/assign/?version={shown}" in page
    # Meanwhile street staff flag it for the joint analysis.
    act(w.recorded, "refer_analysis", staff, note="共性问题", common=True)
    before = state_and_log(w.recorded)
    response = client.post(act_url(w.recorded, "assign"), {"version": shown, "handler_org": w.property.pk})
    assert response.status_code == 302
    [(level, message)] = message_levels(response)
    assert level == levels.ERROR
    assert "changed by someone else" in message
    assert state_and_log(w.recorded) == before
    assert Issue.objects.get(pk=w.recorded.pk).state == State.ANALYSIS


def test_an_unknown_action_is_404(client, ledger, staff):
    client.force_login(staff)
    assert client.get(act_url(ledger.recorded, "yellow_card")).status_code == 404
    assert client.get(act_url(ledger.recorded, "explode")).status_code == 404


def in_days(days, base=None):
    # From the start of today when no base is given: a minute ticking over mid-test changes nothing.
    base = base or timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)
    return local_minute(base + datetime.timedelta(days=days))


def _handling(w):
    return w.handling


def _recorded(w):
    return w.recorded


def _verifying(w):
    return act(w.handling, "submit_done", w.worker, note="已修复")


def _analysis(w):
    return act(w.recorded, "refer_analysis", w.a.secretary, note="共性", common=True)


def _disposal(w):
    return act(_analysis(w), "escalate", w.branch, note="申请联动处置")


def _resolved(w):
    return act(_verifying(w), "verify", w.a.secretary)


def _closed_dissatisfied(w):
    return act(_resolved(w), "give_feedback", w.a.leader, channel="visit", text="已修好", satisfaction="dissatisfied")


def _extension_asked(w):
    return act(w.handling, "request_extension", w.worker, reason="等配件",
               until=w.handling.due_at + datetime.timedelta(days=3))


# (start, who acts, action, form data, expected state, extra check)
WALK = [
    ("reported", "staff", "resolve_on_spot", {"note": "当场修好", "photos": "image"}, State.RESOLVED,
     lambda i, w: i.photos.count() == 1 and i.events.last().photos.count() == 1),
    ("reported", "staff", "record", {"note": ""}, State.RECORDED, None),
    ("recorded", "staff", "assign",
     lambda w: {"handler_org": w.property.pk, "handler_user": "worker", "due": in_days(10)}, State.HANDLING,
     lambda i, w: i.handler_user == w.worker and local_minute(i.due_at) == in_days(10)),
    ("handling", "worker", "submit_done", {"note": "已修复"}, State.VERIFYING, None),
    ("verifying", "staff", "verify", {}, State.RESOLVED, None),
    ("verifying", "staff", "reject", {"note": "没修好"}, State.HANDLING, None),
    ("recorded", "staff", "return", {"note": "不属于本社区"}, State.REPORTED, None),
    ("handling", "worker", "return", {"note": "不属于物业"}, State.RECORDED, lambda i, w: i.handler_org is None),
    ("recorded", "staff", "refer_analysis", {"note": "产权不清", "difficult": "on"}, State.ANALYSIS,
     lambda i, w: i.difficult and not i.common),
    ("analysis", "staff", "escalate", {"note": "提交社区党委"}, State.DISPOSAL, None),
    ("analysis", "staff", "assign", lambda w: {"handler_org": w.property.pk}, State.HANDLING, None),
    ("disposal", "staff", "assign", lambda w: {"handler_org": w.property.pk, "plan": "社区出资维修"}, State.HANDLING,
     lambda i, w: i.plan == "社区出资维修"),
    ("disposal", "staff", "declare_unresolvable", {"announcement": "涉及产权纠纷，暂无法解决"}, State.UNRESOLVABLE,
     lambda i, w: i.announced_at is not None),
    ("resolved", "staff", "give_feedback", {"channel": "phone", "text": "已电话告知", "satisfaction": "satisfied"},
     State.CLOSED, lambda i, w: i.closed_at is not None),
    ("closed_dissatisfied", "staff", "reopen", {"note": "居民不满意"}, State.HANDLING, lambda i, w: i.reopen_count == 1),
    ("recorded", "staff", "merge", lambda w: {"into": w.handling.number}, State.CLOSED,
     lambda i, w: i.merged_into == w.handling),
    ("handling", "worker", "request_extension", lambda w: {"reason": "等配件", "until": in_days(3, w.handling.due_at)},
     State.HANDLING, lambda i, w: i.extension_reason == "等配件" and i.extension_until is not None),
    ("extension_asked", "staff", "decide_extension", {"approve": "yes", "note": "同意"}, State.HANDLING,
     lambda i, w: i.extension_until is None and local_minute(i.due_at) == in_days(3, w.handling.due_at)),
]
STARTS = {"reported": lambda w: w.reported, "recorded": _recorded, "handling": _handling, "verifying": _verifying,
          "analysis": _analysis, "disposal": _disposal, "resolved": _resolved,
          "closed_dissatisfied": _closed_dissatisfied, "extension_asked": _extension_asked}


@pytest.mark.parametrize("start, who, action, data, to, check", WALK,
                         ids=[f"{s}-{a}" for s, _w, a, *_rest in WALK])
def test_every_action_form_calls_the_workflow(client, ledger, request, media, start, who, action, data, to, check):
    w = ledger
    user = request.getfixturevalue(who)
    target = STARTS[start](w)
    data = dict(data(w) if callable(data) else data)
    if data.get("photos") == "image":
        data["photos"] = image("fixed.png", size=(10, 10), colour="white")
    client.force_login(user)
    assert action in action_buttons(client.get(url("issue", "change", target.pk)).content.decode())
    assert client.get(act_url(target, action)).status_code == 200
    events = IssueEvent.objects.filter(issue=target).count()
    response = client.post(act_url(target, action), {"version": target.version, **data})
    assert response.status_code == 302, response.context["form"].errors
    fresh = Issue.objects.get(pk=target.pk)
    assert fresh.state == to
    last = fresh.events.order_by("-id").first()
    assert (last.action, last.actor_id) == (action, user.pk)
    assert IssueEvent.objects.filter(issue=target).count() == events + 1
    assert check is None or check(fresh, w)
    assert message_levels(response)[0][0] == levels.SUCCESS


def test_a_bad_photo_is_refused_and_changes_nothing(client, ledger, staff, media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    w = ledger
    client.force_login(staff)
    before = state_and_log(w.reported)
    response = client.post(act_url(w.reported, "resolve_on_spot"), {
        "version": w.reported.version, "note": "修好了", "photos": SimpleUploadedFile("x.png", b"not an image")})
    assert response.status_code == 200
    assert "photos" in response.context["form"].errors
    assert state_and_log(w.reported) == before
    assert not IssuePhoto.objects.exists()


# --- adding an issue goes through the service ----------------------------------------------------


def report_form(w, **kw):
    data = {"grid": w.a.mg1.pk, "category": w.category.pk, "title": "", "description": "电梯困人",
            "source": "hotline", "location": "3号楼", "priority": "high", "reporter_name": "李先生",
            "reporter_phone": "13700001111"}
    data.update(kw)
    return data


def test_adding_an_issue_goes_through_the_report_service(client, ledger, secretary):
    w = ledger
    client.force_login(secretary)
    form_page = client.get(url("issue", "add"))
    assert form_page.status_code == 200
    fields = form_page.context["adminform"].form.fields
    assert "resident" not in [v for v, _label in fields["source"].choices]
    assert set(fields) >= {"grid", "category", "title", "description", "source", "location", "priority"}
    before = Issue.objects.count()
    response = client.post(url("issue", "add"), report_form(w))
    created = Issue.objects.exclude(pk__in=[w.reported.pk, w.recorded.pk, w.handling.pk, w.other.pk]).get()
    assert Issue.objects.count() == before + 1
    assert response.status_code == 302
    assert response["Location"] == url("issue", "change", created.pk)
    month = timezone.localtime(created.reported_at).strftime("%Y%m")
    assert re.fullmatch(rf"ST-{month}-\d{{5}}", created.number)
    assert (created.state, created.reporter) == ("reported", secretary)
    assert (created.source, created.priority, created.reporter_phone) == ("hotline", "high", "13700001111")
    assert (created.street, created.community) == (w.street, w.a.community)
    assert created.title.startswith(w.category.name)
    [event] = created.events.all()
    assert (event.action, event.to_state, event.actor) == ("report", State.REPORTED, secretary)


@pytest.mark.parametrize("overrides, field", [
    ({"source": "resident"}, "source"),
    ({"grid": "b.mg1"}, "grid"),  # outside the secretary's community
    ({"category": "inactive"}, "category"),
    ({"description": "   "}, "description"),
    ({"reporter_phone": "12345"}, "reporter_phone"),
])
def test_a_bad_report_is_a_field_error_and_writes_nothing(client, ledger, secretary, overrides, field):
    w = ledger
    if overrides.get("grid") == "b.mg1":
        overrides = {"grid": w.b.mg1.pk}
    if overrides.get("category") == "inactive":
        overrides = {"category": category("retired", active=False).pk}
    client.force_login(secretary)
    before = (Issue.objects.count(), IssueEvent.objects.count())
    response = client.post(url("issue", "add"), report_form(w, **overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert (Issue.objects.count(), IssueEvent.objects.count()) == before


def test_the_report_forms_grid_autocomplete_is_scoped(client, ledger, secretary):
    client.force_login(secretary)
    response = client.get(reverse("admin:autocomplete"), {"app_label": "issues", "model_name": "issue",
                                                          "field_name": "grid", "term": "微网格"})
    assert response.status_code == 200
    assert {r["text"] for r in response.json()["results"]} == {"微网格A1 (CA-G1)", "微网格A2 (CA-G2)"}


def test_issues_cannot_be_deleted(client, ledger, staff, superuser):
    for user in (staff, superuser):
        client.force_login(user)
        assert client.get(url("issue", "delete", ledger.recorded.pk)).status_code == 403
        assert client.post(url("issue", "delete", ledger.recorded.pk), {"post": "yes"}).status_code == 403
        response = client.get(url("issue"))
        action_form = response.context.get("action_form")
        choices = [a for a, _label in action_form.fields["action"].choices] if action_form else []
        assert "delete_selected" not in choices
    assert Issue.objects.filter(pk=ledger.recorded.pk).exists()


# --- the Excel export ------------------------------------------------------------------------------


def export(client, **params):
    rows = list(workbook(client.get(url("issue", "export"), params)).active.iter_rows(values_only=True))
    return rows[0], rows[1:]


def test_export_holds_exactly_the_filtered_rows(client, rich, superuser):
    w = rich
    client.force_login(superuser)
    header, rows = export(client)
    assert header[:3] == ("ledger number", "report time", "title")
    assert {r[0] for r in rows} == pick(w, *(ALL_A + ALL_B))
    cases = [
        ({"state__exact": "recorded"}, ("recorded", "other")),
        ({"overdue": "1"}, ("handling",)),
        ({"ancestor": w.b.community.pk}, ALL_B),
        ({"q": "楼道灯"}, ("lamp",)),
        ({"source__exact": "hotline", "ancestor": w.a.community.pk}, ("hotline",)),
    ]
    for params, expected in cases:
        screen = client.get(url("issue"), params).context["cl"].result_list
        _header, rows = export(client, **params)
        # The same rows in the same order as on screen (all fit on one page here).
        assert [r[0] for r in rows] == [i.number for i in screen]
        assert {r[0] for r in rows} == pick(w, *expected)


def test_export_columns(client, ledger, staff):
    w = ledger
    client.force_login(staff)
    header, rows = export(client, **{"state__exact": "handling"})
    [row] = rows
    cells = dict(zip(header, row))
    assert cells["ledger number"] == w.handling.number
    assert cells["community"] == "社区A"
    assert (cells["grid code"], cells["grid node"]) == ("CA-G1", "微网格A1")
    assert (cells["state"], cells["source"], cells["priority"]) == ("handling", "home visit", "normal")
    assert cells["handling organisation"] == w.property.name
    assert cells["due"] == timezone.localtime(w.handling.due_at).replace(tzinfo=None, microsecond=0)
    assert (cells["supervision"], cells["common problem"], cells["reopened"]) == ("none", "No", 0)
    assert cells["closing time"] is None


def test_export_masks_phones_without_the_phone_right(client, ledger, secretary, staff):
    w = ledger
    client.force_login(secretary)
    header, rows = export(client, **{"source__exact": "resident"})
    phone = header.index("reporter's phone")
    assert [r[phone] for r in rows] == ["139****0000"]
    assert "13912340000" not in repr(rows)
    client.force_login(staff)
    header, rows = export(client, **{"source__exact": "resident"})
    assert [r[header.index("reporter's phone")] for r in rows] == ["13912340000"]
    assert [r[header.index("reporter's name")] for r in rows] == ["王阿姨"]


def test_export_queries_do_not_grow_with_rows(client, ledger, staff):
    w = ledger
    client.force_login(staff)

    def measure():
        with CaptureQueriesContext(connection) as ctx:
            _header, rows = export(client)
        return len(ctx.captured_queries), len(rows)

    small, n_small = measure()
    for _ in range(8):
        act(act(issue(w.a.mg2, w.a.secretary), "record", w.a.secretary), "assign", w.a.secretary,
            handler_org=w.property.pk, handler_user="worker")
    big, n_big = measure()
    assert n_big == n_small + 8
    assert small == big


def test_the_changelist_links_the_export_with_its_filters(client, ledger, staff):
    client.force_login(staff)
    html = client.get(url("issue"), {"state__exact": "recorded"}).content.decode()
    assert f'href="{url("issue", "export")}?state__exact=recorded"' in html


# --- categories and the calendar -------------------------------------------------------------------


def test_street_staff_add_and_edit_categories(client, ledger, staff):
    client.force_login(staff)
    data = {"code": "lift", "name": "电梯故障", "group": "safety", "deadline": 8, "deadline_unit": "hours",
            "handler_kind": "property", "active": "on"}
    assert client.post(url("category", "add"), data).status_code == 302
    lift = Category.objects.get(code="lift")
    assert (lift.deadline, lift.deadline_unit, lift.active) == (8, "hours", True)
    response = client.post(url("category", "change", lift.pk), {**data, "deadline": 4, "active": ""})
    assert response.status_code == 302
    lift.refresh_from_db()
    assert (lift.deadline, lift.active) == (4, False)
    # A deadline of zero is refused by the form.
    response = client.post(url("category", "change", lift.pk), {**data, "deadline": 0})
    assert response.status_code == 200
    assert "deadline" in response.context["adminform"].form.errors


def test_secretaries_read_categories_but_do_not_edit_them(client, ledger, secretary):
    client.force_login(secretary)
    response = client.get(url("category"))
    assert response.status_code == 200
    assert ledger.category.code in {c.code for c in response.context["cl"].result_list}
    assert client.get(url("category", "add")).status_code == 403
    assert client.post(url("category", "change", ledger.category.pk), {"name": "改掉"}).status_code == 403
    assert Category.objects.get(pk=ledger.category.pk).name != "改掉"


def test_a_category_in_use_cannot_be_deleted(client, ledger, staff):
    client.force_login(staff)
    response = client.post(url("category", "delete", ledger.category.pk), {"post": "yes"})
    assert response.status_code == 200  # Django's "cannot delete: protected" page
    assert response.context["protected"]
    assert Category.objects.filter(pk=ledger.category.pk).exists()


def test_calendar_overrides_change_the_working_days(client, ledger, staff, secretary):
    day = datetime.date(2026, 12, 2)  # a Wednesday
    assert calendar.is_workday(day)
    client.force_login(staff)
    response = client.post(url("calendaroverride", "add"), {"date": "2026-12-02", "note": "街道停电"})
    assert response.status_code == 302
    assert CalendarOverride.objects.get(date=day).workday is False
    assert not calendar.is_workday(day)
    html = client.get(url("calendaroverride")).content.decode()
    assert "街道停电" in html
    client.force_login(secretary)
    assert client.get(url("calendaroverride")).status_code == 200
    assert client.get(url("calendaroverride", "add")).status_code == 403


# --- the outbox ------------------------------------------------------------------------------------


def outbox(key, status, channel="console", address="13900001234", issue_obj=None, attempts=5):
    return Notification.objects.create(
        key=key, channel=channel, address=address, text="测试", status=status, attempts=attempts, issue=issue_obj,
        last_error="boom" if status == "failed" else "")


def test_the_outbox_is_read_only_and_scoped(client, ledger, secretary, secretary_b, staff):
    w = ledger
    a = outbox("a", "failed", channel="sms", issue_obj=w.recorded)
    b = outbox("b", "failed", issue_obj=w.other)
    client.force_login(secretary_b)
    response = client.get(url("notification"))
    keys = {n.key for n in response.context["cl"].result_list}
    assert "b" in keys and "a" not in keys
    assert client.get(url("notification", "change", a.pk)).status_code == 404
    client.force_login(secretary)
    response = client.get(url("notification"), {"status__exact": "failed"})
    assert {n.key for n in response.context["cl"].result_list} == {"a"}
    html = response.content.decode()
    assert "139****1234" in html and "13900001234" not in html
    assert client.get(url("notification", "change", a.pk)).status_code == 200
    assert client.post(url("notification", "change", a.pk), {"text": "改"}).status_code == 403
    assert client.get(url("notification", "add")).status_code == 403
    # The secretary may not retry (no change permission): the action is not offered.
    action_form = response.context.get("action_form")
    assert action_form is None or "retry" not in [c for c, _l in action_form.fields["action"].choices]
    client.force_login(staff)
    assert {n.key for n in client.get(url("notification")).context["cl"].result_list} >= {"a", "b"}
    assert Notification.objects.get(pk=b.pk).status == "failed"


def test_retry_sends_failed_messages_again(client, ledger, staff, settings):
    settings.SMS_GATEWAY_URL = ""
    w = ledger
    console = outbox("console", "failed", issue_obj=w.recorded)
    sms = outbox("sms", "failed", channel="sms", issue_obj=w.recorded)  # no gateway: fails again
    sent = outbox("sent", "sent", issue_obj=w.recorded, attempts=1)
    client.force_login(staff)
    response = client.post(url("notification"), {"action": "retry", "index": 0,
                                                 "_selected_action": [console.pk, sms.pk, sent.pk]})
    assert response.status_code == 302
    console.refresh_from_db(), sms.refresh_from_db(), sent.refresh_from_db()
    assert (console.status, console.attempts, console.last_error) == ("sent", 1, "")
    # A fresh round of attempts: it failed once more and waits for the outbox task.
    assert (sms.status, sms.attempts) == ("pending", 1)
    assert "SMS_GATEWAY_URL" in sms.last_error
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert [level for level, _m in message_levels(response)] == [levels.SUCCESS, levels.WARNING, levels.INFO]
