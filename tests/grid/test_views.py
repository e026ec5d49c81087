"""The mobile pages (grid/views.py): login, 'my grid', a micro-grid's households."""

import datetime
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import translation

from grid import services
from grid.models import Household
from tests.factories import HouseholdFactory, RoleFactory, UserFactory, care_tag
from tests.support import PASSWORD

FULL = "13912345678"  # the factories' household phone
MASKED = "139****5678"

# Whatever the number of households, the micro-grid page costs this many queries (session, user,
# scope, node, path, count, page, tags, leaders, tag list).
MICROGRID_BUDGET = 12
HOME_BUDGET = 6


def microgrid_url(code):
    return reverse("mobile:microgrid", args=[code])


def household_heads(response):
    return [h.head for h, _phone in response.context["rows"]]


# --- login -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [reverse("mobile:home"), microgrid_url("CA-G1")])
def test_pages_need_a_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('mobile:login')}?next={url}"


def test_login_with_the_right_password_goes_to_my_grid(client, world):
    page = client.get(reverse("mobile:login"))
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()
    response = client.post(reverse("mobile:login"), {"username": "leader_a", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("mobile:home")
    assert client.get(reverse("mobile:home")).context["user"].username == "leader_a"


def test_login_with_a_wrong_password_stays_on_the_form(client, world):
    response = client.post(reverse("mobile:login"), {"username": "leader_a", "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not response.context["user"].is_authenticated


def test_a_logged_in_user_skips_the_login_form(client, world):
    client.force_login(world.a.leader)
    response = client.get(reverse("mobile:login"))
    assert response.status_code == 302
    assert response["Location"] == reverse("mobile:home")


# --- my grid ---------------------------------------------------------------------------------


def test_home_lists_the_leaders_microgrid_with_its_path_and_roster_entry(client, world):
    client.force_login(world.a.leader)
    response = client.get(reverse("mobile:home"))
    assert response.status_code == 200
    html = response.content.decode()

    [(grid, path)] = response.context["grids"]
    assert grid == world.a.mg1
    assert grid.household_count == 2
    assert [a.code for a in path] == ["ST", "CA", "CA-R1", "CA-R1-B1", "CA-R1-B1-U1"]
    assert microgrid_url("CA-G1") in html
    assert "测试街道 › 社区A › 小区A › 1栋 › 1单元" in html
    assert "微网格A1" in html

    [(role, role_path)] = response.context["roles"]
    assert role == world.a.leader_role
    assert role_path[-1] == world.a.unit
    assert "13600001111" in html  # the public phone of the roster line
    # Nothing of community B, and not the other micro-grid of A.
    assert "微网格B1" not in html
    assert microgrid_url("CA-G2") not in html


def test_home_of_a_user_without_roles_says_so(client, world):
    client.force_login(UserFactory(username="nobody"))
    response = client.get(reverse("mobile:home"))
    assert response.status_code == 200
    assert response.context["grids"] == []
    assert response.context["roles"] == []


def test_property_staff_see_their_own_roster_entry(client, world):
    # Property staff have no register scope, but their own roster line is theirs to see.
    ra = RoleFactory(node=world.a.compound, role="property_staff", organisation=world.property,
                     user=UserFactory(username="guard"))
    client.force_login(ra.user)
    response = client.get(reverse("mobile:home"))
    assert [r for r, _path in response.context["roles"]] == [ra]
    assert world.property.name in response.content.decode()


def test_home_leaves_out_ended_roles(client, world):
    client.force_login(world.a.leader)
    services.role_update(assignment=world.a.leader_role, start=datetime.date(2020, 1, 1),
                         end=datetime.date(2020, 12, 31))
    response = client.get(reverse("mobile:home"))
    assert response.context["grids"] == []
    assert response.context["roles"] == []


def test_home_query_budget_does_not_grow_with_grids(client, world, django_assert_max_num_queries):
    leader = world.a.leader
    for mg in (world.a.mg2,):
        RoleFactory(node=mg, role="leader", post="B", user=leader)
    client.force_login(leader)
    with django_assert_max_num_queries(HOME_BUDGET):
        response = client.get(reverse("mobile:home"))
    assert len(response.context["grids"]) == 2
    assert len(response.context["roles"]) == 2


# --- a micro-grid's households -----------------------------------------------------------------


def test_microgrid_lists_households_with_masked_phones_and_care_tags(client, world):
    client.force_login(world.a.leader)
    response = client.get(microgrid_url("CA-G1"))
    assert response.status_code == 200
    html = response.content.decode()
    heads = {h.head for h in world.a.households[:2]}
    assert set(household_heads(response)) == heads
    for head in heads:
        assert head in html
    assert html.count(MASKED) == 2
    assert FULL not in html
    assert '<span class="tag">独居老人</span>' in html
    # The household of the other micro-grid is not listed.
    assert world.a.households[2].head not in html
    # The A-post leader is named; the page is not flagged vacant.
    assert list(response.context["leaders"]) == [world.a.leader_role]


def test_microgrid_without_a_leader_is_flagged_vacant(client, world):
    client.force_login(world.a.secretary)
    response = client.get(microgrid_url("CA-G2"))
    assert response.status_code == 200
    assert list(response.context["leaders"]) == []
    assert 'class="error"' in response.content.decode()
    assert "137****2222" in response.content.decode()


def test_search_by_name_and_room(client, world):
    client.force_login(world.a.leader)
    first, second = world.a.households[:2]
    response = client.get(microgrid_url("CA-G1"), {"q": first.head})
    assert household_heads(response) == [first.head]
    response = client.get(microgrid_url("CA-G1"), {"q": second.room})
    assert household_heads(response) == [second.head]
    response = client.get(microgrid_url("CA-G1"), {"q": "无此人"})
    assert household_heads(response) == []
    assert response.status_code == 200


def test_filter_by_care_tag(client, world):
    client.force_login(world.a.leader)
    response = client.get(microgrid_url("CA-G1"), {"tag": "elderly_alone"})
    assert household_heads(response) == [world.a.households[0].head]
    assert response.context["tag"] == "elderly_alone"
    assert 'value="elderly_alone" selected' in response.content.decode()
    response = client.get(microgrid_url("CA-G1"), {"tag": "veteran"})
    assert household_heads(response) == []


def test_a_household_with_two_tags_is_listed_once_under_either_tag(client, world):
    h = world.a.households[1]
    services.household_update(household=h, tags=[care_tag("mobility"), care_tag("disabled")])
    client.force_login(world.a.leader)
    assert household_heads(client.get(microgrid_url("CA-G1"), {"tag": "mobility"})) == [h.head]
    all_rows = household_heads(client.get(microgrid_url("CA-G1")))
    assert sorted(all_rows) == sorted(x.head for x in world.a.households[:2])


def test_htmx_request_gets_only_the_household_list(client, world):
    client.force_login(world.a.leader)
    response = client.get(microgrid_url("CA-G1"), {"q": world.a.households[0].head}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "<form" not in html
    assert world.a.households[0].head in html
    assert world.a.households[1].head not in html
    assert MASKED in html
    # A cache (or the browser's back button) must not mix up the page and the fragment.
    assert "HX-Request" in response.get("Vary", "")


def test_htmx_history_restore_gets_the_whole_page(client, world):
    # htmx asks for the full page when it restores a pushed URL that is not in its history cache.
    client.force_login(world.a.leader)
    response = client.get(
        microgrid_url("CA-G1"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_full_page_contains_the_search_form_and_list(client, world):
    client.force_login(world.a.leader)
    html = client.get(microgrid_url("CA-G1")).content.decode()
    assert "<html" in html
    assert 'id="households"' in html
    assert 'name="q"' in html and 'name="tag"' in html
    # The page loads htmx from the site itself, never from a CDN.
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert scripts and all(s.startswith("/static/") for s in scripts)


# --- scope -------------------------------------------------------------------------------------


def test_leader_gets_404_for_another_communitys_microgrid(client, world):
    client.force_login(world.a.leader)
    assert client.get(microgrid_url("CB-G1")).status_code == 404
    assert client.get(microgrid_url("CB-G1"), HTTP_HX_REQUEST="true").status_code == 404


def test_leader_gets_404_for_a_microgrid_outside_their_own(client, world):
    # A leader's scope is their micro-grid, not the rest of the community.
    client.force_login(world.a.leader)
    assert client.get(microgrid_url("CA-G2")).status_code == 404


@pytest.mark.parametrize("code", ["CA", "CA-R1", "CA-R1-B1-U1", "NO-SUCH-CODE"])
def test_a_code_that_is_not_a_microgrid_gives_404(client, world, code):
    # The secretary sees the whole community, so the 404 is about the level, not the scope.
    client.force_login(world.a.secretary)
    assert client.get(microgrid_url(code)).status_code == 404
    assert client.get(microgrid_url("CA-G1")).status_code == 200


def test_secretary_sees_the_communitys_microgrids_but_not_the_other_community(client, world):
    client.force_login(world.a.secretary)
    assert client.get(microgrid_url("CA-G2")).status_code == 200
    assert client.get(microgrid_url("CB-G2")).status_code == 404


def test_street_staff_sees_every_microgrid_of_the_street(client, world):
    client.force_login(world.staff)
    for code in ("CA-G1", "CA-G2", "CB-G1", "CB-G2"):
        assert client.get(microgrid_url(code)).status_code == 200


# --- phones --------------------------------------------------------------------------------


def test_a_user_with_the_phone_right_sees_full_phones(client, world):
    user = world.a.leader
    user.user_permissions.add(Permission.objects.get(codename="view_full_phone", content_type__app_label="grid"))
    client.force_login(user)
    html = client.get(microgrid_url("CA-G1")).content.decode()
    assert html.count(FULL) == 2
    assert MASKED not in html
    fragment = client.get(microgrid_url("CA-G1"), HTTP_HX_REQUEST="true").content.decode()
    assert FULL in fragment


def test_a_household_without_phone_shows_no_phone(client, world):
    HouseholdFactory(grid=world.a.mg1, head="无电话户", phone="")
    client.force_login(world.a.leader)
    response = client.get(microgrid_url("CA-G1"), {"q": "无电话户"})
    [(h, phone)] = response.context["rows"]
    assert phone == ""
    assert "****" not in response.content.decode()


# --- pagination and query budget -----------------------------------------------------------


def add_households(grid, n):
    tag = care_tag("mobility")
    rows = [
        {"grid": grid, "head": f"批量户{i:03d}", "phone": FULL, "members": 2, "building": "2栋", "unit": "1单元",
         "room": f"{i:04d}", "tags": [tag]}
        for i in range(n)
    ]
    services.households_bulk_create(rows=rows)


def test_microgrid_query_budget_with_three_households(client, world, django_assert_max_num_queries):
    client.force_login(world.a.secretary)
    with django_assert_max_num_queries(MICROGRID_BUDGET):
        response = client.get(microgrid_url("CA-G1"))
    assert len(response.context["rows"]) == 2


def test_microgrid_query_budget_does_not_grow_with_households(client, world, django_assert_max_num_queries):
    add_households(world.a.mg1, 60)
    client.force_login(world.a.secretary)
    with django_assert_max_num_queries(MICROGRID_BUDGET):
        response = client.get(microgrid_url("CA-G1"))
    assert len(response.context["rows"]) == 50  # one page
    assert response.context["page"].paginator.count == 62
    with django_assert_max_num_queries(MICROGRID_BUDGET):
        response = client.get(microgrid_url("CA-G1"), {"tag": "mobility"}, HTTP_HX_REQUEST="true")
    assert len(response.context["rows"]) == 50


def test_pages_keep_the_search_in_their_links(client, world):
    add_households(world.a.mg1, 60)
    client.force_login(world.a.leader)
    response = client.get(microgrid_url("CA-G1"), {"tag": "mobility"})
    assert response.context["page"].paginator.count == 60
    html = response.content.decode()
    assert "?q=&amp;tag=mobility&amp;page=2" in html
    second = client.get(microgrid_url("CA-G1"), {"tag": "mobility", "page": 2})
    assert len(second.context["rows"]) == 10
    first_heads, second_heads = set(household_heads(response)), set(household_heads(second))
    assert not first_heads & second_heads
    assert Household.objects.filter(grid=world.a.mg1, tags__code="mobility").count() == 60


# --- language ------------------------------------------------------------------------------


def zh(text):
    with translation.override("zh-hans"):
        return translation.gettext(text)


def test_default_language_is_simplified_chinese(client, world):
    client.force_login(world.a.leader)
    html = client.get(reverse("mobile:home")).content.decode()
    assert '<html lang="zh-hans">' in html
    assert zh("My grid") in html
    if zh("My grid") != "My grid":  # once the Chinese catalogue is compiled
        assert "<h1>My grid</h1>" not in html
    # The switch offers the other language, by its own name.
    assert 'value="en" lang="en" class="link">English</button>' in html


def test_english_via_the_language_cookie(client, world, settings):
    client.force_login(world.a.leader)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(reverse("mobile:home")).content.decode()
    assert '<html lang="en">' in html
    assert "<h1>My grid</h1>" in html
    if zh("My grid") != "My grid":
        assert zh("My grid") not in html
    assert 'value="zh-hans" lang="zh-hans" class="link">简体中文</button>' in html


def test_english_via_accept_language(client, world):
    client.force_login(world.a.leader)
    response = client.get(microgrid_url("CA-G1"), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Households" in html
    assert MASKED in html


def test_language_switch_sets_the_cookie(client, world, settings):
    client.force_login(world.a.leader)
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("mobile:home")})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert '<html lang="en">' in client.get(reverse("mobile:home")).content.decode()
