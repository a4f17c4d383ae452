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
from django.utils.csp import CSP
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

# How many proxies of ours stand in front (a TLS-terminating one in production: 1). With
# none, X-Forwarded-* is the visitor's to forge and nothing reads it; with N, the visitor
# is the N-th address from the right of X-Forwarded-For (accounts/addresses.py) and
# X-Forwarded-Proto says whether they came over HTTPS. Said explicitly, never guessed.
if "BEHIND_PROXY" in os.environ:
    raise ImproperlyConfigured(
        "BEHIND_PROXY is gone: set TRUSTED_PROXY_HOPS to the number of proxies in front "
        "(1 for one TLS-terminating proxy), and remove BEHIND_PROXY"
    )
TRUSTED_PROXY_HOPS = envint("TRUSTED_PROXY_HOPS", "0")
if TRUSTED_PROXY_HOPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "true")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer asks over plain HTTP
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
    # Asking browsers to preload HSTS binds the whole domain to HTTPS for months, beyond
    # this console: only when its owner says so.
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "false")
    if not SECURE_HSTS_PRELOAD:
        # The deploy check asks for preload (security.W021): off is a choice, not a miss.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
# No inline script, style or handler anywhere in the console (htmx is configured not to
# inject its indicator styles nor to evaluate code), so 'self' is enough.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

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
    # Outside the rest, so it also sees what their exceptions became (errorpages.py).
    "sendon_results.errorpages.ErrorPagesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "sendon_results.middleware.PrivacyHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After static files (they read nothing) and before anything that reads the database,
    # so the page's reads go where it says.
    "sendon_results.replicas.ReplicaReadsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "sendon_results.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sendon_results.accounts.throttle.SignInThrottleMiddleware",
    "sendon_results.accounts.sessions.SessionTimeoutMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "sendon_results.accounts.middleware.OrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sendon_results.urls"
# A refused form gets the console's page (in the user's language), not Django's.
CSRF_FAILURE_VIEW = "sendon_results.views.csrf_failure"
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
# Hot standbys of the primary, comma-separated postgres:// URLs: pages, dashboards, exports
# and statements read from them; writes, the API and a browser's reads right after its own
# writes stay on the primary (replicas.py). A replica that does not answer within
# connect_timeout is left alone for REPLICA_RETRY_SECONDS. Tests mirror them to default.
for number, url in enumerate(envlist("DATABASE_REPLICA_URLS", ""), start=1):
    if not url.startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured("DATABASE_REPLICA_URLS: replicas are PostgreSQL standbys")
    DATABASES[f"replica{number}"] = database_from_url(url) | {
        # TCP keepalives: a standby whose machine is gone is found out within about 25 s
        # while a page waits on it, not at the operating system's two hours.
        "OPTIONS": {
            "connect_timeout": 2,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        },
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["sendon_results.replicas.ReplicaRouter"]
# How long a browser that wrote (posted a form) waits for a replica with its write, at
# most: it reads the primary meanwhile, and any replica that has replayed it at once.
REPLICA_PIN_SECONDS = envint("REPLICA_PIN_SECONDS", "60")
REPLICA_RETRY_SECONDS = envint("REPLICA_RETRY_SECONDS", "30")
# Pages do not read a replica whose replay is further behind the primary than this: its
# list would miss that many seconds of sends and results.
REPLICA_MAX_LAG_SECONDS = envint("REPLICA_MAX_LAG_SECONDS", "30")
# How long a job waits for a replica to catch up with the moment it began, before it
# reads the primary instead.
REPLICA_CATCH_UP_SECONDS = envint("REPLICA_CATCH_UP_SECONDS", "5")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Where a password is chosen through a form (admin, changepassword, createsuperuser).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (accounts/throttle.py), counted in the cache below: one username from
# one address waits longer after each failure and is locked at LOGIN_FAILURE_LIMIT; one
# address is locked at LOGIN_ADDRESS_FAILURE_LIMIT failures whatever the usernames. A lock
# lasts LOGIN_LOCKOUT_MINUTES from the failure that set it; attempts while it holds do not
# extend it.
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "10")
LOGIN_ADDRESS_FAILURE_LIMIT = envint("LOGIN_ADDRESS_FAILURE_LIMIT", "50")
LOGIN_LOCKOUT_MINUTES = envint("LOGIN_LOCKOUT_MINUTES", "15")
# A sign-in ends after SESSION_IDLE_MINUTES without activity and SESSION_MAX_HOURS after it
# began (accounts/sessions.py); the cookie never outlives the second.
SESSION_IDLE_MINUTES = envint("SESSION_IDLE_MINUTES", "30")
SESSION_MAX_HOURS = envint("SESSION_MAX_HOURS", "12")
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "ko"
LANGUAGES = [("ko", _("Korean")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "sendon_results" / "locale"]
# Korean dates as 2026-12-06 and 2026-12-06 14:05 (sendon_results/formats/ko/formats.py).
FORMAT_MODULE_PATH = ["sendon_results.formats"]
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
# How long the access record (접속기록) keeps an event, in days: PIPA's security standard
# asks for at least a year, two for large holders of personal data (the default).
AUDIT_RETENTION_DAYS = envint("AUDIT_RETENTION_DAYS", "730")
# Minutes an operator's "번호 보기" shows one send's full numbers and names (masking.py).
REVEAL_MINUTES = envint("REVEAL_MINUTES", "5")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # WeasyPrint and fontTools narrate every rendering step at INFO.
    "loggers": {
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # runserver's line per request, without the query string (phone numbers, text).
        "django.server": {"filters": ["path_only"], "propagate": True},
        # Its only records (DEBUG: a variable a template could not resolve) print the
        # whole template context, the request's URL and query string included.
        "django.template": {"filters": ["drop"]},
    },
    "filters": {
        "path_only": {"()": "sendon_results.logfilters.PathOnly"},
        "drop": {"()": "sendon_results.logfilters.Drop"},
    },
}

