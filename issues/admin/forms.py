"""The admin's own forms: the report form (saved by `issue_report`) and the category form. The action
forms are the mobile pages' (`issues.forms.ActionForm`)."""

from django import forms
from django.core.validators import MinValueValidator
from django.utils.translation import gettext_lazy as _

from common.forms import ServiceForm

from .. import workflow
from ..forms import PhotosField
from ..models import Category, Issue, Source

REPORT_FIELDS = ("grid", "category", "title", "description", "source", "location", "priority",
                 "reporter_name", "reporter_phone")


class IssueReportForm(ServiceForm):
    """The admin's report form, saved by `issue_report` while it is validated (common.forms): what the
    service refuses (a place outside the reporter's grid, an inactive category, the `resident` source,
    an empty description) comes back on the form's fields and nothing is written. The choices offered
    already leave out what the service would refuse."""

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


def report_data(form):
    """The report form's fields as `issue_report` takes them."""
    return {**{f: form.cleaned_data[f] for f in REPORT_FIELDS}, "photos": form.cleaned_data.get("photos") or ()}


def rule_for_form(issue, action):
    """The rule whose fields the action form asks for: the current state's, or (when the state has
    moved on since the page was loaded) any rule of that action, so the service can say what is wrong."""
    rule = workflow.rule_for(issue.state, action)
    if rule is None:
        rule = next((r for (_state, a), r in workflow.TABLE.items() if a == action), None)
    return rule


class CategoryForm(ServiceForm):
    class Meta:
        model = Category
        fields = ["code", "name", "group", "deadline", "deadline_unit", "handler_kind", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The table's CHECK (deadline >= 1), as a field error rather than a form-wide one.
        self.fields["deadline"].min_value = 1
        self.fields["deadline"].validators.append(MinValueValidator(1))
        self.fields["deadline"].widget.attrs["min"] = 1
