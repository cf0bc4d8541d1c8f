"""Order service settings: the shared defaults (servicekit) plus the orders app."""

from pathlib import Path

from servicekit.settings import configure

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    configure(
        service="order-service",
        base_dir=BASE_DIR,
        apps=["eventkit", "orders"],
        title="Order service: event-sourced orders (create / confirm / cancel)",
    )
)

EVENTKIT = {"STREAM": "events.order"}
