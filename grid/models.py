"""The six-level grid tree, the people and organisations on it, and who holds which role where."""

import re

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from mptt.models import MPTTModel, TreeForeignKey

from common.models import AppendOnly

PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def validate_phone(value):
    if value and not PHONE_RE.match(value):
        raise ValidationError(
            _("Enter a mobile number of 11 digits or a landline such as 028-88888888."), code="phone"
        )


GEOJSON_TYPES = {"Polygon", "MultiPolygon", "Feature", "FeatureCollection"}


def validate_geojson(value):
    """A boundary is a GeoJSON polygon (or a feature holding one), as drawn by any GIS tool."""
    if value in (None, ""):
        return
    if not isinstance(value, dict) or value.get("type") not in GEOJSON_TYPES:
        raise ValidationError(_("Enter a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection."), code="geojson")
    if value["type"] in ("Polygon", "MultiPolygon") and not isinstance(value.get("coordinates"), list):
        raise ValidationError(_("A GeoJSON polygon needs a list of coordinates."), code="geojson")


def mask_phone(value):
    """138****5678: the first three and last four digits, for everyone without the right to see more."""
    if not value:
        return ""
    digits = value.replace("-", "")
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


class User(AbstractUser):
    phone_fields = ("phone",)  # private: masked, never filtered or sorted on without the phone right
    # One field for a Chinese full name; first/last name make no sense for 张三.
    name = models.CharField(pgettext_lazy("person", "name"), max_length=50, blank=True)
    phone = models.CharField(_("private phone"), max_length=20, blank=True, validators=[validate_phone])

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [("view_full_phone", _("Can see unmasked phone numbers"))]

    def __str__(self):
        return self.name or self.username


class Level(models.IntegerChoices):
    STREET = 1, _("street")
    COMMUNITY = 2, _("community")
    COMPOUND = 3, _("compound")
    BUILDING = 4, _("building")
    UNIT = 5, _("unit")
    MICROGRID = 6, _("micro-grid")


class Kind(models.TextChoices):
    NONE = "", _("—")
    RESIDENTIAL = "residential", _("residential")
    SETTLEMENT = "settlement", _("settlement")
    BUSINESS = "business", _("individual businesses")
    SCENIC = "scenic", _("tourist scenic area")
    INSTITUTION = "institution", _("institutions, schools, hospitals")
    ENTERPRISE = "enterprise", _("development-zone enterprise")


COMPOUND_KINDS = (Kind.RESIDENTIAL, Kind.SETTLEMENT)
MICROGRID_KINDS = (
    Kind.BUSINESS,
    Kind.SCENIC,
    Kind.INSTITUTION,
    Kind.ENTERPRISE,
    Kind.RESIDENTIAL,
    Kind.SETTLEMENT,
)


def kinds_for_level(level):
    return {Level.COMPOUND: COMPOUND_KINDS, Level.MICROGRID: MICROGRID_KINDS}.get(level, (Kind.NONE,))


class GridNode(MPTTModel):
    """One node of a street's tree. `level` is the domain level (1..6, levels may be skipped);
    django-mptt's own depth is kept in `depth`."""

    name = models.CharField(_("name"), max_length=100)
    code = models.CharField(
        _("code"),
        max_length=40,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9_-]*$", _("Use letters, digits, '-' and '_' only.")
            )
        ],
    )
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, blank=True, default="")
    parent = TreeForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    floor_plan = models.ImageField(_("floor plan"), upload_to="floor_plans/", blank=True)
    boundary = models.JSONField(_("boundary (GeoJSON)"), null=True, blank=True, validators=[validate_geojson])

    class MPTTMeta:
        level_attr = "depth"
        # Siblings in reading order: compounds before the micro-grids hung straight on a community.
        order_insertion_by = ["level", "code"]

    class Meta:
        verbose_name = _("grid node")
        verbose_name_plural = _("grid nodes")
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=6), name="gridnode_level_range"),
            # A street is a root and only a street is a root: each street is its own tree.
            models.CheckConstraint(
                condition=Q(level=Level.STREET, parent__isnull=True) | Q(level__gt=1, parent__isnull=False),
                name="gridnode_street_is_root",
            ),
            models.CheckConstraint(
                condition=Q(level=Level.COMPOUND, kind__in=COMPOUND_KINDS)
                | Q(level=Level.MICROGRID, kind__in=MICROGRID_KINDS)
                | (~Q(level__in=[Level.COMPOUND, Level.MICROGRID]) & Q(kind="")),
                name="gridnode_kind_fits_level",
            ),
        ]
        indexes = [models.Index(fields=["level", "kind"])]

    def __str__(self):
        return f"{self.name} ({self.code})"


