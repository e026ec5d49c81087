"""The phone pages' menu, home tiles and micro-grid card actions come from common.registry: each app
registers its own links in its ready(), and a link is shown only to those who can use it. Grid's
templates name no URL of a higher app."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from common import registry
from grid.models import Role
from tests.factories import RoleFactory, UserFactory

pytestmark = pytest.mark.django_db

HIGHER_APPS = ("mobile_issues", "mobile_patrols", "mobile_incentives", "issues", "patrols", "incentives")
# Grid's own templates and the shared base every phone page extends.
GRID_TEMPLATES = ["mobile/base.html", "mobile/home.html", "mobile/microgrid.html", "mobile/_households.html",
                  "mobile/login.html", "admin/grid"]


def template_files():
    root = Path(settings.BASE_DIR) / "templates"
    for name in GRID_TEMPLATES:
        path = root / name
        yield from (sorted(path.rglob("*.html")) if path.is_dir() else [path])


def nav(html):
    """The hrefs of the main menu."""
    block = re.search(r'<nav class="nav".*?</nav>', html, re.S)
    return re.findall(r'href="([^"]+)"', block.group(0)) if block else []


def tiles(html):
    block = re.search(r'<p class="actions">.*?</p>', html, re.S)
    return re.findall(r'href="([^"]+)"', block.group(0)) if block else []


def card_actions(html):
    return re.findall(r'<form method="get" action="([^"]+)" class="card-action">', html)


def home(client, user):
    client.force_login(user)
    response = client.get(reverse("mobile:home"))
    assert response.status_code == 200
    return response.content.decode()


def test_no_grid_template_names_a_url_of_a_higher_app():
    names = "|".join(HIGHER_APPS)
    pattern = re.compile(r"""\{%\s*url\s+['"](?:admin:)?(?:""" + names + r")[:_]")
    offenders = [str(p) for p in template_files() if pattern.search(p.read_text())]
    assert offenders == []
    assert len(list(template_files())) >= 9  # the glob found the templates


def test_a_leader_sees_the_ledger_the_patrols_and_the_points(client, world):
    html = home(client, world.a.leader)
    assert nav(html) == ["/m/", "/m/issues/", "/m/issues/report/", "/m/patrols/", "/m/points/"]
    assert tiles(html) == ["/m/issues/report/", "/m/issues/", "/m/patrols/", "/m/patrols/log/"]
    assert card_actions(html) == ["/m/issues/report/"]  # one card: the leader's micro-grid
    assert 'class="button primary" href="/m/issues/report/"' in html


def test_the_menu_is_on_every_phone_page(client, world):
    client.force_login(world.a.leader)
    html = client.get(reverse("mobile:microgrid", args=["CA-G1"])).content.decode()
    assert nav(html) == ["/m/", "/m/issues/", "/m/issues/report/", "/m/patrols/", "/m/points/"]


def test_a_property_company_worker_sees_only_what_they_can_use(client, world):
    # No register scope: they cannot report, patrol or log work; they have a queue and points.
    worker = RoleFactory(node=world.a.community, role=Role.PROPERTY_STAFF, organisation=world.property,
                         user=UserFactory(username="worker")).user
    html = home(client, worker)
    assert nav(html) == ["/m/", "/m/issues/", "/m/points/"]
    assert tiles(html) == ["/m/issues/"]
    for url in ("/m/issues/report/", "/m/patrols/", "/m/patrols/log/"):
        assert f'href="{url}"' not in html


def test_a_person_without_a_role_sees_only_my_grid(client, world):
    html = home(client, UserFactory(username="nobody"))
    assert nav(html) == ["/m/"]
    assert tiles(html) == []
    assert '<p class="actions">' not in html


def test_the_login_page_shows_no_menu(client, world):
    html = client.get(reverse("mobile:login")).content.decode()
    assert nav(html) == []


def test_the_home_page_renders_with_nothing_registered_above_the_grid(client, world, monkeypatch):
    # Grid does not need the apps above it: with only its own link, its pages work and link to nothing else.
    only_grid = registry.Links()
    only_grid.add(next(link for link in registry.mobile_menu if link.key == "grid.home"))
    monkeypatch.setattr(registry, "mobile_menu", only_grid)
    monkeypatch.setattr(registry, "home_tiles", registry.Links())
    monkeypatch.setattr(registry, "microgrid_actions", registry.Links())
    html = home(client, world.a.leader)
    assert nav(html) == ["/m/"]
    assert tiles(html) == [] and card_actions(html) == []
    assert "/m/issues/" not in html and "/m/patrols/" not in html and "/m/points/" not in html
    assert "微网格A1" in html


def test_a_registered_link_with_a_count_shows_a_badge(client, world, monkeypatch):
    menu = registry.Links()
    for link in registry.mobile_menu:
        menu.add(link)
    menu.add(registry.Link("test.inbox", "Inbox", "mobile:home", order=99, visible=lambda u: u.username == "leader_a",
                           count=lambda u: 7))
    monkeypatch.setattr(registry, "mobile_menu", menu)
    html = home(client, world.a.leader)
    assert 'Inbox <span class="badge">7</span>' in html
    assert "Inbox" not in home(client, world.a.secretary)


def test_the_menu_costs_no_query_beyond_the_scope(client, world, django_assert_num_queries):
    # The menu's tests read the roles the scope query already fetched, cached on the user.
    from grid.access import has_scope, held_roles, scope_roots

    user = type(world.a.leader).objects.get(pk=world.a.leader.pk)
    with django_assert_num_queries(1):
        scope_roots(user)
        assert held_roles(user) == {Role.LEADER}
        assert has_scope(user)
