"""What the tests of every app share: test data built once per module and copied into each test, the
API and page clients, threads that race, the admin's groups, images and the browser's login.

Shared test data (`shared_fixture`) works as Django's `setUpTestData`: the rows are written once inside
an outer transaction, every test runs in a savepoint inside it (pytest-django's `db` is a TestCase
atomic, which becomes a savepoint there) that is rolled back after the test, and each test gets its
own copies of the objects, so neither a test's writes nor its in-memory changes reach the next test.
tests/conftest.py opens and closes the outer transaction (see `SharedData`) and orders the tests so
that each module builds its data at most once per combination.
"""

import copy
import inspect
import io
import itertools
import pickle
import threading
from dataclasses import dataclass

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import QuerySet
from django.utils import translation

PASSWORD = "pw-123456"  # every factory user's password (tests.factories.UserFactory)

# --- test data built once, copied per test --------------------------------------------------------

_declared = itertools.count()


@dataclass(eq=False)
class Builder:
    """A shared fixture's function: it receives the values of the shared fixtures it names (its
    parameters) and writes rows; `order` breaks ties when a test uses several."""

    fn: object
    name: str
    deps: tuple
    order: int

    def __repr__(self):
        return f"<shared {self.name}>"


def shared_fixture(fn):
    """Declares a fixture, like `@pytest.fixture`, whose data is built once per test module and handed to
    each test as copies: the function may only name other shared fixtures (e.g. `world`) and must
    return the objects the tests read (model instances, plain containers of them).

    A transactional test (`live_server`, `transactional_db`, `django_db(transaction=True)`) cannot run
    inside the outer transaction: it gets the fixture built for it alone, as a plain fixture would."""
    builder = Builder(fn=fn, name=fn.__name__, deps=tuple(inspect.signature(fn).parameters), order=next(_declared))

    def fixture(request, db, **deps):
        values = SHARED.values_for(request.node)
        if values is not None and builder.name in values:
            return values[builder.name]
        return fn(**deps)

    kw = inspect.Parameter.POSITIONAL_OR_KEYWORD
    fixture.__signature__ = inspect.Signature(
        [inspect.Parameter(name, kw) for name in ("request", "db", *builder.deps)])
    fixture.__name__, fixture.__qualname__, fixture.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    fixture.__module__ = fn.__module__
    fixture.shared = builder
    return pytest.fixture(name=builder.name)(fixture)


def builders_of(item):
    """The shared fixtures a test uses, each after those it depends on: the levels of data it needs."""
    defs = item._fixtureinfo.name2fixturedefs
    found = {}
    for name in item.fixturenames:
        builder = getattr(defs[name][-1].func, "shared", None) if defs.get(name) else None
        if builder is not None:
            found[name] = builder
    for builder in found.values():
        for dep in builder.deps:
            if dep not in found:
                raise pytest.UsageError(f"shared fixture {builder.name} may only use shared fixtures, not {dep}")
    chain, done = [], set()
    while len(chain) < len(found):
        ready = [b for b in found.values() if b.name not in done and all(d in done for d in b.deps)]
        if not ready:
            raise pytest.UsageError(f"shared fixtures depend on each other in a circle: {sorted(found)}")
        first = min(ready, key=lambda b: b.order)
        chain.append(first)
        done.add(first.name)
    return tuple(chain)


class Snapshot:
    """The values of the shared fixtures (name -> value) as they were right after a level was built,
    handed out as copies: unpickled (a quarter of a deep copy's time), or deep-copied where pickling
    would differ (a queryset pickles with its rows, a deep copy of it queries again) or is impossible."""

    def __init__(self, values):
        try:
            buf = io.BytesIO()
            _Pickler(buf, pickle.HIGHEST_PROTOCOL).dump(values)
            self.data, self.values = buf.getvalue(), None
        except (pickle.PicklingError, TypeError, AttributeError):
            self.data, self.values = None, copy.deepcopy(values)

    def copy(self):
        return pickle.loads(self.data) if self.data is not None else copy.deepcopy(self.values)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, QuerySet):
            raise pickle.PicklingError("a queryset: deep-copy instead")
        return NotImplemented


@dataclass
class Level:
    builder: Builder
    atomic: object
    snapshot: Snapshot


class SharedData:
    """The stack of levels of shared data now in the database: the outer transaction holds the first
    level, each further level is a savepoint inside it. `enter` makes the stack what a test needs
    (rolling back the levels it must not see, building those it lacks) before the test's own atomic
    opens; `close` rolls everything back (at the end of each module, and before a transactional test)."""

    def __init__(self, language):
        self.language = language  # data is built in one language, whatever the test's
        self.levels = []
        self.item = None
        self.copy = None
        self.builds = 0  # levels built
        self.copies = 0  # tests served copies
        self.blocker = None

    def enter(self, item, chain, blocker):
        self.blocker = blocker
        self.item, self.copy = None, None
        keep = 0
        while keep < min(len(chain), len(self.levels)) and self.levels[keep].builder is chain[keep]:
            keep += 1
        with blocker.unblock():
            while len(self.levels) > keep:
                self._pop()
            for builder in chain[keep:]:
                self._push(builder, item)
        if chain:
            self.item = item

    def values_for(self, item):
        """Fresh copies of the shared objects for the test being set up, or None (build them yourself)."""
        if item is not self.item or not self.levels:
            return None
        if self.copy is None:
            self.copy = self.levels[-1].snapshot.copy()
            self.copies += 1
        return self.copy

    def close(self):
        self.item, self.copy = None, None
        if self.levels:
            with self.blocker.unblock():
                while self.levels:
                    self._pop()

    def _push(self, builder, item):
        if not self.levels:
            # Rolled back when the module ends, after its last test's teardown.
            item.getparent(pytest.Module).addfinalizer(self.close)
        atomic = transaction.atomic(using=DEFAULT_DB_ALIAS)
        atomic._from_testcase = True  # as TestCase's own atomics: durable blocks inside still work
        atomic.__enter__()
        try:
            values = self.levels[-1].snapshot.copy() if self.levels else {}
            with translation.override(self.language):
                values[builder.name] = builder.fn(**{dep: values[dep] for dep in builder.deps})
            snapshot = Snapshot(values)
        except BaseException:
            _roll_back(atomic)
            raise
        self.builds += 1
        self.levels.append(Level(builder, atomic, snapshot))

    def _pop(self):
        _roll_back(self.levels.pop().atomic)


