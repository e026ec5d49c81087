"""Excel exports (.xlsx) of the incentives: the points ledger, a ranking and a fund's report.

Exports only: points and money are written by the services, never imported from a sheet. Written
by the house's one writer (common.excel: every string as text, never a formula); headers are in the
user's language; times are local to Asia/Shanghai, because Excel has no time zones.
"""

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.excel import Book, Column, write_sheet

from .models import ClaimKind, Entry


def _label(model, name):
    return model._meta.get_field(name).verbose_name


# --- the ledger ----------------------------------------------------------------------------------

LEDGER_SHEET = [
    Column("id", gettext_lazy("entry")),
    Column("time", _label(Entry, "created_at")),
    Column("name", gettext_lazy("person")),
    Column("username", gettext_lazy("username")),
    Column("points", _label(Entry, "points")),
    Column("rule", _label(Entry, "rule"), required=False),
    Column("source", _label(Entry, "source")),
    Column("note", _label(Entry, "note"), required=False),
    Column("reverses", _label(Entry, "reverses"), required=False),
    Column("actor", _label(Entry, "actor"), required=False),
]


def ledger_rows(entries):
    for e in entries.select_related("account__user", "rule", "actor").iterator(chunk_size=2000):
        user = e.account.user
        yield {
            "id": e.pk, "time": timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M"),
            "name": user.name or user.username, "username": user.username, "points": e.points,
            "rule": e.rule.name if e.rule_id else "", "source": e.source, "note": e.note,
            "reverses": e.reverses_id or "", "actor": str(e.actor) if e.actor_id else "",
        }


def export_ledger(entries):
    """The given entries (already scoped and filtered by the caller), one row each."""
    return write_sheet(_("points ledger"), LEDGER_SHEET, ledger_rows(entries))


# --- a ranking -----------------------------------------------------------------------------------

RANKING_VALUE = {
    "points": gettext_lazy("points earned"),
    "satisfied": gettext_lazy("issues closed with a satisfied resident"),
    "worklogs": gettext_lazy("work logs"),
}


def export_ranking(rows, by):
    """Rows of `incentives.selectors.rankings`."""
    columns = [
        Column("rank", gettext_lazy("rank")),
        Column("name", gettext_lazy("person")),
        Column("username", gettext_lazy("username")),
        Column("value", RANKING_VALUE[by]),
    ]
    return write_sheet(_("ranking"), columns, rows)


# --- a fund's report -----------------------------------------------------------------------------


def export_fund_report(fund, report):
    """Three sheets: the totals, the totals by kind of expense and by community (of
    `incentives.selectors.fund_report`); amounts in yuan with two decimals."""
    book = Book()
    book.sheet(_("fund report"), [_("item"), _("yuan")], [
        (_("fund"), fund.name),
        (_("period"), f"{fund.starts_on:%Y-%m-%d} ~ {fund.ends_on:%Y-%m-%d}"),
        (_("budget"), report["budget"]),
        (_("approved"), report["approved"]),
        (_("paid"), report["paid"]),
        (_("remaining"), report["remaining"]),
        (_("submitted, not yet decided"), report["submitted"]),
    ], money_from=1)
    book.sheet(_("by kind"), [_("kind"), _("approved"), _("paid")], [
        (str(label), report["by_kind"].get(kind, {}).get("approved", 0), report["by_kind"].get(kind, {}).get("paid", 0))
        for kind, label in ClaimKind.choices
    ], money_from=1)
    book.sheet(_("by community"), [_("community"), _("approved"), _("paid")], [
        (row["community"], row["approved"], row["paid"]) for row in report["by_community"]
    ], money_from=1)
    return book.bytes()
