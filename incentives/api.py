"""REST endpoints of the incentives: my points, the ledger and its rules, the rewards catalogue with
redeeming, redemptions to fulfil or cancel, rankings, the expense funds with their report, and
expense claims with their approval.

Thin by design, like `issues.api` and `patrols.api`: serializers check the shape of the input and
render the output; every write is a call to `incentives.services`, every read goes through
`incentives.selectors` through the scoped viewsets (grid.scoped: `visible(user)`, ids parsed once).
The services' errors map to HTTP through common.api: ValidationError → 400 {field: [messages],
"codes": {field: [codes]}}, PermissionDenied → 403 {detail, code}, an object outside the user's
scope → 404, `services.Conflict` (stock_exhausted, points_insufficient, fund_exhausted) → 409
{detail, code}.

Amounts and quantities are handed to the services as sent, so that one set of rules (and of
messages) decides them: three decimals in an amount or a quantity of 0 are refused by the service.
"""

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
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from common.api import call_service, inline_choices
from common.periods import current_month, parse_period
from grid import access
from grid.models import Level
from grid.scoped import ScopedMixin, ScopedReadOnlyViewSet, ScopedViewSet

from . import selectors, services
from .filters import ClaimFilter, EntryFilter, FundFilter, RedemptionFilter, RewardFilter
from .models import Account, ClaimKind, ExpenseClaim, PointRule, Redemption

# --- errors -----------------------------------------------------------------------------------


def _errors(*codes, thing):
    texts = {
        400: ("Bad or missing fields, or an action not possible in the current state: {field: [messages], "
              "codes: {field: [codes]}}."),
        403: "The user's role does not allow this here: {detail, code}.",
        404: f"No such {thing} in the user's scope.",
        409: "Not enough left (stock_exhausted, points_insufficient, fund_exhausted): {detail, code}.",
    }
    return {code: OpenApiResponse(description=texts[code]) for code in codes}


RedemptionStateField = inline_choices(Redemption.State.choices, "requested, fulfilled or cancelled.")
ClaimStateField = inline_choices(ExpenseClaim.State.choices, "submitted, approved, rejected or paid.")
ClaimKindField = inline_choices(ClaimKind.choices, "meal, travel, duty or other.")


def _absolute(request, file):
    if not file:
        return None
    return request.build_absolute_uri(file.url) if request is not None else file.url


# --- my points --------------------------------------------------------------------------------


class PointsSummarySerializer(serializers.Serializer):
    account = serializers.IntegerField(allow_null=True, help_text="Empty before the first points.")
    balance = serializers.IntegerField()
    month_points = serializers.IntegerField(help_text="Earned this month (awards and penalties, not spending).")
    rank_in_community = serializers.IntegerField(allow_null=True,
                                                 help_text="By points this month; empty when unranked.")
    community = serializers.CharField(help_text="Where the person's points count.")


class AccountViewSet(ScopedMixin, viewsets.GenericViewSet):
    serializer_class = PointsSummarySerializer
    filter_backends = []
    pagination_class = None

    def visible(self, user):
        return selectors.visible_accounts(user)

    @extend_schema(summary="My points: balance, this month's points and my rank in my community",
                   responses={200: PointsSummarySerializer})
    @action(detail=False)
    def me(self, request):
        user = request.user
        summary = selectors.account_summary(user)
        summary["account"] = Account.objects.filter(user=user).values_list("pk", flat=True).first()
        return Response(PointsSummarySerializer(summary).data)


# --- the ledger and its rules -----------------------------------------------------------------


class PointEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    user = serializers.CharField(source="account.user.username", help_text="Username.")
    points = serializers.IntegerField()
    rule = serializers.CharField(source="rule.code", allow_null=True, default=None,
                                 help_text="The rule's code; empty for spending and its refunds.")
    source = serializers.CharField(help_text="Where it came from, e.g. issue:42:closed_satisfied:917.")
    reverses = serializers.IntegerField(source="reverses_id", allow_null=True, help_text="The entry it reverses.")
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None, help_text="Username.")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class PointRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = PointRule
        fields = ["id", "code", "name", "points", "monthly_cap", "active"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="The points ledger, scoped to the user (and the user's own)"),
    retrieve=extend_schema(summary="One ledger entry",
                           responses={200: PointEntrySerializer, **_errors(404, thing="entry")}),
)
class EntryViewSet(ScopedReadOnlyViewSet):
    serializer_class = PointEntrySerializer
    filterset_class = EntryFilter
    ordering_fields = ["created_at", "points"]

    def visible(self, user):
        return selectors.visible_entries(user).select_related("account__user", "rule", "actor")


