"""``manage.py publish_events``: the relay from this service's event log to Redis Streams.

Runs until SIGINT/SIGTERM. Stream and source name come from ``settings.EVENTKIT``
(``STREAM``, e.g. ``events.order``) and ``settings.SERVICE_NAME``; Redis from ``REDIS_URL``.
``--once`` publishes what is pending and exits.
"""

import os
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from eventkit.conf import setting
from eventkit.redis_client import redis_client
from eventkit.relay import Relay
from servicekit.runtime import stop_on_signals


class Command(BaseCommand):
    help = "Publish this service's events to its Redis stream (at least once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="publish what is pending, exit")
        parser.add_argument("--poll-seconds", type=float, default=1.0)
        parser.add_argument(
            "--linger-ms",
            type=int,
            default=int(os.environ.get("RELAY_LINGER_MS", 15)),
            help="woken by a commit, wait this long so later commits go out in the same batch",
        )
        parser.add_argument(
            "--cursor-seconds",
            type=float,
            default=float(os.environ.get("RELAY_CURSOR_SECONDS", 1.0)),
            help="write the cursor at most this often; a crash republishes up to this much",
        )

    def handle(self, *args, once, poll_seconds, linger_ms, cursor_seconds, **options):
        stream = setting("STREAM")
        if not stream:
            raise CommandError('set EVENTKIT = {"STREAM": "events.<name>"} in settings')
        client = redis_client(f"relay:{stream}")
        relay = Relay(
            client=client,
            stream=stream,
            source=settings.SERVICE_NAME,
            maxlen=setting("STREAM_MAXLEN"),
            linger_ms=linger_ms,
            cursor_seconds=cursor_seconds,
        )
        if once:
            total = 0
            while (n := relay.publish_once()) > 0:
                total += n
            relay.save_cursor()
            self.stdout.write(f"published {total} events to {stream}")
            return
        stop = threading.Event()
        stop_on_signals(stop)
        relay.run(stop, poll_seconds=poll_seconds)
