"""No grid URL answers 500 to a bad id or filter value: the API, the admin and the phone pages, each
with `abc`, `0`, `-1`, a number too large for any column and a NUL byte, in the path and in filters."""

import pytest

from tests.support import client_for

pytestmark = pytest.mark.django_db

BAD_IDS = ["abc", "0", "-1", "99999999999999999999999", "%00", "1%00", "1.5"]
API = ["/api/v1/grid/nodes/", "/api/v1/grid/households/", "/api/v1/grid/roles/", "/api/v1/grid/organisations/"]
# Each list's id and subtree filters, and its other filters.
API_FILTERS = {
    "/api/v1/grid/nodes/": ["ancestor", "parent", "level", "kind", "search", "ordering", "page", "page_size"],
    "/api/v1/grid/households/": ["ancestor", "grid", "tag", "search", "ordering", "page"],
    "/api/v1/grid/roles/": ["ancestor", "node", "role", "post", "search", "ordering"],
    "/api/v1/grid/organisations/": ["ancestor", "node", "kind", "search", "ordering"],
}
ADMIN_MODELS = ["gridnode", "household", "organisation", "roleassignment", "caretag", "changelog", "user",
                "apostroster", "vacantmicrogrid"]
# The admin's filters by parameter, per register (the subtree filter is `ancestor`).
ADMIN_FILTERS = {
    "gridnode": ["ancestor", "level__exact", "kind__exact", "vacant", "q", "o", "p"],
    "household": ["ancestor", "tags__id__exact", "q", "o", "p"],
    "organisation": ["kind__exact", "q", "o"],
    "roleassignment": ["ancestor", "role__exact", "post__exact", "active", "q"],
    "apostroster": ["ancestor", "q"],
    "vacantmicrogrid": ["ancestor", "kind__exact", "q"],
    "changelog": ["model__exact", "action__exact", "q"],
    "user": ["q", "is_staff__exact"],
    "caretag": ["q"],
}


@pytest.fixture
def api(world):
    return client_for(world.staff)


@pytest.fixture
def root_client(client, world, superuser):
    client.force_login(superuser)
    return client


# --- the API ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", API)
def test_api_detail_with_a_bad_id_is_a_404(api, base):
    for bad in BAD_IDS:
        assert api.get(f"{base}{bad}/").status_code == 404, bad
        if base.endswith("nodes/"):
            assert api.get(f"{base}{bad}/stats/").status_code == 404, bad


@pytest.mark.parametrize("base", API)
def test_api_detail_of_an_unknown_id_is_a_404(api, base):
    assert api.get(f"{base}9223372036854775807/").status_code == 404


@pytest.mark.parametrize("base", API_FILTERS)
def test_api_filters_with_bad_values_are_never_a_500(api, base):
    answers = {(param, bad): api.get(f"{base}?{param}={bad}").status_code
               for param in API_FILTERS[base] for bad in BAD_IDS + [""]}
    assert {key: code for key, code in answers.items() if code not in (200, 400, 404)} == {}


@pytest.mark.parametrize("base,param", [
    ("/api/v1/grid/nodes/", "ancestor"), ("/api/v1/grid/nodes/", "parent"), ("/api/v1/grid/households/", "grid"),
    ("/api/v1/grid/households/", "ancestor"), ("/api/v1/grid/roles/", "node"), ("/api/v1/grid/organisations/", "node"),
])
def test_api_id_filters_answer_400_on_the_field(api, base, param):
    for bad in ["abc", "0", "-1", "99999999999999999999999", "%00"]:
        r = api.get(f"{base}?{param}={bad}")
        assert r.status_code == 400, bad
        assert param in r.json() and param in r.json()["codes"], bad


@pytest.mark.parametrize("base", API)
def test_a_nul_byte_in_a_search_is_a_400_on_that_parameter(api, base):
    r = api.get(f"{base}?search=a%00b")
    assert r.status_code == 400
    assert r.json()["codes"] == {"search": ["null_character"]}


def test_an_empty_id_filter_is_no_filter(api):
    everything = api.get(API[0]).json()["count"]
    assert api.get(f"{API[0]}?ancestor=&parent=").json()["count"] == everything


