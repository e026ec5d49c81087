"""A plausible past year of joint patrols for a street: the monthly plans of every active scenario,
most of them walked (participants, every checklist item answered, findings put in the ledger as
issues with source `patrol` and taken along their workflow), the rest missed; the leaders' work logs;
the monthly reports of every past month; and the plans of the current month.

Bulk inserts that keep the services' rules by construction: plans and reports come from the services
themselves, run as the registered jobs (`plans_create`, `reports_generate`: idempotent, each run a
JobRun), ledger numbers continue IssueCounter per
street and month, scope columns come from the tree, and every issue's state is reached by actions
checked against the ledger's workflow table, each one an IssueEvent. Used by `seed_demo` (demo sizes)
and, with the ledger's generator, by benchmarks/patrol_report.py.
"""

import datetime
import random
from collections import Counter, defaultdict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from common import jobs
from common.periods import month_label, months_back, next_month
from grid import access
from grid.demo import insert_rows, person
from grid.models import GridNode, Household, Kind, Level, OrgKind, Organisation, Post, Role, RoleAssignment
from grid.services import tree_lock
from issues import calendar, workflow
from issues.models import Category, DeadlineUnit, Issue, IssueCounter, IssueEvent, Source, State, Supervision
from issues.services import TRACKING_ALPHABET

from .models import (
    Finding,
    ItemResult,
    Job,
    Participant,
    Patrol,
    PatrolPlan,
    PlanState,
    Result,
    Scenario,
    WorkKind,
    WorkLog,
)

# What a problem under a checklist group is filed as (kept to the scenario's own categories).
GROUP_CATEGORIES = {
    "物业服务": ["property_repair", "property_service", "fire_safety"],
    "环境卫生": ["sanitation", "greening"],
    "公共设施": ["facilities", "road_lighting", "fire_safety"],
    "生活状况": ["building_safety", "other"],
    "帮扶需求": ["errand", "other"],
}
PROBLEMS = {
    "property_repair": ["单元门禁损坏无法关闭", "电梯运行异响", "楼道窗户玻璃破损", "屋面渗水"],
    "property_service": ["物业收费公示未更新", "保安夜间脱岗", "楼道杂物长期未清理"],
    "sanitation": ["垃圾桶满溢未及时清运", "垃圾分类投放点脏乱", "化粪池外溢"],
    "greening": ["绿化带杂草丛生", "树枝遮挡路灯", "绿地被占用种菜"],
    "facilities": ["健身器材螺丝松动", "儿童滑梯破损", "井盖缺失", "路面破损积水"],
    "road_lighting": ["路灯不亮", "楼道灯损坏", "小区主干道照明不足"],
    "fire_safety": ["电动车楼道充电", "消防通道被车辆占用", "灭火器过期", "消防栓无水"],
    "building_safety": ["老人住房外墙瓷砖脱落", "燃气软管老化", "私拉乱接电线"],
    "errand": ["独居老人需代办高龄补贴", "残疾人证到期需换领", "医保报销材料需代交"],
    "neighbour_dispute": ["邻居装修噪声纠纷", "楼上漏水引发纠纷"],
    "noise": ["夜间广场舞噪声扰民"],
    "other": ["独居老人需定期探访", "家中无人照料需协调"],
}
ON_SPOT_NOTES = ["现场联系物业当场处理", "已督促责任人当场整改", "现场清理完毕", "当场协调解决"]
OUTSIDERS_CARE = ["社区卫生服务中心医生", "志愿者", "社工"]

