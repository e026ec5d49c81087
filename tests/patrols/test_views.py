"""The mobile patrol pages (patrols/views.py): this period's plans, the patrol checklist and its record,
the quick work-log entry, a leader's profile, and the monthly report on the phone, on A4 and in Excel."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from common.periods import current_month
from grid.models import Kind, Level, Role
from issues.models import Issue, IssuePhoto, Source, State, Supervision
from patrols import services
from patrols.models import (
    Finding,
    ItemResult,
    MonthlyReport,
    Participant,
    Patrol,
    PatrolPlan,
    PlanState,
    ResultPhoto,
    WorkKind,
    WorkLog,
)
from tests.factories import RoleFactory, UserFactory, act, category, issue, node, plan, scenario
from tests.support import image, login, shared_fixture, workbook

# The index page, whatever the number of plans and reports: session, user, scope roots, plan count,
# plan rows, latest month, that month's reports.
INDEX_BUDGET = 7
# The profile page, whatever the number of logs: session, user, scope roots, counts by kind, patrols,
# latest logs, leaders in scope.
PROFILE_BUDGET = 7
# The patrol form, whatever the length of the checklist: session, user, scope roots, plan, two role checks,
# items, roster, categories, micro-grids in scope, own micro-grids.
FORM_BUDGET = 11
BLUE = (30, 120, 200)  # the photos' colour

pytestmark = pytest.mark.usefixtures("media")


def url(name, *args):
    return reverse(f"mobile_patrols:{name}", args=args)


@shared_fixture
def patrol_plan(world):
    """This month's joint patrol at compound A (the monthly scenario walks compounds)."""
    return plan(world.a.compound)


def items_of(p):
    return list(p.scenario.template.items.all())


def form_data(p, problems=None, **extra):
    """A patrol form as the browser sends it: every item fine except `problems` ({index: fields})."""
    data = {"date": timezone.localdate().isoformat(), "note": ""}
    for i, item in enumerate(items_of(p)):
        prefix = f"i{item.pk}_"
        data[prefix + "result"] = "ok"
        for name, value in (problems or {}).get(i, {}).items():
            data[prefix + name] = value
    data.update(extra)
    return data


def nothing_written(before):
    return (Patrol.objects.count(), Issue.objects.count(), Participant.objects.count(),
            ItemResult.objects.count(), ResultPhoto.objects.count()) == before


def counts():
    return (Patrol.objects.count(), Issue.objects.count(), Participant.objects.count(),
            ItemResult.objects.count(), ResultPhoto.objects.count())


def make_report(community, month=None):
    return services.report_generate(node=community, month=month or current_month())


# --- login and scope ----------------------------------------------------------------------------


def test_every_page_needs_a_login(client, world, patrol_plan):
    rep = make_report(world.a.community)
    pages = [url("index"), url("plan", patrol_plan.pk), url("log"), url("profile"),
             url("profile_of", "leader_a"), url("report", rep.pk), url("report_print", rep.pk),
             url("report_xlsx", rep.pk)]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"] == f"{reverse('mobile:login')}?next={page}"


def test_the_names_the_admin_links_to():
    assert url("report_print", 7) == "/m/patrols/reports/7/print/"
    assert url("report_xlsx", 7) == "/m/patrols/reports/7/xlsx"


def test_another_communitys_leader_gets_404_everywhere(client, world, patrol_plan):
    w = world
    login(client, w.a.leader)
    record = client.post(url("plan", patrol_plan.pk), form_data(patrol_plan))
    patrol = Patrol.objects.get(plan=patrol_plan)
    assert record["Location"] == url("record", patrol.pk)
    rep = make_report(w.a.community)
    other_plan = plan(w.a.compound, scenario("weekly_check", items=(("安全", "消防通道"),)))

    for outsider in (w.b.leader, w.b.secretary):
        login(client, outsider)
        for page in (url("plan", patrol_plan.pk), url("plan", other_plan.pk), url("record", patrol.pk),
                     url("report", rep.pk), url("report_print", rep.pk), url("report_xlsx", rep.pk),
                     url("profile_of", "leader_a")):
            assert client.get(page).status_code == 404, (outsider, page)
        before = counts()
        assert client.post(url("plan", other_plan.pk), form_data(other_plan)).status_code == 404
        assert nothing_written(before)
        index = client.get(url("index"))
        assert patrol_plan not in [r["plan"] for r in index.context["rows"]]
        assert rep not in index.context["reports"]
    assert client.get(url("plan", 999999)).status_code == 404
    assert client.get(url("report", 999999)).status_code == 404


