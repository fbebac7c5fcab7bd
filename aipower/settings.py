"""One settings module, driven by the environment, with defaults that run on a laptop.

Embedded default (no environment): SQLite, an in-process cache, Celery tasks run eagerly and,
with no provider keys set, every provider served by the local provider simulator.
Production: DATABASE_URL, REDIS_URL, provider keys, several web processes and Celery workers.
"""

import logging
from pathlib import Path
from typing import Any

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
    "website",
]

# The API under /v1/ does not pass through Django's handler or this middleware (aipower/asgi.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Tenant scoping (accounts.scoping): each request starts outside any organization's scope.
    "accounts.scoping.ScopeMiddleware",
]

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
    # A file, not memory, so that the servers the tests start can open the test database too; next
    # to the database's own file (test-db.sqlite3 for db.sqlite3), so each test run may have its own.
    _db_file = Path(DATABASES["default"]["NAME"])
    _test_db = (
        BASE_DIR / "test-db.sqlite3" if _db_file.name == ":memory:" else _db_file.with_name(f"test-{_db_file.name}")
    )
    DATABASES["default"]["TEST"] = {"NAME": str(_test_db)}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # An unreachable database fails a connection attempt in this many seconds, not the OS's minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("AIPOWER_DB_CONNECT_TIMEOUT", default=1)
    )
# Database calls on the request path take at most this long (seconds; past it, that request gets
# 503). When the database cannot be reached (a refused or broken connection, or a call past its
# time whose probe gets no answer either), new requests get 503 at once until a probe (every
# AIPOWER_DB_PROBE_SECONDS) finds it again (routing/resilience.py).
AIPOWER_DB_CONNECT_TIMEOUT = env.int("AIPOWER_DB_CONNECT_TIMEOUT", default=1)
AIPOWER_DB_TIMEOUT_SECONDS = env.float("AIPOWER_DB_TIMEOUT_SECONDS", default=3.0)
AIPOWER_DB_PROBE_SECONDS = env.float("AIPOWER_DB_PROBE_SECONDS", default=0.25)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# Every Redis call is bounded by this (seconds); past it, per-process state is used until Redis
# answers a ping again (checked every AIPOWER_REDIS_PROBE_SECONDS). routing/resilience.py.
AIPOWER_REDIS_TIMEOUT_SECONDS = env.float("AIPOWER_REDIS_TIMEOUT_SECONDS", default=0.1)
AIPOWER_REDIS_PROBE_SECONDS = env.float("AIPOWER_REDIS_PROBE_SECONDS", default=0.5)
if REDIS_URL:
    CACHES = {
        "default": {
            # Redis, falling back to a per-process cache while Redis is unreachable (aipower/cache.py).
            "BACKEND": "aipower.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_PREFIX", default="aip"),
            "OPTIONS": {
                "socket_timeout": AIPOWER_REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": AIPOWER_REDIS_TIMEOUT_SECONDS,
            },
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
# Browser libraries installed by npm (package.json, `make setup`) are served from node_modules.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist")]
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves /static/ in every mode; from the apps' folders too, so that a server started
# without collectstatic (tests, a fresh checkout) still has its stylesheets and scripts.
WHITENOISE_USE_FINDERS = True

# One access line per request from uvicorn (python -m aipower.serve), with its request id in JSON
# logs. Off by default: a reverse proxy usually keeps the access log, and the line costs CPU per request.
AIPOWER_ACCESS_LOG = env.bool("AIPOWER_ACCESS_LOG", default=False)
# AIPOWER_LOG_FORMAT=json: one JSON object a line, with the request id (aipower/logs.py).
AIPOWER_LOG_FORMAT = env_choice("AIPOWER_LOG_FORMAT", ("plain", "json"), "plain")
if AIPOWER_LOG_FORMAT == "json":
    logging.captureWarnings(True)  # Python's warnings too (logger py.warnings), not bare lines on stderr
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "aipower.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": AIPOWER_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {
        "aipower": {"level": env.str("AIPOWER_LOG_LEVEL", default="INFO")},
        # uvicorn's own lines (start-up, errors, access) and Python's warnings in the same format:
        # python -m aipower.serve hands uvicorn this configuration, and Django applies it again
        # once the app is loaded. uvicorn writes access lines when their logger has a handler.
        "uvicorn": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "uvicorn.access": {
            "handlers": ["console"] if AIPOWER_ACCESS_LOG else [],
            "level": "INFO",
            "propagate": False,
        },
        "py.warnings": {"handlers": ["console"], "propagate": False},
    },
}
# OpenTelemetry traces (routing/tracing.py): on when an OTLP endpoint is set, in the SDK's own
# variables (OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT for traces alone).
AIPOWER_TRACING = bool(
    env.str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", default="") or env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
) and not env.bool("OTEL_SDK_DISABLED", default=False)

