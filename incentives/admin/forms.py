"""The incentives' admin forms. The add and change forms are `ServiceForm`s (common.forms): once the
form's own checks pass, the service writes, and what it refuses comes back as the form's errors."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.forms import ServiceForm
from common.periods import parse_period
from grid import access
from grid import selectors as grid_selectors
from grid.models import GridNode, Level

from ..models import CareVisit, Fund, Honour, PointRule, Reward
from .presentation import RANKING_BY, node_choice_label

RULE_FIELDS = ["code", "name", "points", "monthly_cap", "active"]
REWARD_FIELDS = ["name", "description", "cost", "stock", "active", "node"]
FUND_FIELDS = ["name", "node", "budget", "starts_on", "ends_on", "closed"]
PERIOD_HELP = gettext_lazy("A month (2026-11), a quarter (2026-Q4) or a year (2026).")


def clean_period_value(value):
    value = value.strip()
    try:
        parse_period(value)
    except ValidationError as e:
        raise ValidationError(e.error_dict["period"]) from None
    return value


class NoteForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("note"), max_length=200,
                           widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class RejectForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("note"), max_length=300,
                           help_text=gettext_lazy("The leader reads this on their claim."),
                           widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class PointRuleForm(ServiceForm):
    class Meta:
        model = PointRule
        fields = RULE_FIELDS


class RewardForm(ServiceForm):
    class Meta:
        model = Reward
        fields = REWARD_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "stock" in self.fields:
            # The stock shown is sent back with the form, so a stock left untouched is not written
            # over what was redeemed meanwhile (see `RewardAdmin.submit`).
            self.fields["stock"].show_hidden_initial = True
            self.fields["stock"].min_value = 0
            self.fields["stock"].widget.attrs["min"] = 0


class RankingForm(forms.Form):
    node = forms.ModelChoiceField(label=gettext_lazy("street or community"), queryset=GridNode.objects.none())
    period = forms.CharField(
        label=gettext_lazy("period"), max_length=10,
        widget=forms.TextInput(attrs={"list": "ranking-periods", "size": 10}), help_text=PERIOD_HELP,
    )
    by = forms.ChoiceField(label=gettext_lazy("ranked by"), choices=RANKING_BY)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["node"]
        field.queryset = ranked_places(user)
        field.label_from_instance = node_choice_label

    def clean_period(self):
        return clean_period_value(self.cleaned_data["period"])


def ranked_places(user):
    """The streets and communities of the user's scope, as the tree reads."""
    return grid_selectors.visible_nodes(user).filter(level__lte=Level.COMMUNITY).order_by(*access.tree_order())


class HonourForm(ServiceForm):
    class Meta:
        model = Honour
        fields = ["title", "period", "person", "node", "citation"]
        widgets = {"period": forms.TextInput(attrs={"list": "ranking-periods", "size": 10})}
        help_texts = {"period": PERIOD_HELP}

    def clean_period(self):
        return clean_period_value(self.cleaned_data["period"])


class CareVisitForm(ServiceForm):
    class Meta:
        model = CareVisit
        fields = ["date", "leader", "occasion", "gift"]

    def clean_date(self):
        date = self.cleaned_data["date"]
        if date > timezone.localdate():
            raise ValidationError(_("A visit cannot be recorded before it took place."), code="date_in_future")
        return date


class FundForm(ServiceForm):
    class Meta:
        model = Fund
        fields = FUND_FIELDS

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", ValidationError(_("The last day comes before the first."), code="period_reversed"))
        return data
