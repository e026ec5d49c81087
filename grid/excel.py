"""The Excel registers (.xlsx): tree, households, organisations, rosters.

Each register is one list of columns used both ways, so an export imports again unchanged.
Headers and choice values are written in the user's language; imports accept either language
(and the raw codes), because a sheet travels between offices. An import is all-or-nothing:
every row is checked first, and one bad row writes nothing and yields a report naming row,
column and reason.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

# The reader and writer are the framework's (common.excel); `grid.excel.Column`, `write_sheet`,
# `ImportFailed` and `RowError` are those same objects, for whoever still names them from here.
from common.excel import Column, ImportFailed, RowError, read_sheet, write_sheet

from . import access, selectors, services
from .models import (
    PHONE_RE,
    CareTag,
    GridNode,
    Household,
    Kind,
    Level,
    OrgKind,
    Organisation,
    Post,
    Role,
    kinds_for_level,
    mask_phone,
)


def _fail_if(errors):
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e.row))


def _text(row, key):
    value = row.get(key, "")
    return "" if value is None else str(value).strip()


def _phone(row, key, col, errors):
    value = _text(row, key)
    if value and not PHONE_RE.match(value):
        errors.append(RowError(row["_row"], str(col.label), _("Not a valid phone number (masked numbers cannot be imported).")))
    return value


def _date(row, key, col, errors):
    value = row.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.append(RowError(row["_row"], str(col.label), _("Enter a date as YYYY-MM-DD.")))
        return None


def _check_field(model, name, value, row, column, errors):
    """The model field's own validators (length, pattern): the bulk inserts below skip full_clean."""
    try:
        model._meta.get_field(name).run_validators(value)
    except ValidationError as e:
        errors.extend(RowError(row["_row"], column, m) for m in e.messages)


def _service_errors(row, error, label, columns=None):
    """A service's ValidationError as row errors, each under the column of its field."""
    items = error.message_dict.items() if hasattr(error, "error_dict") else [("-", error.messages)]
    out = []
    for fieldname, messages in items:
        key = (columns or {}).get(fieldname, fieldname)
        column = label.get(key, label.get(f"{fieldname}_code", fieldname))
        out.extend(RowError(row, column, m) for m in messages)
    return out


def _shown_phone(user, value):
    return value if selectors.can_see_phones(user) else mask_phone(value)


# --- the tree ---------------------------------------------------------------------------------

TREE = [
    Column("code", gettext_lazy("code")),
    Column("name", gettext_lazy("name")),
    Column("level", gettext_lazy("level"), choices=Level),
    Column("kind", gettext_lazy("kind"), required=False, choices=Kind),
    Column("parent_code", gettext_lazy("parent code"), required=False),
]


def export_tree(user, root=None):
    nodes = selectors.visible_nodes(user).select_related("parent").order_by(*access.tree_order())
    if root is not None:
        nodes = nodes.filter(access.subtree_q(root))
    rows = (
        {"code": n.code, "name": n.name, "level": n.level, "kind": n.kind,
         "parent_code": n.parent.code if n.parent_id else ""}
        for n in nodes
    )
    return write_sheet(_("grid tree"), TREE, rows)


