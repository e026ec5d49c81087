import datetime

import pytest
from django.utils import timezone

from grid import selectors, services
from grid.models import GridNode, Household, Level, Post, Role, RoleAssignment
from tests.factories import OrganisationFactory, RoleFactory, UserFactory

pytestmark = pytest.mark.django_db


def codes(qs):
    return set(qs.values_list("code", flat=True))


class TestScope:
    def test_leader_sees_only_their_subtree(self, world):
        nodes = selectors.visible_nodes(world.a.leader)
        assert codes(nodes) == {world.a.mg1.code}
        assert set(selectors.visible_households(world.a.leader)) == set(world.a.households[:2])

    def test_secretary_sees_their_community(self, world):
        nodes = selectors.visible_nodes(world.a.secretary)
        assert world.a.mg2.code in codes(nodes)
        assert not nodes.filter(pk__in=[world.b.community.pk, world.b.mg1.pk, world.street.pk]).exists()
        assert selectors.visible_households(world.a.secretary).count() == 3
        assert {r.node.tree_id for r in selectors.visible_roles(world.a.secretary)} == {world.street.tree_id}
        assert not selectors.visible_roles(world.a.secretary).filter(node=world.b.mg1).exists()

    def test_street_staff_see_the_whole_street(self, world):
        assert selectors.visible_nodes(world.staff).count() == GridNode.objects.filter(tree_id=world.street.tree_id).count()
        assert selectors.visible_households(world.staff).count() == Household.objects.count()

    def test_street_staff_do_not_see_another_street(self, world):
        other = services.node_create(name="别的街道", code="S2", level=Level.STREET)
        assert not selectors.visible_nodes(world.staff).filter(pk=other.pk).exists()

    def test_superuser_sees_everything(self, world):
        root = UserFactory(username="root", is_superuser=True)
        assert selectors.visible_nodes(root).count() == GridNode.objects.count()

    def test_anonymous_and_roleless_see_nothing(self, world):
        from django.contrib.auth.models import AnonymousUser

        assert not selectors.visible_nodes(AnonymousUser()).exists()
        assert not selectors.visible_households(UserFactory()).exists()

    def test_ended_or_future_roles_give_no_scope(self, world):
        today = timezone.localdate()
        services.role_update(assignment=world.a.leader_role, start=today - datetime.timedelta(days=30),
                             end=today - datetime.timedelta(days=1))
        user = type(world.a.leader).objects.get(pk=world.a.leader.pk)
        assert not selectors.visible_nodes(user).exists()
        later = RoleFactory(node=world.b.mg2, role=Role.LEADER, post=Post.A,
                            start=timezone.localdate() + datetime.timedelta(days=5))
        assert not selectors.visible_nodes(later.user).exists()

    def test_union_of_roles(self, world):
        RoleFactory(user=world.a.leader, node=world.b.mg2, role=Role.LEADER, post=Post.B)
        user = type(world.a.leader).objects.get(pk=world.a.leader.pk)
        assert codes(selectors.visible_nodes(user)) == {world.a.mg1.code, world.b.mg2.code}

    def test_property_staff_get_no_register_scope(self, world):
        ra = RoleFactory(node=world.a.compound, role=Role.PROPERTY_STAFF, organisation=world.property)
        assert not selectors.visible_households(ra.user).exists()

    def test_organisations_by_served_nodes(self, world):
        other = OrganisationFactory(street=world.street, nodes=[world.b.compound])
        assert set(selectors.visible_organisations(world.a.secretary)) == {world.property}
        assert set(selectors.visible_organisations(world.staff)) == {world.property, other}

    def test_street_columns_used_for_street_and_community_roots(self, world):
        sql = str(selectors.visible_households(world.a.secretary).query)
        assert '"community_id" =' in sql.replace("`", '"') and "lft" not in sql


class TestStats:
    def test_counts_over_a_subtree(self, world):
        stats = selectors.node_stats(world.a.community)
        assert stats["nodes_by_level"] == {"street": 0, "community": 1, "compound": 1, "building": 1, "unit": 1, "microgrid": 2}
        assert stats["microgrids_by_kind"]["settlement"] == 1
        assert stats["households"] == 3
        assert stats["leaders"] == 1
        assert stats["vacant_microgrids"] == 1  # mg2 has no A post

    def test_b_post_leader_counts_once(self, world):
        RoleFactory(user=world.a.leader, node=world.a.mg2, role=Role.LEADER, post=Post.B)
        stats = selectors.node_stats(world.a.community)
        assert stats["leaders"] == 1
        assert stats["vacant_microgrids"] == 1  # a B post does not fill the vacancy

    def test_subtree_counts_match_node_stats(self, world, django_assert_max_num_queries):
        nodes = list(GridNode.objects.filter(tree_id=world.street.tree_id))
        with django_assert_max_num_queries(2):
            counts = selectors.subtree_counts(nodes)
        for n in nodes:
            stats = selectors.node_stats(n)
            assert counts[n.pk]["households"] == stats["households"], n.code
            assert counts[n.pk]["leaders"] == stats["leaders"], n.code
            assert counts[n.pk]["vacancies"] == stats["vacant_microgrids"], n.code
            assert counts[n.pk]["microgrids"] == stats["nodes_by_level"]["microgrid"], n.code

    def test_node_paths_in_one_query(self, world, django_assert_num_queries):
        with django_assert_num_queries(1):
            paths = selectors.node_paths([world.a.mg1, world.b.mg2])
        assert [n.code for n in paths[world.a.mg1.pk]] == ["ST", "CA", "CA-R1", "CA-R1-B1", "CA-R1-B1-U1", "CA-G1"]
        assert [n.code for n in paths[world.b.mg2.pk]] == ["ST", "CB", "CB-R1", "CB-G2"]


def test_vacant_microgrids_scoped(world):
    vacant = selectors.vacant_microgrids(world.a.secretary)
    assert list(vacant.values_list("code", flat=True)) == [world.a.mg2.code]
    assert RoleAssignment.objects.filter(role=Role.LEADER, post=Post.A).count() == 2


def test_change_log_is_scoped_by_street(world):
    from grid.models import ChangeLog

    other = services.node_create(name="别的街道", code="S2", level=Level.STREET)
    other_staff = RoleFactory(node=other, role=Role.STREET_STAFF).user
    services.household_update(household=world.a.households[0], head="改名")
    services.node_update(node=world.b.mg1, name="改名网格")
    mine = selectors.visible_changelog(world.staff)
    assert mine.filter(model="household", action="update").count() == 1
    assert mine.filter(model="gridnode", action="update").count() == 1
    assert not selectors.visible_changelog(other_staff).filter(street=world.street).exists()
    assert selectors.visible_changelog(other_staff).filter(street=other).exists()  # its own creation
    assert not selectors.visible_changelog(world.a.secretary).exists()  # not street level
    assert ChangeLog.objects.filter(street__isnull=True).count() == 0
