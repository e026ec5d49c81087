"""How the ledger reads in the admin: list filters, list columns, and the change page's actions,
photos and timeline (the one timeline of `issues.selectors.timeline`)."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from grid.admin import SubtreeFilter
from grid.models import mask_phone

from .. import selectors, services, workflow
from ..filters import overdue_q
from ..models import Supervision


def action_label(action):
    return str(workflow.ACTION_LABELS.get(action, action))


# --- filters -----------------------------------------------------------------------------------


class IssueSubtreeFilter(SubtreeFilter):
    """grid's subtree filter; a street or community uses the ledger's indexed scope columns."""

    via = "grid"


class OverdueFilter(admin.SimpleListFilter):
    title = gettext_lazy("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("1", gettext_lazy("Yes")), ("0", gettext_lazy("No"))]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(overdue_q())
        if self.value() == "0":
            return queryset.exclude(overdue_q())
        return queryset


# --- list columns --------------------------------------------------------------------------------


class IssueColumns:
    """The ledger's list columns."""

    @admin.display(description=gettext_lazy("handler"))
    def handler(self, issue):
        parts = [issue.handler_org.name if issue.handler_org_id else "",
                 str(issue.handler_user) if issue.handler_user_id else ""]
        return " / ".join(p for p in parts if p) or "—"

    @admin.display(description=gettext_lazy("due"), ordering="due_at")
    def due(self, issue):
        if not issue.due_at:
            return "—"
        text = timezone.localtime(issue.due_at).strftime("%Y-%m-%d %H:%M")
        if issue.is_overdue:
            return format_html('<span class="issue-overdue" title="{}">{}</span>', _("overdue"), text)
        return text

    @admin.display(description=gettext_lazy("supervision"), ordering="supervision")
    def card(self, issue):
        if issue.supervision == Supervision.NONE:
            return "—"
        return format_html('<span class="supervision-card supervision-{}">{}</span>',
                           issue.supervision, issue.get_supervision_display())

    @admin.display(description=gettext_lazy("reporter's phone"))
    def masked_reporter_phone(self, issue):
        return mask_phone(issue.reporter_phone)


def masked_fieldsets(fieldsets):
    """The fieldsets with the reporter's phone shown masked (for users without the phone right)."""
    return tuple(
        (title, {**opts, "fields": tuple("masked_reporter_phone" if f == "reporter_phone" else f for f in opts["fields"])})
        for title, opts in fieldsets
    )


def masked_address(notification):
    return notification.masked_address


# --- the change page -----------------------------------------------------------------------------


def action_url(admin_site, issue, action):
    url = reverse("admin:issues_issue_act", args=[issue.pk, action], current_app=admin_site.name)
    return f"{url}?{urlencode({'version': issue.version})}"


def issue_context(request, admin_site, issue, may_act):
    """The read-only change page's extras: the action buttons open to the user, the photos and the
    timeline."""
    actions = services.allowed_actions(request.user, issue) if may_act else []
    photos = list(issue.photos.select_related("event").order_by("uploaded_at", "id"))
    return {
        "issue_actions": [
            {"code": a, "label": action_label(a), "url": action_url(admin_site, issue, a)} for a in actions
        ],
        "timeline": selectors.timeline(issue),
        "photos": [{"photo": p, "action": action_label(p.event.action) if p.event_id else ""} for p in photos],
    }