def import_tree(file, *, actor):
    sheet = read_sheet(file, TREE)
    errors, label = sheet.errors, sheet.label
    in_file = {}
    for row in sheet.rows:
        code = _text(row, "code")
        if code in in_file:
            errors.append(RowError(row["_row"], label["code"], _("Code %s appears twice in the file.") % code))
        in_file[code] = row
    existing = dict(
        GridNode.objects.filter(code__in=list(in_file) + [_text(r, "parent_code") for r in sheet.rows])
        .values_list("code", "level")
    )
    visible = set(selectors.visible_nodes(actor).filter(code__in=list(existing)).values_list("code", flat=True))
    for row in sheet.rows:
        n, code, parent_code = row["_row"], _text(row, "code"), _text(row, "parent_code")
        if code in existing:
            errors.append(RowError(n, label["code"], _("Code %s already exists.") % code))
        _check_field(GridNode, "code", code, row, label["code"], errors)
        _check_field(GridNode, "name", _text(row, "name"), row, label["name"], errors)
        # An empty or unreadable level was reported by read_sheet; it is "" or absent here.
        level, kind = row.get("level") or None, row.get("kind") or ""
        if level is None:
            continue
        if kind not in kinds_for_level(level):
            errors.append(RowError(n, label["kind"], _("This kind is not allowed at this level.")))
        if level == Level.STREET:
            if parent_code:
                errors.append(RowError(n, label["parent_code"], _("A street has no parent.")))
            elif not actor.is_superuser:
                errors.append(RowError(n, label["level"], _("Only an administrator may create a street.")))
            continue
        if not parent_code:
            errors.append(RowError(n, label["parent_code"], _("Only a street may be without a parent.")))
            continue
        if parent_code in in_file:
            parent_level = in_file[parent_code].get("level") or None
        elif parent_code in visible:
            parent_level = existing[parent_code]
        else:
            errors.append(RowError(n, label["parent_code"], _("Unknown parent code %s.") % parent_code))
            continue
        if parent_level == Level.MICROGRID:
            errors.append(RowError(n, label["parent_code"], _("A micro-grid is a leaf: nothing can hang under it.")))
        elif parent_level == Level.STREET and level != Level.COMMUNITY:
            errors.append(RowError(n, label["parent_code"], _("Only communities hang directly under a street.")))
        elif parent_level is not None and level <= parent_level:
            errors.append(RowError(n, label["level"], _("A node must be at a deeper level than its parent.")))
    _fail_if(errors)
    rows = [
        {"code": _text(r, "code"), "name": _text(r, "name"), "level": r["level"], "kind": r.get("kind") or "",
         "parent_code": _text(r, "parent_code")}
        for r in sheet.rows
    ]
    try:
        return services.tree_build(actor=actor, rows=rows)
    except ValidationError as e:
        raise ImportFailed([RowError(0, "-", "; ".join(e.messages))])


# --- households -------------------------------------------------------------------------------

HOUSEHOLDS = [
    Column("grid_code", gettext_lazy("micro-grid code")),
    Column("building", gettext_lazy("building"), required=False),
    Column("unit", gettext_lazy("unit"), required=False),
    Column("room", gettext_lazy("room"), required=False),
    Column("head", gettext_lazy("head of household")),
    Column("phone", gettext_lazy("phone"), required=False),
    Column("members", gettext_lazy("members")),
    Column("tags", gettext_lazy("care tags"), required=False),
]


def export_households(user, root=None):
    qs = selectors.visible_households(user).select_related("grid").prefetch_related("tags").order_by("id")
    if root is not None:
        qs = qs.filter(access.subtree_q(root, "grid", Household))
    rows = (
        {"grid_code": h.grid.code, "building": h.building, "unit": h.unit, "room": h.room, "head": h.head,
         "phone": _shown_phone(user, h.phone), "members": h.members,
         "tags": ",".join(t.name for t in h.tags.all())}
        for h in qs.iterator(chunk_size=2000)
    )
    return write_sheet(_("households"), HOUSEHOLDS, rows)