# --- Gateway -----------------------------------------------------------------------------------
# Where the local provider simulator listens, and whether providers are routed to it:
# "auto" simulates every provider when no provider credential is set in the environment.
AIPOWER_SIMULATOR_URL = env.str("AIPOWER_SIMULATOR_URL", default="http://127.0.0.1:8001")
AIPOWER_SIMULATE_PROVIDERS = env_choice("AIPOWER_SIMULATE_PROVIDERS", ("auto", "1", "0"), "auto")
# Request bodies over this many bytes are refused with 413 before they are read.
AIPOWER_MAX_REQUEST_BYTES = env.int("AIPOWER_MAX_REQUEST_BYTES", default=10 * 1024 * 1024)
# Browser origins allowed to call /v1/ (CORS); none by default, "*" for any.
AIPOWER_CORS_ALLOWED_ORIGINS = env.list("AIPOWER_CORS_ALLOWED_ORIGINS", default=[])
# How long a stored /v1/responses answer (store=true) stays readable and usable as previous_response_id.
AIPOWER_RESPONSES_TTL_SECONDS = env.int("AIPOWER_RESPONSES_TTL_SECONDS", default=30 * 24 * 3600)
# Failed authentications per client address per minute (shared through Redis); past it, 429.
AIPOWER_AUTH_FAILURES_PER_MINUTE = env.int("AIPOWER_AUTH_FAILURES_PER_MINUTE", default=60)
# Reverse proxies (addresses or networks) whose X-Forwarded-For names the client; nobody else's is used.
AIPOWER_TRUSTED_PROXIES = env.list("AIPOWER_TRUSTED_PROXIES", default=[])
# SIGTERM: requests in flight may finish for this long (python -m aipower.serve; routing/drain.py),
# the first AIPOWER_DRAIN_NOTICE_SECONDS (5 s; read by routing/drain.py) of it still listening, with
# /readyz answering 503.
AIPOWER_DRAIN_SECONDS = env.int("AIPOWER_DRAIN_SECONDS", default=30)
# How long a process trusts its in-memory copy of an API key or the catalog (seconds).
AIPOWER_KEY_CACHE_SECONDS = env.float("AIPOWER_KEY_CACHE_SECONDS", default=2.0)
AIPOWER_CATALOG_CACHE_SECONDS = env.float("AIPOWER_CATALOG_CACHE_SECONDS", default=2.0)
# Upstream HTTP client defaults (per-provider overrides live on the Provider row).
AIPOWER_UPSTREAM_CONNECT_TIMEOUT = env.float("AIPOWER_UPSTREAM_CONNECT_TIMEOUT", default=5.0)
AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT = env.float("AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT", default=60.0)
AIPOWER_UPSTREAM_IDLE_TIMEOUT = env.float("AIPOWER_UPSTREAM_IDLE_TIMEOUT", default=30.0)
AIPOWER_UPSTREAM_TOTAL_TIMEOUT = env.float("AIPOWER_UPSTREAM_TOTAL_TIMEOUT", default=600.0)
AIPOWER_UPSTREAM_MAX_CONNECTIONS = env.int("AIPOWER_UPSTREAM_MAX_CONNECTIONS", default=512)
# Usage rows are queued and written in batches off the response path.
AIPOWER_USAGE_FLUSH_SECONDS = env.float("AIPOWER_USAGE_FLUSH_SECONDS", default=0.05)
AIPOWER_USAGE_BATCH = env.int("AIPOWER_USAGE_BATCH", default=500)
# Markup over the upstream price, in basis points (1500 = 15%).
AIPOWER_DEFAULT_MARKUP_BP = env.int("AIPOWER_DEFAULT_MARKUP_BP", default=1500)
# At most this many upstream attempts per request (the first choice and its fallbacks).
AIPOWER_MAX_ATTEMPTS = env.int("AIPOWER_MAX_ATTEMPTS", default=3)
# Retries (attempts after a request's first) may be at most this share of requests, per process,
# plus a small reserve so that a quiet process can still fail over.
AIPOWER_RETRY_BUDGET = env.float("AIPOWER_RETRY_BUDGET", default=0.2)
AIPOWER_RETRY_BUDGET_RESERVE = env.int("AIPOWER_RETRY_BUDGET_RESERVE", default=10)
# Circuit breakers, per provider and per model, shared through Redis when REDIS_URL is set.
AIPOWER_BREAKER_CONSECUTIVE_FAILURES = env.int("AIPOWER_BREAKER_CONSECUTIVE_FAILURES", default=5)
AIPOWER_BREAKER_FAILURE_RATIO = env.float("AIPOWER_BREAKER_FAILURE_RATIO", default=0.5)
AIPOWER_BREAKER_MIN_REQUESTS = env.int("AIPOWER_BREAKER_MIN_REQUESTS", default=20)
AIPOWER_BREAKER_WINDOW_SECONDS = env.float("AIPOWER_BREAKER_WINDOW_SECONDS", default=30.0)
AIPOWER_BREAKER_COOLDOWN_SECONDS = env.float("AIPOWER_BREAKER_COOLDOWN_SECONDS", default=10.0)
# How often a process refreshes its view of the shared breaker state (seconds).
AIPOWER_BREAKER_SYNC_SECONDS = env.float("AIPOWER_BREAKER_SYNC_SECONDS", default=0.25)
# auto-fast: time to first token per model, p50 of the last AIPOWER_TTFT_SAMPLES within the window,
# shared through Redis (routing/latency.py).
AIPOWER_TTFT_WINDOW_SECONDS = env.float("AIPOWER_TTFT_WINDOW_SECONDS", default=900.0)
AIPOWER_TTFT_SAMPLES = env.int("AIPOWER_TTFT_SAMPLES", default=50)
AIPOWER_TTFT_MIN_SAMPLES = env.int("AIPOWER_TTFT_MIN_SAMPLES", default=3)
AIPOWER_TTFT_SYNC_SECONDS = env.float("AIPOWER_TTFT_SYNC_SECONDS", default=1.0)
AIPOWER_TTFT_PROBE_SECONDS = env.float("AIPOWER_TTFT_PROBE_SECONDS", default=30.0)
AIPOWER_TTFT_UNMEASURED_MS = env.float("AIPOWER_TTFT_UNMEASURED_MS", default=500.0)
AIPOWER_TTFT_BUCKET_MS = env.float("AIPOWER_TTFT_BUCKET_MS", default=50.0)

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Accounts: sign-up and sign-in (django-allauth), organizations, management API -------------
INSTALLED_APPS += [
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "accounts:keys"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[AIPower] "
# Brute force: failed sign-ins are counted per client IP and per account (the email typed), in the
# cache, which is Redis (shared by every web process) when REDIS_URL is set. Past a limit the
# sign-in form refuses even the right password until the window has passed.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("ACCOUNT_LOGIN_FAILED_RATE_LIMIT", default="10/m/ip,5/5m/key"),
}
# Behind N reverse proxies, the client IP is the Nth address from the right of X-Forwarded-For.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Social sign-in: each provider is switched on by setting its client id and secret.
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, Any]] = {}
for _provider, _prefix in (("github", "GITHUB"), ("google", "GOOGLE")):
    _client_id = env.str(f"{_prefix}_OAUTH_CLIENT_ID", default="")
    _secret = env.str(f"{_prefix}_OAUTH_SECRET", default="")
    if bool(_client_id) != bool(_secret):
        raise ImproperlyConfigured(f"Set both {_prefix}_OAUTH_CLIENT_ID and {_prefix}_OAUTH_SECRET, or neither")
    if _client_id:
        INSTALLED_APPS.append(f"allauth.socialaccount.providers.{_provider}")
        SOCIALACCOUNT_PROVIDERS[_provider] = {"APPS": [{"client_id": _client_id, "secret": _secret}]}
        if _provider == "github":
            SOCIALACCOUNT_PROVIDERS[_provider]["SCOPE"] = ["user:email"]
