import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from grid import services
from grid.checks import tree_faults
from grid.models import ChangeLog, GridNode, Household, Kind, Level, Post, Role, RoleAssignment
from tests.factories import HouseholdFactory, RoleFactory, UserFactory, node

pytestmark = pytest.mark.django_db


def assert_tree_sound():
    assert tree_faults() == []


class TestPlacement:
    def test_levels_may_be_skipped(self, world):
        mg = node(world.a.community, level=Level.MICROGRID, kind=Kind.BUSINESS)
        assert mg.parent == world.a.community
        assert_tree_sound()

    @pytest.mark.parametrize(
        "level,kind,field",
        [
            (Level.COMMUNITY, "", "level"),  # not deeper than the community
            (Level.STREET, "", "parent"),  # a street has no parent
            (Level.COMPOUND, Kind.BUSINESS, "kind"),  # compound kinds are residential / settlement
            (Level.MICROGRID, "", "kind"),
            (Level.BUILDING, Kind.RESIDENTIAL, "kind"),
        ],
    )
    def test_bad_placement_is_refused_with_a_field_error(self, world, level, kind, field):
        before = GridNode.objects.count()
        with pytest.raises(ValidationError) as e:
            services.node_create(name="x", code="BAD1", level=level, kind=kind, parent=world.a.community)
        assert field in e.value.message_dict
        assert GridNode.objects.count() == before

    def test_only_communities_hang_under_a_street(self, world):
        with pytest.raises(ValidationError) as e:
            services.node_create(name="x", code="BAD4", level=Level.MICROGRID, kind=Kind.SCENIC, parent=world.street)
        assert "parent" in e.value.message_dict

    def test_microgrids_are_leaves(self, world):
        with pytest.raises(ValidationError) as e:
            services.node_create(name="x", code="BAD2", level=Level.MICROGRID, kind=Kind.RESIDENTIAL, parent=world.a.mg1)
        assert "parent" in e.value.message_dict

    def test_only_streets_are_roots(self, db):
        with pytest.raises(ValidationError):
            services.node_create(name="x", code="BAD3", level=Level.COMMUNITY)
        street = services.node_create(name="街道", code="S1", level=Level.STREET)
        other = services.node_create(name="街道2", code="S2", level=Level.STREET)
        assert street.tree_id != other.tree_id  # each street is its own tree

    def test_duplicate_code_is_refused(self, world):
        with pytest.raises(ValidationError) as e:
            services.node_create(name="x", code=world.a.mg1.code, level=Level.COMPOUND, kind=Kind.RESIDENTIAL,
                                 parent=world.b.community)
        assert "code" in e.value.message_dict

    def test_database_refuses_a_kind_that_does_not_fit(self, world):
        with pytest.raises(IntegrityError):
            GridNode.objects.filter(pk=world.a.building.pk).update(kind=Kind.SCENIC)


class TestTreeWrites:
    def test_create_logs_and_keeps_the_tree_sound(self, world):
        n = services.node_create(actor=world.staff, name="2栋", code="CA-R1-B2", level=Level.BUILDING,
                                 parent=world.a.compound)
        assert ChangeLog.objects.filter(model="gridnode", object_id=str(n.pk), action="create").exists()
        assert_tree_sound()

    def test_rename(self, world):
        services.node_update(actor=world.staff, node=world.a.mg1, name="新名")
        world.a.mg1.refresh_from_db()
        assert world.a.mg1.name == "新名"
        entry = ChangeLog.objects.get(model="gridnode", object_id=str(world.a.mg1.pk), action="update")
        assert entry.changes["name"][1] == "新名"

    def test_move_rewrites_the_community_column_of_households(self, world):
        services.node_move(node=world.a.compound, parent=world.b.community)
        assert_tree_sound()
        moved = Household.objects.filter(grid__in=[world.a.mg1, world.a.mg2])
        assert moved.count() == 3
        assert set(moved.values_list("community_id", flat=True)) == {world.b.community.pk}

    def test_move_to_another_street(self, world):
        other = services.node_create(name="另一街道", code="S9", level=Level.STREET)
        services.node_move(node=world.a.community, parent=other)
        assert_tree_sound()
        assert set(Household.objects.filter(community=world.a.community).values_list("street_id", flat=True)) == {other.pk}

    def test_move_under_own_descendant_is_refused(self, world):
        with pytest.raises(ValidationError):
            services.node_move(node=world.a.compound, parent=world.a.building)
        assert_tree_sound()

    def test_move_must_keep_levels_deeper(self, world):
        with pytest.raises(ValidationError):
            services.node_move(node=world.a.building, parent=world.b.unit)
        assert_tree_sound()

    def test_delete_refused_while_households_hang_below(self, world):
        with pytest.raises(ValidationError):
            services.node_delete(node=world.a.compound)
        assert GridNode.objects.filter(pk=world.a.compound.pk).exists()

    def test_delete_empty_subtree(self, world):
        b2 = node(world.a.compound, level=Level.BUILDING)
        node(b2, level=Level.MICROGRID)
        services.node_delete(actor=world.staff, node=b2)
        assert not GridNode.objects.filter(pk=b2.pk).exists()
        assert_tree_sound()

    def test_tree_build_creates_in_bulk_with_one_rebuild(self, world, django_assert_max_num_queries):
        rows = [{"code": "CB-R9", "name": "新小区", "level": 3, "kind": "residential", "parent_code": "CB"}]
        rows += [
            {"code": f"CB-R9-G{i}", "name": f"网格{i}", "level": 6, "kind": "residential", "parent_code": "CB-R9"}
            for i in range(50)
        ]
        with django_assert_max_num_queries(20):
            assert services.tree_build(rows=rows) == 51
        assert GridNode.objects.get(code="CB-R9").get_descendant_count() == 50
        assert_tree_sound()


