"""Concurrent writers on PostgreSQL: the tree lock and the one-open-A-post rule hold."""

from functools import partial

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from grid import services
from grid.checks import tree_faults
from grid.models import GridNode, Kind, Level, Post, Role, RoleAssignment
from tests.factories import UserFactory
from tests.support import kind_of, race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CAUGHT = {(ValidationError, IntegrityError): kind_of}


def test_concurrent_tree_writes_keep_the_tree_sound(world, postgres_only):
    parents = [world.a.compound, world.b.compound, world.a.community, world.b.community] * 3
    args = [(p, i) for i, p in enumerate(parents)]

    def create(parent, i):
        level = Level.BUILDING if parent.level == Level.COMPOUND else Level.COMPOUND
        kind = Kind.RESIDENTIAL if level == Level.COMPOUND else ""
        services.node_create(name=f"并发{i}", code=f"CONC{i}", level=level, kind=kind, parent=parent)

    outcomes = race([partial(create, *a) for a in args], CAUGHT)
    assert outcomes == ["ok"] * len(args)
    assert GridNode.objects.filter(code__startswith="CONC").count() == len(args)
    assert tree_faults() == []


def test_concurrent_moves_keep_the_tree_sound(world, postgres_only):
    args = [(world.a.mg2, world.b.compound), (world.b.mg2, world.a.compound), (world.a.building, world.b.compound)]
    outcomes = race([partial(services.node_move, node=n, parent=p) for n, p in args], CAUGHT)
    assert outcomes == ["ok"] * 3
    assert tree_faults() == []


def test_two_a_posts_at_once_only_one_wins(world, postgres_only):
    users = [UserFactory(username=f"race{i}") for i in range(6)]
    outcomes = race(
        [partial(services.role_assign, user=u, node=world.a.mg2, role=Role.LEADER, post=Post.A) for u in users],
        CAUGHT,
    )
    assert outcomes.count("ok") == 1
    assert RoleAssignment.objects.filter(node=world.a.mg2, role=Role.LEADER, post=Post.A).count() == 1
