"""``manage.py consume_events``: apply other services' events from Redis Streams.

Configured by ``settings.EVENTKIT["CONSUMER"]``::

    {"GROUP": "marketing",
     "SOURCES": {"order-service": {"stream": "events.order", "url": "http://127.0.0.1:8001"}},
     "START_AT_HEAD": False,   # True: skip history, follow only what happens from now on
     "LINGER_MS": 20}          # see --linger-ms; CONSUMER_LINGER_MS overrides it

Any number of workers may run; see ``eventkit.consumer`` for the guarantees.
"""

import os
import socket
import threading

import redis
from django.core.management.base import BaseCommand, CommandError

from eventkit.conf import setting
from eventkit.consumer import Consumer, Source
from eventkit.redis_client import redis_client
from servicekit.runtime import stop_on_signals

DEFAULT_LINGER_MS = 20


def default_linger_ms(config: dict, environ=os.environ) -> int:
    """How long to wait after a small batch: ``CONSUMER_LINGER_MS`` if set, else the
    consumer's own ``LINGER_MS`` (longer for a read model that may trail further behind,
    so that each batch carries more events), else 20."""
    if environ.get("CONSUMER_LINGER_MS"):
        return int(environ["CONSUMER_LINGER_MS"])
    return int(config.get("LINGER_MS", DEFAULT_LINGER_MS))


class Command(BaseCommand):
    help = "Consume events from Redis Streams into this service's projections."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=f"{socket.gethostname()}-{os.getpid()}")
        env = os.environ
        parser.add_argument(
            "--claim-idle-ms",
            type=int,
            default=int(env.get("CONSUMER_CLAIM_IDLE_MS", 15_000)),
            help="claim a dead worker's messages after they sat unacknowledged this long",
        )
        parser.add_argument(
            "--catch-up-seconds",
            type=float,
            default=float(env.get("CONSUMER_CATCH_UP_SECONDS", 5.0)),
            help="how often an idle worker asks the sources' feeds whether it missed events",
        )
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument(
            "--linger-ms",
            type=int,
            help="after a small batch, wait this long so the next read finds more events "
            "(default: CONSUMER_LINGER_MS, else the consumer's LINGER_MS, else 20)",
        )

    def handle(
        self, *args, name, claim_idle_ms, catch_up_seconds, batch_size, linger_ms, **options
    ):
        config = setting("CONSUMER")
        if not config:
            raise CommandError("set EVENTKIT['CONSUMER'] (GROUP, SOURCES) in settings")
        client = redis_client(f"consumer:{config['GROUP']}:{name}")
        consumer = Consumer(
            client=client,
            group=config["GROUP"],
            name=name,
            sources=[
                Source(name=source, stream=s["stream"], feed_url=s["url"])
                for source, s in config["SOURCES"].items()
            ],
            batch_size=batch_size,
            claim_idle_ms=claim_idle_ms,
            catch_up_seconds=catch_up_seconds,
            start_at_head=config.get("START_AT_HEAD", False),
            linger_ms=default_linger_ms(config) if linger_ms is None else linger_ms,
        )
        stop = threading.Event()
        stop_on_signals(stop)
        try:
            consumer.start(stop)
        except redis.RedisError as exc:
            self.stderr.write(f"Redis unavailable at start ({exc}); will keep trying")
        consumer.run(stop)
