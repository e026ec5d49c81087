"""The data the contract tests (tests/contracts.py) run against: two streets, three communities.

Street 1 holds communities A and B, street 2 holds community X. Each community ("side") has a compound
with a building, a unit, a micro-grid with an A-post leader (mg1) and a vacant one (mg2), households,
a secretary, an organisation, and at least one object of every model an endpoint or page lists, all
written through the factories and the apps' services. Each side's texts carry its marker (ZQXA, ZQXB,
ZQXX), so a page, a list or an export that shows something of another side is caught by its words,
not only by its ids. Phones are all different, so a leaked phone is caught too.

`KINDS` makes one more object of a kind in a side: the query-budget contract grows a list with it, the
counts contract adds rows outside a user's scope with it. A kind names what a route lists ("issue",
"worklog", ...); `pick(side, kind)` is a side's object of that kind.
"""

import datetime
import itertools
from decimal import Decimal
from types import SimpleNamespace

from django.contrib.auth.models import Group
from django.utils import timezone

from common.periods import add_months, current_month, month_label
from grid import services as grid_services
from grid.models import ChangeLog, Kind, Level, Post, Role
from tests.factories import (
    HouseholdFactory,
    OrganisationFactory,
    RoleFactory,
    UserFactory,
    act,
    care_tag,
    category,
    checklist,
    issue,
    node,
    plan,
    scenario,
)

MARKS = {"a": "ZQXA", "b": "ZQXB", "x": "ZQXX"}
RULE = "contract_points"
_serial = itertools.count(1)
_phones = itertools.count(1)
_months = itertools.count(1)


def phone(prefix):
    """A phone number no other row has: prefix (3 digits) + 8 digits."""
    return f"{prefix}{next(_phones):08d}"


def past_month():
    """A month of the past that no other row of the data uses (plans, reports and job runs are unique
    per month): 2000 to 2019 in turn, the months a test adds being rolled back after it."""
    return month_label(add_months(datetime.date(2000, 1, 1), next(_months) % 240))


def person(key, what):
    n = next(_serial)
    return UserFactory(username=f"k_{what}_{key}_{n}", name=f"{what}{MARKS[key]}{n}", phone=phone("138"))


def _rule():
    from incentives.models import PointRule

    return PointRule.objects.get_or_create(code=RULE, defaults={"name": "契约积分", "points": 10})[0]


def award(user, points_for="test"):
    from incentives import services as incentive_services

    return incentive_services.points_award(user=user, rule=_rule(), source=f"contract:{points_for}:{next(_serial)}")


# --- one side (community) ---------------------------------------------------------------------


