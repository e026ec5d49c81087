"""Grid's services check their actor's right themselves (grid.access.may and GRID_ACTIONS), whoever
calls them: for every service an allowed role, a refused role, and an actor outside the scope.
`actor=None` is the system (commands, the demo) and may do everything."""

import pytest

from common.errors import Denied
from grid import services
from grid.access import GRID_ACTIONS
from grid.models import ChangeLog, GridNode, Household, Level, Post, Role, RoleAssignment
from tests.factories import RoleFactory, UserFactory, node

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(world):
    """`world` plus the street staff of a second street (outside everything of `world`) and an empty
    building to delete."""
    other = node(name="别街", code="S2")
    world.other_staff = RoleFactory(node=other, role=Role.STREET_STAFF, user=UserFactory(username="other_staff")).user
    world.other_street = other
    world.empty = node(world.a.compound, level=Level.BUILDING, code="CA-R1-B9")
    for key in "ab":  # the insert renumbered the tree
        for name in ("community", "compound", "building", "unit", "mg1", "mg2"):
            getattr(getattr(world, key), name).refresh_from_db()
    return world


def actor(w, who):
    """`who` as a path in the world: "staff", "a.secretary", "other_staff"…"""
    obj = w
    for part in who.split("."):
        obj = getattr(obj, part)
    return obj


STAFF_ONLY = ("staff", "a.secretary", "other_staff")  # allowed, refused role, outside the scope
HOUSEHOLDS = ("a.secretary", "a.leader", "b.secretary")

# service: (allowed, refused for the role, outside the scope, the call)
CASES = {
    "node_create": (*STAFF_ONLY, lambda w, a: services.node_create(
        actor=a, name="2栋", code="CA-R1-B2", level=Level.BUILDING, parent=w.a.compound)),
    "node_update": (*STAFF_ONLY, lambda w, a: services.node_update(actor=a, node=w.a.mg1, name="新名")),
    "node_move": (*STAFF_ONLY, lambda w, a: services.node_move(actor=a, node=w.a.mg2, parent=w.a.unit)),
    "node_delete": (*STAFF_ONLY, lambda w, a: services.node_delete(actor=a, node=w.empty)),
    "tree_build": (*STAFF_ONLY, lambda w, a: services.tree_build(actor=a, rows=[
        {"code": "CA-R9", "name": "新小区", "level": Level.COMPOUND, "kind": "residential", "parent_code": "CA"}])),
    "household_create": (*HOUSEHOLDS, lambda w, a: services.household_create(
        actor=a, grid=w.a.mg1, head="张三", members=2)),
    "household_update": (*HOUSEHOLDS, lambda w, a: services.household_update(
        actor=a, household=w.a.households[0], room="909")),
    "household_delete": (*STAFF_ONLY, lambda w, a: services.household_delete(actor=a, household=w.a.households[0])),
    "households_bulk_create": (*HOUSEHOLDS, lambda w, a: services.households_bulk_create(
        actor=a, rows=[{"grid": w.a.mg1, "head": "批量户", "members": 2}])),
    "organisation_save": (*STAFF_ONLY, lambda w, a: services.organisation_save(
        actor=a, name="新物业", kind="property", street=w.street)),
    "organisation_update": (*STAFF_ONLY, lambda w, a: services.organisation_save(
        actor=a, organisation=w.property, phone="028-88888888")),
    "organisation_delete": (*STAFF_ONLY, lambda w, a: services.organisation_delete(actor=a, organisation=w.property)),
    "role_assign": (*STAFF_ONLY, lambda w, a: services.role_assign(
        actor=a, user=UserFactory(), node=w.a.mg2, role=Role.LEADER, post=Post.B)),
    "role_update": (*STAFF_ONLY, lambda w, a: services.role_update(
        actor=a, assignment=w.a.leader_role, public_phone="13600002222")),
    "role_end": (*STAFF_ONLY, lambda w, a: services.role_end(actor=a, assignment=w.a.leader_role)),
    "role_delete": (*STAFF_ONLY, lambda w, a: services.role_delete(actor=a, assignment=w.a.leader_role)),
    "roles_bulk_assign": (*STAFF_ONLY, lambda w, a: services.roles_bulk_assign(actor=a, assignments=[
        RoleAssignment(user=UserFactory(), node=w.a.mg2, role=Role.LEADER, post=Post.B)])),
}


def snapshot():
    """What a refused write must leave as it was."""
    return (
        ChangeLog.objects.count(), GridNode.objects.count(), Household.objects.count(),
        RoleAssignment.objects.count(), list(GridNode.objects.order_by("pk").values_list("pk", "name", "parent_id")),
        list(Household.objects.order_by("pk").values_list("pk", "room")),
        list(RoleAssignment.objects.order_by("pk").values_list("pk", "public_phone", "end")),
    )


@pytest.mark.parametrize("service", CASES)
def test_the_allowed_role_writes_and_is_logged(w, service):
    allowed, _refused, _outside, call = CASES[service]
    who = actor(w, allowed)
    call(w, who)
    assert ChangeLog.objects.filter(actor=who).exists()


@pytest.mark.parametrize("who,code", [(1, "role_not_allowed"), (2, "outside_scope")], ids=["role", "outside"])
@pytest.mark.parametrize("service", CASES)
def test_a_refused_actor_gets_the_rules_code_and_nothing_is_written(w, service, who, code):
    # A role without the right (in scope), or an actor who does not see the place at all.
    call = CASES[service][3]
    before = snapshot()
    with pytest.raises(Denied) as e:
        call(w, actor(w, CASES[service][who]))
    assert e.value.code == code
    assert snapshot() == before


