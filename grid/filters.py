import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from .access import MAX_ID, node_by_id, subtree_q
from .models import CareTag, GridNode, Household, Organisation, RoleAssignment


class IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class IdFilter(django_filters.NumberFilter):
    """An id from the request: a whole number in range, else a 400 on the field (no choice list of
    every node is built or rendered, so nothing outside the scope is named)."""

    field_class = IdField


class AncestorFilter(IdFilter):
    """`ancestor=<node id>`: everything in that node's subtree (the node included). It only narrows a
    list already scoped to the user. Rows carrying street/community columns (on themselves or on the
    row `via` passes through) are matched on them for a street or community: an indexed equality."""

    def __init__(self, via=None, distinct=False, **kwargs):
        self.via = via
        self.distinct_rows = distinct
        kwargs.setdefault("label", _("in the subtree of node"))
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        node = node_by_id(value)
        if node is None:
            return qs.none()
        qs = qs.filter(subtree_q(node, self.via, qs.model))
        return qs.distinct() if self.distinct_rows else qs


class NodeFilter(django_filters.FilterSet):
    ancestor = AncestorFilter()
    parent = IdFilter(field_name="parent")

    class Meta:
        model = GridNode
        fields = ["level", "kind"]


class HouseholdFilter(django_filters.FilterSet):
    ancestor = AncestorFilter(via="grid")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags", to_field_name="code", queryset=CareTag.objects.all(), label=_("care tag")
    )

    grid = IdFilter(field_name="grid")

    class Meta:
        model = Household
        fields = []


class RoleFilter(django_filters.FilterSet):
    ancestor = AncestorFilter(via="node")
    node = IdFilter(field_name="node")

    class Meta:
        model = RoleAssignment
        fields = ["role", "post"]


class OrganisationFilter(django_filters.FilterSet):
    ancestor = AncestorFilter(via="nodes", distinct=True)
    node = IdFilter(field_name="nodes", distinct=True, label=_("serves node"))

    class Meta:
        model = Organisation
        fields = ["kind"]
