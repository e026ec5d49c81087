"""Incentives (激励奖励): the 微光粒 points ledger and its rules, the rewards catalogue and redemptions,
honours, holiday care visits to leaders, and the expense fund for meals, travel and duty."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.models import AppendOnly
from grid.access import ScopedManager
from grid.models import GridNode


class OnNode(models.Model):
    """Rows offered or kept by a street or community carry its street and community columns, so
    scope filters are equalities and the tree service keeps them right (grid.services.scoped_row_models).
    `Model.objects.restrict(user)` reads them through `scope_via` (grid.access)."""

    scope_columns = True
    scope_node_field = "node"
    scope_via = "node"

    objects = ScopedManager()

    street = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    community = models.ForeignKey(GridNode, null=True, on_delete=models.PROTECT, related_name="+", editable=False)

    class Meta:
        abstract = True


class PointRule(models.Model):
    """What earns or costs points. Quality, not volume: reporting alone earns nothing."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    points = models.IntegerField(_("points"), help_text=_("Negative for a penalty."))
    monthly_cap = models.PositiveIntegerField(
        _("monthly cap per person"), null=True, blank=True,
        help_text=_("The most points (in absolute value) one person gets from this rule in a month; empty for no cap."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("point rule")
        verbose_name_plural = _("point rules")
        ordering = ["-points", "code"]
        constraints = [models.CheckConstraint(condition=~Q(points=0), name="pointrule_points_nonzero")]

    def __str__(self):
        return f"{self.name} ({self.points:+d})"


class Account(models.Model):
    """A person's points. `balance` is a cache of the sum of their entries, changed only by a
    conditional F() update in the same transaction as the entry."""

    # A person is deleted only once they hold no role anywhere (the demo's rebuild); their points go with them.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("person"), on_delete=models.CASCADE,
                                related_name="points_account")
    balance = models.IntegerField(_("balance"), default=0)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        ordering = ["-balance", "id"]
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="account_balance_not_negative")]

    def __str__(self):
        return f"{self.user} · {self.balance}"


class Entry(AppendOnly):
    account = models.ForeignKey(Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="entries")
    points = models.IntegerField(_("points"))
    rule = models.ForeignKey(PointRule, verbose_name=_("rule"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="entries")
    # Where it came from, e.g. issue:42:closed_satisfied:917; awarding the same thing twice is a no-op.
    source = models.CharField(_("source"), max_length=120, unique=True)
    reverses = models.OneToOneField("self", verbose_name=_("reverses"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="reversed_by")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points ledger")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "created_at"]), models.Index(fields=["rule", "created_at"])]
        constraints = [models.CheckConstraint(condition=~Q(points=0), name="entry_points_nonzero")]

    def __str__(self):
        return f"{self.account.user} {self.points:+d} {self.source}"


class Reward(OnNode):
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=500, blank=True)
    cost = models.PositiveIntegerField(_("cost in points"), validators=[MinValueValidator(1)])
    stock = models.IntegerField(_("stock"), default=0)
    active = models.BooleanField(_("active"), default=True)
    # The street or community that offers it; people inside that node may redeem it.
    node = models.ForeignKey(GridNode, verbose_name=_("offered by"), on_delete=models.PROTECT, related_name="rewards")

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["cost", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="reward_stock_not_negative"),
            models.CheckConstraint(condition=Q(cost__gte=1), name="reward_cost_positive"),
        ]

    def __str__(self):
        return f"{self.name} ({self.cost})"


class Redemption(OnNode):
    scope_node_field = "reward__node"
    scope_via = "reward__node"

    class State(models.TextChoices):
        REQUESTED = "requested", _("requested")
        FULFILLED = "fulfilled", _("fulfilled")
        CANCELLED = "cancelled", _("cancelled")

    account = models.ForeignKey(Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="redemptions")
    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="redemptions")
    quantity = models.PositiveIntegerField(_("quantity"))
    points = models.PositiveIntegerField(_("points"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="redemption_quantity_positive")]

    def __str__(self):
        return f"{self.account.user} · {self.reward.name} × {self.quantity}"


