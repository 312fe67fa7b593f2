"""HashWhisper settings: one module, driven by ``HASHWHISPER_*`` variables.

Production is the default. ``HASHWHISPER_DEBUG=1`` switches to development:
plain HTTP on localhost, a fixed development key and verbose errors.
"""

import hashlib
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from csp.constants import NONE, SELF

from hashwhisper import startup

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        sys.exit(f"HashWhisper: {name} must be a whole number, got {raw!r}.")


DEBUG = env_flag("HASHWHISPER_DEBUG")


def required_secret(name: str) -> str:
    """Return a secret from the environment, or stop with one clear line.

    Only development may fall back to a fixed key: a production server that
    started with a guessable key would sign forgeable sessions.
    """
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return "development-only-key-never-use-in-production-" + "x" * 20
    sys.exit(
        f"HashWhisper refuses to start: set {name} to a long random value "
        "(or HASHWHISPER_DEBUG=1 for local development)."
    )


SECRET_KEY = required_secret("HASHWHISPER_SECRET")

_hosts = os.environ.get("HASHWHISPER_ALLOWED_HOSTS", "")
if _hosts.strip():
    ALLOWED_HOSTS = [h.strip() for h in _hosts.split(",") if h.strip()]
elif DEBUG:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
else:
    ALLOWED_HOSTS = []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_eventstream",
    "django_ratelimit",
    "csp",
    "accounts",
    "groups",
    "chat",
    "media_vault",
    "integrity",
]

# The header middleware comes before WhiteNoise, which answers static files
# itself, so that static files carry the same headers as pages.
MIDDLEWARE = [
    "hashwhisper.middleware.SecurityHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-csp's middleware with the site-wide policy built once.
    "hashwhisper.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "hashwhisper.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before the CSRF check, which would parse a refused (truncated) form body.
    "hashwhisper.asgi_limits.OversizedBodyMiddleware",
    "hashwhisper.middleware.HashWhisperCsrfMiddleware",
    # Django's and django-otp's middleware, sharing one query for the user,
    # the device and the session's row (accounts.session_auth).
    "accounts.session_auth.SessionAuthenticationMiddleware",
    "accounts.session_auth.SessionOTPMiddleware",
    "accounts.session_tracking.SessionTrackingMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.RequireVerifiedMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "hashwhisper.urls"
ASGI_APPLICATION = "hashwhisper.asgi.application"
WSGI_APPLICATION = "hashwhisper.wsgi.application"

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
            "libraries": {"sri": "hashwhisper.sri"},
        },
    },
]


# Database ---------------------------------------------------------------

_PG_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}


def database_from_uri(uri: str) -> dict[str, Any]:
    """Turn a ``postgresql://`` URI (or SQLAlchemy spelling) into settings.

    Connections come from psycopg's pool with ``CONN_MAX_AGE=0``: under ASGI
    every request runs in its own thread and would otherwise open a
    connection of its own.
    """
    parts = urlsplit(uri)
    if parts.scheme not in _PG_SCHEMES:
        sys.exit(
            "HashWhisper: HASHWHISPER_DATABASE_URI must start with postgresql:// "
            f"(got scheme {parts.scheme!r})."
        )
    options: dict[str, Any] = dict(parse_qsl(parts.query))
    options["pool"] = {
        "min_size": 1,
        "max_size": env_int("HASHWHISPER_DB_POOL_SIZE", 20),
        "timeout": 10,
    }
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 0,
        "OPTIONS": options,
    }


def sqlite_database(path: Path) -> dict[str, Any]:
    # WAL, IMMEDIATE transactions and a busy timeout let concurrent ASGI
    # requests queue for the write lock instead of failing with "database
    # is locked".
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


_database_uri = os.environ.get("HASHWHISPER_DATABASE_URI", "").strip()
if _database_uri:
    startup.check_database_uri(_database_uri)
    DATABASES = {"default": database_from_uri(_database_uri)}
