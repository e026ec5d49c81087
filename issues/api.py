"""REST endpoints of the ledger: the scoped issue list and detail, reporting, one POST endpoint per
workflow action, an issue's event log, and the categories.

Thin by design: serializers check the shape of the input (and parse ids and times) and render the
output; every write is a call to `issues.services` through `common.api.call_service`, every read goes
through `Issue.objects.restrict(user)` (the scoped viewset's `visible`). The services' errors map to
HTTP as follows: ValidationError → 400 {field: [messages], codes}, PermissionDenied → 403 {detail,
code}, Issue.DoesNotExist (outside the scope) → 404, IssueConflict → 409 {detail, code: stale_version}.

Reporting through the API refuses the source `resident` (the service's rule): that source marks a
resident's own report through the public QR page, which hands the resident a tracking code (never shown
by this API) and is counted apart in the monthly analysis. Staff who pass on what a resident told them
record how it reached them (`visit`, `hotline`, `patrol`, `other`) and may note the resident's name and
phone.
"""

from functools import partial

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.fields import get_error_detail
from rest_framework.response import Response

from common.api import call_service
from grid import selectors as grid_selectors
from grid.api import PhoneField
from grid.models import GridNode
from grid.scoped import ScopedReadOnlyViewSet, ScopedViewSet

from . import services, workflow
from .filters import IssueFilter
from .models import Category, Issue, IssueEvent, Priority, Source

# --- errors -----------------------------------------------------------------------------------


_call = partial(call_service, conflicts=(services.IssueConflict,))


ERRORS = {
    400: OpenApiResponse(description="Bad or missing fields, or an action not possible in the current state: {field: [messages]}."),
    403: OpenApiResponse(description="The user's role does not allow this action on this issue: {detail}."),
    404: OpenApiResponse(description="No such issue in the user's scope, or no such action."),
    409: OpenApiResponse(description="`version` is stale: someone else changed the issue first: {detail}."),
}


# --- output -----------------------------------------------------------------------------------


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "code", "name", "group", "deadline", "deadline_unit", "handler_kind", "active"]


class PhotoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    event = serializers.IntegerField(source="event_id", allow_null=True)

    def get_url(self, photo) -> str:
        request = self.context.get("request")
        url = photo.image.url
        return request.build_absolute_uri(url) if request is not None else url


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    actor_name = serializers.CharField(source="actor.name", read_only=True, default="")
    # Plain strings: the same choices as the issue's `state`, which already names the enum.
    from_state = serializers.CharField(read_only=True, help_text="Empty for the report itself.")
    to_state = serializers.CharField(read_only=True)
    photos = PhotoSerializer(many=True, read_only=True)

    class Meta:
        model = IssueEvent
        fields = ["id", "action", "from_state", "to_state", "actor", "actor_name", "note", "data", "created_at", "photos"]
        read_only_fields = fields


class IssueSerializer(serializers.ModelSerializer):
    """An item of the ledger. Never the tracking code: that is the resident's secret."""

    handler_user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    due = serializers.DateTimeField(source="due_at", read_only=True, allow_null=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)

    class Meta:
        model = Issue
        fields = [
            "id", "number", "title", "state", "priority", "category", "grid", "source", "handler_org",
            "handler_user", "due", "overdue", "supervision", "common", "difficult", "version",
            "reported_at", "updated_at",
        ]
        read_only_fields = fields


class IssueDetailSerializer(IssueSerializer):
    reporter = serializers.SlugRelatedField(slug_field="username", read_only=True)
    reporter_phone = PhoneField(read_only=True)
    photos = PhotoSerializer(many=True, read_only=True)
    allowed_actions = serializers.SerializerMethodField()

    class Meta(IssueSerializer.Meta):
        fields = IssueSerializer.Meta.fields + [
            "description", "location", "reporter", "reporter_name", "reporter_phone", "assigned_at",
            "plan", "extension_until", "extension_reason", "merged_into", "announcement", "announced_at",
            "reopen_count", "closed_at", "allowed_actions", "photos",
        ]
        read_only_fields = fields

    def get_allowed_actions(self, issue) -> list[str]:
        request = self.context.get("request")
        return services.allowed_actions(request.user, issue) if request is not None else []


ActionResultSerializer = inline_serializer(
    "IssueActionResult",
    {"state": serializers.CharField(), "version": serializers.IntegerField(), "event": EventSerializer()},
)


# --- input ------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "format": "binary"})
class UploadField(serializers.FileField):
    """An uploaded file (multipart); its type, size and pixel count are checked by the service."""


