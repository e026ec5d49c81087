"""The demo generator of the patrols app (patrols/demo.py) on the small `world` street: a year of plans,
patrol records whose findings are ledger issues with consistent events, work logs, monthly reports;
and running it again duplicates nothing."""

import datetime
from collections import defaultdict

from django.db.models import Count
from django.utils import timezone

from grid import access
from grid.models import RoleAssignment
from grid.services import scope_columns
from issues import workflow
from issues.models import Issue, IssueCounter, IssueEvent, Source, State
from common.periods import month_label, months_back
from patrols import demo, selectors
from patrols.models import (
    Finding,
    ItemResult,
    MonthlyReport,
    Participant,
    Patrol,
    PatrolPlan,
    PlanState,
    Result,
    Scenario,
    WorkKind,
    WorkLog,
)
from tests.factories import act
from tests.support import shared_fixture


def _months(n=12):
    return months_back(timezone.localdate().replace(day=1), n)


@shared_fixture
def year(ledger):
    """`ledger` (three issues reported through the service this month) plus the generated year. A high
    problem rate and a lower done share so that every kind of row shows up on two compounds."""
    w = ledger
    # The roster as it stands has been in place for more than the year (the factories start roles today).
    RoleAssignment.objects.update(start=timezone.localdate() - datetime.timedelta(days=400))
    w.before = set(Issue.objects.values_list("pk", flat=True))
    w.counts = demo.build_patrols(street=w.street, problem_rate=0.5, done_share=0.75)
    return w


def test_a_year_of_plans_done_and_missed_and_this_months_plans(year):
    current = timezone.localdate().replace(day=1)
    past = PatrolPlan.objects.filter(street=year.street, period_end__lt=current)
    states = dict(past.values_list("state").annotate(n=Count("id")).order_by())
    # Past months are over: every plan was walked or missed, none is left planned.
    assert set(states) == {PlanState.DONE, PlanState.MISSED}
    assert states[PlanState.DONE] > states[PlanState.MISSED] > 0
    # Every active scenario on every node of its levels, every past month: 2 compounds + 2 communities.
    scenarios = Scenario.objects.filter(active=True).count()
    assert scenarios == 2
    assert past.values("period").distinct().count() == 12
    for period, n in past.values_list("period").annotate(n=Count("id")).order_by():
        assert n == 4, period
    this_month = PatrolPlan.objects.filter(street=year.street, period_start__gte=current)
    assert this_month.count() == 4
    # The demo's first leader (leader_a) still has this month's plans to walk.
    assert set(this_month.filter(node__in=[year.a.compound, year.a.community]).values_list("state", flat=True)) == {
        PlanState.PLANNED}
    assert year.counts["plans"] == PatrolPlan.objects.count()


def test_patrol_records_have_participants_and_every_item_answered(year):
    done = PatrolPlan.objects.filter(state=PlanState.DONE).select_related("scenario__template", "convener")
    assert done.exists()
    assert Patrol.objects.count() == done.count() == year.counts["patrols"]
    assert not Patrol.objects.filter(plan__state__in=[PlanState.MISSED, PlanState.PLANNED]).exists()
    leaders = {year.a.leader.pk, year.b.leader.pk}
    for plan in done:
        patrol = plan.patrol
        assert plan.period_start <= patrol.date <= min(plan.period_end, timezone.localdate())
        people = list(patrol.participants.all())
        users = {p.user_id for p in people if p.user_id}
        assert plan.convener.user_id in users  # the convening secretary
        assert users & leaders  # a leader of a micro-grid inside the place
        assert patrol.recorded_by_id in users
        outsiders = [p for p in people if p.user_id is None]
        assert len(outsiders) == 1 and outsiders[0].name and outsiders[0].role
        items = set(plan.scenario.template.items.values_list("pk", flat=True))
        answers = list(patrol.results.all())
        assert sorted(r.item_id for r in answers) == sorted(items)  # each item once
        assert all(r.note for r in answers if r.result == Result.PROBLEM)
    # The property company of compound A walks with its patrols.
    assert Participant.objects.filter(patrol__plan__node=year.a.compound, user__isnull=True,
                                      role__contains=year.property.name).exists()
    assert ItemResult.objects.filter(result=Result.PROBLEM).exists()


def test_findings_are_patrol_issues_with_consistent_events(year):
    findings = list(Finding.objects.select_related("issue__grid", "patrol__plan__node", "item"))
    issues = {f.issue_id for f in findings}
    assert issues == set(Issue.objects.exclude(pk__in=year.before).values_list("pk", flat=True))
    assert year.counts["issues"] == len(findings)
    assert any(f.on_spot for f in findings) and any(not f.on_spot for f in findings)
    events = defaultdict(list)
    for e in IssueEvent.objects.filter(issue__in=issues).order_by("created_at", "id"):
        events[e.issue_id].append(e)
    now = timezone.now()
    for f in findings:
        issue, node = f.issue, f.patrol.plan.node
        assert issue.source == Source.PATROL
        assert access.within(node, issue.grid)
        street, community = scope_columns(issue.grid)
        assert (issue.street_id, issue.community_id) == (street.pk, community.pk)
        assert f.item is None or f.item.template_id == f.patrol.plan.scenario.template_id
        chain = events[issue.pk]
        assert chain[0].action == "report" and chain[0].from_state == "" and chain[0].created_at == issue.reported_at
        assert timezone.localtime(issue.reported_at).date() == f.patrol.date
        previous = ""
        for e in chain:  # each event starts where the last one ended, along the workflow table
            assert e.from_state == previous
            if e.action != "report":
                assert workflow.rule_for(e.from_state, e.action) is not None, (e.from_state, e.action)
            assert e.created_at <= now
            previous = e.to_state
        assert chain[-1].to_state == issue.state
        assert issue.version == len(chain) and issue.updated_at == chain[-1].created_at
        assert (chain[1].action == "resolve_on_spot") == f.on_spot
        if issue.state == State.CLOSED:
            assert issue.closed_at == chain[-1].created_at
        if issue.state == State.UNRESOLVABLE:
            assert issue.announcement and issue.announced_at
        if any(e.action == "assign" for e in chain):
            assert issue.due_at and issue.assigned_at and (issue.handler_org_id or issue.handler_user_id)
        assert issue.reopen_count == sum(e.action == "reopen" for e in chain)
    states = set(Issue.objects.filter(pk__in=issues).values_list("state", flat=True))
    assert State.CLOSED in states and len(states) >= 4


