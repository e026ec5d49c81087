"""The problem ledger in the street office's admin.

The ledger (Issue) is never edited through a form: its change page is read-only and shows the
timeline, the photos and the workflow actions the user may take now as buttons. Each button opens a
small form for that action's fields, which calls `issues.services.issue_transition` with the
version the user saw, so a change made meanwhile by someone else is a conflict and not a silent
overwrite. Adding an issue goes through `issues.services.issue_report`; deleting one is impossible.

Who may do what: the admin's `issues.view_issue` opens the ledger, `issues.add_issue` the report
form, and `issues.change_issue` the action buttons; which actions a person then gets is the
workflow table's answer for their roles on the issue's grid node (`services.allowed_actions`).
"""

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MinValueValidator
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import dateformat, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from grid import selectors as grid_selectors
from grid.admin import NotFoundMixin, ReadOnlyMixin, ScopedAdmin, SubtreeFilter
from grid.models import PHONE_RE, Level, Organisation, mask_phone

from . import calendar, excel, notifications, services, workflow
from .models import (
    CalendarOverride,
    Category,
    FeedbackChannel,
    Issue,
    Notification,
    Satisfaction,
    Source,
    State,
    Supervision,
)
from .forms import ActionForm, PhotosField
from .selectors import visible_issues

ACTION_LABELS = workflow.ACTION_LABELS
FEEDBACK_CHANNELS = FeedbackChannel.choices
SATISFACTION = Satisfaction.choices


def action_label(action):
    return str(ACTION_LABELS.get(action, action))


def state_label(value):
    return str(State(value).label) if value else ""


# --- filters -----------------------------------------------------------------------------------


class IssueSubtreeFilter(SubtreeFilter):
    """grid's subtree filter; a street or community uses the ledger's indexed scope columns."""

    via = "grid"

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        node = grid_selectors.visible_nodes(request.user).filter(pk=self.value()).first()
        if node is None:
            return queryset.none()
        if node.level == Level.STREET:
            return queryset.filter(street=node)
        if node.level == Level.COMMUNITY:
            return queryset.filter(community=node)
        return queryset.filter(grid_selectors.subtree_q(node, self.via))


def overdue_q(now=None):
    # The same rule as Issue.is_overdue, as a filter.
    return Q(state=State.HANDLING, due_at__lt=now or timezone.now())


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


# --- the report form (adding an issue) -----------------------------------------------------------


REPORT_FIELDS = ("grid", "category", "title", "description", "source", "location", "priority",
                 "reporter_name", "reporter_phone")


class IssueReportForm(forms.ModelForm):
    """The admin's report form. It checks what `issue_report` checks (scope through the grid field's
    choices, an active category, a description, no `resident` source for a logged-in reporter), so
    the service does not refuse what the form let through."""

    photos = PhotosField()

    class Meta:
        model = Issue
        fields = REPORT_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "source" in self.fields:
            self.fields["source"].choices = [(v, label) for v, label in Source.choices if v != Source.RESIDENT]
        if "title" in self.fields:
            self.fields["title"].required = False
            self.fields["title"].help_text = _("Empty: the category and the start of the description.")
        for name in ("reporter_name", "reporter_phone"):
            if name in self.fields:
                self.fields[name].help_text = _("For a hotline call or a visit: the resident's, if they gave it.")


# --- the action forms ------------------------------------------------------------------------------

def rule_for_form(issue, action):
    """The rule whose fields the form asks for: the current state's, or (when the state has moved
    on since the page was loaded) any rule of that action, so the service can say what is wrong."""
    rule = workflow.rule_for(issue.state, action)
    if rule is None:
        rule = next((r for (_state, a), r in workflow.TABLE.items() if a == action), None)
    return rule


# --- the ledger --------------------------------------------------------------------------------------


