"""The demo street's incentives: the points its past year earned (from the patrols, work logs and
on-the-spot resolutions the other demo steps made), a rewards catalogue with a few redemptions, the
350,000-yuan expense fund with its claims, last year's honours and the Spring Festival care visits.

Points are built in bulk by the same rules the handlers apply (same source keys, the monthly caps in
order of time), so a later `handlers.replay()` finds nothing to add and `reconcile_points` holds."""

import datetime
import random
from collections import defaultdict
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from common.periods import month_label
from grid import access
from grid.demo import insert_rows
from grid.models import GridNode, Level, Role, RoleAssignment
from issues.models import IssueEvent
from patrols.models import Participant, WorkLog

from . import selectors, services
from .handlers import SOLVING, WORK_RULES
from .models import Account, CareVisit, ClaimKind, Entry, ExpenseClaim, Fund, PointRule

REWARDS = [  # (name, cost, stock)
    ("洗衣液（2kg）", 30, 200), ("食用油（5L）", 80, 120), ("大米（10kg）", 100, 100), ("保温杯", 60, 80),
    ("家政服务一次", 150, 30), ("体检套餐", 300, 20),
]


def _earned(street):
    """(time, user id, rule code, source) of everything the handlers would award or deduct in the
    street, with the handlers' own source keys and choice of person."""
    out = []
    for pk, kind, leader, date in WorkLog.objects.filter(street=street, kind__in=list(WORK_RULES)).values_list(
            "pk", "kind", "leader_id", "date"):
        rule = WORK_RULES[kind]
        out.append((_noon(date), leader, rule, f"worklog:{pk}:{rule}"))
    for patrol_id, user_id, date in Participant.objects.filter(patrol__plan__street=street, user__isnull=False).values_list(
            "patrol_id", "user_id", "patrol__date"):
        out.append((_noon(date), user_id, "patrol_attended", f"patrol:{patrol_id}:attended:{user_id}"))
    events = IssueEvent.objects.filter(issue__street=street)
    solving = defaultdict(list)  # issue → [(time, event id, actor)]
    for issue_id, pk, actor, when in events.filter(action__in=SOLVING).values_list("issue_id", "pk", "actor_id", "created_at"):
        solving[issue_id].append((when, pk, actor))

    def solver(issue_id, event_id):  # as handlers._solver_id: the last solving event before this one
        before = [s for s in solving.get(issue_id, ()) if s[1] < event_id]
        return max(before)[2] if before else None

    for issue_id, pk, action, actor, when, data, handler, reporter, target_reporter in events.filter(
            action__in=("resolve_on_spot", "give_feedback", "reopen", "red_card", "merge")).values_list(
            "issue_id", "pk", "action", "actor_id", "created_at", "data", "issue__handler_user_id",
            "issue__reporter_id", "issue__merged_into__reporter_id"):
        key = f"issue:{issue_id}:{{}}:{pk}"
        if action == "resolve_on_spot":
            out.append((when, actor, "resolved_on_spot", key.format("resolved_on_spot")))
        elif action == "give_feedback" and (data or {}).get("satisfaction") == "satisfied":
            out.append((when, solver(issue_id, pk), "closed_satisfied", key.format("closed_satisfied")))
        elif action == "reopen":
            out.append((when, solver(issue_id, pk), "reopened", key.format("reopened")))
        elif action == "red_card":
            out.append((when, handler, "red_card", key.format("red_card")))
        elif action == "merge" and reporter and reporter == target_reporter:
            out.append((when, reporter, "duplicate_own_report", key.format("duplicate_own_report")))
    return sorted(o for o in out if o[1] is not None)


def _noon(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(18, 0)))


def build_points(street):
    """Bulk entries with the rules' caps, month by month in order of time, and the balances they sum to."""
    rules = {r.code: r for r in PointRule.objects.filter(active=True)}
    taken = set(Entry.objects.values_list("source", flat=True))
    used = defaultdict(int)  # (user, rule, month) → points so far
    per_user = defaultdict(list)
    balance = defaultdict(int)
    for when, user, code, source in _earned(street):
        rule = rules.get(code)
        if rule is None or source in taken:
            continue
        points = rule.points
        key = (user, code, month_label(timezone.localtime(when)))
        if rule.monthly_cap:  # as services.points_award: the cap bounds the month's points either way
            room = rule.monthly_cap - used[key]
            if room <= 0:
                continue
            points = min(points, room) if points > 0 else max(points, -room)
        if points < 0:  # a penalty takes no more than the balance holds
            points = max(points, -balance[user])
            if points == 0:
                continue
        used[key] += abs(points)
        balance[user] += points
        taken.add(source)
        per_user[user].append((points, rule.pk, source, when))
    existing = set(Account.objects.filter(user_id__in=per_user).values_list("user_id", flat=True))
    Account.objects.bulk_create([Account(user_id=u) for u in per_user if u not in existing], batch_size=2000)
    accounts = dict(Account.objects.filter(user_id__in=per_user).values_list("user_id", "pk"))
    ops = connection.ops
    entries = [(accounts[user], points, rule_id, source, ops.adapt_datetimefield_value(when), "")
               for user, rows in per_user.items() for points, rule_id, source, when in rows]
    insert_rows(Entry, ("account", "points", "rule", "source", "created_at", "note"), entries)
    for user, rows in per_user.items():
        Account.objects.filter(pk=accounts[user]).update(balance=F("balance") + sum(r[0] for r in rows))
    return len(entries)


