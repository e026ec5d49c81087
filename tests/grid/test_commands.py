import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from grid import selectors
from grid.checks import tree_faults
from grid.models import GridNode, Household, Post, Role, RoleAssignment, User

pytestmark = pytest.mark.django_db


class TestCheckTree:
    def test_sound_tree_passes(self, world):
        out = io.StringIO()
        call_command("check_tree", stdout=out)
        assert "consistent" in out.getvalue()

    def test_broken_numbers_fail(self, world):
        GridNode.objects.filter(pk=world.a.unit.pk).update(rght=world.a.unit.rght + 100)
        with pytest.raises(CommandError):
            call_command("check_tree", stderr=io.StringIO())

    def test_broken_levels_fail(self, world):
        GridNode.objects.filter(pk=world.a.building.pk).update(level=2)
        assert any("not deeper" in f for f in tree_faults())

    def test_wrong_community_column_fails(self, world):
        Household.objects.filter(pk=world.a.households[0].pk).update(community=world.b.community)
        assert any("community column" in f for f in tree_faults())


class TestGrantRole:
    def test_creates_user_and_role(self, world):
        call_command("grant_role", "newleader", "CA-G2", "leader", "--post", "A", "--password", "s3cret-pass",
                     stdout=io.StringIO())
        user = User.objects.get(username="newleader")
        assert user.check_password("s3cret-pass")
        assert RoleAssignment.objects.filter(user=user, node=world.a.mg2, role=Role.LEADER, post=Post.A).exists()
        assert not user.is_staff

    def test_secretary_gets_the_admin(self, world):
        call_command("grant_role", "sec2", "CB", "secretary", stdout=io.StringIO())
        assert User.objects.get(username="sec2").is_staff

    @pytest.mark.parametrize("args,message", [
        (["x", "NOPE", "leader", "--post", "A"], "No node"),
        (["x", "CA-G1", "leader", "--post", "A"], "already has an A-post"),
        (["x", "CA", "leader", "--post", "A"], "micro-grid"),
    ])
    def test_bad_input_changes_nothing(self, world, args, message):
        before = (User.objects.count(), RoleAssignment.objects.count())
        with translation.override("en"), pytest.raises(CommandError, match=message):
            call_command("grant_role", *args, stdout=io.StringIO())
        assert (User.objects.count(), RoleAssignment.objects.count()) == before


REFERENCE = {
    "nodes_by_level": {"street": 1, "community": 15, "compound": 129},
    "compounds_by_kind": {"residential": 95, "settlement": 34},
    "microgrids_by_kind": {"business": 162, "scenic": 30, "institution": 57, "enterprise": 5,
                           "residential": 1186, "settlement": 166},
    "households": 54_707,
    "leaders": 1_352,
}


@pytest.mark.demo  # about a minute: `make test` times it apart
def test_seed_demo_reproduces_the_reference_figures_and_is_safe_to_rerun():
    call_command("seed_demo", stdout=io.StringIO())
    street = GridNode.objects.get(code="JY")
    stats = selectors.node_stats(street)
    for key, level_counts in REFERENCE["nodes_by_level"].items():
        assert stats["nodes_by_level"][key] == level_counts
    assert stats["nodes_by_level"]["microgrid"] == 1606
    assert stats["compounds_by_kind"] == REFERENCE["compounds_by_kind"]
    assert stats["microgrids_by_kind"] == REFERENCE["microgrids_by_kind"]
    assert stats["households"] == REFERENCE["households"]
    assert stats["leaders"] == REFERENCE["leaders"]
    # Every residential and settlement micro-grid has its A post; the other 254 kinds have none.
    assert stats["vacant_microgrids"] == 1606 - 1352
    assert RoleAssignment.objects.filter(role=Role.SECRETARY).count() == 15
    assert RoleAssignment.objects.filter(role=Role.LEADER, post=Post.B).exists()
    assert tree_faults() == []

    # Re-running without --rebuild changes nothing; with it, rebuilds to the same figures.
    counts = (GridNode.objects.count(), Household.objects.count(), User.objects.count())
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "exists already" in out.getvalue()
    assert (GridNode.objects.count(), Household.objects.count(), User.objects.count()) == counts
    call_command("seed_demo", "--rebuild", stdout=io.StringIO())
    assert (GridNode.objects.count(), Household.objects.count(), User.objects.count()) == counts
    assert selectors.node_stats(GridNode.objects.get(code="JY"))["households"] == 54_707
    assert tree_faults() == []
    assert User.objects.get(username="jy_wgz0001").check_password("jinyuan2023")
