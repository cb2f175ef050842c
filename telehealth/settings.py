"""The one settings module. Everything that differs between machines comes from the environment.

With no environment at all the app runs locally: SQLite, in-memory channel layer, local-memory
cache and eager Celery. ``DATABASE_URL`` and ``REDIS_URL`` switch on the real services.
See ``.env.example`` for every variable.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import dj_database_url
import phonenumbers
from celery.schedules import crontab
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

from telehealth.env import env_bool, env_choice, env_int, env_json, env_list, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-local-development-key-change-me"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY") or _DEV_SECRET_KEY
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set to a private value when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_guid",
    "telehealth.accounts",
    "telehealth.api",
    "telehealth.audit",
    "telehealth.idempotency",
    "telehealth.notifications",
    "signaling",
    "clinical",
    "payments",
    "analytics",
]

MIDDLEWARE = [
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "telehealth.urls"
ASGI_APPLICATION = "asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
            ]
        },
    }
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Database ---------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
            conn_health_checks=True,
        )
    }
    if env_bool("DATABASE_POOL", False) and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # psycopg's pool: connections are reused across requests and storage threads (ASGI-safe).
        # Our backend sweeps the pool when it meets a dead connection (``telehealth.postgres``).
        DATABASES["default"]["ENGINE"] = "telehealth.postgres"
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2, minimum=1),
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20, minimum=1),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH") or str(BASE_DIR / "db.sqlite3"),
            # Daphne serves async and sync code from several threads. WAL lets readers run beside
            # the writer; IMMEDIATE takes the write lock when a transaction starts, so a transaction
            # that reads and then writes waits for the lock (``timeout``) instead of failing with
            # "database is locked" when another thread committed in between.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL",
            },
        }
    }

# --- Redis: cache, channel layer, Celery --------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "telehealth",
            # Under ASGI each request would otherwise open its own Redis connection.
            "OPTIONS": {"pool_class": "telehealth.cache.SharedConnectionPool"},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis, with messages between sockets of one process handed over directly.
            "BACKEND": "signaling.layers.LocalFirstRedisChannelLayer",
            # channels-redis blocks on Redis for 5 s at a time; redis-py's default 5 s socket
            # timeout would turn every quiet 5 s into an error that drops the socket.
            # Past 100 connections in use (a burst of connects), callers wait for one, up to 20 s.
            "CONFIG": {
                "hosts": [
                    {"address": REDIS_URL, "socket_timeout": 30, "max_connections": 100, "timeout": 20}
                ],
                "prefix": "telehealth",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or REDIS_URL or "cache+memory://"
# Without a broker there is nobody to run tasks, so they run inline in the caller.
_HAS_BROKER = bool(env_str("CELERY_BROKER_URL") or REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not _HAS_BROKER)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# With acks late, a task whose worker died unacknowledged runs again after this many seconds (Redis
# broker). Keep it above the longest countdown/ETA: an unacked scheduled task is redelivered too.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=1),
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "telehealth.accounts.tasks.*": {"queue": "default"},
    "payments.*": {"queue": "default"},
}
CELERY_BEAT_SCHEDULE = {
    "purge-expired-idempotency-keys": {
        "task": "telehealth.idempotency.tasks.purge_expired_keys",
        "schedule": 3600,
    },
    # Unpaid bookings give their slot back; a success whose webhook was lost is confirmed instead.
    "expire-pending-payments": {"task": "payments.expire_pending_payments", "schedule": 300},
    # Refunds whose task was lost (broker down) are queued again.
    "requeue-stale-refunds": {"task": "payments.requeue_stale_refunds", "schedule": 600},
    # Reminders and no-shows (clinical.schedule_jobs) every minute. Each is safe to run twice or
    # late; a tick still queued after a minute is dropped, as the next one does the same work.
    "send-appointment-reminders": {
        "task": "clinical.send_appointment_reminders",
        "schedule": 60,
        "options": {"expires": 55},
    },
    "send-medication-reminders": {
        "task": "clinical.send_medication_reminders",
        "schedule": 60,
        "options": {"expires": 55},
    },
    "detect-no-shows": {"task": "clinical.detect_no_shows", "schedule": 60, "options": {"expires": 55}},
    # Housekeeping (times in UTC): finished OTP codes hourly, expired refresh tokens and sessions nightly.
    "purge-expired-otps": {"task": "accounts.purge_expired_otps", "schedule": crontab(minute=20)},
    "flush-expired-tokens": {"task": "accounts.flush_expired_tokens", "schedule": crontab(hour=2, minute=30)},
    "clear-expired-sessions": {
        "task": "accounts.clear_expired_sessions",
        "schedule": crontab(hour=2, minute=40),
    },
    # Yesterday's figures (analytics.rollups), after the day's late consultations have ended.
    "nightly-analytics-rollup": {"task": "analytics.nightly_rollup", "schedule": crontab(hour=1, minute=0)},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Keep our logging config (JSON in production, request ids) in the worker too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Static and media ---------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Locally WhiteNoise serves straight from the apps, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # In production: hashed, compressed files with far-future cache headers (needs collectstatic).
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Uploaded documents hold health data: they live outside the web root and are served only
# through authorised views, never as public URLs.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or str(BASE_DIR / "var" / "media"))
DOCUMENT_MAX_BYTES = env_int("DOCUMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = DOCUMENT_MAX_BYTES + 1024 * 1024
# Bookings may be cancelled or rescheduled up to this long before the start (staff: any time).
BOOKING_CHANGE_CUTOFF_HOURS = env_int("BOOKING_CHANGE_CUTOFF_HOURS", 4, minimum=0)
# A consultation not started this long after its start becomes a no-show (clinical.detect_no_shows).
NO_SHOW_GRACE_MINUTES = env_int("NO_SHOW_GRACE_MINUTES", 15, minimum=1)

# --- Payments -----------------------------------------------------------------------------------

# Money is integer minor units plus an ISO-4217 currency everywhere; see payments/models.py.
PAYMENT_GATEWAY_CLASSES = {
    "stripe": "payments.gateways.stripe_gateway.StripeGateway",
    "razorpay": "payments.gateways.razorpay_gateway.RazorpayGateway",
    "payu": "payments.gateways.payu.PayUGateway",
}
PAYMENT_DEFAULT_GATEWAY = env_choice("PAYMENT_DEFAULT_GATEWAY", "stripe", set(PAYMENT_GATEWAY_CLASSES))
_platform_fee = env_str("PLATFORM_FEE_PERCENT", "15")
try:
    PLATFORM_FEE_PERCENT = Decimal(_platform_fee)
except InvalidOperation as exc:
    raise ImproperlyConfigured(f"PLATFORM_FEE_PERCENT must be a number, got {_platform_fee!r}") from exc
if not PLATFORM_FEE_PERCENT.is_finite() or not 0 <= PLATFORM_FEE_PERCENT <= 100:
    raise ImproperlyConfigured(f"PLATFORM_FEE_PERCENT must be between 0 and 100, got {_platform_fee!r}")
# An unpaid booking holds the doctor's slot this long before it is cancelled.
PAYMENT_PENDING_EXPIRY_MINUTES = env_int("PAYMENT_PENDING_EXPIRY_MINUTES", 30, minimum=1)
# Provider credentials: empty by default; a gateway refuses to work without its own.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE")  # empty: the SDK's default
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
RAZORPAY_KEY_ID = env_str("RAZORPAY_KEY_ID")
RAZORPAY_KEY_SECRET = env_str("RAZORPAY_KEY_SECRET")
RAZORPAY_WEBHOOK_SECRET = env_str("RAZORPAY_WEBHOOK_SECRET")
RAZORPAY_API_BASE = env_str("RAZORPAY_API_BASE")  # empty: the SDK's default
PAYU_MERCHANT_KEY = env_str("PAYU_MERCHANT_KEY")
PAYU_MERCHANT_SALT = env_str("PAYU_MERCHANT_SALT")
PAYU_CHECKOUT_URL = env_str("PAYU_CHECKOUT_URL", "https://test.payu.in/_payment")
PAYU_API_BASE = env_str("PAYU_API_BASE", "https://test.payu.in")
# Where PayU sends the browser back after paying (surl/furl); the app relays the posted fields to verify/.
PAYU_SUCCESS_URL = env_str("PAYU_SUCCESS_URL", "")
PAYU_FAILURE_URL = env_str("PAYU_FAILURE_URL", "")

# --- Analytics ---------------------------------------------------------------------------------
# Heavy figures are cached this long (and dropped on any relevant write); 0 turns caching off.
ANALYTICS_CACHE_SECONDS = env_int("ANALYTICS_CACHE_SECONDS", 60, minimum=0)
# Time zones whose local days are rolled up every night (staff accounts' own zones are added).
ANALYTICS_TIME_ZONES = env_list("ANALYTICS_TIME_ZONES", ["UTC"])
for _zone in ANALYTICS_TIME_ZONES:
    try:
        ZoneInfo(_zone)
    except (ValueError, KeyError) as _error:  # ZoneInfoNotFoundError is a KeyError
        raise ImproperlyConfigured(f"ANALYTICS_TIME_ZONES: unknown time zone {_zone!r}") from _error

# --- Push notifications -------------------------------------------------------------------------

# console: every push is one log line (ids only). live: Android through FCM, iOS through APNs, web
# through Web Push; each platform's settings below are checked when it is first pushed to.
PUSH_BACKEND = env_choice("PUSH_BACKEND", "console", {"console", "live"})
PUSH_BACKEND_CLASSES = {
    "console": "telehealth.notifications.push.console.ConsoleBackend",
    "fcm": "telehealth.notifications.push.fcm.FCMBackend",
    "apns": "telehealth.notifications.push.apns.APNsBackend",
    "webpush": "telehealth.notifications.push.webpush.WebPushBackend",
}
PUSH_TIMEOUT_SECONDS = env_int("PUSH_TIMEOUT_SECONDS", 10, minimum=1)
# How long a provider keeps a push for an offline device (time-critical kinds: 15 minutes at most).
PUSH_TTL_SECONDS = env_int("PUSH_TTL_SECONDS", 86_400, minimum=60)
# FCM HTTP v1: the service-account JSON (inline, or the path of its file) and its project.
FCM_CREDENTIALS = env_str("FCM_CREDENTIALS")
FCM_PROJECT_ID = env_str("FCM_PROJECT_ID")  # empty: the credentials' project_id
FCM_API_BASE = env_str("FCM_API_BASE", "https://fcm.googleapis.com")
# APNs token auth: the .p8 key (PEM inline, or the path of its file), its key id, the team id,
# and the app's bundle id as topic. Development builds: APNS_HOST=api.sandbox.push.apple.com.
APNS_KEY_ID = env_str("APNS_KEY_ID")
APNS_TEAM_ID = env_str("APNS_TEAM_ID")
APNS_PRIVATE_KEY = env_str("APNS_PRIVATE_KEY")
APNS_TOPIC = env_str("APNS_TOPIC")
APNS_HOST = env_str("APNS_HOST", "api.push.apple.com")
APNS_PORT = env_int("APNS_PORT", 443, minimum=1)
APNS_CA_FILE = env_str("APNS_CA_FILE")  # empty: the system's CA certificates
# Web Push (VAPID): the P-256 private key (PEM or base64url raw) and a contact for push services.
VAPID_PRIVATE_KEY = env_str("VAPID_PRIVATE_KEY")
VAPID_SUBJECT = env_str("VAPID_SUBJECT")
# Accept http:// subscription endpoints on loopback (local push-service fakes); DEBUG also does.
WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = env_bool("WEB_PUSH_ALLOW_INSECURE_ENDPOINTS", False)

# --- Security -----------------------------------------------------------------------------------

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_ALLOW_HEADERS = (*cors_default_headers, "idempotency-key")
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Idempotent-Replayed"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
# Django sessions exist only for staff (the admin and /dashboard/). They end after this many idle
# minutes: every request pushes the expiry forward, a pause longer than this signs the user out.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_TIMEOUT_MINUTES", 30, minimum=1) * 60
SESSION_SAVE_EVERY_REQUEST = True
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/"]  # load balancers probe over plain HTTP
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies sit in front of us; decides which X-Forwarded-For entry is the client IP.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Realtime rooms ------------------------------------------------------------------------------

# Browser origins allowed on websockets; defaults to the CORS origins plus this server's own hosts.
WS_ALLOWED_ORIGINS = env_list("WS_ALLOWED_ORIGINS", CORS_ALLOWED_ORIGINS)
# Native apps send no Origin header; they authenticate with a token, so they are let in by default.
WS_ALLOW_MISSING_ORIGIN = env_bool("WS_ALLOW_MISSING_ORIGIN", True)
ROOM_JOIN_EARLY_MINUTES = env_int("ROOM_JOIN_EARLY_MINUTES", 15, minimum=0)
ROOM_JOIN_LATE_MINUTES = env_int("ROOM_JOIN_LATE_MINUTES", 30, minimum=0)
WS_HEARTBEAT_SECONDS = env_int("WS_HEARTBEAT_SECONDS", 15, minimum=1)
WS_IDLE_TIMEOUT_SECONDS = env_int("WS_IDLE_TIMEOUT_SECONDS", 45, minimum=2)
WS_MAX_FRAME_BYTES = env_int("WS_MAX_FRAME_BYTES", 65_536, minimum=1024)
# Frames this large are abuse: the socket is closed (1009) instead of answered.
WS_ABUSE_FRAME_BYTES = env_int("WS_ABUSE_FRAME_BYTES", 1_048_576, minimum=1024)
WS_RATE_PER_SECOND = env_int("WS_RATE_PER_SECOND", 30, minimum=1)
WS_RATE_BURST = env_int("WS_RATE_BURST", 60, minimum=1)
WS_VITALS_PER_SECOND = env_int("WS_VITALS_PER_SECOND", 10, minimum=1)
# Rejected frames per second beyond which a socket is closed (4429) as abusive.
WS_ABUSE_REJECTS_PER_SECOND = env_int("WS_ABUSE_REJECTS_PER_SECOND", 100, minimum=1)
CHAT_MAX_LENGTH = env_int("CHAT_MAX_LENGTH", 4000, minimum=1)
SDP_MAX_BYTES = env_int("SDP_MAX_BYTES", 32_768, minimum=1024)
# No default STUN server: this project never contacts third parties unless told to.
STUN_URLS = env_list("STUN_URLS", [])
TURN_URLS = env_list("TURN_URLS", [])
TURN_SECRET = env_str("TURN_SECRET")
TURN_TTL_SECONDS = env_int("TURN_TTL_SECONDS", 3600, minimum=60)
if TURN_URLS and not TURN_SECRET:
    raise ImproperlyConfigured("TURN_URLS needs TURN_SECRET (coturn's static-auth-secret).")
# Sockets setting up at once per process, after their handshake (``signaling.sockets.setup_slot``).
WS_SETUP_CONCURRENCY = env_int("WS_SETUP_CONCURRENCY", 32, minimum=1)
# Chat and vitals are written on this many threads per process (SQLite serialises writes anyway).
SIGNALING_DB_THREADS = env_int("SIGNALING_DB_THREADS", 8 if DATABASE_URL else 1, minimum=1)
VITALS_NORMAL_RANGES = env_json("VITALS_NORMAL_RANGES", {})

# --- Phone numbers and OTP ----------------------------------------------------------------------

# Region used to read numbers written without a leading "+"; empty means E.164 input is required.
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION").upper() or None
if PHONE_DEFAULT_REGION and PHONE_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
    raise ImproperlyConfigured(
        f"PHONE_DEFAULT_REGION must be an ISO 3166 region such as IN, got {PHONE_DEFAULT_REGION!r}"
    )
OTP_LENGTH = env_int("OTP_LENGTH", 6, minimum=4)
OTP_EXPIRY_SECONDS = env_int("OTP_EXPIRY_SECONDS", 300, minimum=30)
OTP_MAX_ATTEMPTS = env_int("OTP_MAX_ATTEMPTS", 5, minimum=1)
OTP_RESEND_COOLDOWN_SECONDS = env_int("OTP_RESEND_COOLDOWN_SECONDS", 30, minimum=0)
# Wrong codes per phone per hour across all codes and IPs before verification is locked.
OTP_MAX_FAILURES_PER_HOUR = env_int("OTP_MAX_FAILURES_PER_HOUR", 15, minimum=1)
# Used, expired and replaced codes are kept this long (support, abuse questions), then purged.
OTP_RETENTION_HOURS = env_int("OTP_RETENTION_HOURS", 24, minimum=1)

SMS_BACKENDS = {
    "console": "telehealth.accounts.sms.ConsoleSMSBackend",
    "http": "telehealth.accounts.sms.HTTPSMSBackend",
}
SMS_BACKEND = SMS_BACKENDS[env_choice("SMS_BACKEND", "console", set(SMS_BACKENDS))]
SMS_HTTP_URL = env_str("SMS_HTTP_URL")
SMS_HTTP_TOKEN = env_str("SMS_HTTP_TOKEN")
SMS_HTTP_SENDER = env_str("SMS_HTTP_SENDER", "TELEHEALTH")
SMS_HTTP_TIMEOUT_SECONDS = env_int("SMS_HTTP_TIMEOUT_SECONDS", 10, minimum=1)
if SMS_BACKEND.endswith("HTTPSMSBackend") and not SMS_HTTP_URL:
    raise ImproperlyConfigured("SMS_BACKEND=http needs SMS_HTTP_URL.")

# --- REST framework ------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["telehealth.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "telehealth.api.pagination.StandardPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 20, minimum=1),
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["telehealth.api.throttling.GeneralRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env_rate("THROTTLE_AUTH", "5/min"),
        "otp_phone": env_rate("THROTTLE_OTP_PHONE", "5/hour"),
        "general": env_rate("THROTTLE_GENERAL", "100/min"),
        "uploads": env_rate("THROTTLE_UPLOADS", "10/min"),
        "analytics": env_rate("THROTTLE_ANALYTICS", "50/min"),
        "public_lookup": env_rate("THROTTLE_PUBLIC_LOOKUP", "30/min"),
        "payment_webhooks": env_rate("THROTTLE_PAYMENT_WEBHOOKS", "600/min"),
    },
    "NUM_PROXIES": NUM_PROXIES,
    "EXCEPTION_HANDLER": "telehealth.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DATETIME_FORMAT": "iso-8601",
}
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 100, minimum=1)
# Responses kept for replay to a retried POST with the same Idempotency-Key.
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24, minimum=1)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_LIFETIME_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_LIFETIME_DAYS", 7, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Telehealth API",
    "DESCRIPTION": (
        "REST API of the telehealth backend. Every response is wrapped in an envelope: "
        "`{success, data, message, timestamp}` on success and "
        "`{success: false, error: {code, message, details}, timestamp}` on error. "
        "Authenticate with `Authorization: Bearer <access token>` from `/api/auth/verify-otp/`."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "telehealth.api.schema.wrap_responses_in_envelope",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "telehealth.accounts.models.Role",
        "ConsultationStateEnum": "clinical.models.ConsultationState",
        "ConsultationTypeEnum": "clinical.models.ConsultationType",
        "VitalKindEnum": "clinical.models.VitalKind",
        "ExceptionKindEnum": "clinical.models.ExceptionKind",
        "ClinicRoleEnum": "clinical.models.ClinicRole",
        # Analytics windows (analytics.periods): day, week or month.
        "GranularityEnum": "analytics.periods.TRUNCATE",
        # A prescription code's status (valid, superseded); see clinical.prescriptions.serializers.
        "PrescriptionCodeStatusEnum": "clinical.prescriptions.serializers.CODE_STATUSES",
    },
}

# --- Request ids and logging ----------------------------------------------------------------------

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    # A proxy's id (nginx $request_id, a load balancer's UUID) is kept; anything else is replaced.
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    # CORS_EXPOSE_HEADERS (corsheaders) exposes it, next to Idempotent-Replayed; django_guid's own
    # exposing would overwrite that list with its header alone.
    "EXPOSE_HEADER": False,
    # Tasks inherit the id of the request that queued them, so their log lines match too.
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=False)],
    "UUID_LENGTH": 32,
}

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, upper=True)
LOG_FORMAT = env_choice("LOG_FORMAT", "text" if DEBUG else "json", {"text", "json"})

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "telehealth.log.RequestIdFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "timestamp", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Django logs every 4xx as a warning with the path; our own error handler logs what matters.
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING" if not DEBUG else "INFO"},
        # Request-id bookkeeping and outgoing HTTP URLs are noise (and URLs may carry secrets).
        "django_guid": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

APP_VERSION = "0.1.0"
CSRF_FAILURE_VIEW = "telehealth.api.views.csrf_failure"