# Where recorded findings end, by their age: (weight, path). Older findings are mostly closed; a few
# stay open on purpose so that the reports show difficult problems (red cards, reopened, escalated, stale).
CLOSED = ["record", "assign", "submit_done", "verify", "give_feedback"]
PATHS_RECENT = [  # found in the last week
    (0.15, ["record"]),
    (0.45, ["record", "assign"]),
    (0.15, ["record", "assign", "submit_done"]),
    (0.10, ["record", "assign", "submit_done", "verify"]),
    (0.10, CLOSED),
    (0.05, ["record", "refer_analysis"]),
]
PATHS_MONTH = [  # one week to 45 days old
    (0.50, CLOSED),
    (0.05, ["record", "assign", "submit_done", "reject", "submit_done", "verify", "give_feedback"]),
    (0.12, ["record", "assign", "submit_done", "verify"]),
    (0.06, ["record", "assign", "submit_done"]),
    (0.10, ["record", "assign"]),
    (0.02, ["record"]),
    (0.05, ["record", "refer_analysis"]),
    (0.04, ["record", "assign", "escalate"]),
    (0.06, CLOSED + ["reopen"]),
]
PATHS_OLD = [  # older
    (0.72, CLOSED),
    (0.04, ["record", "assign", "submit_done", "reject", "submit_done", "verify", "give_feedback"]),
    (0.02, ["record", "assign", "submit_done", "verify"]),
    (0.01, ["record", "assign", "submit_done"]),
    (0.05, ["record", "assign"]),
    (0.03, ["record", "refer_analysis"]),
    (0.02, ["record", "refer_analysis", "escalate"]),
    (0.03, ["record", "assign", "escalate"]),
    (0.02, ["record", "assign", "escalate", "declare_unresolvable"]),
    (0.02, ["record", "assign", "escalate", "declare_unresolvable", "give_feedback"]),
    (0.03, CLOSED + ["reopen"]),
    (0.03, CLOSED + ["reopen", "submit_done", "verify", "give_feedback"]),
]
# Hours between one action and the next (low, high).
GAPS = {
    "resolve_on_spot": (0.05, 1), "record": (0.2, 8), "assign": (1, 30), "submit_done": (24, 120),
    "reject": (2, 48), "verify": (2, 48), "give_feedback": (24, 96), "refer_analysis": (24, 96),
    "escalate": (48, 200), "declare_unresolvable": (120, 480), "reopen": (12, 72),
}
HIGH_PRIORITY = {"fire_safety", "building_safety"}
DEMO_TRIGGER = "seed_demo"

WORK_KINDS = [WorkKind.HOME_VISIT, WorkKind.ERRAND, WorkKind.HAZARD_CHECK, WorkKind.MEDIATION,
              WorkKind.PUBLICITY, WorkKind.OTHER]
WORK_WEIGHTS = [40, 18, 14, 12, 10, 6]
# A model leader's year looks like the seed's profile: 38 errands, 86 mediations, 33 hazard checks.
ACTIVE_WEIGHTS = [34, 12, 10, 26, 10, 8]
ACTIVE_PER_MONTH = (22, 32)
WORK_NOTES = {
    WorkKind.HOME_VISIT: ["入户了解生活情况", "走访独居老人", "核实家庭人口信息", "上门送政策资料"],
    WorkKind.ERRAND: ["代办高龄补贴申请", "代办社保认证", "代交医保报销材料", "代办居住证明"],
    WorkKind.HAZARD_CHECK: ["检查楼道消防通道", "排查电动车充电隐患", "检查燃气管道", "排查外墙脱落隐患"],
    WorkKind.MEDIATION: ["调解邻里噪声纠纷", "调解漏水纠纷", "调解停车纠纷", "调解家庭矛盾"],
    WorkKind.PUBLICITY: ["宣传垃圾分类", "宣传防诈骗知识", "宣传医保政策", "宣传消防安全"],
    WorkKind.OTHER: ["协助社区活动", "参加网格员培训", "协助疫苗接种登记"],
}


def _at(day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=timezone.get_current_timezone())


