"""bench/journey.py reads the request lines every service logs, in both log formats."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))

import journey


def test_a_text_request_line_gives_its_correlation_id_path_and_time():
    line = (
        "2026-12-01 00:39:28,287 INFO    servicekit.request [journey-ab12-7] "
        "POST /commands/orders -> 201 in 10.0 ms\n"
    )
    assert journey.served(line) == ("journey-ab12-7", "/commands/orders", 10.0)
    assert journey.served(line.replace("POST", "GET")) is None
    assert journey.served("2026-12-01 INFO sagas.orchestrator [x] saga y: ok\n") is None


def test_a_json_request_line_gives_the_same():
    record = {
        "logger": "servicekit.request",
        "correlation_id": "journey-ab12-8",
        "method": "POST",
        "path": "/commands/inventory/b2/reserve",
        "status": 200,
        "duration_ms": 37.8,
    }
    assert journey.served(json.dumps(record)) == ("journey-ab12-8", record["path"], 37.8)


def test_an_orders_parts_add_up_to_what_the_client_waited():
    order = {
        "client_ms": 500.0,
        "steps": {"CreateOrder": 100.0, "ReserveInventory": 50.0, "ConfirmOrder": 90.0},
        "logged": {
            "bff": 480.0,
            "saga": 400.0,
            "CreateOrder": 30.0,
            "ReserveInventory": 25.0,
            "ConfirmOrder": 28.0,
        },
    }
    parts = journey.split(order)
    served_or_waiting = [v for k, v in parts.items() if k.startswith(tuple(journey.STEPS))]
    assert parts["before BFF"] == 20.0 and parts["BFF to saga"] == 80.0
    assert parts["saga's own"] == 160.0 and parts["CreateOrder waiting"] == 70.0
    assert (
        parts["before BFF"] + parts["BFF to saga"] + parts["saga's own"] + sum(served_or_waiting)
        == order["client_ms"]
    )
    assert journey.step_of("order", "/commands/orders/1/confirm") == "ConfirmOrder"
    assert journey.step_of("inventory", "/commands/inventory/b2/release") is None
