"""The patrols' custom admin views: the analysis meeting's add form (one call of
`services.meeting_record`, its dotted error keys put back on the form and its decision rows) and the
work-log export (the changelist's rows as a workbook)."""

from collections import defaultdict

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from common.admin import changelist_export
from common.excel import write_sheet
from common.forms import add_service_errors, error_text
from grid.scoped import scoped_object_or_404
from issues.selectors import visible_issues

from .. import selectors, services
from ..models import MonthlyReport
from ..report import snapshot
from .forms import DecisionFormSet, MeetingForm
from .presentation import WORKLOG_SHEET, worklog_rows


def meeting_add(model_admin, request):
    """Record the analysis meeting on a report, with its decisions, in one call of the service."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    user = request.user
    initial = {"held_on": timezone.localdate()}
    fixed = None
    if request.GET.get("report"):
        fixed = scoped_object_or_404(selectors.visible_reports(user).select_related("node"), pk=request.GET["report"])
        initial["report"] = fixed.pk
    if request.method == "POST":
        form = MeetingForm(request.POST, user=user)
        decisions = DecisionFormSet(request.POST, prefix="decisions")
        if all([form.is_valid(), decisions.is_valid()]):  # both validated, so both show their errors
            meeting = _record(request, form, decisions)
            if meeting is not None:
                model_admin.message_user(request, ngettext(
                    "The analysis meeting on %(report)s is recorded with %(n)d decision.",
                    "The analysis meeting on %(report)s is recorded with %(n)d decisions.",
                    meeting.decisions_n) % {"report": meeting.report, "n": meeting.decisions_n}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:patrols_meeting_change", args=[meeting.pk]))
    else:
        form = MeetingForm(initial=initial, user=user)
        decisions = DecisionFormSet(prefix="decisions")
    report = fixed or form.chosen_report()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Record the analysis meeting"),
        "form": form,
        "decisions": decisions,
        "report": report,
        # The issues the report lists, offered as suggestions for the decisions (no query).
        "report_issues": snapshot(report).suggestions() if report is not None else [],
        "media": model_admin.media + form.media + decisions.media,
        "has_view_permission": model_admin.has_view_permission(request),
    }
    return TemplateResponse(request, "admin/patrols/meeting_add.html", context)


def _record(request, form, decisions):
    """Call the service; put its errors back onto the form and the decisions."""
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
        _put_errors(e, form, forms_by_row)
        return None
    except PermissionDenied as e:
        form.add_error(None, error_text(e))
        return None
    except MonthlyReport.DoesNotExist:
        raise Http404
    meeting.decisions_n = len(rows)
    return meeting


def _put_errors(error, form, forms_by_row):
    """`decisions.<n>.<field>` onto the n-th filled decision row, the rest onto the meeting form."""
    top, by_row = {}, defaultdict(dict)
    for key, errors in error.error_dict.items():
        parts = key.split(".")
        if parts[0] == "decisions" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(forms_by_row):
            by_row[int(parts[1])][parts[2] if len(parts) > 2 else "__all__"] = errors
        else:
            top[key] = errors
    if top:
        add_service_errors(form, ValidationError(top))
    for i, errors in by_row.items():
        add_service_errors(forms_by_row[i], ValidationError(errors))


def worklog_export(model_admin, request):
    """Exactly the rows the changelist's filters and search select, in its order."""
    return changelist_export(model_admin, request, lambda worklogs: write_sheet(
        _("work logs"), WORKLOG_SHEET, worklog_rows(worklogs)), "worklogs")
