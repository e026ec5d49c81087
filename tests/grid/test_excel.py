"""The Excel registers (grid.excel) and the admin's import/export views (grid.admin.ExcelMixin).

Round trips (export, empty the database, import), all-or-nothing imports with a row/column/reason
report, headers in either language, scope and phone masking, and the admin views around them.
Reasons are asserted in English: every test runs under translation.override("en") unless it says
otherwise, so the assertions hold whatever the zh-hans catalogue says.
"""

import datetime
from io import BytesIO

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook, load_workbook

from grid import excel, services
from grid.checks import tree_faults
from grid.models import (
    ChangeLog,
    GridNode,
    Household,
    Kind,
    Level,
    Organisation,
    OrgKind,
    Post,
    Role,
    RoleAssignment,
)
from tests.factories import HouseholdFactory, OrganisationFactory, RoleFactory, UserFactory, care_tag, node
from tests.support import XLSX, shared_fixture

User = get_user_model()


# Messages and headers are read in English here (the default language is zh-hans).
pytestmark = pytest.mark.usefixtures("english")


# --- helpers ----------------------------------------------------------------------------------


def workbook(header, rows=(), name="x.xlsx"):
    """An .xlsx in memory: a header row, then the rows as given (lists of cell values)."""
    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    out = BytesIO()
    wb.save(out)
    out.seek(0)
    out.name = name
    return out


def labels(columns, lang="en"):
    with translation.override(lang):
        return [str(c.label) for c in columns]


def sheet(columns, rows, lang="en"):
    """A register's workbook from dicts by column key (missing keys are empty cells)."""
    return workbook(labels(columns, lang), [[r.get(c.key) for c in columns] for r in rows])


def label(columns, key):
    """The column name a RowError carries, in the active language."""
    return next(str(c.label) for c in columns if c.key == key)


