"""The ledger as an Excel register (.xlsx): export only.

The ledger is never imported: every issue enters through `issues.services.issue_report` and
changes through the workflow. The export takes any queryset of issues already scoped to the user
(the admin passes its changelist's filtered queryset, so the sheet holds exactly the rows on
screen) and writes it through the framework's writer (common.excel: every text a text cell, so a
title typed as `=HYPERLINK(…)` stays the characters typed), one query for the whole sheet.
"""

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.excel import Column, write_sheet
from grid import selectors as grid_selectors
from grid.models import mask_phone

from .models import Issue, Priority, Source, State, Supervision


def _label(name):
    return Issue._meta.get_field(name).verbose_name


LEDGER = [
    Column("number", _label("number")),
    Column("reported_at", _label("reported_at")),
    Column("title", _label("title")),
    Column("category", _label("category")),
    Column("community", gettext_lazy("community")),
    Column("grid_code", gettext_lazy("grid code")),
    Column("grid_name", _label("grid")),
    Column("source", _label("source"), choices=Source),
    Column("reporter", _label("reporter_name"), required=False),
    Column("reporter_phone", _label("reporter_phone"), required=False),
    Column("state", _label("state"), choices=State),
    Column("priority", _label("priority"), choices=Priority),
    Column("handler_org", _label("handler_org"), required=False),
    Column("handler_user", _label("handler_user"), required=False),
    Column("due_at", _label("due_at"), required=False),
    Column("supervision", _label("supervision"), choices=Supervision),
    Column("common", _label("common")),
    Column("difficult", _label("difficult")),
    Column("reopen_count", _label("reopen_count")),
    Column("closed_at", _label("closed_at"), required=False),
]

RELATED = ("category", "community", "grid", "handler_org", "handler_user", "reporter")


def _local(value):
    # Excel has no time zones: write the wall-clock time of Asia/Shanghai.
    return timezone.localtime(value).replace(tzinfo=None) if value else None


def ledger_rows(user, issues):
    full_phones = grid_selectors.can_see_phones(user)
    yes, no = _("Yes"), _("No")
    for i in issues.select_related(*RELATED).iterator(chunk_size=2000):
        reporter = i.reporter_name or (str(i.reporter) if i.reporter_id else "")
        yield {
            "number": i.number,
            "reported_at": _local(i.reported_at),
            "title": i.title,
            "category": i.category.name,
            "community": i.community.name if i.community_id else "",
            "grid_code": i.grid.code,
            "grid_name": i.grid.name,
            "source": i.source,
            "reporter": reporter,
            "reporter_phone": i.reporter_phone if full_phones else mask_phone(i.reporter_phone),
            "state": i.state,
            "priority": i.priority,
            "handler_org": i.handler_org.name if i.handler_org_id else "",
            "handler_user": str(i.handler_user) if i.handler_user_id else "",
            "due_at": _local(i.due_at),
            "supervision": i.supervision,
            "common": yes if i.common else no,
            "difficult": yes if i.difficult else no,
            "reopen_count": i.reopen_count,
            "closed_at": _local(i.closed_at),
        }


def export_ledger(user, issues=None):
    """The ledger as .xlsx bytes. `issues` must already be limited to what `user` may see; it is
    intersected with what the user sees all the same, so a caller's slip cannot widen it."""
    scoped = Issue.objects.restrict(user)
    if issues is None:
        issues = scoped.order_by("-reported_at", "-id")
    elif not user.is_superuser:
        issues = issues.filter(pk__in=scoped.values("pk"))
    return write_sheet(_("problem ledger"), LEDGER, ledger_rows(user, issues))
