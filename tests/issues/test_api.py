"""The ledger's REST API: shape, filters, reporting, the workflow actions, events, categories, scope
and the list's query budget."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from grid.models import Role
from issues.models import Category, Issue, IssueCounter, IssueEvent, IssuePhoto, Supervision
from tests.factories import OrganisationFactory, RoleFactory, UserFactory, act, category, issue
from tests.support import client_for, field_errors, fresh, ids, image, results, shared_fixture

pytestmark = pytest.mark.django_db

LIST = "/api/v1/issues/"
ITEM_FIELDS = {
    "id", "number", "title", "state", "priority", "category", "grid", "source", "handler_org", "handler_user",
    "due", "overdue", "supervision", "common", "difficult", "version", "reported_at", "updated_at",
}
DETAIL_EXTRA = {
    "description", "location", "reporter", "reporter_name", "reporter_phone", "assigned_at", "plan",
    "extension_until", "extension_reason", "merged_into", "announcement", "announced_at", "reopen_count",
    "closed_at", "allowed_actions", "photos",
}


def detail(pk):
    return f"{LIST}{pk}/"


def action_url(pk, name):
    return f"{LIST}{pk}/actions/{name}/"


def snapshot(issue_obj):
    """What must not move when an action is refused."""
    i = Issue.objects.get(pk=issue_obj.pk)
    return (i.state, i.version, i.handler_org_id, i.handler_user_id, i.due_at, i.events.count())


@shared_fixture
def all_four(ledger):
    w = ledger
    return {w.reported.pk, w.recorded.pk, w.handling.pk, w.other.pk}


# --- list -------------------------------------------------------------------------------------


class TestList:
    def test_shape_and_pagination(self, ledger):
        w = ledger
        data = client_for(w.staff).get(LIST, {"page_size": 3}).json()
        assert set(data) == {"count", "next", "previous", "results"}
        assert data["count"] == 4 and len(data["results"]) == 3 and data["next"]
        assert set(data["results"][0]) == ITEM_FIELDS
        item = next(i for i in results(client_for(w.staff).get(LIST)) if i["id"] == w.handling.pk)
        assert item["number"] == w.handling.number and item["state"] == "handling"
        assert item["category"] == w.category.pk and item["grid"] == w.a.mg1.pk and item["source"] == "visit"
        assert item["handler_org"] == w.property.pk and item["handler_user"] is None
        assert item["due"] is not None and item["overdue"] is False and item["supervision"] == 0
        assert item["version"] == 3

    def test_no_tracking_code_anywhere(self, ledger):
        w = ledger
        c = client_for(w.staff)
        for r in (c.get(LIST), c.get(detail(w.reported.pk)), c.get(f"{LIST}{w.reported.pk}/events/")):
            assert r.status_code == 200
            assert w.reported.tracking_code not in r.content.decode()
            assert b"tracking_code" not in r.content

    def test_handler_user_is_the_username(self, ledger):
        w = ledger
        i = act(act(issue(w.a.mg1, w.a.leader), "record", w.a.leader), "assign", w.a.secretary, handler_user="worker")
        item = next(x for x in results(client_for(w.staff).get(LIST)) if x["id"] == i.pk)
        assert item["handler_user"] == "worker" and item["handler_org"] is None

    @pytest.mark.parametrize("url", [LIST, f"{LIST}1/", f"{LIST}1/events/", "/api/v1/issues/categories/"])
    def test_anonymous_is_refused(self, ledger, url):
        assert APIClient().get(url).status_code == 401

    def test_anonymous_cannot_act_or_report(self, ledger):
        w = ledger
        before = snapshot(w.recorded)
        assert APIClient().post(action_url(w.recorded.pk, "assign"), {"handler_org": w.property.pk}).status_code == 401
        assert APIClient().post(LIST, {"description": "x"}).status_code == 401
        assert snapshot(w.recorded) == before


class TestFilters:
    def test_state(self, ledger):
        w = ledger
        c = client_for(w.staff)
        assert ids(c.get(LIST, {"state": "recorded"})) == {w.recorded.pk, w.other.pk}
        assert ids(c.get(LIST, {"state": ["recorded", "handling"]})) == {w.recorded.pk, w.other.pk, w.handling.pk}
        r = c.get(LIST, {"state": "lost"})
        assert r.status_code == 400 and "state" in r.json()

    def test_category(self, ledger):
        w = ledger
        noise = category("noise")
        loud = issue(w.a.mg1, w.a.leader, category=noise)
        c = client_for(w.staff)
        assert ids(c.get(LIST, {"category": noise.pk})) == {loud.pk}
        assert loud.pk not in ids(c.get(LIST, {"category": w.category.pk}))
        r = c.get(LIST, {"category": 999999})
        assert r.status_code == 400 and "category" in r.json()

    def test_source(self, ledger):
        w = ledger
        c = client_for(w.staff)
        assert ids(c.get(LIST, {"source": "resident"})) == {w.reported.pk}
        assert ids(c.get(LIST, {"source": "visit"})) == {w.recorded.pk, w.handling.pk, w.other.pk}
        assert ids(c.get(LIST, {"source": "hotline"})) == set()
        assert c.get(LIST, {"source": "pigeon"}).status_code == 400

    def test_ancestor(self, ledger, all_four):
        w = ledger
        on_mg2 = issue(w.a.mg2, w.a.secretary)
        c = client_for(w.staff)
        assert ids(c.get(LIST, {"ancestor": w.street.pk})) == all_four | {on_mg2.pk}
        assert ids(c.get(LIST, {"ancestor": w.b.community.pk})) == {w.other.pk}
        assert ids(c.get(LIST, {"ancestor": w.a.community.pk})) == all_four - {w.other.pk} | {on_mg2.pk}
        assert ids(c.get(LIST, {"ancestor": w.a.unit.pk})) == all_four - {w.other.pk}  # mg1 is under the unit
        assert ids(c.get(LIST, {"ancestor": w.a.mg2.pk})) == {on_mg2.pk}
        assert ids(c.get(LIST, {"ancestor": 999999})) == set()

    def test_ancestor_outside_the_scope_reveals_nothing(self, ledger):
        w = ledger
        c = client_for(w.a.secretary)
        assert results(c.get(LIST, {"ancestor": w.b.community.pk})) == []
        assert results(c.get(LIST, {"ancestor": w.b.mg1.pk})) == []

    def test_overdue(self, ledger, all_four):
        w = ledger
        c = client_for(w.staff)
        assert ids(c.get(LIST, {"overdue": "true"})) == set()
        Issue.objects.filter(pk=w.handling.pk).update(due_at=timezone.now() - datetime.timedelta(hours=1))
        # A due time in the past counts only while the issue is in handling.
        Issue.objects.filter(pk=w.recorded.pk).update(due_at=timezone.now() - datetime.timedelta(hours=1))
        assert ids(c.get(LIST, {"overdue": "true"})) == {w.handling.pk}
        assert ids(c.get(LIST, {"overdue": "false"})) == all_four - {w.handling.pk}
        item = next(i for i in results(c.get(LIST)) if i["id"] == w.handling.pk)
        assert item["overdue"] is True

    def test_supervision(self, ledger, all_four):
        w = ledger
        Issue.objects.filter(pk=w.handling.pk).update(supervision=Supervision.RED)
        c = client_for(w.staff)
        assert ids(c.get(LIST, {"supervision": 2})) == {w.handling.pk}
        assert ids(c.get(LIST, {"supervision": "red"})) == {w.handling.pk}
        assert ids(c.get(LIST, {"supervision": "yellow"})) == set()
        assert ids(c.get(LIST, {"supervision": "1"})) == set()
        assert ids(c.get(LIST, {"supervision": "none"})) == all_four - {w.handling.pk}
        assert ids(c.get(LIST, {"supervision": 0})) == all_four - {w.handling.pk}
        r = c.get(LIST, {"supervision": "purple"})
        assert r.status_code == 400 and "supervision" in r.json()

    def test_reported_after_and_before(self, ledger, all_four):
        w = ledger
        tz = timezone.get_current_timezone()
        Issue.objects.filter(pk=w.reported.pk).update(reported_at=datetime.datetime(2025, 3, 10, 10, 0, tzinfo=tz))
        Issue.objects.filter(pk=w.recorded.pk).update(reported_at=datetime.datetime(2025, 3, 12, 9, 0, tzinfo=tz))
        c = client_for(w.staff)
        assert ids(c.get(LIST, {"reported_before": "2025-03-11"})) == {w.reported.pk}
        assert ids(c.get(LIST, {"reported_after": "2025-03-11"})) == all_four - {w.reported.pk}
        assert ids(c.get(LIST, {"reported_after": "2025-03-11", "reported_before": "2025-03-13"})) == {w.recorded.pk}
        # After is inclusive, before is exclusive; an ISO time with its offset is read as given.
        assert ids(c.get(LIST, {"reported_after": "2025-03-10T10:00:00+08:00",
                                "reported_before": "2025-03-12T09:00:00+08:00"})) == {w.reported.pk}
        assert ids(c.get(LIST, {"reported_after": "2025-03-10T02:00:00Z", "reported_before": "2025-03-10T02:00:01Z"})) == {w.reported.pk}
        r = c.get(LIST, {"reported_after": "last tuesday"})
        assert r.status_code == 400 and "reported_after" in r.json()

    def test_search(self, ledger):
        w = ledger
        lamp = issue(w.a.mg1, w.a.leader, title="楼道灯不亮", description="三单元二楼楼道灯坏了")
        c = client_for(w.staff)
        assert ids(c.get(LIST, {"search": "楼道灯"})) == {lamp.pk}  # title
        assert ids(c.get(LIST, {"search": "二楼"})) == {lamp.pk}  # description
        assert ids(c.get(LIST, {"search": w.recorded.number})) == {w.recorded.pk}  # number
        assert lamp.pk not in ids(c.get(LIST, {"search": "门禁"}))
        assert len(ids(c.get(LIST, {"search": "门禁"}))) == 4


class TestQueryBudget:
    def test_list_budget_does_not_grow_with_page_size(self, ledger, django_assert_max_num_queries):
        w = ledger
        for n in range(40):
            i = issue(w.a.mg1, w.a.leader, title=f"问题{n}")
            if n % 4 == 0:  # some with a handling person, so the username join is exercised
                act(act(i, "record", w.a.leader), "assign", w.a.secretary, handler_user="worker", handler_org=w.property.pk)
        for user, small, large, total in ((w.staff, 5, 40, 44), (w.a.secretary, 5, 40, 43), (w.worker, 2, 11, 11)):
            # A fresh user object per request, as in production: the scope is cached on the user.
            first, second = client_for(fresh(user)), client_for(fresh(user))
            # scope roots, handler companies, what is theirs outside the scope, count, page
            with django_assert_max_num_queries(5) as few:
                page = first.get(LIST, {"page_size": small})
            with django_assert_max_num_queries(5) as many:
                full = second.get(LIST, {"page_size": large})
            assert len(results(page)) == small and full.json()["count"] == total
            assert len(results(full)) == min(large, total)
            assert len(few.captured_queries) == len(many.captured_queries)

    def test_filtered_list_budget(self, ledger, django_assert_max_num_queries):
        w = ledger
        for _ in range(20):
            issue(w.a.mg1, w.a.leader)
        c = client_for(fresh(w.a.secretary))
        with django_assert_max_num_queries(6) as captured:
            r = c.get(LIST, {"ancestor": w.a.mg1.pk, "state": "reported", "page_size": 100})
        assert len(results(r)) == 21
        assert not any("DISTINCT" in q["sql"] for q in captured.captured_queries)


# --- detail -----------------------------------------------------------------------------------


class TestDetail:
    def test_shape_and_masked_phone(self, ledger):
        w = ledger
        data = client_for(w.a.secretary).get(detail(w.reported.pk)).json()
        assert set(data) == ITEM_FIELDS | DETAIL_EXTRA
        assert data["reporter_name"] == "王阿姨"
        assert data["reporter_phone"] == "139****0000"
        assert "13912340000" not in str(data)
        assert data["description"] == "单元门禁损坏，无法关闭"
        assert data["reporter"] is None and data["photos"] == [] and data["merged_into"] is None

    def test_full_phone_with_the_right(self, ledger):
        w = ledger
        w.staff.user_permissions.add(Permission.objects.get(codename="view_full_phone"))
        assert client_for(fresh(w.staff)).get(detail(w.reported.pk)).json()["reporter_phone"] == "13912340000"

    def test_allowed_actions_follow_role_and_state(self, ledger):
        w = ledger
        assert set(client_for(w.a.leader).get(detail(w.reported.pk)).json()["allowed_actions"]) == {
            "resolve_on_spot", "record", "merge"}
        assert "assign" in client_for(w.a.secretary).get(detail(w.recorded.pk)).json()["allowed_actions"]
        assert "assign" not in client_for(w.a.leader).get(detail(w.recorded.pk)).json()["allowed_actions"]
        assert set(client_for(w.worker).get(detail(w.handling.pk)).json()["allowed_actions"]) == {
            "submit_done", "return", "request_extension"}

    def test_reporter_is_the_username_for_staff_reports(self, ledger):
        w = ledger
        assert client_for(w.staff).get(detail(w.recorded.pk)).json()["reporter"] == "leader_a"

    def test_unknown_id_and_non_numeric_id(self, ledger):
        c = client_for(ledger.staff)
        assert c.get(detail(999999)).status_code == 404
        assert c.get(f"{LIST}abc/").status_code == 404


# --- create -----------------------------------------------------------------------------------


def body(w, **over):
    data = {"title": "垃圾桶满溢", "description": "2栋门口垃圾桶两天未清运", "category": w.category.pk,
            "grid": w.a.mg1.pk, "source": "patrol", "location": "2栋门口"}
    data.update(over)
    return data


def ledger_counts():
    return (Issue.objects.count(), IssueEvent.objects.count(), IssuePhoto.objects.count(),
            sorted(IssueCounter.objects.values_list("street_id", "month", "last")))


class TestCreate:
    def test_report(self, ledger):
        w = ledger
        r = client_for(w.a.leader).post(LIST, body(w, priority="high"), format="json")
        assert r.status_code == 201, r.content
        data = r.json()
        assert set(data) == ITEM_FIELDS | DETAIL_EXTRA
        assert data["state"] == "reported" and data["version"] == 1 and data["priority"] == "high"
        assert data["number"].startswith("ST-") and data["title"] == "垃圾桶满溢" and data["reporter"] == "leader_a"
        saved = Issue.objects.get(pk=data["id"])
        assert (saved.grid_id, saved.source, saved.location, saved.reporter_id) == (w.a.mg1.pk, "patrol", "2栋门口", w.a.leader.pk)
        assert saved.community_id == w.a.community.pk
        assert list(saved.events.values_list("action", "actor_id")) == [("report", w.a.leader.pk)]
        assert "tracking_code" not in data and saved.tracking_code not in r.content.decode()

    def test_report_with_photos(self, ledger, media):
        w = ledger
        upload = [image(name, size=(8, 8), colour="red") for name in ("a.png", "b.png")]
        r = client_for(w.a.leader).post(LIST, {**body(w), "photos": upload}, format="multipart")
        assert r.status_code == 201, r.content
        photos = r.json()["photos"]
        assert len(photos) == 2 and all(p["url"].startswith("http://testserver/media/issues/") for p in photos)
        assert IssuePhoto.objects.filter(issue_id=r.json()["id"]).count() == 2

    def test_title_may_be_left_to_the_service(self, ledger):
        w = ledger
        r = client_for(w.a.leader).post(LIST, body(w, title=""), format="json")
        assert r.status_code == 201 and r.json()["title"].startswith(w.category.name)

    @pytest.mark.parametrize("over, field", [
        ({"description": ""}, "description"),
        ({"description": None}, "description"),
        ({"category": 999999}, "category"),
        ({"category": "abc"}, "category"),
        ({"source": "pigeon"}, "source"),
        ({"source": "resident"}, "source"),
        ({"title": "长" * 101}, "title"),
        ({"priority": "whenever"}, "priority"),
        ({"reporter_phone": "12345"}, "reporter_phone"),
        ({"grid": None}, "grid"),
    ])
    def test_bad_fields_are_field_level_and_write_nothing(self, ledger, over, field):
        w = ledger
        before = ledger_counts()
        r = client_for(w.a.leader).post(LIST, body(w, **over), format="json")
        assert r.status_code == 400, r.content
        assert field in r.json() and isinstance(r.json()[field], list) and r.json()[field]
        assert ledger_counts() == before

    def test_missing_fields(self, ledger):
        before = ledger_counts()
        r = client_for(ledger.a.leader).post(LIST, {}, format="json")
        assert r.status_code == 400
        assert {"description", "category", "grid", "source"} <= set(r.json())
        assert ledger_counts() == before

    def test_inactive_category_is_refused_by_the_service(self, ledger):
        w = ledger
        old = category("retired", active=False)
        before = ledger_counts()
        r = client_for(w.a.leader).post(LIST, body(w, category=old.pk), format="json")
        assert r.status_code == 400 and list(field_errors(r)) == ["category"]
        assert r.json()["codes"] == {"category": ["category_inactive"]}
        assert ledger_counts() == before

    def test_bad_photo_writes_nothing(self, ledger, media):
        w = ledger
        before = ledger_counts()
        fake = SimpleUploadedFile("x.png", b"not an image at all", content_type="image/png")
        r = client_for(w.a.leader).post(LIST, {**body(w), "photos": [fake]}, format="multipart")
        assert r.status_code == 400 and "photos" in r.json()
        assert ledger_counts() == before
        assert not any(media.rglob("*.png"))

    def test_grid_outside_the_scope_reads_as_unknown(self, ledger):
        w = ledger
        before = ledger_counts()
        c = client_for(w.a.leader)
        answers = []
        for grid in (w.b.mg1.pk, w.a.mg2.pk, 999999):  # another community's, a neighbour's, none at all
            r = c.post(LIST, body(w, grid=grid), format="json")
            assert r.status_code == 400 and list(field_errors(r)) == ["grid"]
            answers.append(r.json())
        assert answers[0] == answers[1] == answers[2]  # nothing tells whether the node exists
        assert ledger_counts() == before

    def test_property_staff_report_nowhere(self, ledger):
        w = ledger
        r = client_for(w.worker).post(LIST, body(w), format="json")
        assert r.status_code == 400 and "grid" in r.json()

    def test_secretary_reports_anywhere_in_the_community(self, ledger):
        w = ledger
        r = client_for(w.a.secretary).post(LIST, body(w, grid=w.a.mg2.pk, source="hotline",
                                                          reporter_name="李先生", reporter_phone="13800001234"), format="json")
        assert r.status_code == 201, r.content
        assert r.json()["reporter_phone"] == "138****1234" and r.json()["reporter_name"] == "李先生"
        assert Issue.objects.get(pk=r.json()["id"]).reporter_phone == "13800001234"


# --- actions ----------------------------------------------------------------------------------


class TestActions:
    def test_happy_path_to_closed(self, ledger, media):
        w = ledger
        leader, secretary, worker = client_for(w.a.leader), client_for(w.a.secretary), client_for(w.worker)
        r = leader.post(LIST, body(w), format="json")
        assert r.status_code == 201
        pk = r.json()["id"]

        def step(c, name, expected_state, expected_version, fmt="json", **data):
            r = c.post(action_url(pk, name), data, format=fmt)
            assert r.status_code == 200, (name, r.content)
            out = r.json()
            assert set(out) == {"state", "version", "event"}
            assert (out["state"], out["version"]) == (expected_state, expected_version)
            assert out["event"]["action"] == name and out["event"]["to_state"] == expected_state
            assert Issue.objects.get(pk=pk).state == expected_state
            return out

        out = step(leader, "record", "recorded", 2, note="已记录", version=1)
        assert out["event"]["from_state"] == "reported" and out["event"]["actor"] == "leader_a"
        assert out["event"]["note"] == "已记录"
        out = step(secretary, "assign", "handling", 3, handler_org=w.property.pk, version=2)
        assert out["event"]["data"]["handler_org"] == w.property.pk and out["event"]["data"]["due"]
        item = client_for(w.staff).get(detail(pk)).json()
        assert item["handler_org"] == w.property.pk and item["due"] is not None
        out = step(worker, "submit_done", "verifying", 4, fmt="multipart", note="已清运", version="3", photos=[image(size=(8, 8), colour="red")])
        assert out["event"]["actor"] == "worker" and len(out["event"]["photos"]) == 1
        assert out["event"]["photos"][0]["url"].startswith("http://testserver/media/")
        step(secretary, "verify", "resolved", 5, version=4)
        out = step(leader, "give_feedback", "closed", 6, channel="phone", text="居民表示满意", satisfaction="satisfied")
        assert out["event"]["data"]["satisfaction"] == "satisfied"

        closed = Issue.objects.get(pk=pk)
        assert closed.closed_at is not None
        events = results(client_for(w.staff).get(f"{LIST}{pk}/events/"))
        assert [e["action"] for e in events] == ["report", "record", "assign", "submit_done", "verify", "give_feedback"]
        assert [e["actor"] for e in events] == ["leader_a", "leader_a", "secretary_a", "worker", "secretary_a", "leader_a"]
        assert len(events[3]["photos"]) == 1

    def test_wrong_state_is_400_and_changes_nothing(self, ledger):
        w = ledger
        before = snapshot(w.recorded)
        r = client_for(w.a.secretary).post(action_url(w.recorded.pk, "verify"), {"note": "ok"}, format="json")
        assert r.status_code == 400 and list(field_errors(r)) == ["action"] and isinstance(r.json()["action"], list)
        assert r.json()["codes"] == {"action": ["wrong_state"]}
        assert snapshot(w.recorded) == before

    def test_wrong_role_is_403_and_changes_nothing(self, ledger):
        w = ledger
        before = snapshot(w.recorded)
        r = client_for(w.a.leader).post(action_url(w.recorded.pk, "assign"), {"handler_org": w.property.pk}, format="json")
        assert r.status_code == 403 and set(r.json()) == {"detail", "code"} and r.json()["detail"]
        assert r.json()["code"] == "role_not_allowed"
        assert snapshot(w.recorded) == before
        # The handling company may not escalate: that is the party branch's and the managers'.
        before = snapshot(w.handling)
        assert client_for(w.worker).post(action_url(w.handling.pk, "escalate"), {"note": "x"}, format="json").status_code == 403
        assert snapshot(w.handling) == before

    def test_out_of_scope_is_404_and_changes_nothing(self, ledger):
        w = ledger
        before = snapshot(w.recorded)
        for user in (w.b.secretary, w.b.leader, w.worker):  # the worker's company is not assigned to it
            r = client_for(user).post(action_url(w.recorded.pk, "assign"), {"handler_org": w.property.pk}, format="json")
            assert r.status_code == 404, user
        assert snapshot(w.recorded) == before
        assert client_for(w.a.secretary).post(action_url(999999, "assign"), {}, format="json").status_code == 404

    def test_stale_version_is_409_and_changes_nothing(self, ledger):
        w = ledger
        before = snapshot(w.recorded)
        c = client_for(w.a.secretary)
        stale = w.recorded.version - 1
        r = c.post(action_url(w.recorded.pk, "assign"), {"handler_org": w.property.pk, "version": stale}, format="json")
        assert r.status_code == 409 and r.json()["detail"] and r.json()["code"] == "stale_version"
        assert snapshot(w.recorded) == before
        r = c.post(action_url(w.recorded.pk, "assign"), {"handler_org": w.property.pk, "version": w.recorded.version}, format="json")
        assert r.status_code == 200 and r.json()["version"] == w.recorded.version + 1

    def test_bad_version_is_a_field_error(self, ledger):
        w = ledger
        before = snapshot(w.recorded)
        r = client_for(w.a.secretary).post(action_url(w.recorded.pk, "assign"),
                                           {"handler_org": w.property.pk, "version": "latest"}, format="json")
        assert r.status_code == 400 and "version" in r.json()
        assert snapshot(w.recorded) == before

    def test_missing_and_bad_fields_are_field_level(self, ledger):
        w = ledger
        sec, worker = client_for(w.a.secretary), client_for(w.worker)
        before = snapshot(w.recorded)
        r = sec.post(action_url(w.recorded.pk, "assign"), {}, format="json")
        assert r.status_code == 400 and "handler_org" in r.json()
        r = sec.post(action_url(w.recorded.pk, "assign"), {"handler_org": "abc"}, format="json")
        assert r.status_code == 400 and "handler_org" in r.json()
        r = sec.post(action_url(w.recorded.pk, "assign"), {"handler_user": "nobody"}, format="json")
        assert r.status_code == 400 and "handler_user" in r.json()
        r = sec.post(action_url(w.recorded.pk, "assign"), {"handler_org": w.property.pk, "due": "2000-01-01"}, format="json")
        assert r.status_code == 400 and "due" in r.json()
        assert snapshot(w.recorded) == before
        before = snapshot(w.handling)
        r = worker.post(action_url(w.handling.pk, "submit_done"), {"note": "  "}, format="json")
        assert r.status_code == 400 and "note" in r.json()
        assert snapshot(w.handling) == before

    def test_unknown_and_system_actions_are_404(self, ledger):
        w = ledger
        before = snapshot(w.handling)
        c = client_for(w.staff)
        for name in ("teleport", "yellow_card", "red_card", "report"):
            r = c.post(action_url(w.handling.pk, name), {}, format="json")
            assert r.status_code == 404 and name in r.json()["detail"], name
        assert snapshot(w.handling) == before

    def test_get_on_an_action_is_not_allowed(self, ledger):
        assert client_for(ledger.staff).get(action_url(ledger.recorded.pk, "assign")).status_code == 405

    def test_assign_with_a_person_and_a_due_time(self, ledger):
        w = ledger
        day = (timezone.localdate() + datetime.timedelta(days=10)).isoformat()
        r = client_for(w.a.secretary).post(action_url(w.recorded.pk, "assign"),
                                           {"handler_user": "worker", "due": f"{day}T16:00:00+08:00", "note": "请尽快"},
                                           format="json")
        assert r.status_code == 200, r.content
        saved = Issue.objects.get(pk=w.recorded.pk)
        assert saved.handler_user == w.worker
        assert timezone.localtime(saved.due_at).strftime("%Y-%m-%d %H:%M") == f"{day} 16:00"
        assert client_for(w.staff).get(detail(w.recorded.pk)).json()["handler_user"] == "worker"

    def test_a_bare_due_date_means_the_end_of_that_working_day(self, ledger):
        w = ledger
        day = (timezone.localdate() + datetime.timedelta(days=10)).isoformat()
        r = client_for(w.a.secretary).post(action_url(w.recorded.pk, "assign"),
                                           {"handler_org": w.property.pk, "due": day}, format="json")
        assert r.status_code == 200, r.content
        due = timezone.localtime(Issue.objects.get(pk=w.recorded.pk).due_at)
        assert due.strftime("%Y-%m-%d %H:%M") == f"{day} 17:30"

    def test_merge_into_an_issue_outside_the_scope_is_unknown(self, ledger):
        w = ledger
        before = snapshot(w.recorded)
        c = client_for(w.a.secretary)
        r = c.post(action_url(w.recorded.pk, "merge"), {"into": w.other.pk}, format="json")
        assert r.status_code == 400 and "into" in r.json()
        assert snapshot(w.recorded) == before
        r = c.post(action_url(w.recorded.pk, "merge"), {"into": w.reported.pk, "note": "重复"}, format="json")
        assert r.status_code == 200 and r.json()["state"] == "closed"
        assert c.get(detail(w.recorded.pk)).json()["merged_into"] == w.reported.pk

    def test_extension_request_and_decision_through_multipart(self, ledger):
        w = ledger
        until = (timezone.now() + datetime.timedelta(days=30)).isoformat()
        r = client_for(w.worker).post(action_url(w.handling.pk, "request_extension"),
                                      {"reason": "等配件", "until": until}, format="multipart")
        assert r.status_code == 200, r.content
        sec = client_for(w.a.secretary)
        before = snapshot(w.handling)
        # A form without `approve` is not a refusal: the field is required.
        r = sec.post(action_url(w.handling.pk, "decide_extension"), {"note": "?"}, format="multipart")
        assert r.status_code == 400 and "approve" in r.json()
        assert snapshot(w.handling) == before
        r = sec.post(action_url(w.handling.pk, "decide_extension"), {"approve": "true"}, format="multipart")
        assert r.status_code == 200 and r.json()["event"]["data"]["approve"] is True
        assert Issue.objects.get(pk=w.handling.pk).due_at > timezone.now() + datetime.timedelta(days=29)

    def test_refer_to_analysis_with_flags(self, ledger):
        w = ledger
        r = client_for(w.branch).post(action_url(w.recorded.pk, "refer_analysis"),
                                      {"note": "多个小区同类问题", "common": True}, format="json")
        assert r.status_code == 200 and r.json()["state"] == "analysis"
        item = client_for(w.staff).get(detail(w.recorded.pk)).json()
        assert (item["common"], item["difficult"]) == (True, False)

    def test_bad_photo_on_an_action_changes_nothing(self, ledger, media):
        w = ledger
        before = snapshot(w.handling)
        fake = SimpleUploadedFile("x.jpg", b"GIF89a not really", content_type="image/jpeg")
        r = client_for(w.worker).post(action_url(w.handling.pk, "submit_done"), {"note": "好了", "photos": [fake]},
                                      format="multipart")
        assert r.status_code == 400 and "photos" in r.json()
        assert snapshot(w.handling) == before and IssuePhoto.objects.count() == 0


# --- events and categories --------------------------------------------------------------------


class TestEvents:
    def test_shape_and_order(self, ledger):
        w = ledger
        data = client_for(w.a.secretary).get(f"{LIST}{w.handling.pk}/events/").json()
        assert data["count"] == 3
        events = data["results"]
        assert set(events[0]) == {"id", "action", "from_state", "to_state", "actor", "actor_name", "note", "data",
                                  "created_at", "photos"}
        assert [(e["action"], e["from_state"], e["to_state"]) for e in events] == [
            ("report", "", "reported"), ("record", "reported", "recorded"), ("assign", "recorded", "handling")]
        assert [e["actor"] for e in events] == ["leader_a", "leader_a", "secretary_a"]
        assert events[0]["actor_name"] == w.a.leader.name

    def test_a_residents_report_has_no_actor(self, ledger):
        events = results(client_for(ledger.staff).get(f"{LIST}{ledger.reported.pk}/events/"))
        assert [(e["action"], e["actor"]) for e in events] == [("report", None)]

    def test_issue_filters_do_not_apply_to_events(self, ledger):
        w = ledger
        r = client_for(w.staff).get(f"{LIST}{w.handling.pk}/events/", {"state": "closed"})
        assert r.json()["count"] == 3

    def test_unknown_issue(self, ledger):
        assert client_for(ledger.staff).get(f"{LIST}999999/events/").status_code == 404


class TestCategories:
    def test_list_is_not_read_as_an_issue_id(self, ledger):
        r = client_for(ledger.a.leader).get("/api/v1/issues/categories/", {"page_size": 100})
        items = results(r)
        assert set(items[0]) == {"id", "code", "name", "group", "deadline", "deadline_unit", "handler_kind", "active"}
        codes = {i["code"] for i in items}
        assert {"property_repair", "noise", "fire_safety"} <= codes
        assert len(items) == Category.objects.count()

    def test_filters_and_detail(self, ledger):
        w = ledger
        category("retired", active=False, group="other")
        c = client_for(w.worker)  # everyone with an account reads the categories
        assert "retired" not in {i["code"] for i in results(c.get("/api/v1/issues/categories/", {"active": "true", "page_size": 100}))}
        assert [i["code"] for i in results(c.get("/api/v1/issues/categories/", {"active": "false"}))] == ["retired"]
        groups = {i["group"] for i in results(c.get("/api/v1/issues/categories/", {"group": "safety"}))}
        assert groups == {"safety"}
        fire = Category.objects.get(code="fire_safety")
        data = c.get(f"/api/v1/issues/categories/{fire.pk}/").json()
        assert (data["deadline"], data["deadline_unit"]) == (8, "hours")


# --- scope ------------------------------------------------------------------------------------


class TestScope:
    def test_another_community_gets_404_everywhere(self, ledger):
        w = ledger
        for user in (w.b.secretary, w.b.leader):
            c = client_for(user)
            for target in (w.reported, w.recorded, w.handling):
                before = snapshot(target)
                assert c.get(detail(target.pk)).status_code == 404
                assert c.get(f"{LIST}{target.pk}/events/").status_code == 404
                for name in ("record", "assign", "verify", "merge", "give_feedback"):
                    r = c.post(action_url(target.pk, name), {"note": "x", "handler_org": w.property.pk}, format="json")
                    assert r.status_code == 404, (user, name)
                assert snapshot(target) == before
            # An issue outside the scope answers exactly like one that does not exist.
            assert c.get(detail(w.recorded.pk)).json() == c.get(detail(999999)).json()

    def test_another_community_sees_none_in_lists_or_counts(self, ledger):
        w = ledger
        for user in (w.b.secretary, w.b.leader):
            c = client_for(user)
            data = c.get(LIST, {"page_size": 100}).json()
            assert data["count"] == 1 and ids_of(data) == {w.other.pk}
            assert c.get(LIST, {"state": "handling"}).json()["count"] == 0
            assert c.get(LIST, {"search": w.recorded.number}).json()["count"] == 0
            assert c.get(LIST, {"ancestor": w.a.community.pk}).json()["count"] == 0

    def test_leader_sees_their_microgrid_only(self, ledger):
        w = ledger
        on_mg2 = issue(w.a.mg2, w.a.secretary)
        assert ids(client_for(w.a.leader).get(LIST)) == {w.reported.pk, w.recorded.pk, w.handling.pk}
        assert client_for(w.a.leader).get(detail(on_mg2.pk)).status_code == 404
        assert on_mg2.pk in ids(client_for(w.a.secretary).get(LIST))

    def test_property_staff_see_their_company_s_issues_only(self, ledger):
        w = ledger
        other_company = OrganisationFactory(street=w.street, nodes=[w.b.compound])
        worker_b = RoleFactory(node=w.b.community, role=Role.PROPERTY_STAFF, organisation=other_company,
                               user=UserFactory(username="worker_b")).user
        act(w.other, "assign", w.b.secretary, handler_org=other_company.pk)
        a, b = client_for(w.worker), client_for(worker_b)
        assert ids(a.get(LIST)) == {w.handling.pk} and a.get(LIST).json()["count"] == 1
        assert ids(b.get(LIST)) == {w.other.pk}
        # Not the unassigned issues of the community they work in, nor the other company's.
        for pk in (w.reported.pk, w.recorded.pk, w.other.pk):
            assert a.get(detail(pk)).status_code == 404
            assert a.get(f"{LIST}{pk}/events/").status_code == 404
        assert b.get(detail(w.handling.pk)).status_code == 404
        before = snapshot(w.handling)
        assert b.post(action_url(w.handling.pk, "submit_done"), {"note": "x"}, format="json").status_code == 404
        assert snapshot(w.handling) == before
        assert a.get(detail(w.handling.pk)).status_code == 200

    def test_a_named_handler_sees_the_issue_assigned_to_them(self, ledger):
        w = ledger
        helper = RoleFactory(node=w.b.mg2, role=Role.GROUP_LEADER, user=UserFactory(username="helper")).user
        act(w.recorded, "assign", w.a.secretary, handler_user="helper")
        c = client_for(helper)
        assert w.recorded.pk in ids(c.get(LIST))
        assert c.get(detail(w.recorded.pk)).status_code == 200
        assert c.get(detail(w.handling.pk)).status_code == 404


def ids_of(data):
    return {i["id"] for i in data["results"]}


def test_schema_describes_the_ledger(ledger):
    r = APIClient().get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    schema = r.json()
    paths = schema["paths"]
    for path in ("/api/v1/issues/", "/api/v1/issues/{id}/", "/api/v1/issues/{id}/events/",
                 "/api/v1/issues/categories/", "/api/v1/issues/{id}/actions/assign/",
                 "/api/v1/issues/{id}/actions/give_feedback/"):
        assert path in paths, path
    assert "/api/v1/issues/{id}/actions/yellow_card/" not in paths
    assert not any("{name}" in p for p in paths)  # the catch-all stays out of the schema
    feedback = schema["components"]["schemas"]["IssueGiveFeedbackRequest"]
    assert set(feedback["required"]) == {"channel", "text", "satisfaction"}
    params = {p["name"] for p in paths["/api/v1/issues/"]["get"]["parameters"]}
    assert {"state", "category", "source", "ancestor", "overdue", "supervision", "reported_after",
            "reported_before", "search", "page_size"} <= params
    assert "tracking_code" not in r.content.decode()


# --- work after the commit --------------------------------------------------------------------


class TestAfterCommit:
    """A receiver of `issue_event` that fails (say, a higher app's handler) changes no answer: the
    action is committed, the other receivers run, and the messages are still delivered."""

    @pytest.fixture
    def broken_receiver(self):
        from issues import signals

        heard = []

        def broken(sender, **kw):
            raise RuntimeError("a handler above the ledger is broken")

        def listening(sender, **kw):
            heard.append(kw["action"])

        signals.issue_event.connect(broken, dispatch_uid="test-broken")
        signals.issue_event.connect(listening, dispatch_uid="test-listening")
        yield heard
        signals.issue_event.disconnect(dispatch_uid="test-broken")
        signals.issue_event.disconnect(dispatch_uid="test-listening")

    def test_a_failing_receiver_changes_no_answer(self, ledger, broken_receiver, django_capture_on_commit_callbacks,
                                                  caplog):
        from issues.models import Notification

        w = ledger
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            r = client_for(w.a.secretary).post(action_url(w.recorded.pk, "assign"),
                                               {"handler_org": w.property.pk, "version": w.recorded.version},
                                               format="json")
            assert r.status_code == 200, r.content
            assert (r.json()["state"], r.json()["version"]) == ("handling", w.recorded.version + 1)
        # The signal first, then the delivery of the messages: the broken receiver stopped neither.
        assert len(callbacks) == 2
        assert broken_receiver == ["assign"]
        assert Notification.objects.get(issue=w.recorded, recipient=w.worker).status == Notification.Status.SENT
        assert "a handler above the ledger is broken" in caplog.text
        saved = Issue.objects.get(pk=w.recorded.pk)
        assert (saved.state, saved.handler_org_id) == ("handling", w.property.pk)

    @pytest.mark.django_db(transaction=True)
    def test_in_a_real_commit_the_answer_is_still_200(self, ledger, broken_receiver):
        # Without a test transaction around it the hooks run inside the request, as in production.
        from issues.models import Notification

        w = ledger
        r = client_for(w.a.secretary).post(action_url(w.recorded.pk, "assign"), {"handler_org": w.property.pk},
                                           format="json")
        assert r.status_code == 200, r.content
        assert broken_receiver == ["assign"]
        assert Issue.objects.get(pk=w.recorded.pk).state == "handling"
        assert Notification.objects.get(issue=w.recorded, recipient=w.worker).status == Notification.Status.SENT
