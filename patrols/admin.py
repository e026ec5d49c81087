"""Joint patrols in the street office's admin.

Scenarios and checklist templates are reference data that street staff keep here (like the ledger's
categories). Everything else is written by `patrols.services` and only read here: plans, patrol
records, work logs, monthly reports and job runs, each scoped through `patrols.selectors`, so an
object outside the user's scope answers 404. Two forms write, and both through the services: the
analysis meeting on a report (`services.meeting_record`, whose dotted error keys come back as field
and decision errors) and the button that runs a monthly job (the Celery task of `tasks.TASKS`).

Who may do what follows `patrols.apps.ADMIN_PERMISSIONS`: `patrols.add_meeting` opens the meeting
form (the service then checks the secretary's or street staff's role on the report's place), and
`patrols.run_jobs` the job button.
"""

import datetime
import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.widgets import AdminDateWidget, FilteredSelectMultiple
from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Count, Func, IntegerField
from django.db.models.fields.json import KeyTransform
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from grid import selectors as grid_selectors
from grid.admin import ExcelMixin, NotFoundMixin, ReadOnlyMixin, ScopedAdmin, SubtreeFilter
from grid.excel import Column, write_sheet
from grid.models import Level, Role
from issues import workflow
from issues.models import State, Supervision
from issues.selectors import visible_issues

from . import selectors, services
from .models import (
    ChecklistItem,
    ChecklistTemplate,
    Decision,
    Finding,
    ItemResult,
    Job,
    JobRun,
    Meeting,
    MonthlyReport,
    Participant,
    Patrol,
    PatrolPlan,
    Scenario,
    WorkKind,
    WorkLog,
)
from .tasks import TASKS

