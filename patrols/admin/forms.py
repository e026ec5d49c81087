"""The forms of the patrols' admin: scenarios (reference data) and the analysis meeting with its
decisions, whose writing is `services.meeting_record`'s."""

from django import forms
from django.contrib.admin.widgets import AdminDateWidget, FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from common.forms import IdsChoiceField, ServiceForm
from grid import selectors as grid_selectors
from grid.models import Level

from .. import selectors
from ..models import MonthlyReport, Scenario


SCENARIO_FIELDS = ["name", "code", "template", "categories", "cadence", "levels", "starts_on", "ends_on",
                   "planned_day", "active"]


class ScenarioForm(ServiceForm):
    """`levels` is a JSON list on the model; here it is two checkboxes. Scenario.clean is the one
    rule for it, and the season and planned day get field errors rather than a violated constraint.
    Saving is `services.scenario_save`'s (ScenarioAdmin.submit)."""

    levels = forms.TypedMultipleChoiceField(
        label=gettext_lazy("levels"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(Level.COMMUNITY.value, Level.COMMUNITY.label), (Level.COMPOUND.value, Level.COMPOUND.label)],
        help_text=gettext_lazy("The grid levels it is planned for: communities, compounds or both."),
    )

    class Meta:
        model = Scenario
        fields = SCENARIO_FIELDS
        field_classes = {"categories": IdsChoiceField}

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
                    self.add_error(name, forms.ValidationError(
                        _("A scenario for a date range needs its first and last day."), code="range_dates_required"))
        if starts and ends and ends < starts:
            self.add_error("ends_on", forms.ValidationError(_("The last day comes before the first."),
                                                            code="range_reversed"))
        return data


class MeetingForm(forms.Form):
    report = forms.ModelChoiceField(label=gettext_lazy("monthly report"), queryset=MonthlyReport.objects.none())
    held_on = forms.DateField(label=gettext_lazy("held on"), widget=AdminDateWidget)
    attendees = IdsChoiceField(
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

    def chosen_report(self):
        """The report picked so far (for the issues it suggests), or None."""
        try:
            return self.fields["report"].clean(self["report"].value())
        except forms.ValidationError:
            return None


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
