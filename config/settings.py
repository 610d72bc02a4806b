"""Settings, read from the environment (django-environ) with safe local defaults.

Every variable is listed in the README's configuration table. Production
secrets have no default: with ``DJANGO_DEBUG`` off a missing
``DJANGO_SECRET_KEY`` stops the process at import with a clear message.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("DESK_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

# Off unless asked for: `make run` and `make test` (config/launcher.py) turn it on for the demo and the suite.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. It is required when DJANGO_DEBUG is off: "
            "set it to a long random string (for example: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105 - debug only

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "simple_history",
    "channels",
    "django_prometheus",
    # The desk, in its layers from the bottom up (DESIGN.md, "Layers and apps"; import-linter holds them).
    "desk",
    "market_app",
    "signals_app",
    "portfolio_app",
    "orders_app",
    "risk_app",
    "fix_app",
    "execution_app",
    "ops_app",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "config.resilience.ServiceUnavailableMiddleware",
    "config.observability.CorrelationIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.security.RequestTooLargeMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into a clear refusal.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

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
                "execution_app.context.desk_frame",
            ],
        },
    }
]

# --- Database ---------------------------------------------------------------
# Without DATABASE_URL: a SQLite file in WAL mode. IMMEDIATE transactions take
# the write lock at BEGIN, so two writers queue on the busy timeout instead of
# failing with "database is locked" when one upgrades a read lock mid-transaction.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'desk.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        }
    )
    # A file, not memory, so a Celery worker thread and a live server see the test data;
    # one per test run, so two runs on one machine never share (or delete) each other's.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-desk-{os.getpid()}.sqlite3")}
else:
    # A connection pool per process (config/dbpool.py: sizes, forks, the budget `make run` checks); a pool hands
    # out connections itself, so Django must not keep them (CONN_MAX_AGE 0). DESK_DB_POOL=false: one connection
    # per request or task, kept DATABASE_CONN_MAX_AGE seconds.
    from config.dbpool import pool_options  # noqa: E402

    DESK_DB_POOL = pool_options(env)
    if DESK_DB_POOL:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = DESK_DB_POOL
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["ENGINE"] = "config.db.postgresql"  # Django's, failing fast while the server is down
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # One test database per test run, so two runs against one server never collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
# The kernel's ports (desk/ports.py), wired here: a lower layer calls the port, the app above implements it.
DESK_PORTS = {
    "pretrade_gate": "risk_app.services.pretrade.DeskPreTradeGate",
    "alert_notifier": "ops_app.alert_rules.webhooks.WebhookAlertNotifier",
    "exposure_listener": "risk_app.desk_book.DeskBookListener",
    "reservations": "orders_app.reservations.OrderReservations",
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, channel layer, sequence numbers -------------------
EMBEDDED_REDIS_PORT = env.int("DESK_EMBEDDED_REDIS_PORT", default=6399)
REDIS_URL = env.str("REDIS_URL", default=f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")

# Redis pub/sub: a group message is published once and each web process receives it once, then
# hands it to its own sockets (the list-based layer pushed one copy per socket and each process
# popped them one round trip at a time). Pub/sub channels ignore the database number, so the
# default prefix carries it: desks (and test runs) on one Redis with different databases stay apart.
_REDIS_DB = urlparse(REDIS_URL).path.strip("/") or "0"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("DESK_CHANNEL_PREFIX", default=f"asgi.db{_REDIS_DB}.")},
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands an unacknowledged message to another worker after visibility_timeout, and a message a
# worker holds for its ETA is unacknowledged until it runs. So the timeout must exceed the longest task
# time limit (a backtest's hour) and the longest ETA the desk sends (DESK_MAX_ETA_SECONDS: the order
# dispatcher never schedules further out; a child woken early re-schedules itself). Checked below.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=7200)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
DESK_MAX_ETA_SECONDS = env.int("DESK_MAX_ETA_SECONDS", default=1800)
DESK_LONGEST_TASK_SECONDS = 3600  # execution_app.tasks.backtest_run's time limit (tests/test_settings.py holds it)
if not max(CELERY_TASK_TIME_LIMIT, DESK_LONGEST_TASK_SECONDS, DESK_MAX_ETA_SECONDS) < CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT ({CELERY_VISIBILITY_TIMEOUT}s) must exceed the longest task time limit "
        f"({max(CELERY_TASK_TIME_LIMIT, DESK_LONGEST_TASK_SECONDS)}s) and DESK_MAX_ETA_SECONDS ({DESK_MAX_ETA_SECONDS}s), "
        "or Redis redelivers running and scheduled tasks."
    )
# "control" carries what must never wait behind order flow (the kill switch's cancels, a child's pending
# cancel or replace): its own worker consumes it alone (Procfile "control"), so a backlog of routing work
# cannot delay it. Listed first, so a worker that consumes every queue serves it first too.
DESK_CONTROL_QUEUE = "control"
DESK_QUEUES = (DESK_CONTROL_QUEUE, "routing", "optimisation", "agents", "backtests", "default")
# Every task is routed to one of the desk's queues, by the app that owns it.
CELERY_TASK_ROUTES = {
    "orders_app.tasks.control_*": {"queue": DESK_CONTROL_QUEUE},
    "orders_app.tasks.*": {"queue": "routing"},
    "portfolio_app.tasks.*": {"queue": "optimisation"},
    "execution_app.tasks.proposal_compute": {"queue": "optimisation"},
    "execution_app.tasks.rebalance_policies_run": {"queue": "optimisation"},
    "ops_app.tasks.rollout_shadow_compute": {"queue": "optimisation"},
    "signals_app.tasks.*": {"queue": "agents"},
    "execution_app.tasks.backtest_*": {"queue": "backtests"},
    "*": {"queue": "default"},
}
HEARTBEAT_SECONDS = env.float("DESK_HEARTBEAT_SECONDS", default=3.0)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "ops_app.tasks.heartbeat_publish", "schedule": HEARTBEAT_SECONDS, "options": {"expires": 10}},
    "price-ticks": {"task": "market_app.tasks.price_ticks_publish", "schedule": env.float("DESK_TICK_SECONDS", default=1.0), "options": {"expires": 3}},
    "nav-snapshots": {"task": "portfolio_app.tasks.nav_snapshots_take", "schedule": 30.0, "options": {"expires": 25}},
    "scenario-paper-record": {"task": "execution_app.tasks.scenario_paper_record", "schedule": 60.0, "options": {"expires": 55}},
}

# --- Auth, API ------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # django-axes first: after AXES_FAILURE_LIMIT failed logins for a user from an address,
    # that pair is locked out for AXES_COOLOFF_TIME.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("DESK_LOGIN_THROTTLE", default=True)
AXES_FAILURE_LIMIT = env.int("DESK_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("DESK_LOGIN_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Request bodies: 16 MB covers a 10,000-signal batch with room; larger gets 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DESK_MAX_REQUEST_BYTES", default=16 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# Content Security Policy (django-csp): no inline script or style anywhere.
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF, "ws:", "wss:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "COERCE_DECIMAL_TO_STRING": True,
    # One error format everywhere (config/api_errors.py).
    "EXCEPTION_HANDLER": "desk.api_errors.desk_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["desk.api_errors.DeskJSONRenderer"],
    # Per-token (per-user) throttling; a throttled request gets 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle", "rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("DESK_API_RATE", default="6000/min"),
        "anon": env.str("DESK_API_ANON_RATE", default="60/min"),
    },
}
# Throttle counters live in Redis so every ASGI process counts the same requests.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("DESK_CACHE_PREFIX", default="desk"),
        "TIMEOUT": 300,
    }
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Execution Desk API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI served from this host (no CDN), with no inline script (CSP).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "desk.api_errors.add_error_responses"],
}

# --- I18N, time ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
DESK_DISPLAY_TZ = env.str("DESK_DISPLAY_TZ", default="America/New_York")

# --- Static -------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Development serves straight from static/; production runs collectstatic (docs/deployment.md).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- The desk -------------------------------------------------------------------
# The market clock (DESIGN.md): a replay of daily history at a configurable speed.
DESK_CLOCK = {
    "kind": env.str("DESK_CLOCK_KIND", default="replay"),
    "start": env.str("DESK_CLOCK_START", default="2022-01-03"),
    "seconds_per_session": env.float("DESK_CLOCK_SECONDS_PER_SESSION", default=600.0),
}
DESK_DEMO_CAPITAL = "10000000.00"

# --- Agents and signals ---------------------------------------------
# Extra agent types as dotted paths ("pkg.module.Class"), on top of the built-ins and
# the packages advertising the "execdesk.agents" entry point.
DESK_AGENT_TYPES = env.list("DESK_AGENT_TYPES", default=[])
# How live signals become one view per instrument (execution_app/aggregation.py):
# method weighted_decay | majority_vote | latest_per_agent; bl_scale = annual excess
# return of a view with score +1 (views_to_bl).
DESK_AGGREGATION = {
    "method": env.str("DESK_AGGREGATION_METHOD", default="weighted_decay"),
    "half_life_days": env.float("DESK_AGGREGATION_HALF_LIFE_DAYS", default=5.0),
    "bl_scale": env.float("DESK_AGGREGATION_BL_SCALE", default=0.10),
}
# Calendar days of closes a computed agent run loads (enough for a 12-month lookback).
DESK_AGENT_PRICE_DAYS = env.int("DESK_AGENT_PRICE_DAYS", default=800)
CELERY_BEAT_SCHEDULE["agents-due"] = {
    "task": "signals_app.tasks.agent_run_due", "schedule": 30.0, "options": {"expires": 25},
}
DESK_DEMO_HOOKS = [*globals().get("DESK_DEMO_HOOKS", []), "signals_app.services.demo_agents"]

# --- Orders -------------------------------------------------------------
# The execution environment: dotted path of a factory(*, market, clock, lot_size).
DESK_EXECUTION_ENVIRONMENT = env.str("DESK_EXECUTION_ENVIRONMENT", default="orders_app.venues.paper_environment")
# Venue clients by Venue.kind other than paper (a factory path each; see orders_app.venues.load_environment).
DESK_VENUE_CLIENTS = {"fix": "fix_app.client.fix_environment"}
DESK_MARKET_SEED = env.int("DESK_MARKET_SEED", default=0)  # the intraday paths' seed
# Working child orders: poll interval when the clock cannot map market to wall time,
# the longest single wait, and how late a child's task must be before the sweeper re-enqueues it.
DESK_ORDER_POLL_SECONDS = env.float("DESK_ORDER_POLL_SECONDS", default=1.0)
DESK_ORDER_MAX_WAIT_SECONDS = env.float("DESK_ORDER_MAX_WAIT_SECONDS", default=300.0)
DESK_ORDER_SWEEP_GRACE_SECONDS = env.float("DESK_ORDER_SWEEP_GRACE_SECONDS", default=20.0)
CELERY_BEAT_SCHEDULE["orders-sweep"] = {
    "task": "orders_app.tasks.order_sweep", "schedule": 15.0, "options": {"expires": 12},
}

# --- FIX gateway (fix_app.gateway; docs/fix.md) --------------------------------------------
# Where its QuickFIX FileStore (sequence numbers, sent messages) and FileLog live; they outlive restarts.
DESK_FIX_DIR = Path(env.str("DESK_FIX_DIR", default=str(BASE_DIR / "var" / "fix" / "gateway")))
DESK_FIX_DATA_DICTIONARY = env.str("DESK_FIX_DATA_DICTIONARY", default="")  # empty: the FIX44.xml the quickfix package ships
DESK_FIX_RECONNECT_S = env.int("DESK_FIX_RECONNECT_S", default=5)
# An alert when a session is down longer than this; a safety sweep of the outbox (a wake-up lost with Redis).
DESK_FIX_SESSION_DOWN_ALERT_S = env.float("DESK_FIX_SESSION_DOWN_ALERT_S", default=60.0)
DESK_FIX_OUTBOX_SWEEP_S = env.float("DESK_FIX_OUTBOX_SWEEP_S", default=5.0)
DESK_FIX_SETTINGS_CHECK_S = env.float("DESK_FIX_SETTINGS_CHECK_S", default=3.0)
# Reconciliation (docs/fix.md): on every logon, every N minutes (beat), and from the Reconciliation page's button;
# a run without a complete answer in time keeps the venue unreconciled (the router skips it) and alerts.
DESK_FIX_RECONCILE_MINUTES = env.float("DESK_FIX_RECONCILE_MINUTES", default=15.0)
DESK_FIX_RECONCILE_TIMEOUT_S = env.float("DESK_FIX_RECONCILE_TIMEOUT_S", default=10.0)
CELERY_BEAT_SCHEDULE["fix-reconcile"] = {
    "task": "fix_app.tasks.fix_reconcile_scheduled", "schedule": DESK_FIX_RECONCILE_MINUTES * 60.0,
    "options": {"expires": max(30.0, DESK_FIX_RECONCILE_MINUTES * 30.0)},
}

# Structured logs: readable in development, JSON in production (DESK_LOG_FORMAT overrides).
from config.observability import configure_structlog, logging_config  # noqa: E402

LOG_JSON = env.str("DESK_LOG_FORMAT", default="console" if DEBUG else "json") == "json"
configure_structlog(json_logs=LOG_JSON)
LOGGING = logging_config(level=LOG_LEVEL, json_logs=LOG_JSON)

# /metrics: Prometheus text format, for a bearer token or from these networks only.
DESK_METRICS_TOKEN = env.str("DESK_METRICS_TOKEN", default="")
DESK_METRICS_ALLOWED_NETWORKS = env.list("DESK_METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
PROMETHEUS_EXPORT_MIGRATIONS = False

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_CONTENT_TYPE_NOSNIFF = True
    STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedManifestStaticFilesStorage"

# --- Portfolio construction and proposals ------------------------------------
# A pending proposal expires after this many wall minutes, and goes STALE when a mark
# moves more than this percentage from the price it was computed at.
DESK_PROPOSAL_TTL_MINUTES = env.float("DESK_PROPOSAL_TTL_MINUTES", default=30.0)
# A pending limit loosening not approved within this long expires (and any change of the limit since its
# request makes it stale at once): a second officer never approves what the first no longer means.
DESK_LIMIT_CHANGE_TTL_MINUTES = env.float("DESK_LIMIT_CHANGE_TTL_MINUTES", default=480.0)
DESK_PROPOSAL_STALE_BAND_PCT = env.float("DESK_PROPOSAL_STALE_BAND_PCT", default=2.0)
# A DRAFT whose computation has not finished after this long is failed ("request a fresh one").
DESK_PROPOSAL_DRAFT_TIMEOUT_SECONDS = env.int("DESK_PROPOSAL_DRAFT_TIMEOUT_SECONDS", default=300)
# Estimated cost of a trade (bps of notional) and how approved orders are worked, unless
# the portfolio's strategy_params say otherwise ("cost_bps", "algo", "algo_params").
DESK_PROPOSAL_COST_BPS = env.float("DESK_PROPOSAL_COST_BPS", default=5.0)
DESK_PROPOSAL_ALGO = env.str("DESK_PROPOSAL_ALGO", default="TWAP")
DESK_PROPOSAL_ALGO_PARAMS = {"slices": 4}
# Risk sizing defaults (risk_app.sizing.SizingConfig fields); strategy_params["sizing"] overrides.
DESK_SIZING: dict = {}
# One optimisation's deadline (seconds) and the strategy that runs past it, unless the
# portfolio's strategy_params say otherwise ("deadline_seconds", "fallback_strategy").
DESK_OPTIMISATION_DEADLINE_SECONDS = env.float("DESK_OPTIMISATION_DEADLINE_SECONDS", default=10.0)
DESK_OPTIMISATION_FALLBACK = env.str("DESK_OPTIMISATION_FALLBACK", default="min_volatility")
# Lower the optimisation core's per-strategy universe limits (portfolio_app/optimisation/limits.py).
DESK_STRATEGY_SIZE_LIMITS: dict = {}
CELERY_BEAT_SCHEDULE["rebalance-policies"] = {
    "task": "execution_app.tasks.rebalance_policies_run", "schedule": 30.0, "options": {"expires": 25},
}
CELERY_BEAT_SCHEDULE["proposals-expire"] = {
    "task": "portfolio_app.tasks.proposals_expire", "schedule": 20.0, "options": {"expires": 15},
}

# --- Risk ---------------------------------------------------------------
# Live risk (exposure, VaR/CVaR, drawdown, limit alerts) per portfolio, every 30 s.
CELERY_BEAT_SCHEDULE["limit-changes-expire"] = {
    "task": "risk_app.tasks.limit_changes_expire", "schedule": 60.0, "options": {"expires": 55},
}
CELERY_BEAT_SCHEDULE["risk-recompute"] = {
    "task": "risk_app.tasks.risk_recompute_all", "schedule": 30.0, "options": {"expires": 25},
}
# The desk books of desk-wide limits re-marked from the whole book (risk_app/desk_book.py).
DESK_BOOK_REFRESH_SECONDS = env.float("DESK_BOOK_REFRESH_SECONDS", default=10.0)
CELERY_BEAT_SCHEDULE["desk-book-refresh"] = {
    "task": "risk_app.tasks.desk_book_refresh", "schedule": DESK_BOOK_REFRESH_SECONDS,
    "options": {"expires": max(1.0, DESK_BOOK_REFRESH_SECONDS - 1)},
}
DESK_DEMO_HOOKS = [*DESK_DEMO_HOOKS, "risk_app.services.demo_limits"]
# Buying power (portfolio_app/account.py): a market order reserves its reference price moved by the
# tightest blocking price-collar limit that applies to it; with no such limit, by this many percent.
DESK_RESERVE_COLLAR_PCT = env.float("DESK_RESERVE_COLLAR_PCT", default=5.0)

# --- Monitoring and alerts ------------------------------------------------------
# The desk's own alert rules (ops_app.alert_rules; editable in the admin and on the
# Monitoring page) are evaluated on the default queue every DESK_ALERT_EVAL_SECONDS.
DESK_ALERT_EVAL_SECONDS = env.float("DESK_ALERT_EVAL_SECONDS", default=10.0)
CELERY_BEAT_SCHEDULE["alert-rules"] = {
    "task": "ops_app.tasks.alert_rules_evaluate", "schedule": DESK_ALERT_EVAL_SECONDS,
    "options": {"expires": max(1.0, DESK_ALERT_EVAL_SECONDS - 1)},
}
# Webhook for every alert raised/resolved (a rule's own webhook_url wins); retried with
# exponential backoff (base seconds, doubled per attempt, at most 5 min) up to MAX_ATTEMPTS.
DESK_ALERT_WEBHOOK_URL = env.str("DESK_ALERT_WEBHOOK_URL", default="")
DESK_ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("DESK_ALERT_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
DESK_ALERT_WEBHOOK_BACKOFF_SECONDS = env.float("DESK_ALERT_WEBHOOK_BACKOFF_SECONDS", default=2.0)
DESK_ALERT_WEBHOOK_MAX_ATTEMPTS = env.int("DESK_ALERT_WEBHOOK_MAX_ATTEMPTS", default=8)
# Per-minute request, 5xx and latency series in Redis (error-rate and p99 rules, Monitoring charts),
# right after django-prometheus's first middleware so it times nearly the whole request.
MIDDLEWARE.insert(1, "ops_app.alert_rules.series.RequestSeriesMiddleware")
# Every web process, worker and beat reports its CPU and memory to Redis this often (ops_app.resources; 0: off).
DESK_PROCESS_HEARTBEAT_SECONDS = env.float("DESK_PROCESS_HEARTBEAT_SECONDS", default=5.0)

# --- Backups ----------------------------------------------------------------------
# A backup of the database every DESK_BACKUP_EVERY_MINUTES (0: no schedule) into DESK_BACKUP_DIR,
# keeping the newest DESK_BACKUP_KEEP files (ops_app.backup; the backup_stale rule watches it).
DESK_BACKUP_DIR = Path(env.str("DESK_BACKUP_DIR", default=str(VAR_DIR / "backups")))
DESK_BACKUP_EVERY_MINUTES = env.float("DESK_BACKUP_EVERY_MINUTES", default=60.0)
DESK_BACKUP_KEEP = env.int("DESK_BACKUP_KEEP", default=48)
if DESK_BACKUP_EVERY_MINUTES > 0:
    CELERY_BEAT_SCHEDULE["backup"] = {
        "task": "ops_app.tasks.backup_scheduled", "schedule": DESK_BACKUP_EVERY_MINUTES * 60,
        "options": {"expires": max(30.0, DESK_BACKUP_EVERY_MINUTES * 30)},
    }
# --- End-of-day reports ------------------------------------------------------------
# Beat looks every DESK_EOD_CHECK_SECONDS for a newly closed session (market clock) and writes its reports,
# once per portfolio and the desk (ops_app.eod); reports of the newest DESK_EOD_KEEP_SESSIONS sessions are kept.
DESK_EOD_CHECK_SECONDS = env.float("DESK_EOD_CHECK_SECONDS", default=15.0)
DESK_EOD_KEEP_SESSIONS = env.int("DESK_EOD_KEEP_SESSIONS", default=90)
CELERY_BEAT_SCHEDULE["eod-reports"] = {
    "task": "ops_app.tasks.eod_reports_close", "schedule": DESK_EOD_CHECK_SECONDS,
    "options": {"expires": max(5.0, DESK_EOD_CHECK_SECONDS - 1)},
}
# Off: the desk's own Prometheus metrics become no-ops (desk.metrics; the overhead benchmark's "off").
DESK_METRICS_ENABLED = env.bool("DESK_METRICS_ENABLED", default=True)
