"""Every write to the grid registers goes through here, inside a transaction.

Each service checks its actor's right itself (`grid.access.may` with `GRID_ACTIONS`, the node in the
actor's scope); `actor=None` is the system (commands, the demo, imports a command runs). A refusal is
a `common.errors.Denied` with a code: `outside_scope`, `role_not_allowed`, `street_for_administrators`.

Tree writes also take one lock per database (a PostgreSQL transaction-level advisory lock; SQLite
serialises writers itself), so concurrent edits can never interleave their lft/rght updates.
"""

from collections import defaultdict
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common import registry
from common.errors import Denied, Errors, invalid

from . import access
from .models import (
    ChangeLog,
    GridNode,
    Household,
    Level,
    Organisation,
    Post,
    Role,
    RoleAssignment,
    kinds_for_level,
    mask_phone,
)

TREE_LOCK_KEY = 0x6772_6964  # "grid"


class _Unset:
    def __repr__(self):
        return "UNSET"


UNSET = _Unset()  # an update's field that the caller leaves as it is


def _given(**fields):
    return {k: v for k, v in fields.items() if v is not UNSET}


# --- who may write ----------------------------------------------------------------------------

REFUSED = {
    "node.change": gettext_lazy("Only the street staff edit the tree."),
    "household.change": gettext_lazy("Only the street staff or the community secretary keep the households."),
    "household.delete": gettext_lazy("Only the street staff delete households."),
    "organisation.change": gettext_lazy("Only the street staff keep the organisations."),
    "role.change": gettext_lazy("Only the street staff keep the rosters."),
}


def authorise(actor, action, *nodes, streets=False):
    """Refuse `actor` unless they may do `action` (a key of grid.access.GRID_ACTIONS) on every one
    of `nodes`. `actor` None is the system and may do everything. The nodes' current tree numbers
    are read again, since an object loaded before an insert may hold stale ones.

    The refusal says `outside_scope` when a node lies outside the actor's scope (with `streets`, the
    nodes are streets and the scope is any role in them: a secretary sees the organisations of their
    street), else `role_not_allowed`."""
    if actor is None:
        return
    pks = {n.pk for n in nodes if n is not None}
    fresh = list(GridNode.objects.filter(pk__in=pks).only("pk", "level", "tree_id", "lft", "rght").order_by())
    if access.may_all(actor, action, fresh):
        return
    seen = access.works_in_street if streets else access.in_scope
    if not all(seen(actor, n) for n in fresh):
        raise Denied(_("This place is outside your grid."), code="outside_scope")
    raise Denied(str(REFUSED[action]), code="role_not_allowed")


def authorise_administrator(actor, message):
    """Streets are created (and purged) by administrators only."""
    if actor is not None and not (actor.is_authenticated and actor.is_superuser):
        raise Denied(message, code="street_for_administrators")


