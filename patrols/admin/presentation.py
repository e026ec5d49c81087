"""How the patrols' admin shows things: links, labels, the work-log sheet and the monthly report's
change page (from `report.snapshot`, the one reader of a stored report)."""

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from common.excel import Column
from issues import workflow
from issues.models import State

from ..models import WorkKind, WorkLog
from ..report import snapshot


def local(value, fmt="%Y-%m-%d %H:%M"):
    return timezone.localtime(value).strftime(fmt) if value else ""


def issue_link(issue):
    if issue is None:
        return "—"
    return format_html('<a href="{}">{}</a> {}', reverse("admin:issues_issue_change", args=[issue.pk]),
                       issue.number, issue.title)


def state_label(value):
    return str(State(value).label) if value in State.values else value


def ledger_event(event):
    return f"{workflow.ACTION_LABELS.get(event.action, event.action)} → {state_label(event.to_state)}"


# --- work logs ----------------------------------------------------------------------------------


def _wl_label(name):
    return WorkLog._meta.get_field(name).verbose_name


WORKLOG_SHEET = [
    Column("date", _wl_label("date")),
    Column("leader", _wl_label("leader")),
    Column("username", gettext_lazy("username")),
    Column("kind", _wl_label("kind"), choices=WorkKind),
    Column("community", gettext_lazy("community")),
    Column("grid_code", gettext_lazy("grid code")),
    Column("grid", _wl_label("grid")),
    Column("household", _wl_label("household"), required=False),
    Column("issue", _wl_label("issue"), required=False),
    Column("note", _wl_label("note"), required=False),
]


def worklog_rows(worklogs):
    for w in worklogs.select_related("leader", "community", "grid", "household", "issue").iterator(chunk_size=2000):
        yield {
            "date": w.date, "leader": str(w.leader), "username": w.leader.username, "kind": w.kind,
            "community": w.community.name, "grid_code": w.grid.code, "grid": w.grid.name,
            "household": str(w.household) if w.household_id else "", "issue": w.issue.number if w.issue_id else "",
            "note": w.note,
        }


# --- monthly reports ----------------------------------------------------------------------------


COMMON_RULES = {"spread": gettext_lazy("in %(n)s micro-grids this month"),
                "repeat": gettext_lazy("%(n)s times at %(grid)s in %(months)s months")}


def why_common(row, thresholds):
    """The admin's fuller wording of a common problem's rule, with its numbers."""
    rule = COMMON_RULES.get(row.rule)
    if rule is None:
        return row.rule
    n = row.microgrids if row.rule == "spread" else row.issues
    return str(rule) % {"n": n, "grid": row.grid, "months": thresholds.get("repeat_months", "")}


def report_context(report):
    """The change page's view of a stored report: the snapshot, and each common problem explained."""
    snap = snapshot(report)
    return {"report": snap, "common_rows": [(row, why_common(row, snap.thresholds)) for row in snap.common]}