def _photos_field():
    return serializers.ListField(child=UploadField(), required=False, max_length=services.MAX_PHOTOS,
                                 help_text="Images (multipart, repeat `photos`): JPEG, PNG or WebP.")


class ScopedNodeField(serializers.PrimaryKeyRelatedField):
    """A grid node id among those the requesting user may see; any other id reads as unknown, so
    the answer does not tell whether a node outside the scope exists."""

    default_error_messages = {
        "does_not_exist": gettext_lazy("Unknown grid node, or outside your grid."),
        "incorrect_type": gettext_lazy("Unknown grid node, or outside your grid."),
    }

    def get_queryset(self):
        return grid_selectors.visible_nodes(self.context["request"].user)


class IssueCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                  help_text="Empty: the category's name and the start of the description.")
    description = serializers.CharField(max_length=2000)
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.all())
    grid = ScopedNodeField(queryset=GridNode.objects.all())
    source = serializers.ChoiceField(choices=Source.choices,
                                     help_text="Not `resident`: that is the public report page's own source.")
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    reporter_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    reporter_phone = serializers.CharField(max_length=20, required=False, allow_blank=True)
    photos = _photos_field()


TEXT_FIELDS = ("note", "plan", "announcement", "text", "reason")


class WhenField(serializers.CharField):
    """A time as the service reads it (ISO 8601; a bare date is the close of that working day),
    handed to the service as a datetime."""

    def run_validation(self, data=serializers.empty):
        text = super().run_validation(data)  # the text's own checks (length, NUL) first
        if text in (None, ""):
            return None
        try:
            return services.parse_when(text, self.field_name)
        except DjangoValidationError as e:
            raise serializers.ValidationError(get_error_detail(e)[self.field_name])


def _body_field(name, required):
    """The shape of one action field; what it means (and whether it is required now) is the service's."""
    kw = {"required": required}
    if name in TEXT_FIELDS:
        return serializers.CharField(max_length=2000, allow_blank=True, allow_null=True, **kw)
    if name in ("handler_org", "into"):
        help_text = "Organisation id." if name == "handler_org" else "Id of the issue this one duplicates."
        return serializers.IntegerField(allow_null=True, help_text=help_text, **kw)
    if name == "handler_user":
        return serializers.CharField(max_length=150, allow_blank=True, allow_null=True, help_text="Username.", **kw)
    if name in ("due", "until"):
        return WhenField(max_length=40, allow_blank=True, allow_null=True,
                         help_text="ISO 8601 date-time, e.g. 2026-12-01T17:30:00+08:00; a bare date is the "
                                   "close of that working day.", **kw)
    if name in ("common", "difficult", "approve"):
        return serializers.BooleanField(**kw)
    if name == "channel":
        return serializers.ChoiceField(choices=services.FEEDBACK_CHANNELS, allow_blank=True, **kw)
    if name == "satisfaction":
        return serializers.ChoiceField(choices=services.SATISFACTION, allow_blank=True, **kw)
    return serializers.CharField(allow_blank=True, allow_null=True, **kw)


def _action_body(name):
    """The request body of one action, read from the workflow table: its fields in every state it
    applies to; a field is marked required when every state requires it."""
    rules = [rule for (_state, a), rule in workflow.TABLE.items() if a == name]
    names = list(dict.fromkeys(f for rule in rules for f in rule.required + rule.optional))
    always = set.intersection(*(set(rule.required) for rule in rules))
    fields = {f: _body_field(f, f in always) for f in names}
    fields["version"] = serializers.IntegerField(
        required=False, min_value=1, help_text="The version read; a stale one answers 409 and changes nothing."
    )
    fields["photos"] = _photos_field()
    camel = "".join(part.capitalize() for part in name.split("_"))
    return type(f"Issue{camel}Request", (serializers.Serializer,), fields)


ACTION_BODIES = {name: _action_body(name) for name in workflow.USER_ACTIONS}


# --- viewsets ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="The categories of problems"),
    retrieve=extend_schema(summary="One category"),
)
class CategoryViewSet(ScopedReadOnlyViewSet):
    serializer_class = CategorySerializer
    filterset_fields = ["group", "active", "handler_kind"]
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "group"]

    def visible(self, user):
        return Category.objects.order_by("group", "code")  # reference data: everyone with an account