class _Street:
    """What the generator needs to know about the street, read once (a dozen queries)."""

    def __init__(self, street):
        self.street = street
        nodes = {pk: (parent, level, kind) for pk, parent, level, kind in GridNode.objects.filter(
            access.same_street_q(street)).values_list("pk", "parent_id", "level", "kind")}
        self.level = {pk: v[1] for pk, v in nodes.items()}
        self.kind = {pk: v[2] for pk, v in nodes.items()}
        self.community, self.compound = {}, {}
        self.microgrids = defaultdict(list)  # community or compound id -> micro-grids inside
        for pk, (parent, level, _kind) in nodes.items():
            up = parent
            while up is not None:
                if nodes[up][1] == Level.COMMUNITY:
                    self.community[pk] = up
                elif nodes[up][1] == Level.COMPOUND:
                    self.compound[pk] = up
                up = nodes[up][0]
            if level == Level.MICROGRID:
                for anc in (self.community.get(pk), self.compound.get(pk)):
                    if anc is not None:
                        self.microgrids[anc].append(pk)
        for grids in self.microgrids.values():
            grids.sort()

        User = get_user_model()
        lines = list(RoleAssignment.objects.active().filter(access.same_street_q(street, "node")).order_by("start", "id")
                     .values_list("user_id", "node_id", "role", "post", "organisation_id", "start"))
        people = User.objects.filter(pk__in={ln[0] for ln in lines}).values_list("pk", "name", "username")
        self.names = {pk: name or username for pk, name, username in people}
        self.usernames = usernames = {pk: username for pk, _name, username in people}
        self.secretary, self.branch, self.org_staff = {}, {}, {}
        self.staff = None
        self.a_posts = {}  # leader -> (micro-grid, start)
        self.b_posts = defaultdict(list)
        self.leaders_in = defaultdict(list)  # compound or community -> leaders of micro-grids inside
        for user, node, role, post, org, start in lines:
            if role == Role.SECRETARY:
                self.secretary.setdefault(node, user)
            elif role == Role.PARTY_BRANCH:
                self.branch.setdefault(node, user)
            elif role == Role.STREET_STAFF and self.staff is None:
                self.staff = user
            elif role == Role.PROPERTY_STAFF and org:
                self.org_staff.setdefault(org, user)
            elif role == Role.LEADER and self.level.get(node) == Level.MICROGRID:
                if post == Post.B:
                    self.b_posts[user].append(node)
                elif user not in self.a_posts:
                    self.a_posts[user] = (node, start)
                    for anc in (self.community.get(node), self.compound.get(node)):
                        if anc is not None and user not in self.leaders_in[anc]:
                            self.leaders_in[anc].append(user)
        # The leader the demo accounts show first (jy_wgz0001) keeps a living profile and a plan to walk.
        self.first_leader = min(self.a_posts, key=lambda u: usernames[u], default=None)

        orgs = Organisation.objects.filter(street=street, kind=OrgKind.PROPERTY)
        self.property_orgs = {pk: name for pk, name in orgs.values_list("pk", "name")}
        self.serving = {}
        for org, node in Organisation.nodes.through.objects.filter(
                organisation__in=list(self.property_orgs)).values_list("organisation_id", "gridnode_id"):
            self.serving.setdefault(node, org)
        self.households = defaultdict(list)
        for pk, grid in Household.objects.filter(street=street).values_list("pk", "grid_id"):
            self.households[grid].append(pk)
        self.categories = {c.code: c for c in Category.objects.filter(active=True)}