def read(data):
    """An exported workbook as (header, [row dicts by header])."""
    wb = load_workbook(BytesIO(data), read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    header = list(rows[0])
    return header, [dict(zip(header, r)) for r in rows[1:]]


def column_values(data, columns, key):
    _header, rows = read(data)
    return [r[label(columns, key)] for r in rows]


def failed(fn, file, actor):
    with pytest.raises(excel.ImportFailed) as exc:
        fn(file, actor=actor)
    return exc.value.errors


def has_error(errors, row, column, fragment):
    return any(e.row == row and e.column == column and fragment in e.reason for e in errors)


def counts():
    return {
        "nodes": GridNode.objects.count(),
        "households": Household.objects.count(),
        "tags": Household.tags.through.objects.count(),
        "organisations": Organisation.objects.count(),
        "roles": RoleAssignment.objects.count(),
        "users": User.objects.count(),
        "log": ChangeLog.objects.count(),
    }


def upload(data, name="x.xlsx", content_type=XLSX):
    if isinstance(data, BytesIO):
        data = data.getvalue()
    return SimpleUploadedFile(name, data, content_type=content_type)


# Snapshots of each register, independent of primary keys, for comparing before and after a round trip.


def tree_snapshot():
    return sorted(
        (n.code, n.name, n.level, n.kind, n.parent.code if n.parent_id else None)
        for n in GridNode.objects.select_related("parent")
    )


def household_snapshot():
    return sorted(
        (h.grid.code, h.street.code, h.community.code, h.building, h.unit, h.room, h.head, h.phone, h.members,
         tuple(sorted(t.code for t in h.tags.all())))
        for h in Household.objects.select_related("grid", "street", "community").prefetch_related("tags")
    )


def organisation_snapshot():
    return sorted(
        (o.street.code, o.kind, o.name, o.phone, tuple(sorted(n.code for n in o.nodes.all())))
        for o in Organisation.objects.select_related("street").prefetch_related("nodes")
    )


def roster_snapshot():
    return sorted(
        (ra.user.username, ra.user.name, ra.user.phone, ra.node.code, ra.role, ra.post,
         ra.organisation.name if ra.organisation_id else "", ra.public_phone, ra.start, ra.end)
        for ra in RoleAssignment.objects.select_related("user", "node", "organisation")
    )


def codes_under(root):
    return set(GridNode.objects.filter(tree_id=root.tree_id, lft__gte=root.lft, rght__lte=root.rght)
               .values_list("code", flat=True))


@shared_fixture
def rich(world):
    """`world` plus what a round trip must carry: a second street, skipped levels, a micro-grid of
    each shape, empty and landline phones, several tags, B posts, an ended A post, property staff."""
    w = world
    w.street2 = node(name="第二街道", code="ST2")
    w.c2 = node(w.street2, name="社区C", code="C2")
    w.c2_g1 = node(w.c2, level=Level.MICROGRID, kind=Kind.BUSINESS, name="商铺网格", code="C2-G1")
    HouseholdFactory(grid=w.c2_g1, phone="", building="", unit="", room="", members=1,
                     tags=[care_tag("mobility"), care_tag("veteran")])
    HouseholdFactory(grid=w.b.mg2, phone="028-88888888", members=99, tags=[care_tag("low_income")])
    w.branch = OrganisationFactory(street=w.street, name="第一党支部", kind=OrgKind.PARTY_BRANCH,
                                   phone="028-66668888", nodes=[w.a.community, w.b.mg1])
    OrganisationFactory(street=w.street2, name="第二物业", kind=OrgKind.PROPERTY, phone="13655556666", nodes=[])
    RoleFactory(node=w.a.mg1, role=Role.LEADER, post=Post.B, user=UserFactory(username="leader_a_b"))
    RoleFactory(node=w.a.mg1, role=Role.LEADER, post=Post.A, start=datetime.date(2023, 1, 1),
                end=datetime.date(2023, 12, 31), public_phone="",
                user=UserFactory(username="old_leader", phone="13344445555"))
    RoleFactory(node=w.a.compound, role=Role.PROPERTY_STAFF, organisation=w.property, public_phone="",
                user=UserFactory(username="prop_a", phone=""))
    RoleFactory(node=w.c2_g1, role=Role.LEADER, post=Post.A, user=UserFactory(username="leader_c2"))
    RoleFactory(node=w.c2, role=Role.PARTY_BRANCH, user=UserFactory(username="branch_c2"),
                start=datetime.date(2024, 3, 1))
    return w


# --- round trip -------------------------------------------------------------------------------


def test_round_trip_into_an_empty_database(rich, admin_user):
    before = {
        "tree": tree_snapshot(), "organisations": organisation_snapshot(),
        "households": household_snapshot(), "roster": roster_snapshot(),
    }
    files = {name: export(admin_user) for name, (export, _imp) in excel.REGISTERS.items()}
    # The superuser sees full phones in the files.
    assert "13711112222" in column_values(files["households"], excel.HOUSEHOLDS, "phone")
    assert "13800005678" in column_values(files["roster"], excel.ROSTER, "phone")

    for street in GridNode.objects.filter(level=Level.STREET):
        services.street_purge(actor=admin_user, street=street)
    User.objects.exclude(pk=admin_user.pk).delete()
    assert (GridNode.objects.count(), Household.objects.count(), Organisation.objects.count(),
            RoleAssignment.objects.count(), User.objects.count()) == (0, 0, 0, 0, 1)

    assert excel.import_tree(BytesIO(files["tree"]), actor=admin_user) == len(before["tree"])
    assert tree_faults() == []
    assert tree_snapshot() == before["tree"]

    assert excel.import_organisations(BytesIO(files["organisations"]), actor=admin_user) == len(before["organisations"])
    assert organisation_snapshot() == before["organisations"]

    assert excel.import_households(BytesIO(files["households"]), actor=admin_user) == len(before["households"])
    assert household_snapshot() == before["households"]

    assert excel.import_roster(BytesIO(files["roster"]), actor=admin_user) == len(before["roster"])
    assert roster_snapshot() == before["roster"]
    # Users came back from the roster, without a usable password (they are invited, not logged in).
    assert not User.objects.get(username="leader_a").has_usable_password()
    assert tree_faults() == []


def test_exports_write_labels_and_choice_labels(rich, admin_user):
    header, rows = read(excel.export_tree(admin_user))
    assert header == labels(excel.TREE)
    by_code = {r["code"]: r for r in rows}
    assert by_code["CA-G2"] == {"code": "CA-G2", "name": "微网格A2", "level": "micro-grid",
                                "kind": "settlement", "parent code": "CA-R1"}
    assert by_code["ST"]["parent code"] is None and by_code["ST"]["kind"] is None
    # Parents come before their children, so the file imports top-down.
    order = [r["code"] for r in rows]
    for r in rows:
        if r["parent code"]:
            assert order.index(r["parent code"]) < order.index(r["code"])

    _header, rows = read(excel.export_roster(admin_user))
    old = next(r for r in rows if r["username"] == "old_leader")
    assert (old["role"], old["post"], old["start"].date(), old["end"].date()) == (
        "micro-grid leader", "A post (primary)", datetime.date(2023, 1, 1), datetime.date(2023, 12, 31))
    prop = next(r for r in rows if r["username"] == "prop_a")
    assert (prop["organisation"], prop["post"]) == (rich.property.name, None)


def test_a_post_roster_holds_open_a_posts_only_and_imports_back(rich, admin_user):
    data = excel.export_roster(admin_user, a_posts_only=True)
    rows = read(data)[1]
    assert sorted(r["username"] for r in rows) == ["leader_a", "leader_b", "leader_c2"]
    assert {r["post"] for r in rows} == {"A post (primary)"}
    expected = [r for r in roster_snapshot() if r[5] == Post.A and r[9] is None]

    for ra in RoleAssignment.objects.filter(role=Role.LEADER, post=Post.A):
        services.role_delete(assignment=ra)
    assert excel.import_roster(BytesIO(data), actor=admin_user) == 3
    assert [r for r in roster_snapshot() if r[5] == Post.A] == expected


def test_export_of_a_subtree(rich, admin_user):
    data = excel.export_tree(admin_user, root=rich.a.compound)
    assert set(column_values(data, excel.TREE, "code")) == codes_under(rich.a.compound)
    data = excel.export_households(admin_user, root=rich.b.community)
    assert set(column_values(data, excel.HOUSEHOLDS, "grid_code")) == {"CB-G1", "CB-G2"}
    data = excel.export_roster(admin_user, root=rich.a.mg1)
    assert sorted(column_values(data, excel.ROSTER, "username")) == ["leader_a", "leader_a_b", "old_leader"]
    # Organisations: those registered with a street root, or serving a node under the root.
    def names(root):
        return sorted(column_values(excel.export_organisations(admin_user, root=root), excel.ORGANISATIONS, "name"))

    assert names(rich.street) == sorted([rich.property.name, rich.branch.name])
    assert names(rich.a.compound) == [rich.property.name]
    assert names(rich.b.mg1) == [rich.branch.name]
    assert names(rich.b.mg2) == []


# --- the tree: good imports -------------------------------------------------------------------


def test_tree_import_children_before_parents_and_under_existing_nodes(world, admin_user):
    rows = [
        # A unit listed before its building, a micro-grid before its unit: the order in the file is free.
        {"code": "CA-R2-B1-U1-G1", "name": "网格", "level": "micro-grid", "kind": "scenic", "parent_code": "CA-R2-B1-U1"},
        {"code": "CA-R2-B1-U1", "name": "1单元", "level": "unit", "parent_code": "CA-R2-B1"},
        {"code": "CA-R2-B1", "name": "1栋", "level": 4, "parent_code": "CA-R2"},
        {"code": "CA-R2", "name": "小区A2", "level": "3", "kind": "residential", "parent_code": "CA"},
        {"code": "CA-G9", "name": "机关网格", "level": "micro-grid", "kind": "institution", "parent_code": "CA"},
    ]
    assert excel.import_tree(sheet(excel.TREE, rows), actor=admin_user) == 5
    assert tree_faults() == []
    g = GridNode.objects.get(code="CA-R2-B1-U1-G1")
    assert [a.code for a in g.get_ancestors()] == ["ST", "CA", "CA-R2", "CA-R2-B1", "CA-R2-B1-U1"]
    assert (g.level, g.kind) == (Level.MICROGRID, Kind.SCENIC)
    assert GridNode.objects.get(code="CA-G9").parent.code == "CA"
    assert ChangeLog.objects.filter(model="gridnode", action=ChangeLog.Action.IMPORT, actor=admin_user).count() == 1


def test_tree_import_of_a_new_street(db, admin_user):
    rows = [
        {"code": "NS", "name": "新街道", "level": "street"},
        {"code": "NS-C1", "name": "社区", "level": "community", "parent_code": "NS"},
        {"code": "NS-G1", "name": "网格", "level": "micro-grid", "kind": "enterprise", "parent_code": "NS-C1"},
    ]
    assert excel.import_tree(sheet(excel.TREE, rows), actor=admin_user) == 3
    assert tree_faults() == []
    street = GridNode.objects.get(code="NS")
    assert street.is_root_node() and street.get_descendant_count() == 2


def test_blank_rows_are_skipped_and_rows_keep_their_sheet_numbers(world, admin_user):
    header = labels(excel.TREE)
    f = workbook(header, [
        ["CA-R2", "小区A2", "compound", "residential", "CA"],
        [None, None, None, None, None],
        ["CA-R3", "小区A3", "compound", "residential", "NOPE"],
    ])
    errors = failed(excel.import_tree, f, world.a.secretary)
    assert [(e.row, e.column) for e in errors] == [(4, label(excel.TREE, "parent_code"))]


# --- the tree: all-or-nothing -----------------------------------------------------------------

GOOD_TREE_ROW = {"code": "CA-R2", "name": "小区A2", "level": "compound", "kind": "residential", "parent_code": "CA"}


@pytest.mark.parametrize("bad, column, reason", [
    ({"code": "CA-R3", "name": "x", "level": "compound", "kind": "residential", "parent_code": "NOPE"},
     "parent_code", "Unknown parent code NOPE"),
    ({"code": "CA-X", "name": "x", "level": "community", "parent_code": "CA-R1"},
     "level", "deeper level than its parent"),
    ({"code": "CA-X", "name": "x", "level": "compound", "kind": "residential", "parent_code": "CA-R1-B1"},
     "level", "deeper level than its parent"),
    ({"code": "CA-X", "name": "x", "level": "unit", "parent_code": "CA-G2"},
     "parent_code", "micro-grid is a leaf"),
    # The parent is the good row above, read from the file.
    ({"code": "CA-X", "name": "x", "level": "compound", "kind": "residential", "parent_code": "CA-R2"},
     "level", "deeper level than its parent"),
    (dict(GOOD_TREE_ROW, name="again"), "code", "Code CA-R2 appears twice in the file"),
    ({"code": "CA-G1", "name": "x", "level": "micro-grid", "kind": "business", "parent_code": "CA"},
     "code", "Code CA-G1 already exists"),
    ({"code": "CA-X", "name": "", "level": "compound", "kind": "residential", "parent_code": "CA"},
     "name", "This field is required"),
    ({"code": "", "name": "x", "level": "compound", "kind": "residential", "parent_code": "CA"},
     "code", "This field is required"),
    ({"code": "CA-X", "name": "x", "level": None, "kind": "residential", "parent_code": "CA"},
     "level", "This field is required"),
    ({"code": "CA-X", "name": "x", "level": "floor", "parent_code": "CA"},
     "level", "not one of the allowed values"),
    ({"code": "CA-X", "name": "x", "level": "compound", "kind": "business", "parent_code": "CA"},
     "kind", "not allowed at this level"),
    ({"code": "CA-X", "name": "x", "level": "building", "kind": "residential", "parent_code": "CA-R1"},
     "kind", "not allowed at this level"),
    ({"code": "CA-X", "name": "x", "level": "building", "parent_code": ""},
     "parent_code", "Only a street may be without a parent"),
    ({"code": "NS", "name": "x", "level": "street", "parent_code": "CA"},
     "parent_code", "A street has no parent"),
    ({"code": "小区-1", "name": "x", "level": "compound", "kind": "residential", "parent_code": "CA"},
     "code", "letters, digits"),
    ({"code": "-CA-X", "name": "x", "level": "compound", "kind": "residential", "parent_code": "CA"},
     "code", "letters, digits"),
    ({"code": "C" * 41, "name": "x", "level": "compound", "kind": "residential", "parent_code": "CA"},
     "code", "at most 40 characters"),
    ({"code": "CA-X", "name": "名" * 101, "level": "compound", "kind": "residential", "parent_code": "CA"},
     "name", "at most 100 characters"),
])
def test_tree_import_one_bad_row_writes_nothing(world, admin_user, bad, column, reason):
    before, snapshot = counts(), tree_snapshot()
    errors = failed(excel.import_tree, sheet(excel.TREE, [GOOD_TREE_ROW, bad]), admin_user)
    assert has_error(errors, 3, label(excel.TREE, column), reason), errors
    assert all(e.row == 3 for e in errors), errors
    assert counts() == before and tree_snapshot() == snapshot
    assert not GridNode.objects.filter(code="CA-R2").exists()
    assert tree_faults() == []


def test_tree_import_reports_every_bad_row_in_order(world, admin_user):
    rows = [
        {"code": "CA-X", "name": "x", "level": "compound", "kind": "residential", "parent_code": "NOPE"},
        GOOD_TREE_ROW,
        {"code": "CA-G1", "name": "x", "level": "micro-grid", "kind": "business", "parent_code": "CA"},
        {"code": "CA-Y", "name": "x", "level": "unit", "parent_code": "CA-G1"},
    ]
    errors = failed(excel.import_tree, sheet(excel.TREE, rows), admin_user)
    assert [e.row for e in errors] == [2, 4, 5]
    assert "row 2" in str(errors[0]) and "Unknown parent code NOPE" in str(errors[0])
    assert GridNode.objects.filter(code__in=["CA-X", "CA-R2", "CA-Y"]).count() == 0
    assert tree_faults() == []


def test_a_bad_street_row_is_checked_like_any_other(db, admin_user):
    # A street row skips the parent checks, not the code check.
    rows = [{"code": "新街道", "name": "新街道", "level": "street"}]
    errors = failed(excel.import_tree, sheet(excel.TREE, rows), admin_user)
    assert has_error(errors, 2, label(excel.TREE, "code"), "letters, digits")
    assert GridNode.objects.count() == 0


def test_only_an_administrator_creates_a_street(world):
    errors = failed(excel.import_tree, sheet(excel.TREE, [{"code": "NS", "name": "x", "level": "street"}]),
                    world.staff)
    assert has_error(errors, 2, label(excel.TREE, "level"), "Only an administrator may create a street")
    assert not GridNode.objects.filter(code="NS").exists()


def test_tree_import_is_scoped_to_the_actor(world):
    ok = [{"code": "CA-R2", "name": "小区", "level": "compound", "kind": "settlement", "parent_code": "CA"}]
    assert excel.import_tree(sheet(excel.TREE, ok), actor=world.staff) == 1
    assert tree_faults() == []
    # Street ST exists, but not for the staff of another street: as unknown as a code that does not exist.
    other = node(name="别街", code="S2")
    other_staff = RoleFactory(node=other, role=Role.STREET_STAFF).user
    bad = [{"code": "CB-R2", "name": "小区", "level": "compound", "kind": "settlement", "parent_code": "CB"}]
    errors = failed(excel.import_tree, sheet(excel.TREE, bad), other_staff)
    assert has_error(errors, 2, label(excel.TREE, "parent_code"), "Unknown parent code CB")
    assert not GridNode.objects.filter(code="CB-R2").exists()
    assert tree_faults() == []


def test_a_secretary_may_not_import_tree_nodes(world):
    # Only the street staff edit the tree (the tree service checks it, whoever calls it).
    from common.errors import Denied

    ok = [{"code": "CA-R2", "name": "小区", "level": "compound", "kind": "settlement", "parent_code": "CA"}]
    with pytest.raises(Denied) as e:
        excel.import_tree(sheet(excel.TREE, ok), actor=world.a.secretary)
    assert e.value.code == "role_not_allowed"
    assert not GridNode.objects.filter(code="CA-R2").exists()


# --- households -------------------------------------------------------------------------------

GOOD_HOUSEHOLD = {"grid_code": "CA-G2", "building": "2栋", "unit": "1单元", "room": "301", "head": "王五",
                  "phone": "13700001111", "members": 2, "tags": "独居老人, mobility"}


def test_household_import_writes_rows_with_their_tags_and_scope_columns(world, admin_user):
    rows = [
        GOOD_HOUSEHOLD,
        # Tags by code or by name, separated by an ASCII or a Chinese comma; a landline; a number read as float.
        {"grid_code": "CB-G1", "head": "赵六", "phone": "028-88888888", "members": 5.0, "tags": "disabled，留守儿童"},
        {"grid_code": "CB-G1", "head": "钱七", "phone": 13512345678, "members": 1},
    ]
    assert excel.import_households(sheet(excel.HOUSEHOLDS, rows), actor=admin_user) == 3
    h = Household.objects.get(head="王五")
    assert (h.grid, h.street, h.community) == (world.a.mg2, world.street, world.a.community)
    assert (h.building, h.unit, h.room, h.phone, h.members) == ("2栋", "1单元", "301", "13700001111", 2)
    assert sorted(h.tags.values_list("code", flat=True)) == ["elderly_alone", "mobility"]
    z = Household.objects.get(head="赵六")
    assert (z.community, z.phone, z.members) == (world.b.community, "028-88888888", 5)
    assert sorted(z.tags.values_list("code", flat=True)) == ["disabled", "left_behind_child"]
    assert Household.objects.get(head="钱七").phone == "13512345678"
    assert ChangeLog.objects.filter(model="household", action=ChangeLog.Action.IMPORT).count() == 1
    assert tree_faults() == []


@pytest.mark.parametrize("bad, column, reason", [
    (dict(GOOD_HOUSEHOLD, grid_code="NOPE"), "grid_code", "Unknown micro-grid code NOPE"),
    (dict(GOOD_HOUSEHOLD, grid_code="CA-R1"), "grid_code", "A household belongs to a micro-grid"),
    (dict(GOOD_HOUSEHOLD, grid_code=None), "grid_code", "This field is required"),
    (dict(GOOD_HOUSEHOLD, phone="12345"), "phone", "Not a valid phone number"),
    (dict(GOOD_HOUSEHOLD, phone="138****5678"), "phone", "masked numbers cannot be imported"),
    (dict(GOOD_HOUSEHOLD, head=""), "head", "This field is required"),
    (dict(GOOD_HOUSEHOLD, head="  "), "head", "This field is required"),
    (dict(GOOD_HOUSEHOLD, members=None), "members", "This field is required"),
    (dict(GOOD_HOUSEHOLD, members=0), "members", "from 1 to 99"),
    (dict(GOOD_HOUSEHOLD, members=100), "members", "from 1 to 99"),
    (dict(GOOD_HOUSEHOLD, members=2.5), "members", "from 1 to 99"),
    (dict(GOOD_HOUSEHOLD, members="three"), "members", "from 1 to 99"),
    (dict(GOOD_HOUSEHOLD, members="0"), "members", "from 1 to 99"),
    (dict(GOOD_HOUSEHOLD, tags="独居老人,VIP"), "tags", "Unknown care tag VIP"),
    (GOOD_HOUSEHOLD, "head", "already registered"),  # the same household twice in the file
    (dict(GOOD_HOUSEHOLD, room="3" * 31), "room", "at most 30 characters"),
    (dict(GOOD_HOUSEHOLD, head="名" * 51), "head", "at most 50 characters"),
])
def test_household_import_one_bad_row_writes_nothing(world, admin_user, bad, column, reason):
    before = counts()
    errors = failed(excel.import_households, sheet(excel.HOUSEHOLDS, [GOOD_HOUSEHOLD, bad]), admin_user)
    assert has_error(errors, 3, label(excel.HOUSEHOLDS, column), reason), errors
    assert all(e.row == 3 for e in errors), errors
    assert counts() == before
    assert not Household.objects.filter(head="王五").exists()


def test_household_already_in_the_database_is_refused(world, admin_user):
    h = world.a.households[0]
    row = {"grid_code": h.grid.code, "building": h.building, "unit": h.unit, "room": h.room, "head": h.head,
           "members": 4}
    before = counts()
    errors = failed(excel.import_households, sheet(excel.HOUSEHOLDS, [GOOD_HOUSEHOLD, row]), admin_user)
    assert has_error(errors, 3, label(excel.HOUSEHOLDS, "head"), "already registered")
    assert counts() == before


def test_household_import_is_scoped_to_the_actor(world):
    secretary = world.a.secretary
    errors = failed(excel.import_households, sheet(excel.HOUSEHOLDS, [dict(GOOD_HOUSEHOLD, grid_code="CB-G1")]),
                    secretary)
    assert has_error(errors, 2, label(excel.HOUSEHOLDS, "grid_code"), "Unknown micro-grid code CB-G1")
    assert not Household.objects.filter(head="王五").exists()
    assert excel.import_households(sheet(excel.HOUSEHOLDS, [GOOD_HOUSEHOLD]), actor=secretary) == 1
    assert Household.objects.get(head="王五").community == world.a.community


# --- organisations ----------------------------------------------------------------------------

GOOD_ORG = {"name": "社区党支部A", "kind": "party branch", "phone": "028-88888888", "street_code": "ST",
            "node_codes": "CA, CA-G1"}


def test_organisation_import_writes_rows_and_the_nodes_they_serve(world, admin_user):
    rows = [GOOD_ORG, {"name": "业委会", "kind": "owners_committee", "street_code": "ST"}]
    assert excel.import_organisations(sheet(excel.ORGANISATIONS, rows), actor=admin_user) == 2
    o = Organisation.objects.get(name="社区党支部A")
    assert (o.kind, o.phone, o.street) == (OrgKind.PARTY_BRANCH, "028-88888888", world.street)
    assert sorted(o.nodes.values_list("code", flat=True)) == ["CA", "CA-G1"]
    assert Organisation.objects.get(name="业委会").nodes.count() == 0


@pytest.mark.parametrize("bad, column, reason", [
    (dict(GOOD_ORG, name="x", street_code="NOPE"), "street_code", "Unknown street code NOPE"),
    (dict(GOOD_ORG, name="x", street_code="CA"), "street_code", "Unknown street code CA"),
    (dict(GOOD_ORG, name="x", node_codes="CA,NOPE"), "node_codes", "Unknown node code NOPE"),
    (dict(GOOD_ORG, name="x", phone="138****5678"), "phone", "Not a valid phone number"),
    (dict(GOOD_ORG, name="x", kind="bank"), "kind", "not one of the allowed values"),
    (dict(GOOD_ORG, name=""), "name", "This field is required"),
    (dict(GOOD_ORG, name="x", street_code=""), "street_code", "This field is required"),
    (GOOD_ORG, "name", "already registered"),  # twice in the file
    (dict(GOOD_ORG, name="x", node_codes="CA,C2"), "node_codes", "another street: C2"),
    (dict(GOOD_ORG, name="名" * 101), "name", "at most 100 characters"),
])
def test_organisation_import_one_bad_row_writes_nothing(world, admin_user, bad, column, reason):
    node(node(name="第二街道", code="ST2"), code="C2", name="社区C")
    before = counts()
    errors = failed(excel.import_organisations, sheet(excel.ORGANISATIONS, [GOOD_ORG, bad]), admin_user)
    assert has_error(errors, 3, label(excel.ORGANISATIONS, column), reason), errors
    assert all(e.row == 3 for e in errors), errors
    assert counts() == before
    assert not Organisation.objects.filter(name="社区党支部A").exists()


def test_organisation_already_in_the_database_is_refused(world, admin_user):
    row = {"name": world.property.name, "kind": "property", "street_code": "ST"}
    errors = failed(excel.import_organisations, sheet(excel.ORGANISATIONS, [GOOD_ORG, row]), admin_user)
    assert has_error(errors, 3, label(excel.ORGANISATIONS, "name"), "already registered")
    assert Organisation.objects.count() == 1


# --- rosters ----------------------------------------------------------------------------------

GOOD_ROLE = {"username": "leader_new", "name": "新组长", "phone": "13500001234", "node_code": "CA-G2",
             "role": "micro-grid leader", "post": "A post (primary)", "public_phone": "13600002222",
             "start": datetime.date(2025, 1, 1)}


def test_roster_import_creates_users_and_roles(world, admin_user):
    rows = [
        GOOD_ROLE,
        # Raw codes are accepted as well as labels; an existing user keeps their name and phone.
        {"username": "leader_a", "name": "别名", "phone": "13900000000", "node_code": "CB-G2", "role": "leader",
         "post": "B", "start": "2025-02-01", "end": "2025-12-31"},
        {"username": "prop_new", "name": "物业员", "node_code": "CA-R1", "role": "property company staff",
         "organisation": world.property.name, "start": datetime.date(2025, 1, 1)},
    ]
    assert excel.import_roster(sheet(excel.ROSTER, rows), actor=admin_user) == 3
    new = RoleAssignment.objects.select_related("user").get(user__username="leader_new")
    assert (new.node, new.role, new.post, new.public_phone, new.start, new.end) == (
        world.a.mg2, Role.LEADER, Post.A, "13600002222", datetime.date(2025, 1, 1), None)
    assert (new.user.name, new.user.phone) == ("新组长", "13500001234")
    b = RoleAssignment.objects.get(user__username="leader_a", node=world.b.mg2)
    assert (b.post, b.start, b.end) == (Post.B, datetime.date(2025, 2, 1), datetime.date(2025, 12, 31))
    world.a.leader.refresh_from_db()
    assert world.a.leader.name != "别名" and world.a.leader.phone == "13800005678"
    assert RoleAssignment.objects.get(user__username="prop_new").organisation == world.property


def test_roster_name_may_be_blank_and_members_may_be_text(world, admin_user):
    # A superuser made by createsuperuser has no name; their roster line must import back.
    assert excel.import_roster(sheet(excel.ROSTER, [dict(GOOD_ROLE, name=None)]), actor=admin_user) == 1
    assert type(world.staff).objects.get(username="leader_new").name == ""
    assert excel.import_households(sheet(excel.HOUSEHOLDS, [dict(GOOD_HOUSEHOLD, members="4")]), actor=admin_user) == 1
    assert Household.objects.get(head="王五").members == 4


def test_roster_organisation_is_looked_up_in_the_node_street(world, admin_user):
    # The same company name registered with another street must not be picked for this one.
    from grid import services as grid_services

    other_street = grid_services.node_create(name="别的街道", code="S2", level=Level.STREET)
    grid_services.organisation_save(name=world.property.name, kind="property", street=other_street)
    row = {"username": "prop_new", "name": "物业员", "node_code": "CA-R1", "role": "property company staff",
           "organisation": world.property.name, "start": datetime.date(2025, 1, 1)}
    assert excel.import_roster(sheet(excel.ROSTER, [row]), actor=admin_user) == 1
    assert RoleAssignment.objects.get(user__username="prop_new").organisation == world.property


@pytest.mark.parametrize("bad, column, reason", [
    # A second open A post on a micro-grid that has one (leader_a on CA-G1).
    (dict(GOOD_ROLE, username="x", node_code="CA-G1"), "post", "already has an A-post leader"),
    # A second open A post on the micro-grid the first row just filled.
    (dict(GOOD_ROLE, username="x"), "post", "already has an A-post leader"),
    (dict(GOOD_ROLE, username="x", node_code="NOPE"), "node_code", "Unknown node code NOPE"),
    (dict(GOOD_ROLE, username="x", node_code="CA-R1"), "node_code", "appointed to a micro-grid"),
    (dict(GOOD_ROLE, username="x", node_code="CA-G1", post=None), "post", "holds the A or the B post"),
    (dict(GOOD_ROLE, username="x", node_code="CA", role="secretary", post="B"), "post", "Only micro-grid leaders"),
    (dict(GOOD_ROLE, username="x", node_code="CA-R1", role="community party secretary", post=None),
     "node_code", "appointed at a community"),
    (dict(GOOD_ROLE, username="x", node_code="CA-R1", role="property_staff", post=None),
     "organisation", "must name their property company"),
    (dict(GOOD_ROLE, username="x", node_code="CB-G2", organisation="无此公司"), "organisation",
     "Unknown organisation 无此公司"),
    (dict(GOOD_ROLE, username="x", node_code="CB-G2", phone="1380000"), "phone", "Not a valid phone number"),
    (dict(GOOD_ROLE, username="x", node_code="CB-G2", public_phone="136****2222"), "public_phone",
     "masked numbers cannot be imported"),
    (dict(GOOD_ROLE, username="x", node_code="CB-G2", start="2025-02-30"), "start", "YYYY-MM-DD"),
    (dict(GOOD_ROLE, username="x", node_code="CB-G2", start=None), "start", "This field is required"),
    (dict(GOOD_ROLE, username="x", node_code="CB-G2", end=datetime.date(2024, 12, 31)), "end",
     "before the start date"),
    (dict(GOOD_ROLE, username="x", node_code="CB-G2", role="mayor"), "role", "not one of the allowed values"),
    (dict(GOOD_ROLE, username="", node_code="CB-G2"), "username", "This field is required"),
    (dict(GOOD_ROLE, username="bad name!", node_code="CB-G2"), "username", "valid username"),
])
def test_roster_import_one_bad_row_writes_nothing(world, admin_user, bad, column, reason):
    before, snapshot = counts(), roster_snapshot()
    errors = failed(excel.import_roster, sheet(excel.ROSTER, [GOOD_ROLE, bad]), admin_user)
    assert has_error(errors, 3, label(excel.ROSTER, column), reason), errors
    assert all(e.row == 3 for e in errors), errors
    # Users created on the way by earlier rows are rolled back with everything else.
    assert counts() == before and roster_snapshot() == snapshot
    assert not User.objects.filter(username__in=["leader_new", "x", "bad name!"]).exists()


# --- the reader -------------------------------------------------------------------------------


def test_not_a_workbook(world, admin_user):
    f = BytesIO(b"code,name\nX,Y\n")
    errors = failed(excel.import_tree, f, admin_user)
    assert [(e.row, e.column) for e in errors] == [(1, "-")] and "not an Excel" in errors[0].reason


def test_a_missing_required_column_is_named(world, admin_user):
    header = [h for h in labels(excel.HOUSEHOLDS) if h != "members"]
    errors = failed(excel.import_households, workbook(header, [["CA-G2", "", "", "", "王五", ""]]), admin_user)
    assert [(e.row, e.column) for e in errors] == [(1, "members")]
    assert "missing from the header row" in errors[0].reason
    # An optional column may be left out altogether.
    header = ["micro-grid code", "head of household", "members"]
    assert excel.import_households(workbook(header, [["CA-G2", "王五", 2]]), actor=admin_user) == 1


def test_columns_in_any_order_with_extra_columns_and_raw_keys(world, admin_user):
    header = ["备注", "members", "head", " grid_code ", "tags"]  # a note column, keys as headers, stray spaces
    f = workbook(header, [["新户", 3, "孙八", "CB-G2", "veteran"]])
    assert excel.import_households(f, actor=admin_user) == 1
    h = Household.objects.get(head="孙八")
    assert (h.grid, h.members, [t.code for t in h.tags.all()]) == (world.b.mg2, 3, ["veteran"])


def test_too_many_rows(world, admin_user, monkeypatch):
    from common import excel as common_excel  # the reader is the framework's

    monkeypatch.setattr(common_excel, "MAX_ROWS", 2)
    rows = [dict(GOOD_HOUSEHOLD, room=str(i)) for i in range(3)]
    errors = failed(excel.import_households, sheet(excel.HOUSEHOLDS, rows), admin_user)
    assert [e.row for e in errors] == [4] and "Too many rows" in errors[0].reason
    assert not Household.objects.filter(head="王五").exists()


# --- languages --------------------------------------------------------------------------------


def test_export_in_english_imports_under_chinese(rich, admin_user):
    snapshots = (tree_snapshot(), organisation_snapshot(), household_snapshot(), roster_snapshot())
    with translation.override("en"):
        files = {name: export(admin_user) for name, (export, _imp) in excel.REGISTERS.items()}
    assert read(files["tree"])[0] == labels(excel.TREE, "en")
    for street in GridNode.objects.filter(level=Level.STREET):
        services.street_purge(street=street)
    User.objects.exclude(pk=admin_user.pk).delete()
    with translation.override("zh-hans"):
        for name in ("tree", "organisations", "households", "roster"):
            excel.REGISTERS[name][1](BytesIO(files[name]), actor=admin_user)
    assert (tree_snapshot(), organisation_snapshot(), household_snapshot(), roster_snapshot()) == snapshots
    assert tree_faults() == []


def test_chinese_headers_and_choice_labels_import_under_english(world, admin_user):
    with translation.override("zh-hans"):
        tree_row = [str(Level.COMPOUND.label), "小区A2", "CA", str(Kind.SETTLEMENT.label), "CA-R2"]
        role_row = ["新组长", "leader_new", "CA-G2", str(Role.LEADER.label), str(Post.B.label), datetime.date(2025, 1, 1)]
    zh_tree = dict(zip([c.key for c in excel.TREE], labels(excel.TREE, "zh-hans")))
    header = [zh_tree["level"], zh_tree["name"], zh_tree["parent_code"], zh_tree["kind"], zh_tree["code"]]
    with translation.override("en"):
        assert excel.import_tree(workbook(header, [tree_row]), actor=admin_user) == 1
    n = GridNode.objects.get(code="CA-R2")
    assert (n.level, n.kind, n.parent.code) == (Level.COMPOUND, Kind.SETTLEMENT, "CA")
    assert tree_faults() == []

    zh_roster = dict(zip([c.key for c in excel.ROSTER], labels(excel.ROSTER, "zh-hans")))
    header = [zh_roster[k] for k in ("name", "username", "node_code", "role", "post", "start")]
    with translation.override("en"):
        assert excel.import_roster(workbook(header, [role_row]), actor=admin_user) == 1
    ra = RoleAssignment.objects.get(user__username="leader_new")
    assert (ra.user.name, ra.node.code, ra.role, ra.post) == ("新组长", "CA-G2", Role.LEADER, Post.B)


def test_errors_name_the_column_in_the_users_language(world, admin_user):
    with translation.override("zh-hans"):
        zh_name = label(excel.TREE, "name")
        errors = failed(excel.import_tree, sheet(excel.TREE, [dict(GOOD_TREE_ROW, name="")]), admin_user)
    assert [(e.row, e.column) for e in errors] == [(2, zh_name)]


# --- scope and phones -------------------------------------------------------------------------


def test_a_secretary_exports_only_their_community(rich):
    secretary = rich.a.secretary
    assert set(column_values(excel.export_tree(secretary), excel.TREE, "code")) == codes_under(rich.a.community)
    assert set(column_values(excel.export_households(secretary), excel.HOUSEHOLDS, "grid_code")) == {"CA-G1", "CA-G2"}
    assert len(read(excel.export_households(secretary))[1]) == 3
    users = column_values(excel.export_roster(secretary), excel.ROSTER, "username")
    assert sorted(users) == ["leader_a", "leader_a_b", "old_leader", "prop_a", "secretary_a"]
    assert sorted(column_values(excel.export_roster(secretary, a_posts_only=True), excel.ROSTER, "username")) == [
        "leader_a"]
    # Organisations serving a node of community A; none registered only elsewhere.
    assert sorted(column_values(excel.export_organisations(secretary), excel.ORGANISATIONS, "name")) == sorted(
        [rich.property.name, rich.branch.name])
    assert column_values(excel.export_organisations(rich.b.secretary), excel.ORGANISATIONS, "name") == [
        rich.branch.name]


def test_phones_are_masked_without_the_phone_right(rich):
    secretary = rich.a.secretary
    phones = column_values(excel.export_households(secretary), excel.HOUSEHOLDS, "phone")
    assert phones and all("****" in p for p in phones), phones
    assert "137****2222" in phones
    roster = read(excel.export_roster(secretary))[1]
    private = {r["username"]: r[label(excel.ROSTER, "phone")] for r in roster}
    assert private["leader_a"] == "138****5678" and private["prop_a"] is None
    # Public phones are for the notice board: shown as they are.
    assert "13600001111" in [r[label(excel.ROSTER, "public_phone")] for r in roster]

    services.user_grant_admin(user=rich.staff, role=Role.STREET_STAFF)  # carries grid.view_full_phone
    staff = User.objects.get(pk=rich.staff.pk)
    phones = column_values(excel.export_households(staff), excel.HOUSEHOLDS, "phone")
    assert "13711112222" in phones and not any("*" in (p or "") for p in phones)


def test_a_masked_export_does_not_import_back(world):
    secretary = world.a.secretary
    data = excel.export_households(secretary)
    for h in Household.objects.filter(community=world.a.community):
        services.household_delete(household=h)
    before = counts()
    errors = failed(excel.import_households, BytesIO(data), secretary)
    assert len(errors) == 3
    assert all(e.column == label(excel.HOUSEHOLDS, "phone") and "masked" in e.reason for e in errors)
    assert counts() == before


# --- the admin views --------------------------------------------------------------------------

EXPORTS = [
    ("admin:grid_gridnode_export", excel.TREE, 13),
    ("admin:grid_household_export", excel.HOUSEHOLDS, 6),
    ("admin:grid_organisation_export", excel.ORGANISATIONS, 1),
    ("admin:grid_roleassignment_export", excel.ROSTER, 5),
    ("admin:grid_roleassignment_export_a_posts", excel.ROSTER, 2),
]


@pytest.mark.parametrize("url, columns, rows", EXPORTS)
def test_admin_export_returns_a_workbook(world, admin_client, url, columns, rows):
    response = admin_client.get(reverse(url))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert response["Content-Disposition"].startswith("attachment;") and ".xlsx" in response["Content-Disposition"]
    header, data = read(response.content)
    assert header == labels(columns) and len(data) == rows


@pytest.mark.parametrize("url", [u for u, _c, _r in EXPORTS])
def test_admin_export_of_a_subtree(world, admin_client, url):
    response = admin_client.get(reverse(url), {"ancestor": world.b.community.pk})
    assert response.status_code == 200
    wb = load_workbook(BytesIO(response.content), read_only=True)
    codes = [c for row in wb.worksheets[0].iter_rows(min_row=2, values_only=True) for c in row if isinstance(c, str)]
    assert not any(c.startswith("CA") for c in codes), codes


def test_admin_import_of_a_good_file_redirects_and_writes(world, admin_client):
    url = reverse("admin:grid_household_import")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"file": upload(sheet(excel.HOUSEHOLDS, [GOOD_HOUSEHOLD]))})
    assert response.status_code == 302
    assert response.url == reverse("admin:grid_household_changelist")
    h = Household.objects.get(head="王五")
    assert h.grid == world.a.mg2
    followed = admin_client.get(response.url)
    assert "Imported 1 row." in followed.content.decode()


