"""The runs of every periodic job (`common.models.JobRun`) in the admin: read-only, the last run of each
registered job with its outcome, and a button that starts a monthly job.

Scope comes from `common.registry.scope["visible_node_ids"]` (set by grid): everyone who may view
runs sees the runs over every place (beat, commands) and those on a node of their own scope; another
place's runs answer 404. The button (`common.run_jobs`) is offered for the jobs registered with
`monthly=True` and a task: it enqueues the registered task by name once the request commits; the
place typed is read by the job's own place picker (`jobs.place_picker`), since common knows no tree.
"""

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import jobs, registry
from .ids import parse_id
from .forms import add_service_errors
from .models import JobRun
from .periods import month_label, parse_month

log = logging.getLogger(__name__)
NUL = "\x00"


def result_text(run):
    """A run's result in one line (the month, shown beside it, left out)."""
    return "，".join(f"{k}: {v}" for k, v in (run.result or {}).items() if k != "month") or "—"


def runnable():
    """The jobs the button may start: monthly, with a Celery task."""
    return {name: spec for name, spec in jobs.JOBS.items() if spec.monthly and spec.task}


class RunJobForm(forms.Form):
    job = forms.ChoiceField(label=gettext_lazy("job"))
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
        self.fields["job"].choices = [(name, spec.label) for name, spec in runnable().items()]

    def clean_month(self):
        value = self.cleaned_data["month"].strip()
        if not value:
            return ""
        try:
            first, _last = parse_month(value)
        except ValidationError as e:
            raise ValidationError(e.error_dict["month"]) from None
        return month_label(first)

    def clean(self):
        data = super().clean()
        spec = runnable().get(data.get("job"))
        if spec is None:
            return data
        if "month" in data and not data["month"]:
            data["month"] = spec.default_month()
        picker = spec.options.get("place")
        data["place"] = None
        if picker is not None and "node" in data:
            try:
                data["place"] = picker(self.user, data["node"])
            except ValidationError as e:
                add_service_errors(self, e)
        elif data.get("node"):
            self.add_error("node", ValidationError(_("This job runs for every place."), code="no_place"))
        return data


DATE_PARTS = {"year": (1, 9998), "month": (1, 12), "day": (1, 31)}


def sees_phones(user):
    """Whether `user` reads full phone numbers (grid sets the rule: the `grid.view_full_phone` right)."""
    return bool(user is not None and registry.scope["can_see_phones"](user))


class CleanQueryMixin:
    """Every admin's guard on what a request may ask, so none answers a 500 or reads what it may not:

    - an object id is an ASCII id (`abc`, `0`, `１`, huge: 404, never an overflow);
    - a NUL byte in the query (PostgreSQL refuses it in a string), or a date drill-down part out of
      range (Django reads the year as a C long), is an incorrect lookup: the admin's "?e=1" page;
    - the model's `phone_fields` (private phones) are never filtered, searched or sorted on by a user
      without the phone right: `?phone__startswith=139` would read a masked number digit by digit."""

    def get_object(self, request, object_id, from_field=None):
        if from_field is None and parse_id(object_id) is None:
            return None
        return super().get_object(request, object_id, from_field)

    def get_changelist_instance(self, request):
        if any(NUL in key or NUL in value for key, values in request.GET.lists() for value in values):
            raise IncorrectLookupParameters("NUL in the query")
        for key, value in request.GET.items():
            part = key.rsplit("__", 1)[-1] if "__" in key else None
            if part in DATE_PARTS:
                low, high = DATE_PARTS[part]
                if not (value.isascii() and value.isdigit() and len(value) <= 4 and low <= int(value) <= high):
                    raise IncorrectLookupParameters(key)
        return super().get_changelist_instance(request)

    def get_search_results(self, request, queryset, search_term):
        # PostgreSQL refuses a NUL in any text comparison: dropped, in searches and autocompletes.
        return super().get_search_results(request, queryset, search_term.replace(NUL, ""))

    # -- private phones --

    def hidden_phone_fields(self, request):
        fields = tuple(getattr(self.model, "phone_fields", ()))
        return () if not fields or sees_phones(request.user) else fields

    def lookup_allowed(self, lookup, value, request=None):
        if request is not None and lookup.split("__")[0] in self.hidden_phone_fields(request):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_search_fields(self, request):
        hidden = self.hidden_phone_fields(request)
        return [f for f in super().get_search_fields(request) if f.lstrip("^=@").split("__")[0] not in hidden]

    def get_sortable_by(self, request):
        hidden = self.hidden_phone_fields(request)
        return [f for f in super().get_sortable_by(request) if f not in hidden]


class NotFoundMixin:
    """An object that is unknown or outside the user's scope answers 404, as everywhere else, not a
    redirect to the index."""

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404


