"""A plausible ledger for a demo street: issues spread over a year, in every state, with their events.

Bulk inserts (the services' rules are kept by construction: numbers per street and month continue in
IssueCounter, scope columns come from the tree, every issue has its events). Used by the benchmarks
and, with a smaller count, by the demo."""

import datetime
import random
from collections import Counter

from django.db import transaction
from django.utils import timezone

from grid import access
from grid.models import GridNode, Level, OrgKind, Organisation

from .models import Category, Issue, IssueCounter, IssueEvent, Source, State, Supervision
from .services import TRACKING_ALPHABET

# Share of issues per final state, and the path of actions that leads there.
PATHS = [
    (0.30, ["report", "resolve_on_spot", "give_feedback"], State.CLOSED),
    (0.30, ["report", "record", "assign", "submit_done", "verify", "give_feedback"], State.CLOSED),
    (0.05, ["report"], State.REPORTED),
    (0.05, ["report", "record"], State.RECORDED),
    (0.15, ["report", "record", "assign"], State.HANDLING),
    (0.04, ["report", "record", "assign", "submit_done"], State.VERIFYING),
    (0.03, ["report", "record", "refer_analysis"], State.ANALYSIS),
    (0.02, ["report", "record", "assign", "escalate"], State.DISPOSAL),
    (0.05, ["report", "record", "assign", "submit_done", "verify"], State.RESOLVED),
    (0.01, ["report", "record", "assign", "escalate", "declare_unresolvable"], State.UNRESOLVABLE),
]
STATES_AFTER = {
    "report": State.REPORTED, "resolve_on_spot": State.RESOLVED, "record": State.RECORDED,
    "assign": State.HANDLING, "submit_done": State.VERIFYING, "verify": State.RESOLVED,
    "refer_analysis": State.ANALYSIS, "escalate": State.DISPOSAL, "declare_unresolvable": State.UNRESOLVABLE,
    "give_feedback": State.CLOSED,
}
DESCRIPTIONS = ["楼道灯不亮", "单元门禁损坏", "垃圾清运不及时", "绿化带杂草丛生", "下水道堵塞", "电动车楼道充电",
                "邻居装修噪声", "路面破损积水", "外墙瓷砖脱落", "消防通道被占用", "宠物扰民", "代办社保认证"]


# Patrol findings come with their patrol record (patrols.demo); the ledger's own issues arrive otherwise.
SOURCES = [s for s in Source.values if s != Source.PATROL]


def build_issues(*, street, count, seed=2023, days=365, batch=5000):
    rng = random.Random(f"{seed}:{street.code}:{count}")
    nodes = GridNode.objects.filter(access.subtree_q(street))
    communities = list(nodes.filter(level=Level.COMMUNITY))
    community_of = {g.pk: next(c.pk for c in communities if access.within(c, g)) for g in nodes.filter(level=Level.MICROGRID)}
    grids = list(community_of)
    categories = list(Category.objects.filter(active=True))
    orgs = list(Organisation.objects.filter(street=street, kind=OrgKind.PROPERTY).values_list("pk", flat=True))
    weights = [w for w, _, _ in PATHS]
    now = timezone.now()
    counters = Counter({c.month: c.last for c in IssueCounter.objects.filter(street=street)})
    made = 0
    with transaction.atomic():
        while made < count:
            n = min(batch, count - made)
            issues, paths = [], []
            for _ in range(n):
                weight, path, state = rng.choices(PATHS, weights)[0]
                reported = now - datetime.timedelta(seconds=rng.randint(0, days * 86400))
                month = timezone.localtime(reported).strftime("%Y%m")
                counters[month] += 1
                grid = rng.choice(grids)
                cat = rng.choice(categories)
                assigned = reported + datetime.timedelta(hours=rng.randint(1, 48)) if "assign" in path else None
                due = assigned + datetime.timedelta(days=5) if assigned else None
                text = rng.choice(DESCRIPTIONS)
                issues.append(Issue(
                    number=f"{street.code}-{month}-{counters[month]:05d}",
                    tracking_code="".join(rng.choice(TRACKING_ALPHABET) for _ in range(10)),
                    title=f"{cat.name}：{text}", description=text, category=cat, grid_id=grid, street=street,
                    community_id=community_of[grid], source=rng.choice(SOURCES), state=state,
                    handler_org_id=rng.choice(orgs) if assigned and orgs else None, assigned_at=assigned, due_at=due,
                    supervision=Supervision.YELLOW if state == State.HANDLING and due and due < now and rng.random() < 0.5 else Supervision.NONE,
                    announcement="因规划原因暂无法解决，详见公告。" if state == State.UNRESOLVABLE else "",
                    announced_at=reported + datetime.timedelta(days=20) if state == State.UNRESOLVABLE else None,
                    reported_at=reported, updated_at=reported, closed_at=reported + datetime.timedelta(days=3) if state == State.CLOSED else None,
                ))
                paths.append(path)
            Issue.objects.bulk_create(issues, batch_size=batch)
            events = []
            for issue, path in zip(issues, paths):
                previous, when = "", issue.reported_at
                for action in path:
                    to = STATES_AFTER[action]
                    data = {"satisfaction": rng.choice(("satisfied", "satisfied", "basically", "dissatisfied")),
                            "channel": "visit", "text": "已回访"} if action == "give_feedback" else {}
                    events.append(IssueEvent(issue=issue, action=action, from_state=previous, to_state=to,
                                             created_at=when, data=data))
                    previous, when = to, when + datetime.timedelta(hours=rng.randint(1, 30))
                if issue.supervision == Supervision.YELLOW:  # each card is an event, as the job writes it
                    events.append(IssueEvent(issue=issue, action="yellow_card", from_state=State.HANDLING,
                                             to_state=State.HANDLING, created_at=issue.due_at))
            IssueEvent.objects.bulk_create(events, batch_size=batch)
            made += n
        for month, last in counters.items():
            IssueCounter.objects.update_or_create(street=street, month=month, defaults={"last": last})
    return made


DEMO_ISSUES = 3000  # about a year of a street's ledger at Jinyuan's pace


def build_demo_ledger(street):
    return build_issues(street=street, count=DEMO_ISSUES)
