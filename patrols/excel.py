"""The monthly report as an .xlsx workbook: the handling summary, the open and the overdue findings, the
common and the difficult problems, one sheet each, headers and codes in the user's language."""

from io import BytesIO

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from openpyxl import Workbook

from grid.excel import Column
from issues.models import State, Supervision

from .models import PlanState

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

ISSUE_COLUMNS = [
    Column("number", gettext_lazy("ledger number")),
    Column("title", gettext_lazy("title")),
    Column("category", gettext_lazy("category")),
    Column("community", gettext_lazy("community")),
    Column("grid", gettext_lazy("micro-grid")),
    Column("state", gettext_lazy("state"), choices=State),
    Column("handler", gettext_lazy("handler")),
    Column("due", gettext_lazy("due")),
    Column("supervision", gettext_lazy("card"), choices=Supervision),
]
DIFFICULT_COLUMNS = ISSUE_COLUMNS + [Column("reasons", gettext_lazy("why difficult"))]
COMMON_COLUMNS = [
    Column("rule", gettext_lazy("rule")),
    Column("category_name", gettext_lazy("category")),
    Column("community", gettext_lazy("community")),
    Column("grid", gettext_lazy("place")),
    Column("microgrids", gettext_lazy("micro-grids")),
    Column("issues", gettext_lazy("issues")),
]
SUMMARY_COLUMNS = [Column("label", gettext_lazy("item")), Column("value", gettext_lazy("number"))]
COMMUNITY_COLUMNS = [
    Column("name", gettext_lazy("community")),
    Column("found", gettext_lazy("found on patrols")),
    Column("open", gettext_lazy("open")),
    Column("overdue", gettext_lazy("overdue")),
    Column("common", gettext_lazy("common problems")),
    Column("difficult", gettext_lazy("difficult problems")),
]


def _add_sheet(wb, title, columns, rows):
    """One sheet like grid.excel.write_sheet's: a header of labels, then one row per dict."""
    ws = wb.create_sheet(title=str(title)[:31])
    ws.append([str(c.label) for c in columns])
    for row in rows:
        ws.append([
            c.show_choice(row.get(c.key, "")) if c.choices is not None else row.get(c.key, "") for c in columns
        ])
    return ws


def _issue_row(r):
    due = (r.get("due_at") or "")[:16].replace("T", " ")
    return {**r, "due": due, "supervision": r.get("supervision") or 0,
            "reasons": "、".join(str(REASONS.get(x, x)) for x in r.get("reasons", ()))}


def summary_rows(data):
    """(label, number) lines of joint handling and of the month's patrol plans."""
    handling = data.get("handling") or {}
    patrols = data.get("patrols") or {}
    rows = [
        {"label": _("Found on patrols"), "value": handling.get("found", 0)},
        {"label": _("Solved on the spot"), "value": handling.get("solved_on_spot", 0)},
        {"label": _("Still open"), "value": len(handling.get("open") or [])},
        {"label": _("Overdue"), "value": len(handling.get("overdue") or [])},
    ]
    for state, n in (handling.get("by_state") or {}).items():
        label = State(state).label if state in State.values else state
        rows.append({"label": _("State: %s") % label, "value": n})
    for c in handling.get("by_category") or []:
        rows.append({"label": _("Category: %s") % c["name"], "value": c["count"]})
    rows.append({"label": _("Patrol plans"), "value": patrols.get("plans", 0)})
    for state in PlanState:
        rows.append({"label": _("Plans %s") % state.label, "value": patrols.get(state.value, 0)})
    return rows


def report_workbook(rep):
    """The workbook of a MonthlyReport, as bytes."""
    data = rep.data or {}
    handling = data.get("handling") or {}
    analysis = data.get("analysis") or {}
    wb = Workbook(write_only=True)
    _add_sheet(wb, _("Handling summary"), SUMMARY_COLUMNS, summary_rows(data))
    _add_sheet(wb, _("Open"), ISSUE_COLUMNS, [_issue_row(r) for r in handling.get("open") or []])
    _add_sheet(wb, _("Overdue"), ISSUE_COLUMNS, [_issue_row(r) for r in handling.get("overdue") or []])
    _add_sheet(wb, _("Common"), COMMON_COLUMNS, [
        {**r, "rule": str(RULES.get(r.get("rule"), r.get("rule"))), "grid": r.get("grid", ""),
         "microgrids": r.get("microgrids", "")} for r in analysis.get("common") or []])
    _add_sheet(wb, _("Difficult"), DIFFICULT_COLUMNS, [_issue_row(r) for r in analysis.get("difficult") or []])
    if data.get("communities"):
        _add_sheet(wb, _("Communities"), COMMUNITY_COLUMNS, data["communities"])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