@contextmanager
def tree_lock(shared=False):
    """Tree writers take the lock exclusively; writers of rows that copy street/community columns
    from the tree take it shared, so a move cannot slip between their read of the path and their insert."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {fn}(%s)", [TREE_LOCK_KEY])
        yield


def _street_of_tree(tree_id):
    return GridNode.objects.filter(tree_id=tree_id, parent__isnull=True).values_list("pk", flat=True).first()


def _street_id(obj):
    """The street a logged row belongs to, so the log can be scoped like everything else."""
    if getattr(obj, "street_id", None):
        return obj.street_id
    node = obj if isinstance(obj, GridNode) else getattr(obj, "node", None)
    return _street_of_tree(node.tree_id) if node is not None else None


def _log(*, actor, action, changes=None, obj=None, model=None, street_id=None):
    """One append-only log line: for `obj`, or for a bulk write to `model` (object "*")."""
    ChangeLog.objects.create(
        actor=actor if actor and actor.pk else None,
        street_id=street_id if obj is None else _street_id(obj),
        model=model or obj._meta.model_name,
        object_id=str(obj.pk) if obj is not None else "*",
        action=action,
        changes=changes or {},
    )


def _loggable(field, value):
    # Phones never reach the log unmasked: the log is read by more people than the roster.
    if "phone" in field:
        return mask_phone(value)
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return getattr(value, "code", None) or str(value)


def _apply(obj, fields, data):
    """Set the given fields, returning {field: [old, new]} for those that changed."""
    changes = {}
    for field in fields:
        if field not in data:
            continue
        old, new = getattr(obj, field, None), data[field]
        if old != new:
            changes[field] = [_loggable(field, old), _loggable(field, new)]
            setattr(obj, field, new)
    return changes


# --- the tree ---------------------------------------------------------------------------------


def check_placement(*, level, kind, parent):
    """The invariants of the tree that one node must keep with its parent; field-level errors."""
    errors = Errors()
    if level not in Level.values:
        errors.add("level", _("Unknown level."), "unknown_level")
    elif kind not in kinds_for_level(level):
        errors.add("kind", _("This kind is not allowed at this level."), "kind_not_allowed")
    if level == Level.STREET:
        if parent is not None:
            errors.add("parent", _("A street is the root of its own tree and has no parent."), "street_has_no_parent")
    elif parent is None:
        errors.add("parent", _("Only a street may be without a parent."), "parent_required")
    elif parent.level == Level.MICROGRID:
        errors.add("parent", _("A micro-grid is a leaf: nothing can hang under it."), "microgrid_is_leaf")
    elif parent.level == Level.STREET and level != Level.COMMUNITY:
        # Everything below the street lives in a community; its registers are kept by community.
        errors.add("parent", _("Only communities hang directly under a street."), "community_under_street")
    elif level in Level.values and level <= parent.level:
        errors.add("level", _("A node must be at a deeper level than its parent."), "level_not_deeper")
    errors.raise_if_any()


def node_create(*, actor=None, name, code, level, kind="", parent=None, boundary=None, floor_plan=None):
    with tree_lock():
        if parent is not None:
            parent = GridNode.objects.select_for_update().get(pk=parent.pk)
            authorise(actor, "node.change", parent)
        else:
            authorise_administrator(actor, _("Only an administrator may create a street."))
        check_placement(level=level, kind=kind, parent=parent)
        node = GridNode(name=name, code=code, level=level, kind=kind, parent=parent, boundary=boundary)
        if floor_plan:
            node.floor_plan = floor_plan
        node.full_clean()
        node.save()
        _log(actor=actor, obj=node, action=ChangeLog.Action.CREATE, changes={"code": code, "name": name})
        return node


def node_update(*, actor=None, node, name=UNSET, code=UNSET, kind=UNSET, boundary=UNSET, floor_plan=UNSET):
    """Rename, re-code, re-kind or re-draw a node (fields left UNSET stay). Moving is `node_move`."""
    data = _given(name=name, code=code, kind=kind, boundary=boundary, floor_plan=floor_plan)
    with tree_lock():
        node = GridNode.objects.select_for_update().get(pk=node.pk)
        authorise(actor, "node.change", node)
        if "kind" in data:
            check_placement(level=node.level, kind=data["kind"], parent=node.parent)
        changes = _apply(node, ("name", "code", "kind", "boundary", "floor_plan"), data)
        if not changes:
            return node
        node.full_clean()
        node.save()
        _log(actor=actor, obj=node, action=ChangeLog.Action.UPDATE, changes=changes)
        return node


def node_move(*, actor=None, node, parent):
    """Hang a node (and its subtree) under another parent, possibly in another street, and rewrite
    the street/community columns of everything below it."""
    with tree_lock():
        node = GridNode.objects.select_for_update().get(pk=node.pk)
        parent = GridNode.objects.get(pk=parent.pk)
        authorise(actor, "node.change", node, parent)
        check_placement(level=node.level, kind=node.kind, parent=parent)
        if access.within(node, parent):
            raise invalid("parent", _("A node cannot move under itself or its own descendants."), "move_under_itself")
        old_parent = node.parent
        node.move_to(parent, "last-child")
        node.refresh_from_db()
        _rewrite_scope_columns(node)
        _log(
            actor=actor,
            obj=node,
            action=ChangeLog.Action.UPDATE,
            changes={"parent": [old_parent.code if old_parent else None, parent.code]},
        )
        return node


def scoped_row_models():
    """Models whose rows hang on the tree in volume and carry street/community columns next to
    their node (households here; issues, work logs… in the apps above, which set `scope_columns`,
    and `scope_node_field` when the node is not called `grid`). Lower apps first."""
    from django.apps import apps

    return [m for m in apps.get_models() if getattr(m, "scope_columns", False)]


def scope_node_field(model):
    return getattr(model, "scope_node_field", "grid")


def _rewrite_scope_columns(node):
    """After a move: rows under `node` get the street and community of their new place."""
    ancestors = {a.level: a for a in node.get_ancestors(include_self=True)}
    street = ancestors[Level.STREET]
    community = ancestors.get(Level.COMMUNITY)
    subtree = node.get_descendants(include_self=True)
    for model in scoped_row_models():
        at = f"{scope_node_field(model)}__in"
        if community is not None:
            model.objects.filter(**{at: subtree}).update(street=street, community=community)
            continue
        # The node is (or contains) communities: each community's subtree keeps its own id.
        for comm in subtree.filter(level=Level.COMMUNITY):
            model.objects.filter(**{at: comm.get_descendants(include_self=True)}).update(street=street, community=comm)


def node_delete(*, actor=None, node):
    """Delete a node and its subtree; refused while households or role assignments hang in it."""
    with tree_lock():
        node = GridNode.objects.select_for_update().get(pk=node.pk)
        authorise(actor, "node.change", node)
        subtree = node.get_descendants(include_self=True)
        if Household.objects.filter(grid__in=subtree).exists():
            raise ValidationError(_("This subtree still has households; move or delete them first."),
                                  code="subtree_in_use")
        for model in scoped_row_models():  # issues, patrol plans, work logs… keep their place
            if model.objects.filter(**{f"{scope_node_field(model)}__in": subtree}).exists():
                raise ValidationError(_("This subtree still has %s; it cannot be deleted.")
                                      % model._meta.verbose_name_plural, code="subtree_in_use")
        if RoleAssignment.objects.filter(node__in=subtree).exists():
            raise ValidationError(_("This subtree still has roster entries; end and remove them first."),
                                  code="subtree_in_use")
        if Organisation.objects.filter(street=node).exists():
            raise ValidationError(_("Organisations are registered with this street; remove them first."),
                                  code="subtree_in_use")
        _log(actor=actor, obj=node, action=ChangeLog.Action.DELETE, changes={"code": node.code, "name": node.name})
        node.delete()


def tree_build(*, actor=None, rows):
    """Create many nodes at once, parents before children: bulk inserts, then one rebuild per tree.

    `rows` are dicts with code, name, level, kind and parent_code (a code among the rows or an existing
    node). The caller has validated them (grid.excel does, row by row); invariants are re-checked here.
    Returns the number of nodes created.
    """
    with tree_lock():
        known = {}
        parent_codes = {r["parent_code"] for r in rows if r.get("parent_code")}
        for n in GridNode.objects.filter(code__in=parent_codes):
            known[n.code] = n
        authorise(actor, "node.change", *known.values())
        if any(not r.get("parent_code") for r in rows):
            authorise_administrator(actor, _("Only an administrator may create a street."))
        next_tree = (GridNode.objects.aggregate(m=Max("tree_id"))["m"] or 0) + 1
        touched = set()
        pending = list(rows)
        while pending:
            batch = [r for r in pending if not r.get("parent_code") or r["parent_code"] in known]
            if not batch:
                raise ValidationError(_("Some parent codes are unknown or form a cycle."), code="unknown_parent")
            nodes = []
            for r in batch:
                parent = known.get(r.get("parent_code") or "")
                check_placement(level=r["level"], kind=r.get("kind", ""), parent=parent)
                if parent is None:
                    tree_id, next_tree = next_tree, next_tree + 1
                else:
                    tree_id = parent.tree_id
                touched.add(tree_id)
                nodes.append(
                    GridNode(
                        code=r["code"], name=r["name"], level=r["level"], kind=r.get("kind", ""),
                        parent=parent, tree_id=tree_id, lft=0, rght=0, depth=0,
                    )
                )
            for node in GridNode.objects.bulk_create(nodes, batch_size=1000):
                known[node.code] = node
            done = {id(r) for r in batch}
            pending = [r for r in pending if id(r) not in done]
        for tree_id in sorted(touched):
            _renumber(tree_id)
        street_id = _street_of_tree(next(iter(touched))) if len(touched) == 1 else None
        _log(actor=actor, model="gridnode", street_id=street_id, action=ChangeLog.Action.IMPORT,
             changes={"created": len(rows)})
        return len(rows)


def _renumber(tree_id):
    """Nested-set numbers of one tree from its parent links, siblings in `order_insertion_by` order
    (level, code), as mptt's rebuild gives them, but with one read and one executemany: mptt writes
    them with a CASE-per-row bulk update, which took most of a street's import."""
    children = defaultdict(list)
    # Sorted by the database, so siblings compare as they will when mptt places a later insert.
    for pk, parent_id in GridNode.objects.filter(tree_id=tree_id).order_by("level", "code").values_list("pk", "parent_id"):
        children[parent_id].append(pk)
    numbers, counter = [], 0

    def walk(pk, depth):
        nonlocal counter
        counter += 1
        lft = counter
        for child in children.get(pk, ()):
            walk(child, depth + 1)
        counter += 1
        numbers.append((lft, counter, depth, pk))

    for root in children[None]:
        walk(root, 0)
    table, ops = GridNode._meta.db_table, connection.ops
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {ops.quote_name(table)} SET lft = %s, rght = %s, depth = %s WHERE id = %s", numbers)