def side(data, street, key, staff):
    """A community of `street` with one object of every kind; `staff` is its street's staff."""
    from incentives import services as incentive_services
    from issues.models import Notification
    from patrols import services as patrol_services
    from patrols.models import Job

    m = MARKS[key]
    code = f"K{key.upper()}"
    s = SimpleNamespace(key=key, mark=m, street=street, staff=staff)
    s.community = node(street, name=f"社区{m}", code=code)
    s.compound = node(s.community, name=f"小区{m}", code=f"{code}-R1")
    s.building = node(s.compound, name=f"楼{m}", code=f"{code}-R1-B1")
    s.unit = node(s.building, name=f"单元{m}", code=f"{code}-R1-B1-U1")
    s.mg1 = node(s.unit, name=f"微网格{m}1", code=f"{code}-G1")
    s.mg2 = node(s.compound, level=Level.MICROGRID, kind=Kind.SETTLEMENT, name=f"微网格{m}2", code=f"{code}-G2")
    s.households = [
        HouseholdFactory(grid=s.mg1, head=f"户主{m}1", phone=phone("139"), tags=[care_tag("elderly_alone")]),
        HouseholdFactory(grid=s.mg1, head=f"户主{m}2", phone=phone("139")),
        HouseholdFactory(grid=s.mg2, head=f"户主{m}3", phone=phone("139")),
    ]
    s.leader_role = RoleFactory(node=s.mg1, role=Role.LEADER, post=Post.A, user=person(key, "leader"))
    s.leader = s.leader_role.user
    s.secretary_role = RoleFactory(node=s.community, role=Role.SECRETARY, user=person(key, "secretary"))
    s.secretary = s.secretary_role.user
    s.organisation = OrganisationFactory(street=street, nodes=[s.compound], name=f"物业{m}")
    s.changelog = ChangeLog.objects.filter(model="household", object_id=str(s.households[0].pk)).get()

    # The ledger: a resident's report, one recorded, one in handling with the property company.
    s.reported = issue(s.mg1, title=f"门禁{m}", description=f"单元门禁损坏{m}", reporter_name=f"居民{m}",
                       reporter_phone=phone("137"))
    s.recorded = act(issue(s.mg1, s.leader, title=f"路灯{m}", description=f"路灯不亮{m}"), "record", s.leader)
    s.handling = act(act(issue(s.mg1, s.leader, title=f"漏水{m}", description=f"楼顶漏水{m}",
                               reporter_name=f"报告人{m}", reporter_phone=phone("137")),
                         "record", s.leader), "assign", s.secretary, handler_org=s.organisation.pk)
    s.issue = s.handling
    type(s.reported).objects.filter(pk=s.recorded.pk).update(
        announcement=f"公示{m}", announced_at=timezone.now())
    s.notification = Notification.objects.create(
        key=f"contract:{key}", recipient=s.secretary, address=s.leader.phone, channel="sms",
        subject=f"通知{m}", text=f"请处理{m}", issue=s.issue)

    # Patrols: a recorded plan at the compound, one still to walk at the community, a work log, the
    # month's report with its meeting, a job run on the community.
    today = timezone.localdate()
    s.plan = plan(s.compound, data.scenario)
    s.patrol = patrol_services.patrol_record(
        actor=s.leader, plan_id=s.plan.pk, date=today, items=checklist(s.plan, {0: f"楼道灯{m}"}),
        participants=[{"name": f"物业经理{m}", "role": "物业公司"}],
        findings=[{"title": f"楼道灯不亮{m}", "description": f"楼道灯不亮{m}", "category": data.category.pk,
                   "grid": s.mg1.pk, "on_spot": False}],
    )
    s.open_plan = plan(s.community, data.care)
    s.worklog = patrol_services.worklog_create(actor=s.leader, kind="home_visit", grid=s.mg1,
                                               household=s.households[0], note=f"走访{m}")
    s.report = patrol_services.report_generate(node=s.community, month=current_month())
    s.meeting = patrol_services.meeting_record(actor=s.secretary, report_id=s.report.pk, held_on=today,
                                               minutes=f"会议{m}")
    s.jobrun = patrol_services.job_run(job=Job.REPORTS, month=current_month(), node=s.community, trigger="command")

    # Incentives: points, a reward and its redemption, an honour, a care visit, a fund and a claim.
    s.entry = award(s.leader, key)
    award(s.leader, key)
    from incentives.models import Account

    s.account = Account.objects.get(user=s.leader)
    s.reward = incentive_services.reward_save(actor=staff, node=s.community, name=f"洗衣液{m}", cost=2, stock=500,
                                              active=True)
    s.redemption = incentive_services.reward_redeem(actor=s.leader, reward_id=s.reward.pk, quantity=1)
    s.honour = incentive_services.honour_create(actor=staff, title=f"优秀{m}", period=current_month(),
                                                person=s.leader, node=s.community, citation=f"认真{m}")
    s.carevisit = incentive_services.carevisit_create(actor=staff, leader=s.leader, date=today,
                                                      occasion=f"慰问{m}", node=s.community)
    s.fund = incentive_services.fund_save(actor=staff, node=s.community, name=f"经费{m}", budget=Decimal("5000.00"),
                                          starts_on=today.replace(month=1, day=1),
                                          ends_on=today.replace(month=12, day=31))
    s.claim = incentive_services.claim_submit(actor=s.leader, fund_id=s.fund.pk, kind="meal", amount="1.00",
                                              date=today, note=f"误餐{m}")
    return s


