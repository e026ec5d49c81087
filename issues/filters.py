"""Filters of the ledger's list endpoint. They only narrow what `selectors.visible_issues` already
allows: a filter naming a node or category outside the user's scope simply matches nothing more."""

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grid.filters import AncestorFilter, IdFilter

from .models import Category, Issue, Source, State, Supervision

# `supervision=` takes the number or the name of the card level.
SUPERVISION_NAMES = {"none": Supervision.NONE, "yellow": Supervision.YELLOW, "red": Supervision.RED}
SUPERVISION_CHOICES = [(str(v), label) for v, label in Supervision.choices] + [
    (name, Supervision(v).label) for name, v in SUPERVISION_NAMES.items()
]


def overdue_q(now=None):
    # The same rule as Issue.is_overdue, as a filter (the API's and the admin's).
    return Q(state=State.HANDLING, due_at__lt=now or timezone.now())


class IssueFilter(django_filters.FilterSet):
    # distinct=False: an issue has one state, so no row can repeat (DISTINCT would cost a sort).
    state = django_filters.MultipleChoiceFilter(choices=State.choices, distinct=False, label=_("state (repeat for several)"))
    category = django_filters.ModelChoiceFilter(queryset=Category.objects.all(), label=_("category"))
    source = django_filters.ChoiceFilter(choices=Source.choices, label=_("source"))
    ancestor = AncestorFilter(via="grid")  # a street or community: the ledger's own scope columns
    grid = IdFilter(field_name="grid", label=_("grid node"))
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
        fields = ["state", "category", "source", "priority", "common", "difficult"]

    def filter_overdue(self, qs, name, value: bool):
        if value is None:
            return qs
        return qs.filter(overdue_q()) if value else qs.exclude(overdue_q())

    def filter_supervision(self, qs, name, value: str):
        if value in (None, ""):
            return qs
        level = SUPERVISION_NAMES[value] if value in SUPERVISION_NAMES else int(value)
        return qs.filter(supervision=level)