def _roll_back(atomic):
    transaction.set_rollback(True, using=DEFAULT_DB_ALIAS)
    atomic.__exit__(None, None, None)


SHARED = SharedData(language=django_settings.LANGUAGE_CODE)


# --- API ------------------------------------------------------------------------------------------


def client_for(user):
    """An API client authenticated as `user` (DRF's force_authenticate: no token, no session)."""
    from rest_framework.test import APIClient

    c = APIClient()
    c.force_authenticate(user)
    return c


def token_client(token):
    """An API client that sends a token (a key, or a user whose token it gets), as the mobile app does."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    if not isinstance(token, str):
        token = Token.objects.get_or_create(user=token)[0].key
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return c


def fresh(obj):
    """The object read again, as a new request would (a user's scope is cached on the instance)."""
    return type(obj).objects.get(pk=obj.pk)


def results(response):
    """The rows of a paginated list answer, which must be a 200."""
    assert response.status_code == 200, response.content
    return response.json()["results"]


def ids(response):
    return {row["id"] for row in results(response)}


def field_errors(response):
    """A 400's field errors without their codes (common.api puts those under "codes")."""
    return {k: v for k, v in response.json().items() if k != "codes"}


def error_codes(response):
    """A 400's machine-readable codes by field."""
    return response.json()["codes"]


def api_schema():
    """The OpenAPI schema as /api/schema/ serves it, and the warnings and errors drf-spectacular noted
    while generating it."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from rest_framework.test import APIClient

    GENERATOR_STATS.reset()
    r = APIClient().get("/api/schema/", {"format": "json"})
    assert r.status_code == 200, r.content
    return r.json(), list(GENERATOR_STATS._warn_cache) + list(GENERATOR_STATS._error_cache)


# --- the points --------------------------------------------------------------------------------


def balance(user):
    """The user's points balance (the user must have an account)."""
    from incentives.models import Account

    return Account.objects.get(user=user).balance


# --- pages and the admin --------------------------------------------------------------------------


def login(client, user):
    client.force_login(user)
    return client


def grant(user, role):
    """The role's admin group: grid's permissions plus those each app registers for the role; the user
    read again, so no stale permission cache."""
    from grid import services as grid_services

    grid_services.user_grant_admin(user=user, role=role)
    return get_user_model().objects.get(pk=user.pk)


def messages_of(response):
    """The messages a response left, as (level tag, text)."""
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def message_levels(response):
    """The messages a response left, as (level number, text)."""
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def message_texts(response):
    """The texts of the messages a response left."""
    return [str(m) for m in get_messages(response.wsgi_request)]


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(response):
    """The workbook a download carries, which must be a 200 of the .xlsx type."""
    from openpyxl import load_workbook

    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == XLSX
    return load_workbook(io.BytesIO(response.content))


def rows(response):
    """The primary keys on an admin changelist page."""
    return {obj.pk for obj in response.context["cl"].result_list}


def image(name="photo.png", size=(40, 30), fmt="PNG", colour=(200, 30, 30), content_type=None):
    """An uploaded image of one colour in `fmt` (content type image/<fmt> unless given)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return SimpleUploadedFile(name, buf.getvalue(), content_type=content_type or f"image/{fmt.lower()}")


# --- threads --------------------------------------------------------------------------------------


def race(calls, expected):
    """Runs the calls at once, each in a thread with its own database connection (they start together
    at a barrier), and returns what each did, in the order of `calls`: "ok", the outcome `expected` names
    for the exception it raised ({exception class or tuple: a string, or a function of the exception}),
    or "error <exception>" for any other exception, so that the test's assertion shows it."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i, fn):
        try:
            barrier.wait()
            fn()
            outcomes[i] = "ok"
        except Exception as e:
            for kinds, outcome in expected.items():
                if isinstance(e, kinds):
                    outcomes[i] = outcome(e) if callable(outcome) else outcome
                    break
            else:
                outcomes[i] = f"error {e!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def kind_of(exc):
    """An outcome for `race`: the exception's class name."""
    return type(exc).__name__


# --- the browser ----------------------------------------------------------------------------------


def log_in(page, origin, username, password=PASSWORD):
    """Logs in on the mobile site in a fresh session and waits for the home page."""
    page.context.clear_cookies()
    page.goto(f"{origin}/m/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{origin}/m/")


def scroll_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


PHONE = {"width": 360, "height": 740}  # a phone's WeChat browser


def fits(page):
    """Whether the page is no wider than the phone (no sideways scrolling)."""
    return scroll_width(page) <= PHONE["width"]


def watch(page, origin):
    """Lists that fill with requests leaving the site and with failed responses."""
    foreign, failed = [], []
    page.on("request", lambda r: None if r.url.startswith((origin, "data:", "blob:")) else foreign.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return foreign, failed
