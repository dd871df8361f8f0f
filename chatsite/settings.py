"""chatsite settings: one module, driven by the environment (django-environ).

Defaults suit a laptop (SQLite file in ./data, in-memory channel layer, offline simulator).
Production is `DEBUG=false` plus `SECRET_KEY` and `ALLOWED_HOSTS`; the security flags below
default to their strict values whenever DEBUG is off. See the configuration table in README.md.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

# Lets Django's classes be written as generics (`admin.ModelAdmin[Conversation]`) for mypy.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file is optional; real environment variables win over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("CHATSITE_DATA_DIR", default=str(BASE_DIR / "data")))


def _development_secret_key() -> str:
    """A random key kept in the data directory, so sessions survive restarts on a laptop."""
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY: str = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY for production, or DEBUG=true for development."
        )
    SECRET_KEY = _development_secret_key()

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
if not DEBUG and (not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS):
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must name the site's host names explicitly when DEBUG is off (no '*')."
    )
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",  # provides an ASGI `runserver`; must precede django.contrib.staticfiles
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files, no CDN
    "chatsite.accounts",
    "conversations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"
WSGI_APPLICATION = "chatsite.wsgi.application"

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
                "chatsite.context_processors.chatsite",
            ],
        },
    },
]


# --- Database -------------------------------------------------------------------------------
def _database_config() -> dict[str, Any]:
    default_sqlite = f"sqlite:///{DATA_DIR / 'chatsite.sqlite3'}"
    url = env.str("DATABASE_URL", default=default_sqlite)
    if url == default_sqlite:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = env.db_url_config(url)
    engine = config["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            # WAL lets the streaming task write while pages read; IMMEDIATE takes the write lock
            # at BEGIN so concurrent writers queue (busy_timeout) instead of failing to upgrade.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    elif engine in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
        config["ENGINE"] = "django.db.backends.postgresql"
        # Django's psycopg pool; CONN_MAX_AGE must stay 0 with it.
        config["CONN_MAX_AGE"] = 0
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=20),
            "timeout": 10,
        }
    return config


DATABASES = {"default": _database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------------
REDIS_URL: str = env.str("REDIS_URL", default="")
CHANNEL_LAYERS: dict[str, Any]
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.str("CHATSITE_CHANNEL_PREFIX", default="chatsite"),
                "capacity": 500,
                "expiry": 30,
            },
        }
    }
else:
    # One process only. Room for a few seconds of frames for a slow tab (the default is 100);
    # past it frames are dropped and the client resyncs.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }

# --- Cache ----------------------------------------------------------------------------------
# With Redis, every process shares what is cached (the model list from GET /v1/models).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CHATSITE_CHANNEL_PREFIX", default="chatsite"),
        }
    }

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- I18N, static, media --------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploads are private: no MEDIA_URL is routed; views serve them after a permission check.
MEDIA_ROOT = Path(env.str("CHATSITE_MEDIA_ROOT", default=str(DATA_DIR / "media")))
# In development whitenoise serves straight from the source folders, no collectstatic needed.
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "chatsite.storage.StaticFilesStorage"},
}

# --- Security -------------------------------------------------------------------------------
# Strict whenever DEBUG is off; each can be relaxed explicitly (e.g. plain HTTP on a LAN).
SECURE = not DEBUG
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SECURE)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Preloading is hard to undo and needs the whole domain on HTTPS: an explicit choice, not a
# default, so its absence is not reported by `check --deploy`.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if env.bool("CHATSITE_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The health check is answered over plain HTTP so a load balancer can probe the app directly.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# The backstop behind escaping and sanitizing: no inline script, nothing from other origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],  # includes same-origin ws:/wss: in current browsers
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# --- REST API -------------------------------------------------------------------------------
# Personal API tokens (accounts/tokens.py): how many live ones a person may hold.
CHATSITE_MAX_API_TOKENS: int = env.int("CHATSITE_MAX_API_TOKENS", default=50)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # API tokens first: their scheme (Bearer) is what a 401 advertises in WWW-Authenticate.
        "chatsite.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # `?format=` selects an export format in our API, not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
    "EXCEPTION_HANDLER": "conversations.api.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "chatsite API",
    "DESCRIPTION": "Conversations with Claude: create, send, export.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The upload (a plain async view) and the one error body: see conversations/api/schema.py.
    "PREPROCESSING_HOOKS": ["conversations.api.schema.add_plain_views"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "conversations.api.schema.add_error_responses",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # daphne's runserver prints its access log itself.
        "django.channels.server": {"level": "INFO", "propagate": False},
    },
}

# --- chatsite -------------------------------------------------------------------------------
ANTHROPIC_API_KEY: str = env.str("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL: str = env.str("ANTHROPIC_BASE_URL", default="")
CHATSITE_DEFAULT_MODEL: str = env.str("CHATSITE_DEFAULT_MODEL", default="claude-sonnet-4-6")
CHATSITE_DEFAULT_MAX_TOKENS: int = env.int("CHATSITE_DEFAULT_MAX_TOKENS", default=8192)
CHATSITE_ALLOW_SIGNUP: bool = env.bool("CHATSITE_ALLOW_SIGNUP", default=False)
CHATSITE_MAX_MESSAGE_CHARS: int = env.int("CHATSITE_MAX_MESSAGE_CHARS", default=100_000)
# Sends per person (a `limits` rate string) and replies generating at once per person.
CHATSITE_SEND_RATE_LIMIT: str = env.str("CHATSITE_SEND_RATE_LIMIT", default="30/minute")
CHATSITE_MAX_CONCURRENT_GENERATIONS: int = env.int("CHATSITE_MAX_CONCURRENT_GENERATIONS", default=3)
# A WebSocket frame larger than this closes the socket (1009): room for a maximal message.
CHATSITE_MAX_FRAME_CHARS: int = env.int("CHATSITE_MAX_FRAME_CHARS", default=1_000_000)
# Pace of the in-process simulator, so offline replies visibly stream (0 in tests).
CHATSITE_SIMULATOR_TOKEN_DELAY: float = env.float("CHATSITE_SIMULATOR_TOKEN_DELAY", default=0.03)
# How often a streaming reply is flushed to sockets, and saved to the database.
CHATSITE_STREAM_FLUSH_SECONDS: float = env.float("CHATSITE_STREAM_FLUSH_SECONDS", default=0.03)
CHATSITE_STREAM_SAVE_SECONDS: float = env.float("CHATSITE_STREAM_SAVE_SECONDS", default=1.0)
# Each process touches its running generations this often; a reply not touched for the stale
# period lost its process and becomes `interrupted`.
CHATSITE_HEARTBEAT_SECONDS: float = env.float("CHATSITE_HEARTBEAT_SECONDS", default=10.0)
CHATSITE_GENERATION_STALE_SECONDS: float = env.float(
    "CHATSITE_GENERATION_STALE_SECONDS", default=60.0
)
# Conversation engine: the default context budget, the (cheaper) model that folds old turns into
# summaries, and how long cached prompt prefixes live ("5m" or "1h").
CHATSITE_CONTEXT_BUDGET: int = env.int("CHATSITE_CONTEXT_BUDGET", default=100_000)
CHATSITE_SUMMARY_MODEL: str = env.str("CHATSITE_SUMMARY_MODEL", default="claude-haiku-4-5")
CHATSITE_CACHE_TTL: str = env.str("CHATSITE_CACHE_TTL", default="5m")
# Full-text search (services/search.py): "auto" uses PostgreSQL's or SQLite's FTS5 index, "basic"
# a plain substring match.
CHATSITE_SEARCH_BACKEND: str = env.str("CHATSITE_SEARCH_BACKEND", default="auto")
# After the first exchange, a short call to this (cheap) model titles the conversation.
CHATSITE_AUTO_TITLE: bool = env.bool("CHATSITE_AUTO_TITLE", default=True)
CHATSITE_TITLE_MODEL: str = env.str("CHATSITE_TITLE_MODEL", default="claude-haiku-4-5")
# How long the model list from `GET /v1/models` is kept before asking again.
CHATSITE_MODELS_CACHE_SECONDS: int = env.int("CHATSITE_MODELS_CACHE_SECONDS", default=3600)

# Image attachments. Uploads are decoded in a child process bounded in time and memory; the
# pixel limits stop decompression bombs (one huge frame) and frame bombs (many frames).
CHATSITE_UPLOAD_MAX_BYTES: int = env.int("CHATSITE_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
CHATSITE_IMAGE_MAX_PIXELS: int = env.int("CHATSITE_IMAGE_MAX_PIXELS", default=50_000_000)
CHATSITE_IMAGE_MAX_TOTAL_PIXELS: int = env.int(
    "CHATSITE_IMAGE_MAX_TOTAL_PIXELS", default=200_000_000
)
CHATSITE_IMAGE_TIMEOUT_SECONDS: float = env.float("CHATSITE_IMAGE_TIMEOUT_SECONDS", default=15.0)
CHATSITE_IMAGE_MEMORY_BYTES: int = env.int("CHATSITE_IMAGE_MEMORY_BYTES", default=1024**3)
CHATSITE_UPLOAD_RATE_LIMIT: str = env.str("CHATSITE_UPLOAD_RATE_LIMIT", default="60/minute")
# PDFs: pages per document (the API reads at most 100 pages per request).
CHATSITE_PDF_MAX_PAGES: int = env.int("CHATSITE_PDF_MAX_PAGES", default=100)
# At most this many images wait, unsent, per person (uploaded but not yet part of a message).
CHATSITE_MAX_UNSENT_ATTACHMENTS: int = env.int("CHATSITE_MAX_UNSENT_ATTACHMENTS", default=40)
# The Files API: each image uploaded once, then referenced by id. Only api.anthropic.com is known
# to offer it, so it is on by default only there (and in the offline simulator, which has it).
CHATSITE_FILES_API: bool = env.bool(
    "CHATSITE_FILES_API",
    default=not ANTHROPIC_BASE_URL or "api.anthropic.com" in ANTHROPIC_BASE_URL,
)
# Images by https URL, passed to Claude as `source.type = url` (the server never fetches them).
CHATSITE_IMAGE_URLS: bool = env.bool("CHATSITE_IMAGE_URLS", default=False)

# Transcripts: the largest import file, and the largest bulk export (a zip built in memory).
CHATSITE_IMPORT_MAX_BYTES: int = env.int("CHATSITE_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
CHATSITE_EXPORT_MAX_BYTES: int = env.int("CHATSITE_EXPORT_MAX_BYTES", default=200 * 1024 * 1024)