def test_someone_who_sees_the_plan_but_may_not_record_gets_403(en, world, patrol_plan):
    rep = RoleFactory(node=world.a.community, role=Role.OWNER_REP, user=UserFactory(username="owner_rep")).user
    login(en, rep)
    response = en.get(url("plan", patrol_plan.pk))
    assert response.status_code == 403
    assert "Only role holders of this place record its patrols." in response.content.decode()
    before = counts()
    assert en.post(url("plan", patrol_plan.pk), form_data(patrol_plan)).status_code == 403
    assert nothing_written(before)


# --- the index ----------------------------------------------------------------------------------


def test_index_lists_the_periods_plans_and_the_latest_report(en, world, patrol_plan):
    old = make_report(world.a.community, "2020-01")
    rep = make_report(world.a.community)
    login(en, world.a.leader)
    response = en.get(url("index"))
    assert response.status_code == 200
    assert [r["plan"] for r in response.context["rows"]] == [patrol_plan]
    assert response.context["reports"] == [rep] and old not in response.context["reports"]
    html = response.content.decode()
    assert url("plan", patrol_plan.pk) in html
    assert url("log") in html and url("profile") in html and url("report", rep.pk) in html
    assert "planned" in html and patrol_plan.planned_date.isoformat() in html


def test_a_walked_plan_links_to_its_record(client, world, patrol_plan):
    login(client, world.a.leader)
    client.post(url("plan", patrol_plan.pk), form_data(patrol_plan))
    patrol = Patrol.objects.get(plan=patrol_plan)
    html = client.get(url("index")).content.decode()
    assert url("record", patrol.pk) in html and url("plan", patrol_plan.pk) not in html
    # The form of a recorded plan leads to its record.
    response = client.get(url("plan", patrol_plan.pk))
    assert response.status_code == 302 and response["Location"] == url("record", patrol.pk)


def test_index_query_budget_does_not_grow_with_plans(client, world, django_assert_max_num_queries):
    w = world
    make_report(w.a.community)
    login(client, w.a.secretary)
    plan(w.a.compound)
    with django_assert_max_num_queries(INDEX_BUDGET):
        few = client.get(url("index"))
    assert len(few.context["rows"]) == 1
    for i in range(8):
        compound = node(w.a.community, level=Level.COMPOUND, kind=Kind.RESIDENTIAL, name=f"小区A{i + 2}")
        plan(compound)
    make_report(w.street)
    with django_assert_max_num_queries(INDEX_BUDGET):
        many = client.get(url("index"))
    assert len(many.context["rows"]) == 9


# --- the patrol form ----------------------------------------------------------------------------


def test_the_form_walks_every_item_with_big_answers_and_a_camera(en, world, patrol_plan):
    login(en, world.a.leader)
    response = en.get(url("plan", patrol_plan.pk))
    assert response.status_code == 200
    html = response.content.decode()
    form = response.context["form"]
    items = items_of(patrol_plan)
    assert len(response.context["items"]) == len(items) > 1
    for item in items:
        for value in ("ok", "problem", "n/a"):
            assert f'name="i{item.pk}_result" value="{value}"' in html
        assert f'name="i{item.pk}_photos" accept="image/*" capture="environment"' in html
    assert 'enctype="multipart/form-data"' in html
    # The roster: the community's secretary, not community B's people nor the recorder.
    roster = [label for _pk, label in form.fields["roster"].choices]
    assert any("secretary_a" in label or world.a.secretary.name in label for label in roster)
    assert not any(world.b.secretary.name in label or world.b.leader.name in label for label in roster)
    assert not any(world.a.leader.name in label for label in roster)
    # Findings go to micro-grids inside the compound that the leader may file on: his own.
    first = items[0]
    assert [c for c, _l in form.fields[f"i{first.pk}_grid"].choices] == ["", world.a.mg1.pk]
    assert form[f"i{first.pk}_grid"].value() == world.a.mg1.pk
    categories = {c for c, _l in form.fields[f"i{first.pk}_category"].choices} - {""}
    assert categories == set(patrol_plan.scenario.categories.filter(active=True).values_list("pk", flat=True))
    assert 'list="capacities"' in html


