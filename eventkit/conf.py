"""Settings of the event store, one namespaced dict with defaults::

EVENTKIT = {"APPEND_ATTEMPTS": 5}
"""

from django.conf import settings

DEFAULTS = {
    # How often a command is re-run after losing a race (version clash, duplicate command
    # id, deadlock, SQLite busy) before it is answered 503 (ConcurrencyError: retry later).
    "APPEND_ATTEMPTS": 5,
    # How long a command waits for a row another transaction holds (its stream's, usually)
    # before it is answered 503 (StreamBusy), on PostgreSQL. Unbounded, commands for one
    # held stream each kept a pooled connection while they waited, and commands for every
    # other stream queued behind them. Well under a caller's read timeout (the saga's is 5 s).
    # It bounds the wait for the position counter at COMMIT too, and for a projection
    # rebuild, which holds writers off for as long as it folds.
    "LOCK_WAIT_MS": 3000,
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
