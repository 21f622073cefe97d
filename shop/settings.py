"""Settings for the shop, read from the environment (12-factor).

Defaults make `runserver` work with nothing installed: SQLite, local-memory
cache, Celery tasks run eagerly in-process. Production switches on when
DEBUG is off: a real SECRET_KEY is required and the deploy checks are clean.
"""

import os
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from shop.core.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or not a real secret. With DEBUG=0 the shop refuses to start "
        "without one: set SECRET_KEY to a random string of at least 50 characters (for example "
        "the output of `python -c 'import secrets; print(secrets.token_urlsafe(50))'`)."
    )
SECRET_KEY = SECRET_KEY or _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Before the admin: its TranslationAdmin and the translated fields' descriptors.
    "modeltranslation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django.contrib.sites",  # flat pages belong to a site
    "django.contrib.flatpages",  # contact, shipping and returns, privacy, terms, legal notice: edited by staff
    # third party
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served locally, no CDN
    "allauth",
    "allauth.account",
    "allauth.headless",
    "djmoney",
    "djmoney.contrib.exchange",
    "django_celery_beat",
    "treebeard",
    "csp",
    # ours
    "shop",
    "accounts",
    "catalog",
    "catalog.engagement",
    "payments",
    "payments.psp_sandbox",
    "shop.pricing",
    "shop.shipping",
    "shop.cart",
    "shop.orders",
    "shop.staff",
]

MIDDLEWARE = [
    # First: the request id, metrics and access log cover everything below.
    "shop.core.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Every /api/ error answer is JSON (Django's own 404/500 pages, DEBUG's included).
    "shop.core.json_guard.ApiErrorsAsJsonMiddleware",
    "shop.core.csp.ShopCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "shop.core.db.primary_pin_middleware",
    # Refuses unparsable or too deeply nested JSON bodies (400) before any view parses them.
    "shop.core.json_guard.JsonGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
ASGI_APPLICATION = "shop.asgi.application"

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
                "shop.core.context_processors.shop",
            ],
        },
    },
]

# --- database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3 connection pool: each process keeps warm connections.
    # No JIT: the shop's queries are short, and compiling a large plan cost more than it saved.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": int(os.environ.get("DB_POOL_MIN_SIZE", "2")),
        "max_size": int(os.environ.get("DB_POOL_MAX_SIZE", "20")),
        "timeout": int(os.environ.get("DB_POOL_TIMEOUT", "30")),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes a write transaction take the lock at BEGIN, so two
    # writers queue instead of failing with "database is locked" mid-way.
    # WAL lets readers (the web server) go on while a writer (the worker under `runshop`) commits;
    # the busy timeout makes a second writer wait instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The test database is a file, not shared-cache memory: threads of the live
    # server (and the sandbox's webhook sender) then wait on the busy timeout
    # instead of failing at once with "database table is locked".
    # One file per test run (by process id), so two runs never share one.
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", os.path.join(tempfile.gettempdir(), f"shop_test_{os.getpid()}.sqlite3")
    )
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
# Streaming replicas of the primary, comma-separated URLs: catalog reads, staff reports and the
# reconciliation's reads go to them (shop/core/db.py). Each is `replica_N`, a mirror of `default` in tests.
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS")
# A replica whose replay is further behind than this is skipped until it catches up.
REPLICA_MAX_LAG_SECONDS = float(os.environ.get("REPLICA_MAX_LAG_SECONDS", "5"))
for _index, _url in enumerate(DATABASE_REPLICA_URLS, start=1):
    # Persistent connections rather than the pool: a pool would wait its whole timeout on a replica that is down.
    _replica = dj_database_url.parse(_url, conn_max_age=60, conn_health_checks=True)
    if _replica["ENGINE"] == "django.db.backends.postgresql":
        _replica.setdefault("OPTIONS", {}).update({"options": "-c jit=off", "connect_timeout": 2})
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica_{_index}"] = _replica
DATABASE_ROUTERS = ["shop.core.db.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, Celery ------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "shop.core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "shop"),
            "TIMEOUT": 300,
        }
    }
    # Every request of a signed-in shopper or app reads its session: from Redis (shared by all
    # workers), written through to the database so a cache flush signs nobody out. Without Redis
    # the cache is per process, so sessions stay database-only.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "shop",
            "TIMEOUT": 300,
        }
    }

