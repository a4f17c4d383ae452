"""Settings for the send results console, read from the environment.

Every variable is listed with its default in `.env.example`. Without any of them the
console runs embedded: SQLite, Celery tasks run eagerly in-process, files on local disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


def database_from_url(url: str) -> dict[str, object]:
    """Turn `sqlite:///path` or `postgres://user:pass@host:port/name` into a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        # sqlite:///relative.sqlite3 and sqlite:////absolute/path.sqlite3, like dj-database-url
        name = path[1:] if path.startswith("/") else path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / name}
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            # Reuse connections across requests; health-checked so a restarted server
            # costs one failed ping, not a failed page.
            "CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", "60"),
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")


DEBUG = envbool("DEBUG", "true")
SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-debug"
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

# Behind a TLS-terminating proxy in production: trust its X-Forwarded-Proto and the address
# it appends to X-Forwarded-For, send cookies over HTTPS only, and tell browsers to stay
# on HTTPS. (Without such a proxy in front, both headers would be the visitor's to forge.)
BEHIND_PROXY = envbool("BEHIND_PROXY", "false" if DEBUG else "true")
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "true")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer asks over plain HTTP
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "true")

INSTALLED_APPS = [
    "sendon_results.apps.SendonResultsConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
]

MIDDLEWARE = [
    "sendon_results.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "sendon_results.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "sendon_results.accounts.middleware.OrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sendon_results.urls"
WSGI_APPLICATION = "sendon_results.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sendon_results.accounts.context_processors.permissions",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(os.getenv("DATABASE_URL", "sqlite:///db.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "results"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "ko"
LANGUAGES = [("ko", _("Korean")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "sendon_results" / "locale"]
TIME_ZONE = os.getenv("TIME_ZONE", "Asia/Seoul")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Served by the app itself through WhiteNoise, compressed (no separate web server needed).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(os.getenv("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"

# Celery: without a broker every task runs eagerly in the calling process.
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE

# How long send records are kept, in days (the law behind the product caps it at a year).
RETENTION_DAYS = envint("RETENTION_DAYS", "365")
# Results that arrive before their send wait for it this many days, then the nightly purge
# drops them; an organization may have at most PENDING_RESULT_LIMIT waiting.
PENDING_RESULT_DAYS = envint("PENDING_RESULT_DAYS", "7")
PENDING_RESULT_LIMIT = envint("PENDING_RESULT_LIMIT", "100000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # WeasyPrint and fontTools narrate every rendering step at INFO.
    "loggers": {"weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}

# The address printed on send statements for their verification page.
PUBLIC_BASE_URL = os.getenv("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# Verification attempts one address may make in ten minutes.
VERIFY_RATE_LIMIT = envint("VERIFY_RATE_LIMIT", "30")
# The rate limit counts in the cache: Redis, shared by every web process, in production
# (CACHE_URL=redis://…/1); this process's memory when unset.
CACHE_URL = os.getenv("CACHE_URL", "")
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Exports: how long a finished file is kept, and how long one job may run.
EXPORT_EXPIRY_DAYS = envint("EXPORT_EXPIRY_DAYS", "7")
EXPORT_TIME_LIMIT = envint("EXPORT_TIME_LIMIT", "3600")  # seconds
CELERY_BEAT_SCHEDULE = {
    "fail-stuck-jobs": {"task": "sendon_results.tasks.fail_stuck_jobs", "schedule": 600},
    # Beat reads crontabs in CELERY_TIMEZONE, Korea time: the purge runs at 04:00 KST.
    "purge-expired": {
        "task": "sendon_results.tasks.purge_expired",
        "schedule": crontab(hour=4, minute=0),
    },
}
# A long export must not be handed to a second worker while the first still works on it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": EXPORT_TIME_LIMIT + 3600}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A new pool process loads the statement fonts before it reports for work (seconds on a
# busy machine); with Celery's default of 4 s the worker kills and replaces it, forever.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 60
# A broker that does not answer fails the request to queue within seconds, not minutes.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# A task's message is acknowledged when it is done, and given back if its worker dies:
# here only, for every task (tasks.py does not repeat it).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True

# The ingest API takes up to 10,000 recipients or results a call; larger requests are 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("API_MAX_REQUEST_MB", "16") * 2**20