def test_the_forms_queries_do_not_grow_with_the_checklist(client, world, patrol_plan, django_assert_max_num_queries):
    short = plan(world.a.compound, scenario("weekly_check", items=(("安全", "消防通道"),)))
    login(client, world.a.leader)
    with django_assert_max_num_queries(FORM_BUDGET):
        assert len(client.get(url("plan", short.pk)).context["items"]) == 1
    n = len(items_of(patrol_plan))
    with django_assert_max_num_queries(FORM_BUDGET):
        assert len(client.get(url("plan", patrol_plan.pk)).context["items"]) == n > 5


def test_a_patrol_with_a_problem_solved_on_the_spot_and_one_recorded(en, world, patrol_plan):
    w = world
    login(en, w.a.leader)
    items = items_of(patrol_plan)
    cat = patrol_plan.scenario.categories.order_by("pk").first()
    sec_line = next(pk for pk, label in en.get(url("plan", patrol_plan.pk)).context["form"].fields["roster"].choices)
    data = form_data(patrol_plan, problems={
        0: {"result": "problem", "note": "3栋楼道灯不亮", "finding": "on_spot", "category": cat.pk,
            "grid": w.a.mg1.pk, "how": "当场更换灯泡", "photos": image("lamp.png", colour=BLUE)},
        1: {"result": "problem", "note": "垃圾桶满溢", "finding": "record", "category": cat.pk,
            "grid": w.a.mg1.pk, "title": "", "description": ""},
        2: {"result": "n/a"},
    }, roster=[sec_line], o0_name="张经理", o0_role="物业公司", o1_name="", o1_role="", note="天气晴")
    response = en.post(url("plan", patrol_plan.pk), data)
    patrol = Patrol.objects.get(plan=patrol_plan)
    assert response.status_code == 302 and response["Location"] == url("record", patrol.pk)

    patrol_plan.refresh_from_db()
    assert patrol_plan.state == PlanState.DONE
    assert patrol.recorded_by == w.a.leader and patrol.note == "天气晴"
    people = {(p.user_id, p.name, p.role) for p in patrol.participants.all()}
    assert (w.a.leader.pk, w.a.leader.name, Role.LEADER) in people
    assert (w.a.secretary.pk, w.a.secretary.name, Role.SECRETARY) in people
    assert (None, "张经理", "物业公司") in people and len(people) == 3
    results = {r.item_id: r for r in patrol.results.all()}
    assert len(results) == len(items)
    assert (results[items[0].pk].result, results[items[2].pk].result, results[items[3].pk].result) == ("problem", "n/a", "ok")
    assert ResultPhoto.objects.filter(result=results[items[0].pk]).count() == 1

    on_spot, recorded = Finding.objects.filter(patrol=patrol).select_related("issue").order_by("id")
    assert (on_spot.item_id, on_spot.on_spot, on_spot.issue.state) == (items[0].pk, True, State.RESOLVED)
    assert (recorded.item_id, recorded.on_spot, recorded.issue.state) == (items[1].pk, False, State.RECORDED)
    for f in (on_spot, recorded):
        assert (f.issue.source, f.issue.grid, f.issue.category) == (Source.PATROL, w.a.mg1, cat)
    # Defaults from the item and its note; the item's photo is the finding's too.
    assert recorded.issue.title == f"{items[1].text}：垃圾桶满溢" and recorded.issue.description == "垃圾桶满溢"
    assert on_spot.issue.events.get(action="resolve_on_spot").note == "当场更换灯泡"
    [issue_photo] = IssuePhoto.objects.filter(issue=on_spot.issue)
    [result_photo] = ResultPhoto.objects.filter(result=results[items[0].pk])
    # One upload stored twice, whole both times.
    assert issue_photo.image.size == result_photo.image.size == len(image(colour=BLUE).read()) > 0
    assert issue_photo.image.name != result_photo.image.name
    assert not IssuePhoto.objects.filter(issue=recorded.issue).exists()

    page = en.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    for f in (on_spot, recorded):
        assert f.issue.number in html and reverse("mobile_issues:detail", args=[f.issue.pk]) in html
    assert "张经理" in html and "物业公司" in html and "micro-grid leader" in html
    assert "The patrol is recorded; 2 issue(s) went into the ledger." in html
    assert "<img" in html