else:
    DATABASES = {
        "default": sqlite_database(
            Path(os.environ.get("HASHWHISPER_SQLITE_PATH", VAR_DIR / "db.sqlite3"))
        )
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# Cache, rate limits and live events --------------------------------------

REDIS_URL = os.environ.get("HASHWHISPER_REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, with one connection pool per process.
            "BACKEND": "hashwhisper.cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that stops answering fails a cache call within a second
            # (sessions then come from the database) instead of holding the
            # request until the system's TCP timeout.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    # django-ratelimit does not recognise Django's RedisCache (of which ours
    # is a subclass) as shared and atomic (W001), although its incr is
    # atomic on Redis.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Without Redis the chat runs as one process, so a process-local cache
    # is the shared cache; django-ratelimit cannot know that (E003, W001).
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]
# Django's W003 looks for its CSRF middleware by exact name and misses our
# subclass (HashWhisperCsrfMiddleware); accounts.checks (E001) demands that a
# subclass of it is installed instead.
SILENCED_SYSTEM_CHECKS += ["security.W003"]

# Live events (chat.realtime). EVENTSTREAM_REDIS stays unset on purpose:
# django-eventstream's own Redis listener dies with the first outage, so the
# fan-out over REDIS_URL is chat.realtime's. Message events are read back
# from the message table for Last-Event-ID.
EVENTSTREAM_STORAGE_CLASS = "chat.realtime.storage.MessageStorage"
EVENTSTREAM_CHANNELMANAGER_CLASS = "chat.events.UserChannelManager"
EVENTSTREAM_ALLOW_ORIGINS: list[str] = []
# Prefix of the Redis channels and keys of live events and presence.
HASHWHISPER_REALTIME_PREFIX = os.environ.get("HASHWHISPER_REALTIME_PREFIX", "hw:rt:")
# Seconds a presence heartbeat lasts; browsers send one every third of it.
HASHWHISPER_PRESENCE_TTL = env_int("HASHWHISPER_PRESENCE_TTL", 30)
# One typing notice per user and group is accepted per this many seconds.
HASHWHISPER_TYPING_INTERVAL = env_int("HASHWHISPER_TYPING_INTERVAL", 2)
# Messages (reactions and edits included) one user may post per minute, over
# all groups; 0 turns the limit off (chat.limits).
HASHWHISPER_MESSAGES_PER_MINUTE = env_int("HASHWHISPER_MESSAGES_PER_MINUTE", 60)
# Groups one user may create per hour; 0 turns the limit off (groups.views).
# People make a handful of groups ever; 20 an hour is a script's pace.
HASHWHISPER_GROUPS_PER_HOUR = env_int("HASHWHISPER_GROUPS_PER_HOUR", 20)
# Joins, hand-overs and secret rotations one user may make per hour, over all
# groups; 0 turns the limit off (groups.views). An owner who removes thirty
# members and rotates after each stays well below 60.
HASHWHISPER_GROUP_CHANGES_PER_HOUR = env_int("HASHWHISPER_GROUP_CHANGES_PER_HOUR", 60)


# Accounts ------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# The first loads a session's user, device and row in one query; Django's
# ModelBackend checks passwords and keeps sessions signed in under its name.
AUTHENTICATION_BACKENDS = [
    "accounts.session_auth.SessionUserBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Sessions are read from the cache and kept in the database; a cache outage
# only costs the database read (accounts.session_store).
SESSION_ENGINE = "accounts.session_store"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "chat:home"
LOGOUT_REDIRECT_URL = "accounts:login"

PASSWORD_HASHERS = [
    # Argon2id, with a bound on how many hashes run at once (~100 MiB each).
    "accounts.hashers.BoundedArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
OTP_TOTP_ISSUER = "HashWhisper"
# django-otp's own admin pages would show device keys and TOTP QR codes;
# HashWhisper's admin replaces them, and this keeps them shut regardless.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# django-otp's back-off after wrong codes (1 s, 2 s, 4 s, ...), kept on
# deliberately for authenticator codes and recovery codes alike.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# Seconds a half-finished login (password given, code not yet) stays valid.
HASHWHISPER_PENDING_LOGIN_SECONDS = 600
# Per account: this many failed passwords or codes within the window lock
# the account for HASHWHISPER_LOCKOUT_SECONDS.
HASHWHISPER_LOCKOUT_FAILURES = env_int("HASHWHISPER_LOCKOUT_FAILURES", 5)
HASHWHISPER_LOCKOUT_WINDOW_SECONDS = env_int("HASHWHISPER_LOCKOUT_WINDOW_SECONDS", 900)
HASHWHISPER_LOCKOUT_SECONDS = env_int("HASHWHISPER_LOCKOUT_SECONDS", 900)
# Per client address (django-ratelimit): failed logins, failed codes and
# failed password confirmations count; registration counts new accounts.
HASHWHISPER_RATE_LIMITS = {
    "login": "30/15m",
    "code": "30/15m",
    "password": "10/h",
    "register": "30/h",
}
# How many reverse proxies append to X-Forwarded-For in front of the app. At
# 0 the client address is REMOTE_ADDR and X-Forwarded-For is ignored.
HASHWHISPER_TRUSTED_PROXIES = env_int("HASHWHISPER_TRUSTED_PROXIES", 0)
RATELIMIT_IP_META_KEY = "accounts.addresses.client_ip"
# Counters are namespaced by deployment (a digest of the secret key), so two
# installations sharing one Redis never add up each other's attempts.
RATELIMIT_CACHE_PREFIX = (
    "hw-rl:" + hashlib.sha256(SECRET_KEY.encode()).hexdigest()[:12] + ":"
)
# Argon2id needs about 100 MiB per hash: at most this many run at once, and
# a request that waits longer than the timeout gets a 503.
HASHWHISPER_MAX_PASSWORD_CHECKS = env_int("HASHWHISPER_MAX_PASSWORD_CHECKS", 4)
HASHWHISPER_PASSWORD_CHECK_WAIT_SECONDS = 10
# A signed-in session ends after this much inactivity, and in any case this
# long after the login.
HASHWHISPER_SESSION_IDLE_SECONDS = env_int("HASHWHISPER_SESSION_IDLE_SECONDS", 43200)
HASHWHISPER_SESSION_MAX_SECONDS = env_int("HASHWHISPER_SESSION_MAX_SECONDS", 604800)
# The Django admin's URL prefix; a less obvious path keeps scanners away.
HASHWHISPER_ADMIN_PATH = (
    os.environ.get("HASHWHISPER_ADMIN_PATH", "").strip().strip("/") or "admin"
) + "/"


# Product limits --------------------------------------------------------------

HASHWHISPER_MAX_UPLOAD = env_int("HASHWHISPER_MAX_UPLOAD", 25 * 1024 * 1024)
if not 1024 <= HASHWHISPER_MAX_UPLOAD <= 2 * 1024**3:
    sys.exit("HashWhisper: HASHWHISPER_MAX_UPLOAD must be from 1024 bytes to 2 GiB.")
# Per user: uploads reserved per minute, and ciphertext bytes reserved per
# hour (media_vault.services); 0 turns either off. By hand nobody attaches
# 60 files in a minute, or 2 GiB in an hour (80 files of 25 MiB, sending
# 4.8 Mbit/s without a pause); a script does, and fills the disk.
HASHWHISPER_UPLOADS_PER_MINUTE = env_int("HASHWHISPER_UPLOADS_PER_MINUTE", 60)
HASHWHISPER_UPLOAD_BYTES_PER_HOUR = env_int(
    "HASHWHISPER_UPLOAD_BYTES_PER_HOUR", 2 * 1024**3
)
if 0 < HASHWHISPER_UPLOAD_BYTES_PER_HOUR < HASHWHISPER_MAX_UPLOAD:
    sys.exit(
        "HashWhisper: HASHWHISPER_UPLOAD_BYTES_PER_HOUR must be 0 or at least "
        "HASHWHISPER_MAX_UPLOAD, or the largest file could never be sent."
    )
# Declared types an upload may carry (comma-separated). The server cannot
# look inside ciphertext, so browsers also check the decrypted bytes, and they
# render inline only image, video and audio types, never SVG or HTML.
HASHWHISPER_MEDIA_TYPES = [
    t.strip().lower()
    for t in os.environ.get(
        "HASHWHISPER_MEDIA_TYPES",
        "image/jpeg,image/png,image/webp,image/gif,video/mp4,video/webm,"
        "audio/webm,audio/ogg,audio/mpeg,audio/mp4,audio/wav",
    ).split(",")
    if t.strip()
]
HASHWHISPER_RETENTION_DAYS = env_int("HASHWHISPER_RETENTION_DAYS", 7)
HASHWHISPER_MEDIA_ROOT = Path(
    os.environ.get("HASHWHISPER_MEDIA_ROOT", VAR_DIR / "blobs")
)
# Blob files live in a local folder by default, or in an S3-compatible object
# store when HASHWHISPER_S3_BUCKET is set, so that several app machines behind
# one proxy serve the same blobs. Objects stay private to the bucket: every
# download passes through the app, which checks membership first.
HASHWHISPER_S3_BUCKET = os.environ.get("HASHWHISPER_S3_BUCKET", "").strip()
if HASHWHISPER_S3_BUCKET:
    BLOB_STORAGE: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": HASHWHISPER_S3_BUCKET,
            "endpoint_url": os.environ.get("HASHWHISPER_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("HASHWHISPER_S3_REGION") or None,
            "access_key": os.environ.get("HASHWHISPER_S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("HASHWHISPER_S3_SECRET_ACCESS_KEY") or None,
            "location": os.environ.get("HASHWHISPER_S3_PREFIX", "blobs").strip("/"),
            "default_acl": None,
            "file_overwrite": False,
        },
    }
else:
    BLOB_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": HASHWHISPER_MEDIA_ROOT,
            "directory_permissions_mode": 0o700,
            "file_permissions_mode": 0o600,
        },
    }
    if not DEBUG:
        startup.check_blob_folder(HASHWHISPER_MEDIA_ROOT)
# Largest ciphertext of one text message (a JSON document of a few KiB).
HASHWHISPER_MAX_MESSAGE_BYTES = 64 * 1024
HASHWHISPER_PAGE_SIZE = 50
DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024


# Internationalisation and static files -----------------------------------

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("HASHWHISPER_STATIC_ROOT", VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "blobs": BLOB_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# In development whitenoise serves straight from the source folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# WhiteNoise would answer every static file with "Access-Control-Allow-Origin:
# *"; no other origin has a reason to read them (CORP forbids it anyway).
WHITENOISE_ALLOW_ALL_ORIGINS = False


# HTTP security -------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Strict"
# Scripts read the token from a <meta> tag, so the cookie can stay HttpOnly.
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "hashwhisper.errors.csrf_failure"
SESSION_COOKIE_AGE = HASHWHISPER_SESSION_MAX_SECONDS

if not DEBUG:
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The __Host- prefix pins the cookies to this exact host, over HTTPS.
    SESSION_COOKIE_NAME = "__Host-hw_session"
    CSRF_COOKIE_NAME = "__Host-hw_csrf"
    # Only a proxy that sets X-Forwarded-Proto itself may be trusted for it;
    # otherwise a client could claim HTTPS over plain HTTP.
    if env_flag("HASHWHISPER_TRUST_X_FORWARDED_PROTO"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

HASHWHISPER_PERMISSIONS_POLICY = (
    "camera=(self), microphone=(self), geolocation=(), payment=(), usb=(), "
    "serial=(), midi=(), magnetometer=(), gyroscope=(), accelerometer=(), "
    "display-capture=()"
)

# Nothing is allowed unless a directive names it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        # Bootstrap's CSS draws some controls with data: SVG images; decrypted
        # media are shown from blob: URLs.
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}


# Logging ---------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "hashwhisper.logging.RedactRequestFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "hashwhisper": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