@extend_schema_view(
    list=extend_schema(summary="The point rules"),
    retrieve=extend_schema(summary="One point rule",
                           responses={200: PointRuleSerializer, **_errors(404, thing="rule")}),
)
class PointRuleViewSet(ScopedReadOnlyViewSet):
    """Street-wide and the same for everyone signed in; changed by the street staff in the admin."""

    serializer_class = PointRuleSerializer
    queryset = PointRule.objects.all()  # for the schema's filter types
    filterset_fields = ["active"]
    search_fields = ["code", "name"]
    ordering_fields = ["points", "code"]

    def visible(self, user):
        return PointRule.objects.all()


# --- rewards and redemptions ------------------------------------------------------------------


class RewardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    cost = serializers.IntegerField(help_text="Points per piece.")
    stock = serializers.IntegerField()
    active = serializers.BooleanField()
    node = serializers.IntegerField(source="node_id", help_text="The street or community that offers it.")
    node_name = serializers.CharField(source="node.name")


class RedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    user = serializers.CharField(source="account.user.username", help_text="Username.")
    reward = serializers.IntegerField(source="reward_id")
    reward_name = serializers.CharField(source="reward.name")
    quantity = serializers.IntegerField()
    points = serializers.IntegerField(help_text="Points spent in all.")
    state = RedemptionStateField(choices=Redemption.State.choices)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None,
                                       help_text="Username.")


class RedeemRequestSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(required=False, min_value=1, max_value=services.MAX_QUANTITY,
                                        help_text="How many pieces (default 1).")