# The broker: Redis when REDIS_URL is set. Without it, `manage.py runshop` (`make run`) gives its
# web server and worker kombu's filesystem transport (`filesystem://`, folders under
# EMBEDDED_BROKER_DIR), which needs no server; anything else (tests, a plain `runserver`, the shell)
# has the in-process `memory://` broker and runs tasks eagerly.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or REDIS_URL or "memory://"
EMBEDDED_BROKER_DIR = Path(os.environ.get("EMBEDDED_BROKER_DIR", "") or BASE_DIR / "var" / "broker")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", CELERY_BROKER_URL.startswith("memory://"))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "shop"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # One folder is both the producers' "out" and the worker's "in": every process sends and reads there.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(EMBEDDED_BROKER_DIR / "messages"),
        "data_folder_out": str(EMBEDDED_BROKER_DIR / "messages"),
        "control_folder": str(EMBEDDED_BROKER_DIR / "control"),
        "processed_folder": str(EMBEDDED_BROKER_DIR / "processed"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# How often beat runs the sweeps (stuck payments, expired reservations, the outbox).
BEAT_SWEEP_SECONDS = int(os.environ.get("BEAT_SWEEP_SECONDS", "60"))
# The beat schedule lives here, in code; a post_migrate handler (shop.apps) and django-celery-beat's
# database scheduler load it into its tables, so staff see and can pause it in admin from the start.
CELERY_BEAT_SCHEDULE = {
    "retry-stuck-payments": {
        "task": "payments.tasks.retry_stuck_payments",
        "schedule": timedelta(seconds=BEAT_SWEEP_SECONDS),
    },
    "expire-reservations": {
        "task": "shop.orders.tasks.expire_reservations",
        "schedule": timedelta(seconds=BEAT_SWEEP_SECONDS),
    },
    "drain-outbox": {
        "task": "shop.orders.tasks.drain_outbox",
        "schedule": timedelta(seconds=BEAT_SWEEP_SECONDS),
    },
    "prune-idempotency-keys": {
        "task": "payments.tasks.prune_idempotency_keys",
        "schedule": timedelta(hours=1),
    },
    "recount-facets": {
        # A safety net: facet counts are kept exact by the catalog services; a recount
        # lost with a killed process is redone here.
        "task": "catalog.tasks.recount_facets",
        "schedule": crontab(minute=45, hour=3),
    },
    "compute-bought-together": {
        "task": "catalog.tasks.compute_bought_together",
        "schedule": crontab(minute=15, hour="*/6"),
    },
    "nightly-reconciliation": {
        "task": "payments.tasks.nightly_reconciliation",
        "schedule": crontab(minute=30, hour=2),
    },
}

# --- auth -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# User.email is unique case-insensitively through a functional UniqueConstraint
# (Lower("email")), which the auth check does not recognise.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "accounts:profile"

ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = False
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
# allauth's rate limits are on by default; stated here so they are visible.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "change_password": "5/m/user",
}
HEADLESS_CLIENTS = ("app", "browser")
# allauth's own specification page loads its viewer from a CDN (blank offline, and refused by the
# Content-Security-Policy): not served. docs/mobile-auth.md documents the calls the apps make.
HEADLESS_SERVE_SPECIFICATION = False