class _Ledger:
    """Issues written the way issues.services writes them, without its per-row queries: each action
    is looked up in the workflow table and leaves an event; the fields it changes follow `_apply`."""

    def __init__(self, ctx, rng, now):
        self.ctx, self.rng, self.now = ctx, rng, now
        self.counters = Counter({c.month: c.last for c in IssueCounter.objects.filter(street=ctx.street)})
        self.issues, self.events = [], []  # events: (index of the issue, IssueEvent)
        self.red_factor = settings.RED_CARD_FACTOR
        self._due = {}

    def report(self, *, grid, category, when, reporter, description):
        month = timezone.localtime(when).strftime("%Y%m")
        self.counters[month] += 1
        issue = Issue(
            number=f"{self.ctx.street.code}-{month}-{self.counters[month]:05d}",
            tracking_code="".join(self.rng.choice(TRACKING_ALPHABET) for _ in range(10)),
            title=f"{category.name}：{description}"[:100], description=description, category=category,
            grid_id=grid, street_id=self.ctx.street.pk, community_id=self.ctx.community.get(grid),
            source=Source.PATROL, reporter_id=reporter, state=State.REPORTED,
            priority="high" if category.code in HIGH_PRIORITY else "normal",
            reported_at=when, updated_at=when, version=1,
        )
        self.issues.append(issue)
        issue._demo_index = len(self.issues) - 1
        self._event(issue, "report", "", State.REPORTED, when, reporter, data={"source": Source.PATROL})
        return issue

    def _event(self, issue, action, from_state, to_state, when, actor, note="", data=None):
        self.events.append((issue._demo_index, IssueEvent(
            action=action, from_state=from_state, to_state=to_state, actor_id=actor, note=note,
            data=data or {}, created_at=when)))

    def act(self, issue, action, when, actor=None, note="", **data):
        rule = workflow.rule_for(issue.state, action)
        if rule is None:
            raise ValueError(f"{action} is not possible from {issue.state}")
        handled = issue.handler_org_id or issue.handler_user_id
        to = {workflow.SAME: issue.state,
              workflow.BACK_TO_HANDLER: State.HANDLING if handled else State.RECORDED}.get(rule.to, rule.to)
        cat = issue.category
        if action == "assign":
            due = self.due(when, cat)
            issue.handler_org_id, issue.handler_user_id = data.get("handler_org"), data.get("handler_user")
            issue.assigned_at, issue.due_at, issue.supervision = when, due, Supervision.NONE
            data = {k: v for k, v in {"handler_org": issue.handler_org_id,
                                      "handler_user": self.ctx.usernames.get(issue.handler_user_id),
                                      "due": due.isoformat()}.items() if v not in (None, "")}
        elif action == "refer_analysis":
            issue.common, issue.difficult = issue.common or data["common"], issue.difficult or data["difficult"]
        elif action == "declare_unresolvable":
            issue.announcement, issue.announced_at = data["announcement"], when
        elif action == "reopen":
            issue.reopen_count += 1
            issue.closed_at, issue.announcement, issue.announced_at = None, "", None
            if to == State.HANDLING:
                issue.assigned_at, issue.supervision = when, Supervision.NONE
                issue.due_at = self.due(when, cat)
        elif action == "yellow_card":
            issue.supervision = Supervision.YELLOW
        elif action == "red_card":
            issue.supervision = Supervision.RED
        if to == State.CLOSED:
            issue.closed_at = when
        self._event(issue, action, issue.state, to, when, actor, note or data.get("text", ""), data)
        issue.state, issue.updated_at, issue.version = to, when, issue.version + 1

    def due(self, when, category):
        """calendar.due_after, remembered: a deadline in working days depends only on the start's date."""
        if category.deadline_unit != DeadlineUnit.DAYS:
            return calendar.due_after(when, category.deadline, category.deadline_unit)
        key = (timezone.localtime(when).date(), category.deadline)
        if key not in self._due:
            self._due[key] = calendar.due_after(when, category.deadline, category.deadline_unit)
        return self._due[key]

    def cards(self, issue):
        """The supervision job's cards on an issue still in handling past its due time."""
        if issue.state != State.HANDLING or issue.due_at is None or issue.due_at >= self.now:
            return
        when = min(issue.due_at + datetime.timedelta(minutes=self.rng.randint(5, 55)), self.now)
        self.act(issue, "yellow_card", when)
        span = calendar.working_hours_between(issue.assigned_at, issue.due_at)
        red_at = calendar.due_after(issue.due_at, span * self.red_factor, DeadlineUnit.HOURS) if span else issue.due_at
        if red_at <= self.now:
            late = max(red_at, when) + datetime.timedelta(minutes=self.rng.randint(5, 55))
            self.act(issue, "red_card", min(late, self.now))

    def save(self):
        Issue.objects.bulk_create(self.issues, batch_size=2000)
        events = []
        for index, event in self.events:
            event.issue = self.issues[index]
            events.append(event)
        IssueEvent.objects.bulk_create(events, batch_size=2000)
        for month, last in self.counters.items():
            IssueCounter.objects.update_or_create(street=self.ctx.street, month=month, defaults={"last": last})


