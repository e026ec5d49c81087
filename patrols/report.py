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


class Facts:
    """Everything the reports of a street (or one community) for a month read, in a fixed number of
    grouped queries; `report(community)` cuts out one community's report, `report(None)` the whole.
    The street's 15 community reports and its roll-up thus cost the queries of one."""

    def __init__(self, node, first, now):
        t = self.thresholds = thresholds()
        self.node, self.first, self.now = node, first, now
        start, end = _month_bounds(first)
        last = end.date() - datetime.timedelta(days=1)
        ledger = Issue.objects.filter(_in_node(node))
        patrol = ledger.filter(source=Source.PATROL)
        found = patrol.filter(reported_at__gte=start, reported_at__lt=end)
        self.found = list(found.values_list("community_id", "state", "category_id", "category__name")
                          .annotate(n=Count("id")).order_by())
        # Per found issue through the (issue, created_at) index: the month's findings are few, the
        # ledger's resolve_on_spot events many.
        self.on_spot = dict(
            found.filter(Exists(IssueEvent.objects.filter(issue=OuterRef("pk"), action="resolve_on_spot")))
            .values_list("community_id").annotate(n=Count("id")).order_by()
        )
        # Still open: the month's findings and those of earlier months that are not closed yet.
        self.open = [
            (i["community_id"], i["state"] == State.HANDLING and i["due_at"] is not None and i["due_at"] < now, _row(i))
            for i in patrol.filter(reported_at__lt=end, state__in=OPEN_STATES, merged_into__isnull=True)
            .order_by("due_at", "reported_at", "id").values(*ROW_FIELDS)
        ]
        live = ledger.filter(merged_into__isnull=True)
        self.spread = list(
            live.filter(reported_at__gte=start, reported_at__lt=end, grid__level=Level.MICROGRID)
            .values("community_id", "category_id", "category__name")
            .annotate(microgrids=Count("grid_id", distinct=True), issues=Count("id"))
            .filter(microgrids__gte=t["microgrids"]).order_by("-microgrids", "community_id", "category_id")
        )
        rstart, _rend = _month_bounds(first, t["repeat_months"] - 1)
        self.repeat = list(
            live.filter(reported_at__gte=rstart, reported_at__lt=end)
            .values("grid_id", "community_id", "category_id", "category__name")
            .annotate(issues=Count("id")).filter(issues__gte=t["repeats"]).order_by("-issues", "grid_id", "category_id")
        )
        self.names = _names([r["community_id"] for r in self.spread + self.repeat] + [r["grid_id"] for r in self.repeat])
        stale_before = end - datetime.timedelta(days=t["stale_days"])
        any_reason = (Q(supervision=Supervision.RED) | Q(reopen_count__gt=0) | Q(state__in=(State.ANALYSIS, State.DISPOSAL))
                      | Q(difficult=True) | Q(reported_at__lt=stale_before))
        self.difficult = []
        for i in (ledger.filter(reported_at__lt=end, state__in=UNSOLVED, merged_into__isnull=True).filter(any_reason)
                  .order_by("reported_at", "id").values(*ROW_FIELDS)):
            row = _row(i)
            row["reasons"] = [name for name, hit in (
                ("red_card", i["supervision"] == Supervision.RED), ("reopened", i["reopen_count"] > 0),
                ("escalated", i["state"] in (State.ANALYSIS, State.DISPOSAL)), ("flagged", i["difficult"]),
                ("stale", i["reported_at"] < stale_before),
            ) if hit]
            self.difficult.append(row)
        self.plans = list(
            PatrolPlan.objects.filter(_in_node(node), period_start__lte=last, period_end__gte=first)
            .values_list("community_id", "state").annotate(n=Count("id")).order_by()
        )

    def handling(self, c):
        by_state, by_category = defaultdict(int), {}
        for community, state, category, name, n in self.found:
            if c is None or community == c:
                by_state[state] += n
                by_category.setdefault(category, {"category": category, "name": name, "count": 0})["count"] += n
        rows = [(overdue, row) for community, overdue, row in self.open if c is None or community == c]
        return {
            "found": sum(by_state.values()),
            "by_state": {s: by_state.get(s, 0) for s in State.values},
            "by_category": sorted(by_category.values(), key=lambda r: (-r["count"], r["name"])),
            "solved_on_spot": sum(n for community, n in self.on_spot.items() if c is None or community == c),
            "open": [row for _overdue, row in rows],
            "overdue": [row for overdue, row in rows if overdue],
        }

    def common(self, c):
        names = self.names
        out = [{"rule": "spread", "category": r["category_id"], "category_name": r["category__name"],
                "community": names.get(r["community_id"], ""), "community_id": r["community_id"],
                "microgrids": r["microgrids"], "issues": r["issues"]}
               for r in self.spread if c is None or r["community_id"] == c]
        out += [{"rule": "repeat", "category": r["category_id"], "category_name": r["category__name"],
                 "community": names.get(r["community_id"], ""), "community_id": r["community_id"],
                 "grid": names.get(r["grid_id"], ""), "grid_id": r["grid_id"], "issues": r["issues"]}
                for r in self.repeat if c is None or r["community_id"] == c]
        return out

    def patrols(self, c):
        counts = defaultdict(int)
        for community, state, n in self.plans:
            if c is None or community == c:
                counts[state] += n
        return {"plans": sum(counts.values()), **{s: counts.get(s, 0) for s in PlanState.values}}

    def report(self, node):
        """The report of `node`: the node the facts were read for, or one of its communities."""
        c = None if node.pk == self.node.pk and node.level == Level.STREET else node.pk
        data = {
            "node": {"id": node.pk, "code": node.code, "name": node.name, "level": node.level},
            "month": f"{self.first:%Y-%m}",
            "patrols": self.patrols(c),
            "handling": self.handling(c),
            "analysis": {"common": self.common(c),
                         "difficult": [r for r in self.difficult if c is None or r["community_id"] == c]},
            "thresholds": self.thresholds,
        }
        if node.level == Level.STREET:
            data["communities"] = self._communities(node, data)
        return data

    def _communities(self, street, data):
        """One line per community of the roll-up, from the street's own lists."""
        per = defaultdict(lambda: {"found": 0, "open": 0, "overdue": 0, "common": 0, "difficult": 0})
        for community, _state, _category, _name, n in self.found:
            per[community]["found"] += n
        for key, rows in (("open", data["handling"]["open"]), ("overdue", data["handling"]["overdue"]),
                          ("common", data["analysis"]["common"]), ("difficult", data["analysis"]["difficult"])):
            for row in rows:
                per[row["community_id"]][key] += 1
        communities = GridNode.objects.filter(tree_id=street.tree_id, level=Level.COMMUNITY).order_by("code")
        return [{"id": pk, "name": name, **per[pk]} for pk, name in communities.values_list("pk", "name")]


def build(node, first):
    """The whole report of `node` (a community, or a street's roll-up) for the month starting `first`."""
    return Facts(node, first, timezone.now()).report(node)
