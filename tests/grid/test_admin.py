"""The street office's admin (grid/admin.py): scope, masking, counts, and writes through the services."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from grid import checks, services
from grid.models import ChangeLog, GridNode, Household, Kind, Level, RoleAssignment
from tests.factories import UserFactory, node
from tests.support import image, message_texts

FULL = "13912345678"
MASKED = "139****5678"

# The grid-node changelist costs this many queries whatever the number of nodes on the page
# (a superuser needs no scope or permission look-ups).
NODE_CHANGELIST_BUDGET = {"superuser": 8, "staff": 11}


def url(model, view="changelist", *args):
    return reverse(f"admin:grid_{model}_{view}", args=args)


def node_form(n, **overrides):
    data = {
        "name": n.name, "code": n.code, "level": n.level, "kind": n.kind,
        "parent": n.parent_id or "", "boundary": "",
    }
    data.update(overrides)
    return data


def codes(response):
    return {n.code for n in response.context["cl"].result_list}


def assert_tree_sound():
    assert checks.tree_faults() == []


# --- every register opens --------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["gridnode", "household", "organisation", "roleassignment", "caretag", "changelog", "user",
              "apostroster", "vacantmicrogrid"]
)
def test_superuser_opens_every_changelist(client, world, superuser, model):
    client.force_login(superuser)
    response = client.get(url(model))
    assert response.status_code == 200
    assert response.context["cl"].result_count > 0


@pytest.mark.parametrize("model", ["gridnode", "household", "organisation", "roleassignment", "user"])
def test_superuser_opens_every_add_form(client, world, superuser, model):
    client.force_login(superuser)
    assert client.get(url(model, "add")).status_code == 200


def test_superuser_opens_change_pages(client, world, superuser):
    client.force_login(superuser)
    assert client.get(url("gridnode", "change", world.a.mg1.pk)).status_code == 200
    assert client.get(url("household", "change", world.a.households[0].pk)).status_code == 200
    assert client.get(url("roleassignment", "change", world.a.leader_role.pk)).status_code == 200
    assert client.get(url("user", "change", world.a.leader.pk)).status_code == 200


def test_anonymous_is_sent_to_the_admin_login(client, world):
    response = client.get(url("household"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- the tree with counts --------------------------------------------------------------------


def test_node_changelist_shows_subtree_counts(client, world, superuser):
    client.force_login(superuser)
    response = client.get(url("gridnode"))
    assert response.status_code == 200
    by_code = {n.code: n.subtree for n in response.context["cl"].result_list}
    assert by_code["ST"] == {"microgrids": 4, "households": 6, "leaders": 2, "vacancies": 2}
    assert by_code["CA"] == {"microgrids": 2, "households": 3, "leaders": 1, "vacancies": 1}
    assert by_code["CA-R1-B1"] == {"microgrids": 1, "households": 2, "leaders": 1, "vacancies": 0}
    assert by_code["CB-G2"] == {"microgrids": 1, "households": 1, "leaders": 0, "vacancies": 1}
    html = response.content.decode()
    for column in ("households", "leaders", "vacancies"):
        assert f'class="column-{column}' in html
    assert '<td class="field-households">6</td>' in html


@pytest.mark.parametrize("who", ["superuser", "staff"])
def test_node_changelist_query_count_does_not_grow_with_nodes(
    client, world, request, who, django_assert_max_num_queries
):
    client.force_login(request.getfixturevalue(who))
    budget = NODE_CHANGELIST_BUDGET[who]
    with django_assert_max_num_queries(budget):
        small = client.get(url("gridnode"))
    assert small.context["cl"].result_count == 13
    for i in range(60):
        mg = node(world.b.compound, level=Level.MICROGRID, kind=Kind.BUSINESS, name=f"商户{i}", code=f"CB-X{i:02d}")
        if i % 2:
            services.household_create(grid=mg, head=f"商户主{i}", phone=FULL, members=1)
    with django_assert_max_num_queries(budget):
        big = client.get(url("gridnode"))
    assert big.context["cl"].result_count == 73
    assert len(big.context["cl"].result_list) == 73
    by_code = {n.code: n.subtree for n in big.context["cl"].result_list}
    assert by_code["CB"] == {"microgrids": 62, "households": 33, "leaders": 1, "vacancies": 61}
    assert_tree_sound()


def test_vacancy_filter_lists_microgrids_without_an_a_post_leader(client, world, superuser):
    # A B-post leader does not fill the vacancy; an ended A post does not count either.
    services.role_assign(user=UserFactory(), node=world.a.mg2, role="leader", post="B")
    client.force_login(superuser)
    response = client.get(url("gridnode"), {"vacant": "1"})
    assert codes(response) == {"CA-G2", "CB-G2"}
    response = client.get(url("gridnode"), {"vacant": "0"})
    assert codes(response) == {"CA-G1", "CB-G1"}
    services.role_update(
        assignment=world.b.leader_role, start=datetime.date(2020, 1, 1),
        end=timezone.localdate() - datetime.timedelta(days=1),
    )
    response = client.get(url("gridnode"), {"vacant": "1"})
    assert codes(response) == {"CA-G2", "CB-G1", "CB-G2"}


def test_subtree_filter(client, world, superuser):
    client.force_login(superuser)
    response = client.get(url("household"), {"ancestor": world.b.community.pk})
    assert {h.pk for h in response.context["cl"].result_list} == {h.pk for h in world.b.households}
    response = client.get(url("gridnode"), {"ancestor": world.a.community.pk, "level": Level.MICROGRID})
    assert codes(response) == {"CA-G1", "CA-G2"}


# --- scope -----------------------------------------------------------------------------------


def test_street_staff_see_the_whole_street(client, world, staff):
    client.force_login(staff)
    response = client.get(url("household"))
    assert response.status_code == 200
    expected = {h.pk for h in world.a.households + world.b.households}
    assert {h.pk for h in response.context["cl"].result_list} == expected
    response = client.get(url("gridnode"))
    assert {"ST", "CA", "CB", "CA-G1", "CB-G2"} <= codes(response)
    assert client.get(url("household", "change", world.b.households[0].pk)).status_code == 200
    assert client.get(url("changelog")).status_code == 200


def test_secretary_sees_only_their_community(client, world, secretary):
    client.force_login(secretary)
    response = client.get(url("household"))
    assert response.status_code == 200
    assert {h.pk for h in response.context["cl"].result_list} == {h.pk for h in world.a.households}
    html = response.content.decode()
    for h in world.b.households:
        assert h.head not in html

    response = client.get(url("gridnode"))
    assert response.status_code == 200
    assert codes(response) == {"CA", "CA-R1", "CA-R1-B1", "CA-R1-B1-U1", "CA-G1", "CA-G2"}
    assert "社区B" not in response.content.decode()

    response = client.get(url("roleassignment"))
    assert {ra.node.code for ra in response.context["cl"].result_list} == {"CA", "CA-G1"}


def test_secretary_gets_no_data_of_another_community(client, world, secretary):
    client.force_login(secretary)
    other = world.b.households[0]
    response = client.get(url("household", "change", other.pk))
    assert response.status_code == 404
    assert other.head not in response.content.decode()
    # Writing to it is refused the same way and changes nothing.
    response = client.post(url("household", "change", other.pk), {"head": "改掉", "members": 1})
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.head != "改掉"
    response = client.get(url("gridnode", "change", world.b.mg1.pk))
    assert response.status_code == 404
    assert "微网格B1" not in response.content.decode()


def test_secretary_cannot_read_the_change_log_or_edit_the_tree(client, world, secretary):
    client.force_login(secretary)
    assert client.get(url("changelog")).status_code == 403
    assert client.get(url("gridnode", "add")).status_code == 403


def test_secretary_subtree_filter_offers_only_their_community(client, world, secretary):
    client.force_login(secretary)
    response = client.get(url("household"))
    [spec] = [f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "ancestor"]
    assert [pk for pk, _label in spec.lookup_choices] == [world.a.community.pk]
    # Asking for the other community's subtree gives nothing, not its rows.
    response = client.get(url("household"), {"ancestor": world.b.community.pk})
    assert list(response.context["cl"].result_list) == []


# --- phones ----------------------------------------------------------------------------------


def test_household_phones_masked_for_the_secretary(client, world, secretary):
    client.force_login(secretary)
    html = client.get(url("household")).content.decode()
    assert MASKED in html
    assert FULL not in html
    change = client.get(url("household", "change", world.a.households[0].pk)).content.decode()
    assert MASKED in change
    assert FULL not in change


def test_household_phones_full_for_street_staff(client, world, staff):
    assert staff.groups.filter(permissions__codename="view_full_phone").exists()
    client.force_login(staff)
    html = client.get(url("household")).content.decode()
    assert FULL in html
    assert MASKED not in html


def test_user_change_page_masks_the_private_phone_for_the_secretary(client, world, secretary):
    client.force_login(secretary)
    response = client.get(url("user", "change", world.a.leader.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "138****5678" in html
    assert "13800005678" not in html


def test_secretary_edits_a_household_without_touching_its_phone(client, world, secretary):
    h = world.a.households[0]
    client.force_login(secretary)
    data = {"grid": h.grid_id, "building": h.building, "unit": h.unit, "room": h.room, "head": "新户主",
            "members": 4, "tags": [t.pk for t in h.tags.all()]}
    response = client.post(url("household", "change", h.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    h.refresh_from_db()
    assert (h.head, h.members, h.phone) == ("新户主", 4, FULL)
    log = ChangeLog.objects.filter(model="household", object_id=str(h.pk), action="update").get()
    assert log.actor == secretary
    assert log.changes["head"][1] == "新户主"
    assert "phone" not in log.changes


@pytest.mark.parametrize("where", ["unit", "compound"])
def test_household_on_a_node_that_is_not_a_microgrid_is_a_field_error(client, world, staff, where):
    grid = getattr(world.a, where)
    client.force_login(staff)
    before = Household.objects.count()
    data = {"grid": grid.pk, "head": "错位户", "phone": "", "members": 1, "building": "", "unit": "",
            "room": ""}
    response = client.post(url("household", "add"), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors.get("grid")
    assert Household.objects.count() == before


# --- writes to the tree go through the services ----------------------------------------------


def test_adding_a_node_goes_through_the_services(client, world, staff):
    client.force_login(staff)
    data = {"name": "2栋", "code": "CA-R1-B2", "level": Level.BUILDING, "kind": "",
            "parent": world.a.compound.pk, "boundary": ""}
    response = client.post(url("gridnode", "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    created = GridNode.objects.get(code="CA-R1-B2")
    assert created.parent == world.a.compound
    assert created.is_child_node()
    log = ChangeLog.objects.get(model="gridnode", object_id=str(created.pk), action="create")
    assert log.actor == staff
    assert_tree_sound()


def test_floor_plan_upload_is_checked(client, world, staff, media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(staff)
    n = world.a.compound
    bad = client.post(url("gridnode", "change", n.pk),
                      {**node_form(n), "floor_plan": SimpleUploadedFile("plan.png", b"not an image")})
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors.get("floor_plan")
    assert not GridNode.objects.get(pk=n.pk).floor_plan
    plan = image("plan.png", size=(10, 10), colour="white")
    good = client.post(url("gridnode", "change", n.pk), {**node_form(n), "floor_plan": plan})
    assert good.status_code == 302
    assert GridNode.objects.get(pk=n.pk).floor_plan.name.startswith("floor_plans/")
    assert_tree_sound()


@pytest.mark.parametrize(
    "overrides, field",
    [
        # A community under a micro-grid.
        ({"name": "坏社区", "code": "BAD-1", "level": Level.COMMUNITY, "kind": "", "parent": "mg1"}, "parent"),
        # A compound with a micro-grid-only kind.
        ({"name": "坏小区", "code": "BAD-2", "level": Level.COMPOUND, "kind": Kind.BUSINESS, "parent": "community"},
         "kind"),
        # A micro-grid without a kind.
        ({"name": "坏微网格", "code": "BAD-3", "level": Level.MICROGRID, "kind": "", "parent": "unit"}, "kind"),
        # A building above its parent's level.
        ({"name": "坏楼", "code": "BAD-4", "level": Level.BUILDING, "kind": "", "parent": "unit"}, "level"),
        # A second street root is fine, but a community without a parent is not.
        ({"name": "孤社区", "code": "BAD-5", "level": Level.COMMUNITY, "kind": "", "parent": ""}, "parent"),
    ],
)
def test_bad_placement_is_a_field_error_and_writes_nothing(client, world, staff, overrides, field):
    client.force_login(staff)
    if overrides["parent"]:
        overrides = {**overrides, "parent": getattr(world.a, overrides["parent"]).pk}
    nodes, logs = GridNode.objects.count(), ChangeLog.objects.count()
    response = client.post(url("gridnode", "add"), {"boundary": "", **overrides})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert GridNode.objects.count() == nodes
    assert ChangeLog.objects.count() == logs
    assert_tree_sound()


def test_moving_a_node_by_changing_its_parent(client, world, staff):
    client.force_login(staff)
    building = world.a.building
    data = node_form(building, parent=world.b.compound.pk)
    response = client.post(url("gridnode", "change", building.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    building.refresh_from_db()
    assert building.parent == world.b.compound
    assert world.a.mg1 in building.get_descendants()
    # The households below moved with it: their community column follows the tree.
    for h in world.a.households[:2]:
        h.refresh_from_db()
        assert h.community == world.b.community
    log = ChangeLog.objects.filter(model="gridnode", object_id=str(building.pk), action="update").get()
    assert log.changes["parent"] == ["CA-R1", "CB-R1"]
    assert_tree_sound()


def test_renaming_and_moving_in_one_save(client, world, staff):
    client.force_login(staff)
    mg = world.a.mg2
    response = client.post(url("gridnode", "change", mg.pk), node_form(mg, name="新名", parent=world.a.unit.pk))
    assert response.status_code == 302, response.context["adminform"].form.errors
    mg.refresh_from_db()
    assert (mg.name, mg.parent_id) == ("新名", world.a.unit.pk)
    assert_tree_sound()


def test_moving_a_node_to_a_bad_place_is_refused(client, world, staff):
    client.force_login(staff)
    compound = world.a.compound
    response = client.post(url("gridnode", "change", compound.pk), node_form(compound, parent=world.b.mg1.pk))
    assert response.status_code == 200
    assert "parent" in response.context["adminform"].form.errors
    compound.refresh_from_db()
    assert compound.parent == world.a.community
    # The level of an existing node cannot change.
    response = client.post(url("gridnode", "change", compound.pk), node_form(compound, level=Level.BUILDING))
    assert response.status_code == 200
    assert "level" in response.context["adminform"].form.errors
    compound.refresh_from_db()
    assert compound.level == Level.COMPOUND
    assert_tree_sound()


def test_deleting_a_node_with_households_is_refused(client, world, staff):
    client.force_login(staff)
    compound = world.a.compound
    nodes, households, logs = GridNode.objects.count(), Household.objects.count(), ChangeLog.objects.count()
    response = client.post(url("gridnode", "delete", compound.pk), {"post": "yes"})
    # Households protect their micro-grid, so the admin answers with its "cannot delete" page listing
    # them (the service would refuse too, with a message, if the protection were ever bypassed).
    assert response.status_code == 200
    protected = " ".join(str(p) for p in response.context["protected"])
    for h in world.a.households:
        assert h.head in protected
    assert message_texts(response) == []
    assert GridNode.objects.count() == nodes
    assert Household.objects.count() == households
    assert ChangeLog.objects.count() == logs
    assert GridNode.objects.filter(pk=compound.pk).exists()
    assert_tree_sound()


def test_deleting_an_empty_subtree_goes_through_the_services(client, world, staff):
    compound = node(world.a.community, level=Level.COMPOUND, kind=Kind.SETTLEMENT, code="CA-R9")
    building = node(compound, code="CA-R9-B1")
    client.force_login(staff)
    response = client.post(url("gridnode", "delete", compound.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not GridNode.objects.filter(pk__in=[compound.pk, building.pk]).exists()
    assert ChangeLog.objects.filter(model="gridnode", object_id=str(compound.pk), action="delete").exists()
    assert_tree_sound()


def test_a_refusal_by_the_delete_service_is_an_error_message(client, world, staff, monkeypatch):
    # E.g. a household added by someone else between the confirmation page and the service's lock.
    def refuse(**kwargs):
        raise ValidationError("还有住户")

    monkeypatch.setattr(services, "node_delete", refuse)
    empty = node(world.a.community, level=Level.COMPOUND, kind=Kind.SETTLEMENT, code="CA-R8")
    client.force_login(staff)
    response = client.post(url("gridnode", "delete", empty.pk), {"post": "yes"}, follow=True)
    assert response.redirect_chain[-1][0] == url("gridnode", "change", empty.pk)
    assert [m.message for m in response.context["messages"]] == ["还有住户"]
    assert "还有住户" in response.content.decode()
    assert GridNode.objects.filter(pk=empty.pk).exists()
    assert not ChangeLog.objects.filter(model="gridnode", object_id=str(empty.pk), action="delete").exists()
    assert_tree_sound()


def test_bulk_delete_is_not_offered(client, world, staff):
    client.force_login(staff)
    for model in ("gridnode", "household", "roleassignment"):
        response = client.get(url(model))
        actions = response.context["action_form"].fields["action"].choices if response.context.get(
            "action_form") else []
        assert "delete_selected" not in [a for a, _label in actions]


# --- rosters ---------------------------------------------------------------------------------


def roster_form(**kw):
    data = {"user": "", "node": "", "role": "leader", "post": "A", "organisation": "", "public_phone": "",
            "start": timezone.localdate().isoformat(), "end": ""}
    data.update(kw)
    return data


def test_a_second_open_a_post_is_a_field_error(client, world, staff):
    client.force_login(staff)
    newcomer = UserFactory(username="newcomer")
    before = RoleAssignment.objects.count()
    response = client.post(url("roleassignment", "add"), roster_form(user=newcomer.pk, node=world.a.mg1.pk))
    assert response.status_code == 200
    assert "post" in response.context["adminform"].form.errors
    assert RoleAssignment.objects.count() == before


def test_an_a_post_on_a_vacant_microgrid_is_saved_through_the_services(client, world, staff):
    client.force_login(staff)
    newcomer = UserFactory(username="newcomer")
    response = client.post(url("roleassignment", "add"), roster_form(user=newcomer.pk, node=world.a.mg2.pk))
    assert response.status_code == 302, response.context["adminform"].form.errors
    ra = RoleAssignment.objects.get(user=newcomer)
    assert (ra.node, ra.role, ra.post) == (world.a.mg2, "leader", "A")
    assert ChangeLog.objects.filter(model="roleassignment", object_id=str(ra.pk), action="create").exists()
    client.force_login(staff)
    assert codes(client.get(url("gridnode"), {"vacant": "1"})) == {"CB-G2"}


def test_a_leader_on_a_node_that_is_not_a_microgrid_is_a_field_error(client, world, staff):
    client.force_login(staff)
    response = client.post(url("roleassignment", "add"), roster_form(user=UserFactory().pk, node=world.a.unit.pk))
    assert response.status_code == 200
    assert "node" in response.context["adminform"].form.errors


# --- users and autocompletes -----------------------------------------------------------------


def autocomplete(client, model, field, term=""):
    response = client.get(
        reverse("admin:autocomplete"), {"app_label": "grid", "model_name": model, "field_name": field, "term": term}
    )
    assert response.status_code == 200
    return {r["text"] for r in response.json()["results"]}


def test_secretary_sees_only_the_people_of_their_community(client, world, secretary):
    UserFactory(username="newcomer")
    client.force_login(secretary)
    response = client.get(url("user"))
    assert {u.username for u in response.context["cl"].result_list} == {"leader_a", "secretary_a"}
    assert client.get(url("user", "change", world.b.leader.pk)).status_code == 404


def test_street_staff_add_a_login_and_find_it_to_appoint(client, world, staff):
    client.force_login(staff)
    password = "Xk8#mq2!zz-long"
    response = client.post(url("user", "add"), {"username": "fresh", "name": "新人", "password1": password,
                                                 "password2": password}, follow=True)
    fresh = get_user_model().objects.get(username="fresh")
    # The admin lands on the new user's page, not on "this user does not exist".
    assert response.redirect_chain[-1][0] == url("user", "change", fresh.pk)
    assert response.context["original"] == fresh
    assert "新人" in autocomplete(client, "roleassignment", "user", "fresh")
    # People on another street's rosters stay out of sight.
    other = node(name="别的街道", code="ST2")
    other_comm = node(other, code="ST2-C1")
    services.role_assign(user=UserFactory(username="elsewhere", name="外街书记"), node=other_comm, role="secretary")
    assert "外街书记" not in autocomplete(client, "roleassignment", "user", "外街")
    assert not client.get(url("user"), {"q": "elsewhere"}).context["cl"].result_list
    assert_tree_sound()


def test_household_grid_autocomplete_offers_the_secretarys_microgrids_only(client, world, secretary):
    client.force_login(secretary)
    assert autocomplete(client, "household", "grid") == {"微网格A1 (CA-G1)", "微网格A2 (CA-G2)"}


def test_secretary_cannot_add_a_household_in_another_community(client, world, secretary):
    client.force_login(secretary)
    before = Household.objects.count()
    data = {"grid": world.b.mg1.pk, "head": "越界户", "members": 1, "building": "", "unit": "", "room": ""}
    response = client.post(url("household", "add"), data)
    assert response.status_code == 200
    assert "grid" in response.context["adminform"].form.errors
    assert Household.objects.count() == before
    data["grid"] = world.a.mg2.pk
    response = client.post(url("household", "add"), data)
    assert response.status_code == 302
    created = Household.objects.get(head="越界户")
    assert (created.grid, created.community, created.phone) == (world.a.mg2, world.a.community, "")


# --- the A-post roster and the vacant micro-grids: views of the registers --------------------


def test_a_post_roster_is_scoped_with_paths(client, world, secretary):
    client.force_login(secretary)
    response = client.get(url("apostroster"))
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert [r.user.username for r in rows] == ["leader_a"]
    html = response.content.decode()
    assert "社区A" in html and "小区A" in html and "社区B" not in html
    assert client.get(url("apostroster", "change", world.b.leader_role.pk)).status_code == 404


def test_a_post_roster_leaves_out_b_posts_and_ended_posts(client, world, staff):
    from tests.factories import RoleFactory

    RoleFactory(user=world.b.leader, node=world.a.mg2, role="leader", post="B")
    services.role_update(assignment=world.b.leader_role, start=timezone.localdate() - datetime.timedelta(days=9),
                         end=timezone.localdate() - datetime.timedelta(days=1))
    client.force_login(staff)
    rows = client.get(url("apostroster")).context["cl"].result_list
    assert [r.user.username for r in rows] == ["leader_a"]


def test_vacant_microgrids_list(client, world, secretary, django_assert_max_num_queries):
    client.force_login(secretary)
    response = client.get(url("vacantmicrogrid"))
    assert codes(response) == {world.a.mg2.code}
    for i in range(30):
        node(world.a.compound, level=Level.MICROGRID, code=f"CA-V{i:02d}")
    with django_assert_max_num_queries(14):
        response = client.get(url("vacantmicrogrid"))
    assert len(codes(response)) == 31
    assert client.get(url("vacantmicrogrid", "change", world.b.mg2.pk)).status_code == 404


def test_roster_views_cannot_be_edited(client, world, superuser):
    client.force_login(superuser)
    assert client.get(url("apostroster", "add")).status_code == 403
    assert client.post(url("vacantmicrogrid", "delete", world.a.mg2.pk)).status_code == 403
    assert GridNode.objects.filter(pk=world.a.mg2.pk).exists()