class TestHouseholds:
    def test_create_writes_scope_columns_and_log(self, world):
        h = services.household_create(actor=world.staff, grid=world.a.mg2, head="张三", phone="13812345678", members=2)
        assert (h.street_id, h.community_id) == (world.street.pk, world.a.community.pk)
        log = ChangeLog.objects.get(model="household", object_id=str(h.pk))
        assert log.changes["phone"] == "138****5678"  # the log never holds a full phone
        assert log.actor == world.staff

    def test_household_must_be_on_a_microgrid(self, world):
        with pytest.raises(ValidationError) as e:
            services.household_create(grid=world.a.building, head="张三", members=2)
        assert "grid" in e.value.message_dict

    @pytest.mark.parametrize("field,value", [("phone", "12345"), ("members", 0), ("head", "")])
    def test_bad_fields_write_nothing(self, world, field, value):
        before = Household.objects.count()
        data = {"grid": world.a.mg1, "head": "李四", "phone": "13812345678", "members": 2, field: value}
        with pytest.raises(ValidationError) as e:
            services.household_create(**data)
        assert field in e.value.message_dict
        assert Household.objects.count() == before

    def test_update_moves_between_communities(self, world):
        h = world.a.households[0]
        services.household_update(actor=world.staff, household=h, grid=world.b.mg1, room="909")
        h.refresh_from_db()
        assert h.community_id == world.b.community.pk and h.room == "909"
        entry = ChangeLog.objects.filter(model="household", object_id=str(h.pk), action="update").get()
        assert entry.changes["grid"] == [world.a.mg1.code, world.b.mg1.code]

    def test_update_without_change_logs_nothing(self, world):
        h = world.a.households[1]
        services.household_update(household=h, head=h.head)
        assert not ChangeLog.objects.filter(model="household", object_id=str(h.pk), action="update").exists()


class TestRoles:
    def test_one_open_a_post_per_microgrid(self, world):
        with pytest.raises(ValidationError) as e:
            RoleFactory(node=world.a.mg1, role=Role.LEADER, post=Post.A)
        assert "post" in e.value.message_dict

    def test_database_refuses_a_second_open_a_post(self, world):
        with pytest.raises(IntegrityError):
            RoleAssignment.objects.create(user=UserFactory(), node=world.a.mg1, role=Role.LEADER, post=Post.A)

    def test_a_post_free_again_after_end(self, world):
        services.role_end(assignment=world.a.leader_role)
        new = RoleFactory(node=world.a.mg1, role=Role.LEADER, post=Post.A)
        assert new.is_active()

    @pytest.mark.parametrize(
        "role,post,where,field",
        [
            (Role.LEADER, Post.A, "compound", "node"),
            (Role.LEADER, "", "mg2", "post"),
            (Role.SECRETARY, Post.B, "community", "post"),
            (Role.SECRETARY, "", "compound", "node"),
            (Role.STREET_STAFF, "", "community", "node"),
            (Role.PROPERTY_STAFF, "", "compound", "organisation"),
        ],
    )
    def test_role_rules(self, world, role, post, where, field):
        before = RoleAssignment.objects.count()
        with pytest.raises(ValidationError) as e:
            RoleFactory(node=getattr(world.a, where), role=role, post=post)
        assert field in e.value.message_dict
        assert RoleAssignment.objects.count() == before

    def test_end_before_start_is_refused(self, world):
        import datetime

        with pytest.raises(ValidationError):
            services.role_update(assignment=world.a.leader_role, end=world.a.leader_role.start - datetime.timedelta(days=1))

    def test_grant_admin_gives_staff_and_group(self, world):
        services.user_grant_admin(user=world.staff, role=Role.STREET_STAFF)
        world.staff.refresh_from_db()
        assert world.staff.is_staff
        assert world.staff.has_perm("grid.view_full_phone")
        services.user_grant_admin(user=world.a.secretary, role=Role.SECRETARY)
        assert not type(world.a.secretary).objects.get(pk=world.a.secretary.pk).has_perm("grid.view_full_phone")


def test_household_factory_rows_count(world):
    assert Household.objects.count() == 6
    HouseholdFactory(grid=world.b.mg2)
    assert Household.objects.filter(community=world.b.community).count() == 4


def test_a_posts_may_not_overlap_in_time(world):
    import datetime

    from django.utils import timezone

    today = timezone.localdate()
    services.role_update(assignment=world.a.leader_role, end=today + datetime.timedelta(days=30))
    with pytest.raises(ValidationError) as e:  # starts before the current post ends
        RoleFactory(node=world.a.mg1, role=Role.LEADER, post=Post.A, start=today + datetime.timedelta(days=10),
                    end=today + datetime.timedelta(days=60))
    assert "post" in e.value.message_dict
    successor = RoleFactory(node=world.a.mg1, role=Role.LEADER, post=Post.A, start=today + datetime.timedelta(days=30))
    assert successor.pk  # the handover day is shared


def test_organisation_delete_is_logged_and_refused_while_staffed(world):
    org = world.property
    staff = RoleFactory(node=world.a.community, role=Role.PROPERTY_STAFF, organisation=org)
    with pytest.raises(ValidationError):
        services.organisation_delete(organisation=org)
    services.role_delete(assignment=staff)
    services.organisation_delete(actor=world.staff, organisation=org)
    assert ChangeLog.objects.filter(model="organisation", action="delete", actor=world.staff).exists()
