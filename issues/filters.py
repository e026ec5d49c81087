"""Filters of the ledger's list endpoint. They only narrow what `selectors.visible_issues` already
allows: a filter naming a node or category outside the user's scope simply matches nothing more."""

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grid.filters import AncestorFilter
from grid.models import GridNode, Level
from grid.selectors import subtree_q

from .models import Category, Issue, Source, State, Supervision

# `supervision=` takes the number or the name of the card level.
SUPERVISION_NAMES = {"none": Supervision.NONE, "yellow": Supervision.YELLOW, "red": Supervision.RED}
SUPERVISION_CHOICES = [(str(v), label) for v, label in Supervision.choices] + [
    (name, Supervision(v).label) for name, v in SUPERVISION_NAMES.items()
]


class IssueAncestorFilter(AncestorFilter):
    """`ancestor=<node id>`: issues in that node's subtree. A street or a community is matched on the
    issue's own street/community column (an indexed equality); deeper nodes by the nested-set range."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        node = GridNode.objects.filter(pk=value).only("pk", "level", "tree_id", "lft", "rght").order_by().first()
        if node is None:
            return qs.none()
        if node.level == Level.STREET:
            return qs.filter(street_id=node.pk)
        if node.level == Level.COMMUNITY:
            return qs.filter(community_id=node.pk)
        return qs.filter(subtree_q(node, "grid"))


def overdue_q():
    return Q(state=State.HANDLING, due_at__lt=timezone.now())


class IssueFilter(django_filters.FilterSet):
    # distinct=False: an issue has one state, so no row can repeat (DISTINCT would cost a sort).
    state = django_filters.MultipleChoiceFilter(choices=State.choices, distinct=False, label=_("state (repeat for several)"))
    category = django_filters.ModelChoiceFilter(queryset=Category.objects.all(), label=_("category"))
    source = django_filters.ChoiceFilter(choices=Source.choices, label=_("source"))
    ancestor = IssueAncestorFilter()
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("in handling and past its due time"))
    supervision = django_filters.ChoiceFilter(
        choices=SUPERVISION_CHOICES, method="filter_supervision", label=_("supervision: 0/1/2 or none/yellow/red")
    )
    reported_after = django_filters.DateTimeFilter(
        field_name="reported_at", lookup_expr="gte", label=_("reported at or after (ISO 8601 date or time)")
    )
    reported_before = django_filters.DateTimeFilter(
        field_name="reported_at", lookup_expr="lt", label=_("reported before (ISO 8601 date or time)")
    )

    class Meta:
        model = Issue
        fields = ["state", "category", "source", "grid", "priority", "common", "difficult"]

    def filter_overdue(self, qs, name, value: bool):
        if value is None:
            return qs
        return qs.filter(overdue_q()) if value else qs.exclude(overdue_q())

    def filter_supervision(self, qs, name, value: str):
        if value in (None, ""):
            return qs
        level = SUPERVISION_NAMES[value] if value in SUPERVISION_NAMES else int(value)
        return qs.filter(supervision=level)