def _shared(d):
    """Street-wide configuration: one row of each register, the same for every side."""
    from issues.models import CalendarOverride
    from rest_framework.authtoken.models import Token

    d.shared = {
        "category_obj": d.category, "scenario_obj": d.scenario, "template_obj": d.scenario.template,
        "rule_obj": _rule(), "caretag_obj": care_tag("elderly_alone"),
        "calendar_obj": CalendarOverride.objects.create(date=datetime.date(2001, 1, 1), workday=True, note="调休"),
        "group_obj": Group.objects.create(name="契约组"),
        "token_obj": Token.objects.create(user=UserFactory(username="k_token", phone=phone("138"))),
    }


def build():
    """The whole contract world. Writes through the services; takes about a second on SQLite."""
    from patrols.models import Scenario

    d = SimpleNamespace()
    d.category = category()
    d.scenario = scenario()
    d.care = Scenario.objects.filter(code="care_visit").first() or scenario(
        "care_visit", levels=(2,), items=(("慰问", "走访慰问"),))
    _shared(d)
    d.root = UserFactory(username="k_root", is_superuser=True, is_staff=True, phone=phone("138"))
    d.street = node(name="契约街道", code="K1")
    d.street_x = node(name=f"契约二街道{MARKS['x']}", code="K2")
    d.staff = RoleFactory(node=d.street, role=Role.STREET_STAFF, user=person("a", "staff")).user
    d.staff_x = RoleFactory(node=d.street_x, role=Role.STREET_STAFF, user=person("x", "staff")).user
    d.a = side(d, d.street, "a", d.staff)
    d.a.__dict__.update(d.shared)
    d.b = side(d, d.street, "b", d.staff)
    d.x = side(d, d.street_x, "x", d.staff_x)
    for s in (d.b, d.x):
        s.__dict__.update(d.shared)
    for user, role in ((d.staff, "street_staff"), (d.a.secretary, "secretary"), (d.staff_x, "street_staff"),
                       (d.b.secretary, "secretary"), (d.x.secretary, "secretary")):
        grid_services.user_grant_admin(user=user, role=role)
    # What lives at a street: its report (the roll-up of its communities).
    from patrols import services as patrol_services

    d.street_report = patrol_services.report_generate(node=d.street, month=current_month())
    d.x.street_report = patrol_services.report_generate(node=d.street_x, month=current_month())
    # The users the contracts act as, and the sides outside each one's scope.
    d.users = {"leader": d.a.leader, "secretary": d.a.secretary, "staff": d.staff}
    d.outside = {"leader": (d.b, d.x), "secretary": (d.b, d.x), "staff": (d.x,)}
    fresh(d)  # what the tests get copies of: the nodes' final numbers, no scope remembered yet
    return d


# --- one more object of a kind in a side -----------------------------------------------------


def _new_microgrid(s):
    n = next(_serial)
    return node(s.compound, level=Level.MICROGRID, kind=Kind.SETTLEMENT, name=f"微网格{s.mark}{n}")


def _more_role(d, s):
    return RoleFactory(node=s.community, role=Role.PARTY_BRANCH, user=person(s.key, "branch"))


def _more_patrol(d, s):
    from patrols import services as patrol_services

    p = plan(s.compound, d.scenario, month=past_month())
    return patrol_services.patrol_record(actor=s.leader, plan_id=p.pk, date=p.period_start,
                                         items=checklist(p), note=f"巡查{s.mark}")


def _more_worklog(d, s):
    from patrols import services as patrol_services

    return patrol_services.worklog_create(actor=s.leader, kind="errand", grid=s.mg1, note=f"跑腿{s.mark}")


def _more_report(d, s):
    from patrols import services as patrol_services

    return patrol_services.report_generate(node=s.community, month=past_month())