def test_the_record_page_is_for_those_who_see_the_plan(client, world, patrol_plan):
    login(client, world.a.leader)
    client.post(url("plan", patrol_plan.pk), form_data(patrol_plan))
    patrol = Patrol.objects.get(plan=patrol_plan)
    for user in (world.a.leader, world.a.secretary, world.staff):
        login(client, user)
        assert client.get(url("record", patrol.pk)).status_code == 200
    login(client, world.b.leader)
    assert client.get(url("record", patrol.pk)).status_code == 404


def test_service_errors_land_on_their_fields_and_nothing_is_written(en, world, patrol_plan):
    w = world
    login(en, w.a.leader)
    items = items_of(patrol_plan)
    cat = patrol_plan.scenario.categories.first()
    data = form_data(patrol_plan, problems={
        0: {"result": "problem", "note": "", "finding": "none"},                    # items.0.note
        1: {"result": "problem", "note": "井盖松动", "finding": "on_spot", "category": cat.pk,
            "grid": w.a.mg1.pk, "how": ""},                                          # findings.0.note
        2: {"result": "problem", "note": "健身器材损坏", "finding": "record", "category": "",
            "grid": ""},                                                             # findings.1.category/grid
    }, o0_name="李四", o0_role="")                                                   # participants.0.role
    data["date"] = (patrol_plan.period_start - datetime.timedelta(days=1)).isoformat()  # date
    before = counts()
    response = en.post(url("plan", patrol_plan.pk), data)
    assert response.status_code == 200
    assert nothing_written(before)
    errors = response.context["form"].errors
    p0, p1, p2 = (f"i{items[i].pk}_" for i in range(3))
    assert errors[p0 + "note"] == ["Say what the problem is."]
    assert errors[p1 + "how"] == ["Say how it was solved on the spot."]
    assert errors[p2 + "category"] == ["Choose one of this scenario's categories."]
    assert errors[p2 + "grid"] == ["Choose a place inside the patrolled area and your own grid."]
    assert errors["o0_role"] == ["Say in what capacity this person took part (e.g. property company)."]
    assert errors["date"] == ["The patrol date must lie in the plan's period and not in the future."]
    html = response.content.decode()
    assert "The patrol was not recorded" in html and html.count('class="error"') >= 7
    patrol_plan.refresh_from_db()
    assert patrol_plan.state == PlanState.PLANNED


def test_a_finding_on_a_place_outside_the_leaders_grid_is_refused(en, world, patrol_plan):
    # mg2 lies in the compound but not in the leader's scope: the form does not offer it, the service
    # would refuse it.
    login(en, world.a.leader)
    item = items_of(patrol_plan)[0]
    cat = patrol_plan.scenario.categories.first()
    before = counts()
    response = en.post(url("plan", patrol_plan.pk), form_data(patrol_plan, problems={
        0: {"result": "problem", "note": "路灯坏", "finding": "record", "category": cat.pk, "grid": world.a.mg2.pk}}))
    assert response.status_code == 200 and nothing_written(before)
    assert f"i{item.pk}_grid" in response.context["form"].errors


def test_unanswered_items_and_bad_photos_are_form_errors(en, world, patrol_plan):
    login(en, world.a.leader)
    items = items_of(patrol_plan)
    data = form_data(patrol_plan, problems={1: {"result": "problem", "note": "x", "finding": "none",
                                               "photos": SimpleUploadedFile("x.png", b"no image", "image/png")}})
    del data[f"i{items[0].pk}_result"]
    before = counts()
    response = en.post(url("plan", patrol_plan.pk), data)
    assert response.status_code == 200 and nothing_written(before)
    errors = response.context["form"].errors
    assert errors[f"i{items[0].pk}_result"] == ["Choose fine, problem or not applicable."]
    assert "JPEG, PNG or WebP" in errors[f"i{items[1].pk}_photos"][0]
    assert "Choose the photos again" in response.content.decode()


