"""The problem ledger in the street office's admin.

The ledger (Issue) is never edited through a form: its change page is read-only and shows the
timeline, the photos and the workflow actions the user may take now as buttons. Each button opens a
small form for that action's fields, which calls `issues.services.issue_transition` with the
version the user saw, so a change made meanwhile by someone else is a conflict and not a silent
overwrite. Adding an issue goes through `issues.services.issue_report`; deleting one is impossible;
the outbox's retry is `issues.services.notifications_retry`.

Who may do what: the admin's `issues.view_issue` opens the ledger, `issues.add_issue` the report
form, and `issues.change_issue` the action buttons; which actions a person then gets is the
workflow table's answer for their roles on the issue's grid node (`services.allowed_actions`).

Layout: `forms.py` (report and category forms), `presentation.py` (filters, columns, the change
page's context), `views.py` (the action form and the export); this module registers the admins.
"""

import datetime

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.forms import ModelForm
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import dateformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from common.admin import BaseAdmin, ReadOnlyMixin
from common.forms import ServiceForm, ServiceFormMixin, error_text
from grid import selectors as grid_selectors
from grid.admin import ScopedAdmin

from .. import calendar, selectors, services
from ..models import CalendarOverride, Category, Issue, Notification
from . import presentation, views
from .forms import REPORT_FIELDS, CategoryForm, IssueReportForm, report_data
from .presentation import IssueColumns, IssueSubtreeFilter, OverdueFilter


