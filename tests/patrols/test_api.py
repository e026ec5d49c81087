"""The patrols REST API: scenarios, plans, patrol records (created in one request), work logs and the
leader's profile, monthly reports; shapes, filters, bad input writing nothing, scope on every
endpoint, query budgets on every list, and the OpenAPI schema."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from common.periods import current_month, parse_month
from grid.models import Post, Role
from issues.models import Issue, IssueEvent, Source, State
from patrols import services
from patrols.models import Finding, MonthlyReport, Participant, Patrol, PatrolPlan, PlanState, Scenario, WorkLog
from tests.factories import RoleFactory, UserFactory, category, checklist, issue, plan, scenario
from tests.support import api_schema, client_for, field_errors, fresh, ids, results, shared_fixture

pytestmark = pytest.mark.django_db

BASE = "/api/v1/patrols/"
SCENARIOS = f"{BASE}scenarios/"
PLANS = f"{BASE}plans/"
WORKLOGS = f"{BASE}worklogs/"
PROFILE = f"{WORKLOGS}profile/"
REPORTS = f"{BASE}reports/"

PLAN_FIELDS = {"id", "scenario", "scenario_name", "node", "node_name", "period", "period_start", "period_end",
               "planned_date", "convener", "state", "patrol"}
PATROL_FIELDS = {"id", "plan", "scenario", "scenario_name", "node", "node_name", "period", "date", "recorded_by",
                 "note", "created_at", "issues"}
PATROL_DETAIL_FIELDS = PATROL_FIELDS | {"participants", "items", "findings"}
WORKLOG_FIELDS = {"id", "leader", "leader_name", "kind", "date", "grid", "grid_name", "household", "issue", "note",
                  "created_at"}
REPORT_FIELDS = {"id", "node", "month", "handling", "analysis", "patrols", "generated_at"}


def today():
    return timezone.localdate()


def record(plan_obj, actor, day=None, findings=(), participants=()):
    """A patrol record through the service, every item fine unless a finding names one."""
    return services.patrol_record(actor=actor, plan_id=plan_obj.pk, date=day or today(), participants=participants,
                                  items=checklist(plan_obj), findings=findings)


def counts():
    return (Patrol.objects.count(), Issue.objects.count(), Finding.objects.count(), IssueEvent.objects.count(),
            Participant.objects.count())


@shared_fixture
def plans(world):
    """This month's plans of both shipped scenarios on the whole street, as the monthly job makes them:
    the joint patrol at each compound, the care visit at each community, the secretary as convener."""
    w = world
    services.plans_create(month=current_month())
    w.scen = scenario()
    w.care = Scenario.objects.get(code="care_visit")
    w.plan_a, w.plan_b = plan(w.a.compound), plan(w.b.compound)
    w.care_a = PatrolPlan.objects.get(scenario=w.care, node=w.a.community)
    w.care_b = PatrolPlan.objects.get(scenario=w.care, node=w.b.community)
    w.items = list(w.scen.template.items.all())
    w.repair, w.sanitation = category("property_repair"), category("sanitation")
    w.worker = RoleFactory(node=w.a.community, role=Role.PROPERTY_STAFF, organisation=w.property,
                           user=UserFactory(username="worker")).user
    return w


# --- scenarios --------------------------------------------------------------------------------


class TestScenarios:
    def test_list_and_detail(self, plans):
        w = plans
        c = client_for(w.a.leader)
        listed = {s["code"]: s for s in results(c.get(SCENARIOS))}
        assert set(listed) >= {"monthly_joint_patrol", "care_visit"}
        s = listed["monthly_joint_patrol"]
        assert set(s) == {"id", "code", "name", "cadence", "levels", "starts_on", "ends_on", "planned_day", "active",
                          "categories", "items"}
        assert s["cadence"] == "monthly" and s["levels"] == [3] and s["active"] is True and s["planned_day"] == 10
        assert set(s["categories"]) == set(w.scen.categories.values_list("pk", flat=True))
        assert w.repair.pk in s["categories"] and category("noise").pk not in s["categories"]
        assert [i["id"] for i in s["items"]] == [i.pk for i in w.items]
        assert s["items"][0] == {"id": w.items[0].pk, "group": w.items[0].group, "text": w.items[0].text,
                                 "order": w.items[0].order}
        detail = c.get(f"{SCENARIOS}{w.care.pk}/")
        assert detail.status_code == 200 and detail.json()["code"] == "care_visit" and detail.json()["levels"] == [2]
        assert c.get(f"{SCENARIOS}999999/").status_code == 404

    def test_filter_active(self, plans):
        Scenario.objects.filter(code="care_visit").update(active=False)
        c = client_for(plans.staff)
        assert {s["code"] for s in results(c.get(SCENARIOS, {"active": "false"}))} == {"care_visit"}
        assert "care_visit" not in {s["code"] for s in results(c.get(SCENARIOS, {"active": "true"}))}

    @pytest.mark.parametrize("url", [SCENARIOS, f"{SCENARIOS}1/"])
    def test_anonymous_is_refused(self, plans, url):
        assert APIClient().get(url).status_code == 401

    def test_budget(self, plans, django_assert_max_num_queries):
        c = client_for(plans.staff)
        with django_assert_max_num_queries(4) as few:
            assert len(results(c.get(SCENARIOS))) == 2
        for n in range(12):
            scenario(code=f"duty_{n}", levels=(2,), categories=("noise", "other"))
        with django_assert_max_num_queries(4) as many:
            assert len(results(c.get(SCENARIOS))) == 14
        assert len(few.captured_queries) == len(many.captured_queries)


# --- plans ------------------------------------------------------------------------------------


class TestPlans:
    def test_shape(self, plans):
        w = plans
        items = {p["id"]: p for p in results(client_for(w.staff).get(PLANS))}
        p = items[w.care_a.pk]
        assert set(p) == PLAN_FIELDS
        assert p["scenario"] == w.care.pk and p["scenario_name"] == w.care.name
        assert p["node"] == w.a.community.pk and p["node_name"] == w.a.community.name
        assert p["period"] == current_month() and p["state"] == "planned" and p["patrol"] is None
        assert p["convener"] == {"username": "secretary_a", "name": w.a.secretary.name}
        first, last = parse_month(current_month())
        assert (p["period_start"], p["period_end"]) == (first.isoformat(), last.isoformat())
        rec = record(w.plan_a, w.a.leader)
        p = client_for(w.staff).get(f"{PLANS}{w.plan_a.pk}/").json()
        assert p["patrol"] == rec.pk and p["state"] == "done"

    def test_scope(self, plans):
        w = plans
        mine_a, mine_b = {w.plan_a.pk, w.care_a.pk}, {w.plan_b.pk, w.care_b.pk}
        assert ids(client_for(w.staff).get(PLANS)) == mine_a | mine_b
        assert ids(client_for(w.a.secretary).get(PLANS)) == mine_a
        # A leader sees the plans of the compound and community around their micro-grid.
        assert ids(client_for(w.a.leader).get(PLANS)) == mine_a
        assert ids(client_for(w.b.leader).get(PLANS)) == mine_b
        assert client_for(w.b.leader).get(f"{PLANS}{w.plan_a.pk}/").status_code == 404
        assert client_for(w.b.secretary).get(f"{PLANS}{w.care_a.pk}/").status_code == 404
        # Property staff see the ledger's issues of their company, not the patrol plans.
        assert results(client_for(w.worker).get(PLANS)) == []
        assert client_for(w.worker).get(f"{PLANS}{w.plan_a.pk}/").status_code == 404
        assert APIClient().get(PLANS).status_code == 401
        assert APIClient().get(f"{PLANS}{w.plan_a.pk}/").status_code == 401

    def test_filters(self, plans):
        w = plans
        old = plan(w.a.compound, month="2025-03")
        record(w.plan_a, w.a.leader)
        c = client_for(w.staff)
        month = current_month()
        assert ids(c.get(PLANS, {"state": "done"})) == {w.plan_a.pk}
        assert ids(c.get(PLANS, {"state": "planned", "period": month})) == {w.plan_b.pk, w.care_a.pk, w.care_b.pk}
        assert ids(c.get(PLANS, {"period": "2025-03"})) == {old.pk}
        assert ids(c.get(PLANS, {"period": "2025-3"})) == set()  # the exact label
        assert ids(c.get(PLANS, {"ancestor": w.a.community.pk})) == {w.plan_a.pk, w.care_a.pk, old.pk}
        assert ids(c.get(PLANS, {"ancestor": w.a.compound.pk, "period": month})) == {w.plan_a.pk}
        assert ids(c.get(PLANS, {"ancestor": w.street.pk, "period": month})) == {
            w.plan_a.pk, w.plan_b.pk, w.care_a.pk, w.care_b.pk}
        assert ids(c.get(PLANS, {"ancestor": w.a.mg1.pk})) == set()
        assert ids(c.get(PLANS, {"ancestor": 999999})) == set()
        assert ids(c.get(PLANS, {"scenario": w.care.pk})) == {w.care_a.pk, w.care_b.pk}
        assert ids(c.get(PLANS, {"node": w.b.compound.pk})) == {w.plan_b.pk}
        assert ids(c.get(PLANS, {"search": w.b.compound.name})) == {w.plan_b.pk}
        for bad in ({"state": "lost"}, {"ancestor": "x"}, {"scenario": "x"}):
            r = c.get(PLANS, bad)
            assert r.status_code == 400 and set(bad) <= set(r.json()), r.content

    def test_ancestor_outside_the_scope_reveals_nothing(self, plans):
        w = plans
        c = client_for(w.a.secretary)
        assert results(c.get(PLANS, {"ancestor": w.b.community.pk})) == []
        assert results(c.get(PLANS, {"ancestor": w.street.pk})) == [
            p for p in results(c.get(PLANS)) if p["id"] in {w.plan_a.pk, w.care_a.pk}]

    def test_budget(self, plans, django_assert_max_num_queries):
        w = plans
        sizes = {}
        for user in (w.staff, w.a.secretary, w.a.leader):
            c = client_for(fresh(user))
            with django_assert_max_num_queries(3) as few:
                results(c.get(PLANS))
            sizes[user.pk] = len(few.captured_queries)
        for month in range(1, 13):
            for node in (w.a.compound, w.b.compound):
                p = plan(node, month=f"2025-{month:02d}")
                if month % 3 == 0:
                    record(p, w.a.leader if node == w.a.compound else w.b.leader, day=p.period_start)
        for user, total in ((w.staff, 28), (w.a.secretary, 14), (w.a.leader, 14)):
            c = client_for(fresh(user))
            with django_assert_max_num_queries(3) as many:
                assert len(results(c.get(PLANS, {"page_size": 100}))) == total
            assert len(many.captured_queries) == sizes[user.pk]


# --- patrol records: create -------------------------------------------------------------------


def body_for(w, **over):
    """A valid record of community A's compound patrol: one problem solved on the spot, one recorded."""
    body = {
        "plan": w.plan_a.pk,
        "date": today().isoformat(),
        "participants": [{"username": "secretary_a"}, {"name": "张经理", "role": "物业公司"}],
        "items": checklist(w.plan_a, problem={0: "灯坏了", 3: "垃圾满了"}),
        "findings": [
            {"title": "楼道灯坏", "description": "3楼楼道灯不亮", "category": w.repair.pk, "grid": w.a.mg1.pk,
             "on_spot": True, "note": "当场更换灯泡", "item": w.items[0].pk},
            {"description": "垃圾桶满溢，需要加密清运", "category": w.sanitation.pk, "grid": w.a.mg1.pk, "on_spot": False},
        ],
        "note": "天气晴",
    }
    body.update(over)
    return body