def test_too_many_photos_for_an_item_is_the_services_error_on_that_item(en, world, patrol_plan):
    login(en, world.a.leader)
    item = items_of(patrol_plan)[0]
    n = services.MAX_PHOTOS_PER_ITEM + 1
    before = counts()
    response = en.post(url("plan", patrol_plan.pk), form_data(patrol_plan, problems={
        0: {"result": "problem", "note": "很多照片", "finding": "none", "photos": [image(f"{i}.png", colour=BLUE) for i in range(n)]}}))
    assert response.status_code == 200 and nothing_written(before)
    assert response.context["form"].errors[f"i{item.pk}_photos"] == [f"At most {n - 1} photos."]


def test_a_missed_plan_takes_no_record(en, world, patrol_plan):
    PatrolPlan.objects.filter(pk=patrol_plan.pk).update(state=PlanState.MISSED)
    login(en, world.a.leader)
    response = en.get(url("plan", patrol_plan.pk))
    assert response.status_code == 200
    assert "it takes no more records" in response.content.decode()
    assert "form" not in response.context
    before = counts()
    en.post(url("plan", patrol_plan.pk), form_data(patrol_plan))
    assert nothing_written(before)


def test_the_service_error_keys_map_onto_the_forms_fields(world, patrol_plan):
    from patrols.forms import PatrolForm

    items = items_of(patrol_plan)
    data = form_data(patrol_plan, problems={
        1: {"result": "problem", "note": "a", "finding": "record"},
        3: {"result": "problem", "note": "b", "finding": "on_spot"},
    }, o1_name="王五", o1_role="业主代表")
    form = PatrolForm(data, plan=patrol_plan, user=world.a.secretary)
    line = next(pk for pk, _l in form.fields["roster"].choices)
    data["roster"] = [line]
    form = PatrolForm(data, plan=patrol_plan, user=world.a.secretary)
    assert form.is_valid(), form.errors
    sent = form.service_data()
    assert [f["item"] for f in sent["findings"]] == [items[1].pk, items[3].pk]
    assert sent["participants"][1] == {"name": "王五", "role": "业主代表"}
    expected = {
        "date": "date", "note": "note", "plan": None, "items": None,
        "items.2.result": f"i{items[2].pk}_result", "items.2.note": f"i{items[2].pk}_note",
        "items.0.item": f"i{items[0].pk}_result",
        "findings.1.grid": f"i{items[3].pk}_grid", "findings.0.category": f"i{items[1].pk}_category",
        "findings.1.note": f"i{items[3].pk}_how", "findings.0.photos": f"i{items[1].pk}_photos",
        "findings.0": f"i{items[1].pk}_finding", "findings.7.grid": None,
        f"photos.{items[2].pk}": f"i{items[2].pk}_photos",
        "participants.0.username": "roster", "participants.1.role": "o1_role",
        "participants.1.name": "o1_name", "participants.1": "o1_name", "participants.5": None,
    }
    assert {key: form.field_for(key) for key in expected} == expected


# --- work logs ----------------------------------------------------------------------------------


def test_a_home_visit_in_three_taps(en, world):
    w = world
    login(en, w.a.leader)
    page = en.get(url("log"))  # tap 1: the page
    assert page.status_code == 200
    form = page.context["form"]
    assert form["grid"].value() == w.a.mg1.pk  # preselected: the leader's micro-grid
    households = [pk for pk, _l in form.fields["household"].choices if pk]
    assert households == [h.pk for h in w.a.households if h.grid_id == w.a.mg1.pk]
    html = page.content.decode()
    assert html.index('value="home_visit"') < html.index('value="errand"')  # home visit first
    assert form["date"].value() == timezone.localdate()

    # tap 2: a household; tap 3: the home-visit button. The note stays empty, the date as it was.
    response = en.post(url("log"), {"grid": w.a.mg1.pk, "household": w.a.households[0].pk, "note": "",
                                    "date": timezone.localdate().isoformat(), "kind": "home_visit"})
    assert response.status_code == 302 and response["Location"] == f"{url('log')}?grid={w.a.mg1.pk}"
    entry = WorkLog.objects.get()
    assert (entry.leader, entry.kind, entry.grid, entry.household, entry.date, entry.community) == (
        w.a.leader, WorkKind.HOME_VISIT, w.a.mg1, w.a.households[0], timezone.localdate(), w.a.community)
    again = en.post(url("log"), {"grid": w.a.mg1.pk, "date": timezone.localdate().isoformat(), "kind": "mediation"},
                    follow=True)
    html = again.content.decode()
    assert "Saved: dispute mediation" in html and "Today you have logged 2 piece(s) of work." in html
    assert again.context["today_count"] == 2