SOCIALACCOUNT_LOGIN_ON_GET = False  # a POST (with CSRF) starts the OAuth dance

# Email: the console in the embedded default; SMTP when EMAIL_URL (smtp+tls://user:pass@host:587)
# or EMAIL_HOST is set. EMAIL_BACKEND overrides either (tests use the file backend + EMAIL_FILE_PATH).
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
elif env.str("EMAIL_HOST", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_BACKEND)
if env.str("EMAIL_FILE_PATH", default=""):
    EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AIPower <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Cookies. Session and CSRF cookies are HttpOnly/SameSite=Lax always, and Secure (sent over HTTPS
# only) when SECURE_COOKIES is on. It defaults to on in production mode (DATABASE_URL set) unless
# DEBUG; off in the embedded default, which is served on http://127.0.0.1 (where a Secure cookie
# would never come back and nobody could sign in). Set SECURE_COOKIES=0 to serve production over
# plain http (tests do), SECURE_COOKIES=1 to force it. Behind a TLS-terminating proxy, set
# SECURE_PROXY_SSL_HEADER=1 so that Django sees the request as https (X-Forwarded-Proto).
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=bool(env.str("DATABASE_URL", default="")) and not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 3600)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The management API (/api/): a session (with CSRF) or a management token; OpenAPI at /api/schema/.
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "AIPower management API",
    "DESCRIPTION": "API keys, members and invitations of an organization. Authenticate with a "
    "management token (`Authorization: Token aip-mt-…`, or `Bearer`), not with a gateway key.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/",
    # Swagger UI's files come from the drf-spectacular-sidecar package: nothing loads from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Billing: credits, reservations, trial, Stripe (billing/) -----------------------------------
