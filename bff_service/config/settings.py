"""BFF settings: the shared defaults (servicekit) plus Channels, CORS and the event feed."""

from pathlib import Path

import environ
from corsheaders.defaults import default_headers
from redis.connection import parse_url

from servicekit.settings import REPO_ROOT, configure

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()


def channel_prefix(redis_url: str) -> str:
    """The channel layer's prefix for the Redis database ``redis_url`` names."""
    return f"asgi-db{parse_url(redis_url).get('db', 0)}"


shared = configure(
    service="bff",
    base_dir=BASE_DIR,
    apps=["channels", "corsheaders", "eventkit", "gateway"],
    title="BFF: the web UI's one API (orders, catalog, events, marketing) and websockets",
)
globals().update(shared)

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    *shared["MIDDLEWARE"],
]

ASGI_APPLICATION = "config.asgi.application"
# Pub/sub layer: a group message is published once and each BFF worker process fans it out
# to its own websockets, instead of being copied into one Redis list per connected client.
# Pub/sub channels belong to the whole Redis server, not to the database REDIS_URL names:
# the prefix carries the database, so systems sharing a server through different
# databases do not get each other's pushes.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [shared["REDIS_URL"]], "prefix": channel_prefix(shared["REDIS_URL"])},
    }
}

# The Vite dev server is the only other origin that may call the API from a browser.
DEV_SERVER_ORIGINS = ["http://localhost:3000", "http://127.0.0.1:3000"]
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=DEV_SERVER_ORIGINS)
# What the UI sends and reads beyond the CORS defaults: its orders' idempotency keys, and
# the headers of paged, degraded and retry-later answers.
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key", "x-correlation-id")
CORS_EXPOSE_HEADERS = [
    "X-Total-Count",
    "X-Correlation-ID",
    "X-Degraded",
    "Retry-After",
    "Idempotent-Replayed",
]
# Pages served by the BFF itself, plus the dev server; a websocket from anywhere else is refused.
WS_ALLOWED_ORIGINS = env.list(
    "WS_ALLOWED_ORIGINS",
    default=["http://localhost:8000", "http://127.0.0.1:8000", *DEV_SERVER_ORIGINS],
)

# The built web UI (frontend/dist), served at / by WhiteNoise.
FRONTEND_DIST = Path(env.str("FRONTEND_DIST", default=str(REPO_ROOT / "frontend" / "dist")))
FRONTEND_DIST.mkdir(parents=True, exist_ok=True)  # WhiteNoise wants its root to exist
WHITENOISE_ROOT = FRONTEND_DIST
# WhiteNoise indexes files at start; with autorefresh it also serves a UI rebuilt while the
# BFF runs (`npm run build` during development). Off by default: indexing once is faster.
WHITENOISE_AUTOREFRESH = env.bool("WHITENOISE_AUTOREFRESH", default=shared["DEBUG"])

BFF = {
    "CONNECT_TIMEOUT_SECONDS": env.float("BFF_CONNECT_TIMEOUT_SECONDS", default=1.0),
    "READ_TIMEOUT_SECONDS": env.float("BFF_READ_TIMEOUT_SECONDS", default=5.0),
    # Placing an order waits for the saga, which may retry until its own deadline.
    "SAGA_TIMEOUT_SECONDS": env.float("BFF_SAGA_TIMEOUT_SECONDS", default=35.0),
    # ...and with its resends and reconnects at most this long: the UI gives up at 60 s.
    "PLACE_ORDER_SECONDS": env.float("BFF_PLACE_ORDER_SECONDS", default=55.0),
    # The websocket feed's heartbeat: a client that hears none for three of these, or a gap
    # in their numbers, reconnects for a new snapshot (gateway.push).
    "HEARTBEAT_SECONDS": env.float("BFF_HEARTBEAT_SECONDS", default=5.0),
}

EVENTKIT = {
    "CONSUMER": {
        "GROUP": "bff",
        "SOURCES": {
            "order-service": {"stream": "events.order", "url": shared["ORDER_SERVICE_URL"]},
            "saga-service": {"stream": "events.saga", "url": shared["SAGA_SERVICE_URL"]},
        },
        "START_AT_HEAD": True,
    }
}