# --- households -------------------------------------------------------------------------------

HOUSEHOLD_FIELDS = ("grid", "building", "unit", "room", "head", "phone", "members")


def scope_columns(grid):
    """The street and community a row hung at `grid` carries (see Household.street)."""
    ancestors = {a.level: a for a in grid.get_ancestors(include_self=True)}
    return ancestors[Level.STREET], ancestors.get(Level.COMMUNITY)


def check_household_grid(grid):
    if grid.level != Level.MICROGRID:
        raise invalid("grid", _("A household belongs to a micro-grid."), "household_on_microgrid")
    street, community = scope_columns(grid)
    if community is None:
        raise invalid("grid", _("This micro-grid is not inside a community."), "outside_community")
    return street, community


def household_create(*, actor=None, grid, head, building="", unit="", room="", phone="", members=1, tags=()):
    with tree_lock(shared=True):
        authorise(actor, "household.change", grid)
        household = Household(grid=grid, head=head, building=building, unit=unit, room=room, phone=phone,
                              members=members)
        household.street, household.community = check_household_grid(household.grid)
        household.full_clean()
        household.save()
        household.tags.set(tags)
        _log(
            actor=actor, obj=household, action=ChangeLog.Action.CREATE,
            changes={f: _loggable(f, getattr(household, f)) for f in HOUSEHOLD_FIELDS if f != "grid"}
            | {"grid": household.grid.code},
        )
        return household