def _more_meeting(d, s):
    from patrols import services as patrol_services

    rep = _more_report(d, s)
    return patrol_services.meeting_record(actor=s.secretary, report_id=rep.pk, held_on=timezone.localdate(),
                                          minutes=f"会议{s.mark}")


def _more_jobrun(d, s):
    from patrols import services as patrol_services
    from patrols.models import Job

    return patrol_services.job_run(job=Job.REPORTS, month=past_month(), node=s.community, trigger="command")


def _more_account(d, s):
    from incentives.models import Account

    user = _more_role(d, s).user
    award(user, s.key)
    return Account.objects.get(user=user)


def _more_redemption(d, s):
    from incentives import services as incentive_services

    award(s.leader, s.key)
    return incentive_services.reward_redeem(actor=s.leader, reward_id=s.reward.pk, quantity=1)


def _more_event(d, s):
    from issues.models import IssueEvent

    return IssueEvent.objects.create(issue=s.issue, action="note", from_state=s.issue.state, to_state=s.issue.state,
                                     actor=s.secretary, note=f"备注{s.mark}")


def _more_notification(d, s):
    from issues.models import Notification

    n = next(_serial)
    return Notification.objects.create(key=f"contract:{s.key}:{n}", recipient=s.secretary, address=s.leader.phone,
                                       channel="sms", subject=f"通知{s.mark}{n}", text="…", issue=s.issue)


def _more_reward(d, s):
    from incentives import services as incentive_services

    return incentive_services.reward_save(actor=s.staff, node=s.community, name=f"奖品{s.mark}{next(_serial)}",
                                          cost=1, stock=100, active=True)


def _more_honour(d, s):
    from incentives import services as incentive_services

    return incentive_services.honour_create(actor=s.staff, title=f"称号{s.mark}{next(_serial)}",
                                            period=current_month(), person=s.leader, node=s.community)


def _more_carevisit(d, s):
    from incentives import services as incentive_services

    return incentive_services.carevisit_create(actor=s.staff, leader=s.leader, date=timezone.localdate(),
                                               occasion=f"慰问{s.mark}{next(_serial)}", node=s.community)


def _more_fund(d, s):
    from incentives import services as incentive_services

    today = timezone.localdate()
    return incentive_services.fund_save(actor=s.staff, node=s.community, name=f"经费{s.mark}{next(_serial)}",
                                        budget=Decimal("100.00"), starts_on=today.replace(month=1, day=1),
                                        ends_on=today.replace(month=12, day=31))


def _more_claim(d, s):
    from incentives import services as incentive_services

    return incentive_services.claim_submit(actor=s.leader, fund_id=s.fund.pk, kind="travel", amount="1.00",
                                           date=timezone.localdate(), note=f"出行{s.mark}")


SHARED_KINDS = ("category", "scenario", "template", "rule", "caretag", "calendar", "group", "token")


def _shared_pick(kind):
    return lambda s: [getattr(s, f"{kind}_obj")]


def _more_shared(kind):
    """Street-wide configuration (the same for every user): one more row."""

    def make(d, s):
        n = next(_serial)
        if kind == "category":
            return category(f"contract_{n}")
        if kind == "scenario":
            return scenario(f"contract_{n}")
        if kind == "template":
            from patrols.models import ChecklistTemplate

            return ChecklistTemplate.objects.create(name=f"契约检查表{n}")
        if kind == "rule":
            from incentives.models import PointRule

            return PointRule.objects.create(code=f"contract_{n}", name=f"规则{n}", points=1)
        if kind == "caretag":
            return care_tag(f"contract_{n}")
        if kind == "calendar":
            from issues.models import CalendarOverride

            return CalendarOverride.objects.create(date=datetime.date(2001, 1, 1) + datetime.timedelta(days=n),
                                                   workday=True, note=f"调休{n}")
        if kind == "group":
            return Group.objects.create(name=f"契约组{n}")
        if kind == "token":
            from rest_framework.authtoken.models import Token

            return Token.objects.create(user=UserFactory(username=f"k_token_{n}", phone=phone("138")))
        raise KeyError(kind)

    return make


