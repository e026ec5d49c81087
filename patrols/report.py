"""The monthly report's content: joint handling (联动处理) of what patrols found, and joint analysis
(联动分析) of the common and difficult problems. Pure reads, a handful of aggregate queries whatever
the size of the ledger; `services.report_generate` stores the result.

The report is a snapshot: states, handlers and cards are those at the time it is generated. The
stored content (MonthlyReport.data) is read back through one function, `snapshot(report)`, which
every reader calls (the admin, the phone and print pages, the API and the workbook).
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field, fields

from django.conf import settings
from django.db.models import Count, Exists, Func, IntegerField, OuterRef, Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone
from django.utils.translation import gettext_lazy, pgettext_lazy

from common.periods import month_bounds
from grid import access
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


def _in_node(node, model, via):
    """Rows of `model` in the street or community `node` (its street/community columns)."""
    return access.subtree_q(node, via, model)


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
        start, end = month_bounds(first)
        last = end.date() - datetime.timedelta(days=1)
        ledger = Issue.objects.filter(_in_node(node, Issue, "grid"))
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
        rstart, _rend = month_bounds(first, t["repeat_months"] - 1)
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
            PatrolPlan.objects.filter(_in_node(node, PatrolPlan, "node"), period_start__lte=last, period_end__gte=first)
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
        communities = GridNode.objects.filter(access.same_street_q(street), level=Level.COMMUNITY).order_by("code")
        return [{"id": pk, "name": name, **per[pk]} for pk, name in communities.values_list("pk", "name")]


def build(node, first):
    """The whole report of `node` (a community, or a street's roll-up) for the month starting `first`."""
    return Facts(node, first, timezone.now()).report(node)


# --- reading a stored report back ---------------------------------------------------------------
# MonthlyReport.data is written by `Facts.report` above and read only by `snapshot` below: the admin,
# the phone and print pages, the API and the workbook all take the typed Snapshot it returns, with
# every key present (an older snapshot lacking one reads as empty) and times as aware datetimes.

# Why a problem is difficult, and why one is common: the labels every reader shows.
REASONS = {
    "red_card": gettext_lazy("past a red card"),
    "reopened": pgettext_lazy("difficult problem", "reopened"),
    "escalated": gettext_lazy("referred or escalated"),
    "flagged": gettext_lazy("flagged difficult"),
    "stale": gettext_lazy("unsolved for a long time"),
}
RULES = {
    "spread": gettext_lazy("in several micro-grids"),
    "repeat": gettext_lazy("repeated at one place"),
}


class _Row:
    """A typed row that also reads like the stored dict (`row["number"]`), for templates and tests."""

    def __getitem__(self, key):
        if key not in {f.name for f in fields(self)}:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def as_data(self):
        """The row as stored (times as ISO text, lists as lists): what the API answers."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = _iso(value) if isinstance(value, datetime.datetime) else (
                list(value) if isinstance(value, tuple) else value)
        return out


def _int(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _when(value):
    """A stored ISO time as an aware datetime in the current time zone; None for nothing or garbage."""
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return timezone.localtime(parsed) if timezone.is_aware(parsed) else timezone.make_aware(parsed)


@dataclass(frozen=True)
class IssueRow(_Row):
    id: int
    number: str = ""
    title: str = ""
    state: str = ""
    category: str = ""
    grid: str = ""
    grid_id: int | None = None
    community: str = ""
    community_id: int | None = None
    handler: str = ""
    due_at: datetime.datetime | None = None
    reported_at: datetime.datetime | None = None
    supervision: int = 0

    reasons = ()  # only difficult problems have reasons

    @property
    def state_label(self):
        return State(self.state).label if self.state in State.values else self.state

    @property
    def supervision_label(self):
        return Supervision(self.supervision).label if self.supervision in Supervision.values else ""

    @property
    def reason_labels(self):
        return [str(REASONS.get(r, r)) for r in self.reasons]

    @classmethod
    def read(cls, row):
        names = {f.name for f in fields(cls)}
        clean = {k: v for k, v in row.items() if k in names}
        clean.update(id=_int(row.get("id")) or None, supervision=_int(row.get("supervision")),
                     due_at=_when(row.get("due_at")), reported_at=_when(row.get("reported_at")))
        for key in ("number", "title", "state", "category", "grid", "community", "handler"):
            clean[key] = str(row.get(key) or "")
        if "reasons" in names:
            clean["reasons"] = tuple(str(r) for r in row.get("reasons") or ())
        return cls(**clean)


@dataclass(frozen=True)
class DifficultRow(IssueRow):
    reasons: tuple = ()  # red_card, reopened, escalated, flagged, stale


@dataclass(frozen=True)
class CommonRow(_Row):
    rule: str  # spread: in N micro-grids of a community this month; repeat: N times at one place
    category: int | None = None
    category_name: str = ""
    community: str = ""
    community_id: int | None = None
    microgrids: int | None = None  # spread only
    grid: str = ""  # repeat only
    grid_id: int | None = None  # repeat only
    issues: int = 0

    @property
    def rule_label(self):
        return RULES.get(self.rule, self.rule)

    def as_data(self):
        out = super().as_data()
        for key in ("grid", "grid_id") if self.rule == "spread" else ("microgrids",) if self.rule == "repeat" else ():
            out.pop(key)
        return out

    @classmethod
    def read(cls, row):
        return cls(rule=str(row.get("rule") or ""), category=row.get("category"),
                   category_name=str(row.get("category_name") or ""), community=str(row.get("community") or ""),
                   community_id=row.get("community_id"),
                   microgrids=_int(row["microgrids"]) if row.get("microgrids") is not None else None,
                   grid=str(row.get("grid") or ""), grid_id=row.get("grid_id"), issues=_int(row.get("issues")))


@dataclass(frozen=True)
class CategoryCount(_Row):
    category: int | None
    name: str
    count: int


@dataclass(frozen=True)
class CommunityLine(_Row):
    """One community of a street's roll-up; `report` is filled in by a page that links its report."""

    id: int
    name: str
    found: int = 0
    open: int = 0
    overdue: int = 0
    common: int = 0
    difficult: int = 0
    report: int | None = None

    def as_data(self):
        out = super().as_data()
        out.pop("report")
        return out


@dataclass(frozen=True)
class PatrolCounts(_Row):
    plans: int = 0
    planned: int = 0
    done: int = 0
    missed: int = 0


@dataclass(frozen=True)
class Snapshot(_Row):
    """A stored monthly report, read back."""

    id: int
    node_id: int
    month: str
    generated_at: datetime.datetime
    node: dict  # {id, code, name, level} as it was when generated
    patrols: PatrolCounts
    found: int
    solved_on_spot: int
    by_state: dict  # every state of the ledger → issues found on patrols in the month, in that state now
    by_category: tuple
    open: tuple  # IssueRow: found on patrols and not closed, this month or before
    overdue: tuple
    common: tuple  # CommonRow
    difficult: tuple  # DifficultRow
    communities: tuple | None  # CommunityLine, the street's roll-up only
    thresholds: dict = field(default_factory=dict)

    @property
    def is_roll_up(self):
        return self.communities is not None

    def states(self):
        """(state, label, issues) of the states that have any, in the ledger's order."""
        return [(value, label, self.by_state[value]) for value, label in State.choices if self.by_state.get(value)]

    def issue_ids(self):
        return {r.id for rows in (self.open, self.overdue, self.difficult) for r in rows if r.id}

    def suggestions(self):
        """The issues the report lists (difficult first, then open), once each: for the meeting's decisions."""
        seen, out = set(), []
        for row in self.difficult + self.open:
            if row.number and row.number not in seen:
                seen.add(row.number)
                out.append(row)
        return out

    def summary(self):
        return {
            "found": self.found, "solved_on_spot": self.solved_on_spot, "open": len(self.open),
            "overdue": len(self.overdue), "common": len(self.common), "difficult": len(self.difficult),
            "plans": self.patrols.plans, "done": self.patrols.done, "missed": self.patrols.missed,
        }


def snapshot(rep):
    """The one reader of a MonthlyReport's stored content."""
    data = rep.data if isinstance(rep.data, dict) else {}
    handling = data.get("handling") or {}
    analysis = data.get("analysis") or {}
    patrols = data.get("patrols") or {}
    stored_states = handling.get("by_state") or {}
    communities = data.get("communities")
    return Snapshot(
        id=rep.pk, node_id=rep.node_id, month=rep.month, generated_at=rep.generated_at,
        node=data.get("node") or {},
        patrols=PatrolCounts(**{f.name: _int(patrols.get(f.name)) for f in fields(PatrolCounts)}),
        found=_int(handling.get("found")), solved_on_spot=_int(handling.get("solved_on_spot")),
        by_state={s: _int(stored_states.get(s)) for s in State.values},
        by_category=tuple(CategoryCount(c.get("category"), str(c.get("name") or ""), _int(c.get("count")))
                          for c in handling.get("by_category") or ()),
        open=tuple(IssueRow.read(r) for r in handling.get("open") or ()),
        overdue=tuple(IssueRow.read(r) for r in handling.get("overdue") or ()),
        common=tuple(CommonRow.read(r) for r in analysis.get("common") or ()),
        difficult=tuple(DifficultRow.read(r) for r in analysis.get("difficult") or ()),
        communities=None if communities is None else tuple(
            CommunityLine(id=c.get("id"), name=str(c.get("name") or ""),
                          **{k: _int(c.get(k)) for k in ("found", "open", "overdue", "common", "difficult")})
            for c in communities),
        thresholds=dict(data.get("thresholds") or {}),
    )


class JSONArrayLength(Func):
    """The length of a JSON array inside a JSONField, counted by the database."""

    function = "json_array_length"
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="jsonb_array_length", **extra)


def _key(*path):
    expr = "data"
    for name in path:
        expr = KeyTransform(name, expr)
    return expr


def figures():
    """The summary figures of stored reports as database expressions (`MonthlyReport.objects.annotate(
    **figures())`), for lists that show them without loading the content."""
    return {
        "found_n": _key("handling", "found"),
        "open_n": JSONArrayLength(_key("handling", "open")),
        "overdue_n": JSONArrayLength(_key("handling", "overdue")),
        "common_n": JSONArrayLength(_key("analysis", "common")),
        "difficult_n": JSONArrayLength(_key("analysis", "difficult")),
    }
