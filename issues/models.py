"""The problem ledger (问题台账): categories, issues, their append-only event log, photos, the
working-day calendar's overrides and the notification outbox."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.models import AppendOnly
from grid.access import ScopedQuerySet
from grid.models import PHONE_RE, GridNode, Organisation, mask_phone, validate_phone


class CategoryGroup(models.TextChoices):
    PROPERTY = "property", _("property services")
    ENVIRONMENT = "environment", _("environment")
    FACILITIES = "facilities", _("public facilities")
    SAFETY = "safety", _("safety hazards")
    DISPUTE = "dispute", _("neighbour disputes")
    GOVERNMENT = "government", _("government services")
    OTHER = "other", _("other")


class HandlerKind(models.TextChoices):
    PROPERTY = "property", _("property company")
    COMMUNITY = "community", _("community")
    STREET = "street", _("street department")


class DeadlineUnit(models.TextChoices):
    DAYS = "days", _("working days")
    HOURS = "hours", _("working hours")


class Category(models.Model):
    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=50)
    group = models.CharField(_("group"), max_length=20, choices=CategoryGroup.choices)
    deadline = models.PositiveSmallIntegerField(_("deadline"), default=5)
    deadline_unit = models.CharField(_("deadline unit"), max_length=5, choices=DeadlineUnit.choices, default=DeadlineUnit.DAYS)
    handler_kind = models.CharField(_("default handler"), max_length=20, choices=HandlerKind.choices)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["group", "code"]
        constraints = [models.CheckConstraint(condition=Q(deadline__gte=1), name="category_deadline_positive")]

    def __str__(self):
        return self.name


class CalendarOverride(models.Model):
    """A street-office correction to the statutory calendar: a day declared working or not."""

    date = models.DateField(_("date"), unique=True)
    workday = models.BooleanField(_("working day"))
    note = models.CharField(_("note"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("calendar override")
        verbose_name_plural = _("calendar overrides")
        ordering = ["-date"]

    def __str__(self):
        return f"{self.date} {'✓' if self.workday else '✗'} {self.note}"


class State(models.TextChoices):
    REPORTED = "reported", _("reported")
    RECORDED = "recorded", _("recorded")
    HANDLING = "handling", _("handling")
    VERIFYING = "verifying", _("verifying")
    ANALYSIS = "analysis", _("joint analysis")
    DISPOSAL = "disposal", _("joint disposal")
    RESOLVED = "resolved", _("resolved")
    UNRESOLVABLE = "unresolvable", _("unresolvable")
    CLOSED = "closed", _("closed")


OPEN_STATES = tuple(s for s in State.values if s != State.CLOSED)


class FeedbackChannel(models.TextChoices):
    VISIT = "visit", _("home visit")
    PHONE = "phone", _("phone call")
    SMS = "sms", _("SMS")
    NOTICE = "notice", _("notice")


class Satisfaction(models.TextChoices):
    SATISFIED = "satisfied", _("satisfied")
    BASICALLY = "basically", _("basically satisfied")
    DISSATISFIED = "dissatisfied", _("dissatisfied")


class Source(models.TextChoices):
    PATROL = "patrol", _("joint patrol")
    VISIT = "visit", _("home visit")
    RESIDENT = "resident", _("resident report")
    HOTLINE = "hotline", _("hotline")
    OTHER = "other", _("other")


class Priority(models.TextChoices):
    LOW = "low", _("low")
    NORMAL = "normal", _("normal")
    HIGH = "high", _("high")
    URGENT = "urgent", _("urgent")


class Supervision(models.IntegerChoices):
    NONE = 0, _("none")
    YELLOW = 1, _("yellow card")
    RED = 2, _("red card")


class IssueQuerySet(ScopedQuerySet):
    def restrict(self, user):
        """What `user` sees of the ledger: their scope, plus what is assigned to them or their company
        (the rules live in `issues.selectors.visible_issues`)."""
        from .selectors import visible_issues

        return visible_issues(user, self)


class Issue(models.Model):
    scope_columns = True  # street/community follow `grid`; see grid.services.scoped_row_models
    scope_via = "grid"
    phone_fields = ("reporter_phone",)  # private: see common.admin.CleanQueryMixin

    number = models.CharField(_("ledger number"), max_length=30, unique=True)
    tracking_code = models.CharField(_("tracking code"), max_length=12, unique=True)
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), max_length=2000)
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="issues")
    grid = models.ForeignKey(GridNode, verbose_name=_("grid node"), on_delete=models.PROTECT, related_name="issues")
    # Written by the services from `grid` (and rewritten by grid moves): scope filters as equalities.
    street = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    # Empty for an issue at the street itself (above every community).
    community = models.ForeignKey(GridNode, null=True, on_delete=models.PROTECT, related_name="+", editable=False)
    location = models.CharField(_("location"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reporter"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="reported_issues",
    )
    reporter_name = models.CharField(_("reporter's name"), max_length=50, blank=True)
    reporter_phone = models.CharField(_("reporter's phone"), max_length=20, blank=True, validators=[validate_phone])
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.REPORTED)
    handler_org = models.ForeignKey(
        Organisation, verbose_name=_("handling organisation"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="issues",
    )
    handler_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("handler"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="handled_issues",
    )
    assigned_at = models.DateTimeField(_("assigned"), null=True, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    supervision = models.PositiveSmallIntegerField(_("supervision"), choices=Supervision.choices, default=Supervision.NONE)
    common = models.BooleanField(_("common problem"), default=False)
    difficult = models.BooleanField(_("difficult problem"), default=False)
    merged_into = models.ForeignKey(
        "self", verbose_name=_("merged into"), null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )
    plan = models.TextField(_("disposal plan"), blank=True)
    announcement = models.TextField(_("public announcement"), blank=True)
    announced_at = models.DateTimeField(_("announced"), null=True, blank=True)
    extension_until = models.DateTimeField(_("extension requested until"), null=True, blank=True)
    extension_reason = models.CharField(_("extension reason"), max_length=500, blank=True)
    reopen_count = models.PositiveSmallIntegerField(_("reopened"), default=0)
    version = models.PositiveIntegerField(_("version"), default=1)
    reported_at = models.DateTimeField(_("report time"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    closed_at = models.DateTimeField(_("closing time"), null=True, blank=True)

    objects = IssueQuerySet.as_manager()

    class Meta:
        verbose_name = _("issue")
        verbose_name_plural = _("issues")
        ordering = ["-reported_at", "-id"]
        indexes = [
            models.Index(fields=["street", "state"]),
            models.Index(fields=["community", "state"]),
            models.Index(fields=["state", "due_at"]),
            models.Index(fields=["street", "-reported_at"]),
            models.Index(fields=["community", "-reported_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(merged_into=models.F("id")), name="issue_not_merged_into_itself"),
            # An issue declared unresolvable always carries its public announcement.
            models.CheckConstraint(
                condition=~Q(state="unresolvable") | (Q(announced_at__isnull=False) & ~Q(announcement="")),
                name="issue_unresolvable_announced",
            ),
        ]

    def __str__(self):
        return f"{self.number} {self.title}"

    @property
    def is_overdue(self):
        return self.due_at is not None and self.state == State.HANDLING and self.due_at < timezone.now()


class IssueEvent(AppendOnly):
    """Append-only: every action on an issue, with who, when, from which state to which."""

    issue = models.ForeignKey(Issue, verbose_name=_("issue"), on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=30)
    from_state = models.CharField(_("from"), max_length=20, choices=State.choices, blank=True)
    to_state = models.CharField(_("to"), max_length=20, choices=State.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("issue event")
        verbose_name_plural = _("issue events")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["issue", "created_at"]), models.Index(fields=["action", "created_at"])]

    def __str__(self):
        return f"{self.issue_id} {self.action} {self.from_state}→{self.to_state}"


def photo_path(instance, filename):
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return f"issues/{timezone.now():%Y/%m}/{instance.issue_id}-{timezone.now():%H%M%S%f}.{ext}"


class IssuePhoto(models.Model):
    issue = models.ForeignKey(Issue, verbose_name=_("issue"), on_delete=models.CASCADE, related_name="photos")
    event = models.ForeignKey(
        IssueEvent, verbose_name=_("event"), null=True, blank=True, on_delete=models.SET_NULL, related_name="photos"
    )
    image = models.ImageField(_("photo"), upload_to=photo_path)
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["uploaded_at", "id"]


class IssueCounter(models.Model):
    """The last ledger number given per street and month (JY-202611-00042)."""

    street = models.ForeignKey(GridNode, on_delete=models.CASCADE, related_name="+")
    month = models.CharField(max_length=6)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["street", "month"], name="issuecounter_unique")]


class Channel(models.TextChoices):
    CONSOLE = "console", _("console")
    EMAIL = "email", _("email")
    SMS = "sms", _("SMS")


class Notification(models.Model):
    """The outbox: a message waits here until a Celery task has delivered it."""

    phone_fields = ("address",)  # an SMS address is a private phone: see common.admin.CleanQueryMixin

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    key = models.CharField(_("key"), max_length=120, unique=True)  # the same message is queued once
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recipient"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="notifications",
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    text = models.TextField(_("text"))
    issue = models.ForeignKey(Issue, verbose_name=_("issue"), null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        # Shown in page titles and logs, to people without the phone right too.
        return f"{self.channel} → {self.masked_address or self.recipient}: {self.subject or self.text[:30]}"

    @property
    def masked_address(self):
        """A phone number is masked on every channel (a console message may be addressed to one)."""
        address = self.address or ""
        return mask_phone(address) if PHONE_RE.match(address) else address
