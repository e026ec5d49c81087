"""Filters of the patrols app's list endpoints. They only narrow what `patrols.selectors` already
allows: a filter naming a node, scenario or leader outside the user's scope matches nothing more. A
bad value (`abc`, `0`, huge, a NUL byte, month `2026-13`) answers 400 on its field."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from common.periods import parse_month
from grid.filters import AncestorFilter, IdFilter

from .models import MonthlyReport, Patrol, PatrolPlan, PlanState, WorkKind, WorkLog


def month_validator(value):
    """common.periods' month rule (2026-11, years 2000–2199) as a field validator."""
    try:
        parse_month(value)
    except ValidationError as e:
        raise ValidationError(e.error_dict["month"]) from None


class TextField(forms.CharField):
    """Free text from a query, not longer than a label (a form CharField refuses NUL bytes already)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 200)
        super().__init__(*args, **kwargs)


class TextFilter(django_filters.CharFilter):
    field_class = TextField


class PlanFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=PlanState.choices, label=_("state"))
    period = TextFilter(label=_("period, exactly as labelled (2026-11, 2026-W48, …)"))
    ancestor = AncestorFilter(via="node")
    scenario = IdFilter(field_name="scenario", label=_("scenario"))
    node = IdFilter(field_name="node", label=_("place"))

    class Meta:
        model = PatrolPlan
        fields = []


class PatrolFilter(django_filters.FilterSet):
    plan = IdFilter(field_name="plan", label=_("plan"))
    scenario = IdFilter(field_name="plan__scenario", label=_("scenario"))
    ancestor = AncestorFilter(via="plan__node")
    since = django_filters.DateFilter(field_name="date", lookup_expr="gte", label=_("on or after (date)"))
    until = django_filters.DateFilter(field_name="date", lookup_expr="lte", label=_("on or before (date)"))

    class Meta:
        model = Patrol
        fields = []


class WorkLogFilter(django_filters.FilterSet):
    leader = TextFilter(field_name="leader__username", label=_("leader (username)"))
    kind = django_filters.ChoiceFilter(choices=WorkKind.choices, label=_("kind"))
    grid = IdFilter(field_name="grid", label=_("micro-grid"))
    since = django_filters.DateFilter(field_name="date", lookup_expr="gte", label=_("on or after (date)"))
    until = django_filters.DateFilter(field_name="date", lookup_expr="lte", label=_("on or before (date)"))
    ancestor = AncestorFilter(via="grid")

    class Meta:
        model = WorkLog
        fields = []


class ReportFilter(django_filters.FilterSet):
    node = IdFilter(field_name="node", label=_("community or street"))
    month = TextFilter(validators=[month_validator], label=_("month (2026-11)"))

    class Meta:
        model = MonthlyReport
        fields = []
