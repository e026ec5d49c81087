"""Reads of the grid registers. Everything a user sees passes through `restrict`."""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import BooleanField, Count, ExpressionWrapper, Q

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

# Property-company staff see what is assigned to their organisation (the ledger's business), not the
# registers of the subtrees they work in.
SCOPE_ROLES = tuple(r for r in Role.values if r != Role.PROPERTY_STAFF)


@dataclass(frozen=True)
class ScopeRoot:
    node_id: int
    tree_id: int
    lft: int
    rght: int
    level: int


def scope_roots(user):
    """The nodes under which `user` sees everything; None means everything (superuser).

    Cached on the user object, so one request computes it once."""
    if not user or not user.is_authenticated:
        return []
    if user.is_superuser:
        return None
    cached = getattr(user, "_grid_scope_roots", None)
    if cached is None:
        rows = (
            RoleAssignment.objects.active()
            .filter(user=user, role__in=SCOPE_ROLES)
            .values_list("node_id", "node__tree_id", "node__lft", "node__rght", "node__level")
        )
        roots = sorted({ScopeRoot(*r) for r in rows}, key=lambda r: (r.tree_id, r.lft))
        # Drop roots nested inside another root: the outer one already covers them.
        cached = []
        for r in roots:
            if cached and cached[-1].tree_id == r.tree_id and cached[-1].rght >= r.rght:
                continue
            cached.append(r)
        user._grid_scope_roots = cached
    return cached


def _prefix(via):
    return f"{via}__" if via else ""


def _root_q(root, model, via):
    # Rows that carry street/community columns use them: an indexed equality instead of a range join.
    fields = {f.name for f in model._meta.get_fields()}
    if root.level == Level.STREET and "street" in fields:
        return Q(street_id=root.node_id)
    if root.level == Level.COMMUNITY and "community" in fields:
        return Q(community_id=root.node_id)
    if root.level == Level.MICROGRID:  # a leaf: its subtree is itself
        return Q(**{via or "pk": root.node_id})
    p = _prefix(via)
    if root.level == Level.STREET:
        return Q(**{f"{p}tree_id": root.tree_id})
    return Q(**{f"{p}tree_id": root.tree_id, f"{p}lft__gte": root.lft, f"{p}rght__lte": root.rght})


def scope_q(model, user, via=None):
    """The filter behind `restrict`: None means no limit (superuser); a user without scope gets a
    filter that matches nothing."""
    roots = scope_roots(user)
    if roots is None:
        return None
    q = Q(pk__in=[])
    for root in roots:
        q |= _root_q(root, model, via)
    return q


def restrict(queryset, user, via=None):
    """Limit `queryset` to what `user` may see.

    `via` is the path from the queryset's model to its GridNode (None for GridNode itself,
    "grid" for households, "node" for roles, "nodes" for a many-to-many such as organisations)."""
    model = queryset.model
    q = scope_q(model, user, via)
    if q is None:
        return queryset
    field = model._meta.get_field(via) if via else None
    if field is not None and field.many_to_many:
        return queryset.filter(pk__in=model._base_manager.filter(q).values("pk"))
    return queryset.filter(q)


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


def visible_node(user, node_id):
    """One node of the user's scope by an id taken from a request, or None (also for garbage ids)."""
    if not str(node_id or "").isdigit() or int(node_id) > 2**62:
        return None
    return visible_nodes(user).filter(pk=int(node_id)).first()


def visible_changelog(user):
    """Log lines of the streets where the user works at street level; lines without a street
    (writes spanning streets, purged streets) are for administrators only."""
    roots = scope_roots(user)
    if roots is None:
        return ChangeLog.objects.all()
    return ChangeLog.objects.filter(street_id__in=[r.node_id for r in roots if r.level == Level.STREET])


def can_see_phones(user):
    return bool(user and user.is_authenticated and user.has_perm("grid.view_full_phone"))


def subtree_q(node, via=None):
    p = _prefix(via)
    return Q(**{f"{p}tree_id": node.tree_id, f"{p}lft__gte": node.lft, f"{p}rght__lte": node.rght})


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
        "households": Household.objects.filter(
            _root_q(ScopeRoot(node.pk, node.tree_id, node.lft, node.rght, node.level), Household, "grid")
        ).count(),
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