def test_admin_tree_import_writes_a_sound_tree(world, admin_client):
    rows = [GOOD_TREE_ROW, {"code": "CA-R2-G1", "name": "网格", "level": "micro-grid", "kind": "residential",
                            "parent_code": "CA-R2"}]
    response = admin_client.post(reverse("admin:grid_gridnode_import"), {"file": upload(sheet(excel.TREE, rows))})
    assert response.status_code == 302
    assert GridNode.objects.get(code="CA-R2-G1").parent.code == "CA-R2"
    assert tree_faults() == []


def test_admin_import_of_a_bad_file_shows_the_error_table(world, admin_client):
    before = counts()
    rows = [GOOD_HOUSEHOLD, dict(GOOD_HOUSEHOLD, room="302", phone="138****5678"),
            dict(GOOD_HOUSEHOLD, room="303", grid_code="NOPE")]
    response = admin_client.post(reverse("admin:grid_household_import"),
                                 {"file": upload(sheet(excel.HOUSEHOLDS, rows))})
    assert response.status_code == 200
    assert [(e.row, e.column) for e in response.context["errors"]] == [(3, "phone"), (4, "micro-grid code")]
    html = response.content.decode()
    assert 'id="import-errors"' in html and "2 problems found; nothing was imported." in html
    assert "<td>4</td><td>micro-grid code</td><td>Unknown micro-grid code NOPE.</td>" in html
    assert counts() == before


