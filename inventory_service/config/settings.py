"""Inventory service settings: the shared defaults (servicekit) plus the inventory app."""

from pathlib import Path

from servicekit.settings import configure

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    configure(
        service="inventory-service",
        base_dir=BASE_DIR,
        apps=["eventkit", "inventory"],
        title="Inventory service: event-sourced stock (reserve / release / restock)",
    )
)

EVENTKIT = {"STREAM": "events.inventory"}