class BaseAdmin(CleanQueryMixin, NotFoundMixin, admin.ModelAdmin):
    """The base of every register of the product (grid.admin.ScopedAdmin adds the scope). Writes go
    through services: no bulk delete (it would bypass their checks and the logs), and what a service
    refuses while deleting is an error message, not a 500."""

    def get_actions(self, request):
        # Bulk delete would bypass the services' checks and the change log.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def run_service(self, request, fn):
        """Run a service; turn its ValidationError into an admin error message instead of a 500."""
        try:
            return fn()
        except ValidationError as e:
            for message in e.messages:
                self.message_user(request, message, level=messages.ERROR)
            return None

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as e:
            for message in e.messages:
                self.message_user(request, message, level=messages.ERROR)
            return HttpResponseRedirect(request.path.rsplit("delete/", 1)[0])


class ReadOnlyMixin:
    """For records nobody edits here: written by their jobs or services, read in the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class JobFilter(admin.SimpleListFilter):
    """The registered jobs by their labels (the table keeps their names)."""

    title = gettext_lazy("job")
    parameter_name = "job"

    def lookups(self, request, model_admin):
        return jobs.choices()

    def queryset(self, request, queryset):
        return queryset.filter(job=self.value()) if self.value() else queryset


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyMixin, BaseAdmin):
    """Read-only: every run of a job (beat, command or the button here) leaves its record."""

    change_list_template = "admin/common/jobrun_change_list.html"
    list_display = ["job_label", "month", "place", "trigger", "started_at", "finished_at", "outcome", "attempt",
                    "result_line", "error_line"]
    list_filter = [JobFilter, "outcome", "month"]
    search_fields = ["trigger", "month", "node_name"]
    list_per_page = 100
    fields = ["job_label", "month", "place", "trigger", "started_at", "finished_at", "outcome", "attempt",
              "result_line", "error"]
    readonly_fields = fields

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404  # another place's run, or none: not found, as everywhere

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        visible = registry.scope["visible_node_ids"](request.user)
        if visible is None:
            return qs
        # Runs over every place (beat, command) and runs on a place of the user's scope.
        return qs.filter(Q(node_id__isnull=True) | Q(node_id__in=visible))

    @staticmethod
    def may_run(request):
        return request.user.has_perm("common.run_jobs")

    @admin.display(description=gettext_lazy("job"), ordering="job")
    def job_label(self, run):
        return run.job_label

    @admin.display(description=gettext_lazy("place"), ordering="node_name")
    def place(self, run):
        return run.node_name or "—"

    @admin.display(description=gettext_lazy("result"))
    def result_line(self, run):
        return result_text(run)

    @admin.display(description=gettext_lazy("error"))
    def error_line(self, run):
        return (run.error or "").split("\n", 1)[0][:120] or "—"

    def get_urls(self):
        return [
            path("run/", self.admin_site.admin_view(self.run_view), name="common_jobrun_run"),
        ] + super().get_urls()

    def last_runs(self, request):
        """Every registered job's last run in the user's scope, with its result in one line."""
        return [{**row, "result": result_text(row["run"]) if row["run"] else ""}
                for row in jobs.last_runs(self.get_queryset(request))]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "last_runs": self.last_runs(request),
            "run_form": RunJobForm(user=request.user) if self.may_run(request) and runnable() else None,
        }
        return super().changelist_view(request, extra_context)

    def run_view(self, request):
        if not self.may_run(request):
            raise PermissionDenied
        form = RunJobForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            return self._start(request, form.cleaned_data)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Run a monthly job"),
            "form": form,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/common/jobrun_run.html", context)

    def _start(self, request, data):
        """Enqueue the job's task once the request commits. Inline (the embedded mode) the job runs
        right then; a failed job or a broker that is down is said in a message, never a 500."""
        name, month, place = data["job"], data["month"], data["place"]
        spec = jobs.JOBS[name]
        failed = []

        def enqueue():
            try:
                import_string(spec.task).delay(month=month, node_id=place.pk if place else None,
                                               trigger=f"admin:{request.user.username}")
            except Exception:  # noqa: BLE001 — the job's run (if it started) says why; the page says it failed
                log.exception("Job %s for %s could not be run from the admin", name, month)
                failed.append(name)

        transaction.on_commit(enqueue)
        changelist = HttpResponseRedirect(reverse("admin:common_jobrun_changelist"))
        if failed:
            self.message_user(request, _("“%(job)s” for %(month)s failed; the run below says why.") % {
                "job": spec.label, "month": month}, messages.ERROR)
            return changelist
        self.message_user(request, _("“%(job)s” for %(month)s%(place)s is started; its run is listed below.") % {
            "job": spec.label, "month": month, "place": f" · {place.name}" if place else "",
        }, messages.SUCCESS)
        return changelist


def changelist_export(model_admin, request, data, stem):
    """An Excel download of exactly the rows a changelist's filters and search select, in its order:
    `data(queryset)` gives the workbook's bytes. A bad filter goes back to the list ("?e=1")."""
    from .excel import xlsx_response

    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        cl = model_admin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        opts = model_admin.model._meta
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + "?e=1")
    return xlsx_response(data(cl.get_queryset(request)), stem)
