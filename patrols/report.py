"""The monthly report's content: joint handling (联动处理) of what patrols found, and joint analysis
(联动分析) of the common and difficult problems. Pure reads, a handful of aggregate queries whatever
the size of the ledger; `services.report_generate` stores the result.

The report is a snapshot: states, handlers and cards are those at the time it is generated.
"""

import datetime
from collections import defaultdict

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from grid.models import GridNode, Level
from issues.models import OPEN_STATES, Issue, IssueEvent, Source, State, Supervision

from .models import PatrolPlan, PlanState

# Not yet solved: resolved and unresolvable issues wait only for the resident's feedback.
UNSOLVED = (State.REPORTED, State.RECORDED, State.HANDLING, State.VERIFYING, State.ANALYSIS, State.DISPOSAL)


def thresholds():
    return {
        "microgrids": settings.PATROL_COMMON_MICROGRIDS,
        "repeats": settings.PATROL_COMMON_REPEATS,
        "repeat_months": settings.PATROL_COMMON_MONTHS,
        "stale_days": settings.PATROL_DIFFICULT_DAYS,
    }


def _month_bounds(first, months_back=0):
    tz = timezone.get_current_timezone()
    start = first
    for _ in range(months_back):
        start = (start - datetime.timedelta(days=1)).replace(day=1)
    end = (first.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return (datetime.datetime.combine(start, datetime.time(), tzinfo=tz),
            datetime.datetime.combine(end, datetime.time(), tzinfo=tz))


def _in_node(node):
    if node.level == Level.STREET:
        return Q(street_id=node.pk)
    return Q(community_id=node.pk)


def _iso(value):
    return timezone.localtime(value).isoformat(timespec="minutes") if value else None


# The columns a listed issue is read with: plain values, not model instances (a street's lists run to
# thousands of rows, and building Issue objects with three related ones was most of the report's time).
ROW_FIELDS = ("id", "number", "title", "state", "category__name", "grid_id", "grid__name", "community_id",
              "community__name", "handler_org__name",
              "handler_user_id", "handler_user__name", "handler_user__username", "due_at", "reported_at",
              "supervision", "reopen_count", "difficult")


def _row(issue):
    """An issue (a dict of ROW_FIELDS) as the report lists it."""
    handler = issue["handler_org__name"] or ""
    if issue["handler_user_id"]:
        person = issue["handler_user__name"] or issue["handler_user__username"]
        handler = f"{handler} · {person}" if handler else person
    return {
        "id": issue["id"], "number": issue["number"], "title": issue["title"], "state": issue["state"],
        "category": issue["category__name"], "grid": issue["grid__name"], "grid_id": issue["grid_id"],
        "community": issue["community__name"] or "", "community_id": issue["community_id"],
        "handler": handler, "due_at": _iso(issue["due_at"]), "reported_at": _iso(issue["reported_at"]),
        "supervision": issue["supervision"],
    }


def _names(ids):
    return dict(GridNode.objects.filter(pk__in=set(ids) - {None}).values_list("pk", "name"))


def handling(node, first, now):
    start, end = _month_bounds(first)
    scope = Issue.objects.filter(_in_node(node), source=Source.PATROL)
    found = scope.filter(reported_at__gte=start, reported_at__lt=end)
    by_state = dict(found.values_list("state").annotate(n=Count("id")).order_by())
    by_category = [
        {"category": c, "name": name, "count": n}
        for c, name, n in found.values_list("category_id", "category__name").annotate(n=Count("id")).order_by("-n", "category__name")
    ]
    # Per found issue through the (issue, created_at) index: the month's findings are few, the ledger's
    # resolve_on_spot events many.
    on_spot = found.filter(Exists(IssueEvent.objects.filter(issue=OuterRef("pk"), action="resolve_on_spot"))).count()
    # Still open: the month's findings and those of earlier months that are not closed yet.
    open_qs = (scope.filter(reported_at__lt=end, state__in=OPEN_STATES, merged_into__isnull=True)
               .order_by("due_at", "reported_at", "id").values(*ROW_FIELDS))
    open_rows = list(open_qs)
    open_list = [_row(i) for i in open_rows]
    overdue = [r for r, i in zip(open_list, open_rows)
               if i["state"] == State.HANDLING and i["due_at"] and i["due_at"] < now]
    return {
        "found": sum(by_state.values()),
        "by_state": {s: by_state.get(s, 0) for s in State.values},
        "by_category": by_category,
        "solved_on_spot": on_spot,
        "open": open_list,
        "overdue": overdue,
    }


def common(node, first):
    """The same category in at least N micro-grids of a community in the month (`spread`), or at
    least M times at the same node within the last K months (`repeat`)."""
    t = thresholds()
    start, end = _month_bounds(first)
    live = Issue.objects.filter(_in_node(node), merged_into__isnull=True)
    out = []
    spread = (live.filter(reported_at__gte=start, reported_at__lt=end, grid__level=Level.MICROGRID)
              .values("community_id", "category_id", "category__name")
              .annotate(microgrids=Count("grid_id", distinct=True), issues=Count("id"))
              .filter(microgrids__gte=t["microgrids"]).order_by("-microgrids", "community_id", "category_id"))
    spread = list(spread)
    rstart, _rend = _month_bounds(first, t["repeat_months"] - 1)
    repeat = list(
        live.filter(reported_at__gte=rstart, reported_at__lt=end)
        .values("grid_id", "community_id", "category_id", "category__name")
        .annotate(issues=Count("id")).filter(issues__gte=t["repeats"]).order_by("-issues", "grid_id", "category_id")
    )
    names = _names([r["community_id"] for r in spread + repeat] + [r["grid_id"] for r in repeat])
    for r in spread:
        out.append({"rule": "spread", "category": r["category_id"], "category_name": r["category__name"],
                    "community": names.get(r["community_id"], ""), "community_id": r["community_id"],
                    "microgrids": r["microgrids"], "issues": r["issues"]})
    for r in repeat:
        out.append({"rule": "repeat", "category": r["category_id"], "category_name": r["category__name"],
                    "community": names.get(r["community_id"], ""), "community_id": r["community_id"],
                    "grid": names.get(r["grid_id"], ""), "grid_id": r["grid_id"], "issues": r["issues"]})
    return out


def difficult(node, first):
    """Unsolved issues past a red card, reopened, referred or escalated, flagged difficult, or
    unsolved for more than N days at the month's end."""
    t = thresholds()
    _start, end = _month_bounds(first)
    stale_before = end - datetime.timedelta(days=t["stale_days"])
    reasons = {
        "red_card": Q(supervision=Supervision.RED),
        "reopened": Q(reopen_count__gt=0),
        "escalated": Q(state__in=(State.ANALYSIS, State.DISPOSAL)),
        "flagged": Q(difficult=True),
        "stale": Q(reported_at__lt=stale_before),
    }
    any_reason = Q()
    for q in reasons.values():
        any_reason |= q
    rows = list(
        Issue.objects.filter(_in_node(node), reported_at__lt=end, state__in=UNSOLVED, merged_into__isnull=True)
        .filter(any_reason).order_by("reported_at", "id").values(*ROW_FIELDS)
    )
    out = []
    for i in rows:
        row = _row(i)
        row["reasons"] = [name for name, hit in (
            ("red_card", i["supervision"] == Supervision.RED), ("reopened", i["reopen_count"] > 0),
            ("escalated", i["state"] in (State.ANALYSIS, State.DISPOSAL)), ("flagged", i["difficult"]),
            ("stale", i["reported_at"] < stale_before),
        ) if hit]
        out.append(row)
    return out


def patrols(node, first):
    start, end = _month_bounds(first)
    last = end.date() - datetime.timedelta(days=1)
    plans = PatrolPlan.objects.filter(_in_node(node), period_start__lte=last, period_end__gte=first)
    counts = dict(plans.values_list("state").annotate(n=Count("id")).order_by())
    return {"plans": sum(counts.values()), **{s: counts.get(s, 0) for s in PlanState.values}}


def build(node, first):
    """The whole report of `node` (a community, or a street's roll-up) for the month starting `first`."""
    now = timezone.now()
    data = {
        "node": {"id": node.pk, "code": node.code, "name": node.name, "level": node.level},
        "month": f"{first:%Y-%m}",
        "patrols": patrols(node, first),
        "handling": handling(node, first, now),
        "analysis": {"common": common(node, first), "difficult": difficult(node, first)},
        "thresholds": thresholds(),
    }
    if node.level == Level.STREET:
        data["communities"] = _communities(node, data)
    return data


def _communities(street, data):
    """One line per community of the roll-up, from the street's own lists (no more queries per community)."""
    per = defaultdict(lambda: {"open": 0, "overdue": 0, "common": 0, "difficult": 0})
    communities = list(GridNode.objects.filter(tree_id=street.tree_id, level=Level.COMMUNITY).order_by("code"))
    for key in ("open", "overdue"):
        for row in data["handling"][key]:
            per[row["community_id"]][key] += 1
    for key in ("common", "difficult"):
        for row in data["analysis"][key]:
            per[row["community_id"]][key] += 1
    start, end = _month_bounds(datetime.date.fromisoformat(data["month"] + "-01"))
    found = dict(
        Issue.objects.filter(street_id=street.pk, source=Source.PATROL, reported_at__gte=start, reported_at__lt=end)
        .values_list("community_id").annotate(n=Count("id")).order_by()
    )
    return [{"id": c.pk, "name": c.name, "found": found.get(c.pk, 0), **per[c.pk]} for c in communities]
