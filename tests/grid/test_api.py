import pytest
from rest_framework.test import APIClient

from grid.models import Level
from tests.factories import HouseholdFactory
from tests.support import PASSWORD, client_for, results, token_client

pytestmark = pytest.mark.django_db


class TestAuth:
    def test_token_for_username_and_password(self, world):
        r = APIClient().post("/api/v1/auth/token/", {"username": "leader_a", "password": PASSWORD})
        assert r.status_code == 200
        token = r.json()["token"]
        assert token_client(token).get("/api/v1/grid/nodes/").status_code == 200

    def test_wrong_password_is_a_field_level_400(self, world):
        r = APIClient().post("/api/v1/auth/token/", {"username": "leader_a", "password": "nope"})
        assert r.status_code == 400
        assert "non_field_errors" in r.json()

    @pytest.mark.parametrize("url", ["/api/v1/grid/nodes/", "/api/v1/grid/households/", "/api/v1/grid/roles/", "/api/v1/grid/organisations/"])
    def test_anonymous_is_refused(self, world, url):
        assert APIClient().get(url).status_code == 401


class TestNodes:
    def test_list_shape_and_pagination(self, world):
        data = client_for(world.staff).get("/api/v1/grid/nodes/", {"page_size": 3}).json()
        assert set(data) == {"count", "next", "previous", "results"}
        assert data["count"] == 13 and len(data["results"]) == 3
        assert set(data["results"][0]) == {"id", "code", "name", "level", "kind", "parent"}

    def test_filters(self, world):
        c = client_for(world.staff)
        assert {n["code"] for n in results(c.get("/api/v1/grid/nodes/", {"level": Level.MICROGRID, "kind": "settlement"}))} == {"CA-G2", "CB-G2"}
        assert {n["code"] for n in results(c.get("/api/v1/grid/nodes/", {"ancestor": world.a.compound.pk}))} == {
            "CA-R1", "CA-R1-B1", "CA-R1-B1-U1", "CA-G1", "CA-G2"}
        assert [n["code"] for n in results(c.get("/api/v1/grid/nodes/", {"search": "社区B"}))] == ["CB"]

    def test_bad_filter_value_is_a_field_error(self, world):
        r = client_for(world.staff).get("/api/v1/grid/nodes/", {"level": "nine"})
        assert r.status_code == 400 and "level" in r.json()

    def test_detail_has_path_and_children(self, world):
        data = client_for(world.staff).get(f"/api/v1/grid/nodes/{world.a.unit.pk}/").json()
        assert [p["code"] for p in data["path"]] == ["ST", "CA", "CA-R1", "CA-R1-B1"]
        assert [c["code"] for c in data["children"]] == ["CA-G1"]

    def test_stats(self, world):
        data = client_for(world.staff).get(f"/api/v1/grid/nodes/{world.street.pk}/stats/").json()
        assert data["nodes_by_level"] == {"street": 1, "community": 2, "compound": 2, "building": 2, "unit": 2, "microgrid": 4}
        assert data["compounds_by_kind"] == {"residential": 2, "settlement": 0}
        assert data["microgrids_by_kind"]["residential"] == 2 and data["microgrids_by_kind"]["settlement"] == 2
        assert (data["households"], data["leaders"], data["vacant_microgrids"]) == (6, 2, 2)

    def test_scope(self, world):
        c = client_for(world.a.secretary)
        listed = {n["code"] for n in results(c.get("/api/v1/grid/nodes/", {"page_size": 100}))}
        assert listed == {"CA", "CA-R1", "CA-R1-B1", "CA-R1-B1-U1", "CA-G1", "CA-G2"}
        for n in (world.b.community, world.b.mg1, world.street):
            assert c.get(f"/api/v1/grid/nodes/{n.pk}/").status_code == 404
            assert c.get(f"/api/v1/grid/nodes/{n.pk}/stats/").status_code == 404
        # A filter naming a node outside the scope reveals nothing.
        assert results(c.get("/api/v1/grid/nodes/", {"ancestor": world.b.community.pk})) == []

    def test_query_budget_does_not_grow_with_page_size(self, world, django_assert_max_num_queries):
        c = client_for(world.staff)
        with django_assert_max_num_queries(4):
            assert len(results(c.get("/api/v1/grid/nodes/", {"page_size": 100}))) == 13