KINDS = {
    "node": lambda d, s: _new_microgrid(s),
    "vacant": lambda d, s: _new_microgrid(s),
    "household": lambda d, s: HouseholdFactory(grid=s.mg1, head=f"户主{s.mark}{next(_serial)}", phone=phone("139")),
    "role": _more_role,
    "user": lambda d, s: _more_role(d, s).user,
    "apost": lambda d, s: RoleFactory(node=_new_microgrid(s), role=Role.LEADER, post=Post.A,
                                      user=person(s.key, "leader")),
    "organisation": lambda d, s: OrganisationFactory(street=s.street, nodes=[s.compound],
                                                     name=f"物业{s.mark}{next(_serial)}"),
    "changelog": lambda d, s: ChangeLog.objects.filter(
        model="household", object_id=str(KINDS["household"](d, s).pk)).get(),
    "issue": lambda d, s: issue(s.mg1, s.leader, title=f"问题{s.mark}", description=f"描述{s.mark}",
                                reporter_name=f"居民{s.mark}", reporter_phone=phone("137")),
    "event": _more_event,
    "notification": _more_notification,
    "plan": lambda d, s: plan(s.compound, d.scenario, month=past_month()),
    "patrol": _more_patrol,
    "worklog": _more_worklog,
    "report": _more_report,
    "meeting": _more_meeting,
    "jobrun": _more_jobrun,
    "account": _more_account,
    "entry": lambda d, s: award(s.leader, s.key),
    "reward": _more_reward,
    "redemption": _more_redemption,
    "honour": _more_honour,
    "carevisit": _more_carevisit,
    "fund": _more_fund,
    "claim": _more_claim,
    **{k: _more_shared(k) for k in SHARED_KINDS},
}

# The side's object(s) of a kind (what its detail URL shows).
PICKS = {
    "node": lambda s: [s.mg1, s.community],
    "vacant": lambda s: [s.mg2],
    "household": lambda s: [s.households[0]],
    "role": lambda s: [s.leader_role],
    "apost": lambda s: [s.leader_role],
    "user": lambda s: [s.leader, s.secretary],
    "organisation": lambda s: [s.organisation],
    "changelog": lambda s: [s.changelog],
    "issue": lambda s: [s.issue, s.reported],
    "event": lambda s: [s.issue],
    "notification": lambda s: [s.notification],
    "plan": lambda s: [s.plan, s.open_plan],
    "patrol": lambda s: [s.patrol],
    "worklog": lambda s: [s.worklog],
    "report": lambda s: [s.report] + ([s.street_report] if hasattr(s, "street_report") else []),
    "meeting": lambda s: [s.meeting],
    "jobrun": lambda s: [s.jobrun],
    "account": lambda s: [s.account],
    "entry": lambda s: [s.entry],
    "reward": lambda s: [s.reward],
    "redemption": lambda s: [s.redemption],
    "honour": lambda s: [s.honour],
    "carevisit": lambda s: [s.carevisit],
    "fund": lambda s: [s.fund],
    "claim": lambda s: [s.claim],
    **{k: _shared_pick(k) for k in SHARED_KINDS},
}


NODES = ("community", "compound", "building", "unit", "mg1", "mg2")


def _users(d):
    yield from (d.root, d.staff, d.staff_x)
    for s in (d.a, d.b, d.x):
        yield from (s.leader, s.secretary)


def fresh(d):
    """At the end of the build and before a test adds rows: nodes with their current nested-set numbers
    (inserts renumber them; a test's rollback puts them back) and users without a remembered scope."""
    from grid.access import forget_scope

    for n in [d.street, d.street_x] + [getattr(s, a) for s in (d.a, d.b, d.x) for a in NODES]:
        n.refresh_from_db()
    for user in _users(d):
        forget_scope(user)


def pick(s, kind):
    return PICKS[kind](s)


def more(d, s, kind, n=1):
    """`n` more objects of `kind` in side `s`."""
    fresh(d)
    return [KINDS[kind](d, s) for _ in range(n)]