def household_update(*, actor=None, household, grid=UNSET, building=UNSET, unit=UNSET, room=UNSET, head=UNSET,
                     phone=UNSET, members=UNSET, tags=None):
    """Change a household (fields left UNSET stay; `tags` None leaves the tags)."""
    data = _given(grid=grid, building=building, unit=unit, room=room, head=head, phone=phone, members=members)
    with tree_lock(shared=True):
        household = Household.objects.select_for_update().get(pk=household.pk)
        authorise(actor, "household.change", household.grid, data.get("grid"))
        changes = _apply(household, HOUSEHOLD_FIELDS, data)
        if "grid" in changes:
            household.street, household.community = check_household_grid(household.grid)
        household.full_clean()
        if tags is not None:
            old = sorted(household.tags.values_list("code", flat=True))
            new = sorted(t.code for t in tags)
            if old != new:
                changes["tags"] = [old, new]
                household.tags.set(tags)
        if changes:
            household.save()
            _log(actor=actor, obj=household, action=ChangeLog.Action.UPDATE, changes=changes)
        return household


def household_delete(*, actor=None, household):
    with transaction.atomic():
        authorise(actor, "household.delete", household.grid)
        _log(actor=actor, obj=household, action=ChangeLog.Action.DELETE, changes={"head": household.head})
        household.delete()


# --- organisations ----------------------------------------------------------------------------


def foreign_nodes(street, nodes):
    """The codes of `nodes` that lie outside `street` (an organisation serves its own street only)."""
    return [n.code for n in nodes if not access.same_street(n, street)]