# Money in nano-USD (1e-9 USD). A reservation not settled within this many seconds (its worker
# died) is released by the sweeper; longer than any request may run (AIPOWER_UPSTREAM_TOTAL_TIMEOUT).
AIPOWER_RESERVATION_TTL_SECONDS = env.float("AIPOWER_RESERVATION_TTL_SECONDS", default=900.0)
# Async PostgreSQL connections per gateway process (and event loop) for reserve/settle.
AIPOWER_BILLING_DB_POOL = env.int("AIPOWER_BILLING_DB_POOL", default=8)
# The hold is placed while the upstream call is under way (routing/credit.py; the answer waits for
# both) when the organization's room, last seen at most HOLD_OVERLAP_FRESH_SECONDS ago, is at least
# HOLD_OVERLAP_MARGIN times this request's worst case; otherwise the hold comes first. 0: always first.
AIPOWER_HOLD_OVERLAP_MARGIN = env.int("AIPOWER_HOLD_OVERLAP_MARGIN", default=20)
AIPOWER_HOLD_OVERLAP_FRESH_SECONDS = env.float("AIPOWER_HOLD_OVERLAP_FRESH_SECONDS", default=10.0)
# With no max_tokens and too little credit for a model's maximum output, a request's output is
# capped at what the credit covers, but never below this many tokens (402 instead).
AIPOWER_MIN_CAPPED_OUTPUT_TOKENS = env.int("AIPOWER_MIN_CAPPED_OUTPUT_TOKENS", default=256)
# The public site's free trial (/try): calls per browser, per IP address a day, for everyone a
# day, and the output cap of each call. Counters live in Redis (or the database without it).
AIPOWER_TRIAL_CALLS = env.int("AIPOWER_TRIAL_CALLS", default=2)
AIPOWER_TRIAL_CALLS_PER_IP = env.int("AIPOWER_TRIAL_CALLS_PER_IP", default=2)
AIPOWER_TRIAL_DAILY_CAP = env.int("AIPOWER_TRIAL_DAILY_CAP", default=500)
AIPOWER_TRIAL_MAX_TOKENS = env.int("AIPOWER_TRIAL_MAX_TOKENS", default=300)
AIPOWER_TRIAL_KEY_PREFIX = env.str("AIPOWER_TRIAL_KEY_PREFIX", default="trial")
# The trial's shared counters wait this long for Redis (they are off the API's request path; a
# busy moment must not turn a visitor away), then count in the database instead.
AIPOWER_TRIAL_REDIS_TIMEOUT_SECONDS = env.float("AIPOWER_TRIAL_REDIS_TIMEOUT_SECONDS", default=2.0)
# An answer is acknowledged once its charge and usage row are committed, waiting at most this long
# (seconds) when the database is slow or away (the commit is then retried until it is done).
AIPOWER_ACK_WAIT_SECONDS = env.float("AIPOWER_ACK_WAIT_SECONDS", default=2.0)
# A stream writes down what it has delivered this often (seconds): a stream cut by a crash is
# charged (and recorded) for what it delivered up to its last checkpoint.
AIPOWER_STREAM_CHECKPOINT_SECONDS = env.float("AIPOWER_STREAM_CHECKPOINT_SECONDS", default=1.0)
# Settlements the database could not take are retried, oldest first, at most this far apart (seconds).
AIPOWER_SETTLE_RETRY_MAX_SECONDS = env.float("AIPOWER_SETTLE_RETRY_MAX_SECONDS", default=1.0)
# Free trial credit, granted once per verified email address ($1 by default).
AIPOWER_TRIAL_CREDIT_NUSD = env.int("AIPOWER_TRIAL_CREDIT_NUSD", default=1_000_000_000)
# Top-ups through Stripe Checkout: preset amounts, and bounds for a custom amount (whole USD).
AIPOWER_TOPUP_PRESETS_USD = env.list("AIPOWER_TOPUP_PRESETS_USD", cast=int, default=[10, 25, 50, 100])
AIPOWER_TOPUP_MIN_USD = env.int("AIPOWER_TOPUP_MIN_USD", default=5)
AIPOWER_TOPUP_MAX_USD = env.int("AIPOWER_TOPUP_MAX_USD", default=5000)
# Stripe: without STRIPE_SECRET_KEY the billing page says top-ups are not configured.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # tests: the fake Stripe server
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
# The Billing Meter postpaid usage is reported to (its event_name; value in nano-USD).
STRIPE_METER_EVENT_NAME = env.str("STRIPE_METER_EVENT_NAME", default="aipower_usage_nusd")
# Usage of an hour is reported this long after the hour ends (late settles land first).
AIPOWER_METERING_GRACE_SECONDS = env.int("AIPOWER_METERING_GRACE_SECONDS", default=300)
CELERY_BEAT_SCHEDULE = {
    "billing-sweep-reservations": {"task": "billing.tasks.sweep_reservations", "schedule": 60.0},
    "billing-report-metered-usage": {"task": "billing.tasks.report_metered_usage", "schedule": 300.0},
    "routing-purge-expired-responses": {"task": "routing.tasks.purge_expired_responses", "schedule": 3600.0},
}

