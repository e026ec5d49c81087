"""Joint patrols (联动巡查), the application scenarios they follow (the X of 1+N+X), leaders' work logs,
and the monthly cycle: plans, reports of joint handling and analysis, the analysis meeting. The monthly
jobs' runs are `common.models.JobRun` rows (jobs `patrols.plans` and `patrols.reports`)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grid.access import ScopedManager
from grid.models import GridNode, Household, Level, RoleAssignment
from issues.models import Category, Issue, IssueEvent


class ChecklistTemplate(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("checklist template")
        verbose_name_plural = _("checklist templates")
        ordering = ["name"]

    def __str__(self):
        return self.name


class ChecklistItem(models.Model):
    template = models.ForeignKey(ChecklistTemplate, verbose_name=_("template"), on_delete=models.CASCADE,
                                 related_name="items")
    group = models.CharField(_("group"), max_length=50)
    text = models.CharField(_("item"), max_length=200)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering = ["template_id", "order", "id"]

    def __str__(self):
        return f"{self.group} · {self.text}"


class Cadence(models.TextChoices):
    MONTHLY = "monthly", _("monthly")
    WEEKLY = "weekly", _("weekly")
    RANGE = "range", _("once in a date range")


class Scenario(models.Model):
    """An application scenario: what is checked, where, how often. Data, not code: street staff add
    one in the admin and the next monthly job plans it."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    template = models.ForeignKey(ChecklistTemplate, verbose_name=_("checklist"), on_delete=models.PROTECT,
                                 related_name="scenarios")
    categories = models.ManyToManyField(Category, verbose_name=_("issue categories"), blank=True,
                                        related_name="scenarios",
                                        help_text=_("Findings may use only these; empty means any category."))
    cadence = models.CharField(_("cadence"), max_length=10, choices=Cadence.choices, default=Cadence.MONTHLY)
    levels = models.JSONField(
        _("levels"), default=list,
        help_text=_("The grid levels it is planned for: 2 for communities, 3 for compounds."),
    )
    # Monthly and weekly scenarios may be limited to a season; a range scenario is one plan for the range.
    starts_on = models.DateField(_("season from"), null=True, blank=True)
    ends_on = models.DateField(_("season until"), null=True, blank=True)
    planned_day = models.PositiveSmallIntegerField(
        _("planned day"), default=10,
        help_text=_("Day of the period the patrol is planned for (moved to the next working day)."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("scenario")
        verbose_name_plural = _("scenarios")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(planned_day__gte=1, planned_day__lte=28), name="scenario_planned_day_range"),
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True) | Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="scenario_range_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(cadence="range") | Q(starts_on__isnull=False, ends_on__isnull=False),
                name="scenario_range_has_dates",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        levels = self.levels if isinstance(self.levels, list) else None
        if not levels or any(lv not in (Level.COMMUNITY, Level.COMPOUND) for lv in levels):
            raise ValidationError({"levels": ValidationError(_("Choose communities (2), compounds (3) or both."),
                                                             code="invalid_levels")})


class PlanState(models.TextChoices):
    PLANNED = "planned", _("planned")
    DONE = "done", _("done")
    MISSED = "missed", _("missed")