class CareTag(models.Model):
    """A reason a household needs care (elderly living alone, mobility-impaired, …); one list for all
    streets, edited by administrators."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=50)

    class Meta:
        verbose_name = _("care tag")
        verbose_name_plural = _("care tags")
        ordering = ["id"]

    def __str__(self):
        return self.name


class Household(models.Model):
    scope_columns = True  # street/community follow `grid`; see grid.services.scoped_row_models
    phone_fields = ("phone",)  # private: see common.admin.CleanQueryMixin

    grid = models.ForeignKey(
        GridNode, verbose_name=_("micro-grid"), on_delete=models.PROTECT, related_name="households"
    )
    # Written by the services from `grid` so that scope filters are indexed equality filters.
    street = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    community = models.ForeignKey(GridNode, on_delete=models.PROTECT, related_name="+", editable=False)
    building = models.CharField(_("building"), max_length=30, blank=True)
    unit = models.CharField(_("unit"), max_length=30, blank=True)
    room = models.CharField(_("room"), max_length=30, blank=True)
    head = models.CharField(_("head of household"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[validate_phone])
    members = models.PositiveSmallIntegerField(
        _("members"), default=1, validators=[MinValueValidator(1), MaxValueValidator(99)]
    )
    tags = models.ManyToManyField(CareTag, verbose_name=_("care tags"), blank=True, related_name="households")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["grid_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(members__gte=1, members__lte=99), name="household_members_range")
        ]
        indexes = [models.Index(fields=["street", "community"])]

    def __str__(self):
        return f"{self.head} {self.address}"

    @property
    def address(self):
        return " ".join(p for p in (self.building, self.unit, self.room) if p)


class OrgKind(models.TextChoices):
    PROPERTY = "property", _("property company")
    PARTY_BRANCH = "party_branch", _("party branch")
    INSTITUTION = "institution", _("institution")
    OWNERS_COMMITTEE = "owners_committee", _("owners' committee")


class Organisation(models.Model):
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=OrgKind.choices)
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[validate_phone])
    # The street that keeps this organisation on its registers; nodes are the places it serves.
    street = models.ForeignKey(
        GridNode,
        verbose_name=_("street"),
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"level": Level.STREET},
    )
    nodes = models.ManyToManyField(GridNode, verbose_name=_("serves"), blank=True, related_name="organisations")

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["street", "kind", "name"], name="organisation_unique_name")]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    STREET_STAFF = "street_staff", _("street staff")
    SECRETARY = "secretary", _("community party secretary")
    PARTY_BRANCH = "party_branch", _("grid party branch member")
    LEADER = "leader", _("micro-grid leader")
    PROPERTY_STAFF = "property_staff", _("property company staff")
    GROUP_LEADER = "group_leader", _("resident group leader")
    OWNER_REP = "owner_rep", _("owner representative")


class Post(models.TextChoices):
    NONE = "", _("—")
    A = "A", _("A post (primary)")
    B = "B", _("B post (backup)")


class RoleAssignmentQuerySet(models.QuerySet):
    def active(self, on=None):
        on = on or timezone.localdate()
        return self.filter(Q(start__lte=on), Q(end__isnull=True) | Q(end__gte=on))


class RoleAssignment(models.Model):
    """One line of a roster: a person holds a role at a node, from a date, possibly until a date."""

    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.PROTECT, related_name="roles")
    node = models.ForeignKey(GridNode, verbose_name=_("node"), on_delete=models.PROTECT, related_name="roles")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    post = models.CharField(_("post"), max_length=1, choices=Post.choices, blank=True, default="")
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
    )
    public_phone = models.CharField(
        _("public phone"), max_length=20, blank=True, validators=[validate_phone],
        help_text=_("Shown on the notice board. The private phone is kept on the user's account."),
    )
    start = models.DateField(_("start"), default=timezone.localdate)
    end = models.DateField(_("end"), null=True, blank=True)

    objects = RoleAssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        ordering = ["node_id", "role", "post", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=models.F("start")), name="role_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(role=Role.LEADER, post__in=["A", "B"]) | (~Q(role=Role.LEADER) & Q(post="")),
                name="role_post_only_for_leaders",
            ),
            # At most one open A post per micro-grid.
            models.UniqueConstraint(
                fields=["node"],
                condition=Q(role=Role.LEADER, post="A", end__isnull=True),
                name="role_one_open_a_post",
            ),
        ]
        indexes = [models.Index(fields=["role", "post"])]

    def __str__(self):
        post = f" {self.post}" if self.post else ""
        return f"{self.user} · {self.get_role_display()}{post} · {self.node.name}"

    def is_active(self, on=None):
        on = on or timezone.localdate()
        return self.start <= on and (self.end is None or self.end >= on)


class ChangeLog(AppendOnly):
    """Append-only (saving a line again or deleting it raises): who changed which roster or
    household line, when, and what."""

    class Action(models.TextChoices):
        CREATE = "create", _("created")
        UPDATE = "update", _("changed")
        DELETE = "delete", _("deleted")
        IMPORT = "import", _("imported")

    time = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(User, verbose_name=_("actor"), null=True, on_delete=models.SET_NULL, related_name="+")
    # The street the line belongs to, for scoping; empty for a write spanning streets.
    street = models.ForeignKey(
        GridNode, verbose_name=_("street"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(_("register"), max_length=50)
    object_id = models.CharField(_("object"), max_length=40)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    changes = models.JSONField(_("changes"), default=dict)

    class Meta:
        verbose_name = _("change log entry")
        verbose_name_plural = _("change log")
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["model", "object_id"])]

    def __str__(self):
        return f"{timezone.localtime(self.time):%Y-%m-%d %H:%M} {self.model}#{self.object_id} {self.action}"


class APostRoster(RoleAssignment):
    """The A-post roster (微网格A岗人员花名册): the open A posts, one per led micro-grid."""

    class Meta:
        proxy = True
        verbose_name = _("A-post roster entry")
        verbose_name_plural = _("A-post roster")


class VacantMicrogrid(GridNode):
    """Micro-grids without an active A-post leader."""

    class Meta:
        proxy = True
        verbose_name = _("vacant micro-grid")
        verbose_name_plural = _("vacant micro-grids")