def post(user, body):
    return client_for(user).post(BASE, body, format="json")


class TestCreate:
    def test_happy_path(self, plans):
        w = plans
        r = post(w.a.leader, body_for(w))
        assert r.status_code == 201, r.content
        data = r.json()
        assert set(data) == PATROL_DETAIL_FIELDS
        patrol = Patrol.objects.get()
        assert data["id"] == patrol.pk and data["plan"] == w.plan_a.pk and data["date"] == today().isoformat()
        assert data["recorded_by"] == "leader_a" and data["note"] == "天气晴"
        assert data["node"] == w.a.compound.pk and data["scenario"] == w.scen.pk
        issues = {i.pk: i for i in Issue.objects.filter(pk__in=data["issues"])}
        assert len(issues) == 2 and set(data["issues"]) == set(issues)
        assert {i.source for i in issues.values()} == {Source.PATROL}
        on_spot, recorded = (Issue.objects.get(finding__patrol=patrol, finding__on_spot=flag) for flag in (True, False))
        assert on_spot.state == State.RESOLVED and recorded.state == State.RECORDED
        assert on_spot.grid == w.a.mg1 and on_spot.category == w.repair and recorded.category == w.sanitation
        assert on_spot.events.filter(action="resolve_on_spot", note="当场更换灯泡").exists()
        assert sorted(data["findings"], key=lambda f: f["on_spot"]) == [
            {"issue": recorded.pk, "number": recorded.number, "title": recorded.title, "on_spot": False,
             "state": "recorded", "item": None},
            {"issue": on_spot.pk, "number": on_spot.number, "title": "楼道灯坏", "on_spot": True,
             "state": "resolved", "item": w.items[0].pk},
        ]
        assert [i["item"] for i in data["items"]] == [i.pk for i in w.items]
        assert data["items"][0] == {"item": w.items[0].pk, "group": w.items[0].group, "text": w.items[0].text,
                                    "result": "problem", "note": "灯坏了", "photos": []}
        assert data["items"][1]["result"] == "ok"
        assert data["participants"] == [
            {"username": "leader_a", "name": w.a.leader.name, "role": "leader"},
            {"username": "secretary_a", "name": w.a.secretary.name, "role": "secretary"},
            {"username": None, "name": "张经理", "role": "物业公司"},
        ]
        w.plan_a.refresh_from_db()
        assert w.plan_a.state == PlanState.DONE
        # The detail reads the same as the answer.
        assert client_for(w.a.secretary).get(f"{BASE}{patrol.pk}/").json() == data

    def test_secretary_may_put_findings_anywhere_in_the_community(self, plans):
        w = plans
        findings = [{"description": "健身器材松动", "category": category("facilities").pk, "grid": w.a.mg2.pk,
                     "on_spot": False}]
        r = post(w.a.secretary, body_for(w, findings=findings, participants=[]))
        assert r.status_code == 201, r.content
        assert Issue.objects.get(pk=r.json()["issues"][0]).grid == w.a.mg2

    def test_no_findings(self, plans):
        w = plans
        r = post(w.a.leader, body_for(w, findings=[], items=checklist(w.plan_a)))
        assert r.status_code == 201, r.content
        assert r.json()["issues"] == [] and r.json()["findings"] == []

    @pytest.mark.parametrize("case, key", [
        ("missing_item", "items"),
        ("bad_result", "items.0.result"),
        ("problem_without_note", "items.1.note"),
        ("unknown_item", "items.0.item"),
        ("grid_outside_the_plan", "findings.1.grid"),
        ("grid_outside_the_leader", "findings.0.grid"),
        ("grid_not_a_number", "findings.0.grid"),
        ("category_not_of_the_scenario", "findings.1.category"),
        ("on_spot_without_note", "findings.0.note"),
        ("finding_without_description", "findings.1.description"),
        ("finding_item_not_of_the_checklist", "findings.0.item"),
        ("date_before_the_period", "date"),
        ("date_in_the_future", "date"),
        ("date_garbage", "date"),
        ("unknown_participant", "participants.0.username"),
        ("outsider_without_role", "participants.1.role"),
        ("items_not_a_list", "items"),
    ])
    def test_bad_input_writes_nothing(self, plans, case, key):
        w = plans
        body = body_for(w)
        first = w.plan_a.period_start
        if case == "missing_item":
            body["items"] = body["items"][:-1]
        elif case == "bad_result":
            body["items"][0]["result"] = "broken"
        elif case == "problem_without_note":
            body["items"][1] = {"item": w.items[1].pk, "result": "problem", "note": ""}
        elif case == "unknown_item":
            body["items"][0]["item"] = w.care.template.items.first().pk
        elif case == "grid_outside_the_plan":
            body["findings"][1]["grid"] = w.b.mg1.pk
        elif case == "grid_outside_the_leader":  # inside the compound, but leader_a's grid is mg1 only
            body["findings"][0]["grid"] = w.a.mg2.pk
        elif case == "grid_not_a_number":
            body["findings"][0]["grid"] = "mg1"
        elif case == "category_not_of_the_scenario":
            body["findings"][1]["category"] = category("noise").pk
        elif case == "on_spot_without_note":
            body["findings"][0]["note"] = ""
        elif case == "finding_without_description":
            body["findings"][1]["description"] = ""
        elif case == "finding_item_not_of_the_checklist":
            body["findings"][0]["item"] = w.care.template.items.first().pk
        elif case == "date_before_the_period":
            body["date"] = (first - datetime.timedelta(days=1)).isoformat()
        elif case == "date_in_the_future":
            body["date"] = (today() + datetime.timedelta(days=1)).isoformat()
        elif case == "date_garbage":
            body["date"] = "yesterday"
        elif case == "unknown_participant":
            body["participants"][0] = {"username": "nobody"}
        elif case == "outsider_without_role":
            body["participants"][1] = {"name": "张经理"}
        elif case == "items_not_a_list":
            body["items"] = {"item": w.items[0].pk}
        before = counts()
        r = post(w.a.leader, body)
        assert r.status_code == 400, r.content
        assert key in r.json(), r.json()
        fields = field_errors(r)
        assert all(isinstance(v, list) and v for v in fields.values())
        # Every message comes with its code (common.api): the service's or the serializer's.
        assert r.json()["codes"].keys() == fields.keys() and all(r.json()["codes"][key])
        assert counts() == before
        w.plan_a.refresh_from_db()
        assert w.plan_a.state == PlanState.PLANNED

    def test_second_record_on_the_same_plan(self, plans):
        w = plans
        assert post(w.a.leader, body_for(w)).status_code == 201
        before = counts()
        r = post(w.a.secretary, body_for(w, participants=[]))
        assert r.status_code == 400 and "plan" in r.json(), r.content
        assert counts() == before

    def test_errors_follow_the_language(self, plans, english):
        w = plans
        body = body_for(w)
        body["findings"][0]["note"] = ""
        r = client_for(w.a.leader).post(BASE, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
        assert r.json()["findings.0.note"] == ["Say how it was solved on the spot."]
        zh = client_for(w.a.leader).post(BASE, body, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert zh.status_code == 400 and "findings.0.note" in zh.json()

    def test_plan_outside_the_scope_is_not_found(self, plans):
        w = plans
        before = counts()
        for user in (w.b.leader, w.b.secretary, w.worker):
            assert post(user, body_for(w)).status_code == 404
            # … whatever else is wrong with the request.
            assert post(user, {"plan": w.plan_a.pk}).status_code == 404
        assert post(w.staff, body_for(w, plan=999999)).status_code == 404
        assert APIClient().post(BASE, body_for(w), format="json").status_code == 401
        assert counts() == before

    def test_seeing_is_not_recording(self, plans):
        w = plans
        # A resident group leader of mg1 sees the compound's plan, but only role holders record it.
        helper = RoleFactory(node=w.a.mg1, role=Role.GROUP_LEADER, user=UserFactory(username="helper")).user
        assert client_for(helper).get(f"{PLANS}{w.plan_a.pk}/").status_code == 200
        before = counts()
        r = post(helper, body_for(w, findings=[]))
        assert r.status_code == 403 and "detail" in r.json()
        assert counts() == before

    def test_json_only(self, plans):
        w = plans
        r = client_for(w.a.leader).post(BASE, {"plan": w.plan_a.pk, "date": today().isoformat()}, format="multipart")
        assert r.status_code == 415
        assert Patrol.objects.count() == 0


# --- patrol records: list and detail ----------------------------------------------------------


@shared_fixture
def records(plans):
    w = plans
    w.rec_a = record(w.plan_a, w.a.leader, findings=[
        {"description": "楼道灯不亮", "category": w.repair.pk, "grid": w.a.mg1.pk, "on_spot": False}])
    w.rec_b = record(w.plan_b, w.b.leader)
    w.rec_care = record(w.care_a, w.a.secretary)
    return w


class TestRecords:
    def test_list_shape(self, records):
        w = records
        items = {p["id"]: p for p in results(client_for(w.staff).get(BASE))}
        assert set(items) == {w.rec_a.pk, w.rec_b.pk, w.rec_care.pk}
        p = items[w.rec_a.pk]
        assert set(p) == PATROL_FIELDS
        assert p["issues"] == [w.rec_a.findings.get().issue_id]
        assert p["plan"] == w.plan_a.pk and p["node_name"] == w.a.compound.name and p["recorded_by"] == "leader_a"
        assert items[w.rec_b.pk]["issues"] == []

    def test_scope(self, records):
        w = records
        assert ids(client_for(w.a.secretary).get(BASE)) == {w.rec_a.pk, w.rec_care.pk}
        assert ids(client_for(w.a.leader).get(BASE)) == {w.rec_a.pk, w.rec_care.pk}
        assert ids(client_for(w.b.leader).get(BASE)) == {w.rec_b.pk}
        for user in (w.b.leader, w.b.secretary, w.worker):
            assert client_for(user).get(f"{BASE}{w.rec_a.pk}/").status_code == 404
        assert results(client_for(w.worker).get(BASE)) == []
        assert client_for(w.a.leader).get(f"{BASE}{w.rec_a.pk}/").status_code == 200
        assert APIClient().get(BASE).status_code == 401
        assert APIClient().get(f"{BASE}{w.rec_a.pk}/").status_code == 401

    def test_filters(self, records):
        w = records
        c = client_for(w.staff)
        assert ids(c.get(BASE, {"plan": w.plan_b.pk})) == {w.rec_b.pk}
        assert ids(c.get(BASE, {"scenario": w.care.pk})) == {w.rec_care.pk}
        assert ids(c.get(BASE, {"ancestor": w.a.community.pk})) == {w.rec_a.pk, w.rec_care.pk}
        assert ids(c.get(BASE, {"ancestor": w.a.compound.pk})) == {w.rec_a.pk}
        assert ids(c.get(BASE, {"ancestor": w.street.pk})) == {w.rec_a.pk, w.rec_b.pk, w.rec_care.pk}
        assert ids(c.get(BASE, {"since": today().isoformat(), "until": today().isoformat()})) == {
            w.rec_a.pk, w.rec_b.pk, w.rec_care.pk}
        assert ids(c.get(BASE, {"since": (today() + datetime.timedelta(days=1)).isoformat()})) == set()
        assert c.get(BASE, {"since": "soon"}).status_code == 400

    def test_scenarios_is_not_a_record_id(self, records):
        c = client_for(records.staff)
        for url in (SCENARIOS, PLANS, WORKLOGS, REPORTS):
            r = c.get(url)
            assert r.status_code == 200 and "results" in r.json(), url
        assert c.get(f"{BASE}abc/").status_code == 404

    def test_budget(self, records, django_assert_max_num_queries):
        w = records
        budget = 4  # scope roots, count, page, findings
        sizes = {}
        for user in (w.staff, w.a.secretary, w.b.leader):
            c = client_for(fresh(user))
            with django_assert_max_num_queries(budget) as few:
                results(c.get(BASE))
            sizes[user.pk] = len(few.captured_queries)
        for month in range(1, 11):
            for node, leader, grid in ((w.a.compound, w.a.leader, w.a.mg1), (w.b.compound, w.b.leader, w.b.mg1)):
                p = plan(node, month=f"2025-{month:02d}")
                record(p, leader, day=p.period_start, findings=[
                    {"description": f"问题{month}", "category": w.repair.pk, "grid": grid.pk, "on_spot": False}])
        for user, total in ((w.staff, 23), (w.a.secretary, 12), (w.b.leader, 11)):
            c = client_for(fresh(user))
            with django_assert_max_num_queries(budget) as many:
                items = results(c.get(BASE, {"page_size": 100}))
            assert len(items) == total and sum(len(i["issues"]) for i in items) >= 10
            assert len(many.captured_queries) == sizes[user.pk]

    def test_detail_budget(self, records, django_assert_max_num_queries):
        w = records
        # scope roots, the record with its plan, participants, results, photos, findings with issues
        c = client_for(fresh(w.staff))
        with django_assert_max_num_queries(6):
            r = c.get(f"{BASE}{w.rec_a.pk}/")
        assert r.status_code == 200 and len(r.json()["items"]) == len(w.items)


# --- work logs --------------------------------------------------------------------------------


@shared_fixture
def logs(plans):
    w = plans
    w.hh_a1 = w.a.households[0]  # on mg1
    w.hh_a2 = w.a.households[2]  # on mg2
    earlier = today().replace(day=1) - datetime.timedelta(days=3)
    w.log_a = services.worklog_create(actor=w.a.leader, kind="home_visit", grid=w.a.mg1, household=w.hh_a1)
    w.log_a_old = services.worklog_create(actor=w.a.leader, kind="errand", grid=w.a.mg1, date=earlier)
    w.log_sec = services.worklog_create(actor=w.a.secretary, kind="mediation", grid=w.a.mg2, note="邻里纠纷调解")
    w.log_b = services.worklog_create(actor=w.b.leader, kind="home_visit", grid=w.b.mg1)
    w.earlier = earlier
    return w


class TestWorkLogs:
    def test_shape(self, logs):
        w = logs
        items = {i["id"]: i for i in results(client_for(w.staff).get(WORKLOGS))}
        item = items[w.log_a.pk]
        assert set(item) == WORKLOG_FIELDS
        assert item == {
            "id": w.log_a.pk, "leader": "leader_a", "leader_name": w.a.leader.name, "kind": "home_visit",
            "date": today().isoformat(), "grid": w.a.mg1.pk, "grid_name": w.a.mg1.name, "household": w.hh_a1.pk,
            "issue": None, "note": "", "created_at": item["created_at"],
        }

    def test_scope(self, logs):
        w = logs
        everything = {w.log_a.pk, w.log_a_old.pk, w.log_sec.pk, w.log_b.pk}
        assert ids(client_for(w.staff).get(WORKLOGS)) == everything
        assert ids(client_for(w.a.secretary).get(WORKLOGS)) == everything - {w.log_b.pk}
        # A leader sees the work on their own micro-grid, and their own work.
        assert ids(client_for(w.a.leader).get(WORKLOGS)) == {w.log_a.pk, w.log_a_old.pk}
        assert ids(client_for(w.b.leader).get(WORKLOGS)) == {w.log_b.pk}
        for user in (w.b.leader, w.b.secretary, w.worker):
            assert client_for(user).get(f"{WORKLOGS}{w.log_a.pk}/").status_code == 404
        assert client_for(w.a.leader).get(f"{WORKLOGS}{w.log_sec.pk}/").status_code == 404
        assert client_for(w.a.secretary).get(f"{WORKLOGS}{w.log_a.pk}/").status_code == 200
        assert results(client_for(w.worker).get(WORKLOGS)) == []
        assert APIClient().get(WORKLOGS).status_code == 401
        assert APIClient().post(WORKLOGS, {"kind": "other", "grid": w.a.mg1.pk}).status_code == 401

    def test_filters(self, logs):
        w = logs
        c = client_for(w.staff)
        assert ids(c.get(WORKLOGS, {"leader": "leader_a"})) == {w.log_a.pk, w.log_a_old.pk}
        assert ids(c.get(WORKLOGS, {"leader": "nobody"})) == set()
        assert ids(c.get(WORKLOGS, {"kind": "home_visit"})) == {w.log_a.pk, w.log_b.pk}
        assert ids(c.get(WORKLOGS, {"grid": w.a.mg2.pk})) == {w.log_sec.pk}
        assert ids(c.get(WORKLOGS, {"since": today().replace(day=1).isoformat()})) == {
            w.log_a.pk, w.log_sec.pk, w.log_b.pk}
        assert ids(c.get(WORKLOGS, {"until": w.earlier.isoformat()})) == {w.log_a_old.pk}
        assert ids(c.get(WORKLOGS, {"ancestor": w.b.community.pk})) == {w.log_b.pk}
        assert ids(c.get(WORKLOGS, {"search": "纠纷"})) == {w.log_sec.pk}
        assert ids(c.get(WORKLOGS, {"ancestor": w.a.unit.pk})) == {w.log_a.pk, w.log_a_old.pk}
        assert ids(c.get(WORKLOGS, {"ancestor": w.street.pk})) == {w.log_a.pk, w.log_a_old.pk, w.log_sec.pk, w.log_b.pk}
        for bad in ({"kind": "nap"}, {"since": "x"}, {"grid": "x"}):
            r = c.get(WORKLOGS, bad)
            assert r.status_code == 400 and set(bad) <= set(r.json())
        assert results(client_for(w.b.leader).get(WORKLOGS, {"leader": "leader_a"})) == []

    def test_create(self, logs):
        w = logs
        found = issue(w.a.mg1, w.a.leader)
        r = client_for(w.a.leader).post(WORKLOGS, {
            "kind": "hazard_check", "grid": w.a.mg1.pk, "household": w.hh_a1.pk, "issue": found.pk,
            "date": (today() - datetime.timedelta(days=1)).isoformat(), "note": "检查燃气",
        }, format="json")
        assert r.status_code == 201, r.content
        entry = WorkLog.objects.get(pk=r.json()["id"])
        assert (entry.leader, entry.kind, entry.grid, entry.household, entry.issue) == (
            w.a.leader, "hazard_check", w.a.mg1, w.hh_a1, found)
        assert entry.community == w.a.community and entry.street == w.street
        assert r.json()["date"] == (today() - datetime.timedelta(days=1)).isoformat()
        assert set(r.json()) == WORKLOG_FIELDS
        # Three taps: the kind and the place; the day is today.
        r = client_for(w.a.leader).post(WORKLOGS, {"kind": "home_visit", "grid": w.a.mg1.pk})
        assert r.status_code == 201 and r.json()["date"] == today().isoformat()

    @pytest.mark.parametrize("who, case, key", [
        ("a.secretary", "household_of_another_microgrid", "household"),
        ("a.leader", "household_outside_the_scope", "household"),
        ("a.leader", "future_date", "date"),
        ("a.leader", "grid_outside_the_scope", "grid"),
        ("a.leader", "grid_unknown", "grid"),
        ("a.secretary", "grid_not_a_microgrid", "grid"),
        ("a.leader", "issue_outside_the_scope", "issue"),
        ("a.leader", "bad_kind", "kind"),
        ("a.leader", "note_too_long", "note"),
    ])
    def test_bad_input_writes_nothing(self, logs, who, case, key):
        w = logs
        side, role = who.split(".")
        user = getattr(getattr(w, side), role)
        body = {"kind": "home_visit", "grid": w.a.mg1.pk}
        if case == "household_of_another_microgrid":
            body["household"] = w.hh_a2.pk
        elif case == "household_outside_the_scope":
            body["household"] = w.hh_a2.pk
        elif case == "future_date":
            body["date"] = (today() + datetime.timedelta(days=1)).isoformat()
        elif case == "grid_outside_the_scope":
            body["grid"] = w.b.mg1.pk
        elif case == "grid_unknown":
            body["grid"] = 999999
        elif case == "grid_not_a_microgrid":
            body["grid"] = w.a.compound.pk
        elif case == "issue_outside_the_scope":
            body["issue"] = issue(w.b.mg1, w.b.leader).pk
        elif case == "bad_kind":
            body["kind"] = "nap"
        elif case == "note_too_long":
            body["note"] = "很" * 501
        before = WorkLog.objects.count()
        r = client_for(user).post(WORKLOGS, body, format="json")
        assert r.status_code == 400, r.content
        assert key in r.json(), r.json()
        assert WorkLog.objects.count() == before

    def test_out_of_scope_answers_look_alike(self, logs):
        """An id outside the scope reads as one that does not exist."""
        w = logs
        c = client_for(w.a.leader)
        outside = c.post(WORKLOGS, {"kind": "other", "grid": w.b.mg1.pk}, format="json").json()
        missing = c.post(WORKLOGS, {"kind": "other", "grid": 999999}, format="json").json()
        assert outside == missing

    def test_budget(self, logs, django_assert_max_num_queries):
        w = logs
        sizes = {}
        for user in (w.staff, w.a.secretary, w.a.leader):
            c = client_for(fresh(user))
            with django_assert_max_num_queries(3) as few:
                results(c.get(WORKLOGS))
            sizes[user.pk] = len(few.captured_queries)
        for n in range(30):
            services.worklog_create(actor=w.a.leader, kind="errand", grid=w.a.mg1,
                                    household=w.hh_a1 if n % 2 else None)
            services.worklog_create(actor=w.b.leader, kind="mediation", grid=w.b.mg1)
        for user, total in ((w.staff, 64), (w.a.secretary, 33), (w.a.leader, 32)):
            c = client_for(fresh(user))
            with django_assert_max_num_queries(3) as many:
                assert len(results(c.get(WORKLOGS, {"page_size": 100}))) == total
            assert len(many.captured_queries) == sizes[user.pk]


class TestProfile:
    def test_own_profile_this_month_by_default(self, logs):
        w = logs
        services.worklog_create(actor=w.a.leader, kind="home_visit", grid=w.a.mg1)
        record(w.plan_a, w.a.leader)
        data = client_for(w.a.leader).get(PROFILE).json()
        first, last = parse_month(current_month())
        assert data["leader"] == "leader_a" and data["name"] == w.a.leader.name
        assert (data["since"], data["until"]) == (first.isoformat(), last.isoformat())
        assert data["by_kind"] == {"home_visit": 2, "errand": 0, "mediation": 0, "hazard_check": 0, "publicity": 0,
                                   "other": 0}
        assert data["total"] == 2 and data["patrols"] == 1

    def test_period(self, logs):
        w = logs
        c = client_for(w.a.leader)
        data = c.get(PROFILE, {"since": w.earlier.isoformat(), "until": today().isoformat()}).json()
        assert data["by_kind"]["errand"] == 1 and data["by_kind"]["home_visit"] == 1 and data["total"] == 2
        assert c.get(PROFILE, {"until": w.earlier.isoformat()}).status_code == 400  # before this month's 1st
        r = c.get(PROFILE, {"since": "last week"})
        assert r.status_code == 400 and "since" in r.json()

    def test_someone_elses(self, logs):
        w = logs
        data = client_for(w.a.secretary).get(PROFILE, {"leader": "leader_a"}).json()
        assert data["leader"] == "leader_a" and data["by_kind"]["home_visit"] == 1
        assert client_for(w.staff).get(PROFILE, {"leader": "leader_b"}).json()["total"] == 1
        # A secretary's profile counts their own work too.
        assert client_for(w.staff).get(PROFILE, {"leader": "secretary_a"}).json()["by_kind"]["mediation"] == 1
        # Nobody outside: another community's leader, an unknown name, property staff.
        assert client_for(w.b.leader).get(PROFILE, {"leader": "leader_a"}).status_code == 404
        assert client_for(w.b.secretary).get(PROFILE, {"leader": "leader_a"}).status_code == 404
        assert client_for(w.a.leader).get(PROFILE, {"leader": "secretary_a"}).status_code == 404
        assert client_for(w.worker).get(PROFILE, {"leader": "leader_a"}).status_code == 404
        assert client_for(w.staff).get(PROFILE, {"leader": "nobody"}).status_code == 404
        assert APIClient().get(PROFILE).status_code == 401

    def test_a_leader_on_the_roster_without_logs(self, logs):
        w = logs
        data = client_for(w.a.secretary).get(PROFILE, {"leader": "leader_b"})
        assert data.status_code == 404
        new = RoleFactory(node=w.a.mg2, role=Role.LEADER, post=Post.A, user=UserFactory(username="newcomer")).user
        data = client_for(w.a.secretary).get(PROFILE, {"leader": new.username}).json()
        assert data["total"] == 0 and data["patrols"] == 0


# --- monthly reports --------------------------------------------------------------------------


@shared_fixture
def reports(plans):
    w = plans
    w.month = current_month()
    w.rec_a = record(w.plan_a, w.a.leader, findings=[
        {"description": "楼道灯不亮", "category": w.repair.pk, "grid": w.a.mg1.pk, "on_spot": True, "note": "已换灯泡"},
        {"description": "垃圾满溢", "category": w.sanitation.pk, "grid": w.a.mg1.pk, "on_spot": False},
    ])
    services.reports_generate(month=w.month)
    w.rep_a = MonthlyReport.objects.get(node=w.a.community, month=w.month)
    w.rep_b = MonthlyReport.objects.get(node=w.b.community, month=w.month)
    w.rep_street = MonthlyReport.objects.get(node=w.street, month=w.month)
    return w


class TestReports:
    def test_detail_shape(self, reports):
        w = reports
        data = client_for(w.a.secretary).get(f"{REPORTS}{w.rep_a.pk}/").json()
        assert set(data) == REPORT_FIELDS
        assert data["id"] == w.rep_a.pk and data["node"] == w.a.community.pk and data["month"] == w.month
        assert set(data["handling"]) == {"by_state", "by_category", "solved_on_spot", "open", "overdue"}
        assert set(data["analysis"]) == {"common", "difficult"}
        assert data["handling"]["by_state"]["resolved"] == 1 and data["handling"]["by_state"]["recorded"] == 1
        assert data["handling"]["solved_on_spot"] == 1
        recorded = Issue.objects.get(finding__patrol=w.rec_a, finding__on_spot=False)
        solved = Issue.objects.get(finding__patrol=w.rec_a, finding__on_spot=True)
        # Open: not closed yet (a solved one waits for the resident's feedback).
        open_states = {i["id"]: i["state"] for i in data["handling"]["open"]}
        assert open_states == {recorded.pk: "recorded", solved.pk: "resolved"}
        assert {i["number"] for i in data["handling"]["open"]} == {recorded.number, solved.number}
        assert {c["category"]: c["count"] for c in data["handling"]["by_category"]} == {
            w.repair.pk: 1, w.sanitation.pk: 1}
        assert data["handling"]["overdue"] == [] and data["analysis"] == {"common": [], "difficult": []}
        assert data["patrols"] == {"plans": 2, "planned": 1, "done": 1, "missed": 0}
        assert data["generated_at"]

    def test_street_roll_up(self, reports):
        w = reports
        data = client_for(w.staff).get(f"{REPORTS}{w.rep_street.pk}/").json()
        assert set(data) == REPORT_FIELDS | {"communities"}
        lines = {c["id"]: c for c in data["communities"]}
        assert set(lines) == {w.a.community.pk, w.b.community.pk}
        assert lines[w.a.community.pk]["found"] == 2 and lines[w.a.community.pk]["open"] == 2
        assert lines[w.b.community.pk]["found"] == 0
        assert data["patrols"]["plans"] == 4

    def test_list(self, reports):
        w = reports
        items = {r["id"]: r for r in results(client_for(w.staff).get(REPORTS))}
        assert set(items) == {w.rep_a.pk, w.rep_b.pk, w.rep_street.pk}
        item = items[w.rep_a.pk]
        assert set(item) == {"id", "node", "node_name", "month", "generated_at", "summary"}
        assert item["node"] == w.a.community.pk and item["node_name"] == w.a.community.name
        assert item["summary"] == {"found": 2, "solved_on_spot": 1, "open": 2, "overdue": 0, "common": 0,
                                   "difficult": 0, "plans": 2, "done": 1, "missed": 0}
        assert "open" not in item and "handling" not in item

    def test_scope(self, reports):
        w = reports
        assert ids(client_for(w.a.secretary).get(REPORTS)) == {w.rep_a.pk}
        assert ids(client_for(w.a.leader).get(REPORTS)) == {w.rep_a.pk}
        assert ids(client_for(w.b.leader).get(REPORTS)) == {w.rep_b.pk}
        for user in (w.b.leader, w.b.secretary, w.worker):
            assert client_for(user).get(f"{REPORTS}{w.rep_a.pk}/").status_code == 404
        # The street's roll-up is the street's.
        for user in (w.a.secretary, w.a.leader):
            assert client_for(user).get(f"{REPORTS}{w.rep_street.pk}/").status_code == 404
        assert results(client_for(w.worker).get(REPORTS)) == []
        assert client_for(w.a.leader).get(f"{REPORTS}{w.rep_a.pk}/").status_code == 200
        assert APIClient().get(REPORTS).status_code == 401
        assert APIClient().get(f"{REPORTS}{w.rep_a.pk}/").status_code == 401

    def test_filters(self, reports):
        w = reports
        old = services.report_generate(node=w.a.community, month="2025-05")
        c = client_for(w.staff)
        assert ids(c.get(REPORTS, {"node": w.a.community.pk})) == {w.rep_a.pk, old.pk}
        assert ids(c.get(REPORTS, {"node": w.a.community.pk, "month": "2025-05"})) == {old.pk}
        assert ids(c.get(REPORTS, {"month": w.month})) == {w.rep_a.pk, w.rep_b.pk, w.rep_street.pk}
        assert ids(c.get(REPORTS, {"month": "2024-01"})) == set()
        for bad in ({"month": "May"}, {"month": "2025-13"}, {"node": "x"}):
            r = c.get(REPORTS, bad)
            assert r.status_code == 400 and set(bad) <= set(r.json())
        assert results(client_for(w.b.secretary).get(REPORTS, {"node": w.a.community.pk})) == []

    def test_budget(self, reports, django_assert_max_num_queries):
        w = reports
        sizes = {}
        for user in (w.staff, w.a.secretary, w.a.leader):
            c = client_for(fresh(user))
            with django_assert_max_num_queries(3) as few:
                results(c.get(REPORTS))
            sizes[user.pk] = len(few.captured_queries)
        for month in range(1, 9):
            services.reports_generate(month=f"2025-{month:02d}")
        for user, total in ((w.staff, 27), (w.a.secretary, 9), (w.a.leader, 9)):
            c = client_for(fresh(user))
            with django_assert_max_num_queries(3) as many:
                assert len(results(c.get(REPORTS, {"page_size": 100}))) == total
            assert len(many.captured_queries) == sizes[user.pk]


# --- the schema -------------------------------------------------------------------------------


def test_schema_describes_the_patrols_api(world):
    schema, messages = api_schema()
    # Nothing from this app, and no enum of ours renaming another app's (`state`, `kind`).
    assert not [m for m in messages if "patrols" in m or "collision" in m], messages
    paths = schema["paths"]
    for path in (BASE, f"{BASE}{{id}}/", SCENARIOS, f"{SCENARIOS}{{id}}/", PLANS, f"{PLANS}{{id}}/", WORKLOGS,
                 f"{WORKLOGS}{{id}}/", PROFILE, REPORTS, f"{REPORTS}{{id}}/"):
        assert path in paths, path
    create = paths[BASE]["post"]
    assert list(create["requestBody"]["content"]) == ["application/json"]
    assert "JSON only" in create["description"]
    assert {"201", "400", "403", "404"} <= set(create["responses"])
    components = schema["components"]["schemas"]
    assert set(components["PatrolCreate"]["required"]) == {"plan", "date", "items"}
    assert set(components["PatrolFindingInput"]["required"]) == {"description", "category", "grid"}
    assert {"StateEnum", "KindEnum"} <= set(components)  # the ledger's and the grid's names kept
    report = components["MonthlyReport"]["properties"]
    assert set(report) == REPORT_FIELDS | {"communities"}
    handling = components["MonthlyReportHandling"]["properties"]
    assert set(handling) == {"by_state", "by_category", "solved_on_spot", "open", "overdue"}
    params = {p["name"] for p in paths[PLANS]["get"]["parameters"]}
    assert {"state", "period", "ancestor", "scenario", "node", "page_size"} <= params
    params = {p["name"] for p in paths[WORKLOGS]["get"]["parameters"]}
    assert {"leader", "kind", "grid", "since", "until", "ancestor"} <= params
    assert {p["name"] for p in paths[PROFILE]["get"]["parameters"]} == {"leader", "since", "until"}
    assert {"node", "month"} <= {p["name"] for p in paths[REPORTS]["get"]["parameters"]}


# --- after the commit ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_of_patrol_done_changes_no_answer(world, caplog):
    """Outside a test's transaction the signal goes out at the commit, inside the request: a receiver
    that raises (incentives down) is logged; the record stands, the answer is 201, the others still hear."""
    from patrols.signals import patrol_done

    w = world
    w.scen = scenario()
    w.plan_a = plan(w.a.compound, w.scen)
    w.items = list(w.scen.template.items.all())
    heard = []

    def broken(**kwargs):
        raise RuntimeError("the points ledger is down")

    patrol_done.connect(broken, weak=False, dispatch_uid="test-broken-receiver")
    patrol_done.connect(lambda **kw: heard.append(kw["patrol_id"]), weak=False, dispatch_uid="test-listening-receiver")
    try:
        r = post(w.a.leader, {"plan": w.plan_a.pk, "date": today().isoformat(), "items": checklist(w.plan_a)})
    finally:
        patrol_done.disconnect(dispatch_uid="test-broken-receiver")
        patrol_done.disconnect(dispatch_uid="test-listening-receiver")
    assert r.status_code == 201, r.content
    assert Patrol.objects.filter(pk=r.json()["id"], plan=w.plan_a).exists()
    assert heard == [r.json()["id"]]
    assert any("the points ledger is down" in r.getMessage() for r in caplog.records if r.name == "common.hooks")


@pytest.mark.parametrize("change, key, code", [
    (lambda b, w: b["findings"][0].update(note=""), "findings.0.note", "on_spot_note_required"),
    (lambda b, w: b["findings"][1].update(grid=w.b.mg1.pk), "findings.1.grid", "place_outside"),
    (lambda b, w: b.update(items=b["items"][:-1]), "items", "items_missing"),
    (lambda b, w: b["participants"].__setitem__(0, {"username": "nobody"}), "participants.0.username",
     "not_on_roster"),
    (lambda b, w: b.update(date="2000-01-01"), "date", "date_outside_period"),
])
def test_the_services_errors_carry_their_codes(plans, change, key, code):
    w = plans
    body = body_for(w)
    change(body, w)
    r = post(w.a.leader, body)
    assert r.status_code == 400 and r.json()["codes"][key] == [code], r.json()
    helper = RoleFactory(node=w.a.mg1, role=Role.GROUP_LEADER, user=UserFactory(username="helper")).user
    r = post(helper, body_for(w, findings=[]))
    assert r.status_code == 403 and r.json() == {"detail": r.json()["detail"], "code": "may_not_record"}
