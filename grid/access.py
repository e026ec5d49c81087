"""Scope and permission: the primitives every app calls, and the only code outside the tree's own
services and selectors that knows how the tree is stored (nested sets: `tree_id`, `lft`, `rght`).

- `subtree_q(node, via=…, model=…)`: rows at or under a node. Where the row (or the row on the
  path) carries street/community columns, a street or community becomes an indexed equality.
- `ancestors_q(node, via=…)`: rows at or above a node (roster lines that rule over it).
- `restrict(queryset, user, via=…)`: what a user may see; also `Model.objects.restrict(user)` for
  models whose manager is a `ScopedQuerySet` and that name their path to the tree in `scope_via`.
- `roles_on(user, node)`: the active roles a user holds on a node or an ancestor.
- `may(user, action, node)`: the table of who may do what on the grid's registers.
- `parse_id(value)`: an id from a request, or None for anything else (`abc`, `0`, `-1`, huge, NUL).
"""

from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q

from common.ids import MAX_ID, parse_id  # noqa: F401 — grid.access is where the apps find them

from .models import GridNode, Level, Role, RoleAssignment

# Property-company staff see what is assigned to their organisation (the ledger's business), not the
# registers of the subtrees they work in.
SCOPE_ROLES = tuple(r for r in Role.values if r != Role.PROPERTY_STAFF)


@dataclass(frozen=True)
class ScopeRoot:
    """A node reduced to what a range filter needs; GridNode instances serve the same purpose."""

    pk: int
    tree_id: int
    lft: int
    rght: int
    level: int

    @property
    def node_id(self):
        return self.pk

    @classmethod
    def of(cls, node):
        return cls(node.pk, node.tree_id, node.lft, node.rght, node.level)


def scope_roots(user):
    """The nodes under which `user` sees everything; None means everything (superuser).

    Cached on the user object, so one request computes it once."""
    if not user or not user.is_authenticated:
        return []
    if user.is_superuser:
        return None
    cached = getattr(user, "_grid_scope_roots", None)
    if cached is None:
        # Every active role in one query: the scope roles make the roots, and all of them are kept
        # as the roles the user holds (held_roles), which the phone pages' menus ask for.
        rows = (
            RoleAssignment.objects.active()
            .filter(user=user)
            .values_list("role", "node_id", "node__tree_id", "node__lft", "node__rght", "node__level")
        )
        held, roots = set(), set()
        for role, *root in rows:
            held.add(role)
            if role in SCOPE_ROLES:
                roots.add(ScopeRoot(*root))
        roots = sorted(roots, key=lambda r: (r.tree_id, r.lft))
        # Drop roots nested inside another root: the outer one already covers them.
        cached = []
        for r in roots:
            if cached and cached[-1].tree_id == r.tree_id and cached[-1].rght >= r.rght:
                continue
            cached.append(r)
        user._grid_scope_roots = cached
        user._grid_held_roles = frozenset(held)
    return cached


def forget_scope(user):
    """After a user's roles change within one request, compute the scope again."""
    if user is not None:
        for name in ("_grid_scope_roots", "_grid_held_roles"):
            if hasattr(user, name):
                delattr(user, name)


def _walk(model, via):
    """The model reached at the end of each step of `via`, and whether any step is many-valued."""
    steps, many, current = [], False, model
    for name in via.split("__") if via else ():
        field = current._meta.get_field(name)
        many = many or field.many_to_many or field.one_to_many
        current = field.related_model
        steps.append(current)
    return steps, many


def _columns_prefix(model, via):
    """The lookup prefix of the row on the path that carries street/community columns, or None."""
    if not via:
        return None
    names = via.split("__")
    owner = model
    for name in names[:-1]:
        owner = owner._meta.get_field(name).related_model
    if not getattr(owner, "scope_columns", False):
        return None
    try:
        owner._meta.get_field("street")
        owner._meta.get_field("community")
    except FieldDoesNotExist:
        return None
    return "__".join(names[:-1] + [""])


