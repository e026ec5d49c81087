"""Joint patrols in the street office's admin.

Scenarios and checklist templates are reference data that street staff keep here (like the ledger's
categories). Everything else is written by `patrols.services` and only read here: plans, patrol
records, work logs and monthly reports, each scoped through `patrols.selectors`, so an object outside
the user's scope answers 404. One form writes, through the services: the analysis meeting on a report
(`services.meeting_record`, whose dotted error keys come back as field and decision errors; see
`views.meeting_add`). The monthly jobs' runs and their button are common's (common/admin.py).

Who may do what follows `patrols.apps.ADMIN_PERMISSIONS`: `patrols.add_meeting` opens the meeting
form (the service then checks the secretary's or street staff's role on the report's place).

The package: `forms` (scenario, meeting and decisions), `presentation` (links, labels, the work-log
sheet, the report page), `views` (the meeting form, the work-log export), and here the registers.
"""

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.db.models import Count
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy, pgettext_lazy

from common.admin import BaseAdmin, ReadOnlyMixin
from common.forms import ServiceFormMixin
from grid.admin import ScopedAdmin, SubtreeFilter
from grid.models import Level, Role

from .. import report, selectors, services
from ..models import (
    ChecklistItem,
    ChecklistTemplate,
    Decision,
    Finding,
    ItemResult,
    Meeting,
    MonthlyReport,
    Participant,
    Patrol,
    PatrolPlan,
    Scenario,
    WorkLog,
)
from . import views
from .forms import SCENARIO_FIELDS, ScenarioForm
from .presentation import issue_link, ledger_event, report_context


def _perm(request, action, model):
    opts = model._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")


# --- filters and inlines shared by the registers ------------------------------------------------


class PlaceFilter(SubtreeFilter):
    """grid's subtree filter; a street or community uses the rows' indexed street/community columns."""

    via = "node"


class WorkLogSubtreeFilter(SubtreeFilter):
    via = "grid"


class PatrolSubtreeFilter(SubtreeFilter):
    via = "plan__node"


class MeetingSubtreeFilter(SubtreeFilter):
    via = "report__node"


