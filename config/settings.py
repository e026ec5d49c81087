"""Settings for both run modes, read from the environment.

- embedded (default): SQLite file, Celery tasks run inline, media on disk. For `make demo`.
- production (DJANGO_MODE=production): SECRET_KEY, DATABASE_URL and REDIS_URL are required.
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
MODE = os.environ.get("DJANGO_MODE", "embedded")
if MODE not in ("embedded", "production"):
    raise ImproperlyConfigured(f"DJANGO_MODE must be 'embedded' or 'production', not {MODE!r}.")
PRODUCTION = MODE == "production"


def _required(name):
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_MODE=production.")
    return value


if PRODUCTION:
    SECRET_KEY = _required("SECRET_KEY")
    DEBUG = os.environ.get("DEBUG", "") == "1"
    ALLOWED_HOSTS = [h for h in _required("ALLOWED_HOSTS").split(",") if h]
    DATABASES = {"default": dj_database_url.parse(_required("DATABASE_URL"), conn_max_age=60)}
    REDIS_URL = _required("REDIS_URL")
else:
    # Embedded mode is for a developer's machine; the key only signs local sessions.
    SECRET_KEY = os.environ.get("SECRET_KEY", "embedded-mode-not-secret")
    DEBUG = os.environ.get("DEBUG", "1") == "1"
    ALLOWED_HOSTS = ["*"]
    DATABASES = {
        "default": dj_database_url.config(
            default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}", conn_max_age=0
        )
    }
    REDIS_URL = os.environ.get("REDIS_URL", "")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Writers queue for the lock instead of failing with "database is locked" (embedded mode, tests).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})

# Reverse proxies whose X-Forwarded-For is believed (their own addresses), comma-separated.
TRUSTED_PROXIES = [p for p in os.environ.get("TRUSTED_PROXIES", "").split(",") if p]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "mptt",
    "common",
    "grid",
    "issues",
    "patrols",
    "incentives",
]

MIDDLEWARE = [
    "config.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "grid.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "common.context_processors.mobile",  # the phone pages' menu and tiles (common.registry)
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "mobile:login"
LOGIN_REDIRECT_URL = "mobile:home"

# Language and time: zh-hans by default, English available.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Uploads (floor plans, Excel registers) are checked for size and, for images, pixel count.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", 10 * 1024 * 1024))
UPLOAD_MAX_PIXELS = int(os.environ.get("UPLOAD_MAX_PIXELS", 40_000_000))

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: inline in embedded mode, a real worker and exactly one beat in production.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not PRODUCTION and not os.environ.get("CELERY_WORKER")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
# One beat process only. Static crontab schedule in Asia/Shanghai; every job is also a command.
CELERY_BEAT_SCHEDULE = {
    "mark-overdue": {"task": "issues.tasks.mark_overdue", "schedule": crontab(minute="*/15")},
    "flush-outbox": {"task": "issues.tasks.flush_outbox", "schedule": crontab(minute="*")},
    # The monthly cycle, on the 1st: this month's patrol plans, then last month's reports.
    "patrol-plans": {"task": "patrols.tasks.monthly_plans", "schedule": crontab(minute=5, hour=0, day_of_month=1)},
    "patrol-reports": {"task": "patrols.tasks.monthly_reports", "schedule": crontab(minute=30, hour=1, day_of_month=1)},
    "reconcile-points": {"task": "incentives.tasks.reconcile_points", "schedule": crontab(minute=0, hour=3, day_of_month=1)},
}

# The problem ledger.
WORKING_HOURS = ((9, 0), (17, 30))  # a working day's hours, Asia/Shanghai
RED_CARD_FACTOR = float(os.environ.get("RED_CARD_FACTOR", "0.5"))  # red when overdue by this share of the deadline
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "")  # printed into QR codes; the request's host if empty
RESIDENT_REPORTS_PER_IP_PER_HOUR = int(os.environ.get("RESIDENT_REPORTS_PER_IP_PER_HOUR", "5"))
RESIDENT_REPORTS_PER_NODE_PER_HOUR = int(os.environ.get("RESIDENT_REPORTS_PER_NODE_PER_HOUR", "30"))
NOTIFY_CHANNEL = os.environ.get("NOTIFY_CHANNEL", "console")  # console | email | sms, for users
# Joint analysis: a category in this many micro-grids of a community in a month is common; so is the
# same category this many times at one node within this many months; unsolved this long is difficult.
PATROL_COMMON_MICROGRIDS = int(os.environ.get("PATROL_COMMON_MICROGRIDS", "3"))
PATROL_COMMON_REPEATS = int(os.environ.get("PATROL_COMMON_REPEATS", "3"))
PATROL_COMMON_MONTHS = int(os.environ.get("PATROL_COMMON_MONTHS", "3"))
PATROL_DIFFICULT_DAYS = int(os.environ.get("PATROL_DIFFICULT_DAYS", "60"))
SMS_GATEWAY_URL = os.environ.get("SMS_GATEWAY_URL", "")
SMS_GATEWAY_KEY = os.environ.get("SMS_GATEWAY_KEY", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "noreply@weiwang.local")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "common.api.Pagination",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "微网实格 API",
    "DESCRIPTION": "Micro-grid community governance: the grid tree, rosters, households.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = os.environ.get("HTTPS", "1") == "1"
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

ADMIN_SITE_HEADER = _("Micro-grid governance")