@admin.register(Issue)
class IssueAdmin(ServiceFormMixin, IssueColumns, ScopedAdmin):
    """Scoped by `Issue.objects.restrict` (issues.selectors.visible_issues): the user's subtrees plus,
    for property-company staff and named handlers, what is assigned to their company or to them."""

    form = IssueReportForm
    list_display = ["number", "title", "state", "category", "grid", "handler", "due", "card"]
    list_display_links = ["number", "title"]
    list_filter = ["state", "category", "source", "supervision", "common", "difficult", "priority",
                   OverdueFilter, IssueSubtreeFilter]
    search_fields = ["number", "title"]
    list_select_related = ["category", "grid", "handler_org", "handler_user"]
    autocomplete_fields = ["grid"]
    list_per_page = 50
    show_full_result_count = False  # the ledger is large: one count per page, not two

    add_fieldsets = ((None, {"fields": REPORT_FIELDS[:7] + ("photos",)}),
                     (gettext_lazy("Reporter"), {"fields": REPORT_FIELDS[7:]}))
    fieldsets = (
        (None, {"fields": ("number", "title", "description", "category", "grid", "location", "source",
                           "priority", "reported_at")}),
        (gettext_lazy("Reporter"), {"fields": ("reporter", "reporter_name", "reporter_phone",
                                               "tracking_code")}),
        (gettext_lazy("Handling"), {"fields": ("state", "handler_org", "handler_user", "assigned_at", "due_at",
                                               "card", "extension_until", "extension_reason", "reopen_count")}),
        (gettext_lazy("Analysis and disposal"), {"fields": ("common", "difficult", "plan", "announcement",
                                                            "announced_at", "merged_into")}),
        (gettext_lazy("Versions and times"), {"fields": ("version", "updated_at", "closed_at")}),
    )

    # -- scope and permissions --

    def get_queryset(self, request):
        qs = Issue.objects.restrict(request.user)
        ordering = self.get_ordering(request)
        return qs.order_by(*ordering) if ordering else qs

    def has_change_permission(self, request, obj=None):
        # Never a plain change form: the change page is read-only, actions go through the workflow.
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger is never deleted

    def has_act_permission(self, request):
        """The admin's gate to the action buttons; the workflow table then decides which ones."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "category":
            kwargs["queryset"] = Category.objects.filter(active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # -- adding: the report service --

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:  # the read-only change page: no report form behind it
            kwargs.setdefault("form", ModelForm)
        return super().get_form(request, obj, change=change, **kwargs)

    def submit(self, request, form):
        return services.issue_report(actor=request.user, **report_data(form))

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, _("Issue %(number)s is in the ledger.") % {"number": obj.number}, messages.SUCCESS)
        if "_addanother" in request.POST:
            return HttpResponseRedirect(request.path)
        return HttpResponseRedirect(reverse("admin:issues_issue_change", args=[obj.pk]))

    # -- the read-only change page: timeline, photos, action buttons --

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        if grid_selectors.can_see_phones(request.user):
            return self.fieldsets
        # Without the phone right the reporter's phone is shown masked (as grid's UserAdmin does).
        return presentation.masked_fieldsets(self.fieldsets)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(presentation.issue_context(request, self.admin_site, obj, self.has_act_permission(request)))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # -- the extra views: actions and export --

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("export/", wrap(lambda request: views.export_view(self, request)), name="%s_%s_export" % info),
            path("<path:object_id>/act/<slug:action>/",
                 wrap(lambda request, object_id, action: views.action_view(self, request, object_id, action)),
                 name="%s_%s_act" % info),
        ] + super().get_urls()


# --- reference data: categories and the calendar -------------------------------------------------


class ReferenceAdmin(ServiceFormMixin, BaseAdmin):
    """Reference data written through its service (`save_service`, `delete_service`: street staff
    only); a refused delete is an error message, and there is no bulk delete."""

    save_service = delete_service = None
    instance_name = ""

    def submit(self, request, form):
        row = form.instance if form.instance.pk else None
        return type(self).save_service(actor=request.user, **{self.instance_name: row},
                                       **{f: form.cleaned_data[f] for f in self.fields if f in form.cleaned_data})

    def delete_model(self, request, obj):
        type(self).delete_service(actor=request.user, **{self.instance_name: obj})


@admin.register(Category)
class CategoryAdmin(ReferenceAdmin):
    """Street staff keep the categories; a category in use cannot be deleted (its issues protect it),
    only set inactive, which takes it off the report forms."""

    form = CategoryForm
    save_service, delete_service, instance_name = services.category_save, services.category_delete, "category"
    list_display = ["code", "name", "group", "deadline", "deadline_unit", "handler_kind", "active"]
    list_filter = ["group", "handler_kind", "active"]
    search_fields = ["code", "name"]
    fields = ["code", "name", "group", "deadline", "deadline_unit", "handler_kind", "active"]


class CalendarOverrideForm(ServiceForm):
    class Meta:
        model = CalendarOverride
        fields = ["date", "workday", "note"]


@admin.register(CalendarOverride)
class CalendarOverrideAdmin(ReferenceAdmin):
    """Corrections to the statutory calendar; every deadline computed after a change uses them."""

    form = CalendarOverrideForm
    save_service, delete_service = services.calendar_override_save, services.calendar_override_delete
    instance_name = "override"

    list_display = ["date", "weekday", "workday", "statutory", "note"]
    list_filter = ["workday"]
    search_fields = ["note"]
    date_hierarchy = "date"
    fields = ["date", "workday", "note"]

    @admin.display(description=gettext_lazy("weekday"))
    def weekday(self, override):
        return dateformat.format(override.date, "l") if isinstance(override.date, datetime.date) else ""

    @admin.display(description=gettext_lazy("statutory working day"), boolean=True)
    def statutory(self, override):
        return calendar._statutory_workday(override.date)


# --- the outbox ----------------------------------------------------------------------------------------


@admin.register(Notification)
class NotificationAdmin(ReadOnlyMixin, BaseAdmin):
    """Read-only: the outbox is written by the services and emptied by the Celery task. Failed
    messages can be sent again by the `retry` action (`services.notifications_retry`)."""

    list_display = ["created_at", "channel", "recipient", "address", "subject", "status", "attempts",
                    "last_error", "sent_at"]
    list_filter = ["status", "channel"]
    search_fields = ["subject", "recipient__username", "recipient__name"]
    list_select_related = ["recipient"]
    fields = ["created_at", "status", "channel", "recipient", "address", "subject", "text", "issue",
              "attempts", "last_error", "sent_at", "key"]
    actions = ["retry"]
    list_per_page = 100

    def get_queryset(self, request):
        # Messages about the issues the user sees, and their own.
        return selectors.visible_notifications(request.user)

    # An SMS address is a phone number: masked for those without the phone right.
    def _masked(self, request, names):
        if grid_selectors.can_see_phones(request.user):
            return names
        return [("masked_address" if f == "address" else f) for f in names]

    def get_fields(self, request, obj=None):
        return self._masked(request, super().get_fields(request, obj))

    def get_list_display(self, request):
        return self._masked(request, super().get_list_display(request))

    @admin.display(description=gettext_lazy("address"))
    def masked_address(self, n):
        return presentation.masked_address(n)

    def has_retry_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @admin.action(description=gettext_lazy("Send the failed messages again"), permissions=["retry"])
    def retry(self, request, queryset):
        try:
            done = services.notifications_retry(actor=request.user, ids=list(queryset.values_list("pk", flat=True)))
        except PermissionDenied as e:
            self.message_user(request, error_text(e), messages.ERROR)
            return
        sent, waiting, skipped = done["sent"], done["waiting"], done["skipped"]
        if sent:
            self.message_user(request, ngettext("%d message sent.", "%d messages sent.", sent) % sent,
                              messages.SUCCESS)
        if waiting:
            self.message_user(request, ngettext(
                "%d message failed again; it stays in the outbox and is retried later.",
                "%d messages failed again; they stay in the outbox and are retried later.", waiting) % waiting,
                messages.WARNING)
        if skipped:
            self.message_user(request, ngettext(
                "%d message had not failed and was left as it is.",
                "%d messages had not failed and were left as they are.", skipped) % skipped, messages.INFO)