class PartOfRecordInline(admin.TabularInline):
    """A read-only part of a record (participants, results, findings, decisions): whoever may view
    the record sees its parts; nobody edits them here."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return _perm(request, "view", self.parent_model)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- scenarios and checklists (reference data) --------------------------------------------------


class ChecklistItemInline(admin.TabularInline):
    """The items are part of the template: who may change the template edits its items."""

    model = ChecklistItem
    fields = ["order", "group", "text"]
    extra = 3

    def has_view_permission(self, request, obj=None):
        return _perm(request, "view", ChecklistTemplate) or self.has_change_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return _perm(request, "change", ChecklistTemplate) or (obj is None and _perm(request, "add", ChecklistTemplate))

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(BaseAdmin):
    """Written by `services.checklist_save` with its items (once the form and the items' rows are valid;
    an item already answered on a patrol cannot be deleted: its results protect it)."""

    list_display = ["name", "item_count", "scenario_list"]
    search_fields = ["name"]
    inlines = [ChecklistItemInline]

    def save_model(self, request, obj, form, change):
        pass  # saved with its items in save_related, by the service

    def save_related(self, request, form, formsets, change):
        items, removed = [], []
        for formset in formsets:  # the one inline: the items
            items += formset.save(commit=False)  # the new and changed rows, unsaved (and the change message)
            removed += formset.deleted_objects
        services.checklist_save(actor=request.user, template=form.instance, name=form.cleaned_data["name"],
                                items=items, removed=removed)

    def delete_model(self, request, obj):
        services.checklist_delete(actor=request.user, template=obj)

    def delete_queryset(self, request, queryset):
        for template in queryset:
            services.checklist_delete(actor=request.user, template=template)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(items_n=Count("items", distinct=True)).prefetch_related("scenarios")

    @admin.display(description=gettext_lazy("items"), ordering="items_n")
    def item_count(self, template):
        return template.items_n

    @admin.display(description=gettext_lazy("scenarios"))
    def scenario_list(self, template):
        return "、".join(s.name for s in template.scenarios.all())


@admin.register(Scenario)
class ScenarioAdmin(ServiceFormMixin, BaseAdmin):
    """Application scenarios are data: a new or changed one is planned by the next monthly job. Written
    by `services.scenario_save` (the form's errors and the service's come back on the form)."""

    form = ScenarioForm
    list_display = ["name", "code", "template", "cadence", "level_list", "season", "planned_day", "active"]
    list_filter = ["active", "cadence"]
    search_fields = ["name", "code"]
    list_select_related = ["template"]
    filter_horizontal = ["categories"]
    fieldsets = (
        (None, {"fields": ("name", "code", "template", "categories", "active")}),
        (gettext_lazy("When and where"), {"fields": ("cadence", "levels", "starts_on", "ends_on", "planned_day")}),
    )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, with the protected plans shown
        return actions

    def submit(self, request, form):
        data = {name: form.cleaned_data[name] for name in SCENARIO_FIELDS if name in form.cleaned_data}
        return services.scenario_save(actor=request.user, scenario=form.instance if form.instance.pk else None,
                                      categories=data.pop("categories", None), **data)

    def delete_model(self, request, obj):
        services.scenario_delete(actor=request.user, scenario=obj)

    @admin.display(description=gettext_lazy("levels"))
    def level_list(self, scenario):
        return "、".join(str(Level(lv).label) for lv in scenario.levels or () if lv in Level.values)

    @admin.display(description=gettext_lazy("season"))
    def season(self, scenario):
        if not (scenario.starts_on or scenario.ends_on):
            return "—"
        return f"{scenario.starts_on or ''} ~ {scenario.ends_on or ''}"


# --- plans and patrol records -------------------------------------------------------------------


@admin.register(PatrolPlan)
class PatrolPlanAdmin(ReadOnlyMixin, ScopedAdmin):
    """Read-only: plans are made by the monthly job and closed by their patrol record."""

    list_display = ["scenario", "node", "period", "planned_date", "convener_name", "state", "record"]
    list_filter = ["state", "scenario", "period", PlaceFilter]
    search_fields = ["node__name", "node__code", "scenario__name", "period"]
    list_select_related = ["scenario", "node", "convener__user", "patrol"]
    list_per_page = 100
    fields = ["scenario", "node", "period", "period_start", "period_end", "planned_date", "convener", "state",
              "created_at", "record"]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.visible_plans(request.user).select_related("scenario", "node", "convener__user",
                                                                     "convener__node", "patrol")

    @admin.display(description=gettext_lazy("convener"), ordering="convener__user__name")
    def convener_name(self, plan):
        return str(plan.convener.user) if plan.convener_id else "—"

    @admin.display(description=gettext_lazy("patrol record"))
    def record(self, plan):
        patrol = getattr(plan, "patrol", None)
        if patrol is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:patrols_patrol_change", args=[patrol.pk]),
                           patrol.date.isoformat())


class ParticipantInline(PartOfRecordInline):
    model = Participant
    fields = ["name", "user", "role_label"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    @admin.display(description=gettext_lazy("role"))
    def role_label(self, participant):
        # Roster people carry a role code; outsiders the capacity they came in (free text).
        return str(Role(participant.role).label) if participant.role in Role.values else participant.role


class ItemResultInline(PartOfRecordInline):
    model = ItemResult
    fields = ["item", "result", "note", "photo_links"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("item").prefetch_related("photos")

    @admin.display(description=gettext_lazy("photos"))
    def photo_links(self, result):
        photos = list(result.photos.all())
        if not photos:
            return "—"
        return format_html_join(" ", '<a href="{}" target="_blank">{}</a>',
                                ((p.image.url, i) for i, p in enumerate(photos, start=1)))


class FindingInline(PartOfRecordInline):
    model = Finding
    fields = ["issue_ref", "issue_state", "item", "on_spot"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("issue", "item")

    @admin.display(description=gettext_lazy("issue"))
    def issue_ref(self, finding):
        return issue_link(finding.issue)

    @admin.display(description=gettext_lazy("state"))
    def issue_state(self, finding):
        return finding.issue.get_state_display()


@admin.register(Patrol)
class PatrolAdmin(ReadOnlyMixin, ScopedAdmin):
    """Read-only: a record is made once, on the phone or through the API, by `patrol_record`."""

    change_form_template = "admin/patrols/record_change_form.html"
    list_display = ["date", "scenario", "place", "period", "recorded_by", "participant_count", "finding_count"]
    list_filter = ["plan__scenario", "date", PatrolSubtreeFilter]
    search_fields = ["plan__node__name", "plan__node__code", "plan__scenario__name"]
    list_per_page = 100
    fields = ["plan_link", "date", "recorded_by", "created_at", "note"]
    readonly_fields = fields
    inlines = [ParticipantInline, ItemResultInline, FindingInline]

    def get_queryset(self, request):
        return (selectors.visible_patrols(request.user)
                .select_related("plan__scenario", "plan__node", "recorded_by")
                .annotate(participants_n=Count("participants", distinct=True),
                          findings_n=Count("findings", distinct=True)))

    @admin.display(description=gettext_lazy("scenario"), ordering="plan__scenario__name")
    def scenario(self, patrol):
        return patrol.plan.scenario.name

    @admin.display(description=gettext_lazy("place"), ordering="plan__node__code")
    def place(self, patrol):
        return str(patrol.plan.node)

    @admin.display(description=gettext_lazy("period"), ordering="plan__period")
    def period(self, patrol):
        return patrol.plan.period

    @admin.display(description=gettext_lazy("participants"), ordering="participants_n")
    def participant_count(self, patrol):
        return patrol.participants_n

    @admin.display(description=gettext_lazy("findings"), ordering="findings_n")
    def finding_count(self, patrol):
        return patrol.findings_n

    @admin.display(description=gettext_lazy("plan"))
    def plan_link(self, patrol):
        return format_html('<a href="{}">{}</a>', reverse("admin:patrols_patrolplan_change", args=[patrol.plan_id]),
                           str(patrol.plan))


# --- work logs ----------------------------------------------------------------------------------


@admin.register(WorkLog)
class WorkLogAdmin(ReadOnlyMixin, ScopedAdmin):
    """Read-only: leaders log their work on the phone (`worklog_create`). Exported, never imported."""

    change_list_template = "admin/patrols/worklog_change_list.html"
    list_display = ["date", "leader", "kind", "grid", "household", "issue", "note"]
    list_filter = ["kind", "date", WorkLogSubtreeFilter]
    search_fields = ["leader__username", "leader__name", "grid__name", "grid__code", "note"]
    list_select_related = ["leader", "grid", "household", "issue"]
    list_per_page = 100
    fields = ["leader", "kind", "date", "grid", "household", "issue", "note", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.visible_worklogs(request.user).select_related("leader", "grid", "household", "issue")

    def get_urls(self):
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="patrols_worklog_export"),
        ] + super().get_urls()

    def export_view(self, request):
        return views.worklog_export(self, request)


# --- monthly reports ----------------------------------------------------------------------------


@admin.register(MonthlyReport)
class MonthlyReportAdmin(ReadOnlyMixin, ScopedAdmin):
    """Read-only: the monthly job writes the reports. The change page shows the report itself, with
    its printable page, its Excel download and its analysis meeting."""

    change_form_template = "admin/patrols/monthlyreport_change_form.html"
    list_display = ["node", "month", "generated_at", "found", "open_count", "overdue_count", "common_count",
                    "difficult_count", "meeting_link"]
    list_filter = ["month", PlaceFilter]
    search_fields = ["node__name", "node__code", "month"]
    list_per_page = 100
    fields = ["node", "month", "generated_at", "meeting_link"]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.visible_reports(request.user).select_related("node", "meeting")

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)

        class FiguresChangeList(base):
            # The figures come from the database's JSON functions; the content itself stays unread.
            def get_queryset(self, request, exclude_parameters=None):
                return super().get_queryset(request, exclude_parameters).defer("data").annotate(**report.figures())

        return FiguresChangeList

    @admin.display(description=gettext_lazy("found on patrols"))
    def found(self, rep):
        return getattr(rep, "found_n", None)

    @admin.display(description=gettext_lazy("open"))
    def open_count(self, rep):
        return getattr(rep, "open_n", None)

    @admin.display(description=gettext_lazy("overdue"))
    def overdue_count(self, rep):
        return getattr(rep, "overdue_n", None)

    @admin.display(description=gettext_lazy("common problems"))
    def common_count(self, rep):
        return getattr(rep, "common_n", None)

    @admin.display(description=gettext_lazy("difficult problems"))
    def difficult_count(self, rep):
        return getattr(rep, "difficult_n", None)

    @admin.display(description=gettext_lazy("analysis meeting"))
    def meeting_link(self, rep):
        meeting = getattr(rep, "meeting", None)
        if meeting is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:patrols_meeting_change", args=[meeting.pk]),
                           meeting.held_on.isoformat())

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(report_context(obj))
            context["meeting"] = getattr(obj, "meeting", None)
            context["may_record_meeting"] = (context["meeting"] is None
                                             and MeetingAdmin.may_add(request))
            context["meeting_add_url"] = reverse("admin:patrols_meeting_add") + f"?report={obj.pk}"
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


# --- the analysis meeting -----------------------------------------------------------------------


class DecisionInline(PartOfRecordInline):
    model = Decision
    fields = ["decision", "issue_ref", "common", "difficult", "escalate", "ledger_events"]
    readonly_fields = fields

    @admin.display(description=pgettext_lazy("meeting", "decision"))
    def decision(self, decision):
        # The ledger's "decision" is an approval's; a meeting's decision is what was resolved.
        return decision.text

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("issue").prefetch_related("events")

    @admin.display(description=gettext_lazy("issue"))
    def issue_ref(self, decision):
        return issue_link(decision.issue)

    @admin.display(description=gettext_lazy("ledger events"))
    def ledger_events(self, decision):
        events = list(decision.events.all())
        if not events:
            return "—"
        return "；".join(ledger_event(e) for e in events)


@admin.register(Meeting)
class MeetingAdmin(ScopedAdmin):
    """Recorded once through `services.meeting_record`, then read-only."""

    change_form_template = "admin/patrols/record_change_form.html"
    list_display = ["report", "held_on", "recorded_by", "decision_count", "recorded_at"]
    list_filter = ["held_on", MeetingSubtreeFilter]
    search_fields = ["report__node__name", "report__month", "minutes"]
    list_per_page = 100
    fields = ["report_link", "held_on", "attendee_list", "other_attendees", "minutes_text", "recorded_by",
              "recorded_at"]
    readonly_fields = fields
    inlines = [DecisionInline]

    @staticmethod
    def may_add(request):
        return _perm(request, "add", Meeting)

    def has_add_permission(self, request):
        return self.may_add(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return (Meeting.objects.filter(report__in=selectors.visible_reports(request.user).values("pk"))
                .select_related("report__node", "recorded_by").annotate(decisions_n=Count("decisions")))

    @admin.display(description=gettext_lazy("decisions"), ordering="decisions_n")
    def decision_count(self, meeting):
        return meeting.decisions_n

    @admin.display(description=gettext_lazy("report"))
    def report_link(self, meeting):
        return format_html('<a href="{}">{}</a>', reverse("admin:patrols_monthlyreport_change",
                                                          args=[meeting.report_id]), str(meeting.report))

    @admin.display(description=gettext_lazy("attendees"))
    def attendee_list(self, meeting):
        return "、".join(str(u) for u in meeting.attendees.order_by("name", "username")) or "—"

    @admin.display(description=gettext_lazy("minutes"))
    def minutes_text(self, meeting):
        return format_html("<div style='white-space: pre-wrap'>{}</div>", meeting.minutes)

    def add_view(self, request, form_url="", extra_context=None):
        return views.meeting_add(self, request)