def import_households(file, *, actor):
    sheet = read_sheet(file, HOUSEHOLDS)
    errors, label = sheet.errors, sheet.label
    codes = {_text(r, "grid_code") for r in sheet.rows}
    grids = {g.code: g for g in selectors.visible_nodes(actor).filter(code__in=codes)}
    tags = {}
    for t in CareTag.objects.all():
        tags[t.code] = tags[t.name] = t
    existing = set(
        Household.objects.filter(grid__code__in=codes).values_list("grid__code", "building", "unit", "room", "head")
    )
    seen, rows = set(), []
    for r in sheet.rows:
        n, code = r["_row"], _text(r, "grid_code")
        grid = grids.get(code)
        if grid is None:
            errors.append(RowError(n, label["grid_code"], _("Unknown micro-grid code %s.") % code))
        elif grid.level != Level.MICROGRID:
            errors.append(RowError(n, label["grid_code"], _("A household belongs to a micro-grid.")))
        phone = _phone(r, "phone", HOUSEHOLDS[5], errors)
        members = r.get("members")
        if isinstance(members, str) and members.isdigit():
            members = int(members)
        if not isinstance(members, int) or not 1 <= members <= 99:
            errors.append(RowError(n, label["members"], _("Enter a whole number from 1 to 99.")))
        row_tags = []
        for name in (p.strip() for p in _text(r, "tags").replace("，", ",").split(",") if p.strip()):
            if name not in tags:
                errors.append(RowError(n, label["tags"], _("Unknown care tag %s.") % name))
            else:
                row_tags.append(tags[name])
        key = (code, _text(r, "building"), _text(r, "unit"), _text(r, "room"), _text(r, "head"))
        for i, name in enumerate(("building", "unit", "room", "head"), start=1):
            _check_field(Household, name, key[i], r, label[name], errors)
        if key in existing or key in seen:
            errors.append(RowError(n, label["head"], _("This household is already registered.")))
        seen.add(key)
        rows.append({"grid": grid, "building": key[1], "unit": key[2], "room": key[3], "head": key[4],
                     "phone": phone, "members": members, "tags": row_tags})
    _fail_if(errors)
    try:
        return len(services.households_bulk_create(actor=actor, rows=rows))
    except ValidationError as e:  # e.g. a micro-grid hung straight under a street, outside any community
        raise ImportFailed(_service_errors(0, e, label, {"grid": "grid_code"}))


# --- organisations ----------------------------------------------------------------------------

ORGANISATIONS = [
    Column("name", gettext_lazy("name")),
    Column("kind", gettext_lazy("kind"), choices=OrgKind),
    Column("phone", gettext_lazy("phone"), required=False),
    Column("street_code", gettext_lazy("street code")),
    Column("node_codes", gettext_lazy("serves (codes)"), required=False),
]


def export_organisations(user, root=None):
    qs = selectors.visible_organisations(user).select_related("street").prefetch_related("nodes")
    if root is not None:  # the admin passes its subtree filter to every register
        served = Organisation.objects.filter(access.subtree_q(root, "nodes")).values("pk")
        qs = qs.filter(Q(street=root) | Q(pk__in=served))
    rows = (
        {"name": o.name, "kind": o.kind, "phone": o.phone, "street_code": o.street.code,
         "node_codes": ",".join(n.code for n in o.nodes.all())}
        for o in qs
    )
    return write_sheet(_("organisations"), ORGANISATIONS, rows)


def import_organisations(file, *, actor):
    sheet = read_sheet(file, ORGANISATIONS)
    errors, label = sheet.errors, sheet.label
    codes = set()
    for r in sheet.rows:
        codes.add(_text(r, "street_code"))
        codes.update(c.strip() for c in _text(r, "node_codes").split(",") if c.strip())
    nodes = {n.code: n for n in selectors.visible_nodes(actor).filter(code__in=codes)}
    existing = set(Organisation.objects.values_list("street__code", "kind", "name"))
    planned = []
    for r in sheet.rows:
        n = r["_row"]
        street = nodes.get(_text(r, "street_code"))
        if street is None or street.level != Level.STREET:
            errors.append(RowError(n, label["street_code"], _("Unknown street code %s.") % _text(r, "street_code")))
        served = []
        for code in (c.strip() for c in _text(r, "node_codes").split(",") if c.strip()):
            if code not in nodes:
                errors.append(RowError(n, label["node_codes"], _("Unknown node code %s.") % code))
            else:
                served.append(nodes[code])
        phone = _phone(r, "phone", ORGANISATIONS[2], errors)
        key = (_text(r, "street_code"), r.get("kind"), _text(r, "name"))
        if key in existing:
            errors.append(RowError(n, label["name"], _("This organisation is already registered.")))
        existing.add(key)
        planned.append({"_row": n, "name": key[2], "kind": key[1], "phone": phone, "street": street,
                        "nodes": served})
    _fail_if(errors)
    # The service's own rules (field lengths, nodes of another street) are reported against their row.
    with transaction.atomic():
        for p in planned:
            n = p.pop("_row")
            try:
                services.organisation_save(actor=actor, **p)
            except ValidationError as e:
                errors.extend(_service_errors(n, e, label, {"street": "street_code", "nodes": "node_codes"}))
        _fail_if(errors)
    return len(planned)


