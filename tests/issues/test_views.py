"""The mobile ledger pages (issues/views.py): report, the issue page and its action forms, the queues."""

import datetime

import pytest
from django.conf import settings as django_settings
from django.contrib.messages import constants
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from issues import services
from issues.models import Issue, IssueEvent, IssuePhoto, State, Supervision
from tests.factories import RoleFactory, UserFactory, act, category, issue
from tests.issues.clock import make_overdue
from tests.support import fresh, image, login, message_levels, shared_fixture

# Whatever the number of rows, a queue page costs this many queries at most (session, user, roles for
# the tabs, scope, handler companies, the user's own issues outside their scope, section counts or the
# handler's companies again, page count, page rows, paths of the places).
QUEUE_BUDGET = 10
# The issue page, whatever the length of its timeline and the number of photos (a verifying issue is the
# dearest: the service looks up who did the work once for `verify` and once for `reject`).
DETAIL_BUDGET = 19

pytestmark = pytest.mark.usefixtures("media")


def url(name, *args):
    return reverse(f"mobile_issues:{name}", args=args)


def act_url(issue_obj, action):
    return url("act", issue_obj.pk, action)


def snapshot(issue_obj):
    i = fresh(issue_obj)
    return (i.state, i.version, i.handler_org_id, i.due_at, i.extension_until, IssueEvent.objects.filter(issue=i).count())


def post_action(client, issue_obj, action, version=None, **data):
    data["version"] = fresh(issue_obj).version if version is None else version
    return client.post(act_url(issue_obj, action), data, follow=True)


def form_of(response, action):
    [item] = [f for f in response.context["forms"] if f["action"] == action]
    return item["form"]


def shown_actions(response):
    return [f["action"] for f in response.context["forms"]]


# --- login -----------------------------------------------------------------------------------------


def test_every_page_needs_a_login(client, ledger):
    pages = [url("index"), url("report"), url("queue", "leader"), url("detail", ledger.reported.pk),
             act_url(ledger.reported, "record")]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"] == f"{reverse('mobile:login')}?next={page}"
    response = client.post(act_url(ledger.reported, "record"), {"version": 1})
    assert response.status_code == 302
    assert fresh(ledger.reported).state == State.REPORTED


# --- reporting -------------------------------------------------------------------------------------


def test_report_form_offers_the_leaders_microgrid_and_the_camera(client, ledger):
    login(client, ledger.a.leader)
    response = client.get(url("report"))
    assert response.status_code == 200
    form = response.context["form"]
    assert [n.code for n, _label in form.offered] == ["CA-G1"]
    html = response.content.decode()
    assert 'type="file" name="photos" accept="image/*" capture="environment" multiple' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'value="CA-G1"' in html and "CB-G1" not in html
    # The sources a person may give: not `resident`, which is the public page's.
    assert [c for c, _l in form.fields["source"].choices] == ["visit", "patrol", "hotline", "other"]


def test_report_form_takes_the_place_the_user_came_from(client, ledger):
    login(client, ledger.a.secretary)
    response = client.get(url("report"), {"grid": "CA-R1"})
    form = response.context["form"]
    assert form["grid"].value() == "CA-R1"
    assert form.offered[0][0].code == "CA-R1"
    # A place outside the scope is not offered, whatever the link says.
    response = client.get(url("report"), {"grid": "CB-G1"})
    assert "CB-G1" not in [n.code for n, _label in response.context["form"].offered]


def test_a_secretary_without_microgrids_picks_from_the_communitys(client, ledger):
    login(client, ledger.a.secretary)
    form = client.get(url("report")).context["form"]
    assert [n.code for n, _label in form.offered] == ["CA-G1", "CA-G2"]
    assert [label for _n, label in form.offered] == ["微网格A1 · 小区A", "微网格A2 · 小区A"]


def test_a_user_without_a_grid_cannot_report(en, ledger):
    login(en, ledger.worker)
    response = en.get(url("report"))
    assert response.context["form"].offered == []
    assert "You have no grid to report in." in response.content.decode()
    assert 'name="description"' not in response.content.decode()


def test_report_puts_one_issue_in_the_ledger_and_opens_it(en, ledger):
    login(en, ledger.a.leader)
    before = Issue.objects.count()
    response = en.post(url("report"), {
        "grid": "CA-G1", "category": ledger.category.pk, "description": "  楼道灯不亮  ", "location": "1栋2单元",
        "priority": "high", "source": "patrol", "photos": [image("a.png"), image("b.png")],
    })
    assert Issue.objects.count() == before + 1
    new = Issue.objects.latest("id")
    assert response.status_code == 302
    assert response["Location"] == url("detail", new.pk)
    assert (new.grid, new.reporter, new.state, new.source, new.priority) == (
        ledger.a.mg1, ledger.a.leader, State.REPORTED, "patrol", "high")
    assert new.description == "楼道灯不亮" and new.location == "1栋2单元"
    assert new.community == ledger.a.community
    assert IssuePhoto.objects.filter(issue=new).count() == 2
    # The leader lands on the issue, where resolving on the spot and recording are at hand.
    page = en.get(response["Location"])
    assert page.context["issue"] == new
    assert {"resolve_on_spot", "record"} <= set(shown_actions(page))
    assert ("Issue %s is in the ledger" % new.number) in page.content.decode()
    assert len(page.context["photos"]) == 2


def test_report_with_bad_fields_shows_errors_and_stores_nothing(en, ledger):
    login(en, ledger.a.leader)
    before, photos = Issue.objects.count(), IssuePhoto.objects.count()
    response = en.post(url("report"), {
        "grid": "CA-G1", "category": "", "description": "   ", "priority": "someday", "source": "resident",
        "photos": [SimpleUploadedFile("x.png", b"not an image", content_type="image/png")],
    })
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"category", "description", "priority", "source", "photos"}
    assert "JPEG, PNG or WebP" in errors["photos"][0]
    assert Issue.objects.count() == before
    assert IssuePhoto.objects.count() == photos
    assert 'class="field invalid"' in response.content.decode()


