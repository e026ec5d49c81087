"""The monthly report as an .xlsx workbook: the handling summary, the open and the overdue findings, the
common and the difficult problems, one sheet each, headers and codes in the user's language. Written
through `common.excel` (every string as text, never a formula) from `report.snapshot`."""

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.excel import Book, Column
from issues.models import State, Supervision

from .models import PlanState
from .report import snapshot

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


def _issue_row(row):
    due = f"{timezone.localtime(row.due_at):%Y-%m-%d %H:%M}" if row.due_at else ""
    return {**row.as_data(), "due": due, "reasons": "、".join(row.reason_labels)}


def _common_row(row):
    return {**row.as_data(), "rule": str(row.rule_label), "grid": row.grid,
            "microgrids": "" if row.microgrids is None else row.microgrids}


def summary_rows(snap):
    """(label, number) lines of joint handling and of the month's patrol plans."""
    rows = [
        {"label": _("Found on patrols"), "value": snap.found},
        {"label": _("Solved on the spot"), "value": snap.solved_on_spot},
        {"label": _("Still open"), "value": len(snap.open)},
        {"label": _("Overdue"), "value": len(snap.overdue)},
    ]
    for state, n in snap.by_state.items():
        rows.append({"label": _("State: %s") % State(state).label, "value": n})
    for c in snap.by_category:
        rows.append({"label": _("Category: %s") % c.name, "value": c.count})
    rows.append({"label": _("Patrol plans"), "value": snap.patrols.plans})
    for state in PlanState:
        rows.append({"label": _("Plans %s") % state.label, "value": snap.patrols[state.value]})
    return rows


def report_workbook(rep):
    """The workbook of a MonthlyReport, as bytes."""
    snap = snapshot(rep)
    book = Book()
    book.sheet(_("Handling summary"), SUMMARY_COLUMNS, summary_rows(snap))
    book.sheet(_("Open"), ISSUE_COLUMNS, [_issue_row(r) for r in snap.open])
    book.sheet(_("Overdue"), ISSUE_COLUMNS, [_issue_row(r) for r in snap.overdue])
    book.sheet(_("Common"), COMMON_COLUMNS, [_common_row(r) for r in snap.common])
    book.sheet(_("Difficult"), DIFFICULT_COLUMNS, [_issue_row(r) for r in snap.difficult])
    if snap.communities:
        book.sheet(_("Communities"), COMMUNITY_COLUMNS, [c.as_data() for c in snap.communities])
    return book.bytes()


def report_stem(rep):
    """The download's name (xlsx_response adds the day): report-<place code>-<month>."""
    return f"report-{rep.node.code}-{rep.month}"