log = logging.getLogger(__name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _perm(request, action, model):
    opts = model._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")


def _local(value, fmt="%Y-%m-%d %H:%M"):
    return timezone.localtime(value).strftime(fmt) if value else ""


# --- filters and inlines shared by the registers ------------------------------------------------


class ScopeColumnsFilter(SubtreeFilter):
    """grid's subtree filter; a street or community uses the rows' indexed street/community columns."""

    via = "node"

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        node = grid_selectors.visible_node(request.user, self.value())
        if node is None:
            return queryset.none()
        if node.level == Level.STREET:
            return queryset.filter(street=node)
        if node.level == Level.COMMUNITY:
            return queryset.filter(community=node)
        return queryset.filter(grid_selectors.subtree_q(node, self.via))


class WorkLogSubtreeFilter(ScopeColumnsFilter):
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


def issue_link(issue):
    if issue is None:
        return "—"
    return format_html('<a href="{}">{}</a> {}', reverse("admin:issues_issue_change", args=[issue.pk]),
                       issue.number, issue.title)


# --- scenarios and checklists (reference data) --------------------------------------------------


class ScenarioForm(forms.ModelForm):
    """`levels` is a JSON list on the model; here it is two checkboxes. Scenario.clean is the one
    rule for it, and the season and planned day get field errors rather than a violated constraint."""

    levels = forms.TypedMultipleChoiceField(
        label=gettext_lazy("levels"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(Level.COMMUNITY.value, Level.COMMUNITY.label), (Level.COMPOUND.value, Level.COMPOUND.label)],
        help_text=gettext_lazy("The grid levels it is planned for: communities, compounds or both."),
    )

    class Meta:
        model = Scenario
        fields = ["name", "code", "template", "categories", "cadence", "levels", "starts_on", "ends_on",
                  "planned_day", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "planned_day" in self.fields:
            # The table's CHECK (1 <= planned_day <= 28), as a field error rather than a form-wide one.
            field = self.fields["planned_day"]
            field.validators += [MinValueValidator(1), MaxValueValidator(28)]
            field.widget.attrs.update(min=1, max=28)

    def _get_validation_exclusions(self):
        # JSONField's "cannot be blank" would repeat Scenario.clean's clearer message for no level.
        return super()._get_validation_exclusions() | {"levels"}

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if data.get("cadence") == "range":
            for name in ("starts_on", "ends_on"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, _("A scenario for a date range needs its first and last day."))
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The last day comes before the first."))
        return data


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
class ChecklistTemplateAdmin(NotFoundMixin, admin.ModelAdmin):
    """An item already answered on a patrol cannot be deleted (its results protect it)."""

    list_display = ["name", "item_count", "scenario_list"]
    search_fields = ["name"]
    inlines = [ChecklistItemInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(items_n=Count("items", distinct=True)).prefetch_related("scenarios")

    @admin.display(description=gettext_lazy("items"), ordering="items_n")
    def item_count(self, template):
        return template.items_n

    @admin.display(description=gettext_lazy("scenarios"))
    def scenario_list(self, template):
        return "、".join(s.name for s in template.scenarios.all())


@admin.register(Scenario)
class ScenarioAdmin(NotFoundMixin, admin.ModelAdmin):
    """Application scenarios are data: a new or changed one is planned by the next monthly job."""

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
    list_filter = ["state", "scenario", "period", ScopeColumnsFilter]
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


@admin.register(WorkLog)
class WorkLogAdmin(ExcelMixin, ReadOnlyMixin, ScopedAdmin):
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
        # The work log has no import: only ExcelMixin's export stays.
        return [u for u in super().get_urls() if getattr(u, "name", None) != "patrols_worklog_import"]

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            cl = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:patrols_worklog_changelist") + "?e=1")
        # Exactly the rows the changelist's filters and search select, in its order.
        data = write_sheet(_("work logs"), WORKLOG_SHEET, worklog_rows(cl.get_queryset(request)))
        response = HttpResponse(data, content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="worklogs-{timezone.localdate():%Y%m%d}.xlsx"'
        return response


# --- monthly reports ----------------------------------------------------------------------------


class JSONArrayLength(Func):
    """The length of a JSON array inside a JSONField, counted by the database: the changelist
    shows a report's figures without loading its (possibly large) content."""

    function = "json_array_length"
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="jsonb_array_length", **extra)


def _json(*keys):
    expr = "data"
    for key in keys:
        expr = KeyTransform(key, expr)
    return expr


SUPERVISION_LABELS = dict(Supervision.choices)
COMMON_RULES = {"spread": gettext_lazy("in %(n)s micro-grids this month"),
                "repeat": gettext_lazy("%(n)s times at %(grid)s in %(months)s months")}
DIFFICULT_REASONS = {
    "red_card": gettext_lazy("red card"),
    "reopened": gettext_lazy("reopened"),
    "escalated": gettext_lazy("referred or escalated"),
    "flagged": gettext_lazy("flagged difficult"),
    "stale": gettext_lazy("unsolved for long"),
}


def _state(value):
    return str(State(value).label) if value in State.values else value


def _when(iso):
    if not iso:
        return ""
    try:
        return _local(datetime.datetime.fromisoformat(iso))
    except (TypeError, ValueError):
        return iso


def _issue_rows(rows):
    return [{
        **row,
        "state_label": _state(row.get("state")),
        "due": _when(row.get("due_at")),
        "reported": _when(row.get("reported_at")),
        "supervision_label": SUPERVISION_LABELS.get(row.get("supervision") or 0, ""),
        "reason_labels": [str(DIFFICULT_REASONS.get(r, r)) for r in row.get("reasons", ())],
        "url": reverse("admin:issues_issue_change", args=[row["id"]]) if row.get("id") else "",
    } for row in rows]


def report_context(report):
    """The stored report as the change page shows it: labels in the user's language, local times."""
    data = report.data or {}
    handling = data.get("handling", {})
    analysis = data.get("analysis", {})
    by_state = handling.get("by_state", {})
    months = data.get("thresholds", {}).get("repeat_months", "")
    common = []
    for row in analysis.get("common", ()):
        n = row.get("microgrids") if row.get("rule") == "spread" else row.get("issues")
        rule = COMMON_RULES.get(row.get("rule"))
        label = str(rule) % {"n": n, "grid": row.get("grid", ""), "months": months} if rule else row.get("rule")
        common.append({**row, "rule_label": label})
    return {
        "patrols": data.get("patrols", {}),
        "found": handling.get("found", 0),
        "solved_on_spot": handling.get("solved_on_spot", 0),
        "by_state": [(str(label), by_state.get(value, 0)) for value, label in State.choices if by_state.get(value)],
        "by_category": handling.get("by_category", []),
        "open": _issue_rows(handling.get("open", ())),
        "overdue": _issue_rows(handling.get("overdue", ())),
        "common": common,
        "difficult": _issue_rows(analysis.get("difficult", ())),
        "communities": data.get("communities", []),
        "thresholds": data.get("thresholds", {}),
    }


@admin.register(MonthlyReport)
class MonthlyReportAdmin(ReadOnlyMixin, ScopedAdmin):
    """Read-only: the monthly job writes the reports. The change page shows the report itself, with
    its printable page, its Excel download and its analysis meeting."""

    change_form_template = "admin/patrols/monthlyreport_change_form.html"
    list_display = ["node", "month", "generated_at", "found", "open_count", "overdue_count", "common_count",
                    "difficult_count", "meeting_link"]
    list_filter = ["month", ScopeColumnsFilter]
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
                return super().get_queryset(request, exclude_parameters).defer("data").annotate(
                    found_n=_json("handling", "found"),
                    open_n=JSONArrayLength(_json("handling", "open")),
                    overdue_n=JSONArrayLength(_json("handling", "overdue")),
                    common_n=JSONArrayLength(_json("analysis", "common")),
                    difficult_n=JSONArrayLength(_json("analysis", "difficult")),
                )

        return FiguresChangeList

    @admin.display(description=gettext_lazy("found on patrols"))
    def found(self, report):
        return getattr(report, "found_n", None)

    @admin.display(description=gettext_lazy("open"))
    def open_count(self, report):
        return getattr(report, "open_n", None)

    @admin.display(description=gettext_lazy("overdue"))
    def overdue_count(self, report):
        return getattr(report, "overdue_n", None)

    @admin.display(description=gettext_lazy("common problems"))
    def common_count(self, report):
        return getattr(report, "common_n", None)

    @admin.display(description=gettext_lazy("difficult problems"))
    def difficult_count(self, report):
        return getattr(report, "difficult_n", None)

    @admin.display(description=gettext_lazy("analysis meeting"))
    def meeting_link(self, report):
        meeting = getattr(report, "meeting", None)
        if meeting is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:patrols_meeting_change", args=[meeting.pk]),
                           meeting.held_on.isoformat())

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["report"] = report_context(obj)
            context["meeting"] = getattr(obj, "meeting", None)
            context["may_record_meeting"] = (context["meeting"] is None
                                             and MeetingAdmin.may_add(request))
            context["meeting_add_url"] = reverse("admin:patrols_meeting_add") + f"?report={obj.pk}"
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


# --- the analysis meeting -----------------------------------------------------------------------


class MeetingForm(forms.Form):
    report = forms.ModelChoiceField(label=gettext_lazy("monthly report"), queryset=MonthlyReport.objects.none())
    held_on = forms.DateField(label=gettext_lazy("held on"), widget=AdminDateWidget)
    attendees = forms.ModelMultipleChoiceField(
        label=gettext_lazy("attendees"), required=False, queryset=get_user_model().objects.none(),
        widget=FilteredSelectMultiple(gettext_lazy("attendees"), is_stacked=False),
    )
    other_attendees = forms.CharField(
        label=gettext_lazy("other attendees"), required=False, max_length=500,
        help_text=gettext_lazy("People not on the roster, e.g. the property company's manager."),
    )
    minutes = forms.CharField(label=gettext_lazy("minutes"), max_length=10000, widget=forms.Textarea(attrs={"rows": 8}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["report"].queryset = selectors.visible_reports(user).select_related("node").order_by(
            "-month", "node__level", "node__code")
        self.fields["attendees"].queryset = grid_selectors.visible_users(user)


class DecisionForm(forms.Form):
    text = forms.CharField(label=pgettext_lazy("meeting", "decision"), max_length=1000,
                           widget=forms.Textarea(attrs={"rows": 2, "cols": 40}))
    issue = forms.CharField(
        label=gettext_lazy("issue"), required=False, max_length=30,
        widget=forms.TextInput(attrs={"list": "report-issues", "size": 18}),
        help_text=gettext_lazy("Ledger number (or id) of an issue of this report's place."),
    )
    common = forms.BooleanField(label=gettext_lazy("common problem"), required=False)
    difficult = forms.BooleanField(label=gettext_lazy("difficult problem"), required=False)
    escalate = forms.BooleanField(label=gettext_lazy("escalate to joint disposal"), required=False)


DecisionFormSet = forms.formset_factory(DecisionForm, extra=3, max_num=50, validate_max=True)


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
        return "；".join(f"{workflow.ACTION_LABELS.get(e.action, e.action)} → {_state(e.to_state)}" for e in events)


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

    # -- the add form: the meeting and its decisions in one call of the service --

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        user = request.user
        initial = {"held_on": timezone.localdate()}
        fixed = None
        if request.GET.get("report"):
            fixed = selectors.visible_reports(user).select_related("node").filter(
                pk=request.GET["report"] if str(request.GET["report"]).isdigit() else None).first()
            if fixed is None:
                raise Http404
            initial["report"] = fixed.pk
        if request.method == "POST":
            form = MeetingForm(request.POST, user=user)
            decisions = DecisionFormSet(request.POST, prefix="decisions")
            if all([form.is_valid(), decisions.is_valid()]):  # both validated, so both show their errors
                meeting = self._record(request, form, decisions)
                if meeting is not None:
                    self.message_user(request, ngettext(
                        "The analysis meeting on %(report)s is recorded with %(n)d decision.",
                        "The analysis meeting on %(report)s is recorded with %(n)d decisions.",
                        meeting.decisions_n) % {"report": meeting.report, "n": meeting.decisions_n}, messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:patrols_meeting_change", args=[meeting.pk]))
        else:
            form = MeetingForm(initial=initial, user=user)
            decisions = DecisionFormSet(prefix="decisions")
        report = fixed or self._chosen_report(form)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Record the analysis meeting"),
            "form": form,
            "decisions": decisions,
            "report": report,
            "report_issues": self._report_issues(report),
            "media": self.media + form.media + decisions.media,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/patrols/meeting_add.html", context)

    def _chosen_report(self, form):
        value = form["report"].value()
        if not str(value or "").isdigit():
            return None
        return form.fields["report"].queryset.filter(pk=value).first()

    @staticmethod
    def _report_issues(report):
        """The issues the report lists, offered as suggestions for the decisions (no query)."""
        if report is None:
            return []
        data = report.data or {}
        seen, out = set(), []
        for row in (data.get("analysis", {}).get("difficult", []) + data.get("handling", {}).get("open", [])):
            if row.get("number") and row["number"] not in seen:
                seen.add(row["number"])
                out.append({"number": row["number"], "title": row.get("title", "")})
        return out

    def _record(self, request, form, decisions):
        """Call the service; map its dotted error keys back onto the form and the decisions."""
        rows, forms_by_row = [], []
        numbers = {f.cleaned_data["issue"].strip() for f in decisions.forms
                   if f.has_changed() and f.cleaned_data.get("issue")}
        by_number = dict(visible_issues(request.user).filter(number__in=numbers).values_list("number", "pk"))
        for f in decisions.forms:
            if not f.has_changed():
                continue
            raw = (f.cleaned_data.get("issue") or "").strip()
            rows.append({
                "text": f.cleaned_data["text"],
                # A ledger number, or else the raw id: the service checks either against the report's place.
                "issue": by_number.get(raw, raw) or None,
                **{k: f.cleaned_data.get(k, False) for k in ("common", "difficult", "escalate")},
            })
            forms_by_row.append(f)
        data = form.cleaned_data
        try:
            meeting = services.meeting_record(
                actor=request.user, report_id=data["report"].pk, held_on=data["held_on"], minutes=data["minutes"],
                attendees=list(data["attendees"]), other_attendees=data["other_attendees"], decisions=rows,
            )
        except ValidationError as e:
            self._map_errors(e, form, forms_by_row)
            return None
        except PermissionDenied as e:
            form.add_error(None, str(e) or _("You may not record the meeting on this report."))
            return None
        except MonthlyReport.DoesNotExist:
            raise Http404
        meeting.decisions_n = len(rows)
        return meeting

    @staticmethod
    def _map_errors(error, form, forms_by_row):
        for key, messages_ in error.message_dict.items():
            parts = key.split(".")
            if parts[0] == "decisions" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(forms_by_row):
                target = forms_by_row[int(parts[1])]
                field = parts[2] if len(parts) > 2 and parts[2] in target.fields else None
                target.add_error(field, messages_)
            else:
                form.add_error(key if key in form.fields else None, messages_)


# --- job runs -----------------------------------------------------------------------------------


class RunJobForm(forms.Form):
    job = forms.ChoiceField(label=gettext_lazy("job"), choices=Job.choices)
    month = forms.CharField(
        label=gettext_lazy("month"), required=False, max_length=7,
        widget=forms.TextInput(attrs={"placeholder": "2026-11", "size": 8}),
        help_text=gettext_lazy("YYYY-MM. Empty: this month for plans, last month for reports."),
    )
    node = forms.CharField(
        label=gettext_lazy("street or community code"), required=False, max_length=50,
        widget=forms.TextInput(attrs={"size": 12}),
        help_text=gettext_lazy("Empty: your whole area."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_month(self):
        value = self.cleaned_data["month"].strip()
        if not value:
            return ""
        try:
            first, _last = services.parse_month(value)
        except ValidationError as e:
            raise ValidationError(e.message_dict["month"]) from None
        return services.month_label(first)

    def clean_node(self):
        code = self.cleaned_data["node"].strip()
        if code:
            node = grid_selectors.visible_nodes(self.user).filter(code=code, level__lte=Level.COMMUNITY).first()
            if node is None:
                raise ValidationError(_("No street or community with this code in your area."))
            return node
        roots = grid_selectors.scope_roots(self.user)
        if roots is None:
            return None  # an administrator: every street
        areas = [r for r in roots if r.level <= Level.COMMUNITY]
        if len(areas) != 1 or len(roots) != 1:
            raise ValidationError(_("Give the code of a street or community of yours."))
        return grid_selectors.visible_nodes(self.user).get(pk=areas[0].node_id)

    def clean(self):
        data = super().clean()
        if data.get("job") and "month" in data and not data["month"]:
            data["month"] = services.DEFAULT_MONTH[data["job"]]()
        return data


@admin.register(JobRun)
class JobRunAdmin(NotFoundMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: every run of a monthly job (beat, command or the button here) leaves its record.
    The button enqueues the job's Celery task after the request commits."""

    change_list_template = "admin/patrols/jobrun_change_list.html"
    list_display = ["job", "month", "node", "trigger", "started_at", "finished_at", "outcome", "attempt",
                    "result_text", "error_line"]
    list_filter = ["job", "outcome", "month"]
    search_fields = ["trigger", "month"]
    list_select_related = ["node"]
    list_per_page = 100
    fields = ["job", "month", "node", "trigger", "started_at", "finished_at", "outcome", "attempt", "result_text",
              "error"]
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("node")
        if grid_selectors.scope_roots(request.user) is None:
            return qs
        # Runs over every street (beat, command) and runs on a place of the user's scope.
        visible = grid_selectors.visible_nodes(request.user).values("pk")
        return qs.filter(node__isnull=True) | qs.filter(node__in=visible)

    @staticmethod
    def may_run(request):
        return request.user.has_perm("patrols.run_jobs")

    @admin.display(description=gettext_lazy("result"))
    def result_text(self, run):
        return "，".join(f"{k}: {v}" for k, v in (run.result or {}).items() if k != "month") or "—"

    @admin.display(description=gettext_lazy("error"))
    def error_line(self, run):
        return (run.error or "").split("\n", 1)[0][:120] or "—"

    def get_urls(self):
        return [
            path("run/", self.admin_site.admin_view(self.run_view), name="patrols_jobrun_run"),
        ] + super().get_urls()

    def last_runs(self, request):
        qs = self.get_queryset(request)
        out = []
        for job, label in Job.choices:
            run = qs.filter(job=job).order_by("-started_at", "-id").first()
            out.append({"job": job, "label": label, "run": run, "result": self.result_text(run) if run else ""})
        return out

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "last_runs": self.last_runs(request),
            "run_form": RunJobForm(user=request.user) if self.may_run(request) else None,
        }
        return super().changelist_view(request, extra_context)

    def run_view(self, request):
        if not self.may_run(request):
            raise PermissionDenied
        form = RunJobForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            job, month, node = form.cleaned_data["job"], form.cleaned_data["month"], form.cleaned_data["node"]
            try:
                TASKS[job].delay_on_commit(month=month, node_id=node.pk if node else None,
                                           trigger=f"admin:{request.user.username}")
            except Exception:  # noqa: BLE001 — run inline (embedded mode) or a broker down: say so, no 500
                log.exception("Job %s for %s could not be run from the admin", job, month)
                self.message_user(request, _("“%(job)s” for %(month)s failed; the run below says why.") % {
                    "job": Job(job).label, "month": month}, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:patrols_jobrun_changelist"))
            self.message_user(request, _("“%(job)s” for %(month)s%(place)s is started; its run is listed below.") % {
                "job": Job(job).label, "month": month, "place": f" · {node.name}" if node else "",
            }, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:patrols_jobrun_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Run a monthly job"),
            "form": form,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/patrols/jobrun_run.html", context)
