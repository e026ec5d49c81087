import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

ROOT = Path(__file__).resolve().parent.parent


def django_setup(**env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_MODE", "ALLOWED_HOSTS")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER)"],
        cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env}, capture_output=True, text=True,
    )


def test_production_refuses_to_start_without_a_secret_key():
    r = django_setup(DJANGO_MODE="production", DATABASE_URL="postgres://x@127.0.0.1/x", REDIS_URL="redis://127.0.0.1:6379/0")
    assert r.returncode != 0
    assert "SECRET_KEY must be set when DJANGO_MODE=production" in r.stderr


def test_production_runs_celery_for_real_on_postgresql():
    r = django_setup(DJANGO_MODE="production", SECRET_KEY="k" * 50, DATABASE_URL="postgres://x@127.0.0.1/x",
                     REDIS_URL="redis://127.0.0.1:6379/0", ALLOWED_HOSTS="wg.example.gov.cn")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["django.db.backends.postgresql", "False"]


def test_production_needs_allowed_hosts():
    r = django_setup(DJANGO_MODE="production", SECRET_KEY="k" * 50, DATABASE_URL="postgres://x@127.0.0.1/x",
                     REDIS_URL="redis://127.0.0.1:6379/0")
    assert r.returncode != 0 and "ALLOWED_HOSTS must be set" in r.stderr


def test_embedded_mode_is_sqlite_with_inline_tasks():
    r = django_setup()
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["django.db.backends.sqlite3", "True"]


def test_language_and_time_zone():
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert "django.middleware.locale.LocaleMiddleware" in settings.MIDDLEWARE


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL not set; CI sets it")
def test_cache_is_the_real_redis():
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.set("probe", {"ok": 1}, 10)
    assert cache.get("probe") == {"ok": 1}


def test_trusted_proxy_middleware(rf, settings):
    from config.middleware import TrustedProxyMiddleware

    settings.TRUSTED_PROXIES = ["10.0.0.5"]
    seen = {}
    mw = TrustedProxyMiddleware(lambda request: seen.setdefault("ip", request.META["REMOTE_ADDR"]))
    mw(rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9"))
    assert seen.pop("ip") == "203.0.113.9"  # the hop our proxy saw, not what the client wrote
    mw(rf.get("/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9"))
    assert seen.pop("ip") == "198.51.100.7"  # not a trusted proxy: the header is ignored


def test_beat_schedule_names_registered_tasks():
    from config.celery import app

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry["task"]


# --- the test framework itself (tests/conftest.py, tests/support.py) --------------------------------

SHARED_SCENARIO = {
    "conftest.py": """
from tests.conftest import *  # noqa: F403
from tests.conftest import _clean_cache, _default_language, _fast_passwords  # noqa: F401
""",
    "test_a.py": """
import pytest
from grid.models import GridNode
from issues.models import Issue

built = []


def test_ledger_is_world_and_built_on_it(ledger, world):
    assert ledger is world and world.a.leader.name == built[0]
    assert Issue.objects.count() == 4 and world.a.mg1.name == "微网格A1"


def test_world_changes_rows_and_objects(world):
    built.append(world.a.leader.name)  # from a factory sequence: another build, another name
    world.a.mg1.name = "changed in memory"
    world.a.extra = "an attribute"
    GridNode.objects.filter(pk=world.a.mg1.pk).update(name="changed in the database")


@pytest.mark.django_db(transaction=True)
def test_transactional_builds_its_own(world):
    assert world.a.leader.name not in built and GridNode.objects.count() == 13


def test_plain_sees_no_world(db):
    assert GridNode.objects.count() == 0


def test_world_is_pristine_and_built_once(world):
    assert world.a.leader.name == built[0] and not hasattr(world.a, "extra")
    assert world.a.mg1.name == "微网格A1" == GridNode.objects.get(pk=world.a.mg1.pk).name
    assert Issue.objects.count() == 0
""",
    "test_b.py": """
from grid.models import GridNode


def test_next_module_sees_no_world(db):
    assert GridNode.objects.count() == 0


def test_next_module_builds_its_own(world):
    assert GridNode.objects.count() == 13
""",
}


def run_pytest(folder, *args):
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CI", "DJANGO_MODE")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(folder),
         "-p", "no:cacheprovider", "-v", *args],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300,
    )


