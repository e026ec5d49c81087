import django_filters
from django.utils.translation import gettext_lazy as _

from .models import CareTag, GridNode, Household, Organisation, RoleAssignment
from .selectors import subtree_q


class AncestorFilter(django_filters.NumberFilter):
    """`ancestor=<node id>`: everything in that node's subtree (the node included)."""

    def __init__(self, via=None, distinct=False, **kwargs):
        self.via = via
        self.distinct_rows = distinct
        kwargs.setdefault("label", _("in the subtree of node"))
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        node = GridNode.objects.filter(pk=value).first()
        if node is None:
            return qs.none()
        qs = qs.filter(subtree_q(node, self.via))
        return qs.distinct() if self.distinct_rows else qs


class NodeFilter(django_filters.FilterSet):
    ancestor = AncestorFilter()

    class Meta:
        model = GridNode
        fields = ["level", "kind", "parent"]


class HouseholdFilter(django_filters.FilterSet):
    ancestor = AncestorFilter(via="grid")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags", to_field_name="code", queryset=CareTag.objects.all(), label=_("care tag")
    )

    class Meta:
        model = Household
        fields = ["grid"]


class RoleFilter(django_filters.FilterSet):
    ancestor = AncestorFilter(via="node")

    class Meta:
        model = RoleAssignment
        fields = ["node", "role", "post"]


class OrganisationFilter(django_filters.FilterSet):
    ancestor = AncestorFilter(via="nodes", distinct=True)
    node = django_filters.NumberFilter(field_name="nodes", distinct=True, label=_("serves node"))

    class Meta:
        model = Organisation
        fields = ["kind"]
