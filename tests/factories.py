"""Factories for every grid model; they write through the services like everything else."""

import importlib
import itertools

import factory
from django.contrib.auth import get_user_model

from common.periods import current_month, parse_month
from grid import services
from grid.models import CareTag, GridNode, Household, Kind, Level, OrgKind, Organisation, RoleAssignment
from tests.support import PASSWORD

_codes = itertools.count(1)


def code(prefix="N"):
    return f"{prefix}{next(_codes):05d}"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    name = factory.Sequence(lambda n: f"用户{n}")
    phone = "13800005678"
    password = factory.django.Password(PASSWORD)


def node(parent=None, level=None, kind="", name=None, **kw):
    if level is None:
        level = Level.STREET if parent is None else parent.level + 1
    if level == Level.MICROGRID and not kind:
        kind = Kind.RESIDENTIAL
    if level == Level.COMPOUND and not kind:
        kind = Kind.RESIDENTIAL
    return services.node_create(
        name=name or f"节点{next(_codes)}", code=kw.pop("code", None) or code(), level=level, kind=kind,
        parent=parent, **kw,
    )


class GridNodeFactory(factory.django.DjangoModelFactory):
    """For tests that need a street and nothing else; deeper nodes come from `node()`."""

    class Meta:
        model = GridNode

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return node(**kwargs)


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household

    head = factory.Sequence(lambda n: f"户主{n}")
    phone = "13912345678"
    members = 3
    building = "1栋"
    unit = "1单元"
    room = factory.Sequence(lambda n: f"{n + 101}")

    @classmethod
    def _create(cls, model_class, *args, tags=(), **kwargs):
        return services.household_create(tags=tags, **kwargs)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"物业公司{n}")
    kind = OrgKind.PROPERTY

    @classmethod
    def _create(cls, model_class, *args, nodes=None, **kwargs):
        return services.organisation_save(nodes=nodes, **kwargs)


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoleAssignment

    user = factory.SubFactory(UserFactory)
    post = ""
    public_phone = "13600001111"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.role_assign(**kwargs)


def _migration_rows(module, name):
    """Rows a data migration writes (a flushing test removes them; the factories write them back alike)."""
    return getattr(importlib.import_module(module), name)


def care_tag(code):
    # get_or_create: transactional tests flush the tags the data migration wrote.
    names = dict(_migration_rows("grid.migrations.0002_care_tags", "CARE_TAGS"))
    return CareTag.objects.get_or_create(code=code, defaults={"name": names.get(code, code)})[0]


# --- the ledger -------------------------------------------------------------------------------


def category(code="property_repair", **defaults):
    from issues.models import Category

    # get_or_create: transactional tests flush the categories the data migration wrote.
    shipped = {row[0]: dict(zip(("name", "group", "deadline", "deadline_unit", "handler_kind"), row[1:]))
               for row in _migration_rows("issues.migrations.0002_categories", "CATEGORIES")}
    defaults = {**shipped.get(code, {"name": code, "group": "property", "deadline": 5, "deadline_unit": "days",
                                     "handler_kind": "property"}), **defaults}
    return Category.objects.get_or_create(code=code, defaults=defaults)[0]


def issue(grid, actor=None, **kw):
    """A reported issue on `grid` (a resident's report when `actor` is None)."""
    from issues import services as issue_services

    kw.setdefault("category", category())
    kw.setdefault("description", "单元门禁损坏，无法关闭")
    kw.setdefault("source", "resident" if actor is None else "visit")
    return issue_services.issue_report(actor=actor, grid=grid, **kw)


def act(issue_obj, action, actor, **data):
    from issues import services as issue_services

    return issue_services.issue_transition(issue_id=issue_obj.pk, action=action, actor=actor, **data)[0]


# --- patrols ----------------------------------------------------------------------------------


def scenario(code="monthly_joint_patrol", levels=(3,), categories=("property_repair", "sanitation", "facilities"),
             items=(("物业服务", "楼道照明"), ("环境卫生", "垃圾清运"), ("公共设施", "健身器材")), **kw):
    """A scenario with its checklist (get_or_create: the data migration ships two)."""
    from patrols.models import ChecklistItem, ChecklistTemplate, Scenario

    existing = Scenario.objects.filter(code=code).first()
    if existing is not None:
        return existing
    template, created = ChecklistTemplate.objects.get_or_create(name=f"{code} 检查表")
    if created:
        for order, (group, text) in enumerate(items, start=1):
            ChecklistItem.objects.create(template=template, group=group, text=text, order=order)
    s = Scenario.objects.create(code=code, name=code, template=template, levels=list(levels), **kw)
    s.categories.set([category(c) for c in categories])
    return s


def plan(node, scen=None, month=None):
    """This month's plan of `scen` (the monthly joint patrol by default) at a community or compound."""
    from patrols.models import PatrolPlan

    scen = scen or scenario()
    month = month or current_month()
    first, last = parse_month(month)
    street, community = services.scope_columns(node)
    return PatrolPlan.objects.get_or_create(
        scenario=scen, node=node, period=month,
        defaults={"street": street, "community": community, "period_start": first, "period_end": last,
                  "planned_date": first},
    )[0]


def checklist(plan_obj, problem=None):
    """Answers for every item of the plan's checklist: all fine, or `problem` ({item index: note})."""
    problem = problem or {}
    return [
        {"item": item.pk, "result": "problem" if i in problem else "ok", "note": problem.get(i, "")}
        for i, item in enumerate(plan_obj.scenario.template.items.all())
    ]
