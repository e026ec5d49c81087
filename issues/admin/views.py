"""The ledger admin's own views: one workflow action's form, and the Excel export of the filtered
ledger. Both write or read through the services and selectors only."""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from common.admin import changelist_export
from common.forms import add_service_errors, error_text
from grid.access import parse_id

from .. import excel, services, workflow
from ..forms import ActionForm
from ..models import Issue
from .forms import rule_for_form
from .presentation import action_label


def action_view(model_admin, request, object_id, action):
    """GET: the form of one workflow action for one issue; POST: `issue_transition` with the version
    the user saw. Field errors come back on the form; a refusal or a conflict is a message."""
    issue = model_admin.get_object(request, unquote(object_id))
    if issue is None:
        raise Http404
    if not (model_admin.has_view_permission(request, issue) and model_admin.has_act_permission(request)):
        raise PermissionDenied
    rule = rule_for_form(issue, action)
    if rule is None or action not in workflow.USER_ACTIONS:
        raise Http404
    site = model_admin.admin_site
    change_url = reverse("admin:issues_issue_change", args=[issue.pk], current_app=site.name)
    if request.method == "POST":
        form = ActionForm(request.POST, request.FILES, issue=issue, action=action, rule=rule, user=request.user)
        if form.is_valid():
            try:
                issue, _event = services.issue_transition(
                    issue_id=issue.pk, action=action, actor=request.user, version=form.cleaned_data["version"],
                    photos=form.cleaned_data.get("photos") or (), **form.service_data(),
                )
            except ValidationError as e:
                add_service_errors(form, e)
            except services.IssueConflict:
                model_admin.message_user(request, _("The issue was changed by someone else meanwhile; nothing was "
                                                    "done. Reload it, check, and try again."), messages.ERROR)
                return HttpResponseRedirect(change_url)
            except PermissionDenied as e:
                model_admin.message_user(request, error_text(e), messages.ERROR)
                return HttpResponseRedirect(change_url)
            except Issue.DoesNotExist:
                raise Http404
            else:
                model_admin.message_user(request, _("%(number)s: “%(action)s” done; the issue is now %(state)s.") % {
                    "number": issue.number, "action": action_label(action), "state": issue.get_state_display(),
                }, messages.SUCCESS)
                return HttpResponseRedirect(change_url)
    else:
        if action not in services.allowed_actions(request.user, issue):
            model_admin.message_user(request, _("“%(action)s” is not open to you while the issue is %(state)s.") % {
                "action": action_label(action), "state": issue.get_state_display()}, messages.ERROR)
            return HttpResponseRedirect(change_url)
        version = parse_id(request.GET.get("version", ""))
        form = ActionForm(initial={"version": version or issue.version}, issue=issue, action=action, rule=rule,
                          user=request.user)
    context = {
        **site.each_context(request),
        "opts": model_admin.opts,
        "title": f"{issue.number} · {action_label(action)}",
        "issue": issue,
        "action": action,
        "action_label": action_label(action),
        "form": form,
        "media": model_admin.media + form.media,
        "change_url": change_url,
        "has_view_permission": True,
    }
    return TemplateResponse(request, "admin/issues/issue/action_form.html", context)


def export_view(model_admin, request):
    """Exactly the rows the changelist's filters, search and date drill-down select, in its order."""
    return changelist_export(model_admin, request, lambda issues: excel.export_ledger(request.user, issues), "ledger")
