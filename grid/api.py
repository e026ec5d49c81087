"""REST endpoints of the grid registers: read-only, scoped (grid.scoped), paginated, filterable."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from . import access, selectors
from .filters import HouseholdFilter, NodeFilter, OrganisationFilter, RoleFilter
from .models import GridNode, mask_phone
from .scoped import ScopedReadOnlyViewSet


class NodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = GridNode
        fields = ["id", "code", "name", "level", "kind", "parent"]


class NodeDetailSerializer(NodeSerializer):
    path = serializers.SerializerMethodField()
    children = serializers.SerializerMethodField()

    class Meta(NodeSerializer.Meta):
        fields = NodeSerializer.Meta.fields + ["path", "children"]

    def get_path(self, node) -> list[dict]:
        return NodeSerializer(node.get_ancestors(), many=True).data

    def get_children(self, node) -> list[dict]:
        return NodeSerializer(node.get_children(), many=True).data


class PhoneField(serializers.CharField):
    """A phone, masked unless the request's user has the right to see it."""

    def to_representation(self, value):
        request = self.context.get("request")
        if request is not None and selectors.can_see_phones(request.user):
            return value
        return mask_phone(value)


class HouseholdSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    grid = serializers.IntegerField(source="grid_id")
    address = serializers.CharField()
    head = serializers.CharField()
    phone = PhoneField()
    members = serializers.IntegerField()
    tags = serializers.SerializerMethodField()

    def get_tags(self, household) -> list[str]:
        return [t.code for t in household.tags.all()]


class RoleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="user.name")
    node = serializers.IntegerField(source="node_id")
    role = serializers.CharField()
    post = serializers.CharField()
    organisation = serializers.IntegerField(source="organisation_id", allow_null=True)
    public_phone = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField(allow_null=True)
    active = serializers.SerializerMethodField()

    def get_active(self, ra) -> bool:
        return ra.is_active()


class OrganisationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    phone = serializers.CharField()
    street = serializers.IntegerField(source="street_id")
    nodes = serializers.SerializerMethodField()

    def get_nodes(self, org) -> list[int]:
        return [n.pk for n in org.nodes.all()]


StatsSerializer = inline_serializer(
    "NodeStats",
    {
        "nodes_by_level": serializers.DictField(child=serializers.IntegerField()),
        "compounds_by_kind": serializers.DictField(child=serializers.IntegerField()),
        "microgrids_by_kind": serializers.DictField(child=serializers.IntegerField()),
        "households": serializers.IntegerField(),
        "leaders": serializers.IntegerField(),
        "vacant_microgrids": serializers.IntegerField(),
    },
)


class NodeViewSet(ScopedReadOnlyViewSet):
    filterset_class = NodeFilter
    search_fields = ["name", "code"]
    ordering_fields = ["code", "name", "level"]

    def visible(self, user):
        return selectors.visible_nodes(user).order_by(*access.tree_order())

    def get_serializer_class(self):
        return NodeDetailSerializer if self.action == "retrieve" else NodeSerializer

    @extend_schema(responses=StatsSerializer)
    @action(detail=True)
    def stats(self, request, pk=None):
        return Response(selectors.node_stats(self.get_object()))


class HouseholdViewSet(ScopedReadOnlyViewSet):
    serializer_class = HouseholdSerializer
    filterset_class = HouseholdFilter
    search_fields = ["head", "building", "room"]
    ordering_fields = ["id", "head", "members"]  # never the phone: sorting would reveal masked digits

    def visible(self, user):
        return selectors.visible_households(user).prefetch_related("tags").order_by("id")


class RoleViewSet(ScopedReadOnlyViewSet):
    serializer_class = RoleSerializer
    filterset_class = RoleFilter
    search_fields = ["user__username", "user__name"]
    ordering_fields = ["id", "start", "end", "role"]

    def visible(self, user):
        return selectors.visible_roles(user).select_related("user").order_by("id")


class OrganisationViewSet(ScopedReadOnlyViewSet):
    serializer_class = OrganisationSerializer
    filterset_class = OrganisationFilter
    search_fields = ["name"]
    ordering_fields = ["id", "name", "kind"]

    def visible(self, user):
        return selectors.visible_organisations(user).prefetch_related("nodes").order_by("id")


def register(router):
    router.register("grid/nodes", NodeViewSet, basename="node")
    router.register("grid/households", HouseholdViewSet, basename="household")
    router.register("grid/roles", RoleViewSet, basename="role")
    router.register("grid/organisations", OrganisationViewSet, basename="organisation")