@pytest.mark.parametrize("service", CASES)
def test_the_system_may_do_everything(w, service):
    CASES[service][3](w, None)


def test_a_superuser_may_do_everything(w):
    root = UserFactory(username="root", is_superuser=True)
    services.node_update(actor=root, node=w.a.mg1, name="新名")
    services.household_delete(actor=root, household=w.a.households[0])


def test_a_secretary_may_not_move_a_household_into_another_community(w):
    with pytest.raises(Denied) as e:
        services.household_update(actor=w.a.secretary, household=w.a.households[0], grid=w.b.mg1)
    assert e.value.code == "outside_scope"
    assert Household.objects.get(pk=w.a.households[0].pk).grid_id == w.a.mg1.pk


def test_street_staff_may_not_move_a_node_into_another_street(w):
    other_comm = services.node_create(name="别社区", code="S2C", level=Level.COMMUNITY, parent=w.other_street)
    with pytest.raises(Denied) as e:
        services.node_move(actor=w.staff, node=w.a.compound, parent=other_comm)
    assert e.value.code == "outside_scope"
    assert GridNode.objects.get(pk=w.a.compound.pk).parent_id == w.a.community.pk


def test_only_an_administrator_creates_or_purges_a_street(w):
    with pytest.raises(Denied) as e:
        services.node_create(actor=w.staff, name="新街道", code="NEWST", level=Level.STREET)
    assert e.value.code == "street_for_administrators"
    with pytest.raises(Denied) as e:
        services.tree_build(actor=w.staff, rows=[{"code": "NEWST", "name": "新街道", "level": Level.STREET}])
    assert e.value.code == "street_for_administrators"
    with pytest.raises(Denied) as e:
        services.street_purge(actor=w.other_staff, street=w.other_street)
    assert e.value.code == "street_for_administrators"
    assert not GridNode.objects.filter(code="NEWST").exists()
    root = UserFactory(username="root", is_superuser=True)
    street = services.node_create(actor=root, name="新街道", code="NEWST", level=Level.STREET)
    services.street_purge(actor=root, street=street)
    assert not GridNode.objects.filter(code="NEWST").exists()


def test_a_stale_node_is_checked_with_its_current_place(w):
    # An object loaded before a move still holds its old place in community A (where the secretary
    # of A would merely lack the right); the check reads the node again and finds it in B.
    stale = GridNode.objects.get(pk=w.a.compound.pk)
    services.node_move(node=w.a.compound, parent=w.b.community)
    with pytest.raises(Denied) as e:
        services.node_update(actor=w.a.secretary, node=stale, name="x")
    assert e.value.code == "outside_scope"
    services.household_create(actor=w.b.secretary, grid=GridNode.objects.get(pk=w.a.mg1.pk), head="搬来", members=1)
    with pytest.raises(Denied) as e:
        services.household_create(actor=w.a.secretary, grid=w.a.mg1, head="留下", members=1)
    assert e.value.code == "outside_scope"


# The table says what the admin groups' model permissions say (GRID_ADMIN_PERMISSIONS), so a right is
# the same whether the admin or another caller asks.
ACTION_PERMISSIONS = {
    "node.change": {"add_gridnode", "change_gridnode", "delete_gridnode"},
    "household.change": {"add_household", "change_household"},
    "household.delete": {"delete_household"},
    "organisation.change": {"add_organisation", "change_organisation", "delete_organisation"},
    "role.change": {"add_roleassignment", "change_roleassignment", "delete_roleassignment"},
}


@pytest.mark.parametrize("action", ACTION_PERMISSIONS)
def test_the_action_table_matches_the_admin_permissions(action):
    holders = {
        role for role, codenames in services.GRID_ADMIN_PERMISSIONS.items()
        if codenames is None or ACTION_PERMISSIONS[action] & codenames
    }
    assert GRID_ACTIONS[action] == holders
    for role, codenames in services.GRID_ADMIN_PERMISSIONS.items():
        if role in GRID_ACTIONS[action] and codenames is not None:
            assert ACTION_PERMISSIONS[action] <= codenames, (action, role)


def test_every_refusal_message_is_translatable_and_every_action_has_one():
    assert set(services.REFUSED) == set(GRID_ACTIONS)


# --- the change log is append-only ----------------------------------------------------------------


def test_a_saved_change_log_line_cannot_be_edited_or_deleted(w):
    line = ChangeLog.objects.filter(model="household").first()
    line.action = ChangeLog.Action.DELETE
    with pytest.raises(ValueError, match="append-only"):
        line.save()
    with pytest.raises(ValueError, match="append-only"):
        line.delete()
    assert ChangeLog.objects.get(pk=line.pk).action == ChangeLog.Action.CREATE


def test_the_admin_cannot_grant_more_than_the_role(client, w):
    # Model permissions of the street staff's group, but the role of a secretary: the service refuses
    # the tree write the admin form accepted, and nothing is written.
    services.user_grant_admin(user=w.a.secretary, role=Role.STREET_STAFF)
    client.force_login(w.a.secretary)
    before = GridNode.objects.count()
    response = client.post("/admin/grid/gridnode/add/", {
        "name": "2栋", "code": "CA-R1-B2", "level": Level.BUILDING, "kind": "", "parent": w.a.compound.pk,
        "boundary": ""})
    assert response.status_code == 403
    assert GridNode.objects.count() == before
    # Households are the secretary's to keep: the same admin writes them.
    response = client.post("/admin/grid/household/add/", {
        "grid": w.a.mg2.pk, "head": "新户", "members": 2, "building": "", "unit": "", "room": "", "phone": ""})
    assert response.status_code == 302
    assert Household.objects.filter(head="新户", grid=w.a.mg2).exists()
