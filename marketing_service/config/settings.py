"""Marketing service settings: the shared defaults (servicekit), the marketing app, and the
order events it reads (fed to ``marketing.projections`` by ``manage.py consume_events``)."""

from pathlib import Path

from servicekit.settings import configure

BASE_DIR = Path(__file__).resolve().parent.parent

shared = configure(
    service="marketing-service",
    base_dir=BASE_DIR,
    apps=["eventkit", "marketing"],
    title="Marketing service: sales analytics projected from order events",
)
globals().update(shared)

EVENTKIT = {
    "CONSUMER": {
        "GROUP": "marketing",
        "SOURCES": {
            "order-service": {"stream": "events.order", "url": shared["ORDER_SERVICE_URL"]},
        },
        # Analytics may trail by a twentieth of a second (its lag goal is 200 ms at p99). A
        # longer wait between reads than the default 20 ms folds more orders into each write
        # of the rows they share (product, day, overview): about 40 % less worker CPU per
        # order for about 60 ms more lag (bench/run_all.py, README).
        "LINGER_MS": 50,
    }
}