def test_report_refuses_too_many_photos(en, ledger):
    login(en, ledger.a.leader)
    before = Issue.objects.count()
    response = en.post(url("report"), {
        "grid": "CA-G1", "category": ledger.category.pk, "description": "垃圾未清运", "priority": "normal",
        "source": "visit", "photos": [image(f"{i}.png") for i in range(services.MAX_PHOTOS + 1)],
    })
    assert response.status_code == 200
    assert "photos" in response.context["form"].errors
    assert Issue.objects.count() == before


def test_report_refuses_an_inactive_category_through_the_service(en, ledger):
    old = category("retired", name="停用类别", active=True)
    login(en, ledger.a.leader)
    page = en.get(url("report"))  # the form was loaded while the category was in use
    assert page.status_code == 200
    old.active = False
    old.save()
    before = Issue.objects.count()
    response = en.post(url("report"), {"grid": "CA-G1", "category": old.pk, "description": "x",
                                       "priority": "normal", "source": "visit"})
    assert "category" in response.context["form"].errors
    assert Issue.objects.count() == before


@pytest.mark.parametrize("code", ["CB-G1", "CA-G2", "NO-SUCH"])
def test_report_on_a_place_outside_the_scope_is_refused(en, ledger, code):
    # Community B is another community; CA-G2 is in the leader's community but not their micro-grid.
    login(en, ledger.a.leader)
    before = Issue.objects.count()
    response = en.post(url("report"), {"grid": code, "category": ledger.category.pk, "description": "越界上报",
                                       "priority": "normal", "source": "visit"})
    assert response.status_code == 200
    assert response.context["form"].errors["grid"] == ["Choose a place in your grid."]
    assert Issue.objects.count() == before


def test_report_outside_the_scope_is_refused_by_the_service_too(en, ledger, monkeypatch):
    # Should a form ever offer a place out of scope, the service still refuses and nothing is stored.
    from types import SimpleNamespace

    from grid import selectors as real
    from grid.models import GridNode
    from issues import forms

    login(en, ledger.a.leader)
    lax = SimpleNamespace(visible_nodes=lambda user: GridNode.objects.all(), my_microgrids=real.my_microgrids,
                          node_paths=real.node_paths)
    monkeypatch.setattr(forms, "grid_selectors", lax)
    before = Issue.objects.count()
    response = en.post(url("report"), {"grid": "CB-G1", "category": ledger.category.pk, "description": "越界",
                                       "priority": "normal", "source": "visit"})
    assert response.status_code == 200
    assert response.context["form"].errors["grid"] == ["This place is outside your grid."]
    assert Issue.objects.count() == before


def test_the_forms_choices_are_the_services():
    from issues import forms

    assert [c for c, _l in forms.FEEDBACK_CHANNELS] == list(services.FEEDBACK_CHANNELS)
    assert [c for c, _l in forms.SATISFACTION] == list(services.SATISFACTION)
    assert set(forms.ACTION_LABELS) >= set(services.workflow.ACTIONS) | {"report"}


# --- the issue page ----------------------------------------------------------------------------------


def test_issue_page_shows_the_facts_the_place_and_the_timeline(en, ledger):
    login(en, ledger.a.secretary)
    response = en.get(url("detail", ledger.handling.pk))
    assert response.status_code == 200
    html = response.content.decode()
    issue_obj = fresh(ledger.handling)
    assert issue_obj.number in html
    assert "handling" in html  # the state
    assert ledger.category.name in html
    assert "社区A › 小区A › 1栋 › 1单元 › 微网格A1" in html
    assert issue_obj.description in html
    assert ledger.property.name in html
    assert timezone.localtime(issue_obj.due_at).strftime("%Y-%m-%d %H:%M") in html
    assert [row["event"].action for row in response.context["timeline"]] == ["report", "record", "assign"]
    assert "Assign" in html and "Record" in html


def test_issue_page_masks_a_residents_phone(en, ledger):
    login(en, ledger.a.leader)
    html = en.get(url("detail", ledger.reported.pk)).content.decode()
    assert "王阿姨 · 139****0000" in html
    assert "13912340000" not in html


@pytest.mark.parametrize("who, which, expected", [
    ("leader", "reported", ["resolve_on_spot", "record", "merge"]),
    ("secretary", "recorded", ["assign", "return", "refer_analysis", "merge"]),
    ("worker", "handling", ["submit_done", "return", "request_extension"]),
    ("branch", "handling", ["refer_analysis", "escalate"]),
    ("leader", "handling", ["refer_analysis", "merge"]),
])
def test_issue_page_shows_only_the_allowed_action_forms(client, ledger, who, which, expected):
    user = ledger.a.leader if who == "leader" else ledger.a.secretary if who == "secretary" else getattr(ledger, who)
    target = getattr(ledger, which)
    login(client, user)
    response = client.get(url("detail", target.pk))
    assert sorted(shown_actions(response)) == sorted(expected)
    html = response.content.decode()
    for action in services.workflow.USER_ACTIONS:
        assert (f'action="{act_url(target, action)}"' in html) == (action in expected), action
    # Each form carries the version the user saw.
    assert html.count(f'name="version" value="{fresh(target).version}"') == len(expected)


def test_issue_page_query_budget_does_not_grow_with_the_timeline(client, ledger, django_assert_max_num_queries):
    login(client, ledger.a.secretary)
    with django_assert_max_num_queries(DETAIL_BUDGET):
        short = client.get(url("detail", ledger.handling.pk))
    for day in range(1, 6):
        act(ledger.handling, "request_extension", ledger.worker, reason=f"第{day}次", until=later(ledger.handling, 1),
            photos=[image()])
        act(ledger.handling, "decide_extension", ledger.a.secretary, approve=day % 2 == 0, note="")
    act(ledger.handling, "submit_done", ledger.worker, note="完成", photos=[image(), image()])
    with django_assert_max_num_queries(DETAIL_BUDGET):
        long = client.get(url("detail", ledger.handling.pk))
    assert len(long.context["timeline"]) == len(short.context["timeline"]) + 11
    assert long.content.decode().count("<img") == 7