def test_work_log_errors_write_nothing(en, world):
    w = world
    login(en, w.a.leader)
    today = timezone.localdate()
    bad = [
        ({"grid": w.a.mg1.pk, "household": w.a.households[2].pk, "kind": "home_visit"}, "household"),  # mg2's
        ({"grid": w.b.mg1.pk, "kind": "home_visit"}, "grid"),  # community B
        ({"grid": w.a.mg1.pk, "kind": "gossip"}, "kind"),
        ({"grid": w.a.mg1.pk, "kind": "errand", "date": (today + datetime.timedelta(days=1)).isoformat()}, "date"),
    ]
    for data, field in bad:
        data.setdefault("date", today.isoformat())
        response = en.post(url("log"), data)
        assert response.status_code == 200
        assert field in response.context["form"].errors, (data, response.context["form"].errors)
    assert response.context["form"].errors["date"] == ["Work cannot be logged for a day still to come."]
    assert not WorkLog.objects.exists()


def test_the_household_list_follows_the_micro_grid(client, world):
    w = world
    login(client, w.a.secretary)  # no micro-grid of her own: she picks among the community's
    form = client.get(url("log")).context["form"]
    assert [c for c, _l in form.fields["grid"].choices] == ["", w.a.mg1.pk, w.a.mg2.pk]
    assert [c for c, _l in form.fields["household"].choices] == [""]
    # htmx asks for the form of another micro-grid and swaps the household field in.
    response = client.get(url("log"), {"grid": w.a.mg2.pk}, HTTP_HX_REQUEST="true")
    assert [c for c, _l in response.context["form"].fields["household"].choices] == ["", w.a.households[2].pk]
    assert 'id="household-field"' in response.content.decode()
    # Without JavaScript, the noscript button does the same.
    response = client.post(url("log"), {"grid": w.a.mg2.pk, "pick": "1", "note": "走访"})
    assert [c for c, _l in response.context["form"].fields["household"].choices] == ["", w.a.households[2].pk]
    assert response.context["form"]["note"].value() == "走访" and not WorkLog.objects.exists()
    # Someone else's micro-grid is not offered, whatever the link says.
    response = client.get(url("log"), {"grid": w.b.mg1.pk})
    assert [c for c, _l in response.context["form"].fields["household"].choices] == [""]


# --- the profile --------------------------------------------------------------------------------


def log_work(leader, grid, kinds, day=None):
    for kind in kinds:
        services.worklog_create(actor=leader, kind=kind, grid=grid, date=day or timezone.localdate())


def test_profile_counts_by_kind_for_a_period(en, world):
    w = world
    today = timezone.localdate()
    log_work(w.a.leader, w.a.mg1, ["home_visit"] * 3 + ["mediation", "errand"])
    log_work(w.a.leader, w.a.mg1, ["hazard_check"], day=today.replace(month=1, day=1) - datetime.timedelta(days=1))
    log_work(w.b.leader, w.b.mg1, ["home_visit"])
    login(en, w.a.leader)
    response = en.get(url("profile"))
    assert response.status_code == 200
    figures = response.context["figures"]
    assert figures["by_kind"] == {"home_visit": 3, "errand": 1, "mediation": 1, "hazard_check": 0,
                                  "publicity": 0, "other": 0}
    assert figures["total"] == 5
    assert response.context["preset"] == "month" and response.context["start"] == today.replace(day=1)
    assert len(response.context["logs"]) == 5
    last_year = en.get(url("profile"), {"since": (today.replace(month=1, day=1) - datetime.timedelta(days=31)).isoformat(),
                                        "until": (today.replace(month=1, day=1) - datetime.timedelta(days=1)).isoformat()})
    assert last_year.context["figures"]["by_kind"]["hazard_check"] == 1 and last_year.context["figures"]["total"] == 1
    assert en.get(url("profile"), {"period": "year"}).context["figures"]["total"] == 5
    assert en.get(url("profile"), {"period": "quarter"}).context["figures"]["total"] == 5
    bad = en.get(url("profile"), {"since": "2026-05-02", "until": "2026-05-01"})
    assert bad.status_code == 200 and "until" in bad.context["period"].errors
    assert bad.context["preset"] == "month"
    assert "home visit" in response.content.decode()