@extend_schema_view(
    list=extend_schema(summary="The rewards offered to the user (inactive ones only to those who manage them)"),
    retrieve=extend_schema(summary="One reward", responses={200: RewardSerializer, **_errors(404, thing="reward")}),
)
class RewardViewSet(ScopedReadOnlyViewSet):
    serializer_class = RewardSerializer
    filterset_class = RewardFilter
    search_fields = ["name", "description"]
    ordering_fields = ["cost", "name", "stock"]

    def visible(self, user):
        return selectors.reward_list(user).select_related("node")

    def get_serializer_class(self):
        return RedeemRequestSerializer if self.action == "redeem" else RewardSerializer

    @extend_schema(
        summary="Redeem a reward with my points",
        description=("Points and stock fall together or not at all; the redemption waits to be handed over "
                     "(`requested`). A reward not offered to the user answers 404."),
        request=RedeemRequestSerializer,
        responses={201: RedemptionSerializer, **_errors(400, 404, 409, thing="reward")},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def redeem(self, request, pk=None):
        reward = self.get_object()  # 404 outside the scope, before anything about the body is said
        quantity = _body(request).get("quantity", 1)
        redemption = call_service(services.reward_redeem, actor=request.user, reward_id=reward.pk, quantity=quantity)
        redemption = _redemptions(request.user).get(pk=redemption.pk)
        return Response(RedemptionSerializer(redemption, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


def _body(request):
    if not hasattr(request.data, "get"):
        raise exceptions.ValidationError({"non_field_errors": [_("Send an object of fields.")]}, code="not_an_object")
    return request.data


def _redemptions(user):
    return selectors.visible_redemptions(user).select_related("account__user", "reward", "decided_by")


@extend_schema_view(
    list=extend_schema(summary="Redemptions: the user's own and those of the rewards the user's scope offers"),
    retrieve=extend_schema(summary="One redemption", responses={200: RedemptionSerializer,
                                                                **_errors(404, thing="redemption")}),
)
class RedemptionViewSet(ScopedReadOnlyViewSet):
    serializer_class = RedemptionSerializer
    filterset_class = RedemptionFilter
    ordering_fields = ["created_at", "state"]

    def visible(self, user):
        return _redemptions(user)

    def _decide(self, request, service):
        redemption = self.get_object()
        call_service(service, actor=request.user, redemption_id=redemption.pk)
        redemption = self.get_queryset().get(pk=redemption.pk)
        return Response(RedemptionSerializer(redemption, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Hand a reward over",
        description="By the street staff or the secretary of the community that offers the reward.",
        request=None,
        responses={200: RedemptionSerializer, **_errors(400, 403, 404, thing="redemption")},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def fulfil(self, request, pk=None):
        return self._decide(request, services.redemption_fulfil)

    @extend_schema(
        summary="Cancel a redemption not yet handed over",
        description=("By the person or the staff of the place that offers the reward: the points come back by "
                     "a reversing entry and the stock is restored."),
        request=None,
        responses={200: RedemptionSerializer, **_errors(400, 403, 404, thing="redemption")},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def cancel(self, request, pk=None):
        return self._decide(request, services.redemption_cancel)


# --- rankings ---------------------------------------------------------------------------------


class RankingRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="Ties share a rank.")
    user = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    value = serializers.IntegerField()


class RankingSerializer(serializers.Serializer):
    node = serializers.IntegerField()
    node_name = serializers.CharField()
    period = serializers.CharField()
    since = serializers.DateField()
    until = serializers.DateField()
    by = serializers.CharField()
    results = RankingRowSerializer(many=True)


class RankingViewSet(viewsets.ViewSet):
    @extend_schema(
        summary="Who did best in a street or community over a month, a quarter or a year",
        description=("People holding a role in the node's subtree, ranked by points earned, by issues they "
                     "solved that closed with a satisfied resident, or by work logs. The node is a street or "
                     "community of the user's scope, or the user's own community."),
        parameters=[
            OpenApiParameter("node", OpenApiTypes.INT, description="A street or community (default: my community)."),
            OpenApiParameter("period", OpenApiTypes.STR,
                             description="2026-11 (month), 2026-Q4 (quarter) or 2026 (year); default: this month."),
            OpenApiParameter("by", OpenApiTypes.STR, enum=list(selectors.RANKINGS),
                             description="points (default), satisfied or worklogs."),
        ],
        responses={200: RankingSerializer, **_errors(400, 404, thing="street or community")},
    )
    def list(self, request):
        user, params = request.user, request.query_params
        raw = params.get("node", "")
        home = selectors.home_node(user)
        if raw == "":
            node = home
            if node is None:
                raise exceptions.ValidationError({"node": [_("Choose a street or a community.")]}, code="required")
        elif (pk := access.parse_id(raw)) is None:
            raise exceptions.ValidationError({"node": [_("Enter a node id.")]}, code="invalid_id")
        else:
            node = access.visible_node(user, pk)
            if node is None and home is not None and home.pk == pk:
                node = home  # a leader ranks the community around their micro-grid
            if node is None:
                raise exceptions.NotFound()
        if node.level not in (Level.STREET, Level.COMMUNITY):
            raise exceptions.ValidationError({"node": [_("Rank a street or a community.")]}, code="street_or_community")
        period = params.get("period") or current_month()
        by = params.get("by") or "points"
        since, until = call_service(parse_period, value=period)
        rows = call_service(selectors.rankings, node=node, period=period, by=by)
        return Response(RankingSerializer({"node": node.pk, "node_name": node.name, "period": period, "since": since,
                                           "until": until, "by": by, "results": rows}).data)


# --- the expense fund -------------------------------------------------------------------------


MONEY = {"max_digits": 12, "decimal_places": 2}


class FundSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    node = serializers.IntegerField(source="node_id", help_text="The street or community that keeps it.")
    node_name = serializers.CharField(source="node.name")
    budget = serializers.DecimalField(**MONEY, help_text="Yuan.")
    approved = serializers.DecimalField(**MONEY)
    paid = serializers.DecimalField(**MONEY)
    remaining = serializers.DecimalField(**MONEY, help_text="Budget less approved.")
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    closed = serializers.BooleanField()


class FundMoneySerializer(serializers.Serializer):
    approved = serializers.DecimalField(**MONEY)
    paid = serializers.DecimalField(**MONEY)


class FundCommunitySerializer(FundMoneySerializer):
    community = serializers.CharField(help_text="Name of the community of the claimants' micro-grids.")


FundByKindSerializer = inline_serializer("FundReportByKind", {k: FundMoneySerializer() for k in ClaimKind.values})


class FundReportSerializer(serializers.Serializer):
    fund = serializers.IntegerField()
    name = serializers.CharField()
    budget = serializers.DecimalField(**MONEY)
    approved = serializers.DecimalField(**MONEY)
    paid = serializers.DecimalField(**MONEY)
    remaining = serializers.DecimalField(**MONEY)
    submitted = serializers.DecimalField(**MONEY, help_text="Claimed and waiting for a decision.")
    by_kind = FundByKindSerializer
    by_community = FundCommunitySerializer(many=True)


@extend_schema_view(
    list=extend_schema(summary="The expense funds covering the user's places"),
    retrieve=extend_schema(summary="One fund", responses={200: FundSerializer, **_errors(404, thing="fund")}),
)
class FundViewSet(ScopedReadOnlyViewSet):
    serializer_class = FundSerializer
    filterset_class = FundFilter
    search_fields = ["name"]
    ordering_fields = ["starts_on", "name"]

    def visible(self, user):
        return selectors.visible_funds(user).select_related("node")

    @extend_schema(summary="The fund's report: budget, approved, paid and remaining, by kind and by community",
                   responses={200: FundReportSerializer, **_errors(404, thing="fund")})
    @action(detail=True, filter_backends=[], pagination_class=None)
    def report(self, request, pk=None):
        fund = self.get_object()
        data = selectors.fund_report(fund)
        zero = {"approved": 0, "paid": 0}
        # Every kind, so the shape does not depend on which kinds were claimed.
        data["by_kind"] = {k: data["by_kind"].get(k, zero) for k in ClaimKind.values}
        return Response(FundReportSerializer({"fund": fund.pk, "name": fund.name, **data}).data)


class ExpenseClaimSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    fund = serializers.IntegerField(source="fund_id")
    fund_name = serializers.CharField(source="fund.name")
    leader = serializers.CharField(source="leader.username", help_text="Username.")
    leader_name = serializers.CharField(source="leader.name")
    grid = serializers.IntegerField(source="grid_id")
    grid_name = serializers.CharField(source="grid.name")
    kind = ClaimKindField(choices=ClaimKind.choices)
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, help_text="Yuan.")
    date = serializers.DateField()
    note = serializers.CharField()
    receipt = serializers.SerializerMethodField(help_text="URL of the receipt photo, if any.")
    state = ClaimStateField(choices=ExpenseClaim.State.choices)
    submitted_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None,
                                       help_text="Username.")
    decision_note = serializers.CharField()
    paid_at = serializers.DateTimeField(allow_null=True)

    def get_receipt(self, claim) -> str | None:
        return _absolute(self.context.get("request"), claim.receipt)


@extend_schema_field({"type": "string", "format": "binary"})
class UploadField(serializers.FileField):
    """An uploaded file (multipart); its type, size and pixel count are checked by the service."""


class ExpenseClaimCreateSerializer(serializers.Serializer):
    fund = serializers.IntegerField(min_value=1, max_value=2**62, help_text="A fund of the user's street or community.")
    kind = ClaimKindField(choices=ClaimKind.choices)
    amount = serializers.CharField(max_length=20, help_text="Yuan, at most two decimals, e.g. \"35.50\".")
    date = serializers.DateField(help_text="The day of the expense, within the fund's period.")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)
    grid = serializers.IntegerField(min_value=1, max_value=2**62, required=False, allow_null=True,
                                    help_text="One of the user's micro-grids (default: the first).")
    receipt = UploadField(required=False, allow_null=True, help_text="A photo (multipart): JPEG, PNG or WebP.")


class ClaimDecisionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True,
                                 help_text="Required when rejecting: say why.")


@extend_schema_view(
    list=extend_schema(summary="Expense claims: the user's own and those of the user's scope"),
    retrieve=extend_schema(summary="One expense claim", responses={200: ExpenseClaimSerializer,
                                                                   **_errors(404, thing="claim")}),
    create=extend_schema(
        summary="Claim an expense (meal, travel, duty) on a fund",
        description=("By a micro-grid leader, on a fund of their street or community that is open; JSON, or "
                     "multipart with a `receipt` photo. A fund outside the user's places answers 400 on `fund`."),
        request={"application/json": ExpenseClaimCreateSerializer, "multipart/form-data": ExpenseClaimCreateSerializer},
        responses={201: ExpenseClaimSerializer, **_errors(400, thing="fund")},
    ),
)
class ExpenseClaimViewSet(ScopedViewSet):
    filterset_class = ClaimFilter
    ordering_fields = ["submitted_at", "date", "amount"]

    def visible(self, user):
        return selectors.visible_claims(user).select_related("fund", "leader", "grid", "decided_by")

    def get_serializer_class(self):
        if self.action == "create":
            return ExpenseClaimCreateSerializer
        if self.action in ("approve", "reject", "pay"):
            return ClaimDecisionSerializer
        return ExpenseClaimSerializer

    def create(self, request, *args, **kwargs):
        body = ExpenseClaimCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data, user = body.validated_data, request.user
        grid = None
        if data.get("grid"):
            grid = access.visible_node(user, data["grid"])
            if grid is None:
                raise exceptions.ValidationError({"grid": [_("Unknown, or outside your grid.")]}, code="unknown_node")
        claim = call_service(services.claim_submit, actor=user, fund_id=data["fund"], kind=data["kind"],
                      amount=data["amount"], date=data["date"], grid=grid, note=data.get("note", ""),
                      receipt=data.get("receipt"))
        claim = self.get_queryset().get(pk=claim.pk)
        return Response(ExpenseClaimSerializer(claim, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    def _decide(self, request, service, with_note=False):
        claim = self.get_object()  # 404 outside the scope, before anything about the body is said
        kwargs = {}
        if with_note:
            body = ClaimDecisionSerializer(data=_body(request))
            body.is_valid(raise_exception=True)
            kwargs["note"] = body.validated_data.get("note", "")
        call_service(service, actor=request.user, claim_id=claim.pk, **kwargs)
        claim = self.get_queryset().get(pk=claim.pk)
        return Response(ExpenseClaimSerializer(claim, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Approve a claim: the fund's approved total rises, never past the budget",
        description="By the street staff or the community secretary who keep the fund.",
        request=ClaimDecisionSerializer,
        responses={200: ExpenseClaimSerializer, **_errors(400, 403, 404, 409, thing="claim")},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def approve(self, request, pk=None):
        return self._decide(request, services.claim_approve, with_note=True)

    @extend_schema(
        summary="Reject a claim, saying why",
        description="By the street staff or the community secretary who keep the fund; `note` is required.",
        request=ClaimDecisionSerializer,
        responses={200: ExpenseClaimSerializer, **_errors(400, 403, 404, thing="claim")},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def reject(self, request, pk=None):
        return self._decide(request, services.claim_reject, with_note=True)

    @extend_schema(
        summary="Record that an approved claim was paid",
        description="By the street staff or the community secretary who keep the fund.",
        request=None,
        responses={200: ExpenseClaimSerializer, **_errors(400, 403, 404, thing="claim")},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def pay(self, request, pk=None):
        return self._decide(request, services.claim_pay)


def register(router):
    router.register("incentives/accounts", AccountViewSet, basename="incentive-account")
    router.register("incentives/entries", EntryViewSet, basename="incentive-entry")
    router.register("incentives/rules", PointRuleViewSet, basename="incentive-rule")
    router.register("incentives/rewards", RewardViewSet, basename="incentive-reward")
    router.register("incentives/redemptions", RedemptionViewSet, basename="incentive-redemption")
    router.register("incentives/rankings", RankingViewSet, basename="incentive-ranking")
    router.register("incentives/funds", FundViewSet, basename="incentive-fund")
    router.register("incentives/claims", ExpenseClaimViewSet, basename="incentive-claim")
