"""Settings for the event store's own tests: the shared app plus a tiny test domain."""

from pathlib import Path

from servicekit.settings import configure

BASE_DIR = Path(__file__).resolve().parent

# Named as the source its own consumers read (REMOTE_SOURCE): every event names the service
# that recorded it, and a feed of another service's events is refused.
globals().update(
    configure(
        service="tally-service", base_dir=BASE_DIR, apps=["eventkit", "eventkit.tests.testapp"]
    )
)
ROOT_URLCONF = "eventkit.tests.urls"
# The test app records events of its own, so the store's admin pages are there.
EVENTKIT = {"STREAM": "events.tally"}
