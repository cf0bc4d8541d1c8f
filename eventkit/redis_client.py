"""The Redis client of the relays and consumers."""

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry


def redis_client(name: str, url: str | None = None) -> redis.Redis:
    """A client of ``url`` (``settings.REDIS_URL``) for a relay's or a consumer's loop, its
    connections named ``name`` (what ``CLIENT LIST`` shows an operator).

    Every call is bounded (a hung Redis is a timeout after 5 s, not a wait for good), and a
    failed call is not tried again inside redis-py: the loops must see Redis fail. A consumer
    that found it failing catches up from the feeds meanwhile, and the BFF's feed tells its
    websockets that a push may have been missed (``eventkit.consumer.redis_watch``); redis-py's
    own retry (three tries over up to seconds, the default of ``redis.Redis()``, though not of
    ``from_url``) would hide a quick restart of Redis from both. The loops retry themselves,
    with their own backoff.
    """
    return redis.Redis.from_url(
        url or settings.REDIS_URL,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 0),
        # Redis takes only printable ASCII without spaces as a name, and refuses any other on
        # every connect: a hostname or a --name could hold one
        client_name="".join(c if "!" <= c <= "~" else "_" for c in name),
    )
