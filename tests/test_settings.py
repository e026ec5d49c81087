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