def test_an_issue_with_nothing_to_do_says_so(en, ledger):
    login(en, ledger.worker)
    act(ledger.handling, "submit_done", ledger.worker, note="已修好")
    response = en.get(url("detail", ledger.handling.pk))
    assert shown_actions(response) == []
    assert "Nothing for you to do on this issue now." in response.content.decode()


def test_another_communitys_issue_is_404_everywhere(client, ledger):
    for user in (ledger.a.leader, ledger.a.secretary, ledger.worker, ledger.branch):
        login(client, user)
        before = snapshot(ledger.other)
        assert client.get(url("detail", ledger.other.pk)).status_code == 404
        assert client.post(act_url(ledger.other, "assign"), {"version": 2, "handler_org": ledger.property.pk}).status_code == 404
        assert snapshot(ledger.other) == before


def test_property_staff_see_only_their_companys_issues(client, ledger):
    login(client, ledger.worker)
    assert client.get(url("detail", ledger.handling.pk)).status_code == 200
    assert client.get(url("detail", ledger.recorded.pk)).status_code == 404
    assert client.get(url("detail", ledger.reported.pk)).status_code == 404


def test_a_leader_does_not_see_the_neighbouring_microgrids_issue(client, ledger):
    neighbour = issue(ledger.a.mg2, ledger.a.secretary)
    login(client, ledger.a.leader)
    assert client.get(url("detail", neighbour.pk)).status_code == 404


def test_unknown_action_is_404_and_a_get_goes_back_to_the_issue(client, ledger):
    login(client, ledger.a.leader)
    before = snapshot(ledger.reported)
    response = client.post(act_url(ledger.reported, "explode"), {"version": 1})
    assert response.status_code == 404
    # The cards are the supervision job's, not a person's.
    assert client.post(act_url(ledger.handling, "yellow_card"), {"version": 3}).status_code == 404
    response = client.get(act_url(ledger.reported, "record"))
    assert response.status_code == 302
    assert response["Location"] == url("detail", ledger.reported.pk)
    assert snapshot(ledger.reported) == before


# --- actions: reported -----------------------------------------------------------------------------


def test_resolve_on_the_spot(en, ledger):
    login(en, ledger.a.leader)
    response = post_action(en, ledger.reported, "resolve_on_spot", note="当场联系物业关好门", photos=[image()])
    assert response.redirect_chain == [(url("detail", ledger.reported.pk), 302)]
    issue_obj = fresh(ledger.reported)
    assert issue_obj.state == State.RESOLVED
    event = issue_obj.events.last()
    assert (event.action, event.actor, event.note) == ("resolve_on_spot", ledger.a.leader, "当场联系物业关好门")
    assert event.photos.count() == 1
    assert message_levels(response) == [(constants.SUCCESS, "Resolve on the spot: done. New state: resolved.")]
    # Next: the feedback to the resident.
    assert "give_feedback" in shown_actions(response)


def test_resolve_on_the_spot_needs_a_note(en, ledger):
    login(en, ledger.a.leader)
    before = snapshot(ledger.reported)
    response = post_action(en, ledger.reported, "resolve_on_spot", note="  ")
    assert response.status_code == 200
    assert response.redirect_chain == []
    assert form_of(response, "resolve_on_spot").errors["note"] == ["This field is required."]
    assert snapshot(ledger.reported) == before
    # The form with the error is open, the page says which one failed.
    [item] = [f for f in response.context["forms"] if f["action"] == "resolve_on_spot"]
    assert item["open"]
    assert 'href="#act-resolve_on_spot"' in response.content.decode()


def test_record_from_the_page(en, ledger):
    login(en, ledger.a.leader)
    response = post_action(en, ledger.reported, "record")
    assert fresh(ledger.reported).state == State.RECORDED
    assert message_levels(response)[0][0] == constants.SUCCESS
    assert fresh(ledger.reported).events.last().action == "record"


def test_a_party_branch_member_records_too(en, ledger):
    login(en, ledger.branch)
    post_action(en, ledger.reported, "record", note="支部登记")
    assert fresh(ledger.reported).state == State.RECORDED


# --- actions: assign ---------------------------------------------------------------------------------


def test_assign_to_the_property_company_with_a_due_time(en, ledger):
    login(en, ledger.a.secretary)
    due = (timezone.localtime() + datetime.timedelta(days=3)).replace(second=0, microsecond=0)
    response = post_action(en, ledger.recorded, "assign", handler_org=ledger.property.pk,
                           due=due.strftime("%Y-%m-%dT%H:%M"), note="请三日内修复")
    issue_obj = fresh(ledger.recorded)
    assert issue_obj.state == State.HANDLING
    assert issue_obj.handler_org == ledger.property
    assert issue_obj.due_at == due
    assert message_levels(response)[0][0] == constants.SUCCESS
    # The worker now finds it in their queue.
    login(en, ledger.worker)
    assert ledger.recorded.pk in [r["issue"].pk for r in en.get(url("queue", "handler")).context["rows"]]


def test_assign_to_a_person_by_username_takes_the_categorys_deadline(en, ledger):
    login(en, ledger.a.secretary)
    post_action(en, ledger.recorded, "assign", handler_user="worker", handler_org="", due="")
    issue_obj = fresh(ledger.recorded)
    assert (issue_obj.state, issue_obj.handler_user, issue_obj.handler_org) == (State.HANDLING, ledger.worker, None)
    assert issue_obj.due_at > timezone.now()


def test_assign_form_offers_the_streets_organisations_and_proposes_the_serving_company(client, ledger):
    login(client, ledger.a.secretary)
    response = client.get(url("detail", ledger.recorded.pk))
    form = form_of(response, "assign")
    assert list(form.fields["handler_org"].queryset) == [ledger.property]
    assert form["handler_org"].value() == ledger.property.pk
    assert 'type="datetime-local"' in response.content.decode()
    assert '<option value="worker">' in response.content.decode()  # suggestions for the person