class TestHouseholds:
    def test_items_masked_by_default(self, world):
        items = results(client_for(world.a.secretary).get("/api/v1/grid/households/"))
        assert len(items) == 3
        assert set(items[0]) == {"id", "grid", "address", "head", "phone", "members", "tags"}
        assert {i["phone"] for i in items} == {"139****5678", "137****2222"}

    def test_full_phone_with_the_right(self, world):
        from django.contrib.auth.models import Permission

        world.staff.user_permissions.add(Permission.objects.get(codename="view_full_phone"))
        user = type(world.staff).objects.get(pk=world.staff.pk)
        items = results(client_for(user).get("/api/v1/grid/households/", {"grid": world.a.mg2.pk}))
        assert [i["phone"] for i in items] == ["13711112222"]

    def test_filters(self, world):
        c = client_for(world.staff)
        assert len(results(c.get("/api/v1/grid/households/", {"tag": "elderly_alone"}))) == 2
        assert len(results(c.get("/api/v1/grid/households/", {"ancestor": world.b.community.pk}))) == 3
        assert len(results(c.get("/api/v1/grid/households/", {"grid": world.a.mg1.pk}))) == 2
        assert c.get("/api/v1/grid/households/", {"tag": "no-such-tag"}).status_code == 400

    def test_scope(self, world):
        c = client_for(world.a.leader)
        assert {i["id"] for i in results(c.get("/api/v1/grid/households/"))} == {h.pk for h in world.a.households[:2]}
        assert c.get(f"/api/v1/grid/households/{world.b.households[0].pk}/").status_code == 404
        assert c.get(f"/api/v1/grid/households/{world.a.households[2].pk}/").status_code == 404  # mg2 is not theirs

    def test_query_budget(self, world, django_assert_max_num_queries):
        for _ in range(40):
            HouseholdFactory(grid=world.a.mg1)
        with django_assert_max_num_queries(6):
            assert len(results(client_for(world.staff).get("/api/v1/grid/households/", {"page_size": 100}))) == 46


class TestRolesAndOrganisations:
    def test_roles_shape_filters_scope(self, world):
        c = client_for(world.a.secretary)
        items = results(c.get("/api/v1/grid/roles/"))
        assert {i["username"] for i in items} == {"leader_a", "secretary_a"}
        assert {"id", "username", "node", "role", "post", "public_phone", "active"} <= set(items[0])
        assert [i["username"] for i in results(c.get("/api/v1/grid/roles/", {"role": "leader", "post": "A"}))] == ["leader_a"]
        assert c.get(f"/api/v1/grid/roles/{world.b.leader_role.pk}/").status_code == 404

    def test_roles_budget(self, world, django_assert_max_num_queries):
        with django_assert_max_num_queries(5):
            assert len(results(client_for(world.staff).get("/api/v1/grid/roles/"))) == 5

    def test_organisations(self, world, django_assert_max_num_queries):
        c = client_for(world.staff)
        with django_assert_max_num_queries(6):
            items = results(c.get("/api/v1/grid/organisations/", {"kind": "property"}))
        assert [i["nodes"] for i in items] == [[world.a.compound.pk]]
        assert len(results(c.get("/api/v1/grid/organisations/", {"ancestor": world.a.community.pk}))) == 1
        assert results(c.get("/api/v1/grid/organisations/", {"node": world.b.compound.pk})) == []
        assert results(client_for(world.b.secretary).get("/api/v1/grid/organisations/")) == []
        assert client_for(world.b.secretary).get(f"/api/v1/grid/organisations/{world.property.pk}/").status_code == 404


def test_schema_and_docs_served_locally(world):
    c = APIClient()
    schema = c.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/grid/nodes/{id}/stats/" in schema.content
    docs = c.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower() and "//unpkg" not in html
