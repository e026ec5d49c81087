"""Filters of the patrols app's list endpoints. They only narrow what `patrols.selectors` already
allows: a filter naming a node, scenario or leader outside the user's scope matches nothing more."""

import django_filters
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from grid.filters import AncestorFilter, IdFilter
from grid.models import GridNode, Level
from grid.selectors import subtree_q

from .models import MonthlyReport, Patrol, PatrolPlan, PlanState, WorkKind, WorkLog

month_validator = RegexValidator(r"^\d{4}-(0[1-9]|1[0-2])$", _("Enter a month such as 2026-11."))


class ColumnAncestorFilter(AncestorFilter):
    """`ancestor=<node id>`: rows at or under that node. A street or a community is matched on the
    row's own street/community column (an indexed equality, as for issues); a deeper node by the
    nested-set range of `via`. `columns` is the path to the row carrying those columns."""

    def __init__(self, via, columns="", **kwargs):
        self.columns = columns
        super().__init__(via=via, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        node = GridNode.objects.filter(pk=value).only("pk", "level", "tree_id", "lft", "rght").order_by().first()
        if node is None:
            return qs.none()
        if node.level == Level.STREET:
            return qs.filter(**{f"{self.columns}street_id": node.pk})
        if node.level == Level.COMMUNITY:
            return qs.filter(**{f"{self.columns}community_id": node.pk})
        return qs.filter(subtree_q(node, self.via))


class PlanFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=PlanState.choices, label=_("state"))
    period = django_filters.CharFilter(label=_("period, exactly as labelled (2026-11, 2026-W48, …)"))
    ancestor = ColumnAncestorFilter(via="node")
    scenario = IdFilter(field_name="scenario", label=_("scenario"))
    node = IdFilter(field_name="node", label=_("place"))

    class Meta:
        model = PatrolPlan
        fields = []


class PatrolFilter(django_filters.FilterSet):
    plan = IdFilter(field_name="plan", label=_("plan"))
    scenario = IdFilter(field_name="plan__scenario", label=_("scenario"))
    ancestor = ColumnAncestorFilter(via="plan__node", columns="plan__")
    since = django_filters.DateFilter(field_name="date", lookup_expr="gte", label=_("on or after (date)"))
    until = django_filters.DateFilter(field_name="date", lookup_expr="lte", label=_("on or before (date)"))

    class Meta:
        model = Patrol
        fields = []


class WorkLogFilter(django_filters.FilterSet):
    leader = django_filters.CharFilter(field_name="leader__username", label=_("leader (username)"))
    kind = django_filters.ChoiceFilter(choices=WorkKind.choices, label=_("kind"))
    grid = IdFilter(field_name="grid", label=_("micro-grid"))
    since = django_filters.DateFilter(field_name="date", lookup_expr="gte", label=_("on or after (date)"))
    until = django_filters.DateFilter(field_name="date", lookup_expr="lte", label=_("on or before (date)"))
    ancestor = ColumnAncestorFilter(via="grid")

    class Meta:
        model = WorkLog
        fields = []


class ReportFilter(django_filters.FilterSet):
    node = IdFilter(field_name="node", label=_("community or street"))
    month = django_filters.CharFilter(validators=[month_validator], label=_("month (2026-11)"))

    class Meta:
        model = MonthlyReport
        fields = []