def test_numbers_are_unique_and_continue_the_counter(year):
    numbers = list(Issue.objects.filter(street=year.street).values_list("number", flat=True))
    assert len(numbers) == len(set(numbers))
    per_month = defaultdict(set)
    for n in numbers:
        _street, month, k = n.rsplit("-", 2)
        per_month[month].add(int(k))
    for counter in IssueCounter.objects.filter(street=year.street):
        # Gapless from 1: the service's three issues of this month come first, the generator's follow.
        assert per_month.pop(counter.month) == set(range(1, counter.last + 1)), counter.month
    assert not per_month
    assert {year.reported.number, year.recorded.number, year.handling.number} == {
        f"ST-{timezone.localtime():%Y%m}-{k:05d}" for k in (1, 2, 3)}


def test_generated_issues_go_on_through_the_ledgers_services(year):
    # Versions, handlers and states are what the ledger's own workflow expects next.
    issue = Issue.objects.filter(pk__in=Finding.objects.values("issue"), state=State.RECORDED).first() \
        or Issue.objects.filter(pk__in=Finding.objects.values("issue"), state=State.HANDLING).first()
    assert issue is not None
    community = year.a if issue.community_id == year.a.community.pk else year.b
    if issue.state == State.RECORDED:
        issue = act(issue, "assign", community.secretary, handler_user=community.secretary.username)
    assert issue.state == State.HANDLING
    issue = act(issue, "escalate", community.secretary, note="提请联动处置")
    assert issue.state == State.DISPOSAL


def test_work_logs_have_their_leaders_grids_and_scope_columns(year):
    logs = list(WorkLog.objects.select_related("grid", "household"))
    assert logs and year.counts["worklogs"] == len(logs)
    grids = {year.a.leader.pk: year.a.mg1, year.b.leader.pk: year.b.mg1}
    today = timezone.localdate()
    for log in logs:
        assert log.grid == grids[log.leader_id]
        street, community = scope_columns(log.grid)
        assert (log.street_id, log.community_id) == (street.pk, community.pk)
        assert log.household is None or log.household.grid_id == log.grid_id
        assert log.date <= today and log.kind in WorkKind.values and log.note
    assert WorkLog.objects.filter(kind=WorkKind.HOME_VISIT, household__isnull=False).exists()
    # The demo's first leader is a model leader: a year like the seed's 38 errands / 86 mediations / 33 checks.
    profile = selectors.work_profile(year.a.leader, today - datetime.timedelta(days=365), today)
    assert profile["total"] > 200
    by_kind = profile["by_kind"]
    assert min(by_kind[WorkKind.HOME_VISIT], by_kind[WorkKind.MEDIATION]) > by_kind[WorkKind.ERRAND] > 0
    assert by_kind[WorkKind.HAZARD_CHECK] > 0
    assert profile["patrols"] > 0


def test_reports_of_every_past_month(year):
    months = [month_label(m) for m in _months()]
    reports = MonthlyReport.objects.filter(street=year.street)
    assert sorted(set(reports.values_list("month", flat=True))) == months
    for month in months:
        nodes = set(reports.filter(month=month).values_list("node_id", flat=True))
        assert nodes == {year.street.pk, year.a.community.pk, year.b.community.pk}
    assert year.counts["reports"] == 36
    found = [r.data["handling"]["found"] for r in reports.filter(node=year.street)]
    solved = [r.data["handling"]["solved_on_spot"] for r in reports.filter(node=year.street)]
    past = Finding.objects.filter(patrol__date__lt=timezone.localdate().replace(day=1))
    assert sum(found) == past.count() > 0
    assert sum(solved) == past.filter(on_spot=True).count() > 0


def test_running_it_again_duplicates_nothing(year):
    def counts():
        return [m.objects.count() for m in (PatrolPlan, Patrol, Participant, ItemResult, Finding, Issue, IssueEvent,
                                            WorkLog, MonthlyReport)]

    before = counts()
    again = demo.build_patrols(street=year.street, problem_rate=0.5, done_share=0.75)
    assert again == {"plans": 0, "reports": 36}
    assert demo.plan_months(street=year.street, months=_months() + [timezone.localdate().replace(day=1)]) == 0
    assert demo.report_months(street=year.street, months=_months()) == 36
    assert counts() == before


def test_the_demo_step_is_registered_after_the_ledger():
    from grid.demo import DEMO_STEPS
    from issues.demo import build_demo_ledger

    assert DEMO_STEPS.index(build_demo_ledger) < DEMO_STEPS.index(demo.build_demo_patrols)