@pytest.mark.parametrize("data, field", [
    ({"handler_org": "", "handler_user": ""}, "handler_org"),  # the service: name someone
    ({"handler_user": "nobody_here"}, "handler_user"),  # the service: no such person in the street
    ({"handler_org": "999999"}, "handler_org"),  # the form: not one of the street's organisations
    ({"handler_org": "", "handler_user": "worker", "due": "2020-01-01T09:00"}, "due"),  # the service: in the past
    ({"handler_org": "", "handler_user": "worker", "due": "tomorrow"}, "due"),  # the form: not a time
])
def test_assign_with_bad_fields_shows_the_error_and_changes_nothing(en, ledger, data, field):
    login(en, ledger.a.secretary)
    before = snapshot(ledger.recorded)
    response = post_action(en, ledger.recorded, "assign", **data)
    assert response.status_code == 200
    assert field in form_of(response, "assign").errors
    assert snapshot(ledger.recorded) == before


def test_assign_by_a_leader_is_refused_with_a_message(en, ledger):
    login(en, ledger.a.leader)
    before = snapshot(ledger.recorded)
    response = post_action(en, ledger.recorded, "assign", handler_org=ledger.property.pk)
    assert response.redirect_chain == [(url("detail", ledger.recorded.pk), 302)]
    assert message_levels(response) == [(constants.ERROR, "Your role does not allow this action on this issue.")]
    assert snapshot(ledger.recorded) == before
    assert 'class="msg error" role="alert"' in response.content.decode()


def test_assign_on_a_stale_page_is_a_conflict(en, ledger):
    login(en, ledger.a.secretary)
    seen = fresh(ledger.recorded).version
    act(ledger.recorded, "refer_analysis", ledger.branch, note="多户反映", common=True)  # someone else, meanwhile
    before = snapshot(ledger.recorded)
    response = post_action(en, ledger.recorded, "assign", version=seen, handler_org=ledger.property.pk)
    assert response.redirect_chain == [(url("detail", ledger.recorded.pk), 302)]
    [(level, text)] = message_levels(response)
    assert level == constants.WARNING and text.startswith("Someone else changed this issue meanwhile.")
    assert snapshot(ledger.recorded) == before
    assert response.context["issue"].state == State.ANALYSIS  # the new state is shown


def test_a_race_lost_inside_the_service_is_a_conflict_too(en, ledger, monkeypatch):
    # The page's version was right when the view looked, but another action commits first.
    from issues import views

    real = services.issue_transition

    def racing(**kwargs):
        real(issue_id=ledger.recorded.pk, action="refer_analysis", actor=ledger.branch, note="抢先一步", difficult=True)
        return real(**kwargs)

    monkeypatch.setattr(views.services, "issue_transition", racing)
    login(en, ledger.a.secretary)
    response = post_action(en, ledger.recorded, "assign", handler_org=ledger.property.pk)
    assert message_levels(response)[0][0] == constants.WARNING
    issue_obj = fresh(ledger.recorded)
    assert issue_obj.state == State.ANALYSIS
    assert [e.action for e in issue_obj.events.all()] == ["report", "record", "refer_analysis"]


def test_a_role_lost_inside_the_service_is_a_message(en, ledger, monkeypatch):
    # The role was there when the view looked; the service, a moment later, refuses.
    from django.core.exceptions import PermissionDenied

    from issues import views

    def refuse(**kwargs):
        raise PermissionDenied("Your role does not allow this action on this issue.")

    monkeypatch.setattr(views.services, "issue_transition", refuse)
    login(en, ledger.a.secretary)
    before = snapshot(ledger.recorded)
    response = post_action(en, ledger.recorded, "assign", handler_org=ledger.property.pk)
    assert response.redirect_chain == [(url("detail", ledger.recorded.pk), 302)]
    assert message_levels(response) == [(constants.ERROR, "Your role does not allow this action on this issue.")]
    assert snapshot(ledger.recorded) == before


def test_a_missing_version_is_treated_as_stale(en, ledger):
    login(en, ledger.a.secretary)
    before = snapshot(ledger.recorded)
    response = en.post(act_url(ledger.recorded, "assign"), {"handler_org": ledger.property.pk}, follow=True)
    assert message_levels(response)[0][0] == constants.WARNING
    assert snapshot(ledger.recorded) == before


# --- actions: handling, verifying ----------------------------------------------------------------------


def test_submit_done_by_the_property_worker_with_photos(en, ledger):
    login(en, ledger.worker)
    response = post_action(en, ledger.handling, "submit_done", note="已更换门禁", photos=[image("after.png")])
    issue_obj = fresh(ledger.handling)
    assert issue_obj.state == State.VERIFYING
    event = issue_obj.events.last()
    assert (event.action, event.actor) == ("submit_done", ledger.worker)
    assert event.photos.count() == 1
    assert message_levels(response)[0][0] == constants.SUCCESS
    # The photo shows in the timeline, under its event.
    html = response.content.decode()
    assert event.photos.get().image.url in html


def test_submit_done_needs_a_note_and_refuses_a_bad_photo(en, ledger):
    login(en, ledger.worker)
    before, photos = snapshot(ledger.handling), IssuePhoto.objects.count()
    response = post_action(en, ledger.handling, "submit_done", note="",
                           photos=[SimpleUploadedFile("x.jpg", b"GIF89a....", content_type="image/jpeg")])
    errors = form_of(response, "submit_done").errors
    assert set(errors) == {"note", "photos"}
    assert snapshot(ledger.handling) == before
    assert IssuePhoto.objects.count() == photos


def test_submit_done_by_the_secretary_is_refused(en, ledger):
    login(en, ledger.a.secretary)
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "submit_done", note="代为提交")
    assert message_levels(response)[0][0] == constants.ERROR
    assert snapshot(ledger.handling) == before


@shared_fixture
def verifying(ledger):
    return act(ledger.handling, "submit_done", ledger.worker, note="已修好")


