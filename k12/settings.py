"""Settings for the K12 tutoring backend.

One file, driven by environment variables. With nothing set (and ``DJANGO_DEBUG=1``,
which ``make run`` sets) it runs embedded: SQLite, the in-memory channel layer, local
file storage, console email. Production sets ``DATABASE_URL``, ``REDIS_URL`` and
``AWS_STORAGE_BUCKET_NAME``; see README.md, "Configuration".

DEBUG is off unless asked for, and with DEBUG off the process refuses to start
without an explicit ``DJANGO_SECRET_KEY`` and ``DJANGO_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def _contact_patterns(raw: str) -> list[str]:
    """CONTACT_DETAILS_EXTRA_PATTERNS: a JSON array of regular expressions, checked at start-up."""
    if not raw:
        return []
    try:
        patterns = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured("CONTACT_DETAILS_EXTRA_PATTERNS must be a JSON array of strings") from None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ImproperlyConfigured("CONTACT_DETAILS_EXTRA_PATTERNS must be a JSON array of strings")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            message = f"CONTACT_DETAILS_EXTRA_PATTERNS: {pattern!r} is not a valid pattern: {exc}"
            raise ImproperlyConfigured(message) from None
    return patterns


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
if not DEBUG:
    missing = [
        name
        for name, value in (("DJANGO_SECRET_KEY", SECRET_KEY), ("DJANGO_ALLOWED_HOSTS", ALLOWED_HOSTS))
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG off and no "
            + " / ".join(missing)
            + ". Set them (see README.md, 'Configuration'), or set DJANGO_DEBUG=1 for local development."
        )
else:
    SECRET_KEY = SECRET_KEY or "django-insecure-local-development-key-not-for-production-use"
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "daphne",
    # django.contrib.admin, with the staff's desk (KPIs, chart) as its site.
    "admin_app.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "csp",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "k12",
    "sessions_app",
    "admin_app",
]

MIDDLEWARE = [
    # outermost: errors under /api/ become DRF-shaped JSON whoever produced them (k12/middleware.py)
    "k12.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "k12.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # a refusal of the domain's raised under a page (not an API view): its status (k12/middleware.py)
    "k12.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "k12.urls"
WSGI_APPLICATION = "k12.wsgi.application"
ASGI_APPLICATION = "k12.asgi.application"

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
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
# DATABASE_URL=postgres://user:pass@host:5432/name selects PostgreSQL through psycopg 3, with
# Django's connection pool (psycopg_pool), one per process. A request, or a unit of the live
# room's database work under daphne, borrows a connection and gives it back at its end, so no
# one pays a connect and no thread keeps a connection to itself. DB_POOL_MAX bounds the pool: the
# threads of a process that use the database at once (gunicorn's --threads, daphne's
# ASGI_THREADS; a sync worker uses one), DB_POOL_MIN stay open while idle, and a thread that finds
# none free waits DB_POOL_TIMEOUT seconds before its request fails. The pool checks a connection
# before lending it (CONN_HEALTH_CHECKS), so one the server ended (a restart, an idle timeout) is
# replaced, never handed to a request. The pool keeps the connections, so Django must not
# (CONN_MAX_AGE 0). DB_POOL_MAX=0 turns the pool off; then DB_CONN_MAX_AGE > 0 keeps a connection
# per thread that long.
DB_POOL_MIN = env_int("DB_POOL_MIN", 1)
DB_POOL_MAX = env_int("DB_POOL_MAX", 8)
DB_POOL_TIMEOUT = env_int("DB_POOL_TIMEOUT", 5)
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 0)
# The longest a statement may run before PostgreSQL cancels it (0: no bound). The REST process's
# workers run one request at a time and nothing else ends a request that waits on the database.
DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 0)
# Prepared statements: the parameters are bound by the server, so a query is the same text
# each time, and a connection that has run one five times keeps it parsed and planned. Off
# (0) behind a pooler that gives one client several server connections (PgBouncer's
# transaction mode), where a prepared statement is not where the next execution looks for it.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True)}
    postgresql = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if postgresql and DB_PREPARED_STATEMENTS:
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
    if postgresql and DB_STATEMENT_TIMEOUT_MS > 0:
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}"
    if postgresql and DB_POOL_MAX > 0:
        if DB_CONN_MAX_AGE != 0:
            raise ImproperlyConfigured(
                "DB_CONN_MAX_AGE must be 0 with the connection pool (DB_POOL_MAX > 0): the pool keeps the connections"
            )
        if not 0 <= DB_POOL_MIN <= DB_POOL_MAX:
            raise ImproperlyConfigured("DB_POOL_MIN must be between 0 and DB_POOL_MAX")
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": DB_POOL_MIN,
            "max_size": DB_POOL_MAX,
            "timeout": DB_POOL_TIMEOUT,
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # BEGIN IMMEDIATE: a transaction takes the write lock up front, so the
            # check-then-insert services (overlap checks) are serialised on SQLite too.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }
if test_db_name := env_str("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": test_db_name}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "k12.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files -------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# In development WhiteNoise serves straight from the apps' static folders (no collectstatic).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"  # never routed: recordings are served by signed, expiring URLs only

# Storage: local disk unless a bucket is configured, then S3 through django-storages/boto3.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
    AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "us-east-1")
    AWS_S3_FILE_OVERWRITE = False
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_QUERYSTRING_EXPIRE = env_int("RECORDING_URL_TTL_SECONDS", 900)
    AWS_S3_SIGNATURE_VERSION = "s3v4"
    AWS_S3_ADDRESSING_STYLE = env_str("AWS_S3_ADDRESSING_STYLE", "auto")
    # Reading an object through storage.open() spools it: to disk beyond 2 MiB, not all in
    # memory (django-storages' default of 0 means "never roll over").
    AWS_S3_MAX_MEMORY_SIZE = 2 * 1024 * 1024
    # A stored upload is sent in 8 MiB parts, at most 4 at a time: bounded memory per worker
    # (boto3's default, 10 threads, holds up to 80 MiB of one file).
    from boto3.s3.transfer import TransferConfig

    AWS_S3_TRANSFER_CONFIG = TransferConfig(
        multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, max_concurrency=4
    )
    DEFAULT_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {}}
else:
    DEFAULT_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Uploads bigger than this go to a temporary file on disk instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 100
# Largest request body read into memory (JSON; recordings stream and have RECORDING_MAX_BYTES).
# An API request declaring more gets a 413 before its body is read.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
RECORDING_MAX_BYTES = env_int("RECORDING_MAX_BYTES", 2 * 1024 * 1024 * 1024)
RECORDING_URL_TTL_SECONDS = env_int("RECORDING_URL_TTL_SECONDS", 900)
# A direct upload that averages less than this (after its first RECORDING_UPLOAD_GRACE_SECONDS)
# is refused with a 408: it would hold one of the upload pool's workers for hours.
RECORDING_MIN_BYTES_PER_SECOND = env_int("RECORDING_MIN_BYTES_PER_SECOND", 16 * 1024)
RECORDING_UPLOAD_GRACE_SECONDS = env_int("RECORDING_UPLOAD_GRACE_SECONDS", 30)
# Direct-to-S3 multipart uploads: the part size (S3's minimum is 5 MiB; grown automatically to
# stay within 10,000 parts) and how long the presigned part URLs live. An upload still
# unfinished after that (plus cleanup_recordings' grace) is aborted by cleanup_recordings.
RECORDING_MULTIPART_PART_BYTES = env_int("RECORDING_MULTIPART_PART_BYTES", 16 * 1024 * 1024)
RECORDING_UPLOAD_TTL_SECONDS = env_int("RECORDING_UPLOAD_TTL_SECONDS", 6 * 3600)
# Retention, in days; 0 keeps forever. `manage.py purge_messages` / `purge_recordings` apply
# them (from cron) and skip sessions under legal hold.
MESSAGE_RETENTION_DAYS = env_int("MESSAGE_RETENTION_DAYS", 0)
RECORDING_RETENTION_DAYS = env_int("RECORDING_RETENTION_DAYS", 0)

# --- Safeguarding: contact details in messages (sessions_app/chat/contact_details.py) ---------------
# The region whose national format a phone number without a +country prefix is read in.
CONTACT_DETAILS_PHONE_REGION = env_str("CONTACT_DETAILS_PHONE_REGION", "US").upper()
# More kinds of contact detail, as a JSON array of regular expressions (case-insensitive).
CONTACT_DETAILS_EXTRA_PATTERNS = _contact_patterns(env_str("CONTACT_DETAILS_EXTRA_PATTERNS"))
# Never contact details: domains (with their subdomains), phone numbers, exact texts.
CONTACT_DETAILS_ALLOW = env_list("CONTACT_DETAILS_ALLOW")

# --- Channels ---------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# channels-redis and redis-py 8: redis-py reads with a 5 s socket timeout by default, which made
# every quiet blocking receive of the list layer fail ("Timeout reading from ...") and crashed
# idle sockets' consumers (channels_redis#422). Reads get longer than any blocking pop, so a dead
# connection is still noticed; connecting to a Redis that is down fails fast.
REDIS_LAYER_HOST = {"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 2}
# CHANNEL_LAYER: "pubsub" (the default) or "lists". See README, "The live room".
CHANNEL_LAYER = env_str("CHANNEL_LAYER", "pubsub")
CHANNEL_LAYER_PREFIX = env_str("CHANNEL_LAYER_PREFIX", "k12")
# Presence (sessions_app/chat/presence.py): a socket that stops being refreshed (its process died)
# stops counting as in its room after this many seconds.
PRESENCE_TTL_SECONDS = env_int("PRESENCE_TTL_SECONDS", 60)
if CHANNEL_LAYER not in ("pubsub", "lists"):
    raise ImproperlyConfigured(f"CHANNEL_LAYER must be 'pubsub' or 'lists', not {CHANNEL_LAYER!r}")
if REDIS_URL and CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            # One PUBLISH a broadcast; each server process is subscribed once per room
            # (sessions_app/chat/hub.py), so a frame reaches a process in one push, no polling of
            # per-socket queues. Nothing is stored: a process that misses a frame (Redis
            # restarting) fills the gap from the database on the next one.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_LAYER_HOST], "prefix": CHANNEL_LAYER_PREFIX},
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_LAYER_HOST],
                # Chat frames are small and consumers drain them at once; a client whose
                # queue reaches this is stuck, and dropping for it beats growing without bound.
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000),
                # A message nobody read within this is stale; the client recovers it
                # through `after` on reconnect, so nothing is lost by expiring it.
                "expiry": env_int("CHANNEL_LAYER_EXPIRY", 30),
                "group_expiry": env_int("CHANNEL_LAYER_GROUP_EXPIRY", 86400),
                "prefix": CHANNEL_LAYER_PREFIX,
            },
        }
    }
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "k12"),
            # The cache counts rate limits, which fail open when Redis is away: fail fast too
            # (redis-py 8 would retry 10 times with backoff, holding the request ~20 s). Plain
            # redis-py connection arguments: k12/throttling.py makes its client from them too.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1, "retry": Retry(NoBackoff(), 0)},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000, "expiry": 30},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- The live room (/ws/encounters/) ------------------------------------------------------------
# README, "Chat and the live room". A socket over WS_MAX_SOCKETS_PER_USER (counted across all
# processes in Redis, sessions_app/chat/socket_cap.py) is closed with 4409; a process renews its
# sockets' leases every third of WS_SOCKET_LEASE_SECONDS, so a crashed process's sockets stop
# counting after at most that long.
WS_AUTH_TIMEOUT_SECONDS = env_int("WS_AUTH_TIMEOUT_SECONDS", 10)
WS_RATE_PER_SECOND = env_int("WS_RATE_PER_SECOND", 10)
WS_RATE_BURST = env_int("WS_RATE_BURST", 20)
WS_FLOOD_STRIKES = env_int("WS_FLOOD_STRIKES", 50)
WS_TYPING_INTERVAL_SECONDS = env_int("WS_TYPING_INTERVAL_SECONDS", 2)
WS_ACCESS_RECHECK_SECONDS = env_int("WS_ACCESS_RECHECK_SECONDS", 60)
WS_MAX_SOCKETS_PER_USER = env_int("WS_MAX_SOCKETS_PER_USER", 20)
WS_SOCKET_LEASE_SECONDS = env_int("WS_SOCKET_LEASE_SECONDS", 60)

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "K12 Tutoring <no-reply@k12.test>")
# An SMTP server that accepts the connection and then says nothing must not hold a worker forever.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
# A notification's email is tried this many times more after a failure, waiting
# NOTIFICATION_EMAIL_RETRY_SECONDS, then twice that, ... (at most 10 minutes) in between; then it
# is recorded as failed on the notification (staff see it in the admin).
NOTIFICATION_EMAIL_RETRIES = env_int("NOTIFICATION_EMAIL_RETRIES", 5)
NOTIFICATION_EMAIL_RETRY_SECONDS = float(env_str("NOTIFICATION_EMAIL_RETRY_SECONDS", "30"))
# How long a worker's claim on an email lasts (0: ten times EMAIL_TIMEOUT). Another worker takes
# over an email whose worker died only after it.
NOTIFICATION_EMAIL_LEASE_SECONDS = float(env_str("NOTIFICATION_EMAIL_LEASE_SECONDS", "0"))

# --- Background work (k12/celery.py) ----------------------------------------------------------
# The broker is Redis (REDIS_URL unless CELERY_BROKER_URL says otherwise). Without one, tasks run
# eagerly in the process that asks for them, and `make run` starts a beat next to the server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://localhost/"  # nothing is ever sent through it: tasks run eagerly
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "k12")
# A task is acknowledged when it has finished, not when it is received: a worker killed mid-task
# (or its machine) leaves the message to be delivered again; every task is idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Nobody waits for results: no result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queuing a task on commit gives up quickly when Redis is away (the sweep queues it later)
# instead of holding the request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis has no acknowledgements of its own: a message taken and not acknowledged within this
    # many seconds (its worker died) is given to another worker. Longer than any task runs.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    # How often each worker looks for such messages.
    "unacked_restore_interval": env_int("CELERY_RESTORE_CHECK_SECONDS", 60),
    "unacked_restore_throttle": 1,
    "socket_timeout": 15,
    "socket_connect_timeout": 5,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The schedule (`celery -A k12 beat`). Every task on it is idempotent, so two beat processes
# (or a tick delivered twice) change nothing; a tick not run within its period is dropped.
CELERY_BEAT_SCHEDULE = {
    "session-reminders": {"task": "k12.tasks.reminders_send_due", "schedule": 60.0, "options": {"expires": 55}},
    "missed-message-digests": {
        "task": "sessions_app.tasks.digests_send_due",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "notification-email-sweep": {
        "task": "k12.tasks.notification_emails_sweep",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "recordings-processing-sweep": {
        "task": "sessions_app.tasks.recordings_process_sweep",
        "schedule": 600.0,
        "options": {"expires": 590},
    },
    "complete-sessions": {"task": "k12.tasks.complete_sessions", "schedule": 600.0, "options": {"expires": 590}},
    "cleanup-recordings": {"task": "sessions_app.tasks.cleanup_recordings", "schedule": crontab(minute=17)},
    "purge-messages": {"task": "sessions_app.tasks.purge_messages", "schedule": crontab(hour=3, minute=7)},
    "purge-recordings": {"task": "sessions_app.tasks.purge_recordings", "schedule": crontab(hour=3, minute=37)},
    "flush-expired-tokens": {"task": "k12.tasks.flush_expired_tokens", "schedule": crontab(hour=4, minute=7)},
}
CELERY_BEAT_SCHEDULE_FILENAME = env_str("CELERY_BEAT_SCHEDULE_FILENAME", str(BASE_DIR / "celerybeat-schedule"))

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # JWT first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
        "k12.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, with JSON nested too deeply for the decoder a 400 (k12/parsers.py)
    "DEFAULT_PARSER_CLASSES": ["k12.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "k12.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # k12/throttling.py: atomic counters in the cache (Redis in production). "N/period".
    "DEFAULT_THROTTLE_RATES": {
        "login_ip": env_str("THROTTLE_LOGIN_IP", "30/min"),
        "login_account": env_str("THROTTLE_LOGIN_ACCOUNT", "10/min"),
        "login_account_total": env_str("THROTTLE_LOGIN_ACCOUNT_TOTAL", "100/min"),
        "refresh_ip": env_str("THROTTLE_REFRESH_IP", "60/min"),
        "refresh_account": env_str("THROTTLE_REFRESH_ACCOUNT", "30/min"),
        "message_post": env_str("THROTTLE_MESSAGES", "60/min"),
        "recording_upload": env_str("THROTTLE_UPLOADS", "30/hour"),
    },
    # Behind the proxy the client's address is the last X-Forwarded-For hop the proxy added.
    "NUM_PROXIES": env_int("NUM_PROXIES", 1 if env_bool("DJANGO_BEHIND_PROXY", False) else 0),
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY") or SECRET_KEY,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "K12 tutoring API",
    "DESCRIPTION": "The public API: sessions, chat, recordings, staff dashboard.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    "PREPROCESSING_HOOKS": ["k12.schema.drop_slash_twins"],
}

# --- Security ---------------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
if env_bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Content-Security-Policy, one policy for every page (the web client, the Django admin, Swagger
# UI): scripts only from our own origin, never inline; an inline <style> block only with the
# response's nonce (templates write nonce="{{ request.csp_nonce }}"); recordings play from our
# origin or the bucket's signed URLs (their poster frames too); no framing, no plugins, forms post only to us.
_RECORDING_ORIGINS = []
if AWS_STORAGE_BUCKET_NAME:
    from urllib.parse import urlsplit

    _endpoint = urlsplit(AWS_S3_ENDPOINT_URL or "https://s3.amazonaws.com")
    _RECORDING_ORIGINS = [f"{_endpoint.scheme}://{_endpoint.netloc}", f"{_endpoint.scheme}://*.{_endpoint.netloc}"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:", *_RECORDING_ORIGINS],  # recordings' poster frames
        "font-src": [SELF],
        "connect-src": [SELF, *_RECORDING_ORIGINS],
        "media-src": [SELF, *_RECORDING_ORIGINS],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