def organisation_save(*, actor=None, organisation=None, nodes=None, name=UNSET, kind=UNSET, phone=UNSET,
                      street=UNSET):
    """Register an organisation (`organisation` None) or change one (fields left UNSET stay; `nodes`
    None leaves the places it serves)."""
    data = _given(name=name, kind=kind, phone=phone, street=street)
    with transaction.atomic():
        org = organisation or Organisation()
        authorise(actor, "organisation.change", org.street if org.street_id else None, data.get("street"), streets=True)
        changes = _apply(org, ("name", "kind", "phone", "street"), data)
        org.full_clean()
        if nodes is not None:
            foreign = foreign_nodes(org.street, nodes)
            if foreign:
                raise invalid("nodes", _("These nodes are in another street: %s") % ", ".join(foreign),
                              "nodes_in_another_street")
        created = org.pk is None
        org.save()
        if nodes is not None:
            org.nodes.set(nodes)
        if changes or created:
            _log(actor=actor, obj=org, action=ChangeLog.Action.CREATE if created else ChangeLog.Action.UPDATE,
                 changes={k: v for k, v in changes.items() if k != "street"})
        return org


def organisation_delete(*, actor=None, organisation):
    with transaction.atomic():
        authorise(actor, "organisation.change", organisation.street, streets=True)
        if organisation.staff.exists():
            raise ValidationError(_("People on the rosters belong to this organisation; end their roles first."),
                                  code="organisation_in_use")
        _log(actor=actor, obj=organisation, action=ChangeLog.Action.DELETE, changes={"name": organisation.name})
        organisation.delete()


# --- roles and rosters ------------------------------------------------------------------------

ROLE_FIELDS = ("user", "node", "role", "post", "organisation", "public_phone", "start", "end")


def check_role(ra, *, against_db=True):
    """The rules of one roster line; `against_db` also looks for a clashing open A post."""
    errors = Errors()
    # One code per rule: the level a role is appointed at, the posts, the organisation, the dates.
    if ra.role == Role.LEADER:
        if ra.node.level != Level.MICROGRID:
            errors.add("node", _("A micro-grid leader is appointed to a micro-grid."), "role_level")
        if ra.post not in (Post.A, Post.B):
            errors.add("post", _("A micro-grid leader holds the A or the B post."), "leader_post_required")
    elif ra.post:
        errors.add("post", _("Only micro-grid leaders hold an A or B post."), "post_only_for_leaders")
    if ra.role == Role.STREET_STAFF and ra.node.level != Level.STREET:
        errors.add("node", _("Street staff are appointed at the street."), "role_level")
    if ra.role == Role.SECRETARY and ra.node.level != Level.COMMUNITY:
        errors.add("node", _("A community party secretary is appointed at a community."), "role_level")
    if ra.role == Role.PROPERTY_STAFF:
        if ra.organisation is None or ra.organisation.kind != "property":
            errors.add("organisation", _("Property company staff must name their property company."),
                       "property_company_required")
    if ra.end and ra.end < ra.start:
        errors.add("end", _("The end date is before the start date."), "end_before_start")
    if against_db and ra.role == Role.LEADER and ra.post == Post.A:
        # Two A posts on one micro-grid may not overlap in time (open ends count as forever); the
        # handover day, when one ends and the next starts, is shared.
        clash = RoleAssignment.objects.filter(node=ra.node, role=Role.LEADER, post=Post.A).exclude(pk=ra.pk)
        clash = clash.filter(Q(end__isnull=True) | Q(end__gt=ra.start))
        if ra.end is not None:
            clash = clash.filter(start__lt=ra.end)
        if clash.exists():
            errors.add("post", _("This micro-grid already has an A-post leader; end that appointment first."),
                       "a_post_taken")
    errors.raise_if_any()


def role_assign(*, actor=None, user, node, role, post="", organisation=None, public_phone="", start=None, end=None):
    with transaction.atomic():
        authorise(actor, "role.change", node)
        # Lock the node so two A-post appointments to one micro-grid cannot both pass the check.
        GridNode.objects.select_for_update().filter(pk=node.pk).first()
        ra = RoleAssignment(
            user=user, node=node, role=role, post=post or "", organisation=organisation,
            public_phone=public_phone, start=start or timezone.localdate(), end=end,
        )
        ra.full_clean(validate_constraints=False)
        check_role(ra)
        ra.save()
        _log(actor=actor, obj=ra, action=ChangeLog.Action.CREATE, changes={
            "user": user.username, "node": node.code, "role": role, "post": ra.post,
            "public_phone": mask_phone(public_phone), "start": str(ra.start),
        })
        return ra