class PatrolPlan(models.Model):
    scope_columns = True  # street/community follow `node`; see grid.services.scoped_row_models
    scope_node_field = "node"
    scope_via = "node"  # grid.access: PatrolPlan.objects.restrict(user) / .subtree(node)

    objects = ScopedManager()

    scenario = models.ForeignKey(Scenario, verbose_name=_("scenario"), on_delete=models.PROTECT, related_name="plans")
    node = models.ForeignKey(GridNode, verbose_name=_("place"), on_delete=models.PROTECT, related_name="patrol_plans")
    street = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    community = models.ForeignKey(GridNode, null=True, on_delete=models.PROTECT, related_name="+", editable=False)
    period = models.CharField(_("period"), max_length=21)  # 2026-11, 2026-W48 or 2026-06-01~2026-09-30
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    planned_date = models.DateField(_("planned date"))
    convener = models.ForeignKey(RoleAssignment, verbose_name=_("convener"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="convened_plans")
    state = models.CharField(_("state"), max_length=10, choices=PlanState.choices, default=PlanState.PLANNED)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("patrol plan")
        verbose_name_plural = _("patrol plans")
        ordering = ["-period_start", "node_id", "scenario_id"]
        constraints = [
            models.UniqueConstraint(fields=["scenario", "node", "period"], name="patrolplan_unique_period"),
            models.CheckConstraint(condition=Q(period_end__gte=models.F("period_start")), name="patrolplan_period_ordered"),
        ]
        indexes = [
            models.Index(fields=["street", "state", "period_end"]),
            models.Index(fields=["community", "period_start"]),
        ]

    def __str__(self):
        return f"{self.scenario} · {self.node.name} · {self.period}"


class Patrol(models.Model):
    """The record of one patrol: who went, what each checklist item showed, what was found."""

    scope_via = "plan__node"

    objects = ScopedManager()

    plan = models.OneToOneField(PatrolPlan, verbose_name=_("plan"), on_delete=models.CASCADE, related_name="patrol")
    date = models.DateField(_("date"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True,
                                    on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(_("note"), blank=True, max_length=2000)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("patrol record")
        verbose_name_plural = _("patrol records")
        ordering = ["-date", "-id"]

    def __str__(self):
        return f"{self.plan} · {self.date}"


class Participant(models.Model):
    """Someone who walked the patrol: a role holder from the roster, or a named outsider."""

    patrol = models.ForeignKey(Patrol, verbose_name=_("patrol"), on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="patrols")
    name = models.CharField(_("name"), max_length=50)
    role = models.CharField(_("role"), max_length=50)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        ordering = ["patrol_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["patrol", "user"], condition=Q(user__isnull=False), name="participant_once"),
        ]

    def __str__(self):
        return f"{self.name} ({self.role})"


class Result(models.TextChoices):
    OK = "ok", _("fine")
    PROBLEM = "problem", _("problem")
    NA = "n/a", _("not applicable")


class ItemResult(models.Model):
    patrol = models.ForeignKey(Patrol, verbose_name=_("patrol"), on_delete=models.CASCADE, related_name="results")
    item = models.ForeignKey(ChecklistItem, verbose_name=_("item"), on_delete=models.PROTECT, related_name="+")
    result = models.CharField(_("result"), max_length=10, choices=Result.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("checklist result")
        verbose_name_plural = _("checklist results")
        ordering = ["patrol_id", "item__order", "item_id"]
        constraints = [models.UniqueConstraint(fields=["patrol", "item"], name="itemresult_once")]


def result_photo_path(instance, filename):
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return f"patrols/{timezone.now():%Y/%m}/{instance.result_id}-{timezone.now():%H%M%S%f}.{ext}"


class ResultPhoto(models.Model):
    result = models.ForeignKey(ItemResult, verbose_name=_("result"), on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(_("photo"), upload_to=result_photo_path)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")


class Finding(models.Model):
    """A problem the patrol found: always a ledger issue (source `patrol`), never a side table."""

    patrol = models.ForeignKey(Patrol, verbose_name=_("patrol"), on_delete=models.CASCADE, related_name="findings")
    issue = models.OneToOneField(Issue, verbose_name=_("issue"), on_delete=models.CASCADE, related_name="finding")
    item = models.ForeignKey(ChecklistItem, verbose_name=_("item"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    on_spot = models.BooleanField(_("solved on the spot"))

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering = ["patrol_id", "id"]


class WorkKind(models.TextChoices):
    HOME_VISIT = "home_visit", _("home visit")
    ERRAND = "errand", _("errand for residents")
    MEDIATION = "mediation", _("dispute mediation")
    HAZARD_CHECK = "hazard_check", _("hazard check")
    PUBLICITY = "publicity", _("policy publicity")
    OTHER = "other", _("other")


class WorkLog(models.Model):
    """A leader's day in the field, one line per piece of work."""

    scope_columns = True  # street/community follow `grid`; see grid.services.scoped_row_models
    scope_via = "grid"

    objects = ScopedManager()

    leader = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("leader"), on_delete=models.PROTECT,
                               related_name="work_logs")
    kind = models.CharField(_("kind"), max_length=20, choices=WorkKind.choices)
    date = models.DateField(_("date"), default=timezone.localdate)
    grid = models.ForeignKey(GridNode, verbose_name=_("micro-grid"), on_delete=models.PROTECT, related_name="work_logs")
    street = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    community = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    household = models.ForeignKey(Household, verbose_name=_("household"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="work_logs")
    issue = models.ForeignKey(Issue, verbose_name=_("issue"), null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="work_logs")
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("work log")
        verbose_name_plural = _("work logs")
        ordering = ["-date", "-id"]
        indexes = [
            models.Index(fields=["leader", "date"]),
            models.Index(fields=["street", "-date"]),
            models.Index(fields=["community", "-date"]),
        ]

    def __str__(self):
        return f"{self.date} {self.get_kind_display()} · {self.leader}"


class MonthlyReport(models.Model):
    """Joint handling and joint analysis of one community (or the street's roll-up) for one month.
    Regenerating replaces `data`; there is one row per node and month."""

    scope_columns = True
    scope_node_field = "node"
    scope_via = "node"

    objects = ScopedManager()

    node = models.ForeignKey(GridNode, verbose_name=_("community or street"), on_delete=models.PROTECT,
                             related_name="monthly_reports")
    street = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    community = models.ForeignKey(GridNode, null=True, on_delete=models.PROTECT, related_name="+", editable=False)
    month = models.CharField(_("month"), max_length=7)  # 2026-11
    data = models.JSONField(_("content"), default=dict)
    generated_at = models.DateTimeField(_("generated"), default=timezone.now)

    class Meta:
        verbose_name = _("monthly report")
        verbose_name_plural = _("monthly reports")
        ordering = ["-month", "node__level", "node__code"]
        constraints = [models.UniqueConstraint(fields=["node", "month"], name="monthlyreport_unique")]

    def __str__(self):
        return f"{self.node.name} {self.month}"


class Meeting(models.Model):
    """The joint analysis meeting held on a monthly report (联动分析会)."""

    report = models.OneToOneField(MonthlyReport, verbose_name=_("report"), on_delete=models.CASCADE,
                                  related_name="meeting")
    held_on = models.DateField(_("held on"))
    attendees = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("attendees"), blank=True,
                                       related_name="+")
    other_attendees = models.CharField(_("other attendees"), max_length=500, blank=True)
    minutes = models.TextField(_("minutes"), max_length=10000)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True,
                                    on_delete=models.SET_NULL, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("analysis meeting")
        verbose_name_plural = _("analysis meetings")
        ordering = ["-held_on"]

    def __str__(self):
        return f"{self.report} · {self.held_on}"


class Decision(models.Model):
    meeting = models.ForeignKey(Meeting, verbose_name=_("meeting"), on_delete=models.CASCADE, related_name="decisions")
    text = models.CharField(_("decision"), max_length=1000)
    issue = models.ForeignKey(Issue, verbose_name=_("issue"), null=True, blank=True, on_delete=models.CASCADE,
                              related_name="decisions")
    common = models.BooleanField(_("common problem"), default=False)
    difficult = models.BooleanField(_("difficult problem"), default=False)
    escalate = models.BooleanField(_("escalate to joint disposal"), default=False)
    # The ledger events the decision caused (referral, escalation), for the record.
    events = models.ManyToManyField(IssueEvent, verbose_name=_("ledger events"), blank=True, related_name="+")

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["meeting_id", "id"]

    def __str__(self):
        return self.text[:50]


class Job(models.TextChoices):
    """The patrols' monthly jobs, by their names in `common.jobs` (their runs are common JobRuns)."""

    PLANS = "patrols.plans", _("monthly patrol plans")
    REPORTS = "patrols.reports", _("monthly reports")