def test_admin_import_refuses_a_file_that_is_not_xlsx(world, admin_client):
    before = counts()
    csv = SimpleUploadedFile("households.csv", b"micro-grid code,head of household,members\nCA-G2,x,1\n",
                             content_type="text/csv")
    response = admin_client.post(reverse("admin:grid_household_import"), {"file": csv})
    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["Upload an .xlsx file."]}
    assert response.context["errors"] == []
    assert counts() == before
    # Named .xlsx but not a workbook: the form passes it on and the reader refuses it.
    fake = SimpleUploadedFile("households.xlsx", b"not a zip", content_type=XLSX)
    response = admin_client.post(reverse("admin:grid_household_import"), {"file": fake})
    assert response.status_code == 200
    assert "not an Excel" in response.context["errors"][0].reason
    assert counts() == before


def test_admin_excel_views_need_a_staff_login(world, client):
    for name in ("admin:grid_household_export", "admin:grid_household_import"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response.url
    client.force_login(world.a.secretary)  # not staff yet
    assert client.get(reverse("admin:grid_household_export")).status_code == 302


def test_admin_for_a_secretary_is_scoped_and_masked(world, client):
    secretary = world.a.secretary
    services.user_grant_admin(user=secretary, role=Role.SECRETARY)
    client.force_login(secretary)
    response = client.get(reverse("admin:grid_household_export"))
    assert response.status_code == 200
    _header, rows = read(response.content)
    assert {r["micro-grid code"] for r in rows} == {"CA-G1", "CA-G2"}
    assert all("****" in r["phone"] for r in rows)

    before = counts()
    response = client.post(reverse("admin:grid_household_import"),
                           {"file": upload(sheet(excel.HOUSEHOLDS, [dict(GOOD_HOUSEHOLD, grid_code="CB-G1")]))})
    assert response.status_code == 200
    assert "Unknown micro-grid code CB-G1." in [e.reason for e in response.context["errors"]]
    assert counts() == before
    response = client.post(reverse("admin:grid_household_import"),
                           {"file": upload(sheet(excel.HOUSEHOLDS, [GOOD_HOUSEHOLD]))})
    assert response.status_code == 302 and Household.objects.get(head="王五").community == world.a.community

    # A secretary may not add nodes or roster lines.
    assert client.get(reverse("admin:grid_gridnode_import")).status_code == 403
    response = client.post(reverse("admin:grid_gridnode_import"), {"file": upload(sheet(excel.TREE, [GOOD_TREE_ROW]))})
    assert response.status_code == 403 and not GridNode.objects.filter(code="CA-R2").exists()
    assert client.get(reverse("admin:grid_roleassignment_import")).status_code == 403
    # … but may read the roster of their community, A posts included.
    response = client.get(reverse("admin:grid_roleassignment_export_a_posts"))
    assert [r[label(excel.ROSTER, "username")] for r in read(response.content)[1]] == ["leader_a"]


def test_admin_for_street_staff_exports_full_phones_and_imports_the_tree(world, client):
    services.user_grant_admin(user=world.staff, role=Role.STREET_STAFF)
    client.force_login(world.staff)
    response = client.get(reverse("admin:grid_roleassignment_export"))
    assert response.status_code == 200
    private = column_values(response.content, excel.ROSTER, "phone")
    assert private and set(private) == {"13800005678"}
    response = client.post(reverse("admin:grid_gridnode_import"), {"file": upload(sheet(excel.TREE, [GOOD_TREE_ROW]))})
    assert response.status_code == 302
    assert GridNode.objects.get(code="CA-R2").parent == world.a.community
    assert tree_faults() == []
    # Street staff do not create streets.
    response = client.post(reverse("admin:grid_gridnode_import"),
                           {"file": upload(sheet(excel.TREE, [{"code": "NS", "name": "x", "level": "street"}]))})
    assert response.status_code == 200 and not GridNode.objects.filter(code="NS").exists()


def test_admin_round_trip_of_the_roster_across_languages(rich, admin_client, admin_user):
    before = roster_snapshot()
    response = admin_client.get(reverse("admin:grid_roleassignment_export"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    data = response.content
    assert read(data)[0] == labels(excel.ROSTER, "zh-hans")
    for ra in RoleAssignment.objects.all():
        services.role_delete(assignment=ra)
    response = admin_client.post(reverse("admin:grid_roleassignment_import"), {"file": upload(data)})
    assert response.status_code == 302
    assert roster_snapshot() == before
