"""One settings module, driven by the environment, with defaults that run on a laptop.

Embedded default (no environment): SQLite, an in-process cache, Celery tasks run eagerly and,
with no provider keys set, every provider served by the local provider simulator.
Production: DATABASE_URL, REDIS_URL, provider keys, several web processes and Celery workers.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None


def env_choice(name, choices, default):
    value = env.str(name, default=default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-dev-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "accounts",
    "routing",
    "billing",
    "analytics",
]

# The API (/v1/) passes through none of the web middleware: aipower.middleware.WebOnly runs
# WEB_MIDDLEWARE for every other path. Django's built-in middleware hops to a thread per hook
# under ASGI, which the gateway's request path cannot afford.
MIDDLEWARE = [
    "aipower.middleware.WebOnly",
]
WEB_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# The admin's checks look for these in MIDDLEWARE; they run, through WebOnly.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]

ROOT_URLCONF = "aipower.urls"
ASGI_APPLICATION = "aipower.asgi.application"

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
                "aipower.context_processors.product",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_PREFIX", default="aip"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis as broker in production; tasks run in-process in the embedded default.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {"aipower": {"level": env.str("AIPOWER_LOG_LEVEL", default="INFO")}},
}

# --- Gateway -----------------------------------------------------------------------------------
# Where the local provider simulator listens, and whether providers are routed to it:
# "auto" simulates every provider when no provider credential is set in the environment.
AIPOWER_SIMULATOR_URL = env.str("AIPOWER_SIMULATOR_URL", default="http://127.0.0.1:8001")
AIPOWER_SIMULATE_PROVIDERS = env_choice("AIPOWER_SIMULATE_PROVIDERS", ("auto", "1", "0"), "auto")
# Request bodies over this many bytes are refused with 413 before they are read.
AIPOWER_MAX_REQUEST_BYTES = env.int("AIPOWER_MAX_REQUEST_BYTES", default=10 * 1024 * 1024)
# How long a process trusts its in-memory copy of an API key or the catalog (seconds).
AIPOWER_KEY_CACHE_SECONDS = env.float("AIPOWER_KEY_CACHE_SECONDS", default=2.0)
AIPOWER_CATALOG_CACHE_SECONDS = env.float("AIPOWER_CATALOG_CACHE_SECONDS", default=2.0)
# Upstream HTTP client defaults (per-provider overrides live on the Provider row).
AIPOWER_UPSTREAM_CONNECT_TIMEOUT = env.float("AIPOWER_UPSTREAM_CONNECT_TIMEOUT", default=5.0)
AIPOWER_UPSTREAM_READ_TIMEOUT = env.float("AIPOWER_UPSTREAM_READ_TIMEOUT", default=60.0)
AIPOWER_UPSTREAM_MAX_CONNECTIONS = env.int("AIPOWER_UPSTREAM_MAX_CONNECTIONS", default=512)
# Usage rows are queued and written in batches off the response path.
AIPOWER_USAGE_FLUSH_SECONDS = env.float("AIPOWER_USAGE_FLUSH_SECONDS", default=0.05)
AIPOWER_USAGE_BATCH = env.int("AIPOWER_USAGE_BATCH", default=500)
# Markup over the upstream price, in basis points (1500 = 15%).
AIPOWER_DEFAULT_MARKUP_BP = env.int("AIPOWER_DEFAULT_MARKUP_BP", default=1500)
# At most this many upstream attempts per request (the first choice and its fallbacks).
AIPOWER_MAX_ATTEMPTS = env.int("AIPOWER_MAX_ATTEMPTS", default=3)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

LOGIN_URL = "/admin/login/"
