"""REST endpoints of joint patrols: the scenarios, the plans, patrol records (created with their
checklist and findings in one request), leaders' work logs and their profile, the monthly reports.

Thin by design, like `issues.api`: serializers check the shape of the input and render the output;
every write is a call to `patrols.services` (through `common.api.call_service`), every read goes
through `patrols.selectors` in the viewsets' `visible(user)` (grid.scoped: an id outside the scope,
or a malformed one, answers 404). The services' errors map to HTTP as everywhere (common.api):
ValidationError → 400 {field: [messages], "codes": {field: [codes]}} with the service's dotted keys
kept (`findings.1.grid`, `items.0.result`), PermissionDenied → 403 {detail, code}, an object outside
the user's scope → 404. The stored monthly report is read through `report.snapshot`.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import F, Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.settings import api_settings

from common.api import call_service, inline_choices
from common.errors import Errors
from common.periods import current_month, parse_month
from grid import access
from grid import selectors as grid_selectors
from grid.scoped import ScopedReadOnlyViewSet, ScopedViewSet
from issues.selectors import visible_issues

from . import selectors, services
from .filters import PatrolFilter, PlanFilter, ReportFilter, WorkLogFilter
from .report import snapshot
from .models import (
    Cadence,
    ChecklistItem,
    Finding,
    ItemResult,
    Participant,
    PlanState,
    Result,
    Scenario,
    WorkKind,
)

# --- errors -----------------------------------------------------------------------------------


def _flatten(detail, prefix=""):
    """DRF's nested errors ({"findings": [{}, {"grid": [...]}]}) as the services' dotted keys
    ({"findings.1.grid": [...]}), so one request answers one shape of error whoever found it."""
    out = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            key = prefix if key == api_settings.NON_FIELD_ERRORS_KEY and prefix else (
                f"{prefix}.{key}" if prefix else str(key))
            for k, v in _flatten(value, key).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        messages = [d for d in detail if not isinstance(d, (dict, list))]
        if messages:
            out[prefix or api_settings.NON_FIELD_ERRORS_KEY] = messages
        for i, value in enumerate(detail):
            if isinstance(value, (dict, list)) and value:
                for k, v in _flatten(value, f"{prefix}.{i}" if prefix else str(i)).items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or api_settings.NON_FIELD_ERRORS_KEY] = [detail]
    return out


PlanStateField = inline_choices(PlanState.choices, "planned, done or missed.")
WorkKindField = inline_choices(WorkKind.choices, "home_visit, errand, mediation, hazard_check, publicity or other.")
ResultField = inline_choices(Result.choices, "ok, problem (say what in `note`) or n/a.")
CadenceField = inline_choices(Cadence.choices, "monthly, weekly or range (one plan for the date range).")


def _errors(*codes, thing):
    texts = {
        400: "Bad or missing fields: {field: [messages], codes: {field: [codes]}}; nested fields by dotted keys "
             "such as `findings.1.grid`.",
        403: "The user's role does not allow this here: {detail, code}.",
        404: f"No such {thing} in the user's scope.",
    }
    return {code: OpenApiResponse(description=texts[code]) for code in codes}


# --- scenarios --------------------------------------------------------------------------------


class ScenarioChecklistItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChecklistItem
        fields = ["id", "group", "text", "order"]
        read_only_fields = fields


class ScenarioSerializer(serializers.ModelSerializer):
    cadence = CadenceField(choices=Cadence.choices, read_only=True)
    levels = serializers.ListField(child=serializers.IntegerField(), read_only=True,
                                   help_text="Grid levels it is planned for: 2 communities, 3 compounds.")
    categories = serializers.PrimaryKeyRelatedField(many=True, read_only=True,
                                                    help_text="Issue categories findings may use; empty: any.")
    items = ScenarioChecklistItemSerializer(source="template.items", many=True, read_only=True)

    class Meta:
        model = Scenario
        fields = ["id", "code", "name", "cadence", "levels", "starts_on", "ends_on", "planned_day", "active",
                  "categories", "items"]
        read_only_fields = fields


# --- plans ------------------------------------------------------------------------------------

class PatrolPersonSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()


class PatrolPlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    scenario = serializers.IntegerField(source="scenario_id")
    scenario_name = serializers.CharField(source="scenario.name")
    node = serializers.IntegerField(source="node_id")
    node_name = serializers.CharField(source="node.name")
    period = serializers.CharField(help_text="2026-11 (monthly), 2026-W48 (weekly) or 2026-06-01~2026-09-30.")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    planned_date = serializers.DateField()
    convener = serializers.SerializerMethodField(help_text="The community secretary who calls the patrol.")
    state = PlanStateField(choices=PlanState.choices)
    patrol = serializers.IntegerField(source="record_id", allow_null=True, help_text="The record, once made.")

    @extend_schema_field(PatrolPersonSerializer(allow_null=True))
    def get_convener(self, plan):
        if plan.convener_id is None:
            return None
        user = plan.convener.user
        return {"username": user.username, "name": user.name}


# --- patrol records ---------------------------------------------------------------------------


class PatrolSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    plan = serializers.IntegerField(source="plan_id")
    scenario = serializers.IntegerField(source="plan.scenario_id")
    scenario_name = serializers.CharField(source="plan.scenario.name")
    node = serializers.IntegerField(source="plan.node_id")
    node_name = serializers.CharField(source="plan.node.name")
    period = serializers.CharField(source="plan.period")
    date = serializers.DateField()
    recorded_by = serializers.CharField(source="recorded_by.username", allow_null=True, default=None,
                                        help_text="Username.")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    issues = serializers.SerializerMethodField(help_text="The ledger issues of its findings.")

    def get_issues(self, patrol) -> list[int]:
        return [f.issue_id for f in patrol.findings.all()]


class PatrolParticipantSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", allow_null=True, default=None,
                                     help_text="Empty for a named outsider.")

    class Meta:
        model = Participant
        fields = ["username", "name", "role"]
        read_only_fields = fields


class PatrolItemResultSerializer(serializers.ModelSerializer):
    group = serializers.CharField(source="item.group")
    text = serializers.CharField(source="item.text")
    result = ResultField(choices=Result.choices)
    photos = serializers.SerializerMethodField()

    class Meta:
        model = ItemResult
        fields = ["item", "group", "text", "result", "note", "photos"]
        read_only_fields = fields

    def get_photos(self, result) -> list[str]:
        request = self.context.get("request")
        urls = [p.image.url for p in result.photos.all()]
        return [request.build_absolute_uri(u) for u in urls] if request is not None else urls


class PatrolFindingSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="issue.number")
    title = serializers.CharField(source="issue.title")
    state = serializers.CharField(source="issue.state", help_text="The issue's state in the ledger now.")

    class Meta:
        model = Finding
        fields = ["issue", "number", "title", "on_spot", "state", "item"]
        read_only_fields = fields


class PatrolDetailSerializer(PatrolSerializer):
    participants = PatrolParticipantSerializer(many=True, read_only=True)
    items = PatrolItemResultSerializer(source="results", many=True, read_only=True)
    findings = PatrolFindingSerializer(many=True, read_only=True)


class PatrolParticipantInput(serializers.Serializer):
    username = serializers.CharField(max_length=150, required=False, allow_blank=True,
                                     help_text="A role holder on this street's roster …")
    name = serializers.CharField(max_length=50, required=False, allow_blank=True,
                                 help_text="… or the name of an outsider (property company, owners' representative).")
    role = serializers.CharField(max_length=50, required=False, allow_blank=True,
                                 help_text="A role holder's roster role (default: one they hold); an outsider's "
                                           "capacity.")


class PatrolItemInput(serializers.Serializer):
    item = serializers.IntegerField(help_text="A checklist item of the plan's scenario.")
    result = ResultField(choices=Result.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class PatrolFindingInput(serializers.Serializer):
    title = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                  help_text="Empty: the category's name and the start of the description.")
    description = serializers.CharField(max_length=2000)
    category = serializers.IntegerField(help_text="One of the scenario's categories.")
    grid = serializers.IntegerField(help_text="A place inside the patrolled area and inside the user's own grid.")
    on_spot = serializers.BooleanField(default=False, help_text="Solved on the spot (say how in `note`); "
                                                                "otherwise recorded in the ledger.")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True,
                                 help_text="How it was solved on the spot (required then).")
    item = serializers.IntegerField(required=False, allow_null=True, help_text="The checklist item it belongs to.")


class PatrolCreateSerializer(serializers.Serializer):
    plan = serializers.IntegerField(min_value=1, max_value=2**62)
    date = serializers.DateField(help_text="Inside the plan's period, not in the future.")
    participants = PatrolParticipantInput(many=True, required=False,
                                    help_text="The recorder takes part without being named.")
    items = PatrolItemInput(many=True, help_text="Every item of the checklist, once.")
    findings = PatrolFindingInput(many=True, required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


# --- work logs --------------------------------------------------------------------------------


class WorkLogSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    leader = serializers.CharField(source="leader.username")
    leader_name = serializers.CharField(source="leader.name")
    kind = WorkKindField(choices=WorkKind.choices)
    date = serializers.DateField()
    grid = serializers.IntegerField(source="grid_id")
    grid_name = serializers.CharField(source="grid.name")
    household = serializers.IntegerField(source="household_id", allow_null=True)
    issue = serializers.IntegerField(source="issue_id", allow_null=True)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class WorkLogCreateSerializer(serializers.Serializer):
    kind = WorkKindField(choices=WorkKind.choices)
    grid = serializers.IntegerField(min_value=1, max_value=2**62, help_text="A micro-grid of the user's scope.")
    date = serializers.DateField(required=False, help_text="Default: today; never a day to come.")
    household = serializers.IntegerField(min_value=1, max_value=2**62, required=False, allow_null=True,
                                         help_text="A household of that micro-grid.")
    issue = serializers.IntegerField(min_value=1, max_value=2**62, required=False, allow_null=True,
                                     help_text="A ledger issue the work was about.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class WorkProfileQuery(serializers.Serializer):
    leader = serializers.CharField(max_length=150, required=False, allow_blank=True)
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)


ProfileSerializer = inline_serializer("WorkProfile", {
    "leader": serializers.CharField(),
    "name": serializers.CharField(),
    "since": serializers.DateField(),
    "until": serializers.DateField(),
    "by_kind": inline_serializer("WorkProfileByKind", {k: serializers.IntegerField() for k in WorkKind.values}),
    "total": serializers.IntegerField(),
    "patrols": serializers.IntegerField(help_text="Patrols they took part in."),
})


# --- monthly reports --------------------------------------------------------------------------
# The report is a stored snapshot (MonthlyReport.data), read through `report.snapshot` and answered in
# the shape it is stored in; the serializers below describe it for the schema.


class MonthlyReportIssueSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    title = serializers.CharField()
    state = serializers.CharField()
    category = serializers.CharField(help_text="The category's name.")
    grid = serializers.CharField(help_text="The place's name.")
    grid_id = serializers.IntegerField()
    community = serializers.CharField()
    community_id = serializers.IntegerField(allow_null=True)
    handler = serializers.CharField(help_text="Company · person handling it.")
    due_at = serializers.DateTimeField(allow_null=True)
    reported_at = serializers.DateTimeField()
    supervision = serializers.IntegerField(help_text="0 none, 1 yellow card, 2 red card.")


class MonthlyReportDifficultSerializer(MonthlyReportIssueSerializer):
    reasons = serializers.ListField(child=serializers.CharField(),
                                    help_text="red_card, reopened, escalated, flagged, stale.")


class MonthlyReportCommonSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="`spread`: in N micro-grids of a community this month; "
                                           "`repeat`: N times at one place in the last months.")
    category = serializers.IntegerField()
    category_name = serializers.CharField()
    community = serializers.CharField()
    community_id = serializers.IntegerField(allow_null=True)
    microgrids = serializers.IntegerField(required=False, help_text="`spread` only.")
    grid = serializers.CharField(required=False, help_text="`repeat` only.")
    grid_id = serializers.IntegerField(required=False, help_text="`repeat` only.")
    issues = serializers.IntegerField()


class MonthlyReportCategorySerializer(serializers.Serializer):
    category = serializers.IntegerField()
    name = serializers.CharField()
    count = serializers.IntegerField()


class MonthlyReportHandlingSerializer(serializers.Serializer):
    by_state = serializers.DictField(child=serializers.IntegerField(),
                                     help_text="Issues found on patrols this month, by their state now.")
    by_category = MonthlyReportCategorySerializer(many=True)
    solved_on_spot = serializers.IntegerField()
    open = MonthlyReportIssueSerializer(many=True, help_text="Found on patrols and not closed, this month or before.")
    overdue = MonthlyReportIssueSerializer(many=True)


class MonthlyReportAnalysisSerializer(serializers.Serializer):
    common = MonthlyReportCommonSerializer(many=True)
    difficult = MonthlyReportDifficultSerializer(many=True)


class MonthlyReportPatrolsSerializer(serializers.Serializer):
    plans = serializers.IntegerField()
    planned = serializers.IntegerField()
    done = serializers.IntegerField()
    missed = serializers.IntegerField()


class MonthlyReportCommunitySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    found = serializers.IntegerField()
    open = serializers.IntegerField()
    overdue = serializers.IntegerField()
    common = serializers.IntegerField()
    difficult = serializers.IntegerField()


class MonthlyReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    node = serializers.IntegerField()
    month = serializers.CharField()
    handling = MonthlyReportHandlingSerializer()
    analysis = MonthlyReportAnalysisSerializer()
    patrols = MonthlyReportPatrolsSerializer()
    communities = MonthlyReportCommunitySerializer(many=True, required=False,
                                            help_text="The street roll-up only: one line per community.")
    generated_at = serializers.DateTimeField()

    def to_representation(self, report):
        snap = snapshot(report)
        out = {
            "id": snap.id,
            "node": snap.node_id,
            "month": snap.month,
            "handling": {
                "by_state": snap.by_state, "by_category": [c.as_data() for c in snap.by_category],
                "solved_on_spot": snap.solved_on_spot, "open": [r.as_data() for r in snap.open],
                "overdue": [r.as_data() for r in snap.overdue],
            },
            "analysis": {"common": [r.as_data() for r in snap.common],
                         "difficult": [r.as_data() for r in snap.difficult]},
            "patrols": snap.patrols.as_data(),
        }
        if snap.is_roll_up:
            out["communities"] = [c.as_data() for c in snap.communities]
        out["generated_at"] = serializers.DateTimeField().to_representation(snap.generated_at)
        return out


MonthlyReportSummarySerializer = inline_serializer("MonthlyReportSummary", {
    "found": serializers.IntegerField(help_text="Issues found on patrols in the month."),
    "solved_on_spot": serializers.IntegerField(),
    "open": serializers.IntegerField(),
    "overdue": serializers.IntegerField(),
    "common": serializers.IntegerField(),
    "difficult": serializers.IntegerField(),
    "plans": serializers.IntegerField(),
    "done": serializers.IntegerField(),
    "missed": serializers.IntegerField(),
})


class MonthlyReportBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    node = serializers.IntegerField(source="node_id")
    node_name = serializers.CharField(source="node.name")
    month = serializers.CharField()
    generated_at = serializers.DateTimeField()
    summary = serializers.SerializerMethodField()

    @extend_schema_field(MonthlyReportSummarySerializer)
    def get_summary(self, report):
        return snapshot(report).summary()


# --- viewsets ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="The application scenarios (the X of 1+N+X) with their checklists"),
    retrieve=extend_schema(summary="One scenario",
                           responses={200: ScenarioSerializer, **_errors(404, thing="scenario")}),
)
class ScenarioViewSet(ScopedReadOnlyViewSet):
    """Street-wide configuration, the same for everyone signed in (like the ledger's categories)."""

    serializer_class = ScenarioSerializer
    filterset_fields = ["active", "cadence"]
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name"]

    def visible(self, user):
        return Scenario.objects.select_related("template").prefetch_related("categories", "template__items")


@extend_schema_view(
    list=extend_schema(summary="Patrol plans, scoped to the user"),
    retrieve=extend_schema(summary="One patrol plan",
                           responses={200: PatrolPlanSerializer, **_errors(404, thing="plan")}),
)
class PlanViewSet(ScopedReadOnlyViewSet):
    serializer_class = PatrolPlanSerializer
    filterset_class = PlanFilter
    search_fields = ["node__name", "node__code", "scenario__name"]
    ordering_fields = ["planned_date", "period_start", "state"]

    def visible(self, user):
        return selectors.plan_list(user).annotate(record_id=F("patrol__id"))


@extend_schema_view(
    list=extend_schema(summary="Patrol records, scoped to the user"),
    retrieve=extend_schema(summary="One patrol record with its checklist, participants and findings",
                           responses={200: PatrolDetailSerializer, **_errors(404, thing="patrol record")}),
    create=extend_schema(
        summary="Record a plan's patrol",
        description=(
            "One request, all or nothing: the participants, the result of every checklist item and the "
            "findings. Each finding becomes a ledger issue (source `patrol`), resolved on the spot or "
            "recorded; the plan becomes `done`. JSON only: photos of checklist items and findings are "
            "taken through the mobile patrol form. A plan outside the user's scope answers 404."
        ),
        request={"application/json": PatrolCreateSerializer},
        responses={201: PatrolDetailSerializer, **_errors(400, 403, 404, thing="plan")},
    ),
)
class PatrolViewSet(ScopedViewSet):
    filterset_class = PatrolFilter
    search_fields = ["note", "plan__node__name", "plan__node__code"]
    ordering_fields = ["date", "created_at"]
    parser_classes = [JSONParser]

    def visible(self, user):
        qs = selectors.visible_patrols(user).select_related("plan__scenario", "plan__node", "recorded_by")
        if self.action == "list":
            findings = Finding.objects.only("id", "patrol_id", "issue_id")
            return qs.prefetch_related(Prefetch("findings", queryset=findings))
        return qs.prefetch_related(
            Prefetch("participants", queryset=Participant.objects.select_related("user")),
            Prefetch("results", queryset=ItemResult.objects.select_related("item").prefetch_related("photos")),
            Prefetch("findings", queryset=Finding.objects.select_related("issue")),
        )

    def get_serializer_class(self):
        if self.action == "list":
            return PatrolSerializer
        if self.action == "create":
            return PatrolCreateSerializer
        return PatrolDetailSerializer

    def create(self, request, *args, **kwargs):
        body = PatrolCreateSerializer(data=request.data)
        valid = body.is_valid()
        raw = request.data.get("plan") if isinstance(request.data, dict) else None
        plan_id = body.validated_data["plan"] if valid else (raw if isinstance(raw, int) else None)
        # A plan outside the scope is not found, whatever else is wrong with the request.
        if access.parse_id(plan_id) and not selectors.visible_plans(request.user).filter(pk=plan_id).exists():
            raise exceptions.NotFound()
        if not valid:
            raise exceptions.ValidationError(_flatten(body.errors))
        data = body.validated_data
        patrol = call_service(
            services.patrol_record, actor=request.user, plan_id=data["plan"], date=data["date"],
            participants=[dict(p) for p in data.get("participants", ())],
            items=[dict(i) for i in data["items"]],
            findings=[dict(f) for f in data.get("findings", ())],
            note=data.get("note", ""),
        )
        patrol = self.get_queryset().get(pk=patrol.pk)
        return Response(PatrolDetailSerializer(patrol, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="Work logs, scoped to the user (and the user's own)"),
    retrieve=extend_schema(summary="One work log",
                           responses={200: WorkLogSerializer, **_errors(404, thing="work log")}),
    create=extend_schema(
        summary="Log a piece of field work",
        description=("The micro-grid, household and issue are taken only from the user's scope: any other id "
                     "answers 400 on that field, never whether it exists."),
        request=WorkLogCreateSerializer,
        responses={201: WorkLogSerializer, **_errors(400, thing="place")},
    ),
)
class WorkLogViewSet(ScopedViewSet):
    filterset_class = WorkLogFilter
    search_fields = ["note", "leader__username", "leader__name"]
    ordering_fields = ["date", "created_at"]

    def visible(self, user):
        return selectors.visible_worklogs(user).select_related("leader", "grid")

    def get_serializer_class(self):
        if self.action == "create":
            return WorkLogCreateSerializer
        return WorkLogSerializer

    def create(self, request, *args, **kwargs):
        body = WorkLogCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data, user, errors = body.validated_data, request.user, Errors()
        unknown = _("Unknown grid node, or outside your grid.")  # the ledger's words for the same case
        grid = access.visible_node(user, data["grid"])
        if grid is None:
            errors.add("grid", unknown, "unknown_place")
        household = issue = None
        if data.get("household"):
            household = grid_selectors.visible_households(user).filter(pk=data["household"]).first()
            if household is None:
                errors.add("household", _("Unknown household, or outside your grid."), "unknown_household")
        if data.get("issue"):
            issue = visible_issues(user).filter(pk=data["issue"]).first()
            if issue is None:
                errors.add("issue", _("Unknown issue."), "unknown_issue")
        errors.raise_if_any()
        try:
            entry = call_service(services.worklog_create, actor=user, kind=data["kind"], grid=grid,
                                 date=data.get("date"), household=household, issue=issue, note=data.get("note", ""))
        except exceptions.PermissionDenied:
            # The grid was read from the same scope above; should the scope change in between, answer
            # the same field error rather than a 403 that would confirm the place exists.
            raise ValidationError({"grid": ValidationError(unknown, code="unknown_place")})
        entry = self.get_queryset().get(pk=entry.pk)
        return Response(WorkLogSerializer(entry, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="A leader's field work by kind over a period",
        description=("Counts of the leader's work logs the user can see, by kind, and the patrols they took part "
                     "in. Default: the user, this month."),
        parameters=[
            OpenApiParameter("leader", OpenApiTypes.STR, description="Username (default: yourself)."),
            OpenApiParameter("since", OpenApiTypes.DATE, description="First day (default: the 1st of this month)."),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Last day (default: the month's last day)."),
        ],
        responses={200: ProfileSerializer, **_errors(400, 404, thing="leader")},
    )
    @action(detail=False, filter_backends=[], pagination_class=None)
    def profile(self, request):
        query = WorkProfileQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        user = request.user
        username = query.validated_data.get("leader") or user.username
        leader = get_user_model().objects.filter(username=username).first()
        logs = selectors.visible_worklogs(user)
        if leader is None or (
            leader.pk != user.pk
            and not grid_selectors.visible_roles(user).filter(user=leader).exists()
            and not logs.filter(leader=leader).exists()
        ):
            raise exceptions.NotFound()
        first, last = parse_month(current_month())
        since = query.validated_data.get("since", first)
        until = query.validated_data.get("until", last)
        if since > until:
            raise ValidationError({"until": ValidationError(_("The end date is before the start date."),
                                                            code="period_reversed")})
        profile = selectors.work_profile(leader, since, until, logs=logs)
        return Response({"leader": leader.username, "name": leader.name, "since": since.isoformat(),
                         "until": until.isoformat(), **profile})


@extend_schema_view(
    list=extend_schema(summary="Monthly reports, scoped to the user: the summary counts"),
    retrieve=extend_schema(summary="One monthly report: joint handling and joint analysis",
                           responses={200: MonthlyReportSerializer, **_errors(404, thing="report")}),
)
class ReportViewSet(ScopedReadOnlyViewSet):
    filterset_class = ReportFilter
    search_fields = ["node__name", "node__code"]
    ordering_fields = ["month", "generated_at"]

    def visible(self, user):
        return selectors.visible_reports(user).select_related("node")

    def get_serializer_class(self):
        return MonthlyReportBriefSerializer if self.action == "list" else MonthlyReportSerializer


def register(router):
    # The specific prefixes first: otherwise "scenarios" would be read as a record id.
    router.register("patrols/scenarios", ScenarioViewSet, basename="patrol-scenario")
    router.register("patrols/plans", PlanViewSet, basename="patrol-plan")
    router.register("patrols/worklogs", WorkLogViewSet, basename="patrol-worklog")
    router.register("patrols/reports", ReportViewSet, basename="patrol-report")
    router.register("patrols", PatrolViewSet, basename="patrol")