class _Generator:
    def __init__(self, street, *, seed, now, problem_rate, on_spot_share, done_share):
        self.ctx = _Street(street)
        self.rng = random.Random(f"{seed}:{street.code}:patrols")
        self.now, self.today = now, timezone.localtime(now).date()
        self.problem_rate, self.on_spot_share, self.done_share = problem_rate, on_spot_share, done_share
        self.ledger = _Ledger(self.ctx, self.rng, now)
        self.scenarios = {s.pk: s for s in Scenario.objects.prefetch_related("template__items", "categories")}
        self.seen_plans = set()
        self.counts = Counter()
        self.hot, self.chronic = {}, defaultdict(list)
        self.findings = []  # (patrol, issue, item, on_spot), saved once the issues have their ids

    # --- what goes wrong where -----------------------------------------------------------------

    def _allowed(self, scenario):
        allowed = [c.code for c in scenario.categories.all() if c.code in self.ctx.categories]
        return allowed or sorted(self.ctx.categories)

    def _category_for(self, scenario, item):
        allowed = self._allowed(scenario)
        preferred = [c for c in GROUP_CATEGORIES.get(item.group, ()) if c in allowed] if item else []
        return self.ctx.categories[self.rng.choice(preferred or allowed)]

    def plan_hot_spots(self, months):
        """Common problems on purpose: each month a category found in several compounds of one or
        two communities (the `spread` rule), and a few micro-grids where the same thing comes back
        month after month (the `repeat` rule)."""
        compound_scenarios = [s for s in self.scenarios.values() if s.active and Level.COMPOUND in (s.levels or ())]
        self.hot = {}
        communities = sorted(c for c in self.ctx.microgrids if self.ctx.level[c] == Level.COMMUNITY
                             and sum(1 for n, lv in self.ctx.level.items()
                                     if lv == Level.COMPOUND and self.ctx.community.get(n) == c) >= 3)
        for first in months:
            if not compound_scenarios or not communities:
                continue
            scen = compound_scenarios[0]
            for comm in self.rng.sample(communities, min(2, len(communities))):
                self.hot[(first, comm)] = self.ctx.categories[self.rng.choice(self._allowed(scen))]
        self.chronic = defaultdict(list)  # (month, compound) -> [(micro-grid, category)]
        grids = sorted(g for g, c in self.ctx.compound.items() if self.ctx.level[g] == Level.MICROGRID)
        if compound_scenarios and grids and len(months) >= 3:
            scen = compound_scenarios[0]
            for grid in self.rng.sample(grids, min(4, len(grids))):
                cat = self.ctx.categories[self.rng.choice(self._allowed(scen))]
                length = min(len(months), self.rng.choice((3, 4)))
                start = self.rng.randint(0, len(months) - length)
                for first in months[start:start + length]:
                    self.chronic[(first, self.ctx.compound[grid])].append((grid, cat))

    # --- patrols -------------------------------------------------------------------------------

    def walk(self, first, last, done_share):
        """Record the patrols of the plans whose period has begun by the end of this month."""
        yesterday = self.today - datetime.timedelta(days=1)
        plans = list(PatrolPlan.objects.filter(street=self.ctx.street, state=PlanState.PLANNED,
                                               period_start__lte=min(last, yesterday))
                     .exclude(pk__in=self.seen_plans).select_related("convener").order_by("pk"))
        walked = []
        for plan in plans:
            self.seen_plans.add(plan.pk)
            latest = min(plan.period_end, yesterday)  # patrols of today are still to be recorded
            if plan.period_start > latest:
                continue
            forced = plan.node_id in {c for (_m, c) in self.chronic if _m == first}
            keep_free = (first.month == self.today.month and first.year == self.today.year and self.ctx.first_leader
                         and self.ctx.first_leader in self.ctx.leaders_in.get(plan.node_id, ()))
            if keep_free or (not forced and self.rng.random() > done_share):
                continue
            walked.append(self._patrol(plan, first, latest))
        if not walked:
            return
        Patrol.objects.bulk_create([w[0] for w in walked], batch_size=2000)
        participants, results = [], []
        for patrol, people, answers, finds in walked:
            participants += [(patrol.pk, user, name, role) for user, name, role in people]
            results += [(patrol.pk, item, result, note) for item, (result, note) in answers.items()]
            self.findings += [(patrol, issue, item, on_spot) for issue, item, on_spot in finds]
        insert_rows(Participant, ("patrol", "user", "name", "role"), participants)
        insert_rows(ItemResult, ("patrol", "item", "result", "note"), results)
        PatrolPlan.objects.filter(pk__in=[w[0].plan_id for w in walked]).update(state=PlanState.DONE)
        self.counts["patrols"] += len(walked)

    def _patrol(self, plan, first, latest):
        ctx, rng = self.ctx, self.rng
        scenario = self.scenarios[plan.scenario_id]
        day = plan.planned_date + datetime.timedelta(days=rng.randint(-2, 4))
        day = min(max(day, plan.period_start), latest)
        leaders = [u for u in ctx.leaders_in.get(plan.node_id, ()) if ctx.a_posts[u][1] <= day]  # in post by then
        walkers = rng.sample(leaders, min(len(leaders), rng.randint(2, 4)))
        if ctx.first_leader in leaders and ctx.first_leader not in walkers:  # the demo's leader never misses one
            walkers[-1] = ctx.first_leader
        convener = plan.convener.user_id if plan.convener_id else ctx.secretary.get(plan.community_id)
        recorder = walkers[0] if walkers else convener
        people, seen = [], set()
        for user, role in [(recorder, Role.LEADER if walkers else Role.SECRETARY), (convener, Role.SECRETARY)] + [
                (u, Role.LEADER) for u in walkers[1:]]:
            if user in ctx.names and user not in seen:  # on the street's roster today
                seen.add(user)
                people.append((user, ctx.names[user], role))
        # A named outsider walks along: the property company's staff, or the residents' representative.
        org = ctx.serving.get(plan.node_id)
        if org is not None:
            people.append((None, person(rng), f"物业公司·{ctx.property_orgs[org]}"[:50]))
        elif ctx.level[plan.node_id] == Level.COMPOUND:
            people.append((None, person(rng), "村民代表" if ctx.kind[plan.node_id] == Kind.SETTLEMENT else "业主代表"))
        else:
            people.append((None, person(rng), rng.choice(OUTSIDERS_CARE)))

        settlement = ctx.kind.get(plan.node_id) == Kind.SETTLEMENT
        grids = ctx.microgrids.get(plan.node_id) or [plan.node_id]
        rate = self.problem_rate * (0.6 if ctx.level[plan.node_id] == Level.COMMUNITY else 1)
        answers, wanted = {}, []  # answers: {item id: [result, note]}; wanted: (item, category, grid)
        items = list(scenario.template.items.all())
        for item in items:
            if settlement and ("电梯" in item.text or "物业" in item.text):
                answers[item.pk] = [Result.NA, "无物业管理"]
            elif rng.random() < rate:
                wanted.append((item, self._category_for(scenario, item), rng.choice(grids)))
                answers[item.pk] = [Result.PROBLEM, ""]  # the note is the finding's, below
            else:
                answers[item.pk] = [Result.OK, ""]
        hot = self.hot.get((first, plan.community_id)) if ctx.level[plan.node_id] == Level.COMPOUND else None
        if hot is not None and rng.random() < 0.8 and all(c.pk != hot.pk for _i, c, _g in wanted):
            wanted.append((self._item_for(items, hot), hot, rng.choice(grids)))
        for grid, cat in self.chronic.get((first, plan.node_id), ()):
            wanted.append((self._item_for(items, cat), cat, grid))

        finds = []
        minute = rng.randint(0, 150)
        for item, cat, grid in wanted:
            text = rng.choice(PROBLEMS.get(cat.code) or ["发现问题需处理"])
            if item is not None:
                earlier = answers[item.pk][1] if answers[item.pk][0] == Result.PROBLEM else ""
                answers[item.pk] = [Result.PROBLEM, f"{earlier}；{text}"[:500] if earlier else text]
            when = min(_at(day, 9) + datetime.timedelta(minutes=minute), self.now - datetime.timedelta(minutes=30))
            minute += rng.randint(10, 40)
            issue = self.ledger.report(grid=grid, category=cat, when=when, reporter=recorder, description=text)
            on_spot = cat.code not in HIGH_PRIORITY and rng.random() < self.on_spot_share
            self._take_along(issue, plan, recorder, on_spot)
            finds.append((issue, item, on_spot))
        solved = sum(1 for f in finds if f[2])
        patrol = Patrol(plan_id=plan.pk, date=day, recorded_by_id=recorder, created_at=min(_at(day, 17), self.now),
                        note=f"联合开展{scenario.name}，发现问题{len(finds)}项，现场解决{solved}项。")
        return patrol, people, answers, finds

    @staticmethod
    def _item_for(items, category):
        return next((i for i in items if category.code in GROUP_CATEGORIES.get(i.group, ())), None)

    def _take_along(self, issue, plan, recorder, on_spot):
        """Walk the finding along a path of the workflow that fits its age."""
        ctx, rng = self.ctx, self.rng
        age = (self.now - issue.reported_at).days
        if on_spot:
            path = ["resolve_on_spot"]
            if age > 2 and rng.random() < 0.93:
                path.append("give_feedback")
                if age > 30 and rng.random() < 0.03:
                    path.append("reopen")
        else:
            table = PATHS_RECENT if age <= 7 else PATHS_MONTH if age <= 45 else PATHS_OLD
            path = rng.choices([p for _w, p in table], [w for w, _p in table])[0]
        # Gaps between actions, squeezed when the path would run past now.
        gaps = [rng.uniform(*GAPS[a]) for a in path]
        room = (self.now - issue.reported_at).total_seconds() / 3600 * 0.9
        if sum(gaps) > room:
            gaps = [g * room / sum(gaps) for g in gaps]
        community = plan.community_id
        secretary = ctx.secretary.get(community) or ctx.staff
        when = issue.reported_at
        for step, (action, gap) in enumerate(zip(path, gaps)):
            when += datetime.timedelta(hours=gap)
            data, actor, note = {}, recorder, ""
            if action == "resolve_on_spot":
                note = rng.choice(ON_SPOT_NOTES)
            elif action == "record":
                note = "巡查发现，登记入账"
            elif action == "assign":
                kind = issue.category.handler_kind
                org = ctx.serving.get(ctx.compound.get(issue.grid_id)) if kind == "property" else None
                if kind == "property" and org is None and ctx.property_orgs:
                    org = min(ctx.property_orgs)
                user = None
                if org is None or org not in ctx.org_staff:  # a person, when the company has no one on the roster
                    user = ctx.staff if kind == "street" else ctx.branch.get(community) or secretary
                data, actor = {"handler_org": org, "handler_user": user}, secretary
            elif action == "submit_done":
                actor = ctx.org_staff.get(issue.handler_org_id) or issue.handler_user_id
                note = "已按要求整改完毕"
            elif action in ("reject", "verify"):  # never the handler: another person checks the work
                done_by = {issue.handler_user_id, ctx.org_staff.get(issue.handler_org_id)}
                actor = next((u for u in (recorder, secretary, ctx.staff) if u not in done_by), recorder)
                note = "复核未整改到位，退回重办" if action == "reject" else ""
            elif action == "give_feedback":
                last = path[step + 1:step + 2] == ["reopen"]  # the resident's dissatisfaction reopens it
                satisfaction = "dissatisfied" if last else rng.choice(("satisfied",) * 3 + ("basically",))
                data = {"channel": rng.choice(("visit", "phone")), "satisfaction": satisfaction,
                        "text": "居民对处理结果不满意" if last else "已回访居民"}
            elif action == "reopen":
                actor, note = secretary, "居民不满意，重新办理"
            elif action == "refer_analysis":
                note = "涉及多方，提请联动分析"
                data = {"common": rng.random() < 0.4, "difficult": True}
            elif action == "escalate":
                actor, note = ctx.branch.get(community) or secretary, "提请联动处置"
            elif action == "declare_unresolvable":
                actor = secretary
                data = {"announcement": "因涉及规划调整暂无法解决，已向居民公告说明。"}
            self.ledger.act(issue, action, when, actor, note, **data)
        self.ledger.cards(issue)


