"""Reads of the grid registers. Everything a user sees passes through `grid.access.restrict`."""

from bisect import bisect_left, bisect_right
from collections import defaultdict

from django.db.models import BooleanField, Count, ExpressionWrapper, Q

from .access import restrict, scope_roots, subtree_q
from .models import (
    COMPOUND_KINDS,
    ChangeLog,
    MICROGRID_KINDS,
    GridNode,
    Household,
    Level,
    Organisation,
    Post,
    Role,
    RoleAssignment,
)


def visible_nodes(user):
    return restrict(GridNode.objects.all(), user)


def visible_households(user):
    return restrict(Household.objects.all(), user, via="grid")


def visible_roles(user):
    return restrict(RoleAssignment.objects.all(), user, via="node")


def visible_organisations(user):
    roots = scope_roots(user)
    qs = Organisation.objects.all()
    if roots is None:
        return qs
    streets = [r.node_id for r in roots if r.level == Level.STREET]
    return qs.filter(Q(street_id__in=streets) | Q(pk__in=restrict(qs, user, via="nodes").values("pk")))


def visible_users(user):
    """The people a user may see and pick: those on the rosters in their scope, plus — for those who
    appoint people — logins on no roster yet (just created). Never administrators or staff of others."""
    from django.contrib.auth import get_user_model

    qs = get_user_model().objects.order_by("username")
    if scope_roots(user) is None:
        return qs
    visible = Q(pk__in=visible_roles(user).values("user_id"))
    if user.has_perm("grid.add_roleassignment"):
        visible |= ~Q(pk__in=RoleAssignment.objects.values("user_id")) & Q(is_staff=False)
    return qs.filter(visible).exclude(is_superuser=True)


def visible_changelog(user):
    """Log lines of the streets where the user works at street level; lines without a street
    (writes spanning streets, purged streets) are for administrators only."""
    roots = scope_roots(user)
    if roots is None:
        return ChangeLog.objects.all()
    return ChangeLog.objects.filter(street_id__in=[r.node_id for r in roots if r.level == Level.STREET])


def can_see_phones(user):
    return bool(user and user.is_authenticated and user.has_perm("grid.view_full_phone"))


def active_a_post(on=None):
    return RoleAssignment.objects.active(on).filter(role=Role.LEADER, post=Post.A)


def annotate_vacancy(microgrids, on=None):
    # An uncorrelated IN: the database builds the set of led micro-grids once, not once per row.
    led = Q(pk__in=active_a_post(on).values("node_id"))
    return microgrids.annotate(has_leader=ExpressionWrapper(led, output_field=BooleanField()))


def node_stats(node, on=None):
    """Counts over the node's subtree, in the shape of the reference table."""
    sub = GridNode.objects.filter(subtree_q(node))
    by_level = dict(sub.values_list("level").annotate(n=Count("id")).order_by())
    compounds = dict(sub.filter(level=Level.COMPOUND).values_list("kind").annotate(n=Count("id")).order_by())
    micro = dict(sub.filter(level=Level.MICROGRID).values_list("kind").annotate(n=Count("id")).order_by())
    leaders = (
        RoleAssignment.objects.active(on).filter(subtree_q(node, "node"), role=Role.LEADER)
        .values("user_id").distinct().count()
    )
    vacant = annotate_vacancy(sub.filter(level=Level.MICROGRID), on).filter(has_leader=False).count()
    return {
        "nodes_by_level": {Level(lv).name.lower(): by_level.get(lv, 0) for lv in Level.values},
        "compounds_by_kind": {k: compounds.get(k, 0) for k in COMPOUND_KINDS},
        "microgrids_by_kind": {k: micro.get(k, 0) for k in MICROGRID_KINDS},
        "households": Household.objects.filter(subtree_q(node, "grid", Household)).count(),
        "leaders": leaders,
        "vacant_microgrids": vacant,
    }


def subtree_counts(nodes, on=None):
    """For a page of nodes: micro-grids, households, leaders and vacancies in each node's subtree.

    Two queries whatever the page size: one row per micro-grid of the trees involved, then prefix sums
    over their lft order, so each node's figures are a difference of two sums."""
    nodes = list(nodes)
    tree_ids = {n.tree_id for n in nodes}
    if not tree_ids:
        return {}
    micro = (
        annotate_vacancy(GridNode.objects.filter(tree_id__in=tree_ids, level=Level.MICROGRID), on)
        .annotate(hh=Count("households", distinct=True))
        .values_list("tree_id", "lft", "hh", "has_leader")
        .order_by("tree_id", "lft")
    )
    leader_rows = (
        RoleAssignment.objects.active(on)
        .filter(role=Role.LEADER, node__tree_id__in=tree_ids)
        .values_list("node__tree_id", "node__lft", "user_id")
        .order_by("node__tree_id", "node__lft")
    )
    per_tree = defaultdict(lambda: {"lft": [], "hh": [0], "vac": [0]})
    for tree_id, lft, hh, has_leader in micro:
        t = per_tree[tree_id]
        t["lft"].append(lft)
        t["hh"].append(t["hh"][-1] + hh)
        t["vac"].append(t["vac"][-1] + (0 if has_leader else 1))
    leaders = defaultdict(list)
    for tree_id, lft, user_id in leader_rows:
        leaders[tree_id].append((lft, user_id))
    out = {}
    for n in nodes:
        t = per_tree[n.tree_id]
        i, j = bisect_left(t["lft"], n.lft), bisect_right(t["lft"], n.rght)
        rows = leaders[n.tree_id]
        a = bisect_left(rows, (n.lft, -1))
        b = bisect_right(rows, (n.rght, float("inf")))
        out[n.pk] = {
            "microgrids": j - i,
            "households": t["hh"][j] - t["hh"][i],
            "leaders": len({u for _, u in rows[a:b]}),
            "vacancies": t["vac"][j] - t["vac"][i],
        }
    return out


def my_roles(user, on=None):
    """A user's own active roster lines: theirs to see whatever their scope (property staff have none)."""
    return RoleAssignment.objects.active(on).filter(user=user)


def my_microgrids(user, on=None):
    """The micro-grids a leader holds a post in, with their ancestors fetched for the path."""
    ids = my_roles(user, on).filter(role=Role.LEADER).values("node_id")
    return GridNode.objects.filter(pk__in=ids).order_by("tree_id", "lft")


def node_paths(nodes):
    """{node id: [ancestors root first, then the node]} in one query for all the given nodes."""
    nodes = list(nodes)
    if not nodes:
        return {}
    q = Q()
    for n in nodes:
        q |= Q(tree_id=n.tree_id, lft__lte=n.lft, rght__gte=n.rght)
    ancestors = list(GridNode.objects.filter(q).order_by("tree_id", "lft"))
    return {
        n.pk: [a for a in ancestors if a.tree_id == n.tree_id and a.lft <= n.lft and a.rght >= n.rght]
        for n in nodes
    }


def vacant_microgrids(user, on=None):
    qs = annotate_vacancy(visible_nodes(user).filter(level=Level.MICROGRID), on)
    return qs.filter(has_leader=False)
