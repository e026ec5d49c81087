import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from common.periods import previous_month
from grid import services as grid_services
from grid.models import Role
from issues.models import Issue, IssueEvent, Source, State
from patrols import selectors, services
from patrols.models import (
    Cadence,
    Finding,
    ItemResult,
    Meeting,
    MonthlyReport,
    Participant,
    Patrol,
    PatrolPlan,
    PlanState,
    Scenario,
    WorkKind,
    WorkLog,
)
from patrols.signals import patrol_done, work_logged
from tests.factories import RoleFactory, UserFactory, category, checklist, node, plan, scenario
from tests.support import shared_fixture


def test_the_shipped_scenarios(db):
    monthly = Scenario.objects.get(code="monthly_joint_patrol")
    assert monthly.cadence == Cadence.MONTHLY and monthly.levels == [3]
    groups = set(monthly.template.items.values_list("group", flat=True))
    assert groups == {"物业服务", "环境卫生", "公共设施"}  # the seed's three
    care = Scenario.objects.get(code="care_visit")
    assert care.levels == [2] and care.template.items.count() >= 5


# --- plans ------------------------------------------------------------------------------------


def test_plans_for_every_active_scenario_and_node_once(world):
    result = services.plans_create(month="2026-11")
    # The monthly patrol on both compounds, the care visits on both communities.
    assert result == {"month": "2026-11", "created": 4, "missed": 0}
    compound_plan = PatrolPlan.objects.get(node=world.a.compound, scenario__code="monthly_joint_patrol")
    assert (compound_plan.period, compound_plan.period_start, compound_plan.period_end) == (
        "2026-11", datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
    assert compound_plan.planned_date == datetime.date(2026, 11, 10)  # the 10th is a Tuesday
    assert compound_plan.convener.user == world.a.secretary
    assert (compound_plan.street, compound_plan.community) == (world.street, world.a.community)
    assert services.plans_create(month="2026-11")["created"] == 0
    assert PatrolPlan.objects.count() == 4


def test_planned_day_moves_to_a_working_day(world):
    scen = Scenario.objects.get(code="monthly_joint_patrol")
    scen.planned_day = 1  # 1 October 2026 is National Day
    scen.save()
    services.plans_create(month="2026-10")
    assert PatrolPlan.objects.get(node=world.a.compound, scenario=scen).planned_date == datetime.date(2026, 10, 8)


def test_weekly_and_range_scenarios_and_seasons(world):
    Scenario.objects.update(active=False)
    weekly = scenario("flood_weekly", levels=(2,), cadence=Cadence.WEEKLY,
                      starts_on=datetime.date(2026, 6, 1), ends_on=datetime.date(2026, 6, 20))
    services.plans_create(month="2026-06")
    labels = sorted(PatrolPlan.objects.filter(scenario=weekly, node=world.a.community).values_list("period", flat=True))
    # Mondays 1, 8, 15 and 22 June; the last week lies outside the season.
    assert labels == ["2026-W23", "2026-W24", "2026-W25"]
    third = PatrolPlan.objects.get(scenario=weekly, node=world.a.community, period="2026-W25")
    assert (third.period_start, third.period_end) == (datetime.date(2026, 6, 15), datetime.date(2026, 6, 20))
    assert services.plans_create(month="2026-07")["created"] == 0

    duty = scenario("spring_festival", levels=(3,), cadence=Cadence.RANGE,
                    starts_on=datetime.date(2027, 1, 28), ends_on=datetime.date(2027, 2, 10))
    assert services.plans_create(month="2027-01")["created"] == 2
    assert services.plans_create(month="2027-02")["created"] == 0  # one plan for the whole range
    assert PatrolPlan.objects.get(scenario=duty, node=world.b.compound).period == "2027-01-28~2027-02-10"


def test_plans_of_ended_periods_without_a_record_are_missed(world):
    services.plans_create(month="2026-10")
    done = PatrolPlan.objects.get(node=world.a.compound, period="2026-10")
    done.state = PlanState.DONE
    done.save()
    result = services.plans_create(month="2026-11")
    assert result["missed"] == 3
    states = dict(PatrolPlan.objects.filter(period="2026-10").values_list("node__code", "state"))
    assert states == {"CA-R1": "done", "CB-R1": "missed", "CA": "missed", "CB": "missed"}


def test_plans_limited_to_a_node(world):
    assert services.plans_create(month="2026-11", node=world.b.community)["created"] == 2
    assert set(PatrolPlan.objects.values_list("community__code", flat=True)) == {"CB"}


def test_a_bad_month_is_a_field_error(world):
    for bad in ("2026-13", "november", "", None):
        with pytest.raises(ValidationError) as e:
            services.plans_create(month=bad)
        assert "month" in e.value.message_dict
    assert not PatrolPlan.objects.exists()


# --- patrol records ---------------------------------------------------------------------------


@shared_fixture
def walk(world):
    world.plan = plan(world.a.compound)
    world.items = list(world.plan.scenario.template.items.all())
    world.today = timezone.localdate()
    return world


def record(w, actor=None, **kw):
    kw.setdefault("date", w.today)
    kw.setdefault("items", checklist(w.plan, problem={0: "楼道灯不亮", 1: "垃圾堆放"}))
    return services.patrol_record(actor=actor or w.a.leader, plan_id=w.plan.pk, **kw)


def test_a_patrol_with_one_problem_solved_on_the_spot_and_one_recorded(walk, django_capture_on_commit_callbacks):
    w = walk
    sent = []
    patrol_done.connect(lambda **kw: sent.append(kw), weak=False, dispatch_uid="test-patrol-done")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            patrol = record(w, participants=[
                {"username": "secretary_a"}, {"name": "李经理", "role": "物业公司"},
            ], findings=[
                {"title": "楼道灯不亮", "description": "3楼灯坏", "category": category("facilities").pk,
                 "grid": w.a.mg1.pk, "on_spot": True, "note": "当场更换灯泡", "item": w.items[0].pk},
                {"description": "垃圾堆放两天未清运", "category": category("sanitation").pk, "grid": w.a.mg1.pk,
                 "on_spot": False, "item": w.items[1].pk},
            ], note="天气晴")
    finally:
        patrol_done.disconnect(dispatch_uid="test-patrol-done")
    w.plan.refresh_from_db()
    assert w.plan.state == PlanState.DONE
    assert patrol.recorded_by == w.a.leader and patrol.note == "天气晴"
    people = {(p.name, p.role, p.user_id) for p in patrol.participants.all()}
    assert people == {(w.a.leader.name, Role.LEADER, w.a.leader.pk), (w.a.secretary.name, Role.SECRETARY, w.a.secretary.pk),
                      ("李经理", "物业公司", None)}
    results = [r.result for r in patrol.results.order_by("item__order")]
    assert results == ["problem", "problem"] + ["ok"] * (len(w.items) - 2)
    on_spot, recorded = patrol.findings.order_by("id")
    assert on_spot.on_spot and on_spot.issue.state == State.RESOLVED and on_spot.item == w.items[0]
    assert not recorded.on_spot and recorded.issue.state == State.RECORDED
    for f in (on_spot, recorded):
        assert f.issue.source == Source.PATROL and f.issue.reporter == w.a.leader
        assert list(f.issue.events.values_list("action", flat=True))[:1] == ["report"]
    assert on_spot.issue.events.last().note == "当场更换灯泡"
    assert sent == [{"signal": patrol_done, "sender": Patrol, "patrol_id": patrol.pk, "plan_id": w.plan.pk}]


def counts():
    return (Patrol.objects.count(), Participant.objects.count(), ItemResult.objects.count(), Finding.objects.count(),
            Issue.objects.count(), IssueEvent.objects.count())


@pytest.mark.parametrize("change, key", [
    (lambda w: {"items": checklist(w.plan)[:2]}, "items"),
    (lambda w: {"items": [dict(checklist(w.plan)[0], result="bad")] + checklist(w.plan)[1:]}, "items.0.result"),
    (lambda w: {"items": [dict(checklist(w.plan)[0], result="problem")] + checklist(w.plan)[1:]}, "items.0.note"),
    (lambda w: {"items": checklist(w.plan)[:1] + checklist(w.plan)}, "items.1.item"),
    (lambda w: {"date": w.plan.period_start - datetime.timedelta(days=1)}, "date"),
    (lambda w: {"date": "31/11"}, "date"),
    (lambda w: {"participants": [{"username": "leader_b", "role": "secretary"}]}, "participants.0.role"),
    (lambda w: {"participants": [{"username": "nobody"}]}, "participants.0.username"),
    (lambda w: {"participants": [{"name": "王师傅"}]}, "participants.0.role"),
    (lambda w: {"findings": [{"description": "x", "category": category("facilities").pk, "grid": w.b.mg1.pk}]},
     "findings.0.grid"),
    (lambda w: {"findings": [{"description": "x", "category": category("facilities").pk, "grid": w.a.mg2.pk}]},
     "findings.0.grid"),  # inside the compound, but not the leader's micro-grid
    (lambda w: {"findings": [{"description": "x", "category": category("noise").pk, "grid": w.a.mg1.pk}]},
     "findings.0.category"),
    (lambda w: {"findings": [{"description": "x", "category": category("facilities").pk, "grid": w.a.mg1.pk,
                              "on_spot": True}]}, "findings.0.note"),
    (lambda w: {"findings": [{"description": " ", "category": category("facilities").pk, "grid": w.a.mg1.pk}]},
     "findings.0.description"),
])
def test_bad_records_change_nothing(walk, change, key):
    before = counts()
    with pytest.raises(ValidationError) as e:
        record(walk, **change(walk))
    assert key in e.value.message_dict, e.value.message_dict
    assert counts() == before
    walk.plan.refresh_from_db()
    assert walk.plan.state == PlanState.PLANNED


def test_a_plan_takes_one_record(walk):
    record(walk)
    with pytest.raises(ValidationError) as e:
        record(walk)
    assert "plan" in e.value.message_dict
    assert Patrol.objects.count() == 1


def test_who_may_record(walk, ledger):
    w = walk
    with pytest.raises(PatrolPlan.DoesNotExist):  # another community's leader does not even see it
        record(w, actor=w.b.leader)
    with pytest.raises(PatrolPlan.DoesNotExist):  # property staff: the ledger's business only
        record(w, actor=ledger.worker)
    group = RoleFactory(node=w.a.compound, role=Role.GROUP_LEADER, user=UserFactory(username="group")).user
    with pytest.raises(PermissionDenied):  # sees the compound, but does not lead the patrols
        record(w, actor=group)
    assert record(w, actor=w.a.secretary).recorded_by == w.a.secretary


def test_the_secretary_files_findings_anywhere_in_the_place(walk):
    w = walk
    patrol = record(w, actor=w.a.secretary, findings=[
        {"description": "健身器材松动", "category": category("facilities").pk, "grid": w.a.mg2.pk, "on_spot": False},
        {"description": "小区门口照明", "category": category("facilities").pk, "grid": w.a.compound.pk, "on_spot": False},
    ])
    assert sorted(f.issue.grid_id for f in patrol.findings.all()) == sorted([w.a.mg2.pk, w.a.compound.pk])


def test_a_finding_the_ledger_refuses_undoes_the_whole_record(walk):
    w = walk
    # A party-branch member may report and record, but not resolve on the spot (a leader's action).
    branch = RoleFactory(node=w.a.community, role=Role.PARTY_BRANCH, user=UserFactory(username="branch")).user
    before = counts()
    with pytest.raises(ValidationError) as e:
        record(w, actor=branch, findings=[
            {"description": "a", "category": category("facilities").pk, "grid": w.a.mg1.pk},
            {"description": "b", "category": category("facilities").pk, "grid": w.a.mg1.pk, "on_spot": True,
             "note": "修好"},
        ])
    assert "findings.1.grid" in e.value.message_dict
    assert counts() == before


def test_selectors_scope_plans_and_records(walk, ledger):
    w = walk
    community_plan = plan(w.a.community, scenario("care_visit"))
    other = plan(w.b.compound)
    record(w)
    assert set(selectors.visible_plans(w.a.leader)) == {w.plan, community_plan}
    assert set(selectors.visible_plans(w.a.secretary)) == {w.plan, community_plan}
    assert set(selectors.visible_plans(w.b.leader)) == {other}
    assert set(selectors.visible_plans(w.staff)) == {w.plan, community_plan, other}
    assert not selectors.visible_plans(ledger.worker).exists()
    assert selectors.visible_patrols(w.b.leader).count() == 0
    assert selectors.visible_patrols(w.a.leader).count() == 1


# --- work logs --------------------------------------------------------------------------------


def test_a_work_log_line(world, django_capture_on_commit_callbacks):
    w = world
    sent = []
    work_logged.connect(lambda **kw: sent.append(kw), weak=False, dispatch_uid="test-work-logged")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            entry = services.worklog_create(actor=w.a.leader, kind=WorkKind.HOME_VISIT, grid=w.a.mg1,
                                            household=w.a.households[0], note="独居老人，身体尚可")
    finally:
        work_logged.disconnect(dispatch_uid="test-work-logged")
    assert (entry.street, entry.community, entry.date) == (w.street, w.a.community, timezone.localdate())
    assert sent[0]["worklog_id"] == entry.pk and sent[0]["kind"] == "home_visit"


@pytest.mark.parametrize("change, key", [
    ({"kind": "party"}, "kind"),
    ({"date": timezone.localdate() + datetime.timedelta(days=1)}, "date"),
    ({"note": "长" * 501}, "note"),
])
def test_bad_work_logs_change_nothing(world, change, key):
    data = {"kind": WorkKind.ERRAND, "grid": world.a.mg1, **change}
    with pytest.raises(ValidationError) as e:
        services.worklog_create(actor=world.a.leader, **data)
    assert key in e.value.message_dict
    assert not WorkLog.objects.exists()


def test_work_log_places_and_links(world, ledger):
    w = world
    with pytest.raises(ValidationError) as e:
        services.worklog_create(actor=w.a.leader, kind=WorkKind.HOME_VISIT, grid=w.a.mg1, household=w.a.households[2])
    assert "household" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        services.worklog_create(actor=w.a.leader, kind=WorkKind.ERRAND, grid=w.a.compound)
    assert "grid" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        services.worklog_create(actor=w.a.leader, kind=WorkKind.ERRAND, grid=w.a.mg1, issue=ledger.other)
    assert "issue" in e.value.message_dict
    with pytest.raises(PermissionDenied):
        services.worklog_create(actor=w.a.leader, kind=WorkKind.ERRAND, grid=w.b.mg1)
    assert not WorkLog.objects.exists()
    linked = services.worklog_create(actor=w.a.leader, kind=WorkKind.MEDIATION, grid=w.a.mg1, issue=ledger.recorded)
    assert linked.issue == ledger.recorded


def test_work_profile_counts_by_kind_for_a_period(world):
    w = world
    today = timezone.localdate()
    for kind, n in ((WorkKind.ERRAND, 3), (WorkKind.MEDIATION, 2), (WorkKind.HAZARD_CHECK, 1)):
        for _ in range(n):
            services.worklog_create(actor=w.a.leader, kind=kind, grid=w.a.mg1)
    services.worklog_create(actor=w.a.leader, kind=WorkKind.ERRAND, grid=w.a.mg1, date=today - datetime.timedelta(days=400))
    profile = selectors.work_profile(w.a.leader, today - datetime.timedelta(days=30), today)
    assert profile["by_kind"] == {"home_visit": 0, "errand": 3, "mediation": 2, "hazard_check": 1, "publicity": 0, "other": 0}
    assert profile["total"] == 6 and profile["patrols"] == 0
    assert set(selectors.visible_worklogs(w.a.secretary)) == set(WorkLog.objects.all())
    assert not selectors.visible_worklogs(w.b.secretary).exists()


# --- the tree moves and deletes keep patrol rows in place --------------------------------------


def test_moving_a_compound_moves_its_plans_and_work_logs(world):
    w = world
    p = plan(w.a.compound)
    entry = services.worklog_create(actor=w.a.leader, kind=WorkKind.ERRAND, grid=w.a.mg1)
    grid_services.node_move(node=w.a.compound, parent=w.b.community)
    p.refresh_from_db()
    entry.refresh_from_db()
    assert p.community == w.b.community and entry.community == w.b.community


def test_a_node_with_plans_cannot_be_deleted_and_a_purge_removes_everything(world):
    w = world
    w.a.mg2.refresh_from_db()
    lonely = node(w.a.community, name="空小区", code="CA-R9")
    plan(lonely)
    with pytest.raises(ValidationError):
        grid_services.node_delete(node=lonely)
    services.worklog_create(actor=w.a.leader, kind=WorkKind.ERRAND, grid=w.a.mg1)
    services.report_generate(node=w.a.community, month="2026-10")
    grid_services.street_purge(street=w.street)
    assert not PatrolPlan.objects.exists() and not WorkLog.objects.exists() and not MonthlyReport.objects.exists()


# --- the analysis meeting ---------------------------------------------------------------------


@shared_fixture
def meeting_setup(ledger):
    w = ledger
    w.report = services.report_generate(node=w.a.community, month=previous_month())
    return w


def test_the_secretary_records_the_meeting_and_its_decisions_go_through_the_ledger(meeting_setup):
    w = meeting_setup
    meeting = services.meeting_record(
        actor=w.a.secretary, report_id=w.report.pk, held_on=timezone.localdate(), minutes="研究了共性问题",
        attendees=[w.a.leader.pk, w.branch.pk], other_attendees="物业公司 李经理",
        decisions=[
            {"text": "门禁问题多发，列为共性问题并提交联动处置", "issue": w.recorded.pk, "common": True, "escalate": True},
            {"text": "加强楼道巡查"},
        ],
    )
    w.recorded.refresh_from_db()
    assert w.recorded.state == State.DISPOSAL and w.recorded.common
    first = meeting.decisions.order_by("id").first()
    assert sorted(first.events.values_list("action", flat=True)) == ["escalate", "refer_analysis"]
    assert set(meeting.attendees.all()) == {w.a.leader, w.branch}


@pytest.mark.parametrize("change, key", [
    (lambda w: {"decisions": [{"text": "x", "issue": w.other.pk, "difficult": True}]}, "decisions.0.issue"),
    (lambda w: {"decisions": [{"text": "x", "issue": w.reported.pk, "escalate": True}]}, "decisions.0.issue"),
    (lambda w: {"decisions": [{"text": "", "issue": w.recorded.pk}]}, "decisions.0.text"),
    (lambda w: {"decisions": [{"text": "x", "common": True}]}, "decisions.0.issue"),
    (lambda w: {"minutes": " "}, "minutes"),
    (lambda w: {"held_on": timezone.localdate() + datetime.timedelta(days=2)}, "held_on"),
    (lambda w: {"attendees": [w.b.leader.pk]}, "attendees"),
])
def test_a_bad_meeting_record_changes_nothing(meeting_setup, change, key):
    w = meeting_setup
    data = {"held_on": timezone.localdate(), "minutes": "纪要", **change(w)}
    events = IssueEvent.objects.count()
    with pytest.raises(ValidationError) as e:
        services.meeting_record(actor=w.a.secretary, report_id=w.report.pk, **data)
    assert key in e.value.message_dict, e.value.message_dict
    assert IssueEvent.objects.count() == events
    assert not Meeting.objects.exists()


def test_only_the_secretary_or_street_staff_record_meetings(meeting_setup):
    w = meeting_setup
    with pytest.raises(PermissionDenied):
        services.meeting_record(actor=w.a.leader, report_id=w.report.pk, held_on=timezone.localdate(), minutes="x")
    with pytest.raises(MonthlyReport.DoesNotExist):
        services.meeting_record(actor=w.b.secretary, report_id=w.report.pk, held_on=timezone.localdate(), minutes="x")
    services.meeting_record(actor=w.staff, report_id=w.report.pk, held_on=timezone.localdate(), minutes="x")
    with pytest.raises(ValidationError) as e:
        services.meeting_record(actor=w.a.secretary, report_id=w.report.pk, held_on=timezone.localdate(), minutes="y")
    assert "report" in e.value.message_dict


# --- reference data ----------------------------------------------------------------------------


def test_street_staff_keep_the_scenarios_and_checklists(walk):
    from patrols.models import ChecklistItem, ChecklistTemplate, Scenario

    w = walk
    template = services.checklist_save(actor=w.staff, template=ChecklistTemplate(), name="汛期检查表", items=[
        ChecklistItem(group="排水", text="雨水井畅通", order=1), ChecklistItem(group="排水", text="地下室无积水", order=2)])
    s = services.scenario_save(actor=w.staff, code="flood", name="汛期巡查", template=template, levels=[2],
                               categories=[category("facilities")])
    assert (s.template, s.levels, list(s.categories.values_list("code", flat=True))) == (template, [2], ["facilities"])
    first, second = template.items.all()
    first.text = "雨水井无堵塞"
    services.checklist_save(actor=w.staff, template=template, name="汛期检查表", items=[first], removed=[second])
    assert list(template.items.values_list("text", flat=True)) == ["雨水井无堵塞"]
    # An answered item stays; a planned scenario stays (set it inactive instead).
    answered = w.items[0]
    record(w, actor=w.a.secretary)
    with pytest.raises(ValidationError) as e:
        services.checklist_save(actor=w.staff, template=w.plan.scenario.template, name=w.plan.scenario.template.name,
                                removed=[answered])
    assert e.value.error_dict["items"][0].code == "item_answered"
    with pytest.raises(ValidationError) as e:
        services.scenario_delete(actor=w.staff, scenario=w.plan.scenario)
    assert e.value.error_dict["scenario"][0].code == "scenario_planned"
    # The model's own rules, with their fields.
    with pytest.raises(ValidationError) as e:
        services.scenario_save(actor=w.staff, scenario=s, levels=[5])
    assert e.value.error_dict["levels"][0].code == "invalid_levels"
    # Nobody else keeps them.
    for actor in (w.a.secretary, w.a.leader):
        with pytest.raises(PermissionDenied) as e:
            services.scenario_save(actor=actor, scenario=s, name="改名")
        assert e.value.code == "not_street_staff"
        with pytest.raises(PermissionDenied):
            services.checklist_delete(actor=actor, template=template)
    assert Scenario.objects.get(pk=s.pk).name == "汛期巡查" and ChecklistTemplate.objects.filter(pk=template.pk).exists()