def test_a_secretary_reads_her_leaders_profile_others_do_not(en, world):
    w = world
    log_work(w.a.leader, w.a.mg1, ["errand", "errand"])
    login(en, w.a.secretary)
    own = en.get(url("profile"))
    assert url("profile_of", "leader_a") in own.content.decode()  # her leaders are listed
    response = en.get(url("profile_of", "leader_a"))
    assert response.status_code == 200
    assert response.context["leader"] == w.a.leader and response.context["figures"]["by_kind"]["errand"] == 2
    login(en, w.staff)
    assert en.get(url("profile_of", "leader_a")).status_code == 200
    for outsider in (w.b.leader, w.b.secretary):
        login(en, outsider)
        assert en.get(url("profile_of", "leader_a")).status_code == 404
        assert en.get(url("profile_of", "nobody")).status_code == 404
    # A leader whose logs cannot be seen and whose roster line is elsewhere stays hidden.
    login(en, w.a.leader)
    assert en.get(url("profile_of", "leader_b")).status_code == 404
    assert en.get(url("profile_of", "leader_a")).context["own"] is True


def test_profile_query_budget_does_not_grow_with_logs(client, world, django_assert_max_num_queries):
    w = world
    log_work(w.a.leader, w.a.mg1, ["home_visit"])
    login(client, w.a.secretary)
    with django_assert_max_num_queries(PROFILE_BUDGET):
        client.get(url("profile"))
    login(client, w.a.leader)
    with django_assert_max_num_queries(PROFILE_BUDGET):
        few = client.get(url("profile"))
    log_work(w.a.leader, w.a.mg1, list(WorkKind.values) * 6)
    for h in w.a.households[:2]:
        services.worklog_create(actor=w.a.leader, kind="home_visit", grid=w.a.mg1, household=h)
    with django_assert_max_num_queries(PROFILE_BUDGET):
        many = client.get(url("profile"))
    assert len(many.context["logs"]) > len(few.context["logs"])


# --- the monthly report -------------------------------------------------------------------------


@shared_fixture
def reported(ledger):
    """Community A's report of this month: the patrol-found handling issue overdue with a red card
    (open, overdue and difficult), one issue solved on the spot, and community B's report."""
    w = ledger
    Issue.objects.filter(pk=w.handling.pk).update(
        source=Source.PATROL, supervision=Supervision.RED, due_at=timezone.now() - datetime.timedelta(days=2))
    act(issue(w.a.mg1, w.a.leader, source="patrol", category=category("sanitation")), "resolve_on_spot",
        w.a.leader, note="当场清理")
    w.report = make_report(w.a.community)
    w.report_b = make_report(w.b.community)
    w.street_report = make_report(w.street)
    return w