def build_incentives(*, street, seed=2023):
    rng = random.Random(f"{seed}:{street.code}:incentives")
    today = timezone.localdate()
    staff = RoleAssignment.objects.active().filter(node=street, role=Role.STREET_STAFF).select_related("user").first()
    if staff is None:
        return 0
    staff = staff.user
    with transaction.atomic():
        made = build_points(street)
        rewards = [services.reward_save(actor=staff, node=street, name=name, cost=cost, stock=stock, active=True)
                   for name, cost, stock in REWARDS]
        # Some of the best-earning leaders have already spent points; a few redemptions wait to be handed over.
        rich = list(Account.objects.filter(access.same_street_q(street, "user__roles__node"), balance__gte=100)
                    .select_related("user").distinct().order_by("-balance", "id")[:40])
        for i, account in enumerate(rich):
            reward = rewards[i % 4]
            r = services.reward_redeem(actor=account.user, reward_id=reward.pk, quantity=1)
            if i % 3:
                services.redemption_fulfil(actor=staff, redemption_id=r.pk)

        # The fund the street raised (35万元) for meals, travel and duty, with this year's claims.
        fund = services.fund_save(actor=staff, node=street, name=f"{today.year}年微网格长保障金",
                                  budget=Decimal("350000.00"), starts_on=today.replace(month=1, day=1),
                                  ends_on=today.replace(month=12, day=31))
        leaders = list(RoleAssignment.objects.active().filter(access.same_street_q(street, "node"), role=Role.LEADER,
                                                               post="A").select_related("node")[:300])
        communities = list(GridNode.objects.filter(access.same_street_q(street), level=Level.COMMUNITY))
        claims, approved, paid = [], Decimal("0"), Decimal("0")
        for line in leaders:
            user_id, grid_id = line.user_id, line.node_id
            community = next(c.pk for c in communities if access.within(c, line.node))
            day = today - datetime.timedelta(days=rng.randint(0, (today - fund.starts_on).days))
            kind = rng.choice([ClaimKind.MEAL, ClaimKind.MEAL, ClaimKind.TRAVEL, ClaimKind.DUTY])
            amount = Decimal(rng.choice([15, 20, 25, 30, 45, 60, 80])).quantize(Decimal("0.01"))
            state = rng.choices([ExpenseClaim.State.PAID, ExpenseClaim.State.APPROVED, ExpenseClaim.State.SUBMITTED,
                                 ExpenseClaim.State.REJECTED], [0.6, 0.15, 0.2, 0.05])[0]
            if state in (ExpenseClaim.State.APPROVED, ExpenseClaim.State.PAID):
                approved += amount
            if state == ExpenseClaim.State.PAID:
                paid += amount
            decided = state != ExpenseClaim.State.SUBMITTED
            claims.append(ExpenseClaim(
                fund=fund, leader_id=user_id, grid_id=grid_id, street=street, community_id=community, kind=kind,
                amount=amount, date=day, note="", state=state, submitted_at=_noon(day),
                decided_at=_noon(day) + datetime.timedelta(days=2) if decided else None,
                decided_by=staff if decided else None,
                decision_note="票据不全" if state == ExpenseClaim.State.REJECTED else "",
                paid_at=_noon(day) + datetime.timedelta(days=7) if state == ExpenseClaim.State.PAID else None,
            ))
        ExpenseClaim.objects.bulk_create(claims, batch_size=2000)
        Fund.objects.filter(pk=fund.pk).update(approved=approved, paid=paid)

        # Last year's honours from its ranking, and this year's Spring Festival visits to the best leaders.
        last_year = str(today.year - 1)
        top = selectors.rankings(street, last_year, "points", limit=5)
        people = get_user_model().objects.in_bulk([r["user"] for r in top])
        for row in top:
            services.honour_create(actor=staff, title="优秀微网格长", period=last_year, person=people[row["user"]],
                                   node=street, citation=f"{last_year}年度获微光粒积分{row['value']}分，排名全街道第{row['rank']}。")
        visit_day = datetime.date(today.year, 2, 10) if today >= datetime.date(today.year, 2, 10) else today
        visits = [CareVisit(date=visit_day, visitor=staff, leader_id=line.user_id, node=street, street=street,
                            occasion="春节", gift="米、油和慰问信") for line in leaders[:60]]
        CareVisit.objects.bulk_create(visits)
    return made


def build_demo_incentives(street):
    return build_incentives(street=street)
