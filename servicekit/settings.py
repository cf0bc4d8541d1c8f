"""Settings every service starts from, read from the environment with django-environ.

Each service's ``config/settings.py`` calls :func:`configure` and adds what is its own::

    globals().update(configure(service="order-service", base_dir=BASE_DIR, apps=["orders"]))

Every variable has a default that works for a local run: SQLite under ``var/``, Redis on
localhost, peers on the ports of DESIGN.md.
"""

import os
import urllib.parse
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from servicekit.logging import logging_config

REPO_ROOT = Path(__file__).resolve().parent.parent

PEER_DEFAULTS = {
    "ORDER_SERVICE_URL": "http://127.0.0.1:8001",
    "INVENTORY_SERVICE_URL": "http://127.0.0.1:8002",
    "SAGA_SERVICE_URL": "http://127.0.0.1:8003",
    "MARKETING_SERVICE_URL": "http://127.0.0.1:8004",
}


TCP_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def database_config(env: environ.Env, default_sqlite: Path) -> dict:
    # Set but empty counts as unset: `DATABASE_URL=$MARKETING_DATABASE_URL manage.py ...`
    # with the variable unset means the default database, not no database at all.
    url = env.str("DATABASE_URL", default="") or f"sqlite:///{default_sqlite}"
    db = environ.Env.db_url_config(url)
    # Said here, in words: otherwise a KeyError, or PostgreSQL's syntax error at the first
    # query. Shown without its user and password.
    parts = urllib.parse.urlsplit(url)
    shown = parts._replace(netloc=parts.hostname or "")
    if not db.get("ENGINE"):
        raise ImproperlyConfigured(
            f"DATABASE_URL {shown.geturl()!r} names no database Django knows: use"
            " postgres://USER@HOST:PORT/NAME or sqlite:///PATH"
        )
    if not db.get("NAME"):
        raise ImproperlyConfigured(f"DATABASE_URL {shown.geturl()!r} names no database")
    if db["ENGINE"] == "django.db.backends.sqlite3":
        Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # One writer at a time is SQLite's nature: take the write lock when the transaction
        # begins (no upgrade deadlocks) and wait for it instead of failing at once.
        db["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        db.setdefault("OPTIONS", {})
        db["OPTIONS"].setdefault("connect_timeout", 5)
        # A server gone silent (the network lost without a reset, its host dead) leaves a
        # connection waiting for its answer until the kernel gives up, after hours by its
        # defaults: the health check's probe said "not answering" all that time. TCP
        # keepalives find such a connection dead in about a minute (30 s idle, then three
        # probes 10 s apart).
        for option, value in TCP_KEEPALIVE.items():
            db["OPTIONS"].setdefault(option, value)
        # A bound on every wait for a lock, for statements that set none of their own (a
        # command sets LOCK_WAIT_MS for its transaction): a read waiting on a LOCK TABLE
        # from a console, a migration, or a rebuild's TRUNCATE held a thread and a pooled
        # connection for as long, and /health waited for a free thread. The web processes
        # set it (servicekit.wsgi); a migration or a worker waits as PostgreSQL's default.
        lock_ms = env.int("DB_LOCK_TIMEOUT_MS", default=0)
        if lock_ms > 0:
            given = db["OPTIONS"].get("options") or os.environ.get("PGOPTIONS", "")
            db["OPTIONS"]["options"] = f"{given} -c lock_timeout={lock_ms}".strip()
        if env.bool("DB_POOL", default=True):
            # A bounded pool per process: the saga's threads share a few connections
            # instead of each keeping its own, so a burst of requests waits for a
            # connection (then answers 503) instead of exhausting PostgreSQL's
            # max_connections for every service on the server.
            db["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django returns them
            db["OPTIONS"]["pool"] = {
                "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
                "max_size": env.int("DB_POOL_MAX_SIZE", default=8),
                "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
                "max_idle": 300,
            }
        else:
            db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=300)
            db["CONN_HEALTH_CHECKS"] = True
    db["ATOMIC_REQUESTS"] = False
    return db


def static_root(env: environ.Env) -> Path:
    root = Path(env.str("STATIC_ROOT", default=str(REPO_ROOT / "var" / "static")))
    root.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one
    return root


def configure(*, service: str, base_dir: Path, apps: list[str], title: str = "") -> dict:
    """Return the settings dict for one service.

    ``service`` is the name used in logs and event metadata (``order-service``); ``apps``
    are the service's own Django apps, installed after the shared ones.
    """
    env = environ.Env()
    short_name = service.removesuffix("-service")
    debug = env.bool("DEBUG", default=False)
    settings = {
        "SERVICE_NAME": service,
        "BASE_DIR": base_dir,
        "SECRET_KEY": env.str("SECRET_KEY", default=f"insecure-local-only-{service}"),
        "DEBUG": debug,
        "ALLOWED_HOSTS": env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"]),
        "INSTALLED_APPS": [
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "rest_framework",
            "drf_spectacular",
            "drf_spectacular_sidecar",
            *apps,
        ],
        "MIDDLEWARE": [
            "servicekit.middleware.CorrelationIdMiddleware",
            "servicekit.middleware.RetryReadMiddleware",
            "django.middleware.security.SecurityMiddleware",
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "ROOT_URLCONF": "config.urls",
        "CSRF_FAILURE_VIEW": "servicekit.errors.csrf_failure",
        "WSGI_APPLICATION": "config.wsgi.application",
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "DATABASES": {"default": database_config(env, REPO_ROOT / "var" / f"{short_name}.sqlite3")},
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "LANGUAGE_CODE": "en-us",
        "TIME_ZONE": "UTC",
        "USE_I18N": False,
        "USE_TZ": True,
        "STATIC_URL": "static/",
        "STATIC_ROOT": static_root(env),
        # The admin's and Swagger UI's files straight from the installed apps: no collectstatic.
        "WHITENOISE_USE_FINDERS": True,
        "REDIS_URL": env.str("REDIS_URL", default="redis://127.0.0.1:6379/0"),
        "SERVICE_TOKEN": env.str("SERVICE_TOKEN", default=""),
        **{name: env.str(name, default=url) for name, url in PEER_DEFAULTS.items()},
        "REST_FRAMEWORK": {
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_PARSER_CLASSES": ["servicekit.parsers.BoundedJSONParser"],
            # Service APIs are called by peers, not browsers with a session; the admin
            # keeps its own login.
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
            "UNAUTHENTICATED_USER": None,
            "EXCEPTION_HANDLER": "servicekit.errors.api_exception_handler",
            "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        },
        "SPECTACULAR_SETTINGS": {
            "TITLE": title or service,
            "VERSION": "1.0.0",
            "SERVE_INCLUDE_SCHEMA": False,
            # /api/docs/ works offline and behind a firewall: Swagger UI from our static files
            "SWAGGER_UI_DIST": "SIDECAR",
            "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
            "PATH_CONVERTER_OVERRIDES": {"any_uuid": {"type": "string", "format": "uuid"}},
            # the answers of the plumbing around every view: 503, 413, 415, 403
            "POSTPROCESSING_HOOKS": [
                "drf_spectacular.hooks.postprocess_schema_enums",
                "servicekit.schema.document_common_answers",
            ],
        },
        "DATA_UPLOAD_MAX_MEMORY_SIZE": 256 * 1024,
        "LOGGING": logging_config(
            service=service,
            fmt=env.str("LOG_FORMAT", default="text"),
            level=env.str("LOG_LEVEL", default="INFO"),
        ),
    }
    return settings