# The address printed on send statements for their verification page.
PUBLIC_BASE_URL = os.getenv("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# Mail (member invitations), through Django's MAILERS: SMTP with the server and account
# below, or while DEBUG the console (mails printed, nothing sent); EMAIL_BACKEND says
# otherwise.
mail_backend = os.getenv(
    "EMAIL_BACKEND",
    f"django.core.mail.backends.{'console' if DEBUG else 'smtp'}.EmailBackend",
)
MAILERS = {
    "default": {
        "BACKEND": mail_backend,
        "OPTIONS": (
            {
                "host": os.getenv("EMAIL_HOST", "localhost"),
                "port": envint("EMAIL_PORT", "25"),
                "username": os.getenv("EMAIL_HOST_USER", ""),
                "password": os.getenv("EMAIL_HOST_PASSWORD", ""),
                "use_tls": envbool("EMAIL_USE_TLS", "false"),
                "timeout": 10,  # seconds: a server that does not answer fails the invitation
            }
            if mail_backend.endswith(".smtp.EmailBackend")
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "발송결과 콘솔 <no-reply@localhost>")
# Days an invitation link stays good.
INVITE_DAYS = envint("INVITE_DAYS", "7")
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

# Requests handed to each organization's sending platform (handoff/): how long one try
# waits for an answer; whether an endpoint may be plain http:// (never in production) and
# may be a private or loopback address (a platform on the same private network).
PLATFORM_TIMEOUT_SECONDS = envint("PLATFORM_TIMEOUT_SECONDS", "5")
PLATFORM_ALLOW_HTTP = envbool("PLATFORM_ALLOW_HTTP", "true" if DEBUG else "false")
PLATFORM_ALLOW_PRIVATE_ADDRESSES = envbool("PLATFORM_ALLOW_PRIVATE_ADDRESSES", "false")
# A try holds its request this long past the timeout; a worker that dies mid-try leaves
# it to the next try after that.
PLATFORM_LEASE_SECONDS = envint("PLATFORM_LEASE_SECONDS", "60")

# Exports: how long a finished file is kept, and how long one job may run.
EXPORT_EXPIRY_DAYS = envint("EXPORT_EXPIRY_DAYS", "7")
EXPORT_TIME_LIMIT = envint("EXPORT_TIME_LIMIT", "3600")  # seconds
# Fair use of the queue (exports and statements together): jobs waiting or being made that
# one member, and one organization, may have; and how many of an organization's jobs the
# workers take at a time (the others wait for its turn, so no backlog holds up another).
EXPORT_ACTIVE_PER_USER = envint("EXPORT_ACTIVE_PER_USER", "3")
EXPORT_ACTIVE_PER_ORGANIZATION = envint("EXPORT_ACTIVE_PER_ORGANIZATION", "10")
EXPORT_RUNNING_PER_ORGANIZATION = envint("EXPORT_RUNNING_PER_ORGANIZATION", "1")
CELERY_BEAT_SCHEDULE = {
    "fail-stuck-jobs": {"task": "sendon_results.tasks.fail_stuck_jobs", "schedule": 600},
    # Beat reads crontabs in CELERY_TIMEZONE, Korea time: the purge runs at 04:00 KST.
    "purge-expired": {
        "task": "sendon_results.tasks.purge_expired",
        "schedule": crontab(hour=4, minute=0),
    },
    # Sends' and deliveries' months three ahead (PostgreSQL); a writer that meets a
    # month still missing makes it itself.
    "ensure-partitions": {
        "task": "sendon_results.tasks.ensure_partitions",
        "schedule": crontab(hour=3, minute=30),
    },
    # Requests to the sending platform due for a try (handoff/delivery.py).
    "deliver-due-outbox": {"task": "sendon_results.tasks.deliver_due_outbox", "schedule": 60},
}
# A long export must not be handed to a second worker while the first still works on it.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": EXPORT_TIME_LIMIT + 3600
}
# CELERY_BROKER_URL=filesystem:// (what `make run` sets, scripts/run_demo.py): kombu's
# filesystem transport, one file per message under CELERY_BROKER_DIR, so the embedded demo
# runs a real worker with no broker server to install. One machine only: web and worker
# must see the same folder.
CELERY_BROKER_DIR = Path(os.getenv("CELERY_BROKER_DIR", str(BASE_DIR / "var" / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "control"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        # Publisher and worker read and write the same folder.
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        # Where exchange bindings are kept (the workers' broadcast queues).
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        # Seconds between looks at the folder: a queued job starts within this.
        "polling_interval": 0.5,
    }
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