def _work_logs(ctx, rng, months, today, per_month):
    """A few lines a month per leader; the demo's first leader and a few others are model leaders."""
    leaders = sorted(ctx.a_posts, key=lambda u: ctx.usernames[u])
    active = {ctx.first_leader} | {u for u in leaders if rng.random() < 0.03}
    rows = []
    tz = timezone.get_current_timezone()
    ops = connection.ops
    bounds = [(first, min(next_month(first) - datetime.timedelta(days=1), today)) for first in months]
    for leader in leaders:
        grid, start = ctx.a_posts[leader]
        extra = ctx.b_posts.get(leader, [])
        model = leader in active
        for first, last in bounds:
            lo = max(first, start)
            if lo > last:
                continue
            n = rng.randint(*ACTIVE_PER_MONTH) if model else rng.randint(0, 2 * per_month)
            span = (last - lo).days
            kinds = rng.choices(WORK_KINDS, ACTIVE_WEIGHTS if model else WORK_WEIGHTS, k=n)
            for kind in kinds:
                day = lo + datetime.timedelta(days=rng.randint(0, span))
                if day.weekday() >= 5 and rng.random() < 0.6:  # fewer on weekends
                    day = lo + datetime.timedelta(days=rng.randint(0, span))
                g = rng.choice(extra) if extra and rng.random() < 0.1 else grid
                homes = ctx.households.get(g)
                household = rng.choice(homes) if homes and kind in (WorkKind.HOME_VISIT, WorkKind.MEDIATION) else None
                created = datetime.datetime.combine(day, datetime.time(18, rng.randint(0, 59)), tzinfo=tz)
                rows.append((leader, kind, ops.adapt_datefield_value(day), g, ctx.street.pk, ctx.community[g],
                             household, None, rng.choice(WORK_NOTES[kind]), ops.adapt_datetimefield_value(created)))
    insert_rows(WorkLog, WORKLOG_COLUMNS, rows)
    return len(rows)


