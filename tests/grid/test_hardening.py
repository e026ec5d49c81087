"""Hostile or careless input against the grid's admin and API: powers, hidden phones, foreign ids."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from grid import excel, services
from grid.models import GridNode, Level, Post, Role, RoleAssignment
from tests.factories import UserFactory
from tests.support import client_for, image

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_street_staff_cannot_grant_themselves_powers(staff_client, world):
    url = reverse("admin:grid_user_change", args=[world.staff.pk])
    page = staff_client.get(url)
    assert "is_superuser" not in page.context["adminform"].form.fields
    staff_client.post(url, {"username": "staff", "name": "x", "is_superuser": "on", "is_staff": "on"})
    assert not User.objects.get(pk=world.staff.pk).is_superuser


def test_administrators_are_out_of_reach_of_street_staff(staff_client, world):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert staff_client.get(reverse("admin:grid_user_change", args=[root.pk])).status_code == 404
    assert staff_client.get(f"/admin/grid/user/{root.pk}/password/").status_code == 404
    listed = staff_client.get(reverse("admin:grid_user_changelist"), {"q": "root"}).context["cl"].result_list
    assert root not in listed


def test_masked_phones_cannot_be_read_through_filters(secretary_client, world):
    h = world.a.households[0]
    url = reverse("admin:grid_household_changelist")
    response = secretary_client.get(url, {"id": h.pk, "phone__startswith": h.phone[:3]})
    assert response.status_code == 400  # a refused lookup (DisallowedModelAdminLookup)
    users = secretary_client.get(reverse("admin:grid_user_changelist"), {"phone__startswith": "138"})
    assert users.status_code == 400


def test_api_ordering_on_phone_is_ignored(world):
    c = client_for(world.a.secretary)
    plain = [i["id"] for i in c.get("/api/v1/grid/households/").json()["results"]]
    by_phone = [i["id"] for i in c.get("/api/v1/grid/households/", {"ordering": "-phone"}).json()["results"]]
    assert by_phone == plain


@pytest.mark.parametrize("url,param", [
    ("/api/v1/grid/nodes/", "parent"), ("/api/v1/grid/households/", "grid"), ("/api/v1/grid/roles/", "node"),
    ("/api/v1/grid/organisations/", "node"), ("/api/v1/grid/nodes/", "ancestor"),
])
def test_id_filters_refuse_garbage_and_name_nothing(world, url, param):
    c = client_for(world.a.leader)
    assert c.get(url, {param: "99999999999999999999999"}).status_code == 400
    assert c.get(url, {param: "abc"}).status_code == 400
    html = c.get(url, HTTP_ACCEPT="text/html").content.decode()
    assert "社区B" not in html and "测试街道" not in html  # no choice list of every node


def test_admin_subtree_filter_with_garbage_is_not_a_500(staff_client):
    assert staff_client.get(reverse("admin:grid_gridnode_changelist"), {"ancestor": "abc"}).status_code in (200, 302)
    assert staff_client.get(reverse("admin:grid_gridnode_export"), {"ancestor": "abc"}).status_code == 200


def test_roster_form_offers_only_people_in_scope(secretary_client, world):
    other = UserFactory(username="other_street_person")
    services.role_assign(user=other, node=services.node_create(name="别街", code="S9", level=Level.STREET),
                         role=Role.STREET_STAFF)
    services.user_grant_admin(user=world.a.secretary, role=Role.STREET_STAFF)  # may add roster lines
    response = secretary_client.post(reverse("admin:grid_roleassignment_add"), {
        "user": other.pk, "node": world.a.mg2.pk, "role": Role.LEADER, "post": Post.A, "start": "2026-01-01"})
    assert response.status_code == 200 and "user" in response.context["adminform"].form.errors
    assert not RoleAssignment.objects.filter(user=other, node=world.a.mg2).exists()


def test_care_tags_are_for_administrators(staff_client):
    assert staff_client.get(reverse("admin:grid_caretag_add")).status_code == 403


def test_clearing_a_floor_plan(staff_client, world, media):
    n = world.a.compound
    services.node_update(node=n, floor_plan=image("plan.png", size=(10, 10), colour="white"))
    data = {"name": n.name, "code": n.code, "level": n.level, "kind": n.kind, "parent": n.parent_id,
            "boundary": "", "floor_plan-clear": "on"}
    assert staff_client.post(reverse("admin:grid_gridnode_change", args=[n.pk]), data).status_code == 302
    assert not GridNode.objects.get(pk=n.pk).floor_plan


def test_street_staff_cannot_create_a_street(staff_client):
    response = staff_client.post(reverse("admin:grid_gridnode_add"),
                                 {"name": "新街道", "code": "NEWST", "level": Level.STREET, "kind": "", "boundary": ""})
    assert response.status_code == 200 and "level" in response.context["adminform"].form.errors
    assert not GridNode.objects.filter(code="NEWST").exists()


def test_organisation_serving_another_street_is_a_field_error(client, world):
    root = UserFactory(username="root2", is_superuser=True, is_staff=True)
    client.force_login(root)
    other = services.node_create(name="别街", code="S8", level=Level.STREET)
    comm = services.node_create(name="别社区", code="S8C", level=Level.COMMUNITY, parent=other)
    response = client.post(reverse("admin:grid_organisation_add"),
                           {"name": "跨街物业", "kind": "property", "phone": "", "street": world.street.pk, "nodes": [comm.pk]})
    assert response.status_code == 200 and "nodes" in response.context["adminform"].form.errors


def test_tree_import_reports_a_compound_under_a_street_by_row(world, english):
    from io import BytesIO

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["code", "name", "level", "kind", "parent code"])
    ws.append(["ST-X", "直挂小区", "compound", "residential", "ST"])
    buf = BytesIO()
    wb.save(buf)
    buf.seek(0)
    with pytest.raises(excel.ImportFailed) as e:
        excel.import_tree(buf, actor=UserFactory(username="root3", is_superuser=True))
    assert [(x.row, x.column) for x in e.value.errors] == [(2, "parent code")]