# Price sync (routing/pricesync): sources as "format=url" (formats: litellm, openrouter), a change
# larger than the factor (either way) is held for an operator, who is emailed (default: ADMINS).
AIPOWER_PRICE_SOURCES = env.list(
    "AIPOWER_PRICE_SOURCES",
    default=[
        "litellm=https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json",
        "openrouter=https://openrouter.ai/api/v1/models",
    ],
)
for _source in AIPOWER_PRICE_SOURCES:
    if _source.partition("=")[0].strip() not in ("litellm", "openrouter") or not _source.partition("=")[2].strip():
        raise ImproperlyConfigured(
            f"AIPOWER_PRICE_SOURCES entries are format=url (litellm or openrouter); got {_source!r}"
        )
AIPOWER_PRICE_SYNC_MAX_FACTOR = env.str("AIPOWER_PRICE_SYNC_MAX_FACTOR", default="3")
try:
    if not float(AIPOWER_PRICE_SYNC_MAX_FACTOR) > 1:
        raise ValueError
except ValueError:
    raise ImproperlyConfigured(
        f"AIPOWER_PRICE_SYNC_MAX_FACTOR must be a number above 1; got {AIPOWER_PRICE_SYNC_MAX_FACTOR!r}"
    ) from None
AIPOWER_PRICE_SYNC_EMAILS = env.list("AIPOWER_PRICE_SYNC_EMAILS", default=[])
AIPOWER_PRICE_SYNC_TIMEOUT = env.float("AIPOWER_PRICE_SYNC_TIMEOUT", default=30.0)
AIPOWER_PRICE_SYNC_MAX_BYTES = env.int("AIPOWER_PRICE_SYNC_MAX_BYTES", default=50_000_000)
# When the sync runs: a crontab line (minute hour day-of-month month day-of-week; default Mondays
# 05:00 UTC) or a number of seconds between runs.
AIPOWER_PRICE_SYNC_SCHEDULE = env.str("AIPOWER_PRICE_SYNC_SCHEDULE", default="0 5 * * 1")


def _celery_schedule(name, value):
    from celery.schedules import crontab

    try:
        return float(value)
    except ValueError:
        pass
    parts = value.split()
    if len(parts) != 5:
        raise ImproperlyConfigured(f"{name} must be a crontab line of 5 fields or a number of seconds; got {value!r}")
    return crontab(*parts)


CELERY_BEAT_SCHEDULE["routing-sync-prices"] = {
    "task": "routing.tasks.sync_prices",
    "schedule": _celery_schedule("AIPOWER_PRICE_SYNC_SCHEDULE", AIPOWER_PRICE_SYNC_SCHEDULE),
}
CELERY_BEAT_SCHEDULE["routing-apply-due-prices"] = {"task": "routing.tasks.apply_due_prices", "schedule": 60.0}

# --- Analytics: usage rollups and retention (analytics/) ----------------------------------------
# Usage rows older than this are deleted (in batches of AIPOWER_USAGE_PURGE_BATCH) once their
# hours are rolled up; the hourly and daily rollups are kept.
AIPOWER_USAGE_RETENTION_DAYS = env.int("AIPOWER_USAGE_RETENTION_DAYS", default=90)
AIPOWER_USAGE_PURGE_BATCH = env.int("AIPOWER_USAGE_PURGE_BATCH", default=5000)
CELERY_BEAT_SCHEDULE["analytics-rollup-usage"] = {"task": "analytics.tasks.rollup_usage", "schedule": 300.0}