# --- the admin --------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_admin_change_page_with_a_bad_id_is_a_404(root_client, model):
    # The read-only registers refuse any delete before looking for the object.
    read_only = model in ("changelog", "apostroster", "vacantmicrogrid")
    for bad in BAD_IDS + ["9223372036854775807"]:
        assert root_client.get(f"/admin/grid/{model}/{bad}/change/").status_code == 404, bad
        assert root_client.get(f"/admin/grid/{model}/{bad}/history/").status_code == 404, bad
        assert root_client.get(f"/admin/grid/{model}/{bad}/delete/").status_code == (403 if read_only else 404), bad


@pytest.mark.parametrize("who", ["staff", "root"])
@pytest.mark.parametrize("model", ADMIN_FILTERS)
def test_admin_changelist_filters_with_bad_values_are_never_a_500(request, world, model, who):
    # Street staff (scoped, masked) and a superuser (no scope) take different paths through the admin.
    client = request.getfixturevalue(f"{who}_client")
    answers = {(param, bad): client.get(f"/admin/grid/{model}/?{param}={bad}").status_code
               for param in ADMIN_FILTERS[model] for bad in BAD_IDS + [""]}
    assert {key: code for key, code in answers.items() if code not in (200, 302, 400, 403)} == {}
    # A NUL byte is an incorrect lookup (the admin's "?e=1" page), never sent to the database.
    response = client.get(f"/admin/grid/{model}/?q=%00")
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


@pytest.mark.parametrize("register", ["gridnode", "household", "organisation", "roleassignment"])
def test_admin_exports_with_a_bad_subtree_are_never_a_500(staff_client, register):
    for bad in BAD_IDS + [""]:
        response = staff_client.get(f"/admin/grid/{register}/export/?ancestor={bad}")
        assert response.status_code == 200, bad
        assert response["Content-Disposition"].startswith('attachment; filename="')
    for bad in BAD_IDS:
        assert staff_client.get(f"/admin/grid/roleassignment/export-a-posts/?ancestor={bad}").status_code == 200


@pytest.mark.parametrize("field", [("household", "grid"), ("roleassignment", "node"), ("roleassignment", "user"),
                                   ("organisation", "nodes")])
@pytest.mark.parametrize("term", ["%00", "a%00b", "abc"])
def test_admin_autocomplete_with_a_nul_byte_is_not_a_500(staff_client, field, term):
    model, name = field
    response = staff_client.get(f"/admin/autocomplete/?app_label=grid&model_name={model}&field_name={name}&term={term}")
    assert response.status_code in (200, 403)


def test_an_empty_admin_subtree_filter_is_no_filter(staff_client):
    everything = staff_client.get("/admin/grid/gridnode/").context["cl"].result_count
    assert staff_client.get("/admin/grid/gridnode/?ancestor=").context["cl"].result_count == everything


# --- the phone pages --------------------------------------------------------------------------------


def test_a_bad_microgrid_code_is_a_404(client, world):
    client.force_login(world.a.leader)
    for code in ["abc", "0", "-1", "99999999999999999999999", "%00", "CA-G1%00", "x" * 300]:
        assert client.get(f"/m/grid/{code}/").status_code == 404, code


def test_bad_filters_on_a_microgrid_are_never_a_500(client, world):
    client.force_login(world.a.leader)
    for query in ["q=%00", "q=a%00b", "tag=%00", "tag=abc", "page=abc", "page=-1", "page=0",
                  "page=99999999999999999999999", "q=" + "x" * 500, "q=%00&tag=%00&page=%00"]:
        assert client.get(f"/m/grid/CA-G1/?{query}").status_code == 200, query
        assert client.get(f"/m/grid/CA-G1/?{query}", HTTP_HX_REQUEST="true").status_code == 200, query
    # A NUL byte is dropped: the search for what remains still finds the household.
    head = world.a.households[0].head
    response = client.get(f"/m/grid/CA-G1/?q={head[:1]}%00{head[1:]}")
    assert [h.head for h, _phone in response.context["rows"]] == [head]