@extend_schema_view(
    list=extend_schema(summary="The ledger, scoped to the user"),
    retrieve=extend_schema(summary="One issue"),
    create=extend_schema(
        summary="Report a problem", request=IssueCreateSerializer,
        responses={201: IssueDetailSerializer,
                   400: OpenApiResponse(description="Bad or missing fields: {field: [messages]}.")},
    ),
)
class IssueViewSet(ScopedViewSet):  # a NUL byte in a query value: 400 (the base's)
    filterset_class = IssueFilter
    search_fields = ["number", "title", "description"]
    ordering_fields = ["reported_at", "updated_at", "due_at", "number"]

    def visible(self, user):
        qs = Issue.objects.restrict(user)
        if self.action == "list":
            return qs.select_related("handler_user")
        return qs.select_related("grid", "handler_user", "reporter").prefetch_related("photos")

    def get_serializer_class(self):
        if self.action == "list":
            return IssueSerializer
        if self.action == "create":
            return IssueCreateSerializer
        if self.action and self.action.startswith("action_"):  # the browsable API's form
            return ACTION_BODIES[self.action.removeprefix("action_")]
        return IssueDetailSerializer

    def create(self, request, *args, **kwargs):
        body = IssueCreateSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        try:
            issue = _call(services.issue_report, actor=request.user, **body.validated_data)
        except exceptions.PermissionDenied:
            # The grid was checked against the same scope above; should the scope change in between,
            # answer the same field error rather than a 403 that would confirm the node exists.
            raise exceptions.ValidationError({"grid": [ScopedNodeField.default_error_messages["does_not_exist"]]},
                                             code="does_not_exist")
        issue = self.get_queryset().filter(pk=issue.pk).first() or issue
        return Response(IssueDetailSerializer(issue, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(summary="The issue's event log, oldest first", responses=EventSerializer(many=True))
    @action(detail=True, filter_backends=[])
    def events(self, request, pk=None):
        issue = self.get_object()  # 404 outside the scope, or for a malformed id
        events = issue.events.select_related("actor").prefetch_related("photos").order_by("created_at", "id")
        page = self.paginate_queryset(events)
        return self.get_paginated_response(EventSerializer(page, many=True, context=self.get_serializer_context()).data)

    def transition(self, request, name):
        """POST …/actions/<name>/: one step of the workflow through `services.issue_transition`."""
        if name not in workflow.USER_ACTIONS:
            raise exceptions.NotFound(_("Unknown action “%(name)s”. Actions: %(actions)s.") % {
                "name": name, "actions": ", ".join(workflow.USER_ACTIONS)})
        issue = self.get_object()  # 404 outside the scope, before anything about the body is said
        body = ACTION_BODIES[name](data=request.data, partial=True)  # partial: the service says what is required
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        version, photos = fields.pop("version", None), fields.pop("photos", ())
        issue, event = _call(services.issue_transition, issue_id=issue.pk, action=name, actor=request.user,
                             version=version, photos=photos, **fields)
        event = IssueEvent.objects.select_related("actor").prefetch_related("photos").get(pk=event.pk)
        return Response({
            "state": issue.state, "version": issue.version,
            "event": EventSerializer(event, context=self.get_serializer_context()).data,
        })

    @extend_schema(exclude=True)
    @action(detail=True, methods=["post"], url_path=r"actions/(?P<name>[^/.]+)", filter_backends=[])
    def other_action(self, request, pk=None, name=None):
        # Catches the names that have no endpoint of their own, to answer a clear 404 in JSON.
        return self.transition(request, name)


def _action_endpoint(name):
    rules = [(state, rule) for (state, a), rule in workflow.TABLE.items() if a == name]
    states = ", ".join(str(state) for state, _rule in rules)
    roles = ", ".join(sorted({str(r) for _state, rule in rules for r in rule.roles}))

    def endpoint(self, request, pk=None):
        return self.transition(request, name)

    endpoint.__name__ = f"action_{name}"
    endpoint = action(detail=True, methods=["post"], url_path=f"actions/{name}", url_name=f"action-{name}",
                      filter_backends=[], pagination_class=None)(endpoint)
    return extend_schema(
        summary=f"Workflow action `{name}`",
        description=f"From: {states}. Who: {roles}. Answers the new state, the new version and the event.",
        request={"application/json": ACTION_BODIES[name], "multipart/form-data": ACTION_BODIES[name]},
        responses={200: ActionResultSerializer, **ERRORS},
    )(endpoint)


for _name in workflow.USER_ACTIONS:
    setattr(IssueViewSet, f"action_{_name}", _action_endpoint(_name))


def register(router):
    # Categories first: otherwise "categories" would be read as an issue id.
    router.register("issues/categories", CategoryViewSet, basename="issue-category")
    router.register("issues", IssueViewSet, basename="issue")