def test_verify_by_the_secretary(en, ledger, verifying):
    login(en, ledger.a.secretary)
    assert {"verify", "reject"} <= set(shown_actions(en.get(url("detail", verifying.pk))))
    response = post_action(en, verifying, "verify", note="现场核实")
    assert fresh(verifying).state == State.RESOLVED
    assert message_levels(response)[0][0] == constants.SUCCESS


def test_the_worker_cannot_verify_their_own_work(en, ledger, verifying):
    login(en, ledger.worker)
    before = snapshot(verifying)
    response = post_action(en, verifying, "verify")
    assert message_levels(response) == [(constants.ERROR, "Your role does not allow this action on this issue.")]
    assert snapshot(verifying) == before


def test_the_secretary_cannot_verify_as_the_named_handler(en, ledger):
    # The service's own rule (a different person verifies): no form for it, and a post says why.
    target = act(ledger.recorded, "assign", ledger.a.secretary, handler_user="secretary_a")
    act(target, "submit_done", ledger.a.secretary, note="自己办完")
    login(en, ledger.a.secretary)
    assert "verify" not in shown_actions(en.get(url("detail", target.pk)))
    before = snapshot(target)
    response = post_action(en, target, "verify")
    assert response.redirect_chain == [(url("detail", target.pk), 302)]
    [(level, text)] = message_levels(response)
    assert level == constants.ERROR and "another person must" in text
    assert snapshot(target) == before
    # The timeline names the handling person.
    assert "Handler:" in response.content.decode()


def test_a_second_extension_request_is_refused_with_a_message(en, ledger):
    act(ledger.handling, "request_extension", ledger.worker, reason="人手不足", until=later(ledger.handling, 2))
    login(en, ledger.worker)
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "request_extension", reason="再延", until=later(ledger.handling, 9))
    [(level, text)] = message_levels(response)
    assert level == constants.ERROR and "already waiting for a decision" in text
    assert snapshot(ledger.handling) == before
    # With a bad form as well, the refusal is still a message, not a form the page does not show.
    response = post_action(en, ledger.handling, "request_extension", reason="")
    assert message_levels(response)[0][0] == constants.ERROR
    assert snapshot(ledger.handling) == before


def test_reject_needs_a_reason_and_sends_it_back_to_handling(en, ledger, verifying):
    login(en, ledger.a.secretary)
    before = snapshot(verifying)
    response = post_action(en, verifying, "reject", note="")
    assert "note" in form_of(response, "reject").errors
    assert snapshot(verifying) == before
    post_action(en, verifying, "reject", note="门禁仍无法关闭")
    issue_obj = fresh(verifying)
    assert issue_obj.state == State.HANDLING
    assert issue_obj.events.last().note == "门禁仍无法关闭"


def test_verify_on_a_page_that_is_no_longer_verifying_is_a_conflict(en, ledger, verifying):
    login(en, ledger.a.secretary)
    seen = fresh(verifying).version
    act(verifying, "reject", ledger.a.leader, note="组长驳回")
    before = snapshot(verifying)
    response = post_action(en, verifying, "verify", version=seen)
    assert message_levels(response)[0][0] == constants.WARNING
    assert snapshot(verifying) == before


def test_an_action_the_state_does_not_allow_is_refused(en, ledger):
    login(en, ledger.a.secretary)
    before = snapshot(ledger.reported)
    response = post_action(en, ledger.reported, "verify")
    [(level, text)] = message_levels(response)
    assert level == constants.ERROR and "not possible while the issue is reported" in text
    assert snapshot(ledger.reported) == before


# --- actions: feedback ---------------------------------------------------------------------------------


@shared_fixture
def resolved(ledger):
    return act(ledger.reported, "resolve_on_spot", ledger.a.leader, note="当场处理")


def test_give_feedback_closes_the_issue(en, ledger, resolved):
    login(en, ledger.a.leader)
    response = post_action(en, resolved, "give_feedback", channel="phone", text="已电话告知王阿姨",
                           satisfaction="satisfied")
    issue_obj = fresh(resolved)
    assert issue_obj.state == State.CLOSED and issue_obj.closed_at is not None
    assert issue_obj.events.last().data["satisfaction"] == "satisfied"
    # Closed with a satisfied resident: nothing more, not even a reopen.
    assert shown_actions(response) == []
    assert "satisfied" in response.content.decode()


def test_give_feedback_needs_channel_text_and_satisfaction(en, ledger, resolved):
    login(en, ledger.a.leader)
    before = snapshot(resolved)
    response = post_action(en, resolved, "give_feedback", channel="pigeon", text="")
    assert set(form_of(response, "give_feedback").errors) == {"channel", "text", "satisfaction"}
    assert snapshot(resolved) == before


def test_feedback_by_the_property_worker_is_refused(en, ledger, verifying):
    act(verifying, "verify", ledger.a.secretary)
    login(en, ledger.worker)
    before = snapshot(verifying)
    response = post_action(en, verifying, "give_feedback", channel="phone", text="x", satisfaction="satisfied")
    assert message_levels(response)[0][0] == constants.ERROR
    assert snapshot(verifying) == before


def test_a_dissatisfied_resident_lets_the_leader_reopen(en, ledger, resolved):
    act(resolved, "give_feedback", ledger.a.leader, channel="visit", text="上门告知", satisfaction="dissatisfied")
    login(en, ledger.a.leader)
    page = en.get(url("detail", resolved.pk))
    assert shown_actions(page) == ["reopen"]
    response = post_action(en, resolved, "reopen", note="居民不满意，重新处理")
    issue_obj = fresh(resolved)
    # Resolved on the spot, it had no handler: it goes back to be assigned.
    assert (issue_obj.state, issue_obj.reopen_count, issue_obj.closed_at) == (State.RECORDED, 1, None)
    assert message_levels(response)[0][0] == constants.SUCCESS


# --- actions: extensions -------------------------------------------------------------------------------