WORKLOG_COLUMNS = ("leader", "kind", "date", "grid", "street", "community", "household", "issue", "note", "created_at")


def report_months(*, street, months):
    """The monthly reports of `months` (first days) for the street: regenerated, never duplicated."""
    made = 0
    for first in months:
        made += _job(Job.REPORTS.value, first, street)["reports"]
    return made


def plan_months(*, street, months):
    """The plans of `months` for the street (idempotent, as the monthly job)."""
    return sum(_job(Job.PLANS.value, first, street)["created"] for first in months)


def _job(job, first, street):
    """A monthly job for the street through common.jobs, so that the admin's job runs show it."""
    return jobs.run(job, month=month_label(first), node=street, trigger=DEMO_TRIGGER).result


def build_patrols(*, street, months=12, seed=2023, worklogs_per_leader_month=2, problem_rate=0.1,
                  on_spot_share=0.45, done_share=0.88, current_done_share=0.5, reports=True):
    """The past `months` of joint patrols of `street`, its leaders' work logs, the monthly reports and
    this month's plans. The activity is generated once: on a street that has patrols or work logs
    already, only the (idempotent) plan and report steps run again. Returns counts."""
    now = timezone.now()
    today = timezone.localtime(now).date()
    current = today.replace(day=1)
    past = months_back(current, months)
    counts = Counter()
    with tree_lock(shared=True):
        fresh = not Patrol.objects.filter(plan__street=street).exists()
        gen = _Generator(street, seed=seed, now=now, problem_rate=problem_rate, on_spot_share=on_spot_share,
                         done_share=done_share)
        if fresh:
            gen.plan_hot_spots(past + [current])
        for first in past + [current]:
            last = next_month(first) - datetime.timedelta(days=1)
            # Each month as the beat would run it: its plans (last month's unwalked ones become missed) ...
            counts["plans"] += _job(Job.PLANS.value, first, street)["created"]
            if fresh:  # ... and the patrols walked during it.
                gen.walk(first, last, current_done_share if first == current else done_share)
        if fresh:
            gen.ledger.save()
            Finding.objects.bulk_create(
                [Finding(patrol=p, issue=i, item=item, on_spot=s) for p, i, item, s in gen.findings], batch_size=2000)
            counts["issues"] = len(gen.ledger.issues)
            counts["patrols"] = gen.counts["patrols"]
        if not WorkLog.objects.filter(street=street).exists():
            counts["worklogs"] = _work_logs(gen.ctx, gen.rng, past + [current], today, worklogs_per_leader_month)
    if reports:
        counts["reports"] = report_months(street=street, months=past)
    return dict(counts)


def build_demo_patrols(street):
    return build_patrols(street=street)