class Honour(AppendOnly, OnNode):
    """评先评优: a title given to a person for a period, from a ranking; given once, never edited."""

    title = models.CharField(_("title"), max_length=100)
    period = models.CharField(_("period"), max_length=10)  # 2026, 2026-Q3 or 2026-11
    person = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("person"), on_delete=models.PROTECT,
                               related_name="honours")
    node = models.ForeignKey(GridNode, verbose_name=_("awarded by"), on_delete=models.PROTECT, related_name="honours")
    citation = models.TextField(_("citation"), max_length=1000, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("honour")
        verbose_name_plural = _("honours")
        ordering = ["-period", "title", "id"]
        constraints = [models.UniqueConstraint(fields=["title", "period", "person", "node"], name="honour_once")]

    def __str__(self):
        return f"{self.period} {self.title} · {self.person}"


class CareVisit(AppendOnly, OnNode):
    """节日走访慰问: the street's holiday visit to a leader; recorded once, never edited."""

    date = models.DateField(_("date"))
    visitor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("visitor"), on_delete=models.PROTECT,
                                related_name="+")
    leader = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("leader"), on_delete=models.PROTECT,
                               related_name="care_visits")
    node = models.ForeignKey(GridNode, verbose_name=_("street or community"), on_delete=models.PROTECT, related_name="+")
    occasion = models.CharField(_("occasion"), max_length=50)
    gift = models.CharField(_("gift or note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("care visit")
        verbose_name_plural = _("care visits")
        ordering = ["-date", "-id"]

    def __str__(self):
        return f"{self.date} {self.occasion} · {self.leader}"


MONEY = {"max_digits": 12, "decimal_places": 2}


class Fund(OnNode):
    """The expense fund (误餐、出行、执勤): `approved` and `paid` are caches changed only by conditional
    F() updates with the claims; the database refuses approving past the budget."""

    name = models.CharField(_("name"), max_length=100)
    budget = models.DecimalField(_("budget (yuan)"), validators=[MinValueValidator(Decimal("0.01"))], **MONEY)
    starts_on = models.DateField(_("period from"))
    ends_on = models.DateField(_("period until"))
    node = models.ForeignKey(GridNode, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="funds")
    closed = models.BooleanField(_("closed"), default=False)
    approved = models.DecimalField(_("approved"), default=Decimal("0"), editable=False, **MONEY)
    paid = models.DecimalField(_("paid"), default=Decimal("0"), editable=False, **MONEY)

    class Meta:
        verbose_name = _("fund")
        verbose_name_plural = _("funds")
        ordering = ["-starts_on", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(approved__lte=F("budget")), name="fund_not_overdrawn"),
            models.CheckConstraint(condition=Q(paid__lte=F("approved")), name="fund_paid_within_approved"),
            models.CheckConstraint(condition=Q(paid__gte=0), name="fund_paid_not_negative"),
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="fund_period_ordered"),
        ]

    def __str__(self):
        return self.name

    @property
    def remaining(self):
        return self.budget - self.approved


class ClaimKind(models.TextChoices):
    MEAL = "meal", _("meal")
    TRAVEL = "travel", _("travel")
    DUTY = "duty", _("duty")
    OTHER = "other", _("other")


def receipt_path(instance, filename):
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return f"receipts/{timezone.now():%Y/%m}/{instance.leader_id}-{timezone.now():%H%M%S%f}.{ext}"


class ExpenseClaim(models.Model):
    scope_columns = True  # street/community follow `grid`; see grid.services.scoped_row_models
    scope_via = "grid"

    objects = ScopedManager()

    class State(models.TextChoices):
        SUBMITTED = "submitted", _("submitted")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        PAID = "paid", _("paid")

    fund = models.ForeignKey(Fund, verbose_name=_("fund"), on_delete=models.PROTECT, related_name="claims")
    leader = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("leader"), on_delete=models.PROTECT,
                               related_name="expense_claims")
    grid = models.ForeignKey(GridNode, verbose_name=_("micro-grid"), on_delete=models.PROTECT, related_name="+")
    street = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    community = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=ClaimKind.choices)
    amount = models.DecimalField(_("amount (yuan)"), max_digits=10, decimal_places=2)
    date = models.DateField(_("date"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    receipt = models.ImageField(_("receipt"), upload_to=receipt_path, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.SUBMITTED)
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    decision_note = models.CharField(_("decision note"), max_length=300, blank=True)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)

    class Meta:
        verbose_name = _("expense claim")
        verbose_name_plural = _("expense claims")
        ordering = ["-submitted_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="claim_amount_positive")]
        indexes = [models.Index(fields=["fund", "state"]), models.Index(fields=["community", "state"])]

    def __str__(self):
        return f"{self.leader} {self.get_kind_display()} ¥{self.amount}"
