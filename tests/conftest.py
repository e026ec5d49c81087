import os
import shutil
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.utils import translation

from grid.models import Kind, Level, Post, Role
from tests.factories import HouseholdFactory, OrganisationFactory, RoleFactory, UserFactory, care_tag, node

IN_CI = os.environ.get("CI") == "true"
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
PHONE = {"width": 360, "height": 740}


def pytest_collection_modifyitems(config, items):
    if not IN_CI:
        return
    # In CI nothing is skipped: a missing browser or database is a failure, said once and early.
    if not shutil.which(CHROMIUM):
        raise pytest.UsageError(f"CI needs Chromium at {CHROMIUM} for the browser tests.")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("CI runs the tests on PostgreSQL: set DATABASE_URL.")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if IN_CI and reporter is not None and reporter.stats.get("skipped"):
        reporter.write_line("CI: tests were skipped; in CI nothing may be skipped.", red=True)
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _default_language():
    # A request leaves its language active in the thread; each test starts from the default.
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture
def english(settings):
    """For tests that read a message's words: the messages in English, whatever the default, in the
    test's own code and in the requests it makes (which fall back to LANGUAGE_CODE)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://…); CI runs it")


@pytest.fixture
def world(db):
    """One street with two communities, A and B, each with a compound, a building, a unit, two
    micro-grids and households; a leader on each micro-grid, a secretary per community, street staff."""
    street = node(name="测试街道", code="ST")
    w = SimpleNamespace(street=street)
    for key in ("a", "b"):
        comm = node(street, name=f"社区{key.upper()}", code=f"C{key.upper()}")
        compound = node(comm, name=f"小区{key.upper()}", code=f"C{key.upper()}-R1")
        building = node(compound, name="1栋", code=f"C{key.upper()}-R1-B1")
        unit = node(building, name="1单元", code=f"C{key.upper()}-R1-B1-U1")
        mg1 = node(unit, name=f"微网格{key.upper()}1", code=f"C{key.upper()}-G1")
        mg2 = node(compound, level=Level.MICROGRID, kind=Kind.SETTLEMENT, name=f"微网格{key.upper()}2", code=f"C{key.upper()}-G2")
        hh = [
            HouseholdFactory(grid=mg1, tags=[care_tag("elderly_alone")]),
            HouseholdFactory(grid=mg1),
            HouseholdFactory(grid=mg2, phone="13711112222"),
        ]
        leader = RoleFactory(node=mg1, role=Role.LEADER, post=Post.A, user=UserFactory(username=f"leader_{key}"))
        secretary = RoleFactory(node=comm, role=Role.SECRETARY, user=UserFactory(username=f"secretary_{key}")).user
        setattr(w, key, SimpleNamespace(
            community=comm, compound=compound, building=building, unit=unit, mg1=mg1, mg2=mg2,
            households=hh, leader=leader.user, leader_role=leader, secretary=secretary,
        ))
    w.staff = RoleFactory(node=street, role=Role.STREET_STAFF, user=UserFactory(username="staff")).user
    w.property = OrganisationFactory(street=street, nodes=[w.a.compound])
    # Later inserts renumber lft/rght: hand the tests fresh nodes.
    for n in [street] + [getattr(getattr(w, k), a) for k in "ab" for a in ("community", "compound", "building", "unit", "mg1", "mg2")]:
        n.refresh_from_db()
    return w


@pytest.fixture
def ledger(world):
    """`world` plus the people of the ledger: a property-company worker of `world.property`, a party
    branch member of community A, and issues in a few states on community A's first micro-grid."""
    from tests.factories import act, category, issue

    w = world
    w.worker = RoleFactory(node=w.a.community, role=Role.PROPERTY_STAFF, organisation=w.property,
                           user=UserFactory(username="worker")).user
    w.branch = RoleFactory(node=w.a.community, role=Role.PARTY_BRANCH, user=UserFactory(username="branch")).user
    w.category = category()
    w.reported = issue(w.a.mg1, reporter_name="王阿姨", reporter_phone="13912340000")
    w.recorded = act(issue(w.a.mg1, w.a.leader), "record", w.a.leader)
    w.handling = act(act(issue(w.a.mg1, w.a.leader), "record", w.a.leader), "assign", w.a.secretary,
                     handler_org=w.property.pk)
    w.other = act(issue(w.b.mg1, w.b.leader), "record", w.b.leader)  # community B's
    return w


# --- real Chromium (Playwright's sync API driving the system browser) ----------------------------


@pytest.fixture
def chromium():
    """A headless Chromium for one test. Browser tests are transactional (the live server's threads
    must see the data) and not serialized_rollback: the factories get_or_create what data migrations
    wrote, which a flushing test removes."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); CI requires it")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM would refuse to run then.
    old = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            try:
                yield browser
            finally:
                browser.close()
                # ORM calls made while the event loop runs may open connections of their own; close
                # them, or PostgreSQL refuses to drop the test database at the end.
                connections.close_all()
    finally:
        if old is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = old


@pytest.fixture
def phone(chromium):
    """A page at 360x740, as in a phone's WeChat browser, in Chinese."""
    context = chromium.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def watch(page, origin):
    """Lists that fill with requests leaving the site and with failed responses."""
    foreign, failed = [], []
    page.on("request", lambda r: None if r.url.startswith((origin, "data:", "blob:")) else foreign.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return foreign, failed
