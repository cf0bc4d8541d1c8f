"""What the event store costs per command, without HTTP: order create + confirm in one process.

    .venv/bin/python bench/commands.py                  # 5 rounds of 300 pairs
    .venv/bin/python bench/commands.py --rounds 3 --pairs 100
    .venv/bin/python bench/commands.py --via wsgi       # the same through the web stack

Runs the order service's own command functions (``orders.services.order_create`` and
``order_confirm``: load, decide, append, project, record the command id, commit) against a
throwaway PostgreSQL database (``TEST_DATABASE_URL``, as the system tests use), migrated
here and dropped at the end. Between pairs the connection goes back to the pool, as at the
end of a request. Prints the CPU of this process per pair for each round and the median:
the client side of the store (Django, psycopg, eventkit), not PostgreSQL's.

``--via wsgi`` sends the same two commands as requests to the order service's WSGI
application, in this process: Django's request cycle and middleware, DRF's dispatch and
input serializers, the JSON answer and the request's log line, on top of the same command
functions (no socket and no gunicorn). The difference between the two modes is what the web
stack costs per pair.

CPU time moves with the machine. For a number that does not, count instructions:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/commands.py --rounds 1 --pairs 10 --warm-up 0
    (the same with --pairs 60; the difference over 50 is the count per pair)
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/, manage_all
from tests.live import Database  # noqa: E402

LAPTOP = uuid.UUID("a1111111-1111-1111-1111-111111111111")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=300, help="create + confirm per round")
    parser.add_argument("--warm-up", type=int, default=100, help="pairs before the first round")
    parser.add_argument(
        "--via", choices=["functions", "wsgi"], default="functions", help="what to call"
    )
    args = parser.parse_args()

    database = Database("commands")
    try:
        os.environ.update(DATABASE_URL=database.url, DJANGO_SETTINGS_MODULE="config.settings")
        # the request log line is an INFO line: the web stack pays for it in production
        os.environ.setdefault("LOG_LEVEL", "INFO" if args.via == "wsgi" else "WARNING")
        sys.path.insert(0, str(ROOT / "order_service"))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import close_old_connections, connections

        from orders import services

        call_command("migrate", verbosity=0)

        def functions_pair() -> None:
            order_id = uuid.uuid4()
            services.order_create(
                order_id=order_id,
                customer_name="bench",
                product_id=LAPTOP,
                product_name="Laptop",
                quantity=1,
                total_price=120_000,
                command_id=f"create:{order_id}",
            )
            services.order_confirm(order_id=order_id, command_id=f"confirm:{order_id}")
            close_old_connections()  # what the end of a request does

        pair = functions_pair
        if args.via == "wsgi":
            from config.wsgi import application

            # each request's log line is formatted as by the service's own handler, then dropped
            request_log = logging.getLogger("servicekit.request")
            dropped = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
            console = logging.getLogger().handlers[0]
            dropped.setFormatter(console.formatter)
            dropped.filters = list(console.filters)
            request_log.handlers[:], request_log.propagate = [dropped], False

            def wsgi_pair() -> None:
                order_id = str(uuid.uuid4())
                create = {
                    "order_id": order_id,
                    "customer_name": "bench",
                    "product_id": str(LAPTOP),
                    "product_name": "Laptop",
                    "quantity": 1,
                    "total_price": 120_000,
                }
                post(application, "/commands/orders", create, f"create:{order_id}")
                post(application, f"/commands/orders/{order_id}/confirm", {}, f"confirm:{order_id}")

            pair = wsgi_pair

        for _ in range(args.warm_up):
            pair()
        rounds = []
        for _ in range(args.rounds):
            started = time.process_time()
            for _ in range(args.pairs):
                pair()
            rounds.append((time.process_time() - started) / args.pairs * 1000)
        print(f"ms CPU per create + confirm ({args.via}):", " ".join(f"{ms:.3f}" for ms in rounds))
        print(f"median: {statistics.median(rounds):.3f}")
        connections.close_all()
    finally:
        database.drop()


def post(application, path: str, body: dict, key: str) -> None:
    """One JSON POST through ``application`` as gunicorn would hand it over; must be 2xx."""
    data = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "HTTP_HOST": "127.0.0.1:8001",
        "HTTP_IDEMPOTENCY_KEY": key,
    }
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