def role_update(*, actor=None, assignment, user=UNSET, node=UNSET, role=UNSET, post=UNSET, organisation=UNSET,
                public_phone=UNSET, start=UNSET, end=UNSET):
    """Change a roster line (fields left UNSET stay)."""
    data = _given(user=user, node=node, role=role, post=post, organisation=organisation, public_phone=public_phone,
                  start=start, end=end)
    with transaction.atomic():
        ra = RoleAssignment.objects.select_for_update().get(pk=assignment.pk)
        authorise(actor, "role.change", ra.node, data.get("node"))
        GridNode.objects.select_for_update().filter(pk=data.get("node", ra.node).pk).first()
        changes = _apply(ra, ROLE_FIELDS, data)
        ra.full_clean(validate_constraints=False)
        check_role(ra)
        if changes:
            ra.save()
            _log(actor=actor, obj=ra, action=ChangeLog.Action.UPDATE, changes=changes)
        return ra


def role_end(*, actor=None, assignment, end=None):
    return role_update(actor=actor, assignment=assignment, end=end or timezone.localdate())


def role_delete(*, actor=None, assignment):
    with transaction.atomic():
        authorise(actor, "role.change", assignment.node)
        _log(actor=actor, obj=assignment, action=ChangeLog.Action.DELETE,
             changes={"user": assignment.user.username, "node": assignment.node.code, "role": assignment.role})
        assignment.delete()


def user_ensure(*, username, name="", phone="", password=None):
    """Find or create a login for a roster line; a new one without a password cannot log in yet."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"name": name, "phone": phone})
    if created or password:
        changed = False
        if name and user.name != name:
            user.name, changed = name, True
        if password:
            user.set_password(password)
            changed = True
        elif created:
            user.set_unusable_password()
            changed = True
        if changed:
            user.full_clean(exclude=["password"])
            user.save()
    return user



def households_bulk_create(*, actor=None, rows, batch_size=2000):
    """Create many households (validated dicts: grid, building, unit, room, head, phone, members,
    tags) with bulk inserts; street and community come from one look-up of the micro-grids' paths."""
    with tree_lock(shared=True):
        grids = {r["grid"].pk: r["grid"] for r in rows}
        authorise(actor, "household.change", *grids.values())
        columns = scope_columns_bulk(grids.values())
        objs = []
        for r in rows:
            street_id, community_id = columns[r["grid"].pk]
            objs.append(Household(
                grid=r["grid"], street_id=street_id, community_id=community_id,
                **{f: r.get(f, "") for f in ("building", "unit", "room", "head", "phone")},
                members=r.get("members") or 1,
            ))
        Household.objects.bulk_create(objs, batch_size=batch_size)
        through = Household.tags.through
        links = [
            through(household_id=h.pk, caretag_id=t.pk) for h, r in zip(objs, rows) for t in r.get("tags", ())
        ]
        through.objects.bulk_create(links, batch_size=batch_size)
        streets = {o.street_id for o in objs}
        _log(actor=actor, model="household", street_id=streets.pop() if len(streets) == 1 else None,
             action=ChangeLog.Action.IMPORT, changes={"created": len(objs)})
        return objs


def scope_columns_bulk(grids):
    """{grid id: (street id, community id)} for many micro-grids in one query."""
    grids = list(grids)
    if not grids:
        return {}
    q = Q()
    for tree_id in {g.tree_id for g in grids}:
        q |= Q(tree_id=tree_id, level__in=[Level.STREET, Level.COMMUNITY])
    tops = list(GridNode.objects.filter(q).values_list("pk", "tree_id", "lft", "rght", "level"))
    out = {}
    for g in grids:
        street = community = None
        for pk, tree_id, lft, rght, level in tops:
            if tree_id == g.tree_id and lft <= g.lft and rght >= g.rght:
                if level == Level.STREET:
                    street = pk
                else:
                    community = pk
        if community is None:
            raise invalid("grid", _("Micro-grid %s is not inside a community.") % g.code, "outside_community")
        out[g.pk] = (street, community)
    return out


