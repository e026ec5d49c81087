"""The transition table, pair by pair: every (state, action, role) that the table allows works and
lands in the table's state; every other one is refused with the issue and its log unchanged."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from grid.models import Role
from issues import services, workflow
from issues.models import Issue, IssueEvent, State, Supervision
from tests.factories import RoleFactory, UserFactory, issue
from tests.support import shared_fixture

pytestmark = pytest.mark.django_db

# Each actor and the one workflow role it stands for on community A's first micro-grid.
ACTORS = {
    "leader": Role.LEADER,
    "secretary": Role.SECRETARY,
    "staff": Role.STREET_STAFF,
    "branch": Role.PARTY_BRANCH,
    "worker": workflow.HANDLER,
    "owner_rep": Role.OWNER_REP,
    "system": workflow.SYSTEM,
}


def valid_data(action, w, target):
    now = timezone.now()
    return {
        "resolve_on_spot": {"note": "当场修好"},
        "record": {},
        "assign": {"handler_org": w.property.pk},
        "submit_done": {"note": "已维修"},
        "verify": {},
        "reject": {"note": "没修好"},
        "return": {"note": "不归我管"},
        "refer_analysis": {"note": "多处出现", "common": True},
        "escalate": {"note": "协商不成"},
        "declare_unresolvable": {"announcement": "因规划原因暂无法解决"},
        "give_feedback": {"channel": "visit", "text": "已上门说明", "satisfaction": "satisfied"},
        "reopen": {"note": "居民不满意"},
        "merge": {"into": target.pk},
        "request_extension": {"reason": "等配件", "until": now + datetime.timedelta(days=7)},
        "decide_extension": {"approve": True},
        "yellow_card": {},
        "red_card": {},
        "plan": {},
    }[action] | ({"plan": "党委协调方案"} if action == "assign" else {})


def prepared(w, state, action):
    """An issue in `state` with whatever the action needs besides its own fields."""
    i = issue(w.a.mg1, w.a.leader)
    now = timezone.now()
    fields = {
        "state": state, "handler_org": w.property, "assigned_at": now - datetime.timedelta(days=6),
        "due_at": now - datetime.timedelta(days=1),
        "supervision": Supervision.YELLOW if action == "red_card" else Supervision.NONE,
        "extension_until": now + datetime.timedelta(days=3) if action == "decide_extension" else None,
        "extension_reason": "等配件" if action == "decide_extension" else "",
        "announcement": "公告" if state == State.UNRESOLVABLE else "",
        "announced_at": now if state == State.UNRESOLVABLE else None,
    }
    Issue.objects.filter(pk=i.pk).update(**fields)
    if action == "reopen":
        IssueEvent.objects.create(issue=i, action="give_feedback", from_state=State.RESOLVED, to_state=State.CLOSED,
                                  data={"satisfaction": "dissatisfied"})
    if action == "return" and state == State.HANDLING:
        IssueEvent.objects.create(issue=i, action="assign", from_state=State.ANALYSIS, to_state=State.HANDLING)
    return Issue.objects.get(pk=i.pk)


@shared_fixture
def people(ledger):
    w = ledger
    owner = RoleFactory(node=w.a.mg1, role=Role.OWNER_REP, user=UserFactory(username="owner")).user
    return {"leader": w.a.leader, "secretary": w.a.secretary, "staff": w.staff, "branch": w.branch,
            "worker": w.worker, "owner_rep": owner, "system": None}


def expected_state(rule, state):
    if rule.to == workflow.SAME:
        return state
    if rule.to == workflow.PREVIOUS:
        return State.REPORTED if state == State.RECORDED else State.ANALYSIS
    if rule.to == workflow.BACK_TO_HANDLER:
        return State.HANDLING  # every prepared issue has a handling company
    return rule.to


@pytest.mark.parametrize("state", State.values)
def test_every_state_action_and_role(ledger, people, state):
    w = ledger
    target = issue(w.a.mg1, w.a.secretary)  # a duplicate target every actor can see
    mismatches = []
    for action in workflow.ACTIONS:
        rule = workflow.rule_for(state, action)
        for name, role in ACTORS.items():
            i = prepared(w, state, action)
            before = (i.state, i.version, i.events.count())
            allowed = rule is not None and role in rule.roles
            try:
                services.issue_transition(issue_id=i.pk, action=action, actor=people[name],
                                          **valid_data(action, w, target))
                outcome = "ok"
            except (PermissionDenied, ValidationError) as e:
                outcome = f"refused: {e}"
            i.refresh_from_db()
            after = (i.state, i.version, i.events.count())
            if allowed and outcome != "ok":
                mismatches.append(f"{state}/{action}/{name}: expected ok, {outcome}")
            elif allowed and (i.state != expected_state(rule, state) or after[2] != before[2] + 1):
                mismatches.append(f"{state}/{action}/{name}: landed in {i.state} with {after[2] - before[2]} events")
            elif not allowed and outcome == "ok":
                mismatches.append(f"{state}/{action}/{name}: expected refusal, it worked")
            elif not allowed and after != before:
                mismatches.append(f"{state}/{action}/{name}: refused but changed {before} → {after}")
    assert mismatches == []


def test_the_table_covers_the_issue():
    # The named paths of the issue are all there, with their targets.
    t = workflow.TABLE
    assert t[(State.REPORTED, "resolve_on_spot")].to == State.RESOLVED
    assert t[(State.REPORTED, "record")].to == State.RECORDED
    assert t[(State.HANDLING, "submit_done")].to == State.VERIFYING
    assert t[(State.VERIFYING, "reject")].to == State.HANDLING
    assert t[(State.DISPOSAL, "declare_unresolvable")].required == ("announcement",)
    assert t[(State.CLOSED, "reopen")].to == workflow.BACK_TO_HANDLER
    assert all((s, "merge") in t for s in State.values if s != State.CLOSED)
    assert (State.CLOSED, "merge") not in t