def test_the_report_page_reads_the_stored_report(en, reported):
    w = reported
    handling = Issue.objects.get(pk=w.handling.pk)
    login(en, w.a.leader)
    response = en.get(url("report", w.report.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["found"] == 2 and response.context["solved_on_spot"] == 1
    assert [r["number"] for r in response.context["overdue"]] == [handling.number]
    assert handling.number in html and "Red card" in html and "past a red card" in html
    assert w.property.name in html  # the handler
    assert "red_card" not in html  # codes are shown by their labels
    assert url("report_print", w.report.pk) in html and url("report_xlsx", w.report.pk) in html
    assert reverse("mobile_issues:detail", args=[handling.pk]) in html
    login(en, w.b.leader)
    assert en.get(url("report", w.report.pk)).status_code == 404
    assert en.get(url("report", w.report_b.pk)).status_code == 200
    # The street's roll-up is for the street: a community leader does not see it.
    assert en.get(url("report", w.street_report.pk)).status_code == 404


def test_the_rules_are_shown_by_their_labels(en, reported):
    w = reported
    data = w.report.data
    data["analysis"]["common"] = [
        {"rule": "spread", "category": 1, "category_name": "环境卫生", "community": "社区A", "community_id": w.a.community.pk,
         "microgrids": 3, "issues": 4},
        {"rule": "repeat", "category": 1, "category_name": "物业维修", "community": "社区A", "community_id": w.a.community.pk,
         "grid": "微网格A1", "grid_id": w.a.mg1.pk, "issues": 3},
    ]
    MonthlyReport.objects.filter(pk=w.report.pk).update(data=data)
    login(en, w.a.secretary)
    html = en.get(url("report", w.report.pk)).content.decode()
    assert "in several micro-grids" in html and "repeated at one place" in html
    assert ">spread<" not in html and ">repeat<" not in html
    html = en.get(url("report_print", w.report.pk)).content.decode()
    assert "in several micro-grids" in html and "repeated at one place" in html


def test_the_street_roll_up_lists_its_communities(en, reported):
    w = reported
    login(en, w.staff)
    response = en.get(url("report", w.street_report.pk))
    assert response.status_code == 200
    communities = {c["name"]: c for c in response.context["communities"]}
    assert communities["社区A"]["found"] == 2 and communities["社区A"]["report"] == w.report.pk
    assert url("report", w.report_b.pk) in response.content.decode()


def test_the_print_page_is_a_standalone_a4_page(en, reported):
    w = reported
    login(en, w.a.secretary)
    response = en.get(url("report_print", w.report.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "@page" in html and "size: A4" in html
    assert "<link" not in html and "<script" not in html and "http://" not in html and "https://" not in html
    assert "mobile.css" not in html and "htmx" not in html
    assert Issue.objects.get(pk=w.handling.pk).number in html and "past a red card" in html


def test_the_workbook_has_the_five_sheets_and_the_numbers(en, reported):
    w = reported
    login(en, w.a.secretary)
    response = en.get(url("report_xlsx", w.report.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    # common.excel.xlsx_response names every download <stem>-<day>.xlsx
    assert f'filename="report-{w.a.community.code}-{w.report.month}-' in response["Content-Disposition"]
    wb = workbook(response)
    assert wb.sheetnames == ["Handling summary", "Open", "Overdue", "Common", "Difficult"]
    summary = {row[0]: row[1] for row in wb["Handling summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Found on patrols"] == 2 and summary["Solved on the spot"] == 1 and summary["Overdue"] == 1
    number = Issue.objects.get(pk=w.handling.pk).number
    overdue = list(wb["Overdue"].iter_rows(values_only=True))
    assert overdue[0][0] == "ledger number" and overdue[1][0] == number
    assert overdue[1][5] == "handling" and overdue[1][8] == "red card"
    difficult = list(wb["Difficult"].iter_rows(values_only=True))
    assert difficult[1][0] == number and "past a red card" in difficult[1][9]
    # The street's workbook adds its communities.
    login(en, w.staff)
    wb = workbook(en.get(url("report_xlsx", w.street_report.pk)))
    assert wb.sheetnames[-1] == "Communities"


def test_someone_without_a_scope_gets_empty_pages_not_errors(en, ledger, patrol_plan):
    login(en, ledger.worker)  # property staff: no scope of their own
    index = en.get(url("index"))
    assert index.status_code == 200 and index.context["rows"] == [] and index.context["reports"] == []
    assert "No patrol is planned for you in this period." in index.content.decode()
    log = en.get(url("log"))
    assert log.status_code == 200 and "You have no micro-grid to log work in." in log.content.decode()
    assert en.post(url("log"), {"grid": ledger.a.mg1.pk, "kind": "home_visit",
                                "date": timezone.localdate().isoformat()}).status_code == 200
    assert not WorkLog.objects.exists()
    assert en.get(url("profile")).status_code == 200
    assert en.get(url("plan", patrol_plan.pk)).status_code == 404