@admin.register(Issue)
class IssueAdmin(ScopedAdmin):
    """Scoped by `issues.selectors.visible_issues`: the user's subtrees plus, for property-company
    staff and named handlers, what is assigned to their company or to them."""

    add_form = IssueReportForm
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
        qs = visible_issues(request.user)
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

    # -- the list --

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

    # -- the read-only change page: timeline, photos, action buttons --

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        if grid_selectors.can_see_phones(request.user):
            return self.fieldsets
        # Without the phone right the reporter's phone is shown masked (as grid's UserAdmin does).
        return tuple(
            (title, {**opts, "fields": tuple("masked_reporter_phone" if f == "reporter_phone" else f
                                             for f in opts["fields"])})
            for title, opts in self.fieldsets
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs.setdefault("form", self.add_form)
        return super().get_form(request, obj, change=change, **kwargs)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.issue_context(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def issue_context(self, request, issue):
        actions = services.allowed_actions(request.user, issue) if self.has_act_permission(request) else []
        events = list(issue.events.select_related("actor").order_by("created_at", "id"))
        photos = list(issue.photos.select_related("event").order_by("uploaded_at", "id"))
        names = _data_names(events)
        return {
            "issue_actions": [
                {"code": a, "label": action_label(a), "url": self.action_url(issue, a)} for a in actions
            ],
            "timeline": [
                {
                    "event": e, "action": action_label(e.action), "from": state_label(e.from_state),
                    "to": state_label(e.to_state), "actor": _actor(e), "data": _describe(e.data, names),
                }
                for e in events
            ],
            "photos": [{"photo": p, "action": action_label(p.event.action) if p.event_id else ""} for p in photos],
        }

    def action_url(self, issue, action):
        url = reverse("admin:issues_issue_act", args=[issue.pk, action], current_app=self.admin_site.name)
        return f"{url}?{urlencode({'version': issue.version})}"

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, _("Issue %(number)s is in the ledger.") % {"number": obj.number}, messages.SUCCESS)
        if "_addanother" in request.POST:
            return HttpResponseRedirect(request.path)
        return HttpResponseRedirect(reverse("admin:issues_issue_change", args=[obj.pk]))

    def save_model(self, request, obj, form, change):
        if change:  # unreachable (no change permission), and kept that way
            raise PermissionDenied
        data = {f: form.cleaned_data[f] for f in REPORT_FIELDS}
        saved = services.issue_report(actor=request.user, photos=form.cleaned_data.get("photos") or (), **data)
        obj.pk, obj.number, obj.title = saved.pk, saved.number, saved.title

    def save_related(self, request, form, formsets, change):
        pass  # the service saved everything

    # -- the extra views: actions and export --

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="%s_%s_export" % info),
            path("<path:object_id>/act/<slug:action>/", self.admin_site.admin_view(self.action_view),
                 name="%s_%s_act" % info),
        ] + super().get_urls()

    def action_view(self, request, object_id, action):
        issue = self.get_object(request, unquote(object_id))
        if issue is None:
            raise Http404
        if not (self.has_view_permission(request, issue) and self.has_act_permission(request)):
            raise PermissionDenied
        rule = rule_for_form(issue, action)
        if rule is None or action not in workflow.USER_ACTIONS:
            raise Http404
        change_url = reverse("admin:issues_issue_change", args=[issue.pk], current_app=self.admin_site.name)
        if request.method == "POST":
            form = ActionForm(request.POST, request.FILES, issue=issue, action=action, rule=rule, user=request.user)
            if form.is_valid():
                try:
                    issue, event = services.issue_transition(
                        issue_id=issue.pk, action=action, actor=request.user, version=form.cleaned_data["version"],
                        photos=form.cleaned_data.get("photos") or (), **form.service_data(),
                    )
                except ValidationError as e:
                    form.add_service_errors(e)
                except PermissionDenied as e:
                    self.message_user(request, str(e) or _("Your role does not allow this action on this issue."),
                                      messages.ERROR)
                    return HttpResponseRedirect(change_url)
                except services.IssueConflict:
                    self.message_user(request, _("The issue was changed by someone else meanwhile; nothing was "
                                                 "done. Reload it, check, and try again."), messages.ERROR)
                    return HttpResponseRedirect(change_url)
                except Issue.DoesNotExist:
                    raise Http404
                else:
                    self.message_user(request, _("%(number)s: “%(action)s” done; the issue is now %(state)s.") % {
                        "number": issue.number, "action": action_label(action), "state": issue.get_state_display(),
                    }, messages.SUCCESS)
                    return HttpResponseRedirect(change_url)
        else:
            if action not in services.allowed_actions(request.user, issue):
                self.message_user(request, _("“%(action)s” is not open to you while the issue is %(state)s.") % {
                    "action": action_label(action), "state": issue.get_state_display()}, messages.ERROR)
                return HttpResponseRedirect(change_url)
            version = request.GET.get("version", "")
            form = ActionForm(initial={"version": int(version) if version.isdigit() else issue.version},
                              issue=issue, action=action, rule=rule, user=request.user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{issue.number} · {action_label(action)}",
            "issue": issue,
            "action": action,
            "action_label": action_label(action),
            "form": form,
            "media": self.media + form.media,
            "change_url": change_url,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/issues/issue/action_form.html", context)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            cl = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:issues_issue_changelist") + "?e=1")
        # Exactly the rows the changelist's filters, search and date drill-down select, in its order.
        data = excel.export_ledger(request.user, cl.get_queryset(request))
        response = HttpResponse(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="ledger-{timezone.localdate():%Y%m%d}.xlsx"'
        return response


def _actor(event):
    if event.actor_id:
        return str(event.actor)
    return _("resident") if event.action == "report" else _("system")


DATA_LABELS = {
    "handler_org": Issue._meta.get_field("handler_org").verbose_name,
    "handler_user": Issue._meta.get_field("handler_user").verbose_name,
    "due": Issue._meta.get_field("due_at").verbose_name,
    "until": gettext_lazy("extend until"),
    "into": Issue._meta.get_field("merged_into").verbose_name,
    "plan": Issue._meta.get_field("plan").verbose_name,
    "announcement": Issue._meta.get_field("announcement").verbose_name,
    "channel": gettext_lazy("channel"),
    "satisfaction": gettext_lazy("resident's satisfaction"),
    "text": gettext_lazy("what the resident was told"),
    "reason": gettext_lazy("reason"),
    "approve": gettext_lazy("decision"),
    "common": Issue._meta.get_field("common").verbose_name,
    "difficult": Issue._meta.get_field("difficult").verbose_name,
    "source": Issue._meta.get_field("source").verbose_name,
}


def _data_names(events):
    """The names behind the references in the events' data, in at most three queries: companies and
    merge targets by id, people by username (older events may hold their id)."""
    refs = {"handler_org": set(), "handler_user": set(), "into": set()}
    for e in events:
        for key in refs:
            value = (e.data or {}).get(key)
            if isinstance(value, (int, str)) and value != "":
                refs[key].add(value)
    names = {key: {} for key in refs}
    if refs["handler_org"]:
        ids = [v for v in refs["handler_org"] if isinstance(v, int)]
        names["handler_org"] = dict(Organisation.objects.filter(pk__in=ids).values_list("pk", "name"))
    if refs["handler_user"]:
        ids = [v for v in refs["handler_user"] if isinstance(v, int)]
        usernames = [v for v in refs["handler_user"] if isinstance(v, str)]
        for user in get_user_model().objects.filter(Q(pk__in=ids) | Q(username__in=usernames)):
            names["handler_user"][user.pk] = names["handler_user"][user.username] = str(user)
    if refs["into"]:
        ids = [v for v in refs["into"] if isinstance(v, int)]
        names["into"] = dict(Issue.objects.filter(pk__in=ids).values_list("pk", "number"))
    return names


def _describe(data, names):
    choices = {"channel": dict(FEEDBACK_CHANNELS), "satisfaction": dict(SATISFACTION), "source": dict(Source.choices)}
    out = []
    for key, value in (data or {}).items():
        if key in names:
            value = names[key].get(value, value)
        elif key in choices:
            value = choices[key].get(value, value)
        elif isinstance(value, bool):
            value = _("approve") if key == "approve" and value else _("refuse") if key == "approve" else (
                _("Yes") if value else _("No"))
        elif key in ("due", "until") and isinstance(value, str) and parse_datetime(value):
            value = timezone.localtime(parse_datetime(value)).strftime("%Y-%m-%d %H:%M")
        out.append((str(DATA_LABELS.get(key, key)), value))
    return out


# --- reference data: categories and the calendar -------------------------------------------------


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ["code", "name", "group", "deadline", "deadline_unit", "handler_kind", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The table's CHECK (deadline >= 1), as a field error rather than a form-wide one.
        self.fields["deadline"].min_value = 1
        self.fields["deadline"].validators.append(MinValueValidator(1))
        self.fields["deadline"].widget.attrs["min"] = 1


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    """Street staff keep the categories; a category in use cannot be deleted (its issues protect it),
    only set inactive, which takes it off the report forms."""

    form = CategoryForm
    list_display = ["code", "name", "group", "deadline", "deadline_unit", "handler_kind", "active"]
    list_filter = ["group", "handler_kind", "active"]
    search_fields = ["code", "name"]
    fields = ["code", "name", "group", "deadline", "deadline_unit", "handler_kind", "active"]


@admin.register(CalendarOverride)
class CalendarOverrideAdmin(admin.ModelAdmin):
    """Corrections to the statutory calendar; every deadline computed after a change uses them."""

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
class NotificationAdmin(NotFoundMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: the outbox is written by the services and emptied by the Celery task. Failed
    messages can be sent again by the `retry` action."""

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
        qs = super().get_queryset(request)
        if grid_selectors.scope_roots(request.user) is None:
            return qs
        # Messages about the issues the user sees, and their own.
        return qs.filter(Q(issue_id__in=visible_issues(request.user).values("pk")) | Q(recipient=request.user))

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
        # A phone number is masked on every channel (a console message may be addressed to one).
        return mask_phone(n.address) if PHONE_RE.match(n.address or "") else n.address

    def has_retry_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @admin.action(description=gettext_lazy("Send the failed messages again"), permissions=["retry"])
    def retry(self, request, queryset):
        failed = list(queryset.filter(status=Notification.Status.FAILED).values_list("pk", flat=True))
        skipped = queryset.count() - len(failed)
        # A fresh round of attempts: what fails again now stays pending for the outbox task.
        Notification.objects.filter(pk__in=failed, status=Notification.Status.FAILED).update(
            status=Notification.Status.PENDING, attempts=0, next_attempt_at=None)
        sent = waiting = 0
        for pk in failed:
            try:
                n = notifications.deliver(pk)
            except notifications.DeliveryError:
                waiting += 1
                continue
            if n is not None and n.status == Notification.Status.SENT:
                sent += 1
            else:
                waiting += 1
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