def subtree_q(node, via=None, model=None):
    """Rows whose node (reached by `via`; the row itself when None) is `node` or below it.

    Given `model`, a street or community uses the street/community column of the row on the path
    that carries them (an indexed equality instead of a range join)."""
    if model is not None and node.level in (Level.STREET, Level.COMMUNITY):
        prefix = _columns_prefix(model, via)
        if prefix is not None:
            column = "street_id" if node.level == Level.STREET else "community_id"
            return Q(**{f"{prefix}{column}": node.pk})
    if node.level == Level.MICROGRID:  # a leaf: its subtree is itself
        return Q(**{via or "pk": node.pk})
    p = f"{via}__" if via else ""
    if node.level == Level.STREET:  # one tree per street
        return Q(**{f"{p}tree_id": node.tree_id})
    return Q(**{f"{p}tree_id": node.tree_id, f"{p}lft__gte": node.lft, f"{p}rght__lte": node.rght})


def ancestors_q(node, via=None, strict=False):
    """Rows whose node (reached by `via`) is `node` or one of its ancestors (`strict`: ancestors only)."""
    p = f"{via}__" if via else ""
    if strict:
        return Q(**{f"{p}tree_id": node.tree_id, f"{p}lft__lt": node.lft, f"{p}rght__gt": node.rght})
    return Q(**{f"{p}tree_id": node.tree_id, f"{p}lft__lte": node.lft, f"{p}rght__gte": node.rght})


def below_q(node, via=None):
    """Rows strictly under `node` (not the node itself)."""
    p = f"{via}__" if via else ""
    return Q(**{f"{p}tree_id": node.tree_id, f"{p}lft__gt": node.lft, f"{p}rght__lt": node.rght})


def same_street_q(node, via=None):
    """Rows in the street (tree) of `node`."""
    return Q(**{f"{via}__tree_id" if via else "tree_id": node.tree_id})


def within(node, other):
    """Whether `other` lies at or under `node` (both loaded nodes)."""
    return node.tree_id == other.tree_id and node.lft <= other.lft and other.rght <= node.rght


def tree_order(via=None):
    """Order by the tree: streets by their trees, then depth-first (for lists that read as the tree)."""
    p = f"{via}__" if via else ""
    return (f"{p}tree_id", f"{p}lft")


def scope_q(model, user, via=None):
    """The filter behind `restrict`: None means no limit (superuser); a user without scope gets a
    filter that matches nothing."""
    roots = scope_roots(user)
    if roots is None:
        return None
    q = Q(pk__in=[])
    for root in roots:
        q |= subtree_q(root, via, model)
    return q


def restrict(queryset, user, via=None):
    """Limit `queryset` to what `user` may see.

    `via` is the path from the queryset's model to its GridNode (None for GridNode itself, "grid"
    for households, "node" for roles, "nodes" for a many-to-many such as organisations, and several
    steps such as "reward__node")."""
    model = queryset.model
    q = scope_q(model, user, via)
    if q is None:
        return queryset
    _steps, many = _walk(model, via)
    if many:  # a many-valued path would repeat rows: filter by the ids it reaches instead
        return queryset.filter(pk__in=model._base_manager.filter(q).values("pk"))
    return queryset.filter(q)


class ScopedQuerySet(models.QuerySet):
    """`Model.objects.restrict(user)` and `.subtree(node)` for models that say how they hang on the
    tree (`scope_via`: the path to their GridNode; None for the nodes themselves)."""

    def restrict(self, user):
        return restrict(self, user, via=getattr(self.model, "scope_via", None))

    def subtree(self, node):
        return self.filter(subtree_q(node, getattr(self.model, "scope_via", None), self.model))


ScopedManager = models.Manager.from_queryset(ScopedQuerySet)


def visible_node(user, node_id):
    """One node of the user's scope by an id taken from a request, or None (also for garbage ids)."""
    pk = parse_id(node_id)
    if pk is None:
        return None
    return restrict(GridNode.objects.all(), user).filter(pk=pk).first()


def node_by_id(node_id):
    """Any node by a request's id (for filters narrowing an already scoped list), or None."""
    pk = parse_id(node_id)
    if pk is None:
        return None
    return GridNode.objects.filter(pk=pk).only("pk", "level", "tree_id", "lft", "rght").order_by().first()