# --- REST API -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "shop.core.authentication.SessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON is the API's only body type: a form or multipart body is a 415 (pages keep their forms).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "shop.core.api.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "shop.core.schema.ShopAutoSchema",
    "EXCEPTION_HANDLER": "shop.core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "shop.core.throttling.AnonRateThrottle",
        "shop.core.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("THROTTLE_ANON", "600/min"),
        "user": os.environ.get("THROTTLE_USER", "1200/min"),
        "checkout": os.environ.get("THROTTLE_CHECKOUT", "10/min"),
        # "Find my order" (order number + e-mail), per client address: guessing numbers is slow.
        "order_lookup": os.environ.get("THROTTLE_ORDER_LOOKUP", "10/hour"),
        # Failed gift-card codes per account and per client address (shop.cart.gift_cards).
        "gift_card": os.environ.get("THROTTLE_GIFT_CARD", "10/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Shop API",
    "DESCRIPTION": (
        "REST API for the shop's mobile apps. JSON bodies only; money is {amount: string, currency}. "
        "Sign in with the `auth` operations (allauth's headless API, `app` client) and send the "
        "answer's `meta.session_token` as the X-Session-Token header. Errors are {code, detail}, "
        "`code` one of ErrorCode."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Inputs and outputs are separate serializers already: components keep their names
    # (no "...Request" twins), and shop.core.schema names them after the resource.
    "COMPONENT_SPLIT_REQUEST": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "shop.core.schema.postprocess_schema",
    ],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- storefront ---------------------------------------------------------------
SHOP_NAME = "Ferngrove"  # the brand shown in the header, titles and e-mails
SITE_ID = 1

# --- i18n, money ------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Catalogue content (names, descriptions) in every shop language (django-modeltranslation):
# one column per language, English the fallback when a translation is missing.
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
# Full-text search configuration per language (PostgreSQL's text search dictionaries);
# a language not listed is searched with "simple" (no stemming).
CATALOG_SEARCH_CONFIGS = {"en": "english", "de": "german"}
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

CURRENCIES = ("USD", "EUR", "GBP")
CURRENCY_CHOICES = [("USD", "US Dollar"), ("EUR", "Euro"), ("GBP", "Pound Sterling")]
DEFAULT_CURRENCY = "USD"
BASE_CURRENCY = DEFAULT_CURRENCY
EXCHANGE_BACKEND = "shop.core.money.FileRatesBackend"
EXCHANGE_RATES_FILE = BASE_DIR / "catalog" / "data" / "exchange_rates.json"

# --- static, media -------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- e-mail -------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@example.com")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- payments -------------------------------------------------------------------
# The sandbox provider is mounted in development and tests; in production (DEBUG=0)
# only when asked for explicitly (a staging machine, the benchmark), because anyone
# could then fund a wallet with a test token.
PSP_SANDBOX_ENABLED = env_bool("PSP_SANDBOX_ENABLED", DEBUG)
# The shop's public address, for links in e-mails; empty: links are relative.
# `manage.py runshop` sets it to the address it serves on when it is unset.
SITE_URL = os.environ.get("SITE_URL", "")
# How long the signed link in a guest's order e-mails opens the order ("find my order" gives a fresh one).
ORDER_ACCESS_LINK_DAYS = int(os.environ.get("ORDER_ACCESS_LINK_DAYS", "180"))
# Default: the sandbox mounted on the shop itself, at the address it serves on.
PAYMENT_GATEWAY_URL = os.environ.get(
    "PAYMENT_GATEWAY_URL",
    f"{(SITE_URL or 'http://127.0.0.1:8000').rstrip('/')}/psp-sandbox/" if PSP_SANDBOX_ENABLED else "",
)
PAYMENT_WEBHOOK_SECRET = os.environ.get(
    "PAYMENT_WEBHOOK_SECRET", "whsec_dev_only" if PSP_SANDBOX_ENABLED else ""
)
PSP_API_KEY = os.environ.get("PSP_API_KEY", "sk_sandbox_dev" if PSP_SANDBOX_ENABLED else "")
if not PSP_SANDBOX_ENABLED:
    _missing = [
        name
        for name, value in (
            ("PAYMENT_GATEWAY_URL", PAYMENT_GATEWAY_URL),
            ("PAYMENT_WEBHOOK_SECRET", PAYMENT_WEBHOOK_SECRET),
            ("PSP_API_KEY", PSP_API_KEY),
        )
        if not value
    ]
    if _missing:
        raise ImproperlyConfigured(
            "The payment provider is not configured: set "
            + ", ".join(_missing)
            + " (or PSP_SANDBOX_ENABLED=1 to use the built-in sandbox, never in production)."
        )
# The sandbox posts its webhooks here; empty: /payments/webhooks/psp/ on the calling host.
PSP_SANDBOX_WEBHOOK_URL = os.environ.get("PSP_SANDBOX_WEBHOOK_URL", "")
PSP_SANDBOX_WEBHOOKS_ENABLED = env_bool("PSP_SANDBOX_WEBHOOKS_ENABLED", True)
PAYMENT_CONNECT_TIMEOUT = float(os.environ.get("PAYMENT_CONNECT_TIMEOUT", "2"))
PAYMENT_READ_TIMEOUT = float(os.environ.get("PAYMENT_READ_TIMEOUT", "3"))
PAYMENT_MAX_ATTEMPTS = int(os.environ.get("PAYMENT_MAX_ATTEMPTS", "6"))
# The first retry backoff of a payment, payout or refund; it doubles per attempt (capped at an hour).
PAYMENT_RETRY_BASE_SECONDS = int(os.environ.get("PAYMENT_RETRY_BASE_SECONDS", "30"))
RESERVATION_MINUTES = int(os.environ.get("RESERVATION_MINUTES", "15"))
# The most one wallet deposit may be, in the wallet's own currency.
WALLET_MAX_DEPOSIT = Decimal(os.environ.get("WALLET_MAX_DEPOSIT", "10000.00"))
# Which client talks to the provider: a key of payments.gateway.GATEWAYS.
PAYMENT_GATEWAY = os.environ.get("PAYMENT_GATEWAY", "sandbox")
# The key the sandbox expects from callers; empty: the shop's own PSP_API_KEY.
PSP_SANDBOX_API_KEY = os.environ.get("PSP_SANDBOX_API_KEY", "")
# The provider's circuit breaker (payments/breaker.py): this many transport failures or 5xx
# answers within the window open it; after the cool-down one probe call decides.
PROVIDER_BREAKER_THRESHOLD = int(os.environ.get("PROVIDER_BREAKER_THRESHOLD", "5"))
PROVIDER_BREAKER_WINDOW_SECONDS = int(os.environ.get("PROVIDER_BREAKER_WINDOW_SECONDS", "30"))
PROVIDER_BREAKER_COOLDOWN_SECONDS = int(os.environ.get("PROVIDER_BREAKER_COOLDOWN_SECONDS", "30"))
# How long one request holds an Idempotency-Key before a duplicate may take it over.
IDEMPOTENCY_LEASE_SECONDS = int(os.environ.get("IDEMPOTENCY_LEASE_SECONDS", "60"))

# --- pricing --------------------------------------------------------------------
# Catalogue prices, shipping prices and fixed discounts are entered gross (tax included,
# the EU habit) when true, net (tax added at checkout, the US habit) when false.
PRICES_INCLUDE_TAX = env_bool("PRICES_INCLUDE_TAX", True)

# --- shipping --------------------------------------------------------------------
# Each carrier's webhook signing secret, by carrier code: "dhl:whsec_...,ups:whsec_...".
# A carrier without one takes no webhooks (404).
CARRIER_WEBHOOK_SECRETS = dict(
    item.partition(":")[::2] for item in env_list("CARRIER_WEBHOOK_SECRETS") if item.partition(":")[2]
)
# The country a visitor's delivery estimate is for until they sign in with a default address.
SHOP_DEFAULT_COUNTRY = os.environ.get("SHOP_DEFAULT_COUNTRY", "DE").strip().upper()

# --- orders, catalog -------------------------------------------------------------
# An outbox row (e-mail, late refund) is tried this many times before it is left for staff.
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "20"))
# The seller printed on invoices and credit notes (frozen into each document when it is issued).
# The address is one line per "|"-separated part.
SHOP_SELLER_NAME = os.environ.get("SHOP_SELLER_NAME", "Demo Shop GmbH")
SHOP_SELLER_ADDRESS = [
    part.strip()
    for part in os.environ.get("SHOP_SELLER_ADDRESS", "Musterstraße 1|10115 Berlin|Germany").split("|")
    if part.strip()
]
SHOP_SELLER_VAT_ID = os.environ.get("SHOP_SELLER_VAT_ID", "DE123456789")
SHOP_SELLER_EMAIL = os.environ.get("SHOP_SELLER_EMAIL", DEFAULT_FROM_EMAIL)
SHOP_SELLER_REGISTRATION = os.environ.get("SHOP_SELLER_REGISTRATION", "Amtsgericht Berlin-Charlottenburg HRB 000000")
# How long a search's or listing's facet counts are cached.
CATALOG_FACETS_CACHE_SECONDS = int(os.environ.get("CATALOG_FACETS_CACHE_SECONDS", "120"))

# --- security -------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
    # The SSL redirect is done by the proxy in front; /healthz stays plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- observability ------------------------------------------------------------------
# Logs: one line per record, JSON ("json") or readable key=value text ("console"), with the
# request id (and, in tasks, the id of the request that queued them): shop/core/logs.py.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "console" if DEBUG else "json")
if LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or console, not {LOG_FORMAT!r}")
LOGGING = logging_config(level=os.environ.get("LOG_LEVEL", "INFO"), fmt=LOG_FORMAT)
# Celery's worker keeps the logging configured above instead of its own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset: /metrics is a 404.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Set (an empty directory, the same for every gunicorn worker and Celery process of a host):
# prometheus_client's multiprocess mode, so a scrape adds up every process's counters.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

# Content-Security-Policy (django-csp, shop.core.csp): everything from the shop itself, nothing
# inline. Admin and the Swagger UI page ship inline <style> blocks: there styles (never scripts)
# may be inline too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
CSP_INLINE_STYLE_PATHS = ("/admin/", "/api/v1/docs/")