def later(issue_obj, days):
    return (timezone.localtime(fresh(issue_obj).due_at) + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def test_request_and_approve_an_extension(en, ledger):
    login(en, ledger.worker)
    until = later(ledger.handling, 3)
    response = post_action(en, ledger.handling, "request_extension", reason="配件到货需一周", until=until)
    issue_obj = fresh(ledger.handling)
    assert issue_obj.extension_reason == "配件到货需一周"
    assert timezone.localtime(issue_obj.extension_until).strftime("%Y-%m-%dT%H:%M") == until
    # One request at a time: the form is gone until the secretary decides.
    assert "request_extension" not in shown_actions(response)

    login(en, ledger.a.secretary)
    page = en.get(url("queue", "secretary"), {"section": "extension"})
    assert [r["issue"].pk for r in page.context["rows"]] == [ledger.handling.pk]
    assert "decide_extension" in shown_actions(en.get(url("detail", ledger.handling.pk)))
    post_action(en, ledger.handling, "decide_extension", approve="yes", note="同意")
    issue_obj = fresh(ledger.handling)
    assert timezone.localtime(issue_obj.due_at).strftime("%Y-%m-%dT%H:%M") == until
    assert issue_obj.extension_until is None
    assert issue_obj.events.last().data["approve"] is True


def test_refuse_an_extension_keeps_the_due_time(en, ledger):
    due = fresh(ledger.handling).due_at
    act(ledger.handling, "request_extension", ledger.worker, reason="人手不足", until=later(ledger.handling, 2))
    login(en, ledger.a.secretary)
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "decide_extension", note="")
    assert "approve" in form_of(response, "decide_extension").errors
    assert snapshot(ledger.handling) == before
    post_action(en, ledger.handling, "decide_extension", approve="no", note="请按期完成")
    issue_obj = fresh(ledger.handling)
    assert (issue_obj.due_at, issue_obj.extension_until) == (due, None)
    assert issue_obj.events.last().data["approve"] is False


@pytest.mark.parametrize("data, field", [
    ({"reason": "", "until": "later"}, {"reason"}),  # the time is the service's to read, once the form is whole
    ({"reason": "来不及", "until": "later"}, {"until"}),
    ({"reason": "x" * 501}, {"reason", "until"}),
    ({"reason": "来不及", "until": "2020-01-01T10:00"}, {"until"}),  # the service: not after the due time
])
def test_request_extension_with_bad_fields_changes_nothing(en, ledger, data, field):
    login(en, ledger.worker)
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "request_extension", **data)
    assert set(form_of(response, "request_extension").errors) == field
    assert snapshot(ledger.handling) == before


def test_decide_extension_by_the_worker_is_refused(en, ledger):
    act(ledger.handling, "request_extension", ledger.worker, reason="人手不足", until=later(ledger.handling, 2))
    login(en, ledger.worker)
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "decide_extension", approve="yes")
    assert message_levels(response)[0][0] == constants.ERROR
    assert snapshot(ledger.handling) == before


# --- actions: return, analysis, disposal, merge ----------------------------------------------------------


def test_return_a_recorded_issue_to_the_leader(en, ledger):
    login(en, ledger.a.secretary)
    before = snapshot(ledger.recorded)
    response = post_action(en, ledger.recorded, "return", note="")
    assert "note" in form_of(response, "return").errors
    assert snapshot(ledger.recorded) == before
    post_action(en, ledger.recorded, "return", note="信息不全，请补充")
    assert fresh(ledger.recorded).state == State.REPORTED


def test_the_worker_returns_an_issue_and_lands_on_their_queue(en, ledger):
    login(en, ledger.worker)
    response = post_action(en, ledger.handling, "return", note="不属于物业范围")
    issue_obj = fresh(ledger.handling)
    assert (issue_obj.state, issue_obj.handler_org) == (State.RECORDED, None)
    # Out of their hands and out of their sight: back to the queue, not a 404.
    assert response.redirect_chain[0] == (url("index"), 302)
    assert response.status_code == 200
    assert message_levels(response)[0][0] == constants.SUCCESS


def test_refer_to_joint_analysis_needs_a_flag(en, ledger):
    login(en, ledger.a.leader)
    before = snapshot(ledger.recorded)
    response = post_action(en, ledger.recorded, "refer_analysis", note="多次反映")
    assert "common" in form_of(response, "refer_analysis").errors  # the service's rule, on the form
    assert snapshot(ledger.recorded) == before
    post_action(en, ledger.recorded, "refer_analysis", note="多次反映", common="on")
    issue_obj = fresh(ledger.recorded)
    assert (issue_obj.state, issue_obj.common, issue_obj.difficult) == (State.ANALYSIS, True, False)


def test_escalate_then_declare_unresolvable(en, ledger):
    login(en, ledger.branch)
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "escalate", note="")
    assert "note" in form_of(response, "escalate").errors
    assert snapshot(ledger.handling) == before
    post_action(en, ledger.handling, "escalate", note="涉及多方，需社区党委协调")
    assert fresh(ledger.handling).state == State.DISPOSAL

    login(en, ledger.a.secretary)
    page = en.get(url("detail", ledger.handling.pk))
    assert sorted(shown_actions(page)) == ["assign", "declare_unresolvable", "merge"]
    assert form_of(page, "assign").fields["plan"].required  # assigning from disposal needs the plan
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "declare_unresolvable", announcement="  ")
    assert "announcement" in form_of(response, "declare_unresolvable").errors
    assert snapshot(ledger.handling) == before
    response = post_action(en, ledger.handling, "declare_unresolvable", announcement="因产权问题暂无法解决，特此公告")
    issue_obj = fresh(ledger.handling)
    assert issue_obj.state == State.UNRESOLVABLE
    assert issue_obj.announcement == "因产权问题暂无法解决，特此公告"
    assert "因产权问题暂无法解决" in response.content.decode()


def test_escalate_by_the_leader_is_refused(en, ledger):
    login(en, ledger.a.leader)
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "escalate", note="组长想升级")
    assert message_levels(response)[0][0] == constants.ERROR
    assert snapshot(ledger.handling) == before