# --- rosters ----------------------------------------------------------------------------------

ROSTER = [
    Column("username", gettext_lazy("username")),
    Column("name", pgettext_lazy("person", "name"), required=False),
    Column("phone", gettext_lazy("private phone"), required=False),
    Column("node_code", gettext_lazy("node code")),
    Column("role", gettext_lazy("role"), choices=Role),
    Column("post", gettext_lazy("post"), required=False, choices=Post),
    Column("organisation", gettext_lazy("organisation"), required=False),
    Column("public_phone", gettext_lazy("public phone"), required=False),
    Column("start", gettext_lazy("start")),
    Column("end", gettext_lazy("end"), required=False),
]


def export_roster(user, *, a_posts_only=False, root=None):
    qs = (selectors.visible_roles(user).select_related("user", "node", "organisation")
          .order_by(*access.tree_order("node"), "role", "post", "id"))
    if a_posts_only:
        qs = qs.active().filter(role=Role.LEADER, post=Post.A)
    if root is not None:
        qs = qs.filter(access.subtree_q(root, "node"))
    rows = (
        {"username": ra.user.username, "name": ra.user.name, "phone": _shown_phone(user, ra.user.phone),
         "node_code": ra.node.code, "role": ra.role, "post": ra.post,
         "organisation": ra.organisation.name if ra.organisation_id else "",
         "public_phone": ra.public_phone, "start": ra.start, "end": ra.end}
        for ra in qs.iterator(chunk_size=2000)
    )
    title = _("A-post roster") if a_posts_only else _("roster")
    return write_sheet(title, ROSTER, rows)


def import_roster(file, *, actor):
    sheet = read_sheet(file, ROSTER)
    errors, label = sheet.errors, sheet.label
    nodes = {n.code: n for n in selectors.visible_nodes(actor).filter(code__in={_text(r, "node_code") for r in sheet.rows})}
    # A name is unique per street and kind; the roster line's node says which street.
    orgs = {(access.street_key(o.street), o.name): o
            for o in selectors.visible_organisations(actor).select_related("street")}
    planned = []
    for r in sheet.rows:
        n = r["_row"]
        node = nodes.get(_text(r, "node_code"))
        if node is None:
            errors.append(RowError(n, label["node_code"], _("Unknown node code %s.") % _text(r, "node_code")))
        org = None
        if _text(r, "organisation") and node is not None:
            org = orgs.get((access.street_key(node), _text(r, "organisation")))
            if org is None:
                errors.append(RowError(n, label["organisation"], _("Unknown organisation %s.") % _text(r, "organisation")))
        planned.append({
            "_row": n, "username": _text(r, "username"), "name": _text(r, "name"),
            "phone": _phone(r, "phone", ROSTER[2], errors), "node": node, "role": r.get("role"),
            "post": r.get("post") or "", "organisation": org,
            "public_phone": _phone(r, "public_phone", ROSTER[7], errors),
            "start": _date(r, "start", ROSTER[8], errors), "end": _date(r, "end", ROSTER[9], errors),
        })
    _fail_if(errors)
    # Role rules (a leader on a micro-grid, one open A post, …) are the service's; a failure on any row
    # rolls the whole import back and is reported against that row.
    with transaction.atomic():
        for p in planned:
            try:
                user = services.user_ensure(username=p["username"], name=p["name"], phone=p["phone"])
                services.role_assign(
                    actor=actor, user=user, node=p["node"], role=p["role"], post=p["post"],
                    organisation=p["organisation"], public_phone=p["public_phone"],
                    start=p["start"], end=p["end"],
                )
            except ValidationError as e:
                errors.extend(_service_errors(p["_row"], e, label))
        _fail_if(errors)
    return len(planned)


REGISTERS = {
    "tree": (export_tree, import_tree),
    "households": (export_households, import_households),
    "organisations": (export_organisations, import_organisations),
    "roster": (export_roster, import_roster),
}
