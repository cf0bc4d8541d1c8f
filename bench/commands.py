"""What a service's commands cost in one process, without sockets: the order service's
create + confirm, or one whole place-order saga.

    .venv/bin/python bench/commands.py                  # 5 rounds of 300 order pairs
    .venv/bin/python bench/commands.py --rounds 3 --units 100
    .venv/bin/python bench/commands.py --via wsgi       # the same through the web stack
    .venv/bin/python bench/commands.py --service saga   # sagas, participants answering at once
    .venv/bin/python bench/commands.py --service saga --live-participants   # calling them

``--service order`` runs the order service's own command functions
(``orders.services.order_create`` and ``order_confirm``: load, decide, append, project,
record the command id, commit); one unit is a create + confirm pair. ``--service saga``
runs ``sagas.services.place_order``: the saga's two transactions, its lease and the
outcome read back, with the participants replaced by a stand-in that answers every call at
once, so only the saga's own work is counted; one unit is a saga. With
``--live-participants`` the saga calls the order and inventory services of a running
``manage_all.py up`` instead (``ORDER_SERVICE_URL``, ``INVENTORY_SERVICE_URL``; the laptop is
restocked first for every saga to come): the same work, plus three HTTP calls and the waits
between them. Either runs against a
throwaway PostgreSQL database (``TEST_DATABASE_URL``, as the system tests use), migrated
here and dropped at the end. Between units the connection goes back to the pool, as at the
end of a request. Prints the CPU of this process per unit for each round and the median:
the client side of the store (Django, psycopg, eventkit), not PostgreSQL's.

``--via wsgi`` sends the same commands as requests to the service's WSGI application, in
this process: Django's request cycle and middleware, DRF's dispatch and input serializers,
the JSON answer and the request's log line, on top of the same functions (no socket and no
gunicorn). The difference between the two modes is what the web stack costs per unit.

CPU time moves with the machine. For a number that does not, count instructions:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/commands.py --rounds 1 --units 10 --warm-up 0
    (the same with --units 60; the difference over 50 is the count per unit)
"""

import argparse
import io
import json
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/, manage_all
from tests.live import Database  # noqa: E402

LAPTOP = uuid.UUID("a1111111-1111-1111-1111-111111111111")
UNITS = {"order": "create + confirm", "saga": "saga"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--service", choices=sorted(UNITS), default="order")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--units", "--pairs", type=int, default=300, help="units (pairs, sagas) per round"
    )
    parser.add_argument("--warm-up", type=int, default=100, help="units before the first round")
    parser.add_argument(
        "--via", choices=["functions", "wsgi"], default="functions", help="what to call"
    )
    parser.add_argument(
        "--live-participants", action="store_true", help="saga: call the running services"
    )
    args = parser.parse_args()

    database = Database(f"commands_{args.service}")
    try:
        os.environ.update(DATABASE_URL=database.url, DJANGO_SETTINGS_MODULE="config.settings")
        # the request log line is an INFO line: the web stack pays for it in production
        os.environ.setdefault("LOG_LEVEL", "INFO" if args.via == "wsgi" else "WARNING")
        sys.path.insert(0, str(ROOT / f"{args.service}_service"))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import close_old_connections, connections

        call_command("migrate", verbosity=0)
        if args.via == "wsgi":
            quiet_request_log()
        if args.service == "order":
            work = order_unit(args.via)
        else:
            if args.live_participants:
                restock(args.warm_up + args.rounds * args.units)
            work = saga_unit(args.via, live=args.live_participants)

        def unit() -> None:
            work()
            close_old_connections()  # what the end of a request does

        for _ in range(args.warm_up):
            unit()
        rounds = []
        for _ in range(args.rounds):
            started = time.process_time()
            for _ in range(args.units):
                unit()
            rounds.append((time.process_time() - started) / args.units * 1000)
        print(
            f"ms CPU per {UNITS[args.service]} ({args.via}):",
            " ".join(f"{ms:.3f}" for ms in rounds),
        )
        print(f"median: {statistics.median(rounds):.3f}")
        connections.close_all()
    finally:
        database.drop()


def order_unit(via: str) -> Callable[[], None]:
    """Create an order and confirm it."""
    order_body = {
        "customer_name": "bench",
        "product_id": str(LAPTOP),
        "product_name": "Laptop",
        "quantity": 1,
        "total_price": 120_000,
    }
    if via == "wsgi":
        from config.wsgi import application

        def by_request() -> None:
            order_id = str(uuid.uuid4())
            create = {"order_id": order_id, **order_body}
            post(application, "/commands/orders", create, key=f"create:{order_id}")
            post(application, f"/commands/orders/{order_id}/confirm", {}, key=f"confirm:{order_id}")

        return by_request

    from orders import services

    def by_function() -> None:
        order_id = uuid.uuid4()
        services.order_create(
            order_id=order_id,
            **{**order_body, "product_id": LAPTOP},
            command_id=f"create:{order_id}",
        )
        services.order_confirm(order_id=order_id, command_id=f"confirm:{order_id}")

    return by_function


def saga_unit(via: str, *, live: bool) -> Callable[[], None]:
    """Place an order through the saga, every participant answering at once (or called)."""
    from sagas import services
    from sagas.domain import OK
    from sagas.orchestrator import Reply

    class AnsweringAtOnce:
        def call(self, step, saga, *, compensating=False, correlation_id=None) -> Reply:
            return Reply(OK, f"{step} done")

    if not live:
        services.Participants = AnsweringAtOnce  # what _driver() builds for each saga
    body = {
        "customer_name": "bench",
        "product_id": str(LAPTOP),
        "quantity": 1,
        "product_name": "Laptop",
        "total_price": 120_000,
    }
    if via == "wsgi":
        from config.wsgi import application

        def by_request() -> None:
            post(application, "/saga/place-order", {"order_id": str(uuid.uuid4()), **body})

        return by_request

    def by_function() -> None:
        services.place_order(order_id=uuid.uuid4(), **{**body, "product_id": LAPTOP})

    return by_function


def restock(units: int) -> None:
    """Give the running inventory service enough laptops for ``units`` sagas."""
    from django.conf import settings

    from sagas.participants import client, timeouts

    url = f"{settings.INVENTORY_SERVICE_URL}/commands/inventory/{LAPTOP}/restock"
    while units > 0:
        step = min(units, 10_000)  # the most one restock takes
        answer = client().request("POST", url, json={"quantity": step}, timeout=timeouts())
        if answer.status_code != 200:
            raise SystemExit(f"restock: {answer.status_code} {answer.text[:300]}")
        units -= step


def quiet_request_log() -> None:
    """Each request's log line is formatted as by the service's own handler, then dropped."""
    request_log = logging.getLogger("servicekit.request")
    dropped = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    console = logging.getLogger().handlers[0]
    dropped.setFormatter(console.formatter)
    dropped.filters = list(console.filters)
    request_log.handlers[:], request_log.propagate = [dropped], False


def post(application, path: str, body: dict, key: str | None = None) -> None:
    """One JSON POST through ``application`` as gunicorn would hand it over; must be 2xx."""
    data = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "HTTP_HOST": "127.0.0.1",
    }
    if key:
        environ["HTTP_IDEMPOTENCY_KEY"] = key
    answered = []
    chunks = application(environ, lambda status, headers, exc_info=None: answered.append(status))
    try:
        body_out = b"".join(chunks)
    finally:
        chunks.close()  # Django's request_finished: the connection goes back to the pool
    if not answered[0].startswith("2"):
        raise SystemExit(f"POST {path}: {answered[0]} {body_out[:300]!r}")


if __name__ == "__main__":
    main()