def test_assign_from_disposal_with_the_plan(en, ledger):
    act(ledger.handling, "escalate", ledger.branch, note="需协调")
    login(en, ledger.a.secretary)
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "assign", handler_org=ledger.property.pk, plan="")
    assert "plan" in form_of(response, "assign").errors
    assert snapshot(ledger.handling) == before
    post_action(en, ledger.handling, "assign", handler_org=ledger.property.pk, plan="物业与业委会共同出资维修")
    issue_obj = fresh(ledger.handling)
    assert (issue_obj.state, issue_obj.plan) == (State.HANDLING, "物业与业委会共同出资维修")


def test_merge_into_another_issue_by_its_number(en, ledger):
    login(en, ledger.a.leader)
    target = fresh(ledger.recorded)
    page = en.get(url("detail", ledger.reported.pk))
    assert f'<option value="{target.number}">' in page.content.decode()  # suggestions from the same place
    response = post_action(en, ledger.reported, "merge", into=target.number.lower(), note="同一问题")
    issue_obj = fresh(ledger.reported)
    assert (issue_obj.state, issue_obj.merged_into) == (State.CLOSED, target)
    assert f'href="{url("detail", target.pk)}"' in response.content.decode()


@pytest.mark.parametrize("into", ["", "JY-000000-99999", "other", "self"])
def test_merge_into_an_unknown_or_invisible_issue_changes_nothing(en, ledger, into):
    number = {"other": ledger.other.number, "self": ledger.reported.number}.get(into, into)
    login(en, ledger.a.leader)
    before = snapshot(ledger.reported)
    response = post_action(en, ledger.reported, "merge", into=number)
    assert "into" in form_of(response, "merge").errors
    assert snapshot(ledger.reported) == before


def test_merge_by_the_worker_is_refused(en, ledger):
    login(en, ledger.worker)
    before = snapshot(ledger.handling)
    response = post_action(en, ledger.handling, "merge", into=ledger.recorded.number)
    assert message_levels(response)[0][0] == constants.ERROR
    assert snapshot(ledger.handling) == before