# Role holders who work in the browser admin, and the model permissions their group carries there
# (common.registry.admin_groups: {role: {app label: codenames, or None for all of the app's}}). Each app
# registers its own at start-up; grid's are these.
GRID_ADMIN_PERMISSIONS = {
    Role.STREET_STAFF: None,  # every permission of the grid app, phones included
    Role.SECRETARY: {"view_gridnode", "view_household", "change_household", "add_household", "view_roleassignment",
                     "view_organisation", "view_caretag", "view_user", "view_apostroster", "view_vacantmicrogrid"},
    Role.PARTY_BRANCH: {"view_gridnode", "view_household", "view_roleassignment", "view_organisation",
                        "view_apostroster", "view_vacantmicrogrid"},
}
# The framework's job runs: street staff read them and start a job; the community's secretary and party
# branch read them (the runs on their community and on every street).
COMMON_ADMIN_PERMISSIONS = {
    Role.STREET_STAFF: {"view_jobrun", "run_jobs"},
    Role.SECRETARY: {"view_jobrun"},
    Role.PARTY_BRANCH: {"view_jobrun"},
}
for _role, _codenames in GRID_ADMIN_PERMISSIONS.items():
    registry.admin_permissions_register(_role, "grid", _codenames)
for _role, _codenames in COMMON_ADMIN_PERMISSIONS.items():
    registry.admin_permissions_register(_role, "common", _codenames)
ADMIN_GROUPS = registry.admin_groups


def admin_group_sync(role, create=True):
    """The role's group with every permission it should carry (adding is idempotent)."""
    from django.contrib.auth.models import Group, Permission
    from django.db.models import Q

    name = f"role:{role}"
    group = Group.objects.get_or_create(name=name)[0] if create else Group.objects.filter(name=name).first()
    if group is None:
        return None
    q = Q(pk__in=[])
    for app, codenames in ADMIN_GROUPS[role].items():
        q |= Q(content_type__app_label=app) if codenames is None else Q(content_type__app_label=app, codename__in=codenames)
    group.permissions.add(*Permission.objects.filter(q))
    return group


def user_grant_admin(*, user, role):
    """Give a street-staff, secretary or party-branch role holder the admin and their role's group."""
    if role not in ADMIN_GROUPS:
        return
    with transaction.atomic():
        user.groups.add(admin_group_sync(role))
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])


def roles_bulk_assign(*, actor=None, assignments):
    """Insert many roster lines (unsaved RoleAssignment objects) at once. Each is checked by the same
    rules as `role_assign`; a clash of open A posts is refused by the database's unique constraint."""
    with transaction.atomic():
        authorise(actor, "role.change", *{ra.node for ra in assignments})
        for ra in assignments:
            ra.post = ra.post or ""
            check_role(ra, against_db=False)
        created = RoleAssignment.objects.bulk_create(assignments, batch_size=2000)
        trees = {ra.node.tree_id for ra in created}
        _log(actor=actor, model="roleassignment", street_id=_street_of_tree(trees.pop()) if len(trees) == 1 else None,
             action=ChangeLog.Action.IMPORT, changes={"created": len(created)})
        return created


def street_purge(*, actor=None, street):
    """Remove a whole street: its households, roster lines, organisations and nodes (the demo's
    rebuild). Users stay; they may hold roles elsewhere."""
    authorise_administrator(actor, _("Only an administrator may remove a street."))
    with tree_lock():
        subtree = GridNode.objects.filter(tree_id=street.tree_id)
        # Upper apps first: their rows may point at the ledger's and the registers' rows.
        for model in reversed(scoped_row_models()):
            model.objects.filter(street=street).delete()
        RoleAssignment.objects.filter(node__tree_id=street.tree_id).delete()
        Organisation.objects.filter(street=street).delete()
        # Children first: the nodes protect each other through `parent`.
        subtree.order_by("-depth").delete()
        # Logged without a street: the street is gone, so only administrators read this line.
        _log(actor=actor, model="gridnode", action=ChangeLog.Action.DELETE,
             changes={"street": street.code, "purged": True})
