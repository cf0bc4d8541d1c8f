"""Settings of the event store, one namespaced dict with defaults::

EVENTKIT = {"APPEND_ATTEMPTS": 5}
"""

from django.conf import settings

DEFAULTS = {
    # How often a command is re-run after losing a race (version clash, duplicate command
    # id, deadlock, SQLite busy) before it is answered 503 (ConcurrencyError: retry later).
    "APPEND_ATTEMPTS": 5,
    # The most events one feed page returns.
    "FEED_MAX_LIMIT": 1000,
    # Command outcomes older than this many days may be pruned (prune_commands).
    "COMMAND_RETENTION_DAYS": 7,
    # The Redis stream the relay publishes this service's events to (events.order, ...).
    "STREAM": "",
    # Streams are trimmed to about this many entries (XADD MAXLEN ~).
    "STREAM_MAXLEN": 100_000,
    # For services that consume others' events: {"GROUP": ..., "SOURCES": {...}}.
    "CONSUMER": None,
}


def setting(name: str):
    return getattr(settings, "EVENTKIT", {}).get(name, DEFAULTS[name])