def test_an_htmx_post_with_errors_answers_200_so_htmx_swaps_it(client, ledger):
    login(client, ledger.a.leader)
    response = client.post(act_url(ledger.reported, "resolve_on_spot"),
                           {"version": fresh(ledger.reported).version, "note": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "note" in form_of(response, "resolve_on_spot").errors
    assert 'hx-boost="true"' in response.content.decode()


# --- queues ----------------------------------------------------------------------------------------


def queue_pks(client, name, **params):
    response = client.get(url("queue", name), params)
    assert response.status_code == 200
    return [r["issue"].pk for r in response.context["rows"]]


def test_my_queue_sends_each_role_to_its_queue(client, ledger):
    for user, name in [(ledger.a.leader, "leader"), (ledger.a.secretary, "secretary"), (ledger.worker, "handler"),
                       (ledger.staff, "secretary"), (ledger.branch, "leader")]:
        login(client, user)
        response = client.get(url("index"))
        assert response.status_code == 302
        assert response["Location"] == url("queue", name)


def test_a_user_without_roles_has_no_queue(en, ledger):
    login(en, UserFactory(username="nobody"))
    response = en.get(url("index"))
    assert response.status_code == 200
    assert "You hold no role with a queue." in response.content.decode()


def test_leader_queue(client, ledger):
    b_reported = issue(ledger.b.mg1, ledger.b.leader)
    resolved = act(issue(ledger.a.mg1, ledger.a.leader), "resolve_on_spot", ledger.a.leader, note="当场解决")
    login(client, ledger.a.leader)
    assert sorted(queue_pks(client, "leader")) == sorted([ledger.reported.pk, resolved.pk])
    assert queue_pks(client, "leader", section="decide") == [ledger.reported.pk]
    assert queue_pks(client, "leader", section="feedback") == [resolved.pk]
    assert b_reported.pk not in queue_pks(client, "leader")
    response = client.get(url("queue", "leader"))
    assert [(key, n) for key, _label, n in response.context["sections"]] == [("decide", 1), ("feedback", 1)]
    html = response.content.decode()
    assert fresh(ledger.reported).number in html and fresh(ledger.reported).title in html
    assert "小区A › 1栋 › 1单元 › 微网格A1" in html
    assert b_reported.number not in html


def test_secretary_queue(client, ledger):
    verifying = act(act(act(issue(ledger.a.mg2, ledger.a.secretary), "record", ledger.a.secretary), "assign",
                        ledger.a.secretary, handler_org=ledger.property.pk), "submit_done", ledger.worker, note="好了")
    b_recorded = ledger.other
    login(client, ledger.a.secretary)
    pks = queue_pks(client, "secretary")
    assert sorted(pks) == sorted([ledger.recorded.pk, verifying.pk])  # not the one in handling, not B's
    assert queue_pks(client, "secretary", section="assign") == [ledger.recorded.pk]
    assert queue_pks(client, "secretary", section="verify") == [verifying.pk]
    assert queue_pks(client, "secretary", section="extension") == []
    assert b_recorded.pk not in pks
    # Community B's secretary sees B's, not A's.
    login(client, ledger.b.secretary)
    assert queue_pks(client, "secretary") == [b_recorded.pk]


def test_handler_queue_shows_due_time_and_cards(en, ledger):
    login(en, ledger.worker)
    assert queue_pks(en, "handler") == [ledger.handling.pk]
    issue_obj = fresh(ledger.handling)
    html = en.get(url("queue", "handler")).content.decode()
    assert "Due " + timezone.localtime(issue_obj.due_at).strftime("%Y-%m-%d %H:%M") in html
    assert 'class="badge yellow"' not in html

    def overdue(days_late, span_days=4):  # as if assigned earlier, in working days: any day of the week
        make_overdue(ledger.handling, days_late, span_days)

    overdue(days_late=1)
    services.issues_mark_overdue()
    assert fresh(ledger.handling).supervision == Supervision.YELLOW
    html = en.get(url("queue", "handler")).content.decode()
    assert '<span class="badge yellow">Yellow card</span>' in html
    assert '<span class="badge yellow">Yellow card</span>' in en.get(url("detail", ledger.handling.pk)).content.decode()

    overdue(days_late=4 * django_settings.RED_CARD_FACTOR + 1)
    services.issues_mark_overdue()
    assert fresh(ledger.handling).supervision == Supervision.RED
    html = en.get(url("queue", "handler")).content.decode()
    assert '<span class="badge red">Red card</span>' in html
    assert 'class="badge yellow"' not in html


def test_the_queues_show_nothing_of_community_b_to_anyone_in_a(client, ledger):
    b_issues = [ledger.other, issue(ledger.b.mg2, ledger.b.secretary)]
    b_numbers = [fresh(i).number for i in b_issues]
    for user in (ledger.a.leader, ledger.a.secretary, ledger.worker, ledger.branch):
        login(client, user)
        for name in ("leader", "secretary", "handler"):
            response = client.get(url("queue", name))
            assert not {r["issue"].pk for r in response.context["rows"]} & {i.pk for i in b_issues}
            html = response.content.decode()
            assert not any(n in html for n in b_numbers)


def test_unknown_queue_is_404(client, ledger):
    login(client, ledger.a.leader)
    assert client.get(url("queue", "everything")).status_code == 404


def test_a_user_with_two_roles_gets_two_tabs(client, ledger):
    RoleFactory(node=ledger.a.community, role="secretary", user=ledger.a.leader)
    login(client, ledger.a.leader)
    response = client.get(url("queue", "leader"))
    assert [n for n, _t in response.context["queues"]] == ["leader", "secretary"]
    assert f'href="{url("queue", "secretary")}"' in response.content.decode()


def add_recorded(grid, n, actor):
    return [act(issue(grid, actor, description=f"批量问题{i}"), "record", actor) for i in range(n)]


@pytest.mark.parametrize("name", ["secretary", "handler", "leader"])
def test_queue_query_budget_does_not_grow_with_rows(client, ledger, django_assert_max_num_queries, name):
    user = {"secretary": ledger.a.secretary, "handler": ledger.worker, "leader": ledger.a.leader}[name]
    login(client, user)
    with django_assert_max_num_queries(QUEUE_BUDGET):
        few = client.get(url("queue", name))
    assert len(few.context["rows"]) >= 1

    recorded = add_recorded(ledger.a.mg1, 24, ledger.a.leader)
    for i in recorded[:12]:
        act(i, "assign", ledger.a.secretary, handler_org=ledger.property.pk)
    for i in range(24):
        issue(ledger.a.mg1, ledger.a.leader, description=f"新报{i}")
    with django_assert_max_num_queries(QUEUE_BUDGET):
        many = client.get(url("queue", name))
    assert len(many.context["rows"]) > len(few.context["rows"])
    with django_assert_max_num_queries(QUEUE_BUDGET):
        client.get(url("queue", name), {"page": 2})


def test_queue_pages(client, ledger):
    add_recorded(ledger.a.mg1, 24, ledger.a.leader)
    login(client, ledger.a.secretary)
    first = client.get(url("queue", "secretary"), {"section": "assign"})
    assert first.context["page"].paginator.count == 25
    assert len(first.context["rows"]) == 20
    assert "?section=assign&amp;page=2" in first.content.decode()
    second = client.get(url("queue", "secretary"), {"section": "assign", "page": 2})
    assert len(second.context["rows"]) == 5
    assert not {r["issue"].pk for r in first.context["rows"]} & {r["issue"].pk for r in second.context["rows"]}


# --- home and navigation -----------------------------------------------------------------------------


def test_home_links_to_the_queue_and_to_reporting(client, ledger):
    login(client, ledger.a.leader)
    html = client.get(reverse("mobile:home")).content.decode()
    assert f'href="{url("index")}"' in html
    assert f'href="{url("report")}"' in html
    assert f'<form method="get" action="{url("report")}" class="card-action">' in html
    assert '<input type="hidden" name="grid" value="CA-G1">' in html
    # The login page has no navigation for a visitor.
    client.logout()
    assert f'href="{url("index")}"' not in client.get(reverse("mobile:login")).content.decode()


def test_pages_load_nothing_from_outside(client, ledger):
    login(client, ledger.a.secretary)
    for page in (url("report"), url("detail", ledger.recorded.pk), url("queue", "secretary")):
        html = client.get(page).content.decode()
        assert "http://" not in html and "https://" not in html


# --- one timeline ---------------------------------------------------------------------------------


def test_one_timeline_for_the_admin_the_phone_and_the_resident(client, ledger, english):
    from issues import selectors

    w = ledger
    act(w.handling, "request_extension", w.worker, reason="等配件", until=later(w.handling, 2))
    staff_rows = selectors.timeline(w.handling)
    public_rows = selectors.timeline(w.handling, public=True)
    assert [r["action"] for r in staff_rows] == ["report", "record", "assign", "request_extension"]
    assert [r["action"] for r in public_rows] == ["report", "record", "assign"]  # the office's own steps stay off
    assert all(set(r) == {"action", "label", "at"} for r in public_rows)  # no names, notes or phones
    assert dict(staff_rows[2]["data"])["handling organisation"] == w.property.name
    assert staff_rows[3]["note"] == "等配件" and "reason" not in dict(staff_rows[3]["data"])  # not said twice

    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    pages = []
    client.force_login(w.a.secretary)
    pages.append(client.get(url("detail", w.handling.pk)))
    client.force_login(root)
    pages.append(client.get(reverse("admin:issues_issue_change", args=[w.handling.pk])))
    client.logout()
    pages.append(client.get(reverse("public:track", args=[fresh(w.handling).tracking_code])))
    for response, shown in zip(pages, (4, 4, 3)):
        assert "issues/_timeline.html" in [t.name for t in response.templates]
        assert response.content.decode().count('class="issue-event"') == shown