def test_shared_data_is_built_once_per_module_copied_per_test_and_seen_by_no_other(tmp_path):
    for name, text in SHARED_SCENARIO.items():
        (tmp_path / name).write_text(text)
    r = run_pytest(tmp_path, "--no-migrations")
    assert r.returncode == 0, r.stdout + r.stderr
    ran = [line.split(" ")[0].split("::")[1] for line in r.stdout.splitlines() if " PASSED" in line]
    # Per module: tests without shared data, then by the data they use; transactional tests last.
    assert ran == [
        "test_plain_sees_no_world", "test_world_changes_rows_and_objects", "test_world_is_pristine_and_built_once",
        "test_ledger_is_world_and_built_on_it", "test_next_module_sees_no_world", "test_next_module_builds_its_own",
        "test_transactional_builds_its_own",
    ]
    assert "shared test data: levels built 3, tests served copies 4" in r.stdout


def test_a_shared_fixture_may_use_only_shared_fixtures():
    from types import SimpleNamespace

    from tests.support import builders_of, shared_fixture

    def world():
        pass

    def report(world, tmp_path):
        pass

    defs = {name: [SimpleNamespace(func=shared_fixture(fn)._get_wrapped_function())]
            for name, fn in (("world", world), ("report", report))}
    defs["tmp_path"] = [SimpleNamespace(func=lambda: None)]
    item = SimpleNamespace(fixturenames=["report", "world", "tmp_path"],
                           _fixtureinfo=SimpleNamespace(name2fixturedefs=defs))
    with pytest.raises(pytest.UsageError, match="report may only use shared fixtures, not tmp_path"):
        builders_of(item)
    item.fixturenames = ["world"]
    assert [b.name for b in builders_of(item)] == ["world"]


def test_race_reports_each_call_in_order():
    from tests.support import kind_of, race

    def fails(exc):
        def call():
            raise exc
        return call

    outcomes = race([lambda: None, fails(ValueError("v")), fails(KeyError("k")), fails(LookupError("l"))],
                    {ValueError: kind_of, IndexError: "index"})
    assert outcomes == ["ok", "ValueError", "error KeyError('k')", "error LookupError('l')"]


def test_api_clients_of_the_support_module(world):
    from PIL import Image

    from tests.support import client_for, image, results, token_client

    nodes = "/api/v1/grid/nodes/"
    assert len(results(client_for(world.staff).get(nodes))) == 13
    assert len(results(token_client(world.staff).get(nodes))) == 13
    assert token_client("not-a-token").get(nodes).status_code == 401
    jpeg = image("x.jpg", size=(3, 2), fmt="JPEG")
    assert jpeg.content_type == "image/jpeg" and Image.open(jpeg).size == (3, 2)


def test_snapshots_copy_by_pickling_or_else_deep_copying(world):
    from grid.models import GridNode
    from tests.support import Snapshot

    pickled = Snapshot({"w": world, "same": world.a})
    first, second = pickled.copy(), pickled.copy()
    assert pickled.data is not None and first["same"] is first["w"].a and first["w"] is not second["w"]
    assert first["w"].a.mg1.pk == world.a.mg1.pk
    # A queryset pickles with its rows, a deep copy of it queries again; a function does not pickle.
    for value in (GridNode.objects.all(), lambda: None):
        assert Snapshot({"v": value}).data is None
    rows = Snapshot({"v": GridNode.objects.all()})
    GridNode.objects.filter(pk=world.street.pk).update(name="renamed")
    assert "renamed" in {n.name for n in rows.copy()["v"]}


def test_the_admins_people_are_in_their_groups(ledger, superuser, staff, secretary, secretary_b, branch):
    assert superuser.is_superuser and superuser.is_staff
    for user, role in ((staff, "street_staff"), (secretary, "secretary"), (secretary_b, "secretary"),
                       (branch, "party_branch")):
        assert user.is_staff and list(user.groups.values_list("name", flat=True)) == [f"role:{role}"]
    assert (staff, secretary, secretary_b, branch) == (ledger.staff, ledger.a.secretary, ledger.b.secretary, ledger.branch)
    assert ledger.staff.is_staff  # granted on the object the test reads too, as a plain fixture does
