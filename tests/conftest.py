import os
import shutil
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import override_settings
from django.utils import translation
from pytest_django.fixtures import validate_django_db

from grid.models import Kind, Level, Post, Role
from tests.factories import HouseholdFactory, OrganisationFactory, RoleFactory, UserFactory, care_tag, node
from tests.support import PHONE, SHARED, builders_of, grant, shared_fixture

IN_CI = os.environ.get("CI") == "true"
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
TRANSACTIONAL = pytest.StashKey[bool]()
CHAIN = pytest.StashKey[tuple]()


def pytest_collection_modifyitems(config, items):
    for item in items:
        item.stash[TRANSACTIONAL] = is_transactional(item)
        item.stash[CHAIN] = builders_of(item)
    items[:] = in_order(items)
    if not IN_CI:
        return
    # In CI nothing is skipped: a missing browser or database is a failure, said once and early.
    if not shutil.which(CHROMIUM):
        raise pytest.UsageError(f"CI needs Chromium at {CHROMIUM} for the browser tests.")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("CI runs the tests on PostgreSQL: set DATABASE_URL.")


def is_transactional(item):
    """Whether pytest-django runs the test as a TransactionTestCase (committing, then flushing)."""
    marker = item.get_closest_marker("django_db")
    if marker is not None:
        transactional, reset_sequences, *_ = validate_django_db(marker)
        if transactional or reset_sequences:
            return True
    return bool({"transactional_db", "live_server", "django_db_reset_sequences"} & set(item.fixturenames))


def in_order(items):
    """The modules in their order, each with its tests grouped by the shared data they use (tests without
    any first), so a module builds each level of data once; transactional tests last, as Django's runner
    and pytest-django's own ordering (which ran before this) put them: they cannot run inside the outer
    transaction, and their flush removes what the data migrations wrote."""
    modules, late = {}, []
    for item in items:
        if item.stash[TRANSACTIONAL]:
            late.append(item)
        else:
            modules.setdefault(item.path, []).append(item)
    ordered = []
    for module_items in modules.values():
        ordered += sorted(module_items, key=lambda i: tuple(b.order for b in i.stash[CHAIN]))
    return ordered + late


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    # Before a test's own atomic opens (pytest-django's db fixtures all go through _django_db_helper),
    # the outer transaction is made to hold exactly the shared data the test uses.
    if fixturedef.argname == "_django_db_helper":
        item = request.node
        chain = () if item.stash.get(TRANSACTIONAL, True) else item.stash[CHAIN]
        SHARED.enter(item, chain, request.getfixturevalue("django_db_blocker"))
    return (yield)


def pytest_terminal_summary(terminalreporter):
    if SHARED.copies:
        terminalreporter.write_line(
            f"shared test data: levels built {SHARED.builds}, tests served copies {SHARED.copies}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if IN_CI and reporter is not None and reporter.stats.get("skipped"):
        reporter.write_line("CI: tests were skipped; in CI nothing may be skipped.", red=True)
        session.exitstatus = 1


@pytest.fixture(autouse=True, scope="session")
def _fast_passwords():
    # Once for the session: the shared data is built before any function-scoped fixture runs.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


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
def en(client, settings):
    """A client reading the pages in English (the source strings), whatever the catalogue holds."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://…); CI runs it")


@pytest.fixture
def media(settings, tmp_path):
    """Uploads go to the test's own folder, which it returns."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@shared_fixture
def world():
    """One street with two communities, A and B, each with a compound, a building, a unit, two
    micro-grids and households; a leader on each micro-grid, a secretary per community, street staff.
    Built once per module (tests.support.shared_fixture); each test gets its own copies."""
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
    # Later inserts renumber the tree's nested sets: hand the tests fresh nodes.
    for n in [street] + [getattr(getattr(w, k), a) for k in "ab" for a in ("community", "compound", "building", "unit", "mg1", "mg2")]:
        n.refresh_from_db()
    return w


@shared_fixture
def ledger(world):
    """`world` plus the people of the ledger: a property-company worker of `world.property`, a party
    branch member of community A, and issues in a few states on community A's first micro-grid.
    `world` and `ledger` are one object in a test that uses both."""
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


# --- the admin's people, in their admin groups (a test module may define its own) ------------------


@shared_fixture
def superuser():
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@shared_fixture
def staff(ledger):
    """`ledger`'s street staff."""
    return grant(ledger.staff, Role.STREET_STAFF)


@shared_fixture
def secretary(ledger):
    return grant(ledger.a.secretary, Role.SECRETARY)


@shared_fixture
def secretary_b(ledger):
    return grant(ledger.b.secretary, Role.SECRETARY)


@shared_fixture
def branch(ledger):
    return grant(ledger.branch, Role.PARTY_BRANCH)


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
