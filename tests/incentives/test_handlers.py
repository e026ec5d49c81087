"""Points follow the domain events of the ledger and the patrols, once each."""

import pytest
from django.utils import timezone

from incentives import handlers, services
from incentives.models import Account, Entry
from issues.models import Issue
from issues.services import issues_mark_overdue
from patrols import services as patrol_services
from patrols.models import WorkKind
from tests.factories import act, checklist, issue, plan
from tests.support import client_for


@pytest.fixture
def live(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks (the domain signals) of everything done inside."""
    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)
    return run


def ledger_of(user):
    return sorted(Entry.objects.filter(account__user=user).values_list("rule__code", "points"))


def test_reporting_alone_earns_nothing(world, live):
    live(issue, world.a.mg1, world.a.leader)
    assert not Entry.objects.exists()


def test_solving_on_the_spot_and_a_satisfied_resident(world, live):
    w = world
    i = live(issue, w.a.mg1, w.a.leader)
    live(act, i, "resolve_on_spot", w.a.leader, note="当场处理")
    live(act, i, "give_feedback", w.a.secretary, channel="visit", text="满意", satisfaction="satisfied")
    assert ledger_of(w.a.leader) == [("closed_satisfied", 5), ("resolved_on_spot", 3)]
    assert not Entry.objects.filter(account__user=w.a.secretary).exists()


def test_a_dissatisfied_resident_and_a_reopening(world, live):
    w = world
    i = live(issue, w.a.mg1, w.a.leader)
    live(act, i, "resolve_on_spot", w.a.leader, note="处理")
    live(act, i, "give_feedback", w.a.secretary, channel="visit", text="不满意", satisfaction="dissatisfied")
    live(act, i, "reopen", w.a.secretary, note="重新处理")
    assert ledger_of(w.a.leader) == [("reopened", -3), ("resolved_on_spot", 3)]


def test_the_solver_of_a_handled_issue_is_who_reported_it_done(ledger, live):
    w = ledger
    i = live(act, w.recorded, "assign", w.a.secretary, handler_org=w.property.pk, handler_user="worker")
    live(act, i, "submit_done", w.worker, note="修好了")
    live(act, i, "verify", w.a.leader)
    live(act, i, "give_feedback", w.a.leader, channel="phone", text="满意", satisfaction="satisfied")
    assert ledger_of(w.worker) == [("closed_satisfied", 5)]
    assert ledger_of(w.a.leader) == []


def test_a_red_card_costs_the_named_handler(ledger, live):
    w = ledger
    services.points_award(user=w.worker, rule="patrol_attended", source="seed")
    i = live(act, w.recorded, "assign", w.a.secretary, handler_org=w.property.pk, handler_user="worker")
    # Long overdue: both cards at once.
    Issue.objects.filter(pk=i.pk).update(assigned_at=timezone.now() - timezone.timedelta(days=40),
                                         due_at=timezone.now() - timezone.timedelta(days=30))
    live(issues_mark_overdue)
    assert ledger_of(w.worker) == [("patrol_attended", 5), ("red_card", -5)]


def test_a_duplicate_of_ones_own_report(world, live):
    w = world
    first = live(issue, w.a.mg1, w.a.leader)
    services.points_award(user=w.a.leader, rule="errand_logged", source="seed")
    second = live(issue, w.a.mg1, w.a.leader)
    live(act, second, "merge", w.a.leader, into=first.pk)
    other = live(issue, w.a.mg1, w.a.secretary)
    live(act, other, "merge", w.a.leader, into=first.pk)  # someone else's report: no penalty
    assert ledger_of(w.a.leader) == [("duplicate_own_report", -1), ("errand_logged", 2)]
    assert ledger_of(w.a.secretary) == []


def test_patrols_and_work_logs(world, live):
    w = world
    p = plan(w.a.compound)
    live(patrol_services.patrol_record, actor=w.a.leader, plan_id=p.pk, date=timezone.localdate(),
         participants=[{"username": "secretary_a"}, {"name": "李经理", "role": "物业公司"}], items=checklist(p))
    assert ledger_of(w.a.leader) == [("patrol_attended", 5)]
    assert ledger_of(w.a.secretary) == [("patrol_attended", 5)]
    for kind in (WorkKind.MEDIATION, WorkKind.ERRAND, WorkKind.HAZARD_CHECK, WorkKind.HOME_VISIT, WorkKind.PUBLICITY):
        live(patrol_services.worklog_create, actor=w.a.leader, kind=kind, grid=w.a.mg1)
    assert ledger_of(w.a.leader) == [("errand_logged", 2), ("hazard_logged", 2), ("mediation_logged", 3),
                                     ("patrol_attended", 5)]


def test_replaying_every_event_twice_changes_nothing(ledger, live):
    w = ledger
    i = live(issue, w.a.mg1, w.a.leader)
    live(act, i, "resolve_on_spot", w.a.leader, note="处理")
    live(act, i, "give_feedback", w.a.secretary, channel="visit", text="满意", satisfaction="satisfied")
    live(patrol_services.worklog_create, actor=w.a.leader, kind=WorkKind.MEDIATION, grid=w.a.mg1)
    p = plan(w.a.compound)
    live(patrol_services.patrol_record, actor=w.a.secretary, plan_id=p.pk, date=timezone.localdate(),
         participants=[{"username": "leader_a"}], items=checklist(p))
    before = (list(Entry.objects.order_by("id").values_list("id", "source", "points")),
              list(Account.objects.order_by("id").values_list("id", "balance")))
    assert len(before[0]) == 5
    handlers.replay()
    handlers.replay()
    after = (list(Entry.objects.order_by("id").values_list("id", "source", "points")),
             list(Account.objects.order_by("id").values_list("id", "balance")))
    assert after == before
    assert services.reconcile_points() == []


def test_replay_awards_what_was_missed(world, live):
    """Events that happened while a rule was switched off are awarded by a replay, once."""
    from incentives.models import PointRule

    PointRule.objects.filter(code="mediation_logged").update(active=False)
    live(patrol_services.worklog_create, actor=world.a.leader, kind=WorkKind.MEDIATION, grid=world.a.mg1)
    assert not Entry.objects.exists()
    PointRule.objects.filter(code="mediation_logged").update(active=True)
    handlers.replay()
    handlers.replay()
    assert ledger_of(world.a.leader) == [("mediation_logged", 3)]


@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_changes_no_answer_and_a_replay_awards_once(world, monkeypatch):
    """The lower apps send their signals robustly after the commit: while the points handler raises
    for one event, the action is committed and answered as usual; the next event is awarded as
    usual; a replay later awards the skipped points, exactly once."""
    from incentives.models import PointRule

    # A transactional test: the rules the data migration wrote may have been flushed by another.
    for code, name, points, cap in (("resolved_on_spot", "问题现场解决", 3, 30), ("closed_satisfied", "问题办结且居民满意", 5, 50)):
        PointRule.objects.get_or_create(code=code, defaults={"name": name, "points": points, "monthly_cap": cap})
    w = world
    reported = issue(w.a.mg1, w.a.leader)
    real, failed = services.points_award, []

    def down_once(**kwargs):
        if not failed:
            failed.append(kwargs["source"])
            raise RuntimeError("the points ledger is down")
        return real(**kwargs)

    monkeypatch.setattr(services, "points_award", down_once)
    client = client_for(w.a.leader)
    r = client.post(f"/api/v1/issues/{reported.pk}/actions/resolve_on_spot/", {"note": "当场处理"}, format="json")
    assert r.status_code == 200, r.content
    assert Issue.objects.get(pk=reported.pk).state == r.json()["state"]
    assert failed and failed[0].endswith(f":resolved_on_spot:{r.json()['event']['id']}")
    assert ledger_of(w.a.leader) == []  # the handler failed: nothing awarded, nothing half-written

    act(reported, "give_feedback", w.a.secretary, channel="visit", text="满意", satisfaction="satisfied")
    assert ledger_of(w.a.leader) == [("closed_satisfied", 5)]  # the next event is answered as usual

    monkeypatch.setattr(services, "points_award", real)
    handlers.replay()
    handlers.replay()
    assert ledger_of(w.a.leader) == [("closed_satisfied", 5), ("resolved_on_spot", 3)]
    assert services.reconcile_points() == []