def roles_on(user, node, roles=None, on=None):
    """The active roles (of `roles`, default all) `user` holds on `node` or an ancestor; a superuser
    holds them all."""
    wanted = set(Role.values if roles is None else roles)
    if not user or not user.is_authenticated or node is None:
        return set()
    if user.is_superuser:
        return wanted
    return set(
        RoleAssignment.objects.active(on)
        .filter(ancestors_q(node, "node"), user=user, role__in=wanted)
        .values_list("role", flat=True)
    )


def works_in_street(user, node, roles=None):
    """Whether `user` holds an active role (of `roles`) anywhere in the street of `node`."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    qs = RoleAssignment.objects.active().filter(same_street_q(node, "node"), user=user)
    if roles is not None:
        qs = qs.filter(role__in=roles)
    return qs.exists()


# Who may write the grid's registers: (action) → roles held on the node or an ancestor. The same
# rights as the admin groups' model permissions (grid.services.GRID_ADMIN_PERMISSIONS): street staff
# keep their street's tree, households, organisations and rosters; a community secretary adds and
# changes the households of the community (deleting one is the street's). A new street is for
# administrators only (the services check that themselves).
GRID_ACTIONS = {
    "node.change": {Role.STREET_STAFF},
    "household.change": {Role.STREET_STAFF, Role.SECRETARY},
    "household.delete": {Role.STREET_STAFF},
    "organisation.change": {Role.STREET_STAFF},
    "role.change": {Role.STREET_STAFF},
}


def may(user, action, node):
    """Whether `user` may do `action` (a key of an app's action table, e.g. "node.change") on `node`."""
    roles = GRID_ACTIONS.get(action)
    if roles is None:
        raise KeyError(f"unknown action {action!r}")
    return bool(roles_on(user, node, roles))


def visible_node_ids(user):
    """The ids of the nodes `user` sees, as a subquery; None for every node (superuser)."""
    if scope_roots(user) is None:
        return None
    return restrict(GridNode.objects.all(), user).values("pk")


def held_roles(user):
    """The roles `user` holds anywhere today (every role for a superuser); cached with the scope."""
    if not user or not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return frozenset(Role.values)
    if getattr(user, "_grid_held_roles", None) is None:
        forget_scope(user)
        scope_roots(user)
    return user._grid_held_roles


def has_scope(user):
    """Whether `user` sees some part of the tree (a superuser sees all of it)."""
    roots = scope_roots(user)
    return roots is None or bool(roots)


def in_scope(user, node):
    """Whether `node` (a loaded node, current numbers) lies in `user`'s scope."""
    roots = scope_roots(user)
    return roots is None or any(within(root, node) for root in roots)


def may_all(user, action, nodes):
    """Whether `user` may do `action` on every one of `nodes` (loaded nodes), in one query."""
    roles = GRID_ACTIONS.get(action)
    if roles is None:
        raise KeyError(f"unknown action {action!r}")
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    places = [
        ScopeRoot(*r) for r in RoleAssignment.objects.active().filter(user=user, role__in=roles)
        .values_list("node_id", "node__tree_id", "node__lft", "node__rght", "node__level")
    ]
    return all(any(within(place, node) for place in places) for node in nodes)


def same_street(node, other):
    """Whether two loaded nodes are in the same street (one tree per street)."""
    return node.tree_id == other.tree_id


def street_key(node):
    """A value equal for two nodes exactly when they are in the same street (for dictionaries)."""
    return node.tree_id


def fresh_node(node):
    """The node's current tree numbers (an object loaded earlier may be stale: inserts renumber)."""
    return GridNode.objects.only("pk", "level", "tree_id", "lft", "rght").order_by().get(pk=node.pk)


def holds_any(roles):
    """A test of a user: whether they hold one of `roles` anywhere today (menus: who sees an entry)."""
    roles = frozenset(roles)
    return lambda user: bool(held_roles(user) & roles)


def keeps_reference_data(user):
    """Who keeps the installation's reference data (categories, the calendar's corrections, scenarios,
    point rules, the same for every street): street staff of any street, and administrators."""
    return bool(user and user.is_authenticated and Role.STREET_STAFF in held_roles(user))
